// Virtio on both engines (issue 4: "the KVM path is wired, exercised by small guests"): our own
// small C guest (testing/guests/virtio-blk.c) finds the virtio-blk function on PCI, initializes it,
// reads sector 0 and writes sector 1 through one split virtqueue, each request completed by an
// MSI-X interrupt. The soft engine and KVM (vCPU on the main thread and in a worker) must print the
// same lines from the same disk image, and the host file must hold what the guest wrote.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { probeKvm } from './accel.js';
import type { VmConfig } from './config.js';
import type { MachineExit } from './engine.js';
import type { BlockMetrics } from '../devices/virtio/index.js';
import { KvmMachine } from './kvm-engine.js';
import { Machine } from './machine.js';
import { guestBzImage } from './testing/asm-guests.js';
import { compileGuest, gccMissing } from './testing/c-guests.js';

const kvm = probeKvm();
const noKvm = kvm.usable ? false : `KVM is not usable here: ${kvm.detail}`;
const noGcc = gccMissing() ?? false;
const dir = mkdtempSync(join(tmpdir(), 'tshv-kvm-virtio-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const DISK_BYTES = 1 << 20;
const SECTOR_BYTES = 512;
/** The first 16 bytes of sector 0 of every test disk. */
const SECTOR0 = new Uint8Array(randomBytes(SECTOR_BYTES));
const WRITTEN = 'tshv virtio-blk guest wrote sector 1\n';

let kernelPath: string | undefined;
function kernel(): string {
  if (kernelPath === undefined) {
    kernelPath = join(dir, 'virtio-blk.bin');
    writeFileSync(kernelPath, guestBzImage(compileGuest('virtio-blk')));
  }
  return kernelPath;
}

function freshDisk(name: string): string {
  const path = join(dir, `${name}.img`);
  const bytes = new Uint8Array(randomBytes(DISK_BYTES));
  bytes.set(SECTOR0, 0);
  writeFileSync(path, bytes);
  return path;
}

const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

const EXPECTED = [
  'V: start',
  'V: blk at 00:01.0', // slot 0 is the host bridge; the first disk comes first (io-devices.ts)
  `V: capacity ${(DISK_BYTES / SECTOR_BYTES).toString(16).padStart(8, '0')} sectors`,
  `V: read sector 0 status 00 data ${hex(SECTOR0.subarray(0, 16))}`,
  'V: write sector 1 status 00',
  'V: interrupts 02',
  'V: done',
  '',
].join('\n');

type Engine = 'soft' | 'kvm' | 'kvm-worker';

async function runOn(engine: Engine, diskPath: string, before?: (m: Machine | KvmMachine) => void): Promise<{ exit: MachineExit; out: string }> {
  const config: VmConfig = {
    kernelPath: kernel(), cmdline: 'console=ttyS0', cpuCount: 1, memSizeMib: 64, accel: engine === 'soft' ? 'soft' : 'kvm', reboot: false,
    disks: [{ path: diskPath, readOnly: false }],
  };
  let out = '';
  const io = { onSerialOutput: (b: Uint8Array): void => { out += Buffer.from(b).toString('latin1'); } };
  const m = engine === 'soft' ? new Machine(config, io) : new KvmMachine(config, io, { vcpuThread: engine === 'kvm' ? 'main' : 'worker' });
  try {
    m.loadKernel();
    before?.(m);
    const guard = setTimeout(() => m.stop({ kind: 'error', message: 'test timeout' }), 30_000);
    try {
      return { exit: await m.run(), out };
    } finally {
      clearTimeout(guard);
    }
  } finally {
    m.dispose();
  }
}

function assertSector1Written(diskPath: string): void {
  const file = new Uint8Array(readFileSync(diskPath));
  assert.deepEqual(file.subarray(0, SECTOR_BYTES), SECTOR0, 'sector 0 is untouched');
  const s1 = file.subarray(SECTOR_BYTES, 2 * SECTOR_BYTES);
  assert.equal(Buffer.from(s1.subarray(0, WRITTEN.length)).toString('latin1'), WRITTEN);
  for (let i = WRITTEN.length; i < SECTOR_BYTES; i++) assert.equal(s1[i], i & 0xff, `sector 1 byte ${i}`);
}

test('virtio-blk guest on the soft engine: reads sector 0, writes sector 1, one MSI-X interrupt per request', { skip: noGcc }, async () => {
  const disk = freshDisk('soft');
  const r = await runOn('soft', disk);
  assert.equal(r.out, EXPECTED);
  assert.deepEqual(r.exit, { kind: 'poweroff' });
  assertSector1Written(disk);
});

for (const engine of ['kvm', 'kvm-worker'] as const) {
  test(`virtio-blk guest on KVM (vCPU ${engine === 'kvm' ? 'on the main thread' : 'in a worker'}) prints what the soft engine prints`, { skip: noGcc || noKvm }, async () => {
    const disk = freshDisk(engine);
    const r = await runOn(engine, disk);
    assert.equal(r.out, EXPECTED);
    assert.deepEqual(r.exit, { kind: 'poweroff' });
    assertSector1Written(disk);
  });
}

test('KVM: the run-time I/O controls reach the devices; a rate-limited request completes later from a timer', { skip: noGcc || noKvm }, async () => {
  const disk = freshDisk('kvm-limited');
  let limits: unknown;
  let metrics: BlockMetrics | undefined;
  const r = await runOn('kvm', disk, (m) => {
    assert.ok(m instanceof KvmMachine);
    metrics = m.ioDevices.disks[0]!.device.metrics;
    // One operation per second: the second request waits for a token, then completes from the
    // machine clock's timer on the main thread while the vCPU sleeps in HLT.
    limits = m.ioControls.setRateLimit('vda', { iops: 1 });
    assert.equal(m.ioControls.setBalloonTarget(0).targetMib, 0);
    assert.throws(() => m.ioControls.setRateLimit('vdb', { bps: 1 }), /No device "vdb" to rate-limit \(this machine has vda\)/);
  });
  assert.deepEqual(limits, { device: 'vda', bps: 0, iops: 1 });
  assert.equal(r.out, EXPECTED);
  assert.deepEqual(r.exit, { kind: 'poweroff' });
  assert.ok(metrics !== undefined && metrics.throttled >= 1, `the limiter held a request back (${JSON.stringify(metrics)})`);
  assertSector1Written(disk);
});

test('tshv run --accel kvm takes --disk and --hvc: the guest reads and writes the disk through the CLI', { skip: noGcc || noKvm }, () => {
  const disk = freshDisk('cli');
  const tshv = fileURLToPath(new URL('../bin/tshv.js', import.meta.url));
  const r = spawnSync(process.execPath, [
    tshv, 'run', '--kernel', kernel(), '--accel', 'kvm', '--disk', disk, '--hvc', `socket=${join(dir, 'hvc.sock')}`,
  ], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, TSHV_HOME: join(dir, 'home') } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, EXPECTED);
  assertSector1Written(disk);
});
