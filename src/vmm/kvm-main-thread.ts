// A KVM vCPU whose KVM_RUN loop runs on the main thread, beside the devices: every PIO or MMIO exit,
// read or write, is a direct call to the device buses, as in a C VMM's single-threaded loop. The
// engine uses it for 1-vCPU machines (kvm-engine.ts); with several vCPUs each has its own worker
// thread (kvm-vcpu-worker.ts) and the devices are reached through kvm-vcpu-protocol.ts.
//
// The main thread must still serve its event loop (console, control socket, timers), so the loop
// runs in slices of at most SLICE_MS: each slice arms a one-shot POSIX timer that signals this
// thread (sys/thread-timer.ts). The signal, SIG_KICK, is blocked on this thread except inside
// KVM_RUN (KVM_SET_SIGNAL_MASK, api.rst §4.21), so it is never delivered: it only makes KVM_RUN
// return EINTR (or the next KVM_RUN, when it came between two), and is then consumed with
// sigtimedwait. A guest spinning without exits and a halted guest (HLT waits inside KVM_RUN with
// the in-kernel irqchip) are both bounded by it; a burst of exits ends its slice by the clock
// first (cheaper than a signal). Other signals Node handles (SIGINT, SIGCHLD...) stay unblocked
// inside KVM_RUN and end the slice too. Between slices the loop yields to the event loop once
// (setImmediate), not after every exit. No helper thread is involved: the kernel sends the signal.
//
// Control is the vCPU worker's protocol (kvm-vcpu-protocol.ts W.CTRL in, W.STATE and the exit
// counters out), so that the engine's pause(), resume() and stop() drive both kinds of vCPU alike.
// Those run on this same thread, hence never while KVM_RUN runs: the loop sees CTRL before its
// next KVM_RUN (a device that stops the machine during an exit is seen right after that exit).

import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { TshvError } from '../common/errors.js';
import type { AccessSize } from '../devices/bus.js';
import { KVM_EXIT } from '../kvm/ioctls.js';
import type { VcpuFd } from '../kvm/kvm.js';
import { SIG_BLOCK, SIG_UNBLOCK, gettid, sigset, sigtimedwaitNow, threadSigmask } from '../sys/libc.js';
import { ThreadTimer } from '../sys/thread-timer.js';
import type { ExitDevices } from './kvm-exit-server.js';
import { otherExit, vcpuFailure, type VcpuEnd } from './kvm-vcpu-exit.js';
import { CTRL_PAUSE, CTRL_RUN, CTRL_STOP, SIG_KICK, STATE_PAUSED, STATE_RUNNING, STATE_STOPPED, W } from './kvm-vcpu-protocol.js';

/** How long a slice of KVM_RUNs holds the main thread before the event loop gets a turn. */
export const SLICE_MS = 2;
/**
 * The same after a slice without a single exit (the guest halts, or spins), ended by the timer's
 * signal: each kick costs ~60 µs of host CPU on a nested KVM (waking the halted vCPU and entering
 * it again; the JavaScript takes ~6 µs), so an idle guest costs ~3.5% of a host CPU at 2 ms and
 * ~2% at 4 ms (measured).
 */
export const IDLE_SLICE_MS = 4;
/**
 * A burst of exits ends its slice by the clock (read every CLOCK_CHECK_EXITS exits), and the
 * timer's signal, a little later, only bounds a slice without exits: a signal costs an extra exit
 * and a wake-up, the clock nothing. Each slice boundary costs a turn of the event loop and a
 * timer_settime (~5% of a burst's exits at 1.5 ms slices on a nested host, measured).
 */
const TIMER_AFTER_SLICE = 1.25;
const CLOCK_CHECK_EXITS = 16;

const EINTR = 4;
const EAGAIN = 11;

/** Where a KVM vCPU's KVM_RUN loop runs: on the main thread with the devices, or in a worker thread of its own. */
export type VcpuThreadMode = 'main' | 'worker';

/**
 * One vCPU runs on the main thread, several in workers. `requested` (the TSHV_KVM_THREAD
 * environment variable by default; tests and benchmarks) can ask for workers with one vCPU;
 * 'main' with several vCPUs still gets workers.
 */
export function chooseVcpuThread(cpuCount: number, requested = process.env['TSHV_KVM_THREAD']): VcpuThreadMode {
  if (requested !== undefined && requested !== '' && requested !== 'main' && requested !== 'worker') {
    throw new TshvError(`TSHV_KVM_THREAD must be "main" or "worker", not "${requested}"`);
  }
  return cpuCount === 1 && requested !== 'worker' ? 'main' : 'worker';
}

// Atomics.waitAsync is in Node 20 (V8) but not in this project's TypeScript lib target.
type WaitAsyncResult = { async: false; value: string } | { async: true; value: Promise<string> };
const atomicsWithWaitAsync = Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): WaitAsyncResult };

const kickSet = sigset([SIG_KICK]);
let kickBlockUsers = 0;
let kickWasBlocked = false;
let runMask: Uint8Array | undefined;

/**
 * Blocks SIG_KICK on the calling (main) thread for as long as some main-thread vCPU needs it;
 * returns the signal mask to run KVM_RUN with (the thread's own mask, SIG_KICK unblocked).
 */
function acquireKickSignal(): Uint8Array {
  if (kickBlockUsers++ === 0) {
    const old = threadSigmask(SIG_BLOCK, kickSet);
    kickWasBlocked = (old[(SIG_KICK - 1) >> 3]! & (1 << ((SIG_KICK - 1) & 7))) !== 0;
    runMask = old.slice();
    runMask[(SIG_KICK - 1) >> 3]! &= ~(1 << ((SIG_KICK - 1) & 7));
  }
  return runMask!;
}

/** The last user unblocks SIG_KICK again, after taking any pending one (its default action ends the process). */
function releaseKickSignal(): void {
  if (--kickBlockUsers > 0) return;
  while (sigtimedwaitNow(kickSet) !== 0) { /* drained */ }
  if (!kickWasBlocked) threadSigmask(SIG_UNBLOCK, kickSet);
}

export interface MainThreadVcpuOptions {
  vcpu: VcpuFd;
  /** The vCPU's protocol words (kvm-vcpu-protocol.ts W.*): CTRL is read, STATE and counters written. */
  shared: Int32Array;
  devices: ExitDevices;
  /** The guest powered off, reset or failed: the engine stops the machine. */
  onEnd: (end: VcpuEnd) => void;
  /** A device threw. */
  onDeviceError: (e: unknown) => void;
  /** Devices ran during a slice: the engine flushes their batched output once per turn of the event loop. */
  onServed: () => void;
}

export class MainThreadVcpu {
  private readonly vcpu: VcpuFd;
  private readonly sh: Int32Array;
  private readonly devices: ExitDevices;
  private readonly o: MainThreadVcpuOptions;
  private readonly page: Uint8Array;
  private readonly view: DataView;
  /** Slices run, and slices the timer's signal ended (the rest ended by the clock, a pause, a stop or another signal). */
  slices = 0;
  timerKicks = 0;
  /** Exits in the current slice. */
  private sliceExits = 0;
  /** A device ran since the last onServed(). */
  private served = false;

  constructor(o: MainThreadVcpuOptions) {
    this.o = o;
    this.vcpu = o.vcpu;
    this.sh = o.shared;
    this.devices = o.devices;
    this.page = o.vcpu.run.bytes;
    this.view = o.vcpu.run.view;
  }

  /** Runs the vCPU until CTRL_STOP or the guest's end; STATE is STATE_STOPPED when this resolves. */
  async run(): Promise<void> {
    const sh = this.sh;
    let timer: ThreadTimer | undefined;
    const mask = acquireKickSignal();
    try {
      timer = new ThreadTimer(gettid(), SIG_KICK);
      this.vcpu.setSignalMaskSigset(mask);
      Atomics.store(sh, W.STATE, STATE_RUNNING);
      for (;;) {
        const ctrl = Atomics.load(sh, W.CTRL);
        if (ctrl === CTRL_STOP) return;
        if (ctrl === CTRL_PAUSE) {
          timer.disarm();
          await this.parked();
          continue;
        }
        this.slices++;
        const busy = this.sliceExits > 0 || this.slices === 1;
        timer.arm(busy ? SLICE_MS * TIMER_AFTER_SLICE : IDLE_SLICE_MS);
        this.sliceExits = 0;
        let end: VcpuEnd | undefined;
        try {
          end = this.slice(performance.now() + (busy ? SLICE_MS : IDLE_SLICE_MS));
        } catch (e) {
          end = { exit: 'error', message: `vCPU ${this.vcpu.index}: ${e instanceof Error ? e.message : String(e)}` };
        }
        if (this.served) {
          this.served = false;
          this.o.onServed();
        }
        if (end !== undefined) {
          this.o.onEnd(end);
          return;
        }
        await yieldToEventLoop();
      }
    } finally {
      timer?.dispose();
      releaseKickSignal();
      this.page[1] = 0; // immediate_exit, set by the engine's kick
      Atomics.store(sh, W.STATE, STATE_STOPPED);
      Atomics.notify(sh, W.STATE);
    }
  }

  /** For stats(). */
  describe(): string {
    return `; vCPU on the main thread: ${this.slices} slices of ${SLICE_MS} ms (${IDLE_SLICE_MS} ms after one without exits), ` +
      `${this.timerKicks} ended by the timer signal`;
  }

  /** Paused: says so (pause() waits for it) and waits for CTRL to change. */
  private async parked(): Promise<void> {
    const sh = this.sh;
    Atomics.store(sh, W.STATE, STATE_PAUSED);
    Atomics.notify(sh, W.STATE);
    while (Atomics.load(sh, W.CTRL) === CTRL_PAUSE) {
      const w = atomicsWithWaitAsync.waitAsync(sh, W.CTRL, CTRL_PAUSE);
      if (w.async) await w.value;
    }
    // The engine's kick (immediate_exit) and a timer signal that came while parked are stale now.
    this.page[1] = 0;
    sigtimedwaitNow(kickSet);
    Atomics.store(sh, W.STATE, STATE_RUNNING);
    Atomics.notify(sh, W.STATE);
  }

  /** KVM_RUNs until a kick, `untilMs` (checked between exits), a control request or the guest's end (returned). */
  private slice(untilMs: number): VcpuEnd | undefined {
    const vcpu = this.vcpu;
    const sh = this.sh;
    const view = this.view;
    for (;;) {
      const r = vcpu.runRaw();
      if (r < 0) {
        if (r === -EINTR || r === -EAGAIN) {
          // The slice's timer, another signal, or immediate_exit: consume the kick and yield.
          sh[W.KICKS]!++;
          this.page[1] = 0;
          if (sigtimedwaitNow(kickSet) !== 0) this.timerKicks++;
          return undefined;
        }
        return vcpuFailure(vcpu, `KVM_RUN failed: errno ${-r}`);
      }
      this.sliceExits++;
      const reason = view.getUint32(8, true);
      if (reason === KVM_EXIT.IO) this.handleIo();
      else if (reason === KVM_EXIT.MMIO) this.handleMmio();
      else {
        sh[W.OTHER_EXITS]!++;
        const end = otherExit(vcpu);
        if (end !== undefined) return end;
      }
      if (Atomics.load(sh, W.CTRL) !== CTRL_RUN) return undefined;
      if (this.sliceExits % CLOCK_CHECK_EXITS === 0 && performance.now() >= untilMs) return undefined;
    }
  }

  private readData(off: number, size: number): number {
    return size === 1 ? this.page[off]! : size === 2 ? this.view.getUint16(off, true) : this.view.getUint32(off, true);
  }

  private writeData(off: number, size: number, v: number): void {
    if (size === 1) this.page[off] = v;
    else if (size === 2) this.view.setUint16(off, v, true);
    else this.view.setUint32(off, v >>> 0, true);
  }

  private handleIo(): void {
    // struct kvm_run io: direction u8 @32, size u8 @33, port u16 @34, count u32 @36, data_offset u64 @40.
    const page = this.page;
    const view = this.view;
    const out = page[32] === 1;
    const size = page[33]! as AccessSize;
    const port = view.getUint16(34, true);
    const count = view.getUint32(36, true);
    let off = view.getUint32(40, true);
    this.sh[W.PIO_EXITS]!++;
    this.served = true;
    try {
      for (let i = 0; i < count; i++, off += size) {
        if (out) this.devices.pioWrite(port, size, this.readData(off, size));
        else this.writeData(off, size, this.devices.pioRead(port, size));
      }
    } catch (e) {
      this.o.onDeviceError(e);
    }
  }

  private handleMmio(): void {
    // struct kvm_run mmio: phys_addr u64 @32, data[8] @40, len u32 @48, is_write u8 @52.
    const view = this.view;
    const addr = view.getUint32(32, true) + view.getUint32(36, true) * 0x1_0000_0000;
    const len = view.getUint32(48, true);
    const write = this.page[52] !== 0;
    this.sh[W.MMIO_EXITS]!++;
    this.served = true;
    // Device models take 1/2/4-byte accesses; an 8-byte one is split into two halves.
    const size = (len >= 4 ? 4 : len) as AccessSize;
    try {
      for (let done = 0; done < len; done += size) {
        if (write) this.devices.mmioWrite(addr + done, size, this.readData(40 + done, size));
        else this.writeData(40 + done, size, this.devices.mmioRead(addr + done, size));
      }
    } catch (e) {
      this.o.onDeviceError(e);
    }
  }
}
