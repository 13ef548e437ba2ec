import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addVirtioBlk, addVirtioRng } from '../platform.js';
import { VIRTIO_BLK_T_IN } from '../block/request.js';
import { VIRTQ_DESC_F_NEXT } from '../queue/virtqueue.js';
import { createHostileRig, fuzz, guardsIntact, HOSTILE_SCENARIOS, runScenario, type HostileRig } from './hostile.js';
import type { PciPlatform } from '../../pci/platform.js';

const IMAGE_BYTES = 256 * 1024;
/** CI budget; TSHV_FUZZ_OPERATIONS=1000000 for a long run. */
const FUZZ_OPERATIONS = Number(process.env['TSHV_FUZZ_OPERATIONS'] ?? 15000);
const FUZZ_SEED = Number(process.env['TSHV_FUZZ_SEED'] ?? 0x7e57);

function withImage(fn: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-hostile-'));
  try {
    const path = join(dir, 'disk.img');
    writeFileSync(path, new Uint8Array(IMAGE_BYTES).fill(0x5a));
    fn(path);
    assert.equal(statSync(path).size, IMAGE_BYTES);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type Attach = (pci: PciPlatform) => { transport: HostileRig['transport']; slot: number; close?: () => void };

function devices(path: string): [string, Attach][] {
  return [
    ['virtio-blk', (pci) => { const a = addVirtioBlk(pci, { path, readOnly: false }); return { ...a, close: () => a.device.disk.close() }; }],
    ['virtio-blk ro', (pci) => { const a = addVirtioBlk(pci, { path, readOnly: true }); return { ...a, close: () => a.device.disk.close() }; }],
    ['virtio-rng', (pci) => addVirtioRng(pci)],
  ];
}

test('hostile guest: every malformed ring ends in NEEDS_RESET or a dropped request, never a crash', () => {
  withImage((path) => {
    for (const [name, attach] of devices(path)) {
      for (const s of HOSTILE_SCENARIOS) {
        let close: (() => void) | undefined;
        const rig = createHostileRig((pci) => { const a = attach(pci); close = a.close; return a; });
        const out = runScenario(rig, s);
        const what = `${name}: ${s.name}`;
        if (s.expect === 'reset') {
          assert.equal(out.needsReset, true, what);
          // Once broken, further notifications are dropped until the driver resets.
          rig.drv.notify(0);
          assert.ok(rig.transport.metrics.droppedNotifications > 0, what);
        } else {
          assert.equal(out.needsReset, false, what);
          assert.equal(out.usedCount, 0, what);
          assert.equal(out.dropped, 1, what);
        }
        assert.ok(guardsIntact(rig), what);
        // A reset and a clean bring-up make the device usable again.
        rig.drv.init();
        assert.equal(rig.transport.deviceStatus & 64, 0, what);
        close?.();
      }
    }
  });
});

test('hostile guest: block chains that are not requests are returned empty, the device stays up', () => {
  withImage((path) => {
    let close: (() => void) | undefined;
    const rig = createHostileRig((pci) => { const a = addVirtioBlk(pci, { path, readOnly: false }); close = () => a.device.disk.close(); return a; });
    rig.drv.init();
    // Only device-readable buffers: no status byte to write.
    rig.drv.post(0, [{ len: 16, write: false }, { len: 512, write: false }]);
    // A header shorter than 16 bytes.
    rig.drv.post(0, [{ len: 8, write: false }, { len: 1, write: true }]);
    // A read whose data buffer is split oddly but valid: served.
    const h = new Uint8Array(16);
    new DataView(h.buffer).setUint32(0, VIRTIO_BLK_T_IN, true);
    rig.drv.post(0, [{ len: 10, write: false, data: h.subarray(0, 10) }, { len: 6, write: false, data: h.subarray(10) }, { len: 300, write: true }, { len: 213, write: true }]);
    rig.drv.notify(0);
    const used = rig.drv.takeUsed(0);
    assert.deepEqual(used.map((u) => u.len), [0, 0, 513]);
    assert.equal(rig.transport.deviceStatus & 64, 0);
    assert.equal(rig.memory.readU8(rig.drv.buffersOf(0, used[2]!.id)[3]!.addr + 212), 0);
    void VIRTQ_DESC_F_NEXT;
    close?.();
  });
});

test('hostile guest: randomized rings (fixed seed) never crash the VMM or touch memory outside RAM', () => {
  withImage((path) => {
    const perDevice = Math.max(1, Math.floor(FUZZ_OPERATIONS / 3));
    devices(path).forEach(([name, attach], i) => {
      let close: (() => void) | undefined;
      const rig = createHostileRig((pci) => { const a = attach(pci); close = a.close; return a; });
      const report = fuzz(rig, FUZZ_SEED + i, perDevice);
      assert.equal(report.operations, perDevice, name);
      assert.ok(report.sessions > 1, name);
      assert.ok(report.needsResetSeen > 0, `${name}: the fuzzer never broke a ring`);
      close?.();
    });
  });
});
