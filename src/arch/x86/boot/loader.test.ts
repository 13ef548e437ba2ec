import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TshvError } from '../../../common/errors.js';
import { CpuMode, CpuState, Reg, Seg } from '../../../cpu/state.js';
import { GuestMemory } from '../../../memory/guest-memory.js';
import {
  BOOT_GDT_START, CMDLINE_START, PCI_HOLE_END, PCI_HOLE_START, PDE_START, PDPTE_START, PML4_START, RSDP_START,
  ZERO_PAGE_START,
} from '../layout.js';
import {
  BP_ACPI_RSDP_ADDR, BP_ALT_MEM_K, BP_E820_ENTRIES, BP_E820_TABLE, BP_EXT_CMD_LINE_PTR, BP_EXT_RAMDISK_IMAGE,
  BP_EXT_RAMDISK_SIZE, BP_HDR, BP_SENTINEL,
} from './boot-params.js';
import {
  CAN_USE_HEAP, HDR_CMD_LINE_PTR, HDR_HEADER, HDR_HEAP_END_PTR, HDR_LOADFLAGS, HDR_RAMDISK_IMAGE, HDR_RAMDISK_SIZE,
  HDR_TYPE_OF_LOADER, HDR_VERSION, HDRS_MAGIC, parseBzImage,
} from './bzimage.js';
import { loadLinux, planKernel } from './loader.js';
import { fakeBzImage } from './testing/fake-bzimage.js';

const MIB = 0x10_0000;

function machine(memMib: number, cpuCount = 2): { mem: GuestMemory; cpus: CpuState[]; memSizeBytes: number } {
  const memSizeBytes = memMib * MIB;
  const mem = new GuestMemory(new Uint8Array(memSizeBytes), GuestMemory.layout(memSizeBytes, PCI_HOLE_START, PCI_HOLE_END));
  return { mem, cpus: Array.from({ length: cpuCount }, (_, i) => new CpuState(i)), memSizeBytes };
}

/** Address in the zero page of a setup header field given by its bzImage offset. */
const hdr = (field: number): number => ZERO_PAGE_START + BP_HDR + (field - 0x1f1);

describe('loadLinux', () => {
  it('uses the struct boot_params offsets of bootparam.h / zero-page.rst', () => {
    assert.deepEqual(
      [BP_ACPI_RSDP_ADDR, BP_EXT_RAMDISK_IMAGE, BP_EXT_RAMDISK_SIZE, BP_EXT_CMD_LINE_PTR, BP_ALT_MEM_K, BP_E820_ENTRIES,
        BP_SENTINEL, BP_HDR, BP_E820_TABLE],
      [0x070, 0x0c0, 0x0c4, 0x0c8, 0x1e0, 0x1e8, 0x1ef, 0x1f1, 0x2d0]);
    // Setup header fields (boot.rst "THE REAL-MODE KERNEL HEADER"), same offsets in the zero page.
    assert.deepEqual(
      [HDR_HEADER, HDR_VERSION, HDR_TYPE_OF_LOADER, HDR_LOADFLAGS, HDR_RAMDISK_IMAGE, HDR_RAMDISK_SIZE, HDR_HEAP_END_PTR,
        HDR_CMD_LINE_PTR],
      [0x202, 0x206, 0x210, 0x211, 0x218, 0x21c, 0x224, 0x228]);
  });

  it('loads a relocatable kernel at pref_address and fills boot_params', () => {
    const { mem, cpus, memSizeBytes } = machine(64);
    const kernel = fakeBzImage({ kernelBytes: 0x3000 });
    const initrd = new Uint8Array(0x5123).fill(0xab);
    const info = loadLinux(mem, cpus, { kernel, initrd, cmdline: 'console=ttyS0 quiet', memSizeBytes, cpuCount: 2 });

    assert.equal(info.loadAddress, 0x1000000);
    assert.equal(info.entryRip, 0x1000200);
    assert.deepEqual(mem.read(0x1000000, 0x3000), parseBzImage(kernel).kernel);

    // Setup header copied, loader fields set (boot.rst "DETAILS OF HEADER FIELDS").
    assert.equal(mem.readU32(hdr(HDR_HEADER)), HDRS_MAGIC);
    assert.equal(mem.readU16(hdr(HDR_VERSION)), 0x020f);
    assert.equal(mem.readU8(hdr(HDR_TYPE_OF_LOADER)), 0xff);
    assert.equal(mem.readU8(hdr(HDR_LOADFLAGS)) & CAN_USE_HEAP, CAN_USE_HEAP);
    assert.equal(mem.readU16(hdr(HDR_HEAP_END_PTR)), 0xfe00);
    assert.equal(mem.readU8(ZERO_PAGE_START + BP_SENTINEL), 0);
    // These absolute offsets are struct boot_params' (bootparam.h).
    assert.equal(hdr(HDR_CMD_LINE_PTR), ZERO_PAGE_START + 0x228);
    assert.equal(mem.readU32(ZERO_PAGE_START + 0x228), CMDLINE_START);
    assert.equal(new TextDecoder().decode(mem.read(CMDLINE_START, 19)), 'console=ttyS0 quiet');
    assert.equal(mem.readU8(CMDLINE_START + 19), 0);
    assert.equal(mem.readU64(ZERO_PAGE_START + BP_ACPI_RSDP_ADDR), BigInt(RSDP_START));
    assert.equal(new TextDecoder().decode(mem.read(RSDP_START, 8)), 'RSD PTR ');

    // Initrd: as high as possible, page aligned, below the end of RAM.
    const image = mem.readU32(hdr(HDR_RAMDISK_IMAGE));
    assert.equal(image, info.initrdAddress);
    assert.equal(image % 0x1000, 0);
    assert.equal(image, 64 * MIB - 0x6000);
    assert.equal(mem.readU32(hdr(HDR_RAMDISK_SIZE)), 0x5123);
    assert.equal(mem.readU32(ZERO_PAGE_START + BP_EXT_RAMDISK_IMAGE), 0);
    assert.equal(mem.readU8(image + 0x5122), 0xab);

    // e820 table in the zero page.
    assert.equal(mem.readU8(ZERO_PAGE_START + BP_E820_ENTRIES), info.e820.length);
    const last = ZERO_PAGE_START + BP_E820_TABLE + 20 * 2;
    assert.equal(mem.readU64(last), 0x100000n);
    assert.equal(mem.readU64(last + 8), BigInt(63 * MIB));
    assert.equal(mem.readU32(last + 16), 1);
  });

  it('puts vCPU 0 at the 64-bit entry and leaves the APs waiting for SIPI', () => {
    const { mem, cpus, memSizeBytes } = machine(64, 3);
    loadLinux(mem, cpus, { kernel: fakeBzImage(), cmdline: '', memSizeBytes, cpuCount: 3 });
    const bsp = cpus[0]!;
    assert.equal(bsp.mode, CpuMode.Long64);
    assert.equal(bsp.rip, 0x1000200);
    assert.equal(bsp.gpr[Reg.RSI * 2], ZERO_PAGE_START);
    assert.equal(bsp.gpr[Reg.RSP * 2], 0x8ff0);
    assert.equal(bsp.flagsRest, 0x2);
    assert.equal(bsp.cr0, 0x80000031);
    assert.equal(bsp.cr4, 0x20);
    assert.equal(bsp.efer, 0x500);
    assert.equal(bsp.cr3, PML4_START);
    assert.equal(bsp.cpl, 0);
    assert.deepEqual(bsp.seg[Seg.CS], { selector: 0x10, base: 0, limit: 0xffffffff, attr: 0xa09b });
    for (const s of [Seg.DS, Seg.ES, Seg.SS]) {
      assert.deepEqual(bsp.seg[s], { selector: 0x18, base: 0, limit: 0xffffffff, attr: 0xc093 });
    }
    assert.deepEqual(bsp.gdtr, { base: BOOT_GDT_START, limit: 31 });
    assert.equal(bsp.idtr.limit, 0);
    assert.equal(bsp.waitForSipi, false);
    assert.ok(cpus[1]!.waitForSipi && cpus[2]!.waitForSipi);
    assert.equal(cpus[1]!.mode, CpuMode.Real);
    assert.equal(cpus[1]!.apicBase & 0x100n, 0n);

    // GDT: __BOOT_CS 64-bit code, __BOOT_DS flat data (the usual 0x00af9b... / 0x00cf93... values).
    assert.equal(mem.readU64(BOOT_GDT_START + 0x10), 0x00af9b000000ffffn);
    assert.equal(mem.readU64(BOOT_GDT_START + 0x18), 0x00cf93000000ffffn);
    // Identity map: PML4[0] -> PDPT, PDPT[3] -> 4th PD, last PD entry maps 4 GiB - 2 MiB.
    assert.equal(mem.readU64(PML4_START), BigInt(PDPTE_START | 3));
    assert.equal(mem.readU64(PDPTE_START + 3 * 8), BigInt((PDE_START + 0x3000) | 3));
    assert.equal(mem.readU64(PDE_START + 1 * 8), 0x200083n);
    assert.equal(mem.readU64(PDE_START + 0x3000 + 511 * 8), 0xffe00083n);
  });

  it('falls back to 1 MiB when pref_address does not fit, and accounts for the decompressor', () => {
    const bz = parseBzImage(fakeBzImage({ initSizeBytes: 40 * MIB }));
    assert.deepEqual(planKernel(bz, 48 * MIB), { load: MIB, end: 16 * MIB + 40 * MIB });
    assert.deepEqual(planKernel(bz, 64 * MIB), { load: 16 * MIB, end: 56 * MIB });
    const fixed = parseBzImage(fakeBzImage({ relocatable: false, initSizeBytes: 4 * MIB }));
    assert.deepEqual(planKernel(fixed, 64 * MIB), { load: MIB, end: 20 * MIB });
  });

  it('says how much memory the kernel and initrd need', () => {
    const { mem, cpus, memSizeBytes } = machine(32);
    const initrd = new Uint8Array(16 * MIB);
    assert.throws(() => loadLinux(mem, cpus, { kernel: fakeBzImage(), initrd, cmdline: '', memSizeBytes, cpuCount: 1 }),
      (e: unknown) => e instanceof TshvError && /^Memory too small: 32 MiB .* needs at least 36 MiB$/.test(e.message));
    const small = machine(16);
    assert.throws(() => loadLinux(small.mem, small.cpus, {
      kernel: fakeBzImage({ initSizeBytes: 8 * MIB }), cmdline: '', memSizeBytes: small.memSizeBytes, cpuCount: 1,
    }), /Memory too small: 16 MiB .* needs at least 24 MiB/);
  });

  it('rejects an initrd that only fits above initrd_addr_max', () => {
    const { mem, cpus, memSizeBytes } = machine(64);
    assert.throws(() => loadLinux(mem, cpus, {
      kernel: fakeBzImage({ initrdAddrMax: 24 * MIB - 1 }), kernelName: 'bz', initrd: new Uint8Array(8 * MIB),
      cmdline: '', memSizeBytes, cpuCount: 1,
    }), /^TshvError: Cannot boot "bz": initrd too large .* initrd_addr_max 0x17fffff/);
  });

  it('rejects a command line longer than cmdline_size', () => {
    const { mem, cpus, memSizeBytes } = machine(32);
    const kernel = fakeBzImage({ cmdlineSizeBytes: 10 });
    assert.doesNotThrow(() => loadLinux(mem, cpus, { kernel, cmdline: 'x'.repeat(10), memSizeBytes, cpuCount: 1 }));
    assert.throws(() => loadLinux(mem, cpus, { kernel, cmdline: 'x'.repeat(11), memSizeBytes, cpuCount: 1 }),
      /command line too long \(11 bytes, at most 10\)/);
  });
});
