// Interrupt and exception delivery through the IVT/IDT, and IRET (SDM Vol. 3A ch. 6; Vol. 2
// "INT n/INTO/INT3/INT1" and "IRET/IRETD/IRETQ" Operation sections).
//
// Delivery validates everything and writes the whole stack frame before it changes any register,
// so a fault during delivery (which the run loop escalates to #DF or a triple fault, SDM Vol. 3A
// §6.15 Table 6-5) leaves the interrupted state intact. Task gates and hardware task switches
// are not supported (UnsupportedSystemFeatureError): Linux never uses them in 64-bit mode.

import { Vector } from './fault.js';
import { CpuMode, Flag, Reg, Seg } from './state.js';
import { Mmu, raiseFault } from './mmu.js';
import {
  type SystemCpu, type RawDescriptor, SegAttr, SysType, UnsupportedSystemFeatureError,
  checkReturnCs, checkReturnSs, commitCs, commitSs, descAttr, dplOf, nullInaccessibleSegments, readDescriptor,
} from './segments.js';

/**
 * How an event enters the IDT (SDM Vol. 3A §6.4). Same values as cpu.ts's EventKind, which the
 * run loop passes to `deliverEvent`.
 */
export const enum DeliveryKind { Exception = 0, External = 1, Software = 2, Nmi = 3 }

const TWO32 = 4294967296;

// ---- Register helpers (64-bit values in canonical number form) ----

export function getReg64Num(cpu: SystemCpu, r: number): number {
  return (cpu.gpr[2 * r + 1]! | 0) * TWO32 + cpu.gpr[2 * r]!;
}

export function setReg64Num(cpu: SystemCpu, r: number, v: number): void {
  cpu.gpr[2 * r] = v >>> 0;
  cpu.gpr[2 * r + 1] = Math.floor(v / TWO32) >>> 0;
}

/** Writes the 16-bit stack pointer (SS.B = 0) or the 32-bit one, preserving the rest. */
function setSp(cpu: SystemCpu, value: number, big: boolean): void {
  if (big) { cpu.gpr[2 * Reg.RSP] = value >>> 0; cpu.gpr[2 * Reg.RSP + 1] = 0; }
  else cpu.gpr[2 * Reg.RSP] = (cpu.gpr[2 * Reg.RSP]! & 0xffff0000) | (value & 0xffff);
}

/** Stack writes at an explicit privilege (the new CPL during delivery). */
function stackWrite(cpu: SystemCpu, lin: number, size: 2 | 4 | 8, lo: number, hi: number, user: boolean): void {
  const m = cpu.mem;
  if (m instanceof Mmu) { m.writeAs(lin, size, lo, hi, user); return; }
  if (size === 8) { m.writeSystem32(lin, lo); m.writeSystem32(lin + 4, hi); }
  else if (size === 4) m.writeSystem32(lin, lo);
  else m.write16(lin, lo);
}

function stackRead(cpu: SystemCpu, lin: number, size: 2 | 4 | 8): number {
  const m = cpu.mem;
  if (size === 8) { const lo = m.read64(lin); cpu.hi = m.hi; return lo; }
  return size === 4 ? m.read32(lin) : m.read16(lin);
}

function isCanonicalNum(v: number): boolean {
  return v < 0x800000000000 && v >= -0x800000000000;
}

/** Event delivery as the run loop calls it (cpu.ts EventDelivery): cpu.rip is the return address. */
export function deliverEvent(cpu: SystemCpu, vector: number, errorCode: number, kind: number): void {
  cpu.halted = false;
  // Only exceptions push error codes, and exactly those of Table 6-1 (a CpuFault raised without
  // one for #GP etc. pushes 0).
  if (kind !== DeliveryKind.Exception || !hasErrorCode(vector)) errorCode = -1;
  else if (errorCode < 0) errorCode = 0;
  switch (cpu.mode) {
    case CpuMode.Real: deliverReal(cpu, vector); return;
    case CpuMode.Long64: case CpuMode.Compat16: case CpuMode.Compat32: deliverLong(cpu, vector, errorCode, kind); return;
    default: deliverProtected(cpu, vector, errorCode, kind);
  }
}

/** Real mode: the IVT (SDM Vol. 3A §20.1.4). Pushes FLAGS, CS, IP; clears IF, TF, AC. */
function deliverReal(cpu: SystemCpu, vector: number): void {
  if (vector * 4 + 3 > cpu.idtr.limit) raiseFault(Vector.GP, 0);
  const entry = (cpu.idtr.base + vector * 4) >>> 0;
  const ip = cpu.mem.read16(entry);
  const sel = cpu.mem.read16(entry + 2);
  const ss = cpu.seg[Seg.SS]!;
  const sp = cpu.gpr[2 * Reg.RSP]! & 0xffff;
  const flags = cpu.getRflags() & 0xffff;
  cpu.mem.write16((ss.base + ((sp - 2) & 0xffff)) >>> 0, flags);
  cpu.mem.write16((ss.base + ((sp - 4) & 0xffff)) >>> 0, cpu.seg[Seg.CS]!.selector);
  cpu.mem.write16((ss.base + ((sp - 6) & 0xffff)) >>> 0, cpu.rip & 0xffff);
  setSp(cpu, sp - 6, false);
  cpu.setRflags(0, Flag.IF | Flag.TF | Flag.AC | Flag.RF);
  const cs = cpu.seg[Seg.CS]!;
  cs.selector = sel;
  cs.base = sel << 4;
  cpu.rip = ip;
  cpu.updateMode();
}

interface Gate { selector: number; offset: number; type: number; dpl: number; ist: number }

function readGate(cpu: SystemCpu, vector: number, kind: number, long: boolean): Gate {
  const ext = kind === DeliveryKind.Software ? 0 : 1;
  const idtErr = vector * 8 + 2 + ext;
  const size = long ? 16 : 8;
  if (vector * size + size - 1 > cpu.idtr.limit) raiseFault(Vector.GP, idtErr);
  const entry = long ? cpu.idtr.base + vector * 16 : (cpu.idtr.base + vector * 8) >>> 0;
  const w0 = cpu.mem.readSystem32(entry);
  const w1 = cpu.mem.readSystem32(long ? entry + 4 : (entry + 4) >>> 0);
  const type = (w1 >>> 8) & 0x1f;
  const dpl = (w1 >>> 13) & 3;
  let offset = ((w1 & 0xffff0000) | (w0 & 0xffff)) >>> 0;
  if (long) {
    if (type !== SysType.INT_GATE && type !== SysType.TRAP_GATE) raiseFault(Vector.GP, idtErr);
    offset += (cpu.mem.readSystem32(entry + 8) | 0) * TWO32;
  } else if (type === SysType.TASK_GATE) {
    throw new UnsupportedSystemFeatureError(`task gate in IDT entry ${vector}`);
  } else if (type !== SysType.INT_GATE && type !== SysType.TRAP_GATE && type !== SysType.INT_GATE16 && type !== SysType.TRAP_GATE16) {
    raiseFault(Vector.GP, idtErr);
  }
  // INT n / INT3 / INTO may only use gates with DPL >= CPL (§6.12.1.1).
  if (kind === DeliveryKind.Software && dpl < cpu.cpl) raiseFault(Vector.GP, idtErr);
  if ((w1 & 0x8000) === 0) raiseFault(Vector.NP, idtErr);
  return { selector: w0 >>> 16, offset, type, dpl, ist: long ? w1 & 7 : 0 };
}

/** The handler's code segment (§6.12.1): a present code segment with DPL <= CPL. */
function readHandlerCs(cpu: SystemCpu, selector: number, kind: number): RawDescriptor {
  const ext = kind === DeliveryKind.Software ? 0 : 1;
  if ((selector & 0xfffc) === 0) raiseFault(Vector.GP, ext);
  const d = readDescriptor(cpu, selector);
  if (d === undefined) raiseFault(Vector.GP, (selector & 0xfffc) + ext);
  const attr = descAttr(d.hi);
  if ((attr & (SegAttr.S | SegAttr.CODE)) !== (SegAttr.S | SegAttr.CODE) || dplOf(attr) > cpu.cpl) {
    raiseFault(Vector.GP, (selector & 0xfffc) + ext);
  }
  if ((attr & SegAttr.P) === 0) raiseFault(Vector.NP, (selector & 0xfffc) + ext);
  return d;
}

/** Reads a 64-bit stack pointer from the 64-bit TSS (§7.7): RSPn at 4 + 8n, ISTn at 0x24 + 8(n-1). */
function readTss64(cpu: SystemCpu, offset: number, kind: number): number {
  const tr = cpu.tr;
  if (offset + 7 > tr.limit) raiseFault(Vector.TS, (tr.selector & 0xfffc) + (kind === DeliveryKind.Software ? 0 : 1));
  const lo = cpu.mem.readSystem32(tr.base + offset);
  const hi = cpu.mem.readSystem32(tr.base + offset + 4);
  return (hi | 0) * TWO32 + lo;
}

/** IA-32e mode: 64-bit gates, IST, RSP0..2 from the TSS, frame SS:RSP RFLAGS CS:RIP [error] (§6.14). */
function deliverLong(cpu: SystemCpu, vector: number, errorCode: number, kind: number): void {
  const gate = readGate(cpu, vector, kind, true);
  const d = readHandlerCs(cpu, gate.selector, kind);
  const attr = descAttr(d.hi);
  const ext = kind === DeliveryKind.Software ? 0 : 1;
  if ((attr & SegAttr.L) === 0 || (attr & SegAttr.DB) !== 0) raiseFault(Vector.GP, (gate.selector & 0xfffc) + ext);
  const cpl = cpu.cpl;
  const newCpl = (attr & SegAttr.DC) !== 0 ? cpl : dplOf(attr);
  if (!isCanonicalNum(gate.offset)) raiseFault(Vector.GP, ext);
  const oldRsp = getReg64Num(cpu, Reg.RSP);
  let rsp = oldRsp;
  if (gate.ist !== 0) rsp = readTss64(cpu, 0x24 + (gate.ist - 1) * 8, kind);
  else if (newCpl < cpl) rsp = readTss64(cpu, 4 + newCpl * 8, kind);
  rsp -= rsp & 0xf; // aligned to 16 bytes (§6.14.2)
  const hasError = errorCode >= 0;
  const frameBase = rsp - (hasError ? 48 : 40);
  if (!isCanonicalNum(frameBase) || !isCanonicalNum(rsp)) raiseFault(Vector.SS, ext);
  const user = newCpl === 3;
  const rflags = cpu.getRflags();
  const rip = cpu.rip;
  let p = frameBase;
  if (hasError) { stackWrite(cpu, p, 8, errorCode, 0, user); p += 8; }
  stackWrite(cpu, p, 8, rip >>> 0, Math.floor(rip / TWO32) >>> 0, user);
  stackWrite(cpu, p + 8, 8, cpu.seg[Seg.CS]!.selector, 0, user);
  stackWrite(cpu, p + 16, 8, rflags, 0, user);
  stackWrite(cpu, p + 24, 8, oldRsp >>> 0, Math.floor(oldRsp / TWO32) >>> 0, user);
  stackWrite(cpu, p + 32, 8, cpu.seg[Seg.SS]!.selector, 0, user);
  // Commit.
  commitCs(cpu, (gate.selector & 0xfffc) | newCpl, d);
  if (newCpl !== cpl) commitSs(cpu, newCpl, undefined, newCpl); // NULL SS with RPL = new CPL
  setReg64Num(cpu, Reg.RSP, frameBase);
  cpu.rip = gate.offset;
  const clear = Flag.TF | Flag.NT | Flag.RF | Flag.VM | (gate.type === SysType.INT_GATE ? Flag.IF : 0);
  cpu.setRflags(0, clear);
  cpu.updateMode();
}

/** Legacy protected mode: 16/32-bit interrupt and trap gates (§6.12), including from virtual-8086 mode. */
function deliverProtected(cpu: SystemCpu, vector: number, errorCode: number, kind: number): void {
  const gate = readGate(cpu, vector, kind, false);
  const d = readHandlerCs(cpu, gate.selector, kind);
  const attr = descAttr(d.hi);
  const ext = kind === DeliveryKind.Software ? 0 : 1;
  const cpl = cpu.cpl;
  const fromV86 = cpu.mode === CpuMode.Virtual8086;
  const conforming = (attr & SegAttr.DC) !== 0;
  const newCpl = conforming ? cpl : dplOf(attr);
  if (fromV86 && (conforming || newCpl !== 0)) raiseFault(Vector.GP, (gate.selector & 0xfffc) + ext);
  const gate32 = gate.type === SysType.INT_GATE || gate.type === SysType.TRAP_GATE;
  const size: 2 | 4 = gate32 ? 4 : 2;
  const rflags = cpu.getRflags();
  const ss = cpu.seg[Seg.SS]!;
  const oldEsp = cpu.gpr[2 * Reg.RSP]!;
  const words: number[] = [];
  let ssBase: number;
  let ssBig: boolean;
  let sp: number;
  let newSs: { sel: number; d: RawDescriptor } | undefined;
  if (newCpl < cpl) {
    // Inner stack from the TSS (§7.2.1): 32-bit TSS ESPn at 4 + 8n, SSn at 8 + 8n; 16-bit at 2 + 4n, 4 + 4n.
    const tr = cpu.tr;
    const tss32 = (tr.attr & 0xf) === SysType.TSS_BUSY || (tr.attr & 0xf) === SysType.TSS_AVAIL;
    const espOff = tss32 ? 4 + newCpl * 8 : 2 + newCpl * 4;
    const ssOff = tss32 ? 8 + newCpl * 8 : 4 + newCpl * 4;
    const tsErr = (tr.selector & 0xfffc) + ext;
    if (ssOff + 1 > tr.limit) raiseFault(Vector.TS, tsErr);
    const espWord = cpu.mem.readSystem32((tr.base + espOff) >>> 0);
    const newEsp = tss32 ? espWord : espWord & 0xffff;
    const ssSel = cpu.mem.readSystem32((tr.base + ssOff) >>> 0) & 0xffff;
    if ((ssSel & 0xfffc) === 0 || (ssSel & 3) !== newCpl) raiseFault(Vector.TS, (ssSel & 0xfffc) + ext);
    const sd = readDescriptor(cpu, ssSel);
    if (sd === undefined) raiseFault(Vector.TS, (ssSel & 0xfffc) + ext);
    const sattr = descAttr(sd.hi);
    if ((sattr & (SegAttr.S | SegAttr.CODE | SegAttr.RW)) !== (SegAttr.S | SegAttr.RW) || dplOf(sattr) !== newCpl) {
      raiseFault(Vector.TS, (ssSel & 0xfffc) + ext);
    }
    if ((sattr & SegAttr.P) === 0) raiseFault(Vector.SS, (ssSel & 0xfffc) + ext);
    newSs = { sel: ssSel, d: sd };
    ssBase = ((sd.lo >>> 16) | ((sd.hi & 0xff) << 16) | (sd.hi & 0xff000000)) >>> 0;
    ssBig = (sattr & SegAttr.DB) !== 0;
    sp = newEsp;
    if (fromV86) {
      words.push(cpu.seg[Seg.GS]!.selector, cpu.seg[Seg.FS]!.selector, cpu.seg[Seg.DS]!.selector, cpu.seg[Seg.ES]!.selector);
    }
    words.push(ss.selector, oldEsp);
  } else {
    ssBase = ss.base;
    ssBig = (ss.attr & SegAttr.DB) !== 0;
    sp = oldEsp;
  }
  words.push(rflags, cpu.seg[Seg.CS]!.selector, cpu.rip >>> 0);
  if (errorCode >= 0) words.push(errorCode);
  const user = newCpl === 3;
  const mask = ssBig ? 0xffffffff : 0xffff;
  for (const w of words) {
    sp = (sp - size) & mask;
    stackWrite(cpu, (ssBase + sp) >>> 0, size, size === 2 ? w & 0xffff : w >>> 0, 0, user);
  }
  // Commit.
  if (newSs !== undefined) {
    commitSs(cpu, newSs.sel, newSs.d, newCpl);
    if (fromV86) for (const r of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) cpu.seg[r] = { selector: 0, base: 0, limit: 0, attr: 0 };
  }
  setSp(cpu, sp, ssBig);
  commitCs(cpu, (gate.selector & 0xfffc) | newCpl, d);
  cpu.rip = gate32 ? gate.offset : gate.offset & 0xffff;
  const isInt = gate.type === SysType.INT_GATE || gate.type === SysType.INT_GATE16;
  cpu.setRflags(0, Flag.TF | Flag.NT | Flag.RF | Flag.VM | (isInt ? Flag.IF : 0));
  cpu.updateMode();
}

// ---- IRET ----

/** Bits IRET may change at the given privilege (SDM Vol. 2 "IRET" Operation). */
function iretFlagMask(cpu: SystemCpu, size: 2 | 4 | 8): number {
  let mask = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.TF | Flag.DF | Flag.OF | Flag.NT;
  const cpl = cpu.cpl;
  const iopl = (cpu.flagsRest & Flag.IOPL) >>> 12;
  if (cpl <= iopl) mask |= Flag.IF;
  if (cpl === 0) mask |= Flag.IOPL;
  if (size !== 2) {
    mask |= Flag.RF | Flag.AC | Flag.ID;
    if (cpl === 0) mask |= Flag.VIF | Flag.VIP;
  }
  return mask;
}

/** IRET / IRETD / IRETQ with operand size `size` (2, 4 or 8). */
export function iret(cpu: SystemCpu, size: 2 | 4 | 8): void {
  switch (cpu.mode) {
    case CpuMode.Real: iretReal(cpu, size === 8 ? 4 : size); return;
    case CpuMode.Virtual8086: {
      if ((cpu.flagsRest & Flag.IOPL) !== Flag.IOPL) raiseFault(Vector.GP, 0);
      iretReal(cpu, size === 8 ? 4 : size);
      return;
    }
    default:
      if ((cpu.flagsRest & Flag.NT) !== 0) {
        if ((cpu.efer & 0x400) !== 0) raiseFault(Vector.GP, 0); // no task return in IA-32e mode
        throw new UnsupportedSystemFeatureError('IRET task return (EFLAGS.NT = 1)');
      }
      iretProtected(cpu, size);
  }
}

function iretReal(cpu: SystemCpu, size: 2 | 4): void {
  const ss = cpu.seg[Seg.SS]!;
  const big = (ss.attr & SegAttr.DB) !== 0;
  const mask = big ? 0xffffffff : 0xffff;
  const sp = cpu.gpr[2 * Reg.RSP]! & mask;
  const at = (k: number): number => (ss.base + ((sp + k * size) & mask)) >>> 0;
  const ip = stackRead(cpu, at(0), size);
  const sel = stackRead(cpu, at(1), size) & 0xffff;
  const flags = stackRead(cpu, at(2), size);
  if (size === 4 && ip > 0xffff && cpu.mode === CpuMode.Real && ip > cpu.seg[Seg.CS]!.limit) raiseFault(Vector.GP, 0);
  setSp(cpu, sp + 3 * size, big);
  const cs = cpu.seg[Seg.CS]!;
  cs.selector = sel;
  cs.base = sel << 4;
  cpu.rip = ip;
  let fmask: number;
  if (cpu.mode === CpuMode.Virtual8086) {
    fmask = (size === 4 ? 0x3f7fd5 & ~(Flag.VM | Flag.VIF | Flag.VIP | Flag.IOPL) : 0xffff & ~Flag.IOPL);
  } else {
    fmask = size === 4 ? 0x3f7fd5 & ~(Flag.VM | Flag.VIF | Flag.VIP) : 0xffff;
  }
  cpu.setRflags(flags, fmask & ~0x2a);
  cpu.updateMode();
}

function iretProtected(cpu: SystemCpu, size: 2 | 4 | 8): void {
  const in64 = cpu.mode === CpuMode.Long64;
  const ss = cpu.seg[Seg.SS]!;
  let spAt: (k: number) => number;
  let consumed: (n: number) => void;
  if (in64) {
    const rsp = getReg64Num(cpu, Reg.RSP);
    spAt = (k) => rsp + k * size;
    consumed = (n) => setReg64Num(cpu, Reg.RSP, rsp + n * size);
  } else {
    const big = (ss.attr & SegAttr.DB) !== 0;
    const mask = big ? 0xffffffff : 0xffff;
    const sp = cpu.gpr[2 * Reg.RSP]! & mask;
    spAt = (k) => (ss.base + ((sp + k * size) & mask)) >>> 0;
    consumed = (n) => setSp(cpu, sp + n * size, big);
  }
  const ripLo = stackRead(cpu, spAt(0), size);
  const ripHi = size === 8 ? cpu.hi : 0;
  const csSel = stackRead(cpu, spAt(1), size) & 0xffff;
  const flags = stackRead(cpu, spAt(2), size);
  const cpl = cpu.cpl;

  if (!in64 && (cpu.efer & 0x400) === 0 && size === 4 && (flags & Flag.VM) !== 0 && cpl === 0) {
    iretToV86(cpu, spAt, ripLo, csSel, flags);
    return;
  }
  const d = checkReturnCs(cpu, csSel);
  const attr = descAttr(d.hi);
  const newCpl = csSel & 3;
  const to64 = (cpu.efer & 0x400) !== 0 && (attr & SegAttr.L) !== 0;
  let target = size === 8 ? (ripHi | 0) * TWO32 + ripLo : ripLo;
  if (!to64) target = size === 2 ? target & 0xffff : target >>> 0;
  if (to64 && !isCanonicalNum(target)) raiseFault(Vector.GP, 0);
  const fmask = iretFlagMask(cpu, size);
  if (in64 || newCpl > cpl) {
    // 64-bit mode always pops SS:RSP; legacy modes only on a return to an outer level.
    const rspLo = stackRead(cpu, spAt(3), size);
    const rspHi = size === 8 ? cpu.hi : 0;
    const ssSel = stackRead(cpu, spAt(4), size) & 0xffff;
    const sd = checkReturnSs(cpu, ssSel, newCpl, to64);
    const newRsp = size === 8 ? (rspHi | 0) * TWO32 + rspLo : rspLo;
    commitCs(cpu, csSel, d);
    commitSs(cpu, ssSel, sd, newCpl);
    cpu.rip = target;
    cpu.setRflags(flags, fmask);
    if (in64 || (cpu.efer & 0x400) !== 0) {
      if (size === 2) setSp(cpu, newRsp, false);
      else setReg64Num(cpu, Reg.RSP, size === 8 ? newRsp : newRsp >>> 0);
    } else {
      setSp(cpu, newRsp, sd !== undefined && (descAttr(sd.hi) & SegAttr.DB) !== 0);
    }
    cpu.updateMode();
    if (newCpl > cpl) nullInaccessibleSegments(cpu);
    return;
  }
  consumed(3);
  commitCs(cpu, csSel, d);
  cpu.rip = target;
  cpu.setRflags(flags, fmask);
  cpu.updateMode();
}

/** IRETD from CPL 0 to virtual-8086 mode (SDM Vol. 2 "IRET", RETURN-TO-VIRTUAL-8086-MODE). */
function iretToV86(cpu: SystemCpu, spAt: (k: number) => number, eip: number, csSel: number, flags: number): void {
  const vals: number[] = [];
  for (let k = 3; k < 9; k++) vals.push(stackRead(cpu, spAt(k), 4));
  const [esp, ssSel, es, ds, fs, gs] = vals as [number, number, number, number, number, number];
  cpu.setRflags(flags, 0x3f7fd5 & ~0x2a);
  const set = (r: Seg, sel: number): void => { cpu.seg[r] = { selector: sel & 0xffff, base: (sel & 0xffff) << 4, limit: 0xffff, attr: 0xf3 }; };
  set(Seg.CS, csSel); cpu.seg[Seg.CS]!.attr = 0xfb;
  set(Seg.SS, ssSel); set(Seg.ES, es); set(Seg.DS, ds); set(Seg.FS, fs); set(Seg.GS, gs);
  cpu.gpr[2 * Reg.RSP] = esp >>> 0;
  cpu.gpr[2 * Reg.RSP + 1] = 0;
  cpu.rip = eip & 0xffff;
  cpu.updateMode();
}

/** Vectors whose exceptions push an error code (SDM Vol. 3A Table 6-1). */
export function hasErrorCode(vector: number): boolean {
  return vector === Vector.DF || (vector >= Vector.TS && vector <= Vector.PF) || vector === Vector.AC || vector === 21 || vector === 29 || vector === 30;
}
