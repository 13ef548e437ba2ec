// Linear-address memory access for the soft CPU: paging (SDM Vol. 3A ch. 4), a software TLB, and
// the physical access path (RAM fast path or MMIO through the CpuBus).
//
// Paging modes (SDM Vol. 3A §4.1.1): none (CR0.PG = 0), 32-bit (with CR4.PSE 4 MiB pages), PAE
// (CR4.PAE, EFER.LMA = 0) and 4-level (EFER.LMA = 1; 4 KiB, 2 MiB and 1 GiB pages).
//
// The TLB is direct-mapped on the linear page number, with two halves: supervisor and user
// (CPL 3) accesses, so one compare decides permission. Each slot caches one 4 KiB page (large
// pages are cached piecewise) and has three tags, one per access kind (read, write, execute); a
// tag equals the page's linear base when that access is allowed with no further work, so:
// - a write through a page whose dirty bit is clear misses and walks again to set D (§4.8);
// - MMIO pages are never cached (every access walks; they are rare compared to RAM);
// - a non-canonical address can never match (tags are canonical page bases), so the canonical
//   check (§3.3.7.1) costs nothing on the hit path.
// The hit path is: slot index, one Float64Array compare, one DataView access.

import { CpuFault, Vector, PfErr } from './fault.js';
import type { CpuBus } from './bus.js';
import type { CpuState } from './state.js';
import { Cr0, Cr4, Efer } from './state.js';
import type { LinearMemory, TlbArrays } from './linear-memory.js';
import { PCI_HOLE_END, PCI_HOLE_START } from '../arch/x86/layout.js';

export const TLB_BITS = 12;
export const TLB_SIZE = 1 << TLB_BITS;
const TLB_MASK = TLB_SIZE - 1;
const INVALID = -1; // never a page base (page bases are multiples of 4096)
const TWO32 = 4294967296;
/** Canonical linear addresses are within [-2^47, 2^47) in the number form of state.ts. */
const CANON_LIMIT = 0x800000000000;

/** Arrays for the TLB's hit path supplied by the caller (the WebAssembly tier's slab). */
export interface TlbStorage {
  tagR: Float64Array; tagW: Float64Array; addend: Float64Array; ppn: Int32Array;
  /**
   * The WebAssembly tier's TLB (wasm/arena.ts SlabOffset.WTLB): per slot, the i64 page base with
   * bit 0 set when not writable or holding code (-1: none) as two i32, the addend modulo 2^32, the PPN.
   */
  wasmTlb?: Int32Array;
}

export const enum Access { Read = 0, Write = 1, Exec = 2 }

/**
 * The TLB slot of a linear address (without the user half's offset): page-number bits 0-11
 * folded with bits 12-19, so that pages at the same offset in different 16 MiB-aligned areas (a
 * process's heap and its stack, both often 2 MiB-aligned) do not evict each other: a direct-
 * mapped TLB indexed by the low bits alone thrashed on busybox sha256sum's buffer and stack.
 * Generated code computes the same (jit/templates.ts, wasm/translate.ts). Two consecutive pages
 * never share a slot, which the wasm tier's page-crossing check relies on (translate.ts
 * tlbEntry): within a 16 MiB area the slot is the low 12 bits XOR one 8-bit value; across a
 * 16 MiB boundary (low bits 0xfff then 0, the high byte h then h + 1) 0xfff ^ h = h + 1 would
 * need h = 0x7ff, which is more than 8 bits.
 */
export function tlbSlot(lin: number): number {
  return pageSlot(lin >>> 12);
}

/** tlbSlot of the page with linear page number `p` (bits 12-31 of the address). */
function pageSlot(p: number): number {
  return (p ^ (p >>> 12)) & TLB_MASK;
}

/** Paging-structure entry bits (SDM Vol. 3A Tables 4-4..4-20). */
const enum Pte { P = 1, RW = 2, US = 4, A = 0x20, D = 0x40, PS = 0x80, G = 0x100 }
/** Bit 63 (XD) as seen in the high half. */
const PTE_HI_XD = 0x80000000;
/**
 * MAXPHYADDR is 40 (CPUID 0x80000008, cpuid.ts): bits 51:40 of entries are reserved, i.e. bits
 * 19:8 of the high half (SDM Vol. 3A §4.4.2, §4.5.4).
 */
const PTE_HI_RSVD = 0x000fff00;

const SLOT_GLOBAL = 1;
/** The slot is in `listed` (flushTlb(false) visits it). */
const SLOT_LISTED = 2;

export class Mmu implements LinearMemory {
  /** High 32 bits of the last read64 / readSystem64. */
  hi = 0;
  /**
   * Self-modifying code detection: one byte per 4 KiB physical page (index pa >>> 12) up to the
   * highest RAM address; non-zero when the block cache holds code from that page.
   */
  codePages: Uint8Array;
  onCodeWrite: (pagePa: number) => void = () => {};

  private state: CpuState;
  private readonly bus: CpuBus;
  private readonly ram: Uint8Array;
  private readonly view: DataView;

  // TLB: slot = tlbSlot(linear address) + (user ? TLB_SIZE : 0).
  // tagR, tagW, addend and ppn are the WebAssembly tier's when it runs (views of the vCPU's slab).
  private readonly tagR: Float64Array;
  private readonly tagW: Float64Array;
  private readonly tagX = new Float64Array(2 * TLB_SIZE).fill(INVALID);
  /** RAM index = linear address + addend. */
  private readonly addend: Float64Array;
  /** The wasm tier's TLB (TlbStorage.wasmTlb), when it runs. */
  private readonly wasmTlb: Int32Array | null;
  /** Physical page number (pa / 4096, < 2^28 with MAXPHYADDR 40) of the slot's page, for codePages and translateCode. */
  private readonly ppn: Int32Array;
  private readonly slotFlags = new Uint8Array(2 * TLB_SIZE);
  private globalCount = 0;
  /** Slots filled with a non-global page since the last flush (each once: SLOT_LISTED). */
  private readonly listed = new Int32Array(2 * TLB_SIZE);
  private listedCount = 0;
  /** Some slot holds a piece of a 1 GiB page since the last full flush. */
  private hugeCached = false;
  /**
   * 4 MiB-aligned linear regions (lin / 2^22) with TLB slots filled from a 2 or 4 MiB page since
   * the last full flush: INVLPG in such a region drops all of the region's slots.
   */
  private readonly largeRegions = new Set<number>();
  /**
   * 4 MiB-aligned linear regions (lin / 2^22) code was translated in since the last full flush,
   * through non-global and through global pages (supersets: INVLPG removes nothing).
   */
  private readonly codeRegions = new Set<number>();
  private readonly globalCodeRegions = new Set<number>();
  /** The last region * 2 + global added (most lookups stay in one region). */
  private lastCodeKey = NaN;

  /** Statistics for tests and benchmarks. */
  walks = 0;
  /** The hit path for generated code (LinearMemory.tlb): these arrays themselves. */
  readonly tlb: TlbArrays;

  constructor(state: CpuState, bus: CpuBus, storage?: TlbStorage) {
    this.tagR = (storage?.tagR ?? new Float64Array(2 * TLB_SIZE)).fill(INVALID);
    this.tagW = (storage?.tagW ?? new Float64Array(2 * TLB_SIZE)).fill(INVALID);
    this.addend = storage?.addend ?? new Float64Array(2 * TLB_SIZE);
    this.ppn = storage?.ppn ?? new Int32Array(2 * TLB_SIZE);
    this.wasmTlb = storage?.wasmTlb?.fill(-1) ?? null;
    this.state = state;
    this.bus = bus;
    this.ram = bus.ram;
    this.view = new DataView(bus.ram.buffer, bus.ram.byteOffset, bus.ram.byteLength);
    this.codePages = new Uint8Array(Math.ceil(highestRamEnd(bus) / 4096));
    this.tlb = { tagR: this.tagR, tagW: this.tagW, addend: this.addend, ppn: this.ppn, view: this.view };
  }

  /**
   * Points the MMU at the vCPU whose CR0/CR3/CR4/EFER/CPL it follows, for an Mmu built before its
   * Cpu (cpu.ts normally builds its own: `new Mmu(this, bus)`).
   */
  bindState(state: CpuState): void {
    this.state = state;
    this.flushTlb(true);
  }

  // ---- Hit paths (data accesses at the current privilege level) ----

  read8(lin: number): number {
    const slot = tlbSlot(lin) | (this.state.cpl === 3 ? TLB_SIZE : 0);
    if (this.tagR[slot] === lin - (lin & 0xfff)) return this.ram[lin + this.addend[slot]!]!;
    return this.readSlow(lin, 1, this.state.cpl === 3);
  }

  read16(lin: number): number {
    const slot = tlbSlot(lin) | (this.state.cpl === 3 ? TLB_SIZE : 0);
    if ((lin & 0xfff) <= 0xffe && this.tagR[slot] === lin - (lin & 0xfff)) {
      return this.view.getUint16(lin + this.addend[slot]!, true);
    }
    return this.readSlow(lin, 2, this.state.cpl === 3);
  }

  read32(lin: number): number {
    const slot = tlbSlot(lin) | (this.state.cpl === 3 ? TLB_SIZE : 0);
    if ((lin & 0xfff) <= 0xffc && this.tagR[slot] === lin - (lin & 0xfff)) {
      return this.view.getUint32(lin + this.addend[slot]!, true);
    }
    return this.readSlow(lin, 4, this.state.cpl === 3);
  }

  read64(lin: number): number {
    const slot = tlbSlot(lin) | (this.state.cpl === 3 ? TLB_SIZE : 0);
    if ((lin & 0xfff) <= 0xff8 && this.tagR[slot] === lin - (lin & 0xfff)) {
      const off = lin + this.addend[slot]!;
      this.hi = this.view.getUint32(off + 4, true);
      return this.view.getUint32(off, true);
    }
    return this.read64Slow(lin, this.state.cpl === 3);
  }

  write8(lin: number, value: number): void {
    const slot = tlbSlot(lin) | (this.state.cpl === 3 ? TLB_SIZE : 0);
    if (this.tagW[slot] === lin - (lin & 0xfff)) {
      this.ram[lin + this.addend[slot]!] = value;
      if (this.codePages[this.ppn[slot]!] !== 0) this.onCodeWrite(this.ppn[slot]! * 4096);
      return;
    }
    this.writeSlow(lin, 1, value, 0, this.state.cpl === 3);
  }

  write16(lin: number, value: number): void {
    const slot = tlbSlot(lin) | (this.state.cpl === 3 ? TLB_SIZE : 0);
    if ((lin & 0xfff) <= 0xffe && this.tagW[slot] === lin - (lin & 0xfff)) {
      this.view.setUint16(lin + this.addend[slot]!, value, true);
      if (this.codePages[this.ppn[slot]!] !== 0) this.onCodeWrite(this.ppn[slot]! * 4096);
      return;
    }
    this.writeSlow(lin, 2, value, 0, this.state.cpl === 3);
  }

  write32(lin: number, value: number): void {
    const slot = tlbSlot(lin) | (this.state.cpl === 3 ? TLB_SIZE : 0);
    if ((lin & 0xfff) <= 0xffc && this.tagW[slot] === lin - (lin & 0xfff)) {
      this.view.setUint32(lin + this.addend[slot]!, value, true);
      if (this.codePages[this.ppn[slot]!] !== 0) this.onCodeWrite(this.ppn[slot]! * 4096);
      return;
    }
    this.writeSlow(lin, 4, value, 0, this.state.cpl === 3);
  }

  write64(lin: number, lo: number, hi: number): void {
    const slot = tlbSlot(lin) | (this.state.cpl === 3 ? TLB_SIZE : 0);
    if ((lin & 0xfff) <= 0xff8 && this.tagW[slot] === lin - (lin & 0xfff)) {
      const off = lin + this.addend[slot]!;
      this.view.setUint32(off, lo, true);
      this.view.setUint32(off + 4, hi, true);
      if (this.codePages[this.ppn[slot]!] !== 0) this.onCodeWrite(this.ppn[slot]! * 4096);
      return;
    }
    this.writeSlow(lin, 8, lo, hi, this.state.cpl === 3);
  }

  // ---- Stack accesses: a non-canonical stack address raises #SS(0), not #GP(0) (§6.14.3) ----

  readStack16(lin: number): number { if (!isCanonical(lin)) raiseFault(Vector.SS, 0); return this.read16(lin); }
  readStack32(lin: number): number { if (!isCanonical(lin)) raiseFault(Vector.SS, 0); return this.read32(lin); }
  readStack64(lin: number): number { if (!isCanonical(lin)) raiseFault(Vector.SS, 0); return this.read64(lin); }
  writeStack16(lin: number, v: number): void { if (!isCanonical(lin)) raiseFault(Vector.SS, 0); this.write16(lin, v); }
  writeStack32(lin: number, v: number): void { if (!isCanonical(lin)) raiseFault(Vector.SS, 0); this.write32(lin, v); }
  writeStack64(lin: number, lo: number, hi: number): void { if (!isCanonical(lin)) raiseFault(Vector.SS, 0); this.write64(lin, lo, hi); }

  // ---- Instruction fetch ----

  fetchCode8(lin: number): number {
    const slot = tlbSlot(lin) | (this.state.cpl === 3 ? TLB_SIZE : 0);
    if (this.tagX[slot] === lin - (lin & 0xfff)) return this.ram[lin + this.addend[slot]!]!;
    const pa = this.translate(lin, Access.Exec, this.state.cpl === 3);
    return this.physRead(pa, 1);
  }

  /** Physical address of code at `lin` (execute permission at the current CPL); throws #PF. */
  translateCode(lin: number): number {
    const slot = tlbSlot(lin) | (this.state.cpl === 3 ? TLB_SIZE : 0);
    const pa = this.tagX[slot] === lin - (lin & 0xfff) ? this.ppn[slot]! * 4096 + (lin & 0xfff) : this.translate(lin, Access.Exec, this.state.cpl === 3);
    // The slot holds this translation now (translate filled it).
    const key = Math.floor(lin / 0x400000) * 2 + ((this.slotFlags[slot]! & SLOT_GLOBAL) !== 0 ? 1 : 0);
    if (key !== this.lastCodeKey) {
      this.lastCodeKey = key;
      if ((key & 1) !== 0) this.globalCodeRegions.add((key - 1) / 2); else this.codeRegions.add(key / 2);
    }
    return pa;
  }

  /** True when the TLB holds `lin`'s code translation (current CPL) from a global page. */
  codeIsGlobal(lin: number): boolean {
    const slot = tlbSlot(lin) | (this.state.cpl === 3 ? TLB_SIZE : 0);
    return this.tagX[slot] === lin - (lin & 0xfff) && (this.slotFlags[slot]! & SLOT_GLOBAL) !== 0;
  }

  // ---- Supervisor accesses regardless of CPL (descriptor tables, IDT, TSS; SDM §6.12.1) ----

  readSystem8(lin: number): number { return this.readAs(lin, 1, false); }
  readSystem16(lin: number): number { return this.readAs(lin, 2, false); }
  readSystem32(lin: number): number { return this.readAs(lin, 4, false); }
  readSystem64(lin: number): number { return this.readAs(lin, 8, false); }
  writeSystem8(lin: number, value: number): void { this.writeAs(lin, 1, value, 0, false); }
  writeSystem16(lin: number, value: number): void { this.writeAs(lin, 2, value, 0, false); }
  writeSystem32(lin: number, value: number): void { this.writeAs(lin, 4, value, 0, false); }
  writeSystem64(lin: number, lo: number, hi: number): void { this.writeAs(lin, 8, lo, hi, false); }

  /**
   * LinearMemory.translateData (bulk REP MOVS/STOS): the TLB first, a page walk on a miss. A
   * string copy into the same page would otherwise walk the page tables once per instruction.
   */
  translateData(lin: number, write: boolean): number {
    const user = this.state.cpl === 3;
    const slot = tlbSlot(lin) | (user ? TLB_SIZE : 0);
    const base = lin - (lin & 0xfff);
    if ((write ? this.tagW[slot] : this.tagR[slot]) === base) return this.ppn[slot]! * 4096 + (lin - base);
    return this.translate(lin, write ? Access.Write : Access.Read, user);
  }

  /**
   * Access with an explicit privilege (user = CPL 3 rules). Used by interrupt delivery and far
   * transfers, which write the new stack at the new privilege level. size 8: high half in `hi`.
   */
  readAs(lin: number, size: 1 | 2 | 4 | 8, user: boolean): number {
    const slot = tlbSlot(lin) | (user ? TLB_SIZE : 0);
    if ((lin & 0xfff) <= 0x1000 - size && this.tagR[slot] === lin - (lin & 0xfff)) {
      const off = lin + this.addend[slot]!;
      switch (size) {
        case 1: return this.ram[off]!;
        case 2: return this.view.getUint16(off, true);
        case 4: return this.view.getUint32(off, true);
        default: this.hi = this.view.getUint32(off + 4, true); return this.view.getUint32(off, true);
      }
    }
    return size === 8 ? this.read64Slow(lin, user) : this.readSlow(lin, size, user);
  }

  writeAs(lin: number, size: 1 | 2 | 4 | 8, lo: number, hi: number, user: boolean): void {
    const slot = tlbSlot(lin) | (user ? TLB_SIZE : 0);
    if ((lin & 0xfff) <= 0x1000 - size && this.tagW[slot] === lin - (lin & 0xfff)) {
      const off = lin + this.addend[slot]!;
      switch (size) {
        case 1: this.ram[off] = lo; break;
        case 2: this.view.setUint16(off, lo, true); break;
        case 4: this.view.setUint32(off, lo, true); break;
        default: this.view.setUint32(off, lo, true); this.view.setUint32(off + 4, hi, true);
      }
      if (this.codePages[this.ppn[slot]!] !== 0) this.onCodeWrite(this.ppn[slot]! * 4096);
      return;
    }
    this.writeSlow(lin, size, lo, hi, user);
  }

  // ---- TLB maintenance ----

  /**
   * Which code translations INVLPG of `lin` may change, of those used since the last full flush
   * (by 4 MiB-aligned region; a cached 1 GiB page: any): 'global' when global pages' code came
   * from its region, 'local' when only non-global pages' code did, 'none' otherwise. The CPU
   * keeps its links between blocks accordingly (Cpu.invlpg): most of the kernel's INVLPGs are of
   * data pages (vfree, kmap, munmap), and each used to send every block through the run loop.
   */
  invlpgCodeScope(lin: number): 'none' | 'local' | 'global' {
    const region = Math.floor(lin / 0x400000);
    if (this.hugeCached || this.globalCodeRegions.has(region)) return 'global';
    return this.codeRegions.has(region) ? 'local' : 'none';
  }

  /** Flushes the TLB; all = also global pages (CR4 writes, CR0.PG), else CR3 reload semantics. */
  flushTlb(all: boolean): void {
    if (all) { this.codeRegions.clear(); this.globalCodeRegions.clear(); this.lastCodeKey = NaN; }
    if (all || this.globalCount === 0) {
      this.tagR.fill(INVALID); this.tagW.fill(INVALID); this.tagX.fill(INVALID);
      this.wasmTlb?.fill(-1);
      this.slotFlags.fill(0);
      this.listedCount = 0;
      this.globalCount = 0;
      this.hugeCached = false;
      this.largeRegions.clear();
      return;
    }
    // Only the slots filled with non-global pages since the last flush can hold one: a CR3
    // write (a context switch) costs the pages the last process touched, not the whole TLB.
    const f = this.slotFlags;
    const list = this.listed;
    for (let k = 0; k < this.listedCount; k++) {
      const s = list[k]!;
      if ((f[s]! & SLOT_GLOBAL) === 0) this.dropTags(s);
      f[s] = f[s]! & ~SLOT_LISTED;
    }
    this.listedCount = 0;
  }

  /** INVLPG (SDM Vol. 3A §4.10.4.1): drops the page's translation, global or not. */
  invlpg(lin: number): void {
    if (this.hugeCached) { this.flushTlb(true); return; }
    const region = Math.floor(lin / 0x400000);
    if (this.largeRegions.has(region)) {
      // The page may be a piece of a 2 or 4 MiB page whose other pieces sit in the 1024 slots
      // of its 4 MiB-aligned region (the TLB is direct-mapped on the page number): drop them all.
      this.largeRegions.delete(region);
      const first = (lin >>> 12) & ~0x3ff;
      for (let k = 0; k < 1024; k++) this.dropSlot(pageSlot(first + k));
      return;
    }
    this.dropSlot(tlbSlot(lin));
  }

  /**
   * Page `pn` (physical page number) starts or stops holding decoded code (-1: every page
   * stops): the wasm TLB's write tags for it follow, so that a wasm store to a code page misses
   * and the interpreter's write path drops the page's blocks first (what QEMU's TLB_NOTDIRTY
   * does), with no code page lookup in the generated code. Kept for the slots holding the page:
   * an entry the interpreter's TLB still hits is never filled again.
   */
  codePageChanged(pn: number, code: boolean): void {
    const wt = this.wasmTlb;
    if (wt === null) return;
    for (let s = 0; s < 2 * TLB_SIZE; s++) {
      if ((pn >= 0 && wt[4 * s + 3] !== pn) || this.tagR[s] === INVALID) continue;
      if (code) wt[4 * s] = wt[4 * s]! | 1;
      else if (this.tagW[s] !== INVALID) wt[4 * s] = wt[4 * s]! & ~1;
    }
  }

  private dropSlot(s: number): void {
    this.dropOne(s);
    this.dropOne(s | TLB_SIZE);
  }

  private dropTags(slot: number): void {
    this.tagR[slot] = INVALID; this.tagW[slot] = INVALID; this.tagX[slot] = INVALID;
    const w = this.wasmTlb;
    if (w !== null) { w[4 * slot] = -1; w[4 * slot + 1] = -1; }
  }

  private dropOne(slot: number): void {
    this.dropTags(slot);
    if ((this.slotFlags[slot]! & SLOT_GLOBAL) !== 0) { this.slotFlags[slot] = this.slotFlags[slot]! & ~SLOT_GLOBAL; this.globalCount--; }
  }

  // ---- Slow paths ----

  private readSlow(lin: number, size: 1 | 2 | 4, user: boolean): number {
    const inPage = 0x1000 - (lin & 0xfff);
    const pa = this.translate(lin, Access.Read, user);
    if (size <= inPage) return this.physRead(pa, size);
    // Crosses a page: both translations happen before any byte is used (a fault on the second
    // page reports that page's first byte in CR2).
    const pa2 = this.translate(this.nextPage(lin), Access.Read, user);
    let v = 0;
    for (let k = 0; k < size; k++) {
      const b = k < inPage ? this.physRead(pa + k, 1) : this.physRead(pa2 + (k - inPage), 1);
      v |= b << (8 * k);
    }
    return v >>> 0;
  }

  private read64Slow(lin: number, user: boolean): number {
    const inPage = 0x1000 - (lin & 0xfff);
    if (inPage >= 8) {
      const pa = this.translate(lin, Access.Read, user);
      const lo = this.physRead(pa, 4);
      this.hi = this.physRead(pa + 4, 4);
      return lo;
    }
    const pa = this.translate(lin, Access.Read, user);
    const pa2 = this.translate(this.nextPage(lin), Access.Read, user);
    let lo = 0;
    let hi = 0;
    for (let k = 0; k < 8; k++) {
      const b = k < inPage ? this.physRead(pa + k, 1) : this.physRead(pa2 + (k - inPage), 1);
      if (k < 4) lo |= b << (8 * k); else hi |= b << (8 * (k - 4));
    }
    this.hi = hi >>> 0;
    return lo >>> 0;
  }

  private writeSlow(lin: number, size: 1 | 2 | 4 | 8, lo: number, hi: number, user: boolean): void {
    const inPage = 0x1000 - (lin & 0xfff);
    const pa = this.translate(lin, Access.Write, user);
    if (size <= inPage) {
      if (size === 8) { this.physWrite(pa, 4, lo); this.physWrite(pa + 4, 4, hi); }
      else this.physWrite(pa, size, lo);
      this.noteCodeWrite(pa);
      return;
    }
    const pa2 = this.translate(this.nextPage(lin), Access.Write, user);
    for (let k = 0; k < size; k++) {
      const b = k < 4 ? (lo >>> (8 * k)) & 0xff : (hi >>> (8 * (k - 4))) & 0xff;
      if (k < inPage) this.physWrite(pa + k, 1, b); else this.physWrite(pa2 + (k - inPage), 1, b);
    }
    this.noteCodeWrite(pa);
    this.noteCodeWrite(pa2);
  }

  private noteCodeWrite(pa: number): void {
    const page = Math.floor(pa / 4096);
    if ((this.codePages[page] ?? 0) !== 0) this.onCodeWrite(page * 4096);
  }

  private nextPage(lin: number): number {
    const n = lin - (lin & 0xfff) + 0x1000;
    // Outside 64-bit mode linear addresses wrap at 4 GiB.
    return (this.state.efer & Efer.LMA) !== 0 ? n : n >>> 0;
  }

  // ---- Physical access ----

  /** Reads 1, 2 or 4 bytes of guest physical memory (RAM or MMIO). */
  physRead(pa: number, size: 1 | 2 | 4): number {
    const off = this.bus.ramOffset(pa);
    if (off >= 0 && off + size <= this.ram.length) {
      switch (size) {
        case 1: return this.ram[off]!;
        case 2: return this.view.getUint16(off, true);
        default: return this.view.getUint32(off, true);
      }
    }
    return this.bus.mmioRead(pa, size) >>> 0;
  }

  physWrite(pa: number, size: 1 | 2 | 4, value: number): void {
    const off = this.bus.ramOffset(pa);
    if (off >= 0 && off + size <= this.ram.length) {
      switch (size) {
        case 1: this.ram[off] = value; return;
        case 2: this.view.setUint16(off, value, true); return;
        default: this.view.setUint32(off, value, true); return;
      }
    }
    this.bus.mmioWrite(pa, size, value);
  }

  // ---- Translation (page walk) ----

  /**
   * Translates `lin` for an access, filling the TLB; throws #GP(0) for a non-canonical address
   * and #PF (CR2 = lin) per SDM Vol. 3A §4.7. Returns the physical address.
   */
  translate(lin: number, access: Access, user: boolean): number {
    if (!isCanonical(lin)) raiseFault(Vector.GP, 0);
    this.walks++;
    const s = this.state;
    const pageLin = lin - (lin & 0xfff);
    if ((s.cr0 & Cr0.PG) === 0) {
      const pa = lin >>> 0;
      this.fill(pageLin, pa - (pa & 0xfff), user, true, true, false);
      return pa;
    }
    if ((s.cr4 & Cr4.PAE) === 0) return this.walk32(lin, access, user);
    return this.walk64(lin, access, user, (s.efer & Efer.LMA) !== 0);
  }

  /** 32-bit paging (SDM Vol. 3A §4.3). */
  private walk32(lin: number, access: Access, user: boolean): number {
    const s = this.state;
    const l = lin >>> 0;
    const pdeAddr = ((s.cr3 >>> 0) & 0xfffff000) + (l >>> 22) * 4;
    let pde = this.physRead(pdeAddr, 4);
    if ((pde & Pte.P) === 0) this.pageFault(lin, access, user, 0);
    if ((pde & Pte.PS) !== 0 && (s.cr4 & Cr4.PSE) !== 0) {
      // 4 MiB page: bits 20:13 are physical-address bits 39:32 (PSE-36), bit 21 reserved.
      if ((pde & 0x200000) !== 0) this.pageFault(lin, access, user, PfErr.P | PfErr.RSVD);
      const ok = this.checkAccess(lin, access, user, pde, pde, false);
      pde = this.setAD(pdeAddr, pde, access);
      const base = ((pde >>> 13) & 0xff) * TWO32 + ((pde & 0xffc00000) >>> 0);
      const pa = base + (l & 0x3fffff);
      this.largeRegions.add(Math.floor(lin / 0x400000));
      this.fillFromLeaf(lin, pa, user, ok, pde, false);
      return pa;
    }
    if ((pde & Pte.A) === 0) { pde |= Pte.A; this.physWrite(pdeAddr, 4, pde); }
    const pteAddr = ((pde & 0xfffff000) >>> 0) + ((l >>> 12) & 0x3ff) * 4;
    let pte = this.physRead(pteAddr, 4);
    if ((pte & Pte.P) === 0) this.pageFault(lin, access, user, 0);
    const ok = this.checkAccess(lin, access, user, pde & pte, pte, false);
    pte = this.setAD(pteAddr, pte, access);
    const pa = ((pte & 0xfffff000) >>> 0) + (l & 0xfff);
    this.fillFromLeaf(lin, pa, user, ok, pte, false);
    return pa;
  }

  /** PAE paging (§4.4) when !long, 4-level paging (§4.5) when long. */
  private walk64(lin: number, access: Access, user: boolean, long: boolean): number {
    const s = this.state;
    const nxe = (s.efer & Efer.NXE) !== 0;
    const rsvdHi = PTE_HI_RSVD | (nxe ? 0 : PTE_HI_XD);
    const linLo = lin >>> 0;
    const linHi = Math.floor(lin / TWO32) & 0xffff;
    let table: number;
    let level: number;
    let allow = Pte.RW | Pte.US; // AND of R/W and U/S over the levels
    let xd = 0; // OR of XD over the levels
    if (long) {
      table = s.cr3 - (s.cr3 & 0xfff);
      level = 4;
    } else {
      // PAE: the PDPTE (§4.4.1); its R/W, U/S and bits 8:5 are reserved, and so is XD.
      const pdpteAddr = ((s.cr3 >>> 0) & 0xffffffe0) + (linLo >>> 30) * 8;
      const lo = this.physRead(pdpteAddr, 4);
      const hi = this.physRead(pdpteAddr + 4, 4);
      if ((lo & Pte.P) === 0) this.pageFault(lin, access, user, 0);
      if ((lo & 0x1e6) !== 0 || (hi & (PTE_HI_RSVD | PTE_HI_XD)) !== 0) this.pageFault(lin, access, user, PfErr.P | PfErr.RSVD);
      table = (hi & 0xff) * TWO32 + ((lo & 0xfffff000) >>> 0);
      level = 2;
    }
    for (;;) {
      let index: number;
      switch (level) {
        case 4: index = (linHi >>> 7) & 0x1ff; break;
        case 3: index = ((linHi & 0x7f) << 2) | (linLo >>> 30); break;
        case 2: index = (linLo >>> 21) & 0x1ff; break;
        default: index = (linLo >>> 12) & 0x1ff; break;
      }
      const addr = table + index * 8;
      let lo = this.physRead(addr, 4);
      const hi = this.physRead(addr + 4, 4);
      if ((lo & Pte.P) === 0) this.pageFault(lin, access, user, 0);
      if ((hi & rsvdHi) !== 0 || (level === 4 && (lo & Pte.PS) !== 0)) this.pageFault(lin, access, user, PfErr.P | PfErr.RSVD);
      allow &= lo;
      xd |= hi & PTE_HI_XD;
      const leaf = level === 1 || (level <= 3 && (lo & Pte.PS) !== 0);
      if (!leaf) {
        if ((lo & Pte.A) === 0) { lo |= Pte.A; this.physWrite(addr, 4, lo); }
        table = (hi & 0xff) * TWO32 + ((lo & 0xfffff000) >>> 0);
        level--;
        continue;
      }
      let pa: number;
      if (level === 3) {
        // 1 GiB page: bits 29:13 reserved (§4.5.4, Table 4-16).
        if ((lo & 0x3fffe000) !== 0) this.pageFault(lin, access, user, PfErr.P | PfErr.RSVD);
        pa = (hi & 0xff) * TWO32 + ((lo & 0xc0000000) >>> 0) + (linLo & 0x3fffffff);
        this.hugeCached = true;
      } else if (level === 2) {
        // 2 MiB page: bits 20:13 reserved (Table 4-18).
        if ((lo & 0x1fe000) !== 0) this.pageFault(lin, access, user, PfErr.P | PfErr.RSVD);
        pa = (hi & 0xff) * TWO32 + ((lo & 0xffe00000) >>> 0) + (linLo & 0x1fffff);
        this.largeRegions.add(Math.floor(lin / 0x400000));
      } else {
        pa = (hi & 0xff) * TWO32 + ((lo & 0xfffff000) >>> 0) + (linLo & 0xfff);
      }
      const ok = this.checkAccess(lin, access, user, allow, lo, nxe && xd !== 0);
      lo = this.setAD(addr, lo, access);
      this.fillFromLeaf(lin, pa, user, ok, lo, nxe && xd !== 0);
      return pa;
    }
  }

  /**
   * Permission check (SDM Vol. 3A §4.6): U/S and R/W accumulated over the levels in `allow`,
   * CR0.WP for supervisor writes, XD for fetches. Returns whether writes are allowed (for the
   * TLB fill); throws #PF otherwise.
   */
  private checkAccess(lin: number, access: Access, user: boolean, allow: number, _leaf: number, xd: boolean): boolean {
    const canWrite = (allow & Pte.RW) !== 0 || (!user && (this.state.cr0 & Cr0.WP) === 0);
    if (user && (allow & Pte.US) === 0) this.pageFault(lin, access, user, PfErr.P);
    if (access === Access.Write && !canWrite) this.pageFault(lin, access, user, PfErr.P);
    if (access === Access.Exec && xd) this.pageFault(lin, access, user, PfErr.P);
    return canWrite;
  }

  /** Sets A, and D on writes, in the leaf entry (§4.8). Returns the entry's new low half. */
  private setAD(addr: number, lo: number, access: Access): number {
    const want = access === Access.Write ? Pte.A | Pte.D : Pte.A;
    if ((lo & want) !== want) { lo |= want; this.physWrite(addr, 4, lo); }
    return lo;
  }

  private fillFromLeaf(lin: number, pa: number, user: boolean, canWrite: boolean, leafLo: number, xd: boolean): void {
    const global = (leafLo & Pte.G) !== 0 && (this.state.cr4 & Cr4.PGE) !== 0;
    // A write hit must not skip setting D: cache write permission only once D is set.
    const w = canWrite && (leafLo & Pte.D) !== 0;
    this.fill(lin - (lin & 0xfff), pa - (pa & 0xfff), user, w, !xd, global);
  }

  private fill(pageLin: number, pagePa: number, user: boolean, write: boolean, exec: boolean, global: boolean): void {
    const off = this.bus.ramOffset(pagePa);
    if (off < 0 || off + 0x1000 > this.ram.length) return; // MMIO: never cached
    const slot = tlbSlot(pageLin) | (user ? TLB_SIZE : 0);
    this.tagR[slot] = pageLin;
    this.tagW[slot] = write ? pageLin : INVALID;
    this.tagX[slot] = exec ? pageLin : INVALID;
    this.addend[slot] = off - pageLin;
    this.ppn[slot] = pagePa / 4096;
    const wt = this.wasmTlb;
    if (wt !== null) {
      // ToInt32 of the page base and addend: modulo 2^32; the tag's high half from the number.
      // Bit 0: no wasm store, also while the page holds decoded code (codePageChanged).
      wt[4 * slot] = pageLin | (write && (this.codePages[pagePa / 4096] ?? 0) === 0 ? 0 : 1);
      wt[4 * slot + 1] = Math.floor(pageLin / TWO32);
      wt[4 * slot + 2] = off - pageLin;
      wt[4 * slot + 3] = pagePa / 4096;
    }
    const flags = this.slotFlags[slot]!;
    const wasGlobal = (flags & SLOT_GLOBAL) !== 0;
    if (global !== wasGlobal) {
      this.slotFlags[slot] = global ? flags | SLOT_GLOBAL : flags & ~SLOT_GLOBAL;
      this.globalCount += global ? 1 : -1;
    }
    if (!global && (flags & SLOT_LISTED) === 0) {
      this.slotFlags[slot] = this.slotFlags[slot]! | SLOT_LISTED;
      this.listed[this.listedCount++] = slot;
    }
  }

  private pageFault(lin: number, access: Access, user: boolean, bits: number): never {
    const s = this.state;
    let err = bits;
    if (access === Access.Write) err |= PfErr.W;
    if (user) err |= PfErr.U;
    // The I/D bit is reported only when XD can matter: PAE/4-level paging with EFER.NXE (§4.7).
    if (access === Access.Exec && (s.cr4 & Cr4.PAE) !== 0 && (s.efer & Efer.NXE) !== 0) err |= PfErr.I;
    s.cr2 = lin;
    raiseFault(Vector.PF, err);
  }
}

/**
 * Throws a CpuFault. One helper so that the lint exception for throwing a non-Error (CpuFault is
 * deliberately not an Error, fault.ts) lives in one place; returns `never` for narrowing.
 */
export function raiseFault(vector: number, errorCode = -1): never {
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- CpuFault is not an Error (fault.ts)
  throw new CpuFault(vector, errorCode);
}

/** True when `lin` (canonical number form, state.ts) is a canonical 48-bit linear address. */
export function isCanonical(lin: number): boolean {
  return lin < CANON_LIMIT && lin >= -CANON_LIMIT;
}

/** One past the highest guest physical address that is RAM (probing the bus's mapping). */
function highestRamEnd(bus: CpuBus): number {
  const size = bus.ram.length;
  // RAM is either identity-mapped or, past the 32-bit PCI hole, mapped above 4 GiB
  // (arch/x86/layout.ts); find which by asking the bus about the last byte.
  if (size === 0) return 0;
  if (bus.ramOffset(size - 1) === size - 1) return size;
  return size + (PCI_HOLE_END - PCI_HOLE_START);
}
