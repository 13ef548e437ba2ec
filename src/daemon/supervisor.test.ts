import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseRunCommand } from '../cli/run.js';
import { VmCgroups } from './cgroups.js';
import { Supervisor, endFromExitRecord, isOurVmm, readExitRecord, vmmRunArgs } from './supervisor.js';

test('vmmRunArgs: a spec becomes the `tshv run` flags, with the defaults', () => {
  assert.deepEqual(vmmRunArgs({ name: 'web' }), ['--cpus', '1', '--memory', '512', '--accel', 'auto']);
  assert.deepEqual(vmmRunArgs({
    name: 'web', cpus: 2, memoryMib: 256, engine: 'soft', kernel: '/k', initrd: '/i', append: 'console=ttyS0 quiet',
    disks: [{ path: '/a.img', readOnly: true, serial: 'root', bps: 1000, iops: 10 }, { path: '/b.img' }],
    nics: [{ tap: 'tap0', mac: '52:54:00:12:34:56', bps: 5000 }],
  }), [
    '--cpus', '2', '--memory', '256', '--accel', 'soft', '--kernel', '/k', '--initrd', '/i', '--append', 'console=ttyS0 quiet',
    '--disk', '/a.img,ro,serial=root,bps=1000,iops=10', '--disk', '/b.img', '--net', 'tap=tap0,mac=52:54:00:12:34:56,bps=5000',
  ]);
});

test('vmmRunArgs: what the daemon passes is what `tshv run` parses', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-sup-'));
  try {
    const kernel = join(dir, 'vmlinuz');
    const disk = join(dir, 'a.img');
    writeFileSync(kernel, 'not a kernel, but readable');
    writeFileSync(disk, Buffer.alloc(4096));
    const args = [
      '--name', 'web', '--control', join(dir, 's.sock'), '--exit-file', join(dir, 'x.exit'), '--console', 'none',
      ...vmmRunArgs({ name: 'web', cpus: 2, memoryMib: 64, engine: 'soft', kernel, append: 'quiet', disks: [{ path: disk, readOnly: true, serial: 'd1' }] }),
    ];
    const { config } = await parseRunCommand(args);
    assert.equal(config.cpuCount, 2);
    assert.equal(config.memSizeMib, 64);
    assert.equal(config.accel, 'soft');
    assert.equal(config.kernelPath, kernel);
    assert.equal(config.cmdline, 'quiet');
    assert.equal(config.disks?.[0]?.path, disk);
    assert.equal(config.disks?.[0]?.readOnly, true);
    assert.equal(config.disks?.[0]?.serial, 'd1');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('exit records in words', () => {
  const time = '2026-01-01T00:00:00.000Z';
  assert.deepEqual(endFromExitRecord({ reason: 'poweroff', exitCode: 0, time }), { kind: 'clean', reason: 'The guest powered off' });
  assert.equal(endFromExitRecord({ reason: 'stopped', exitCode: 130, time }).kind, 'clean');
  assert.equal(endFromExitRecord({ reason: 'reset', exitCode: 0, time }).kind, 'clean');
  assert.deepEqual(endFromExitRecord({ reason: 'error', exitCode: 1, time, message: 'triple fault' }), { kind: 'failed', reason: 'The VMM failed: triple fault' });
  const dir = mkdtempSync(join(tmpdir(), 'tshv-sup-'));
  try {
    assert.equal(readExitRecord(join(dir, 'none.exit')), undefined);
    writeFileSync(join(dir, 'bad.exit'), '{"half":');
    assert.equal(readExitRecord(join(dir, 'bad.exit')), undefined);
    writeFileSync(join(dir, 'ok.exit'), JSON.stringify({ reason: 'poweroff', exitCode: 0, time }));
    assert.equal(readExitRecord(join(dir, 'ok.exit'))?.reason, 'poweroff');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('isOurVmm: a live process whose command line holds the marker, nothing else', () => {
  assert.equal(isOurVmm(process.pid, process.argv[1] ?? ''), true);
  assert.equal(isOurVmm(process.pid, '/no/such/socket.sock'), false);
  assert.equal(isOurVmm(999_999_999, 'x'), false);
});

test('a control socket path longer than sockaddr_un allows is refused before anything is spawned', async () => {
  const home = join(tmpdir(), 'x'.repeat(100));
  const sup = new Supervisor({
    home, entryPath: '/nonexistent.js', cgroups: VmCgroups.detect({ privileged: false }),
    events: { spawned: () => assert.fail('spawned'), runState: () => {}, exited: () => {}, log: () => {} },
  });
  await assert.rejects(sup.start({ id: '00000000-0000-4000-8000-000000000000', name: 'web', spec: { name: 'web' } }), /is longer than 107 bytes \(use a shorter TSHV_HOME\)/);
});
