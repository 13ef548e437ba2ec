// The machine state the Linux 64-bit boot protocol expects at the kernel's entry
// (Documentation/arch/x86/boot.rst, "64-bit BOOT PROTOCOL"): long mode with paging, identity
// mapping of the kernel, zero page and command line, a GDT with __BOOT_CS (0x10) and __BOOT_DS
// (0x18) as 4 GiB flat segments, interrupts disabled, RSI = the zero page.

import type { GuestMemory } from '../../../memory/guest-memory.js';
import {
  Cr0, Cr4, CpuMode, Efer, Reg, Seg, type CpuState, type SegmentCache,
} from '../../../cpu/state.js';
import {
  BOOT_GDT_START, BOOT_IDT_START, BOOT_STACK_POINTER, PDE_START, PDPTE_START, PML4_START,
} from '../layout.js';

/** Selectors the kernel's startup_64 expects (arch/x86/include/asm/segment.h, GDT_ENTRY_BOOT_CS = 2). */
export const BOOT_CS = 0x10;
export const BOOT_DS = 0x18;

// Descriptor access bytes (SDM Vol. 3A §3.4.5): P=1, DPL=0, S=1 and the type.
const ACCESS_CODE_XR_ACCESSED = 0x9b;
const ACCESS_DATA_RW_ACCESSED = 0x93;
// Flags nibble (descriptor bits 52..55): G=8, D/B=4, L=2.
const FLAGS_G = 0x8;
const FLAGS_DB = 0x4;
const FLAGS_L = 0x2;

/** GDT: null, unused, __BOOT_CS (64-bit code), __BOOT_DS (flat data). */
const GDT_ENTRIES = 4;
const GDT_ENTRY_BYTES = 8;

// Paging structure entry bits (SDM Vol. 3A §4.5).
const PTE_P = 1 << 0;
const PTE_RW = 1 << 1;
const PDE_PS = 1 << 7;
const PAGE_TABLE_ENTRIES = 512;
const PAGE_2M = 0x20_0000;
/** One PD maps 1 GiB; four map the first 4 GiB (the PDs sit at PDE_START..PDE_START + 0x4000). */
export const IDENTITY_MAP_GIB = 4;

/** Segment attributes as CpuState keeps them: access byte in bits 0..7, flags nibble in 12..15. */
function segAttr(access: number, flags: number): number {
  return access | (flags << 12);
}
const CODE64_ATTR = segAttr(ACCESS_CODE_XR_ACCESSED, FLAGS_G | FLAGS_L);
const DATA_ATTR = segAttr(ACCESS_DATA_RW_ACCESSED, FLAGS_G | FLAGS_DB);

/** A flat descriptor (base 0, limit 0xfffff pages) as its 64-bit value's two halves. */
function flatDescriptor(access: number, flags: number): [lo: number, hi: number] {
  const limit = 0xfffff;
  const lo = limit & 0xffff; // base 15..0 = 0
  const hi = (access << 8) | (((limit >> 16) & 0xf) << 16) | (flags << 20); // base 23..16, 31..24 = 0
  return [lo >>> 0, hi >>> 0];
}

/** Writes the boot GDT at BOOT_GDT_START; returns its limit. */
export function writeBootGdt(mem: GuestMemory): number {
  const entries: [number, number][] = [
    [0, 0],
    [0, 0],
    flatDescriptor(ACCESS_CODE_XR_ACCESSED, FLAGS_G | FLAGS_L),
    flatDescriptor(ACCESS_DATA_RW_ACCESSED, FLAGS_G | FLAGS_DB),
  ];
  entries.forEach(([lo, hi], i) => {
    mem.writeU32(BOOT_GDT_START + i * GDT_ENTRY_BYTES, lo);
    mem.writeU32(BOOT_GDT_START + i * GDT_ENTRY_BYTES + 4, hi);
  });
  // The IDT is left empty (limit 0): the kernel loads its own before enabling interrupts.
  mem.fill(BOOT_IDT_START, 8, 0);
  return GDT_ENTRIES * GDT_ENTRY_BYTES - 1;
}

/** Identity-maps the first 4 GiB with 2 MiB pages: PML4[0] -> PDPT[0..3] -> 4 PDs. */
export function writeIdentityPageTables(mem: GuestMemory): void {
  mem.fill(PML4_START, 0x1000, 0);
  mem.fill(PDPTE_START, 0x1000, 0);
  mem.writeU32(PML4_START, PDPTE_START | PTE_P | PTE_RW);
  for (let gib = 0; gib < IDENTITY_MAP_GIB; gib++) {
    const pd = PDE_START + gib * 0x1000;
    mem.writeU32(PDPTE_START + gib * 8, pd | PTE_P | PTE_RW);
    mem.writeU32(PDPTE_START + gib * 8 + 4, 0);
    for (let i = 0; i < PAGE_TABLE_ENTRIES; i++) {
      const addr = gib * 0x4000_0000 + i * PAGE_2M; // < 2^32: the high dword is 0
      mem.writeU32(pd + i * 8, (addr | PTE_P | PTE_RW | PDE_PS) >>> 0);
      mem.writeU32(pd + i * 8 + 4, 0);
    }
  }
}

function setSeg(s: SegmentCache, selector: number, attr: number): void {
  s.selector = selector;
  s.base = 0;
  s.limit = 0xffffffff;
  s.attr = attr;
}

/**
 * Puts vCPU 0 at the 64-bit entry `entryRip` with RSI = `zeroPage`, as boot.rst requires.
 * The GDT and page tables must have been written (writeBootGdt, writeIdentityPageTables).
 */
export function setupLongModeEntry(cpu: CpuState, entryRip: number, zeroPage: number, gdtLimit: number): void {
  cpu.gpr.fill(0);
  cpu.gpr[Reg.RSI * 2] = zeroPage;
  cpu.gpr[Reg.RSP * 2] = BOOT_STACK_POINTER;
  cpu.rip = entryRip;
  // Only the reserved bit 1 set: IF=0 (interrupts disabled), DF=0, arithmetic flags clear.
  cpu.flagsRest = 0x2;
  cpu.lazyOp = 0;
  cpu.lazyFlags = 0;

  setSeg(cpu.seg[Seg.CS]!, BOOT_CS, CODE64_ATTR);
  for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) setSeg(cpu.seg[s]!, BOOT_DS, DATA_ATTR);
  cpu.gdtr = { base: BOOT_GDT_START, limit: gdtLimit };
  cpu.idtr = { base: BOOT_IDT_START, limit: 0 };

  cpu.cr0 = (Cr0.PE | Cr0.ET | Cr0.NE | Cr0.PG) >>> 0;
  cpu.cr3 = PML4_START;
  cpu.cr4 = Cr4.PAE;
  // SCE stays off: the kernel enables SYSCALL itself (syscall_init).
  cpu.efer = Efer.LME | Efer.LMA;
  cpu.mode = CpuMode.Long64;
  cpu.cpl = 0;
  cpu.halted = false;
  cpu.waitForSipi = false;
  cpu.interruptShadow = false;
}

/** Application processors wait in the reset state for INIT/SIPI; the kernel writes their trampoline. */
export function setupApplicationProcessor(cpu: CpuState): void {
  cpu.waitForSipi = true;
  cpu.halted = false;
  // IA32_APIC_BASE: APIC enabled at its default base, BSP flag (bit 8) clear (SDM Vol. 3A §10.4.4).
  cpu.apicBase = 0xfee00800n;
}
