// Test fixtures for the system side of the CPU (MMU, exceptions, segments, system instructions)
// that do not depend on the CPU core: a RAM-only bus, and a minimal SystemCpu whose flags are not
// lazy. Page-table and descriptor builders for setting up a machine state by hand.

import type { CpuBus, GuestClock, InterruptController } from '../bus.js';
import type { Insn } from '../insn.js';
import { CpuMode, CpuState, Cr0, Efer, Flag, Seg } from '../state.js';
import { Mmu, raiseFault } from '../mmu.js';
import { Cpu } from '../cpu.js';
import type { SystemCpu } from '../segments.js';
import type { CpuidConfig } from '../cpuid.js';

const TWO32 = 4294967296;

/** A bus with RAM only (identity-mapped from 0) and recorded port/MMIO traffic. */
export class RamBus implements CpuBus {
  readonly ram: Uint8Array;
  readonly view: DataView;
  readonly pioLog: { port: number; size: number; value: number; write: boolean }[] = [];
  pioValue = 0xffffffff;
  readonly mmioLog: { pa: number; size: number; value: number; write: boolean }[] = [];
  /** `ram`: RAM to use (e.g. a wasm tier's), else a new array of sizeBytes. */
  constructor(sizeBytes: number, ram?: Uint8Array) {
    this.ram = ram ?? new Uint8Array(sizeBytes);
    this.view = new DataView(this.ram.buffer, this.ram.byteOffset, this.ram.byteLength);
  }
  ramOffset(pa: number): number { return pa >= 0 && pa < this.ram.length ? pa : -1; }
  mmioRead(pa: number, size: 1 | 2 | 4): number {
    this.mmioLog.push({ pa, size, value: 0, write: false });
    return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  }
  mmioWrite(pa: number, size: 1 | 2 | 4, value: number): void { this.mmioLog.push({ pa, size, value, write: true }); }
  pioRead(port: number, size: 1 | 2 | 4): number {
    this.pioLog.push({ port, size, value: 0, write: false });
    return size === 4 ? this.pioValue >>> 0 : size === 2 ? this.pioValue & 0xffff : this.pioValue & 0xff;
  }
  pioWrite(port: number, size: 1 | 2 | 4, value: number): void { this.pioLog.push({ port, size, value, write: true }); }

  r32(pa: number): number { return this.view.getUint32(pa, true); }
  w32(pa: number, v: number): void { this.view.setUint32(pa, v >>> 0, true); }
  /** Writes a 64-bit entry given as (lo, hi). */
  w64(pa: number, lo: number, hi: number): void { this.w32(pa, lo); this.w32(pa + 4, hi); }
  r64(pa: number): bigint { return this.view.getBigUint64(pa, true); }
}

export class FakeIrq implements InterruptController {
  tpr = 0;
  readonly msrs = new Map<number, bigint>();
  hasInterrupt(): boolean { return false; }
  acknowledge(): number { return -1; }
  takeNmi(): boolean { return false; }
  takeStartup(): number { return -1; }
  setTpr(cr8: number): void { this.tpr = cr8; }
  getTpr(): number { return this.tpr; }
  readMsr(msr: number): bigint | undefined { return msr === 0x6e0 || (msr >= 0x800 && msr <= 0x8ff) ? this.msrs.get(msr) ?? 0n : undefined; }
  writeMsr(msr: number, value: bigint): boolean {
    if (msr !== 0x6e0 && !(msr >= 0x800 && msr <= 0x8ff)) return false;
    this.msrs.set(msr, value);
    return true;
  }
}

export class FakeClock implements GuestClock {
  ns = 0;
  readonly tscHz = 2_000_000_000;
  nowNs(): number { return this.ns; }
}

/** A SystemCpu with eager flags (all of RFLAGS in flagsRest) over the real Mmu. */
export class TestCpu extends CpuState implements SystemCpu {
  hi = 0;
  readonly bus: RamBus;
  readonly irq: FakeIrq;
  readonly clock: FakeClock;
  mem: Mmu;
  cpuidConfig?: CpuidConfig;
  flushes = 0;

  constructor(bus: RamBus, cpuIndex = 0) {
    super(cpuIndex);
    this.bus = bus;
    this.irq = new FakeIrq();
    this.clock = new FakeClock();
    this.mem = new Mmu(this, bus);
    this.updateMode();
  }

  // Register access is the real vCPU's: its methods only touch `gpr` and `hi`, which we have too,
  // so borrowing them unbound is intended.
  /* eslint-disable @typescript-eslint/unbound-method */
  readonly getReg: Cpu['getReg'] = Cpu.prototype.getReg;
  readonly setReg: Cpu['setReg'] = Cpu.prototype.setReg;
  readonly getReg64: Cpu['getReg64'] = Cpu.prototype.getReg64;
  readonly setReg64: Cpu['setReg64'] = Cpu.prototype.setReg64;
  /* eslint-enable @typescript-eslint/unbound-method */

  /** Tests set `eaValue` for the memory operand (already linear). */
  eaValue = 0;
  ea(_i: Insn): number { return this.eaValue; }
  readRm(i: Insn, size: 1 | 2 | 4): number {
    if (!i.hasMem) return this.getReg(size, i.rm, i.rex);
    return size === 4 ? this.read32(this.eaValue) : size === 2 ? this.read16(this.eaValue) : this.read8(this.eaValue);
  }
  writeRm(i: Insn, size: 1 | 2 | 4, value: number): void {
    if (!i.hasMem) { this.setReg(size, i.rm, value, i.rex); return; }
    if (size === 4) this.write32(this.eaValue, value); else if (size === 2) this.write16(this.eaValue, value); else this.write8(this.eaValue, value);
  }
  readRm64(i: Insn): number { if (!i.hasMem) return this.getReg64(i.rm); return this.read64(this.eaValue); }
  writeRm64(i: Insn, lo: number, hi: number): void { if (!i.hasMem) this.setReg64(i.rm, lo, hi); else this.write64(this.eaValue, lo, hi); }

  read8(lin: number): number { return this.mem.read8(lin); }
  read16(lin: number): number { return this.mem.read16(lin); }
  read32(lin: number): number { return this.mem.read32(lin); }
  read64(lin: number): number { const lo = this.mem.read64(lin); this.hi = this.mem.hi; return lo; }
  write8(lin: number, v: number): void { this.mem.write8(lin, v); }
  write16(lin: number, v: number): void { this.mem.write16(lin, v); }
  write32(lin: number, v: number): void { this.mem.write32(lin, v); }
  write64(lin: number, lo: number, hi: number): void { this.mem.write64(lin, lo, hi); }
  readSystem32(lin: number): number { return this.mem.readSystem32(lin); }
  readSystem64(lin: number): number { const lo = this.mem.readSystem64(lin); this.hi = this.mem.hi; return lo; }
  writeSystem32(lin: number, v: number): void { this.mem.writeSystem32(lin, v); }

  private stackSize(): 2 | 4 | 8 {
    return this.mode === CpuMode.Long64 ? 8 : (this.seg[Seg.SS]!.attr & 0x4000) !== 0 ? 4 : 2;
  }
  private rsp(): number { return (this.gpr[9]! | 0) * TWO32 + this.gpr[8]!; }
  private setRsp(v: number): void {
    const ss = this.stackSize();
    if (ss === 8) { this.gpr[8] = v >>> 0; this.gpr[9] = Math.floor(v / TWO32) >>> 0; }
    else if (ss === 4) this.gpr[8] = v >>> 0;
    else this.gpr[8] = (this.gpr[8]! & 0xffff0000) | (v & 0xffff);
  }
  private stackLin(v: number): number {
    const ss = this.stackSize();
    if (ss === 8) return v;
    return (this.seg[Seg.SS]!.base + (ss === 4 ? v >>> 0 : v & 0xffff)) >>> 0;
  }
  push(size: 2 | 4 | 8, lo: number, hi: number): void {
    const sp = this.rsp() - size;
    const lin = this.stackLin(sp);
    if (size === 8) this.write64(lin, lo, hi); else if (size === 4) this.write32(lin, lo); else this.write16(lin, lo);
    this.setRsp(sp);
  }
  pop(size: 2 | 4 | 8): number {
    const lin = this.stackLin(this.rsp());
    const v = size === 8 ? this.read64(lin) : size === 4 ? this.read32(lin) : this.read16(lin);
    this.setRsp(this.rsp() + size);
    return v;
  }

  getRflags(): number { return this.flagsRest | 2; }
  setRflags(value: number, mask: number): void {
    const before = this.flagsRest;
    this.flagsRest = ((before & ~mask) | (value & mask) | 2) >>> 0;
    if (((before ^ this.flagsRest) & Flag.VM) !== 0) this.updateMode();
  }
  getCF(): boolean { return (this.flagsRest & 1) !== 0; }

  fault(vector: number, errorCode?: number): never { raiseFault(vector, errorCode ?? -1); }
  jump(target: number): void { this.rip = target; }
  updateMode(): void {
    const cs = this.seg[Seg.CS]!;
    let mode: CpuMode;
    if ((this.cr0 & Cr0.PE) === 0) mode = CpuMode.Real;
    else if ((this.flagsRest & Flag.VM) !== 0) mode = CpuMode.Virtual8086;
    else if ((this.efer & Efer.LMA) !== 0) mode = (cs.attr & 0x2000) !== 0 ? CpuMode.Long64 : (cs.attr & 0x4000) !== 0 ? CpuMode.Compat32 : CpuMode.Compat16;
    else mode = (cs.attr & 0x4000) !== 0 ? CpuMode.Protected32 : CpuMode.Protected16;
    this.mode = mode;
    this.cpl = mode === CpuMode.Real ? 0 : mode === CpuMode.Virtual8086 ? 3 : cs.selector & 3;
  }
  flushTlb(all: boolean): void { this.flushes++; this.mem.flushTlb(all); }
  invlpg(lin: number): void { this.mem.invlpg(lin); }
}

// ---- Builders ----

/** A GDT descriptor (lo, hi) for a code/data segment. attr in SegmentCache layout. */
export function segDescriptor(base: number, limit: number, attr: number): [number, number] {
  const g = (attr & 0x8000) !== 0;
  const raw = g ? limit >>> 12 : limit;
  const lo = ((base & 0xffff) << 16) | (raw & 0xffff);
  const hi = ((base >>> 16) & 0xff) | ((attr & 0xf0ff) << 8) | (raw & 0xf0000) | (base & 0xff000000);
  return [lo >>> 0, hi >>> 0];
}

export const GDT_BASE = 0x1000;
export const IDT_BASE = 0x2000;
export const TSS_BASE = 0x3000;
/** Selectors of standardGdt(). */
export const SEL = { CODE64: 0x08, DATA0: 0x10, CODE32: 0x18, UCODE32: 0x20 | 3, UDATA: 0x28 | 3, UCODE64: 0x30 | 3, TSS: 0x40, CODE16: 0x50, DATA16: 0x58 };

/** Writes a GDT like Linux's: kernel 64-bit code, data, 32-bit code, user code/data, TSS (16 bytes). */
export function standardGdt(bus: RamBus, cpu: CpuState): void {
  const put = (sel: number, d: [number, number]): void => bus.w64(GDT_BASE + (sel & ~7), d[0], d[1]);
  put(SEL.CODE64, segDescriptor(0, 0xfffff000 | 0xfff, 0xa09b));
  put(SEL.DATA0, segDescriptor(0, 0xffffffff, 0xc093));
  put(SEL.CODE32, segDescriptor(0, 0xffffffff, 0xc09b));
  put(SEL.UCODE32, segDescriptor(0, 0xffffffff, 0xc0fb));
  put(SEL.UDATA, segDescriptor(0, 0xffffffff, 0xc0f3));
  put(SEL.UCODE64, segDescriptor(0, 0xffffffff, 0xa0fb));
  // 64-bit TSS: type 9, limit 0x67 (plus an I/O bitmap of 8 KiB + 1).
  put(SEL.TSS, segDescriptor(TSS_BASE, 0x67 + 0x2001, 0x89));
  bus.w64(GDT_BASE + SEL.TSS + 8, 0, 0);
  put(SEL.CODE16, segDescriptor(0, 0xffff, 0x9b));
  put(SEL.DATA16, segDescriptor(0, 0xffff, 0x93));
  cpu.gdtr = { base: GDT_BASE, limit: 0x5f };
}

/** Writes a 64-bit IDT gate. */
export function idtGate64(bus: RamBus, vector: number, selector: number, offset: number, type: number, dpl: number, ist = 0): void {
  const lo = offset >>> 0;
  const hi = Math.floor(offset / TWO32) >>> 0;
  const e = IDT_BASE + vector * 16;
  bus.w32(e, (selector << 16) | (lo & 0xffff));
  bus.w32(e + 4, (lo & 0xffff0000) | 0x8000 | (dpl << 13) | (type << 8) | ist);
  bus.w32(e + 8, hi);
  bus.w32(e + 12, 0);
}

/** Writes a 32-bit IDT gate. */
export function idtGate32(bus: RamBus, vector: number, selector: number, offset: number, type: number, dpl: number): void {
  const e = IDT_BASE + vector * 8;
  bus.w32(e, (selector << 16) | (offset & 0xffff));
  bus.w32(e + 4, (offset & 0xffff0000) | 0x8000 | (dpl << 13) | (type << 8));
}

/** Loads a flat segment into the cache from standardGdt's descriptor. */
export function setSeg(cpu: CpuState, seg: Seg, selector: number, attr: number, limit = 0xffffffff): void {
  const s = cpu.seg[seg]!;
  s.selector = selector; s.base = 0; s.limit = limit; s.attr = attr;
}

/** Long mode at CPL 0 with paging on; page tables built by the test. */
export function enterLong64(cpu: CpuState & { updateMode(): void; flushTlb(all: boolean): void }, cr3: number): void {
  cpu.cr4 = 0x20 | 0x80; // PAE, PGE
  cpu.efer = Efer.LME | Efer.LMA | Efer.NXE | Efer.SCE;
  cpu.cr3 = cr3;
  cpu.cr0 = (Cr0.PE | Cr0.PG | Cr0.WP | Cr0.ET) >>> 0;
  setSeg(cpu, Seg.CS, SEL.CODE64, 0xa09b);
  setSeg(cpu, Seg.SS, SEL.DATA0, 0xc093);
  setSeg(cpu, Seg.DS, 0, 0);
  setSeg(cpu, Seg.ES, 0, 0);
  cpu.updateMode();
  cpu.flushTlb(true);
}

/** Identity-maps the first `mib` MiB with 2 MiB pages in 4-level paging; returns CR3. */
export function identityMap4Level(bus: RamBus, pml4: number, mib: number, flags = 0x7): number {
  const pdpt = pml4 + 0x1000;
  const pd = pml4 + 0x2000;
  bus.w64(pml4, pdpt | flags, 0);
  bus.w64(pdpt, pd | flags, 0);
  for (let k = 0; k < mib / 2; k++) bus.w64(pd + k * 8, (k * 0x200000) | 0x80 | flags, 0);
  return pml4;
}
