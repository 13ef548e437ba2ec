// pause / resume / pressPowerButton on both engines (engine.ts), with tiny kernels: a paused
// machine runs no guest code and its clock stands still; input typed while paused is answered
// after resume; stop() ends a paused run; the power button sets PM1 PWRBTN_STS.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACPI_PM1A_EVT } from '../arch/x86/layout.js';
import { PWRBTN_STS } from '../devices/legacy/acpi-pm/device.js';
import { probeKvm } from './accel.js';
import type { VmConfig } from './config.js';
import type { VmEngine } from './engine.js';
import { HostClock } from './host-clock.js';
import { KvmMachine } from './kvm-engine.js';
import { Machine } from './machine.js';
import { ECHO_KERNEL, tinyKernel } from './testing/tiny-kernels.js';

const kvm = probeKvm();
const noKvm = kvm.usable ? false : `KVM is not usable here: ${kvm.detail}`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function withEcho(engine: 'soft' | 'kvm' | 'kvm-worker', fn: (m: VmEngine & { platform: Machine['platform'] }, out: () => string, waitOut: (s: string) => Promise<void>) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-engine-controls-'));
  const kernelPath = join(dir, 'echo.bin');
  writeFileSync(kernelPath, tinyKernel(ECHO_KERNEL));
  const config: VmConfig = { kernelPath, cmdline: '', cpuCount: 1, memSizeMib: 64, accel: engine === 'soft' ? 'soft' : 'kvm', reboot: false };
  let out = '';
  let wake: () => void = () => undefined;
  const io = { onSerialOutput: (b: Uint8Array): void => { out += Buffer.from(b).toString('latin1'); wake(); } };
  // 1 vCPU: 'kvm' runs it on the main thread (kvm-main-thread.ts), 'kvm-worker' in a worker thread.
  const m = engine === 'soft' ? new Machine(config, io) : new KvmMachine(config, io, { vcpuThread: engine === 'kvm' ? 'main' : 'worker' });
  const waitOut = async (s: string): Promise<void> => {
    const deadline = Date.now() + 20_000;
    while (!out.includes(s)) {
      if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(s)} in ${JSON.stringify(out)}`);
      await new Promise<void>((r) => { wake = r; setTimeout(r, 50); });
    }
  };
  try {
    m.loadKernel();
    await fn(m, () => out, waitOut);
  } finally {
    m.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const engine of ['soft', 'kvm', 'kvm-worker'] as const) {
  const skip = engine === 'soft' ? false : noKvm;

  test(`${engine}: input typed while paused is answered only after resume; the guest then powers off`, { skip }, async () => {
    await withEcho(engine, async (m, out, waitOut) => {
      const running = m.run();
      m.enqueueInput(Buffer.from('a'));
      await waitOut('>a');
      await m.pause();
      await m.pause(); // idempotent
      const softClock = m instanceof Machine ? m.clock.nowNs() : 0;
      m.enqueueInput(Buffer.from('b'));
      await sleep(300);
      assert.equal(out(), '>a', 'nothing runs while paused');
      if (m instanceof Machine) assert.equal(m.clock.nowNs(), softClock, 'guest time stands still');
      m.resume();
      m.resume(); // idempotent
      await waitOut('>b');
      m.enqueueInput(Buffer.from('q'));
      assert.deepEqual(await running, { kind: 'poweroff' });
      assert.equal(out(), '>a>b>q');
    });
  });

  test(`${engine}: stop() ends a paused run`, { skip }, async () => {
    await withEcho(engine, async (m, _out, waitOut) => {
      const running = m.run();
      m.enqueueInput(Buffer.from('x'));
      await waitOut('>x');
      await m.pause();
      m.stop({ kind: 'reset' });
      assert.deepEqual(await running, { kind: 'reset' });
    });
  });

  test(`${engine}: the power button sets PM1 PWRBTN_STS`, { skip }, async () => {
    await withEcho(engine, async (m) => {
      assert.equal(m.platform.pio.pioRead(ACPI_PM1A_EVT, 2) & PWRBTN_STS, 0);
      m.pressPowerButton();
      assert.equal(m.platform.pio.pioRead(ACPI_PM1A_EVT, 2) & PWRBTN_STS, PWRBTN_STS);
      return Promise.resolve();
    });
  });
}

test('HostClock: frozen, time stands still and timers wait; thawed, they fire for what was left', async () => {
  const clock = new HostClock();
  try {
    let fired = 0;
    clock.setTimer(clock.nowNs() + 30e6, () => { fired++; });
    clock.freeze();
    const t0 = clock.nowNs();
    await sleep(80);
    assert.equal(clock.nowNs(), t0);
    assert.equal(fired, 0);
    clock.thaw();
    assert.ok(clock.nowNs() >= t0);
    await sleep(100);
    assert.equal(fired, 1);
  } finally {
    clock.dispose();
  }
});
