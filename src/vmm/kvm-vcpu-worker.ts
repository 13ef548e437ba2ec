// One KVM vCPU's thread (a worker_thread): the KVM_RUN loop. KVM_RUN must always be issued from the
// same thread (a change of thread costs the kernel a synchronize_rcu()), so each vCPU has its own
// worker for its whole life. PIO and MMIO exits go to the devices on the main thread through the
// shared memory of kvm-vcpu-protocol.ts (kvm-exit-client.ts); the hot path allocates nothing.

import { parentPort, workerData } from 'node:worker_threads';
import { VcpuFd } from '../kvm/kvm.js';
import { KVM_EXIT } from '../kvm/ioctls.js';
import { SIG_BLOCK, gettid, sigset, sigtimedwaitNow, threadSigmask } from '../sys/libc.js';
import { ExitClient } from './kvm-exit-client.js';
import { otherExit, vcpuFailure } from './kvm-vcpu-exit.js';
import {
  BELL_SEQ, CTRL_PAUSE, CTRL_STOP, KIND_MMIO_READ, KIND_MMIO_WRITE, KIND_PIO_READ, KIND_PIO_WRITE, SIG_KICK, STATE_PAUSED, STATE_RUNNING,
  STATE_STOPPED, W, type VcpuWorkerData, type VcpuWorkerMessage,
} from './kvm-vcpu-protocol.js';

const EINTR = 4;
const EAGAIN = 11;

const data = workerData as VcpuWorkerData;
const port = parentPort!;
const sh = new Int32Array(data.shared);
const doorbell = new Int32Array(data.doorbell);
const post = (m: VcpuWorkerMessage): void => port.postMessage(m);

// Block the kick signal in this thread before anyone can send it, and let KVM_RUN unblock it.
const kickSet = sigset([SIG_KICK]);
const oldMask = threadSigmask(SIG_BLOCK, kickSet);
const runMask = oldMask.slice();
runMask[(SIG_KICK - 1) >> 3]! &= ~(1 << ((SIG_KICK - 1) & 7));

const vcpu = VcpuFd.attach(data.vcpuFd, data.index, data.mmapSizeBytes);
vcpu.setSignalMaskSigset(runMask);
const page = vcpu.run.bytes;
const view = vcpu.run.view;

const exits = new ExitClient(sh, doorbell);

function readData(off: number, size: number): number {
  return size === 1 ? page[off]! : size === 2 ? view.getUint16(off, true) : view.getUint32(off, true);
}
function writeData(off: number, size: number, v: number): void {
  if (size === 1) page[off] = v;
  else if (size === 2) view.setUint16(off, v, true);
  else view.setUint32(off, v >>> 0, true);
}

function handleIo(): void {
  // struct kvm_run io: direction u8 @32, size u8 @33, port u16 @34, count u32 @36, data_offset u64 @40.
  const out = page[32] === 1;
  const size = page[33]!;
  const portNo = view.getUint16(34, true);
  const count = view.getUint32(36, true);
  let off = view.getUint32(40, true);
  sh[W.PIO_EXITS]!++;
  for (let i = 0; i < count; i++, off += size) {
    if (out) exits.postWrite(KIND_PIO_WRITE, portNo, size, readData(off, size));
    else writeData(off, size, exits.request(KIND_PIO_READ, portNo, size, 0));
  }
}

function handleMmio(): void {
  // struct kvm_run mmio: phys_addr u64 @32, data[8] @40, len u32 @48, is_write u8 @52.
  const addr = view.getUint32(32, true) + view.getUint32(36, true) * 0x1_0000_0000;
  const len = view.getUint32(48, true);
  const write = page[52] !== 0;
  sh[W.MMIO_EXITS]!++;
  // Device models take 1/2/4-byte accesses; an 8-byte one is split into two halves.
  const size = len >= 4 ? 4 : len;
  for (let done = 0; done < len; done += size) {
    if (write) exits.postWrite(KIND_MMIO_WRITE, addr + done, size, readData(40 + done, size));
    else writeData(40 + done, size, exits.request(KIND_MMIO_READ, addr + done, size, 0));
  }
}

function fail(message: string): void {
  post({ kind: 'exit', ...vcpuFailure(vcpu, message) });
}

/** Runs the vCPU until a stop or a machine-level exit; returns when the worker should end. */
function loop(): void {
  for (;;) {
    const ctrl = Atomics.load(sh, W.CTRL);
    if (ctrl === CTRL_STOP) return;
    if (ctrl === CTRL_PAUSE) {
      Atomics.store(sh, W.STATE, STATE_PAUSED);
      Atomics.notify(sh, W.STATE);
      while (Atomics.load(sh, W.CTRL) === CTRL_PAUSE) Atomics.wait(sh, W.CTRL, CTRL_PAUSE);
      Atomics.store(sh, W.STATE, STATE_RUNNING);
      Atomics.notify(sh, W.STATE);
      continue;
    }
    const r = vcpu.runRaw();
    if (r < 0) {
      if (r === -EINTR || r === -EAGAIN) {
        // A kick: consume the signal (it stays pending otherwise and would end every KVM_RUN).
        sh[W.KICKS]!++;
        page[1] = 0; // immediate_exit
        sigtimedwaitNow(kickSet);
        continue;
      }
      fail(`KVM_RUN failed: errno ${-r}`);
      return;
    }
    const reason = view.getUint32(8, true);
    if (reason === KVM_EXIT.IO) { handleIo(); continue; }
    if (reason === KVM_EXIT.MMIO) { handleMmio(); continue; }
    sh[W.OTHER_EXITS]!++;
    const end = otherExit(vcpu);
    if (end === undefined) continue;
    post({ kind: 'exit', ...end });
    return;
  }
}

post({ kind: 'ready', tid: gettid() });
// The main thread starts every worker paused (CTRL_PAUSE) and lets them go together: that first
// hold is an ordinary pause, so that a pause() requested before this thread got going is seen.
try {
  loop();
} catch (e) {
  post({ kind: 'exit', exit: 'error', message: `vCPU ${data.index}: ${e instanceof Error ? e.message : String(e)}` });
} finally {
  vcpu.dispose();
  Atomics.store(sh, W.STATE, STATE_STOPPED);
  Atomics.notify(sh, W.STATE);
  // The main thread may be asleep in any state: always ring and wake it.
  Atomics.add(doorbell, BELL_SEQ, 1);
  Atomics.notify(doorbell, BELL_SEQ);
}
