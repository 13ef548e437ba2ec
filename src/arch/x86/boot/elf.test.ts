import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CpuState } from '../../../cpu/state.js';
import { GuestMemory } from '../../../memory/guest-memory.js';
import { PCI_HOLE_END, PCI_HOLE_START, ZERO_PAGE_START } from '../layout.js';
import { HDR_HEADER, HDR_VERSION, HDRS_MAGIC } from './bzimage.js';
import { isElf, parseElfKernel } from './elf.js';
import { loadLinux } from './loader.js';
import { fakeVmlinux, KERNEL_VBASE, type FakeSegment } from './testing/fake-elf.js';

const MIB = 0x10_0000;
const text = new Uint8Array(0x3000).fill(0x90);
const data = new Uint8Array(0x1000).fill(0x11);
const segs: FakeSegment[] = [
  { paddr: 16 * MIB, vaddr: KERNEL_VBASE, data: text, memsz: 0x3000 },
  { paddr: 16 * MIB + 0x4000, vaddr: KERNEL_VBASE + 0x4000n, data, memsz: 0x3000 },
];

describe('parseElfKernel', () => {
  it('reads the PT_LOAD segments, the physical entry and the PVH note', () => {
    const elf = parseElfKernel(fakeVmlinux(BigInt(16 * MIB), segs, 16 * MIB + 0x123));
    assert.equal(elf.entry, 16 * MIB);
    assert.deepEqual(elf.segments.map((s) => [s.paddr, s.data.byteLength, s.memSizeBytes]),
      [[16 * MIB, 0x3000, 0x3000], [16 * MIB + 0x4000, 0x1000, 0x3000]]);
    assert.equal(elf.pvhEntry, 16 * MIB + 0x123);
  });

  it('maps a virtual e_entry to its physical address', () => {
    const elf = parseElfKernel(fakeVmlinux(KERNEL_VBASE + 0x10n, segs));
    assert.equal(elf.entry, 16 * MIB + 0x10);
    assert.equal(elf.pvhEntry, undefined);
  });

  it('rejects what it cannot boot', () => {
    assert.equal(isElf(new Uint8Array(8)), false);
    const bad = fakeVmlinux(BigInt(16 * MIB), segs);
    bad[18] = 3; // EM_386
    assert.throws(() => parseElfKernel(bad, 'vmlinux'), /Cannot boot "vmlinux": not an x86-64 executable ELF kernel/);
    assert.throws(() => parseElfKernel(fakeVmlinux(0x42n, segs)), /entry point 0x42 is in no loadable segment/);
  });
});

describe('loadLinux with an ELF vmlinux', () => {
  it('copies segments, zeroes bss, describes a 2.15 header and enters at e_entry', () => {
    const memSizeBytes = 64 * MIB;
    const mem = new GuestMemory(new Uint8Array(memSizeBytes), GuestMemory.layout(memSizeBytes, PCI_HOLE_START, PCI_HOLE_END));
    mem.fill(16 * MIB, 0x8000, 0xee);
    const cpus = [new CpuState(0)];
    const info = loadLinux(mem, cpus, {
      kernel: fakeVmlinux(BigInt(16 * MIB), segs), cmdline: 'console=ttyS0', memSizeBytes, cpuCount: 1,
      initrd: new Uint8Array(0x1000),
    });
    assert.equal(info.entryRip, 16 * MIB);
    assert.equal(cpus[0]!.rip, 16 * MIB);
    assert.equal(info.kernelEnd, 16 * MIB + 0x7000);
    assert.equal(mem.readU8(16 * MIB + 0x2fff), 0x90);
    assert.equal(mem.readU8(16 * MIB + 0x4000), 0x11);
    assert.equal(mem.readU8(16 * MIB + 0x5000), 0); // bss
    assert.equal(mem.readU8(16 * MIB + 0x7000), 0xee); // past the kernel: untouched
    const hdr = (field: number): number => ZERO_PAGE_START + field;
    assert.equal(mem.readU32(hdr(HDR_HEADER)), HDRS_MAGIC);
    assert.equal(mem.readU16(hdr(HDR_VERSION)), 0x020f);
    assert.equal(info.initrdAddress, 64 * MIB - 0x1000);
  });
});
