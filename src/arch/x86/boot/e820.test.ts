import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildE820Map, E820_ENTRY_BYTES, E820_TYPE_RAM, E820_TYPE_RESERVED, encodeE820, type E820Entry } from './e820.js';

const MIB = 0x10_0000;
const GIB = 0x4000_0000;

function ram(map: E820Entry[]): [number, number][] {
  return map.filter((e) => e.type === E820_TYPE_RAM).map((e) => [e.addr, e.addr + e.sizeBytes]);
}

describe('buildE820Map', () => {
  it('512 MiB: low RAM, the reserved BIOS area, RAM from 1 MiB, no high RAM', () => {
    const map = buildE820Map(512 * MIB);
    assert.deepEqual(ram(map), [[0, 0x9fc00], [MIB, 512 * MIB]]);
    assert.ok(map.some((e) => e.type === E820_TYPE_RESERVED && e.addr === 0x9fc00 && e.addr + e.sizeBytes === MIB));
    // The ACPI tables at 0xe0000.. are reserved, not RAM.
    assert.ok(!ram(map).some(([a, b]) => a <= 0xe0000 && 0xe0000 < b));
  });

  it('4 GiB: RAM stops at the PCI hole and the remaining 1 GiB goes above 4 GiB', () => {
    const map = buildE820Map(4 * GIB);
    assert.deepEqual(ram(map), [[0, 0x9fc00], [MIB, 3 * GIB], [4 * GIB, 5 * GIB]]);
  });

  it('5 GiB: 3 GiB low, 2 GiB high, the total adds up', () => {
    const map = buildE820Map(5 * GIB);
    assert.deepEqual(ram(map), [[0, 0x9fc00], [MIB, 3 * GIB], [4 * GIB, 6 * GIB]]);
    const total = ram(map).reduce((s, [a, b]) => s + b - a, 0);
    assert.equal(total, 5 * GIB - (MIB - 0x9fc00));
  });

  it('reserves the ECAM window, and no two entries overlap', () => {
    for (const size of [512 * MIB, 3 * GIB, 5 * GIB]) {
      const map = buildE820Map(size);
      assert.ok(map.some((e) => e.type === E820_TYPE_RESERVED && e.addr === 0xe000_0000 && e.sizeBytes === 0x1000_0000));
      const sorted = [...map].sort((a, b) => a.addr - b.addr);
      for (let i = 1; i < sorted.length; i++) {
        assert.ok(sorted[i - 1]!.addr + sorted[i - 1]!.sizeBytes <= sorted[i]!.addr);
      }
    }
  });

  it('encodes packed 20-byte boot_e820_entry records', () => {
    const bytes = encodeE820([{ addr: 4 * GIB, sizeBytes: 2 * GIB, type: E820_TYPE_RAM }]);
    assert.equal(bytes.byteLength, E820_ENTRY_BYTES);
    const v = new DataView(bytes.buffer);
    assert.equal(v.getBigUint64(0, true), 0x1_0000_0000n);
    assert.equal(v.getBigUint64(8, true), 0x8000_0000n);
    assert.equal(v.getUint32(16, true), 1);
  });
});
