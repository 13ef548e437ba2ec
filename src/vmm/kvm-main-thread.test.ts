// A 1-vCPU KVM machine with its KVM_RUN loop on the main thread (kvm-main-thread.ts): the event
// loop (a socket standing in for the control socket, timers) still answers while the guest spins
// without exits and while it halts; pause reads the state of a spinning vCPU; the guest's ends
// (reset, triple fault) come out as they do from a worker; the kick signal is left as it was.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TshvError } from '../common/errors.js';
import { SIG_BLOCK, sigset, sigtimedwaitNow, threadSigmask } from '../sys/libc.js';
import { probeKvm } from './accel.js';
import { KvmMachine } from './kvm-engine.js';
import { chooseVcpuThread } from './kvm-main-thread.js';
import { SIG_KICK } from './kvm-vcpu-protocol.js';
import { RESET_KERNEL, TRIPLE_FAULT_KERNEL, tinyKernel } from './testing/tiny-kernels.js';

const kvm = probeKvm();
const noKvm = kvm.usable ? false : `KVM is not usable here: ${kvm.detail}`;

/** mov dx, 0x3f8; mov al, c; out dx, al (COM1). */
const print = (c: string): number[] => [0x66, 0xba, 0xf8, 0x03, 0xb0, c.charCodeAt(0), 0xee];
/** Prints 'S', then spins with interrupts off: no exit ever again. */
const SPIN_KERNEL = [...print('S'), 0xfa, 0xeb, 0xfe];
/** Prints 'H', then halts with interrupts off: KVM_RUN sleeps in the kernel for good. */
const HALT_KERNEL = [...print('H'), 0xfa, 0xf4, 0xeb, 0xfd];

test('chooseVcpuThread: one vCPU on the main thread, several in workers; TSHV_KVM_THREAD can ask for a worker', () => {
  assert.equal(chooseVcpuThread(1, undefined), 'main');
  assert.equal(chooseVcpuThread(1, ''), 'main');
  assert.equal(chooseVcpuThread(1, 'main'), 'main');
  assert.equal(chooseVcpuThread(1, 'worker'), 'worker');
  assert.equal(chooseVcpuThread(2, undefined), 'worker');
  assert.equal(chooseVcpuThread(4, 'main'), 'worker');
  assert.throws(() => chooseVcpuThread(1, 'fast'), (e) => e instanceof TshvError && /TSHV_KVM_THREAD must be "main" or "worker", not "fast"/.test(e.message));
});

/** Whether SIG_KICK is blocked on this thread now. */
function kickBlocked(): boolean {
  const mask = threadSigmask(SIG_BLOCK, sigset([]));
  return (mask[(SIG_KICK - 1) >> 3]! & (1 << ((SIG_KICK - 1) & 7))) !== 0;
}

async function withMachine(
  code: number[], fn: (m: KvmMachine, out: () => string, dir: string) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-kvm-main-'));
  const kernelPath = join(dir, 'k.bin');
  writeFileSync(kernelPath, tinyKernel(code));
  let out = '';
  const m = new KvmMachine({ kernelPath, cmdline: '', cpuCount: 1, memSizeMib: 64, accel: 'kvm', reboot: false }, {
    onSerialOutput: (b) => { out += Buffer.from(b).toString('latin1'); },
  }, { vcpuThread: 'main' });
  try {
    assert.equal(m.vcpuThread, 'main');
    m.loadKernel();
    await fn(m, () => out, dir);
  } finally {
    m.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A Unix-socket request/response, standing in for the VMM's control socket. */
async function socketRoundTrip(dir: string): Promise<string> {
  const path = join(dir, 'control.sock');
  const server = createServer((c) => c.on('data', (d) => c.end(`pong ${d.toString()}`)));
  try {
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(path, resolve); });
    return await new Promise<string>((resolve, reject) => {
      let reply = '';
      const c = createConnection(path, () => c.write('ping'));
      c.on('data', (d) => { reply += d.toString(); });
      c.on('end', () => resolve(reply));
      c.on('error', reject);
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

for (const [what, code, mark] of [['spins without exits', SPIN_KERNEL, 'S'], ['halts', HALT_KERNEL, 'H']] as const) {
  test(`KVM, vCPU on the main thread: the event loop answers while the guest ${what}`, { skip: noKvm, timeout: 60_000 }, async (t) => {
    await withMachine([...code], async (m, out, dir) => {
      const running = m.run();
      await until(() => out() === mark, `the guest's "${mark}"`);
      assert.ok(kickBlocked(), 'SIG_KICK is blocked on the main thread while its vCPU runs');
      // Timers, sockets and many turns of the event loop go on meanwhile.
      await new Promise((r) => setTimeout(r, 20));
      for (let i = 0; i < 5; i++) assert.equal(await socketRoundTrip(dir), 'pong ping');
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      // Paused, the vCPU is out of KVM_RUN for good: its state is readable and no kick comes.
      await m.pause();
      const entry = BigInt(m.bootInfo!.entryRip);
      assert.equal(m.vcpuFds()[0]!.getRegs().rip, entry + BigInt(code.length - 2), 'paused at the final jmp');
      assert.equal(await socketRoundTrip(dir), 'pong ping');
      m.resume();
      await new Promise((r) => setTimeout(r, 20));
      m.stop({ kind: 'quit' });
      assert.deepEqual(await running, { kind: 'quit' });
      const stats = m.stats();
      t.diagnostic(stats);
      assert.match(stats, /vCPU on the main thread: [1-9]\d* slices/);
      assert.match(stats, /[1-9]\d* ended by the timer/);
      assert.match(stats, /^KVM: 1 PIO exits, 0 MMIO exits/);
    });
    assert.equal(kickBlocked(), false, 'SIG_KICK unblocked again');
    assert.equal(sigtimedwaitNow(sigset([SIG_KICK])), 0, 'no kick left pending');
  });
}

test('KVM, vCPU on the main thread: reset and triple fault end the run as they do from a worker', { skip: noKvm }, async () => {
  await withMachine(RESET_KERNEL, async (m, out) => {
    assert.deepEqual(await m.run(), { kind: 'reset' });
    assert.equal(out(), 'rebooting\n');
  });
  await withMachine(TRIPLE_FAULT_KERNEL, async (m) => {
    const exit = await m.run();
    assert.equal(exit.kind, 'error');
    assert.match(exit.kind === 'error' ? exit.message : '', /^Triple fault on vCPU 0 at RIP 0x[0-9a-f]{16}$/);
  });
});

test('KVM, vCPU on the main thread: stop() before run() ends it at once; pause() before run() holds it', { skip: noKvm }, async () => {
  await withMachine(SPIN_KERNEL, async (m, out) => {
    m.stop({ kind: 'quit' });
    assert.deepEqual(await m.run(), { kind: 'quit' });
    assert.equal(out(), '');
  });
  await withMachine(SPIN_KERNEL, async (m, out) => {
    const paused = m.pause();
    const running = m.run();
    await paused;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(out(), '', 'nothing ran while paused');
    m.resume();
    await until(() => out() === 'S', 'the guest');
    m.stop({ kind: 'quit' });
    assert.deepEqual(await running, { kind: 'quit' });
  });
});
