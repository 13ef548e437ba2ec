import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VirtioBalloon } from '../devices/virtio/balloon/device.js';
import { VirtioBlock } from '../devices/virtio/block/device.js';
import { VirtioConsole } from '../devices/virtio/console/device.js';
import { VirtioNet } from '../devices/virtio/net/device.js';
import { LoopbackNetBackend } from '../network/tap.js';
import type { DiskBackend } from '../storage/disk-backend.js';
import { IoControls, diskName } from './io-controls.js';

const memDisk = (sizeBytes: number): DiskBackend => ({
  sizeBytes, readOnly: false, read: () => {}, write: () => {}, readv: () => {}, writev: () => {}, flush: () => {}, discard: () => {}, writeZeroes: () => {}, close: () => {},
});

function rig(): { io: IoControls; balloon: VirtioBalloon; disks: VirtioBlock[]; nic: VirtioNet; woke: () => number; hvcOut: Uint8Array[] } {
  const balloon = new VirtioBalloon({ releasePages: () => {} });
  const disks = [
    new VirtioBlock({ name: 'a', disk: memDisk(1 << 20), path: 'a' }),
    new VirtioBlock({ name: 'b', disk: memDisk(1 << 20), path: 'b', bytesPerSecond: 4096, opsPerSecond: 10 }),
  ];
  const nic = new VirtioNet({ name: 'n', backend: new LoopbackNetBackend(), mac: new Uint8Array(6) });
  const hvcOut: Uint8Array[] = [];
  const console = new VirtioConsole({ output: (b) => hvcOut.push(Uint8Array.from(b)) });
  let wakes = 0;
  const io = new IoControls({ balloon, disks, nics: [nic], memSizeMib: 512, console, wake: () => { wakes++; } });
  return { io, balloon, disks, nic, woke: () => wakes, hvcOut };
}

void describe('IoControls', () => {
  void it('names disks as Linux does', () => {
    assert.deepEqual([0, 1, 25, 26, 27, 701, 702].map(diskName), ['vda', 'vdb', 'vdz', 'vdaa', 'vdab', 'vdzz', 'vdaaa']);
  });

  void it('sets the balloon target in MiB (num_pages of 4 KiB) and reports it', () => {
    const { io, balloon } = rig();
    const info = io.setBalloonTarget(256);
    assert.equal(balloon.targetPages, 256 * 256);
    assert.equal(info.targetMib, 256);
    assert.equal(info.actualMib, 0);
    assert.equal(info.statsUpdates, 0);
    assert.deepEqual(info.guestStats, {});
    assert.ok(info.vmmRssBytes > 0);
    assert.equal(io.setBalloonTarget(0).targetMib, 0);
    assert.throws(() => io.setBalloonTarget(513), /from 0 to 512/);
    assert.throws(() => io.setBalloonTarget(-1), /Invalid balloon target/);
    assert.throws(() => io.setBalloonTarget(1.5), /Invalid balloon target/);
  });

  void it('answers balloon-stats at once when the guest holds no stats buffer', async () => {
    const { io } = rig();
    const info = await io.balloonStats(5000);
    assert.equal(info.statsUpdates, 0);
  });

  void it('changes disk limits field by field; null and 0 remove a limit', () => {
    const { io, disks } = rig();
    assert.deepEqual(io.setRateLimit('vdb', {}), { device: 'vdb', bps: 4096, iops: 10 });
    assert.deepEqual(io.setRateLimit('vdb', { bps: 1 << 20 }), { device: 'vdb', bps: 1 << 20, iops: 10 });
    assert.deepEqual(disks[1]!.rateLimit, { bytesPerSecond: 1 << 20, opsPerSecond: 10 });
    assert.deepEqual(io.setRateLimit('vdb', { iops: null }), { device: 'vdb', bps: 1 << 20, iops: 0 });
    assert.deepEqual(io.setRateLimit('vda', { bps: 100, iops: 5 }), { device: 'vda', bps: 100, iops: 5 });
    assert.deepEqual(io.setRateLimit('vda', { bps: 0, iops: null }), { device: 'vda', bps: 0, iops: 0 });
    assert.throws(() => io.setRateLimit('vdb', { bps: -1 }), /bps must be a whole number/);
    assert.throws(() => io.setRateLimit('vdb', { iops: 0.5 }), /iops must be a whole number/);
  });

  void it('changes a NIC limit; NICs have no iops limit; unknown devices are named in the error', () => {
    const { io, nic } = rig();
    assert.deepEqual(io.setRateLimit('eth0', { bps: 1000 }), { device: 'eth0', bps: 1000, iops: 0 });
    assert.equal(nic.bytesPerSecond, 1000);
    assert.deepEqual(io.setRateLimit('eth0', { bps: null }), { device: 'eth0', bps: 0, iops: 0 });
    assert.throws(() => io.setRateLimit('eth0', { iops: 3 }), /no iops limit/);
    assert.throws(() => io.setRateLimit('eth1', { bps: 1 }), /No device "eth1" .*vda, vdb, eth0/);
    assert.throws(() => io.setRateLimit('sda', { bps: 1 }), /No device "sda"/);
  });

  void it('queues hvc0 input and wakes the machine; without a console it refuses', () => {
    const { io, woke } = rig();
    assert.equal(io.pushHvcInput(new TextEncoder().encode('hi')), true);
    assert.equal(woke(), 1);
    const bare = new IoControls({ balloon: undefined, disks: [], nics: [], memSizeMib: 64 });
    assert.equal(bare.pushHvcInput(new Uint8Array(1)), false);
    assert.throws(() => bare.setBalloonTarget(1), /no memory balloon/);
    assert.throws(() => bare.setRateLimit('vda', {}), /no disks or NICs/);
  });
});
