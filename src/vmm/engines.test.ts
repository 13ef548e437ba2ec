// The engines check each other (issue 3): our small guests run on KVM and on the soft engine and
// must print the same thing. KVM runs wherever /dev/kvm works, including this host's nested kvm_pvm
// (small guests are fine there); the soft engine runs everywhere. A 1-vCPU KVM machine runs its
// vCPU on the main thread by default (kvm-main-thread.ts): those guests run both ways on KVM.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeKvm } from './accel.js';
import type { VmConfig } from './config.js';
import type { VmEngine } from './engine.js';
import { KvmMachine } from './kvm-engine.js';
import { Machine, type MachineExit } from './machine.js';
import { assembleGuest, binutilsMissing, guestBzImage } from './testing/asm-guests.js';
import { POWEROFF_KERNEL, tinyKernel } from './testing/tiny-kernels.js';

const kvm = probeKvm();
const noKvm = kvm.usable ? false : `KVM is not usable here: ${kvm.detail}`;
const noAs = binutilsMissing() ?? false;
const dir = mkdtempSync(join(tmpdir(), 'tshv-engines-'));

async function runOn(engine: 'soft' | 'kvm' | 'kvm-worker', kernel: Uint8Array, cpuCount: number): Promise<{ exit: MachineExit; out: string }> {
  const kernelPath = join(dir, `k-${engine}-${cpuCount}-${Math.random().toString(36).slice(2)}.bin`);
  writeFileSync(kernelPath, kernel);
  const config: VmConfig = { kernelPath, cmdline: 'console=ttyS0', cpuCount, memSizeMib: 64, accel: engine === 'soft' ? 'soft' : 'kvm', reboot: false };
  let out = '';
  const io = { onSerialOutput: (b: Uint8Array): void => { out += Buffer.from(b).toString('latin1'); } };
  const m: VmEngine = engine === 'soft' ? new Machine(config, io) : new KvmMachine(config, io, { vcpuThread: engine === 'kvm' ? 'main' : 'worker' });
  try {
    m.loadKernel();
    const guard = setTimeout(() => m.stop({ kind: 'error', message: 'test timeout' }), 30_000);
    const exit = await m.run();
    clearTimeout(guard);
    return { exit, out };
  } finally {
    m.dispose();
  }
}

const EXPECTED_SMP = (cpus: number): string => [
  'G: start', 'G: scratch 5a', 'G: mmio ffffffff', 'G: lapic tick 1', 'G: lapic tick 2', 'G: lapic tick 3',
  'G: pit ticks 3',
  ...Array.from({ length: cpus - 1 }, (_, i) => `G: ap ${(i + 1).toString(16).padStart(2, '0')} up`),
  `G: cpus ${cpus.toString(16).padStart(2, '0')}`, 'G: done', '',
].join('\n');

for (const engine of ['kvm', 'kvm-worker'] as const) {
  test(`KVM (vCPU ${engine === 'kvm' ? 'on the main thread' : 'in a worker'}): the tiny power-off kernel prints and powers off`, { skip: noKvm }, async () => {
    const r = await runOn(engine, tinyKernel(POWEROFF_KERNEL), 1);
    assert.deepEqual(r.exit, { kind: 'poweroff' });
    assert.equal(r.out, 'hello from tiny\n');
  });
}

for (const cpus of [1, 3]) {
  test(`smp-timer guest, ${cpus} vCPU(s): KVM output is the expected one`, { skip: noKvm || noAs }, async () => {
    const image = guestBzImage(assembleGuest('smp-timer'));
    const r = await runOn('kvm', image, cpus);
    assert.equal(r.out, EXPECTED_SMP(cpus));
    assert.deepEqual(r.exit, { kind: 'poweroff' });
  });

  test(`smp-timer guest, ${cpus} vCPU(s): the soft engine prints the same as KVM`, { skip: noAs }, async () => {
    const image = guestBzImage(assembleGuest('smp-timer'));
    const soft = await runOn('soft', image, cpus);
    assert.equal(soft.out, EXPECTED_SMP(cpus));
    assert.deepEqual(soft.exit, { kind: 'poweroff' });
    if (!noKvm) {
      const k = await runOn('kvm', image, cpus);
      assert.equal(k.out, soft.out);
      if (cpus === 1) assert.equal((await runOn('kvm-worker', image, cpus)).out, soft.out, 'the vCPU in a worker thread');
    }
  });
}
