// ADD/OR/ADC/SBB/AND/SUB/XOR/CMP, TEST, INC/DEC, NEG/NOT (SDM Vol. 2; flags per Vol. 1 App. A).

import { OpMap, type Insn, type OpTable } from './insn.js';
import type { Cpu } from './cpu.js';
import { LazyOp, computeCF, setLazy, setLazy64, setLazyIncDec } from './flags.js';
import { type Handler, setOp, readOp, writeOp, readReg, writeReg, linOf, ext, trunc } from './ops-util.js';
import { mulDivGroup } from './ops-muldiv.js';

export const enum Alu { ADD = 0, OR = 1, ADC = 2, SBB = 3, AND = 4, SUB = 5, XOR = 6, CMP = 7 }

/** ALU op on 1/2/4-byte unsigned operands; sets lazy flags, returns the result. */
export function alu(cpu: Cpu, op: number, size: number, dst: number, src: number): number {
  let r: number;
  switch (op) {
    case Alu.ADD: r = trunc(dst + src, size); setLazy(cpu, LazyOp.Add, size, dst, src, r); return r;
    case Alu.OR: r = trunc(dst | src, size); setLazy(cpu, LazyOp.Logic, size, dst, src, r); return r;
    case Alu.ADC: {
      const c = computeCF(cpu) ? 1 : 0;
      r = trunc(dst + src + c, size); setLazy(cpu, c ? LazyOp.Adc1 : LazyOp.Add, size, dst, src, r); return r;
    }
    case Alu.SBB: {
      const c = computeCF(cpu) ? 1 : 0;
      r = trunc(dst - src - c, size); setLazy(cpu, c ? LazyOp.Sbb1 : LazyOp.Sub, size, dst, src, r); return r;
    }
    case Alu.AND: r = trunc(dst & src, size); setLazy(cpu, LazyOp.Logic, size, dst, src, r); return r;
    case Alu.XOR: r = trunc(dst ^ src, size); setLazy(cpu, LazyOp.Logic, size, dst, src, r); return r;
    default: r = trunc(dst - src, size); setLazy(cpu, LazyOp.Sub, size, dst, src, r); return r;
  }
}

/** 64-bit ALU op; returns the low half, high half in cpu.hi. */
export function alu64(cpu: Cpu, op: number, dLo: number, dHi: number, sLo: number, sHi: number): number {
  let lo: number; let hi: number;
  switch (op) {
    case Alu.ADD: case Alu.ADC: {
      const c = op === Alu.ADC && computeCF(cpu) ? 1 : 0;
      const t = dLo + sLo + c;
      lo = t >>> 0;
      hi = (dHi + sHi + (t > 0xffffffff ? 1 : 0)) >>> 0;
      setLazy64(cpu, c ? LazyOp.Adc1 : LazyOp.Add, dLo, dHi, sLo, sHi, lo, hi);
      break;
    }
    case Alu.SUB: case Alu.SBB: case Alu.CMP: {
      const c = op === Alu.SBB && computeCF(cpu) ? 1 : 0;
      const t = dLo - sLo - c;
      lo = t >>> 0;
      hi = (dHi - sHi - (t < 0 ? 1 : 0)) >>> 0;
      setLazy64(cpu, c ? LazyOp.Sbb1 : LazyOp.Sub, dLo, dHi, sLo, sHi, lo, hi);
      break;
    }
    case Alu.OR: lo = (dLo | sLo) >>> 0; hi = (dHi | sHi) >>> 0; setLazy64(cpu, LazyOp.Logic, 0, 0, 0, 0, lo, hi); break;
    case Alu.AND: lo = (dLo & sLo) >>> 0; hi = (dHi & sHi) >>> 0; setLazy64(cpu, LazyOp.Logic, 0, 0, 0, 0, lo, hi); break;
    default: lo = (dLo ^ sLo) >>> 0; hi = (dHi ^ sHi) >>> 0; setLazy64(cpu, LazyOp.Logic, 0, 0, 0, 0, lo, hi); break;
  }
  cpu.hi = hi;
  return lo;
}

/** Fast path: 32/64-bit register dst op= register src. */
function aluRegReg(cpu: Cpu, op: number, size: number, d: number, sReg: number): void {
  const g = cpu.gpr;
  const dk = d << 1; const sk = sReg << 1;
  if (size === 8) {
    const lo = alu64(cpu, op, g[dk]!, g[dk + 1]!, g[sk]!, g[sk + 1]!);
    if (op !== Alu.CMP) { g[dk] = lo; g[dk + 1] = cpu.hi; }
  } else {
    const r = alu(cpu, op, 4, g[dk]!, g[sk]!);
    if (op !== Alu.CMP) { g[dk] = r; g[dk + 1] = 0; }
  }
}

/** r/m op= src (src given as lo/hi); writes back unless CMP. */
function aluRm(cpu: Cpu, i: Insn, op: number, size: number, sLo: number, sHi: number): void {
  const lin = linOf(cpu, i);
  const dLo = readOp(cpu, i, lin, size);
  if (size === 8) {
    const dHi = cpu.hi;
    const lo = alu64(cpu, op, dLo, dHi, sLo, sHi);
    if (op !== Alu.CMP) writeOp(cpu, i, lin, 8, lo, cpu.hi);
  } else {
    const r = alu(cpu, op, size, dLo, trunc(sLo, size));
    if (op !== Alu.CMP) writeOp(cpu, i, lin, size, r, 0);
  }
}

function makeEG(op: number): Handler {
  return (cpu, i) => {
    const size = i.opSize;
    if (!i.hasMem && size >= 4) { aluRegReg(cpu, op, size, i.rm, i.reg); return; }
    const sLo = readReg(cpu, i, size);
    aluRm(cpu, i, op, size, sLo, cpu.hi);
  };
}

function makeGE(op: number): Handler {
  return (cpu, i) => {
    const size = i.opSize;
    if (!i.hasMem && size >= 4) { aluRegReg(cpu, op, size, i.reg, i.rm); return; }
    const sLo = readOp(cpu, i, linOf(cpu, i), size);
    if (size === 8) {
      const sHi = cpu.hi;
      const dLo = cpu.getReg64(i.reg);
      const lo = alu64(cpu, op, dLo, cpu.hi, sLo, sHi);
      if (op !== Alu.CMP) cpu.setReg64(i.reg, lo, cpu.hi);
    } else {
      const r = alu(cpu, op, size, readReg(cpu, i, size), sLo);
      if (op !== Alu.CMP) writeReg(cpu, i, size, r, 0);
    }
  };
}

function makeAI(op: number): Handler {
  return (cpu, i) => {
    const size = i.opSize;
    if (size === 8) {
      const dLo = cpu.getReg64(0);
      const lo = alu64(cpu, op, dLo, cpu.hi, i.imm, i.immHi);
      if (op !== Alu.CMP) cpu.setReg64(0, lo, cpu.hi);
    } else {
      const r = alu(cpu, op, size, cpu.getReg(size, 0, 0), trunc(i.imm, size));
      if (op !== Alu.CMP) cpu.setReg(size, 0, r, 0);
    }
  };
}

/** 80-83: group 1, r/m op= imm. */
const group1: Handler = (cpu, i) => {
  const size = i.opSize;
  if (!i.hasMem && size >= 4) {
    const op = (i.modrm >> 3) & 7;
    const g = cpu.gpr; const dk = i.rm << 1;
    if (size === 8) {
      const lo = alu64(cpu, op, g[dk]!, g[dk + 1]!, i.imm, i.immHi);
      if (op !== Alu.CMP) { g[dk] = lo; g[dk + 1] = cpu.hi; }
    } else {
      const r = alu(cpu, op, 4, g[dk]!, i.imm);
      if (op !== Alu.CMP) { g[dk] = r; g[dk + 1] = 0; }
    }
    return;
  }
  aluRm(cpu, i, ext(i), size, i.imm, i.immHi);
};

/** TEST r/m, src. */
export function test(cpu: Cpu, size: number, dLo: number, dHi: number, sLo: number, sHi: number): void {
  if (size === 8) {
    const lo = (dLo & sLo) >>> 0; const hi = (dHi & sHi) >>> 0;
    setLazy64(cpu, LazyOp.Logic, 0, 0, 0, 0, lo, hi);
  } else setLazy(cpu, LazyOp.Logic, size, 0, 0, trunc(dLo & sLo, size));
}

const testEG: Handler = (cpu, i) => {
  const size = i.opSize;
  if (!i.hasMem && size >= 4) {
    const g = cpu.gpr; const a = i.rm << 1; const b = i.reg << 1;
    test(cpu, size, g[a]!, g[a + 1]!, g[b]!, g[b + 1]!);
    return;
  }
  const d = readOp(cpu, i, linOf(cpu, i), size); const dHi = cpu.hi;
  const s = readReg(cpu, i, size);
  test(cpu, size, d, dHi, s, cpu.hi);
};

const testAI: Handler = (cpu, i) => {
  const size = i.opSize;
  if (size === 8) { const d = cpu.getReg64(0); test(cpu, 8, d, cpu.hi, i.imm, i.immHi); }
  else test(cpu, size, cpu.getReg(size, 0, 0), 0, i.imm, 0);
};

/** INC/DEC on r/m (dec = true for DEC). */
export function incDec(cpu: Cpu, i: Insn, size: number, dec: boolean): void {
  const lin = linOf(cpu, i);
  const v = readOp(cpu, i, lin, size);
  if (size === 8) {
    const vHi = cpu.hi;
    let lo: number; let hi: number;
    if (dec) { lo = (v - 1) >>> 0; hi = v === 0 ? (vHi - 1) >>> 0 : vHi; }
    else { lo = (v + 1) >>> 0; hi = lo === 0 ? (vHi + 1) >>> 0 : vHi; }
    setLazyIncDec(cpu, dec ? LazyOp.Dec : LazyOp.Inc, 8, lo, hi);
    writeOp(cpu, i, lin, 8, lo, hi);
  } else {
    const r = trunc(dec ? v - 1 : v + 1, size);
    setLazyIncDec(cpu, dec ? LazyOp.Dec : LazyOp.Inc, size, r, 0);
    writeOp(cpu, i, lin, size, r, 0);
  }
}

/** NOT / NEG (F6/F7 /2 /3). */
function notNeg(cpu: Cpu, i: Insn, neg: boolean): void {
  const size = i.opSize;
  const lin = linOf(cpu, i);
  const v = readOp(cpu, i, lin, size);
  if (size === 8) {
    const vHi = cpu.hi;
    if (!neg) { writeOp(cpu, i, lin, 8, ~v >>> 0, ~vHi >>> 0); return; }
    const lo = alu64(cpu, Alu.SUB, 0, 0, v, vHi);
    writeOp(cpu, i, lin, 8, lo, cpu.hi);
  } else {
    if (!neg) { writeOp(cpu, i, lin, size, trunc(~v, size), 0); return; }
    writeOp(cpu, i, lin, size, alu(cpu, Alu.SUB, size, 0, v), 0);
  }
}

/** F6/F7: TEST/NOT/NEG/MUL/IMUL/DIV/IDIV. */
const group3: Handler = (cpu, i) => {
  const e = ext(i);
  if (e < 2) {
    const size = i.opSize;
    const d = readOp(cpu, i, linOf(cpu, i), size);
    test(cpu, size, d, cpu.hi, i.imm, i.immHi);
  } else if (e === 2) notNeg(cpu, i, false);
  else if (e === 3) notNeg(cpu, i, true);
  else mulDivGroup(cpu, i, e);
};

/** FE: INC/DEC r/m8. */
const group4: Handler = (cpu, i) => incDec(cpu, i, 1, ext(i) === 1);

/** 40-4F outside 64-bit mode: INC/DEC r16/r32. */
const incDecReg: Handler = (cpu, i) => {
  const size = i.opSize as 2 | 4;
  const dec = i.op >= 0x48;
  const r = trunc(dec ? cpu.getReg(size, i.rm, 0) - 1 : cpu.getReg(size, i.rm, 0) + 1, size);
  setLazyIncDec(cpu, dec ? LazyOp.Dec : LazyOp.Inc, size, r, 0);
  cpu.setReg(size, i.rm, r, 0);
};

export function registerAluOps(t: OpTable): void {
  for (let op = 0; op < 8; op++) {
    const base = op << 3;
    const eg = makeEG(op); const ge = makeGE(op); const ai = makeAI(op);
    setOp(t, OpMap.Primary, base, eg); setOp(t, OpMap.Primary, base + 1, eg);
    setOp(t, OpMap.Primary, base + 2, ge); setOp(t, OpMap.Primary, base + 3, ge);
    setOp(t, OpMap.Primary, base + 4, ai); setOp(t, OpMap.Primary, base + 5, ai);
  }
  for (let op = 0x80; op <= 0x83; op++) setOp(t, OpMap.Primary, op, group1);
  setOp(t, OpMap.Primary, 0x84, testEG); setOp(t, OpMap.Primary, 0x85, testEG);
  setOp(t, OpMap.Primary, 0xa8, testAI); setOp(t, OpMap.Primary, 0xa9, testAI);
  setOp(t, OpMap.Primary, 0xf6, group3); setOp(t, OpMap.Primary, 0xf7, group3);
  setOp(t, OpMap.Primary, 0xfe, group4);
  for (let op = 0x40; op <= 0x4f; op++) setOp(t, OpMap.Primary, op, incDecReg);
}
