import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestPlatform, type TestPlatform } from '../testing/test-platform.js';
import { VirtioDriverMock } from '../testing/driver-mock.js';
import { addVirtioNet } from '../platform.js';
import { LoopbackNetBackend, TUN_F_CSUM, TUN_F_TSO4 } from '../../../network/tap.js';
import { featureBit, VIRTIO_F_VERSION_1 } from '../virtio-device.js';
import type { IoTimer } from '../block/device.js';
import {
  NET_CFG_STATUS, NET_RX_QUEUE, NET_TX_QUEUE, VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_STATUS, VIRTIO_NET_S_LINK_UP,
} from './device.js';
import { parseNetOption } from './config.js';
import { NET_HDR_NUM_BUFFERS, VIRTIO_NET_HDR_BYTES } from './request.js';

function frame(payloadBytes: number, seed = 1): Uint8Array {
  const f = new Uint8Array(VIRTIO_NET_HDR_BYTES + payloadBytes);
  for (let i = VIRTIO_NET_HDR_BYTES; i < f.length; i++) f[i] = (i * seed + 7) & 0xff;
  return f;
}

function rig(o: { features?: bigint; bps?: number; timer?: IoTimer; mac?: string } = {}): { t: TestPlatform; drv: VirtioDriverMock; backend: LoopbackNetBackend; net: ReturnType<typeof addVirtioNet> } {
  const t = createTestPlatform(8 << 20);
  const backend = new LoopbackNetBackend();
  const net = addVirtioNet(t.pci, { tap: 'tshvtest0', mac: o.mac ?? '52:54:00:12:34:56', ...(o.bps !== undefined ? { bytesPerSecond: o.bps } : {}) },
    { backend, ...(o.timer !== undefined ? { timer: o.timer } : {}) });
  const drv = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, net.slot);
  drv.init(o.features !== undefined ? { features: o.features } : {});
  return { t, drv, backend, net };
}

test('virtio-net: PCI identity, features, MAC and link status in the configuration', () => {
  const { t, drv, net } = rig();
  assert.equal(t.pci.bus.configRead(0, net.slot, 0, 0, 4), 0x1041_1af4);
  for (const b of [VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_GUEST_TSO4]) assert.ok((drv.offeredFeatures & featureBit(b)) !== 0n, `bit ${b}`);
  const mac = [0, 1, 2, 3, 4, 5].map((i) => drv.deviceConfig(i, 1));
  assert.deepEqual(mac, [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
  assert.equal(drv.deviceConfig(NET_CFG_STATUS, 2), VIRTIO_NET_S_LINK_UP);
  const before = t.msis.length;
  net.device.setLinkUp(false);
  assert.equal(drv.deviceConfig(NET_CFG_STATUS, 2), 0);
  assert.ok(t.msis.length > before, 'config change interrupt');
  assert.equal(net.device.mac, '52:54:00:12:34:56');
  assert.deepEqual(net.transport.save().device, { version: 1, mac: '52:54:00:12:34:56', linkUp: false });
});

test('virtio-net: transmit gathers a frame split over descriptors and sends it whole', () => {
  const { drv, backend, net } = rig();
  const f = frame(1000);
  drv.post(NET_TX_QUEUE, [{ len: 12, write: false, data: f.subarray(0, 12) }, { len: 500, write: false, data: f.subarray(12, 512) }, { len: 500, write: false, data: f.subarray(512) }]);
  drv.post(NET_TX_QUEUE, [{ len: 5, write: false }]);
  drv.notify(NET_TX_QUEUE);
  assert.equal(drv.takeUsed(NET_TX_QUEUE).length, 2);
  assert.equal(backend.sent.length, 1);
  assert.deepEqual(backend.sent[0], f);
  assert.equal(net.device.metrics.txFrames, 1);
  assert.equal(net.device.metrics.txBytes, 1000);
  assert.equal(net.device.metrics.txDropped, 1);
});

test('virtio-net: receive into one buffer per frame without MRG_RXBUF; frames wait for buffers, none lost', () => {
  const all = (1n << 64n) - 1n;
  const { t, drv, backend, net } = rig({ features: all & ~featureBit(VIRTIO_NET_F_MRG_RXBUF) });
  const f1 = frame(100, 3);
  const f2 = frame(200, 5);
  backend.inbox.push(f1, f2);
  assert.equal(net.device.poll(), 0, 'no buffers: nothing read');
  assert.equal(backend.inbox.length, 2);
  const h1 = drv.post(NET_RX_QUEUE, [{ len: 1526, write: true }]);
  drv.notify(NET_RX_QUEUE);
  assert.equal(backend.inbox.length, 1, 'one frame taken for one buffer');
  const used = drv.takeUsed(NET_RX_QUEUE);
  assert.deepEqual(used, [{ id: h1, len: f1.length }]);
  const got = t.memory.read(drv.buffersOf(NET_RX_QUEUE, h1)[0]!.addr, f1.length);
  assert.equal(got[NET_HDR_NUM_BUFFERS], 1);
  assert.deepEqual(got.subarray(12), f1.subarray(12));
  const h2 = drv.post(NET_RX_QUEUE, [{ len: 12, write: true }, { len: 1514, write: true }]);
  assert.equal(net.device.poll(), 1);
  assert.deepEqual(drv.takeUsed(NET_RX_QUEUE), [{ id: h2, len: f2.length }]);
  const b = drv.buffersOf(NET_RX_QUEUE, h2);
  assert.deepEqual(t.memory.read(b[1]!.addr, 200), f2.subarray(12));
  // A buffer too small for the frame is returned empty and the frame dropped (counted).
  backend.inbox.push(frame(300));
  drv.post(NET_RX_QUEUE, [{ len: 100, write: true }]);
  net.device.poll();
  assert.deepEqual(drv.takeUsed(NET_RX_QUEUE).map((u) => u.len), [0]);
  assert.equal(net.device.metrics.rxDropped, 1);
  assert.equal(net.device.metrics.rxFrames, 2);
});

test('virtio-net: MRG_RXBUF spreads a frame over several buffers and sets num_buffers', () => {
  const { t, drv, backend, net } = rig();
  const f = frame(238, 9); // 250 bytes
  const heads = [drv.post(NET_RX_QUEUE, [{ len: 100, write: true }])];
  backend.inbox.push(f);
  net.device.poll();
  assert.equal(drv.takeUsed(NET_RX_QUEUE).length, 0, 'not enough buffers: frame held');
  heads.push(drv.post(NET_RX_QUEUE, [{ len: 100, write: true }]), drv.post(NET_RX_QUEUE, [{ len: 100, write: true }]));
  drv.notify(NET_RX_QUEUE);
  const used = drv.takeUsed(NET_RX_QUEUE);
  assert.deepEqual(used, [{ id: heads[0]!, len: 100 }, { id: heads[1]!, len: 100 }, { id: heads[2]!, len: 50 }]);
  const bytes = new Uint8Array(250);
  heads.forEach((h, i) => bytes.set(t.memory.read(drv.buffersOf(NET_RX_QUEUE, h)[0]!.addr, used[i]!.len), 100 * i));
  assert.equal(bytes[NET_HDR_NUM_BUFFERS], 3);
  assert.deepEqual(bytes.subarray(12), f.subarray(12));
  assert.equal(net.device.metrics.rxBytes, 238);
});

test('virtio-net: guest offloads go to the back end; reset clears them', () => {
  const { drv, backend } = rig();
  assert.equal(backend.offload & (TUN_F_CSUM | TUN_F_TSO4), TUN_F_CSUM | TUN_F_TSO4);
  drv.init({ features: featureBit(VIRTIO_F_VERSION_1) | featureBit(VIRTIO_NET_F_GUEST_CSUM) });
  assert.equal(backend.offload, TUN_F_CSUM);
  drv.reset();
  assert.equal(backend.offload, 0);
  void VIRTIO_NET_F_GUEST_TSO4;
});

test('virtio-net: the bps limit defers frames until the bucket refills', () => {
  let now = 0;
  const timers: { at: number; fn: () => void }[] = [];
  const timer: IoTimer = { nowMs: () => now, schedule: (d, fn) => { timers.push({ at: now + d, fn }); } };
  const { drv, backend, net } = rig({ bps: 2000, timer });
  for (let i = 0; i < 4; i++) drv.post(NET_TX_QUEUE, [{ len: 1012, write: false, data: frame(1000) }]);
  drv.notify(NET_TX_QUEUE);
  const first = backend.sent.length;
  assert.ok(first >= 1 && first < 4, `sent ${first}`);
  assert.ok(net.device.metrics.rateLimited > 0);
  for (let round = 0; round < 10 && backend.sent.length < 4; round++) {
    const tm = timers.shift();
    assert.ok(tm !== undefined, 'a retry is scheduled');
    now = tm.at;
    tm.fn();
  }
  assert.equal(backend.sent.length, 4);
  assert.ok(now >= 500, `took ${now} ms of virtual time`);
  net.device.setRateLimit(0);
  assert.equal(drv.takeUsed(NET_TX_QUEUE).length, 4);
});

test('virtio-net: --net parsing', () => {
  assert.deepEqual(parseNetOption('tap=tap0'), { tap: 'tap0' });
  assert.deepEqual(parseNetOption('tap=tap1,mac=52:54:00:00:00:01,bps=10M'), { tap: 'tap1', mac: '52:54:00:00:00:01', bytesPerSecond: 10 << 20 });
  assert.throws(() => parseNetOption('mac=52:54:00:00:00:01'), /tap=NAME is required/);
  assert.throws(() => parseNetOption('tap=tap0,foo'), /unknown option "foo"/);
  assert.throws(() => parseNetOption('tap=tap0,mac=ff:ff:ff:ff:ff:ff'), /multicast/);
  assert.throws(() => parseNetOption('tap=way-too-long-name-x'), /TAP name/);
});

test('virtio-net: dispose closes the back end', () => {
  const { backend, net } = rig();
  net.device.dispose();
  assert.equal(backend.closed, true);
});

test('virtio-net: several NICs on one bus are independent', () => {
  const t = createTestPlatform(8 << 20);
  const a = new LoopbackNetBackend('a');
  const b = new LoopbackNetBackend('b');
  const n1 = addVirtioNet(t.pci, { tap: 'tapa', macSeed: 'vm/0' }, { backend: a });
  const n2 = addVirtioNet(t.pci, { tap: 'tapb', macSeed: 'vm/1' }, { backend: b });
  assert.notEqual(n1.slot, n2.slot);
  assert.notEqual(n1.device.mac, n2.device.mac);
  const d2 = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, n2.slot, 0x40_0000);
  d2.init();
  d2.post(NET_TX_QUEUE, [{ len: 72, write: false, data: frame(60) }]);
  d2.notify(NET_TX_QUEUE);
  assert.equal(a.sent.length, 0);
  assert.equal(b.sent.length, 1);
});
