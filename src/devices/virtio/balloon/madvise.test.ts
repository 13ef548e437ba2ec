// Balloon inflation on real memfd-backed guest RAM: the pages are punched out of the memfd
// (its allocated blocks drop) and read back as zeroes; a range outside RAM is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fstatSync } from 'node:fs';
import { allocateGuestMemory } from '../../../memory/allocate.js';
import { MmioBus, PioBus } from '../../bus.js';
import { createPciPlatform } from '../../pci/platform.js';
import { addVirtioBalloon, madviseReleaser } from '../platform.js';
import { VirtioDriverMock } from '../testing/driver-mock.js';
import { BALLOON_INFLATE_QUEUE } from './device.js';

test('virtio-balloon: inflating releases memfd pages (MADV_REMOVE); madviseReleaser refuses non-RAM', () => {
  const backing = allocateGuestMemory(16, 12 << 20, 14 << 20);
  try {
    const memory = backing.memory;
    const mmio = new MmioBus();
    const pci = createPciPlatform({ pio: new PioBus(), mmio, memory, msi: () => {} });
    const b = addVirtioBalloon(pci, { releasePages: madviseReleaser(memory, backing.mapping) });
    memory.fill(0x40_0000, 7 << 20, 0x11);
    const blocks = (): number => fstatSync(backing.memfd).blocks;
    const before = blocks();
    const drv = new VirtioDriverMock(pci.bus, mmio, memory, b.slot);
    drv.init();
    const first = 0x400;
    const n = 1024;
    const list = new Uint8Array(4 * 256);
    const view = new DataView(list.buffer);
    for (let done = 0; done < n; done += 256) {
      for (let i = 0; i < 256; i++) view.setUint32(4 * i, first + done + i, true);
      drv.post(BALLOON_INFLATE_QUEUE, [{ len: list.length, write: false, data: list }]);
    }
    drv.notify(BALLOON_INFLATE_QUEUE);
    assert.equal(drv.takeUsed(BALLOON_INFLATE_QUEUE).length, n / 256);
    assert.equal(b.device.metrics.releasedBytes, n * 4096);
    const after = blocks();
    // (the mock driver touches a few pages of its own meanwhile)
    assert.ok(before - after >= 0.9 * (n * 4096) / 512, `memfd blocks ${before} -> ${after}`);
    assert.equal(memory.readU8(0x40_0000 + 12345), 0);
    assert.equal(memory.readU8(0x80_0000 - 1), 0);
    assert.equal(memory.readU8(0x80_0000 + 8), 0x11, 'pages after the range are untouched');
    const release = madviseReleaser(memory, backing.mapping);
    assert.throws(() => release(12 << 20, 4096), RangeError);
    assert.throws(() => release(18 << 20, 4096), RangeError);
  } finally {
    backing.dispose();
  }
});
