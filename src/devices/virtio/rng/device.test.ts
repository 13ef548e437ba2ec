import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestPlatform } from '../testing/test-platform.js';
import { VirtioDriverMock } from '../testing/driver-mock.js';
import { addVirtioRng } from '../platform.js';
import { RNG_MAX_REQUEST_BYTES } from './device.js';

test('virtio-rng: fills writable buffers with host entropy', () => {
  const t = createTestPlatform();
  const rng = addVirtioRng(t.pci);
  assert.equal(t.pci.bus.configRead(0, rng.slot, 0, 0, 4), 0x1044_1af4);
  const drv = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, rng.slot);
  drv.init();
  const head = drv.post(0, [{ len: 64, write: true, data: new Uint8Array(64) }, { len: 64, write: true, data: new Uint8Array(64) }]);
  drv.notify(0);
  const used = drv.takeUsed(0);
  assert.deepEqual(used, [{ id: head, len: 128 }]);
  const [a, b] = drv.buffersOf(0, head);
  const bytes = [...t.memory.read(a!.addr, 64), ...t.memory.read(b!.addr, 64)];
  assert.ok(bytes.some((x) => x !== 0));
  assert.ok(new Set(bytes).size > 32);
  assert.equal(rng.device.metrics.bytes, 128);
  assert.ok(t.msis.length >= 1);
});

test('virtio-rng: caps one request and returns chains without writable buffers empty', () => {
  const t = createTestPlatform(8 << 20);
  const rng = addVirtioRng(t.pci);
  const drv = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, rng.slot);
  drv.init();
  drv.post(0, [{ len: 4, write: false }]);
  drv.post(0, [{ len: RNG_MAX_REQUEST_BYTES * 2, write: true }]);
  drv.notify(0);
  const used = drv.takeUsed(0);
  assert.equal(used.length, 2);
  assert.equal(used[0]!.len, 0);
  assert.equal(used[1]!.len, RNG_MAX_REQUEST_BYTES);
  assert.equal(rng.device.metrics.emptyRequests, 1);
  assert.deepEqual(rng.transport.save().device, { version: 1 });
});
