import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { CpuState } from '../../../cpu/state.js';
import { GuestMemory } from '../../../memory/guest-memory.js';
import { PCI_HOLE_END, PCI_HOLE_START, ZERO_PAGE_START } from '../layout.js';
import { HDR_INIT_SIZE, parseBzImage } from './bzimage.js';
import { loadLinux } from './loader.js';
import { bzImagePayload, decompressBzImagePayload, lz4LegacyDecode } from './payload.js';
import { fakeBzImage } from './testing/fake-bzimage.js';
import { fakeVmlinux, KERNEL_VBASE } from './testing/fake-elf.js';

const MIB = 0x10_0000;
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
const LZ4_MAGIC = [0x02, 0x21, 0x4c, 0x18];

function lz4Frame(blocks: number[][]): Uint8Array {
  const out = [...LZ4_MAGIC];
  for (const b of blocks) out.push(b.length & 0xff, (b.length >> 8) & 0xff, 0, 0, ...b);
  return Uint8Array.from(out);
}

describe('lz4LegacyDecode', () => {
  it('decodes literals, overlapping and plain matches, and long lengths', () => {
    // "abcd" + match(offset 4, len 12) ; "XYZ" + match(offset 19, len 4) ; 20 x "k" as literals.
    const block = [
      0x48, ...ascii('abcd'), 4, 0,
      0x30, ...ascii('XYZ'), 19, 0,
      0xf0, 5, ...ascii('k'.repeat(20)),
    ];
    const expected = 'abcd'.repeat(4) + 'XYZ' + 'abcd' + 'k'.repeat(20);
    const out = lz4LegacyDecode(lz4Frame([block]), expected.length);
    assert.equal(Buffer.from(out!).toString('latin1'), expected);
  });

  it('spans several blocks and rejects malformed input', () => {
    const out = lz4LegacyDecode(lz4Frame([[0x20, 0x61, 0x62], [0x10, 0x63]]), 3);
    assert.equal(Buffer.from(out!).toString('latin1'), 'abc');
    assert.equal(lz4LegacyDecode(lz4Frame([[0x10, 0x61, 9, 0]]), 20), undefined); // offset beyond output
    assert.equal(lz4LegacyDecode(lz4Frame([[0x20, 0x61, 0x62]]), 5), undefined); // short output
  });
});

describe('decompressOnHost', () => {
  const text = new Uint8Array(0x2000).fill(0xcc);
  const vmlinux = fakeVmlinux(BigInt(16 * MIB), [{ paddr: 16 * MIB, vaddr: KERNEL_VBASE, data: text, memsz: 0x3000 }]);
  // gzip needs no size trailer: its own ISIZE field is the last 4 bytes.
  const payload = new Uint8Array(gzipSync(vmlinux));
  const image = fakeBzImage({ payload, initSizeBytes: 0x123000 });

  it('finds and gunzips the payload to the vmlinux', () => {
    const bz = parseBzImage(image);
    assert.equal(bzImagePayload(bz)?.byteLength, payload.byteLength);
    assert.deepEqual(decompressBzImagePayload(bz), vmlinux);
  });

  it('takes the vmlinux from a cache when it has the announced size, and fills the cache', () => {
    const bz = parseBzImage(image);
    const kept = new Map<number, Uint8Array>();
    const cache = { get: (p: Uint8Array) => kept.get(p.byteLength), put: (p: Uint8Array, v: Uint8Array) => { kept.set(p.byteLength, v); } };
    assert.deepEqual(decompressBzImagePayload(bz, cache), vmlinux);
    assert.deepEqual(kept.get(payload.byteLength), vmlinux);
    const marked = vmlinux.slice();
    marked[100] = 0x5a;
    kept.set(payload.byteLength, marked);
    assert.equal(decompressBzImagePayload(bz, cache)![100], 0x5a, 'a cache hit is used as is');
    kept.set(payload.byteLength, marked.subarray(1)); // wrong size: decompressed again
    assert.deepEqual(decompressBzImagePayload(bz, cache), vmlinux);
    const garbage = new Uint8Array(vmlinux.byteLength).map((_, k) => (k * 151 + 7) & 0xff); // right size, not an ELF
    kept.set(payload.byteLength, garbage);
    assert.deepEqual(decompressBzImagePayload(bz, cache), vmlinux);
    assert.deepEqual(kept.get(payload.byteLength), vmlinux, 'the damaged entry is replaced');
  });

  it('loads the vmlinux segments and keeps the bzImage setup header', () => {
    const memSizeBytes = 64 * MIB;
    const mem = new GuestMemory(new Uint8Array(memSizeBytes), GuestMemory.layout(memSizeBytes, PCI_HOLE_START, PCI_HOLE_END));
    const cpus = [new CpuState(0)];
    const info = loadLinux(mem, cpus, { kernel: image, cmdline: '', memSizeBytes, cpuCount: 1, decompressOnHost: true });
    assert.equal(info.format, 'bzImage-decompressed');
    assert.equal(cpus[0]!.rip, 16 * MIB);
    assert.equal(info.kernelEnd, 16 * MIB + 0x3000);
    assert.equal(mem.readU8(16 * MIB + 0x1fff), 0xcc);
    assert.equal(mem.readU32(ZERO_PAGE_START + HDR_INIT_SIZE), 0x123000);
    const plain = loadLinux(mem, cpus, { kernel: image, cmdline: '', memSizeBytes, cpuCount: 1 });
    assert.equal(plain.format, 'bzImage');
    assert.equal(cpus[0]!.rip, 16 * MIB + 0x200);
  });

  it('falls back to the bzImage entry for payloads it cannot decode', () => {
    const memSizeBytes = 64 * MIB;
    const mem = new GuestMemory(new Uint8Array(memSizeBytes), GuestMemory.layout(memSizeBytes, PCI_HOLE_START, PCI_HOLE_END));
    const xz = Uint8Array.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 1, 2, 3, 4, 0x10, 0, 0, 0]);
    const info = loadLinux(mem, [new CpuState(0)], {
      kernel: fakeBzImage({ payload: xz }), cmdline: '', memSizeBytes, cpuCount: 1, decompressOnHost: true,
    });
    assert.equal(info.format, 'bzImage');
  });
});
