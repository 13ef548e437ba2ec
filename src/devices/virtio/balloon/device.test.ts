import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestPlatform } from '../testing/test-platform.js';
import { VirtioDriverMock } from '../testing/driver-mock.js';
import { addVirtioBalloon } from '../platform.js';
import { featureBit, VIRTIO_F_VERSION_1 } from '../virtio-device.js';
import {
  BALLOON_CFG_ACTUAL, BALLOON_CFG_NUM_PAGES, BALLOON_DEFLATE_QUEUE, BALLOON_INFLATE_QUEUE, VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
  VIRTIO_BALLOON_F_PAGE_REPORTING, VIRTIO_BALLOON_F_STATS_VQ,
} from './device.js';
import { VIRTIO_BALLOON_S_MEMFREE, VIRTIO_BALLOON_S_MEMTOT } from './request.js';

const MEM_BYTES = 8 << 20;

function rig(): { t: ReturnType<typeof createTestPlatform>; drv: VirtioDriverMock; b: ReturnType<typeof addVirtioBalloon>; released: [number, number][] } {
  const t = createTestPlatform(MEM_BYTES);
  const released: [number, number][] = [];
  const b = addVirtioBalloon(t.pci, {
    releasePages: (gpa, bytes) => {
      assert.ok(t.memory.isRange(gpa, bytes));
      released.push([gpa, bytes]);
      t.memory.fill(gpa, bytes, 0); // what MADV_REMOVE looks like from the guest
    },
  });
  const drv = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, b.slot);
  return { t, drv, b, released };
}

function pfns(list: number[]): Uint8Array {
  const a = new Uint8Array(4 * list.length);
  const v = new DataView(a.buffer);
  list.forEach((p, i) => v.setUint32(4 * i, p >>> 0, true));
  return a;
}

test('virtio-balloon: identity, features, target and actual', () => {
  const { t, drv, b } = rig();
  assert.equal(t.pci.bus.configRead(0, b.slot, 0, 0, 4), 0x1045_1af4);
  drv.init();
  for (const bit of [VIRTIO_BALLOON_F_STATS_VQ, VIRTIO_BALLOON_F_DEFLATE_ON_OOM, VIRTIO_BALLOON_F_PAGE_REPORTING]) assert.ok((drv.offeredFeatures & featureBit(bit)) !== 0n);
  assert.equal(drv.queues.length, 4);
  const before = t.msis.length;
  b.device.setTarget(300);
  assert.ok(t.msis.length > before, 'config interrupt');
  assert.equal(drv.deviceConfig(BALLOON_CFG_NUM_PAGES, 4), 300);
  t.mmio.mmioWrite(drv.deviceAt + BALLOON_CFG_ACTUAL, 4, 120);
  t.mmio.mmioWrite(drv.deviceAt + BALLOON_CFG_NUM_PAGES, 4, 7); // not the driver's to write
  assert.equal(b.device.actualPages, 120);
  assert.equal(b.device.targetPages, 300);
  assert.throws(() => b.device.setTarget(-1), RangeError);
});

test('virtio-balloon: inflate releases contiguous runs once, rejects PFNs outside RAM, deflate takes pages back', () => {
  const { t, drv, b, released } = rig();
  drv.init();
  const page = 0x200;
  t.memory.fill(page * 4096, 3 * 4096, 0x77);
  const outside = [MEM_BYTES / 4096, 0xffff_ffff, 0x10_0000];
  drv.post(BALLOON_INFLATE_QUEUE, [{ len: 4 * 8, write: false, data: pfns([page, page + 1, page + 2, page + 10, ...outside, page + 1]) }]);
  drv.notify(BALLOON_INFLATE_QUEUE);
  assert.equal(drv.takeUsed(BALLOON_INFLATE_QUEUE).length, 1);
  assert.deepEqual(released, [[page * 4096, 3 * 4096], [(page + 10) * 4096, 4096]]);
  assert.equal(t.memory.readU8(page * 4096 + 5000), 0);
  assert.equal(b.device.metrics.inflatedPages, 4);
  assert.equal(b.device.metrics.rejectedPfns, 4, 'three outside RAM and one repeat');
  drv.post(BALLOON_DEFLATE_QUEUE, [{ len: 12, write: false, data: pfns([page, page + 10, page + 50]) }]);
  drv.notify(BALLOON_DEFLATE_QUEUE);
  assert.equal(drv.takeUsed(BALLOON_DEFLATE_QUEUE).length, 1);
  assert.equal(b.device.balloonedPages, 2);
  assert.equal(b.device.metrics.rejectedPfns, 5, 'deflating a page not in the balloon');
  const saved = JSON.parse(JSON.stringify(b.device.saveDevice())) as unknown;
  const r2 = rig();
  r2.b.device.restoreDevice(saved);
  assert.equal(r2.b.device.balloonedPages, 2);
});

test('virtio-balloon: the stats buffer is parsed and held until the host asks again', () => {
  const { t, drv, b } = rig();
  const seen: unknown[] = [];
  drv.init();
  void seen;
  const stats = new Uint8Array(20);
  const v = new DataView(stats.buffer);
  v.setUint16(0, VIRTIO_BALLOON_S_MEMFREE, true);
  v.setUint32(2, 0x1000_0000, true);
  v.setUint16(10, VIRTIO_BALLOON_S_MEMTOT, true);
  v.setUint32(12, 0, true);
  v.setUint32(16, 1, true);
  const h = drv.post(2, [{ len: 20, write: false, data: stats }]);
  drv.notify(2);
  assert.deepEqual(b.device.stats, { freeBytes: 0x1000_0000, totalBytes: 2 ** 32 });
  assert.equal(drv.takeUsed(2).length, 0, 'held by the device');
  const before = t.msis.length;
  assert.equal(b.device.requestStats(), true);
  assert.deepEqual(drv.takeUsed(2), [{ id: h, len: 0 }]);
  assert.ok(t.msis.length > before);
  assert.equal(b.device.requestStats(), false, 'nothing held now');
});

test('virtio-balloon: free page reporting releases whole pages of each range', () => {
  const { drv, b, released } = rig();
  drv.init();
  const q = 3;
  drv.post(q, [{ addr: 0x40_0000, len: 1 << 20, write: true }, { addr: 0x60_0800, len: 0x2000, write: true }]);
  drv.notify(q);
  assert.equal(drv.takeUsed(q).length, 1);
  assert.deepEqual(released, [[0x40_0000, 1 << 20], [0x60_1000, 0x1000]]);
  assert.equal(b.device.metrics.reportedBytes, (1 << 20) + 0x1000);
});

test('virtio-balloon: without STATS_VQ the reporting queue is queue 2', () => {
  const { drv, released } = rig();
  drv.init({ features: featureBit(VIRTIO_F_VERSION_1) | featureBit(VIRTIO_BALLOON_F_PAGE_REPORTING) });
  drv.post(2, [{ addr: 0x40_0000, len: 0x3000, write: true }]);
  drv.notify(2);
  assert.deepEqual(released, [[0x40_0000, 0x3000]]);
});
