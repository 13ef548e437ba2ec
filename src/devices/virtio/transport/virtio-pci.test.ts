import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestPlatform } from '../testing/test-platform.js';
import { VirtioDriverMock } from '../testing/driver-mock.js';
import { addVirtioRng } from '../platform.js';
import {
  featureBit, VIRTIO_F_VERSION_1, VIRTIO_STATUS_ACKNOWLEDGE, VIRTIO_STATUS_DEVICE_NEEDS_RESET, VIRTIO_STATUS_DRIVER,
  VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_FEATURES_OK,
} from '../virtio-device.js';
import {
  COMMON_GF, COMMON_GFSELECT, COMMON_MSIX, COMMON_NUMQ, COMMON_Q_DESCLO, COMMON_Q_ENABLE, COMMON_Q_MSIX, COMMON_Q_SELECT,
  COMMON_Q_SIZE, COMMON_CFGGENERATION, COMMON_STATUS, VIRTIO_MSI_NO_VECTOR, VIRTIO_PCI_CAP_PCI_CFG, VirtioPciDevice,
  type VirtioPciState,
} from './virtio-pci.js';
import { PCI_CLASS_OTHERS } from './virtio-pci.js';

const DRIVER = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

function rig() {
  const t = createTestPlatform();
  const rng = addVirtioRng(t.pci);
  const drv = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, rng.slot);
  return { t, rng, drv };
}

test('virtio-pci: capabilities, identity and common configuration registers', () => {
  const { t, rng, drv } = rig();
  assert.ok(drv.commonAt > 0 && drv.notifyAt > 0 && drv.isrAt > 0);
  assert.equal(drv.deviceAt, -1); // rng has no device configuration
  assert.equal(drv.notifyMultiplier, 4);
  assert.equal(t.pci.bus.configRead(0, rng.slot, 0, 8, 4) >>> 8, PCI_CLASS_OTHERS >>> 0);
  assert.equal(t.pci.bus.configRead(0, rng.slot, 0, 8, 1), 1); // revision 1: modern
  assert.equal(drv.common(COMMON_NUMQ, 2), 1);
  drv.setCommon(COMMON_Q_SELECT, 2, 0);
  assert.equal(drv.common(COMMON_Q_SIZE, 2), 256);
  drv.setCommon(COMMON_Q_DESCLO, 4, 0x1234_5670);
  assert.equal(drv.common(COMMON_Q_DESCLO, 4), 0x1234_5670);
  // Vectors beyond the table read back as NO_VECTOR.
  drv.setCommon(COMMON_Q_MSIX, 2, 77);
  assert.equal(drv.common(COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
  drv.setCommon(COMMON_MSIX, 2, 1);
  assert.equal(drv.common(COMMON_MSIX, 2), 1);
  // A non-existent queue reads size 0.
  drv.setCommon(COMMON_Q_SELECT, 2, 5);
  assert.equal(drv.common(COMMON_Q_SIZE, 2), 0);
  assert.equal(drv.common(COMMON_CFGGENERATION, 1), 0);
  // Reset clears it all.
  drv.setStatus(0);
  drv.setCommon(COMMON_Q_SELECT, 2, 0);
  assert.equal(drv.common(COMMON_Q_DESCLO, 4), 0);
  assert.equal(drv.common(COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
});

test('virtio-pci: FEATURES_OK is refused without VERSION_1 or with features never offered', () => {
  const { drv } = rig();
  drv.setStatus(DRIVER);
  drv.setStatus(DRIVER | VIRTIO_STATUS_FEATURES_OK);
  assert.equal(drv.status() & VIRTIO_STATUS_FEATURES_OK, 0);
  drv.setStatus(0);
  drv.setStatus(DRIVER);
  drv.setCommon(COMMON_GFSELECT, 4, 1);
  drv.setCommon(COMMON_GF, 4, 1 | (1 << 20)); // VERSION_1 and an unknown bit
  drv.setStatus(DRIVER | VIRTIO_STATUS_FEATURES_OK);
  assert.equal(drv.status() & VIRTIO_STATUS_FEATURES_OK, 0);
  drv.setCommon(COMMON_GF, 4, 1);
  drv.setStatus(DRIVER | VIRTIO_STATUS_FEATURES_OK);
  assert.equal(drv.status() & VIRTIO_STATUS_FEATURES_OK, VIRTIO_STATUS_FEATURES_OK);
  // After FEATURES_OK the features are frozen.
  drv.setCommon(COMMON_GF, 4, 0);
  drv.setCommon(COMMON_GFSELECT, 4, 1);
  assert.equal(drv.common(COMMON_GF, 4), 1);
  assert.equal(drv.init({ features: featureBit(VIRTIO_F_VERSION_1) }), featureBit(VIRTIO_F_VERSION_1));
});

test('virtio-pci: notifications before DRIVER_OK are dropped; buffers are served at DRIVER_OK', () => {
  const { rng, drv } = rig();
  drv.init({ skipDriverOk: true });
  drv.post(0, [{ len: 8, write: true }]);
  drv.notify(0);
  assert.equal(drv.takeUsed(0).length, 0);
  assert.equal(rng.transport.metrics.droppedNotifications, 1);
  drv.setStatus(DRIVER | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
  assert.equal(drv.takeUsed(0).length, 1);
  // Queue registers are frozen while live.
  drv.setCommon(COMMON_Q_SELECT, 2, 0);
  drv.setCommon(COMMON_Q_SIZE, 2, 16);
  assert.equal(drv.common(COMMON_Q_SIZE, 2), 256);
  // Notifying a queue that does not exist is dropped too.
  rng.transport.notify(3);
  assert.equal(rng.transport.metrics.droppedNotifications, 2);
});

test('virtio-pci: unusable rings at DRIVER_OK, or DRIVER_OK without FEATURES_OK, mean NEEDS_RESET', () => {
  const { t, rng, drv } = rig();
  drv.init({ skipDriverOk: true });
  drv.setCommon(COMMON_Q_SELECT, 2, 0);
  assert.equal(drv.common(COMMON_Q_ENABLE, 2), 1);
  // Move the used ring outside RAM through a raw queue re-program: reset and set up by hand.
  drv.setStatus(0);
  drv.setStatus(DRIVER);
  drv.setCommon(COMMON_GFSELECT, 4, 1);
  drv.setCommon(COMMON_GF, 4, 1);
  drv.setStatus(DRIVER | VIRTIO_STATUS_FEATURES_OK);
  drv.setCommon(COMMON_Q_SELECT, 2, 0);
  drv.setCommon(COMMON_Q_DESCLO, 4, t.memory.sizeBytes - 16);
  drv.setCommon(COMMON_Q_ENABLE, 2, 1);
  drv.setCommon(COMMON_MSIX, 2, 0);
  drv.setStatus(DRIVER | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
  assert.ok((drv.status() & VIRTIO_STATUS_DEVICE_NEEDS_RESET) !== 0);
  assert.match(rng.transport.lastError, /ring outside guest RAM/);
  drv.setStatus(0);
  assert.equal(drv.status(), 0);
  drv.setStatus(DRIVER);
  drv.setStatus(DRIVER | VIRTIO_STATUS_DRIVER_OK);
  assert.ok((drv.status() & VIRTIO_STATUS_DEVICE_NEEDS_RESET) !== 0);
  // And a working init after a reset recovers.
  drv.init();
  assert.equal(drv.status() & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
});

test('virtio-pci: state round-trips through JSON and the restored device keeps serving its queue', () => {
  const { t, rng, drv } = rig();
  drv.init();
  drv.post(0, [{ len: 8, write: true }]);
  drv.notify(0);
  assert.equal(drv.takeUsed(0).length, 1);
  const state = JSON.parse(JSON.stringify(rng.transport.save())) as VirtioPciState;
  const busState = t.pci.bus.save();
  // A second machine with the same memory contents.
  const t2 = createTestPlatform();
  t2.memory.bytes.set(t.memory.bytes);
  const rng2 = addVirtioRng(t2.pci);
  t2.pci.bus.restore(busState);
  rng2.transport.restore(state);
  assert.ok(rng2.transport instanceof VirtioPciDevice);
  const drv2 = new VirtioDriverMock(t2.pci.bus, t2.mmio, t2.memory, rng2.slot);
  drv2.queues = drv.queues; // the guest's view of its rings carries over with memory
  drv2.setUsedEvent(0, 1); // event index: interrupt after the second buffer
  drv2.post(0, [{ len: 8, write: true }]);
  drv2.notify(0);
  assert.equal(drv2.takeUsed(0).length, 1);
  assert.ok(t2.msis.length >= 1);
});

test('virtio-pci: the PCI configuration access capability reaches the BAR registers', () => {
  const { t, rng, drv } = rig();
  const cfg = (off: number, size: 1 | 2 | 4) => t.pci.bus.configRead(0, rng.slot, 0, off, size);
  let cap = cfg(0x34, 1);
  while (cap !== 0 && !(cfg(cap, 1) === 0x09 && cfg(cap + 3, 1) === VIRTIO_PCI_CAP_PCI_CFG)) cap = cfg(cap + 1, 1);
  assert.notEqual(cap, 0);
  const w = (off: number, size: 1 | 2 | 4, v: number) => t.pci.bus.configWrite(0, rng.slot, 0, off, size, v);
  w(cap + 4, 1, 0);
  w(cap + 8, 4, COMMON_NUMQ);
  w(cap + 12, 4, 2);
  assert.equal(cfg(cap + 16, 4), 1);
  w(cap + 8, 4, COMMON_STATUS);
  w(cap + 12, 4, 1);
  w(cap + 16, 1, VIRTIO_STATUS_ACKNOWLEDGE);
  assert.equal(drv.status(), VIRTIO_STATUS_ACKNOWLEDGE);
  w(cap + 4, 1, 3); // another BAR: reads 0, writes vanish
  assert.equal(cfg(cap + 16, 4), 0);
});
