// Segment registers and descriptor tables (SDM Vol. 3A ch. 3 and §5.8): loading ES/SS/DS/FS/GS
// with their protection checks, CS for far JMP/CALL/RET, LDTR and TR (with the 16-byte system
// descriptors of IA-32e mode, §7.2.3), and the null-selector rules of 64-bit mode.
//
// Everything here works on the `SystemCpu` view of the vCPU: the handler interface of insn.ts
// plus the memory, interrupt controller and clock the Cpu class (cpu.ts) already holds.

import type { Cpu, Insn, OpHandler, OpMap, OpTable } from './insn.js';
import type { GuestClock, InterruptController } from './bus.js';
import type { LinearMemory } from './linear-memory.js';
import type { CpuidConfig } from './cpuid.js';
import { Vector } from './fault.js';
import { raiseFault } from './mmu.js';
import { CpuMode, Efer, Seg, type SegmentCache } from './state.js';

/** What the system-side code needs from a vCPU (cpu.ts's Cpu class satisfies it). */
export interface SystemCpu extends Cpu {
  mem: LinearMemory;
  readonly irq: InterruptController;
  readonly clock: GuestClock;
  /** CPUID identity and features; cpuid.ts's defaults when absent. */
  cpuidConfig?: CpuidConfig;
  /** SYSCALL and SYSRET set it: the run loop links their block to the next (cpu.ts run()). */
  linkAcrossMode?: boolean;
}

/** A handler typed against SystemCpu (system-ops.ts, segment-ops.ts, io-ops.ts). */
export type SystemHandler = (cpu: SystemCpu, i: Insn) => void;

/** Registers a SystemCpu handler for every prefix combination. */
export function setSystemOp(t: OpTable, map: OpMap, op: number, h: SystemHandler): void {
  t.set(map, op, -1, h as unknown as OpHandler);
}

/** Segment attribute bits in SegmentCache.attr (state.ts layout: access byte, then AVL/L/D/G at 12..15). */
export const enum SegAttr {
  ACCESSED = 0x1, RW = 0x2, DC = 0x4, CODE = 0x8, S = 0x10, P = 0x80, AVL = 0x1000, L = 0x2000, DB = 0x4000, G = 0x8000,
}

/** System descriptor types (S = 0), SDM Vol. 3A Table 3-2. */
export const enum SysType {
  TSS16_AVAIL = 1, LDT = 2, TSS16_BUSY = 3, CALL_GATE16 = 4, TASK_GATE = 5, INT_GATE16 = 6, TRAP_GATE16 = 7,
  TSS_AVAIL = 9, TSS_BUSY = 11, CALL_GATE = 12, INT_GATE = 14, TRAP_GATE = 15,
}

/** Raised for protected-mode features the engine leaves out (task switches, call gates). */
export class UnsupportedSystemFeatureError extends Error {
  constructor(what: string) {
    super(`Unsupported system feature: ${what}`);
    this.name = 'UnsupportedSystemFeatureError';
  }
}

const TWO32 = 4294967296;

/** A descriptor as read from the GDT/LDT: its two dwords and linear address. */
export interface RawDescriptor { lo: number; hi: number; addr: number }

export function descBase(lo: number, hi: number): number {
  return ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
}

export function descLimit(lo: number, hi: number): number {
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  return (hi & 0x800000) !== 0 ? ((raw << 12) | 0xfff) >>> 0 : raw;
}

/** Descriptor bits 40..47 and 52..55 in the SegmentCache.attr layout. */
export function descAttr(hi: number): number {
  return (hi >>> 8) & 0xf0ff;
}

export function dplOf(attr: number): number {
  return (attr >> 5) & 3;
}

export function isLongMode(cpu: SystemCpu): boolean {
  return (cpu.efer & Efer.LMA) !== 0;
}

function gp(sel: number): never { raiseFault(Vector.GP, sel & 0xfffc); }

/**
 * Reads the 8-byte descriptor for `selector` from the GDT or LDT; undefined when the selector is
 * beyond the table limit (callers raise #GP(selector) or #TS as their instruction says).
 */
export function readDescriptor(cpu: SystemCpu, selector: number): RawDescriptor | undefined {
  const index = selector & 0xfff8;
  let base: number;
  let limit: number;
  if ((selector & 4) !== 0) {
    if ((cpu.ldtr.attr & SegAttr.P) === 0) return undefined; // null LDT
    base = cpu.ldtr.base; limit = cpu.ldtr.limit;
  } else {
    base = cpu.gdtr.base; limit = cpu.gdtr.limit;
  }
  if (index + 7 > limit) return undefined;
  const addr = isLongMode(cpu) ? base + index : (base + index) >>> 0;
  const lo = cpu.mem.readSystem32(addr);
  const hi = cpu.mem.readSystem32(isLongMode(cpu) ? addr + 4 : (addr + 4) >>> 0);
  return { lo, hi, addr };
}

/** Sets the accessed bit of a code/data descriptor in memory (SDM Vol. 3A §3.4.5.1). */
export function setAccessed(cpu: SystemCpu, d: RawDescriptor): void {
  if ((d.hi & 0x100) !== 0) return;
  d.hi |= 0x100;
  cpu.mem.writeSystem32(isLongMode(cpu) ? d.addr + 4 : (d.addr + 4) >>> 0, d.hi);
}

function fill(s: SegmentCache, selector: number, d: RawDescriptor): void {
  s.selector = selector;
  s.base = descBase(d.lo, d.hi);
  s.limit = descLimit(d.lo, d.hi);
  s.attr = descAttr(d.hi);
}

/** A null data segment: unusable (P = 0), as after loading selector 0 (§3.4.4). */
function loadNull(s: SegmentCache, selector: number): void {
  s.selector = selector;
  s.base = 0;
  s.limit = 0;
  s.attr = 0;
}

/**
 * MOV/POP/LxS to ES, SS, DS, FS or GS (SDM Vol. 2 "MOV—Move" Operation, protected-mode checks).
 * Real mode and virtual-8086 mode just set base = selector * 16.
 */
export function loadSegment(cpu: SystemCpu, seg: Seg, selector: number): void {
  selector &= 0xffff;
  const s = cpu.seg[seg]!;
  if (cpu.mode === CpuMode.Real || cpu.mode === CpuMode.Virtual8086) {
    s.selector = selector;
    s.base = selector << 4;
    if (cpu.mode === CpuMode.Virtual8086) { s.limit = 0xffff; s.attr = 0xf3; }
    return;
  }
  const rpl = selector & 3;
  const cpl = cpu.cpl;
  if ((selector & 0xfffc) === 0) {
    if (seg === Seg.SS) {
      // 64-bit mode allows a null SS at CPL 0..2 with RPL = CPL (§5.8.7 / MOV Operation).
      if (cpu.mode !== CpuMode.Long64 || cpl === 3 || rpl !== cpl) gp(0);
      s.selector = selector; s.base = 0; s.limit = 0xffffffff; s.attr = 0x4093 | (cpl << 5);
      cpu.updateMode();
      return;
    }
    loadNull(s, selector);
    return;
  }
  const d = readDescriptor(cpu, selector);
  if (d === undefined) gp(selector);
  const attr = descAttr(d.hi);
  const dpl = dplOf(attr);
  if (seg === Seg.SS) {
    if (rpl !== cpl || (attr & (SegAttr.S | SegAttr.CODE | SegAttr.RW)) !== (SegAttr.S | SegAttr.RW) || dpl !== cpl) gp(selector);
    if ((attr & SegAttr.P) === 0) raiseFault(Vector.SS, selector & 0xfffc);
  } else {
    const code = (attr & SegAttr.CODE) !== 0;
    if ((attr & SegAttr.S) === 0 || (code && (attr & SegAttr.RW) === 0)) gp(selector);
    const conforming = code && (attr & SegAttr.DC) !== 0;
    if (!conforming && (dpl < cpl || dpl < rpl)) gp(selector);
    if ((attr & SegAttr.P) === 0) raiseFault(Vector.NP, selector & 0xfffc);
  }
  setAccessed(cpu, d);
  fill(s, selector, d);
  if (seg === Seg.SS) cpu.updateMode(); // stack size follows SS.B
}

/**
 * Validates the target code segment of a far JMP/CALL (SDM Vol. 2 "JMP" / "CALL" Operation) and
 * loads CS at the current privilege level. Call gates, task gates and TSS targets raise
 * UnsupportedSystemFeatureError.
 */
export function loadCsForJump(cpu: SystemCpu, selector: number): void {
  selector &= 0xffff;
  const cs = cpu.seg[Seg.CS]!;
  if (cpu.mode === CpuMode.Real || cpu.mode === CpuMode.Virtual8086) {
    cs.selector = selector;
    cs.base = selector << 4;
    return;
  }
  if ((selector & 0xfffc) === 0) gp(0);
  const d = readDescriptor(cpu, selector);
  if (d === undefined) gp(selector);
  const attr = descAttr(d.hi);
  if ((attr & SegAttr.S) === 0) {
    const type = attr & 0xf;
    if (type === SysType.CALL_GATE || type === SysType.CALL_GATE16) throw new UnsupportedSystemFeatureError(`far transfer through call gate ${hex16(selector)}`);
    if (type === SysType.TASK_GATE || type === SysType.TSS_AVAIL || type === SysType.TSS16_AVAIL) throw new UnsupportedSystemFeatureError(`task switch to ${hex16(selector)}`);
    gp(selector);
  }
  checkCodeForTransfer(cpu, selector, attr, cpu.cpl);
  setAccessed(cpu, d);
  fill(cs, (selector & 0xfffc) | cpu.cpl, d);
  cs.attr |= SegAttr.ACCESSED;
  cpu.updateMode();
}

function checkCodeForTransfer(cpu: SystemCpu, selector: number, attr: number, cpl: number): void {
  if ((attr & SegAttr.CODE) === 0) gp(selector);
  const dpl = dplOf(attr);
  if ((attr & SegAttr.DC) !== 0) { if (dpl > cpl) gp(selector); }
  else if ((selector & 3) > cpl || dpl !== cpl) gp(selector);
  if ((attr & SegAttr.P) === 0) raiseFault(Vector.NP, selector & 0xfffc);
  if (isLongMode(cpu) && (attr & SegAttr.L) !== 0 && (attr & SegAttr.DB) !== 0) gp(selector);
}

/**
 * Checks the code segment a far RET or IRET returns to (SDM Vol. 2 "RET" / "IRET" Operation):
 * RPL >= CPL, conforming DPL <= RPL, non-conforming DPL = RPL, present. Returns the descriptor;
 * the new CPL is the selector's RPL. Nothing is loaded yet (the caller pops the rest first).
 */
export function checkReturnCs(cpu: SystemCpu, selector: number): RawDescriptor {
  selector &= 0xffff;
  if ((selector & 0xfffc) === 0) gp(0);
  const d = readDescriptor(cpu, selector);
  if (d === undefined) gp(selector);
  const attr = descAttr(d.hi);
  const rpl = selector & 3;
  if ((attr & (SegAttr.S | SegAttr.CODE)) !== (SegAttr.S | SegAttr.CODE) || rpl < cpu.cpl) gp(selector);
  const dpl = dplOf(attr);
  if ((attr & SegAttr.DC) !== 0 ? dpl > rpl : dpl !== rpl) gp(selector);
  if ((attr & SegAttr.P) === 0) raiseFault(Vector.NP, selector & 0xfffc);
  if (isLongMode(cpu) && (attr & SegAttr.L) !== 0 && (attr & SegAttr.DB) !== 0) gp(selector);
  return d;
}

/**
 * Checks an SS selector for a return to privilege level `cpl` (RET/IRET to an outer level):
 * RPL = CPL, writable data, DPL = CPL, present. 64-bit mode accepts a null SS for CPL < 3 when
 * the return goes to 64-bit code. Returns undefined for that null case.
 */
export function checkReturnSs(cpu: SystemCpu, selector: number, cpl: number, to64: boolean): RawDescriptor | undefined {
  selector &= 0xffff;
  if ((selector & 0xfffc) === 0) {
    if (to64 && cpl !== 3 && (selector & 3) === cpl) return undefined;
    gp(0);
  }
  const d = readDescriptor(cpu, selector);
  if (d === undefined) gp(selector);
  const attr = descAttr(d.hi);
  if ((selector & 3) !== cpl || (attr & (SegAttr.S | SegAttr.CODE | SegAttr.RW)) !== (SegAttr.S | SegAttr.RW) || dplOf(attr) !== cpl) gp(selector);
  if ((attr & SegAttr.P) === 0) raiseFault(Vector.SS, selector & 0xfffc);
  return d;
}

/** Commits a checked CS (and sets its accessed bit). Call cpu.updateMode() afterwards. */
export function commitCs(cpu: SystemCpu, selector: number, d: RawDescriptor): void {
  setAccessed(cpu, d);
  fill(cpu.seg[Seg.CS]!, selector & 0xffff, d);
}

/** Commits a checked SS, or a null SS (d undefined) at privilege level cpl. */
export function commitSs(cpu: SystemCpu, selector: number, d: RawDescriptor | undefined, cpl: number): void {
  const ss = cpu.seg[Seg.SS]!;
  if (d === undefined) {
    ss.selector = selector & 0xffff; ss.base = 0; ss.limit = 0xffffffff; ss.attr = 0x4093 | (cpl << 5);
    return;
  }
  setAccessed(cpu, d);
  fill(ss, selector & 0xffff, d);
}

/**
 * After a return to an outer privilege level, data segment registers the new CPL may not use
 * are loaded with null (SDM Vol. 2 "RET"/"IRET": DPL < CPL for data or non-conforming code).
 */
export function nullInaccessibleSegments(cpu: SystemCpu): void {
  const cpl = cpu.cpl;
  for (const r of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) {
    const s = cpu.seg[r]!;
    if ((s.selector & 0xfffc) === 0 || (s.attr & SegAttr.P) === 0) continue;
    const conformingCode = (s.attr & (SegAttr.CODE | SegAttr.DC)) === (SegAttr.CODE | SegAttr.DC);
    if (!conformingCode && dplOf(s.attr) < cpl) {
      // FS/GS bases in 64-bit mode belong to the MSRs; keep them (Linux reloads them anyway).
      const base = s.base;
      loadNull(s, 0);
      if (cpu.mode === CpuMode.Long64 && (r === Seg.FS || r === Seg.GS)) s.base = base;
    }
  }
}

/** Reads a 16-byte system descriptor (IA-32e mode) or an 8-byte one; returns the base. */
function systemDescriptorBase(cpu: SystemCpu, d: RawDescriptor): number {
  const low = descBase(d.lo, d.hi);
  if (!isLongMode(cpu)) return low;
  const upper = cpu.mem.readSystem32(d.addr + 8);
  return (upper | 0) * TWO32 + low;
}

function readSystemDescriptor(cpu: SystemCpu, selector: number): RawDescriptor {
  if ((selector & 4) !== 0) gp(selector); // must be in the GDT
  const index = selector & 0xfff8;
  if (index + (isLongMode(cpu) ? 15 : 7) > cpu.gdtr.limit) gp(selector);
  const d = readDescriptor(cpu, selector);
  if (d === undefined) gp(selector);
  return d;
}

/** LLDT (SDM Vol. 2 "LLDT"): a null selector leaves the LDT unusable. */
export function loadLdt(cpu: SystemCpu, selector: number): void {
  selector &= 0xffff;
  if ((selector & 0xfffc) === 0) {
    cpu.ldtr = { selector, base: 0, limit: 0, attr: 0 };
    return;
  }
  const d = readSystemDescriptor(cpu, selector);
  const attr = descAttr(d.hi);
  if ((attr & 0x1f) !== SysType.LDT) gp(selector);
  if ((attr & SegAttr.P) === 0) raiseFault(Vector.NP, selector & 0xfffc);
  cpu.ldtr = { selector, base: systemDescriptorBase(cpu, d), limit: descLimit(d.lo, d.hi), attr };
}

/** LTR (SDM Vol. 2 "LTR"): loads TR from an available TSS descriptor and marks it busy. */
export function loadTr(cpu: SystemCpu, selector: number): void {
  selector &= 0xffff;
  if ((selector & 0xfffc) === 0) gp(0);
  const d = readSystemDescriptor(cpu, selector);
  const attr = descAttr(d.hi);
  const type = attr & 0x1f;
  if (type !== SysType.TSS_AVAIL && (type !== SysType.TSS16_AVAIL || isLongMode(cpu))) gp(selector);
  if ((attr & SegAttr.P) === 0) raiseFault(Vector.NP, selector & 0xfffc);
  const base = systemDescriptorBase(cpu, d);
  d.hi |= 0x200; // busy
  cpu.mem.writeSystem32(isLongMode(cpu) ? d.addr + 4 : (d.addr + 4) >>> 0, d.hi);
  cpu.tr = { selector, base, limit: descLimit(d.lo, d.hi), attr: attr | 0x2 };
}

function hex16(v: number): string {
  return '0x' + v.toString(16).padStart(4, '0');
}
