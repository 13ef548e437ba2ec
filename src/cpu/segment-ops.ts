// Segment-register instructions and far transfers (SDM Vol. 2: MOV Sreg, PUSH/POP Sreg,
// LDS/LES/LSS/LFS/LGS, far JMP/CALL/RET). The descriptor checks live in segments.ts.

import type { Insn, OpTable } from './insn.js';
import { OpMap } from './insn.js';
import { Vector } from './fault.js';
import { raiseFault } from './mmu.js';
import { CpuMode, Reg, Seg } from './state.js';
import {
  type SystemCpu, SegAttr, checkReturnCs, checkReturnSs, commitCs, commitSs, descAttr, isLongMode, loadCsForJump,
  loadSegment, nullInaccessibleSegments, setSystemOp, type SystemHandler,
} from './segments.js';
import { getReg64Num, setReg64Num } from './exceptions.js';

const TWO32 = 4294967296;

function ud(): never { raiseFault(Vector.UD); }

/** Runs `f`, restoring RSP if it faults (instructions that pop or push before a check). */
function withRspRestore(cpu: SystemCpu, f: () => void): void {
  const lo = cpu.gpr[2 * Reg.RSP]!;
  const hi = cpu.gpr[2 * Reg.RSP + 1]!;
  try {
    f();
  } catch (e) {
    cpu.gpr[2 * Reg.RSP] = lo;
    cpu.gpr[2 * Reg.RSP + 1] = hi;
    throw e;
  }
}

// ---- MOV Sreg ----

/** 8E: MOV Sreg, r/m16. CS is not a valid destination (#UD). */
const movToSreg: SystemHandler = (cpu, i) => {
  const sreg = (i.modrm >> 3) & 7;
  if (sreg === Seg.CS || sreg > Seg.GS) ud();
  loadSegment(cpu, sreg, cpu.readRm(i, 2));
  if (sreg === Seg.SS) cpu.interruptShadow = true; // §6.8.3
};

/** 8C: MOV r/m, Sreg (register destinations are zero-extended to the operand size). */
const movFromSreg: SystemHandler = (cpu, i) => {
  const sreg = (i.modrm >> 3) & 7;
  if (sreg > Seg.GS) ud();
  const sel = cpu.seg[sreg]!.selector & 0xffff;
  if (i.mod !== 3) { cpu.write16(cpu.ea(i), sel); return; }
  if (i.opSize === 8) cpu.setReg64(i.rm, sel, 0);
  else cpu.setReg(i.opSize === 4 ? 4 : 2, i.rm, sel, i.rex);
};

// ---- PUSH / POP Sreg ----

function pushSeg(seg: Seg): SystemHandler {
  return (cpu, i) => {
    const size = i.opSize === 1 ? 4 : i.opSize;
    cpu.push(size, cpu.seg[seg]!.selector & 0xffff, 0);
  };
}

function popSeg(seg: Seg): SystemHandler {
  return (cpu, i) => {
    const size = i.opSize === 1 ? 4 : i.opSize;
    withRspRestore(cpu, () => { loadSegment(cpu, seg, cpu.pop(size) & 0xffff); });
    if (seg === Seg.SS) cpu.interruptShadow = true;
  };
}

// ---- LDS / LES / LSS / LFS / LGS ----

function loadFarPointer(seg: Seg): SystemHandler {
  return (cpu, i) => {
    if (i.mod === 3) ud();
    const lin = cpu.ea(i);
    const size = i.opSize;
    let lo: number;
    let hi = 0;
    if (size === 8) { lo = cpu.read64(lin); hi = cpu.hi; }
    else lo = size === 4 ? cpu.read32(lin) : cpu.read16(lin);
    const sel = cpu.read16(isLongMode(cpu) ? lin + size : (lin + size) >>> 0);
    loadSegment(cpu, seg, sel);
    if (size === 8) cpu.setReg64(i.reg, lo, hi);
    else cpu.setReg(size === 4 ? 4 : 2, i.reg, lo, i.rex);
    if (seg === Seg.SS) cpu.interruptShadow = true;
  };
}

const lesLds = (seg: Seg): SystemHandler => {
  const h = loadFarPointer(seg);
  return (cpu, i) => { if (cpu.mode === CpuMode.Long64) ud(); h(cpu, i); };
};

// ---- Far JMP / CALL ----

function checkTargetInLimit(cpu: SystemCpu, offset: number): void {
  if (cpu.mode !== CpuMode.Long64 && cpu.mode !== CpuMode.Real && (offset >>> 0) > cpu.seg[Seg.CS]!.limit) {
    raiseFault(Vector.GP, 0);
  }
  if (cpu.mode === CpuMode.Long64 && (offset >= 0x800000000000 || offset < -0x800000000000)) raiseFault(Vector.GP, 0);
}

/** Far JMP to selector:offset (offset already sized; canonical number form for 64-bit). */
export function farJump(cpu: SystemCpu, selector: number, offset: number): void {
  loadCsForJump(cpu, selector);
  checkTargetInLimit(cpu, offset);
  cpu.rip = offset;
}

/** Far CALL: pushes CS and the return RIP in the operand size, then jumps. */
export function farCall(cpu: SystemCpu, selector: number, offset: number, size: 2 | 4 | 8): void {
  const oldCs = cpu.seg[Seg.CS]!.selector & 0xffff;
  const ret = cpu.rip;
  const savedCs = { ...cpu.seg[Seg.CS]! };
  withRspRestore(cpu, () => {
    cpu.push(size, oldCs, 0);
    cpu.push(size, ret >>> 0, size === 8 ? Math.floor(ret / TWO32) >>> 0 : 0);
    try {
      loadCsForJump(cpu, selector);
      checkTargetInLimit(cpu, offset);
    } catch (e) {
      cpu.seg[Seg.CS] = savedCs;
      cpu.updateMode();
      throw e;
    }
  });
  cpu.rip = offset;
}

/** 9A / EA: the direct forms (invalid in 64-bit mode; the decoder gives imm = offset, imm2 = selector). */
const callFarDirect: SystemHandler = (cpu, i) => {
  if (cpu.mode === CpuMode.Long64) ud();
  farCall(cpu, i.imm2, i.opSize === 2 ? i.imm & 0xffff : i.imm >>> 0, i.opSize === 2 ? 2 : 4);
};

const jmpFarDirect: SystemHandler = (cpu, i) => {
  if (cpu.mode === CpuMode.Long64) ud();
  farJump(cpu, i.imm2, i.opSize === 2 ? i.imm & 0xffff : i.imm >>> 0);
};

/** Reads an m16:16/32/64 far pointer: returns the offset; selector in `sel`. */
function readFarPointer(cpu: SystemCpu, i: Insn): { offset: number; sel: number } {
  if (i.mod === 3) ud();
  const lin = cpu.ea(i);
  const size = i.opSize;
  let offset: number;
  if (size === 8) { const lo = cpu.read64(lin); offset = (cpu.hi | 0) * TWO32 + lo; }
  else offset = size === 4 ? cpu.read32(lin) : cpu.read16(lin);
  const sel = cpu.read16(isLongMode(cpu) ? lin + size : (lin + size) >>> 0);
  return { offset, sel };
}

/** FF /3 (CALL m16:xx) and FF /5 (JMP m16:xx); op-table.ts composes this with the integer FF group. */
export const farIndirect: SystemHandler = (cpu, i) => {
  const { offset, sel } = readFarPointer(cpu, i);
  const size = i.opSize === 1 ? 4 : i.opSize;
  if (((i.modrm >> 3) & 7) === 3) farCall(cpu, sel, offset, size);
  else farJump(cpu, sel, offset);
};

// ---- Far RET ----

/** Linear address of the stack slot `byteOffset` bytes above rSP in the current stack size. */
function stackSlot(cpu: SystemCpu, byteOffset: number): number {
  if (cpu.mode === CpuMode.Long64) return getReg64Num(cpu, Reg.RSP) + byteOffset;
  const ss = cpu.seg[Seg.SS]!;
  const mask = (ss.attr & SegAttr.DB) !== 0 ? 0xffffffff : 0xffff;
  return (ss.base + ((cpu.gpr[2 * Reg.RSP]! + byteOffset) & mask)) >>> 0;
}

function readSlot(cpu: SystemCpu, lin: number, size: 2 | 4 | 8): number {
  if (size === 8) { const lo = cpu.read64(lin); return (cpu.hi | 0) * TWO32 + lo; }
  return size === 4 ? cpu.read32(lin) : cpu.read16(lin);
}

function addSp(cpu: SystemCpu, delta: number): void {
  if (cpu.mode === CpuMode.Long64) { setReg64Num(cpu, Reg.RSP, getReg64Num(cpu, Reg.RSP) + delta); return; }
  const big = (cpu.seg[Seg.SS]!.attr & SegAttr.DB) !== 0;
  const v = cpu.gpr[2 * Reg.RSP]! + delta;
  if (big) cpu.gpr[2 * Reg.RSP] = v >>> 0;
  else cpu.gpr[2 * Reg.RSP] = (cpu.gpr[2 * Reg.RSP]! & 0xffff0000) | (v & 0xffff);
}

/** CA / CB: RETF [imm16] (SDM Vol. 2 "RET" Operation, far return forms). */
export function farReturn(cpu: SystemCpu, size: 2 | 4 | 8, imm: number): void {
  const offset = readSlot(cpu, stackSlot(cpu, 0), size);
  const sel = readSlot(cpu, stackSlot(cpu, size), size) & 0xffff;
  if (cpu.mode === CpuMode.Real || cpu.mode === CpuMode.Virtual8086) {
    const cs = cpu.seg[Seg.CS]!;
    cs.selector = sel; cs.base = sel << 4;
    addSp(cpu, 2 * size + imm);
    cpu.rip = size === 2 ? offset & 0xffff : offset >>> 0;
    return;
  }
  const d = checkReturnCs(cpu, sel);
  const newCpl = sel & 3;
  const to64 = isLongMode(cpu) && (descAttr(d.hi) & SegAttr.L) !== 0;
  const target = to64 ? offset : size === 2 ? offset & 0xffff : offset >>> 0;
  if (to64 && (target >= 0x800000000000 || target < -0x800000000000)) raiseFault(Vector.GP, 0);
  if (newCpl === cpu.cpl) {
    commitCs(cpu, sel, d);
    addSp(cpu, 2 * size + imm);
    cpu.rip = target;
    cpu.updateMode();
    return;
  }
  // Return to an outer privilege level: SS:rSP follow the parameters.
  const newSp = readSlot(cpu, stackSlot(cpu, 2 * size + imm), size);
  const ssSel = readSlot(cpu, stackSlot(cpu, 3 * size + imm), size) & 0xffff;
  const sd = checkReturnSs(cpu, ssSel, newCpl, to64);
  commitCs(cpu, sel, d);
  commitSs(cpu, ssSel, sd, newCpl);
  cpu.rip = target;
  cpu.updateMode();
  if (cpu.mode === CpuMode.Long64 || isLongMode(cpu)) setReg64Num(cpu, Reg.RSP, size === 8 ? newSp : newSp >>> 0);
  else cpu.gpr[2 * Reg.RSP] = newSp >>> 0;
  addSp(cpu, imm);
  nullInaccessibleSegments(cpu);
}

const retf: SystemHandler = (cpu, i) => {
  farReturn(cpu, i.opSize === 1 ? 4 : i.opSize, i.op === 0xca ? i.imm & 0xffff : 0);
};

export function registerSegmentOps(t: OpTable): void {
  setSystemOp(t, OpMap.Primary, 0x8c, movFromSreg);
  setSystemOp(t, OpMap.Primary, 0x8e, movToSreg);
  setSystemOp(t, OpMap.Primary, 0x06, pushSeg(Seg.ES));
  setSystemOp(t, OpMap.Primary, 0x07, popSeg(Seg.ES));
  setSystemOp(t, OpMap.Primary, 0x0e, pushSeg(Seg.CS));
  setSystemOp(t, OpMap.Primary, 0x16, pushSeg(Seg.SS));
  setSystemOp(t, OpMap.Primary, 0x17, popSeg(Seg.SS));
  setSystemOp(t, OpMap.Primary, 0x1e, pushSeg(Seg.DS));
  setSystemOp(t, OpMap.Primary, 0x1f, popSeg(Seg.DS));
  setSystemOp(t, OpMap.M0F, 0xa0, pushSeg(Seg.FS));
  setSystemOp(t, OpMap.M0F, 0xa1, popSeg(Seg.FS));
  setSystemOp(t, OpMap.M0F, 0xa8, pushSeg(Seg.GS));
  setSystemOp(t, OpMap.M0F, 0xa9, popSeg(Seg.GS));
  setSystemOp(t, OpMap.Primary, 0xc4, lesLds(Seg.ES));
  setSystemOp(t, OpMap.Primary, 0xc5, lesLds(Seg.DS));
  setSystemOp(t, OpMap.M0F, 0xb2, loadFarPointer(Seg.SS));
  setSystemOp(t, OpMap.M0F, 0xb4, loadFarPointer(Seg.FS));
  setSystemOp(t, OpMap.M0F, 0xb5, loadFarPointer(Seg.GS));
  setSystemOp(t, OpMap.Primary, 0x9a, callFarDirect);
  setSystemOp(t, OpMap.Primary, 0xea, jmpFarDirect);
  setSystemOp(t, OpMap.Primary, 0xca, retf);
  setSystemOp(t, OpMap.Primary, 0xcb, retf);
  // FF /3 and /5; the table builder wraps this into the integer FF group.
  setSystemOp(t, OpMap.Primary, 0xff, farIndirect);
}
