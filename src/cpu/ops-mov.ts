// MOV forms, MOVZX/MOVSX/MOVSXD, LEA, XCHG, CMPXCHG, CMPXCHG8B, XADD, CBW family, XLAT,
// LAHF/SAHF (SDM Vol. 2).

import { OpMap, Prefix, type OpTable } from './insn.js';
import type { Cpu } from './cpu.js';
import { Flag } from './state.js';
import { Vector } from './fault.js';
import { computeArithFlags, computeZF, setArithFlags } from './flags.js';
import { type Handler, setOp, readOp, writeOp, linOf, readReg, writeReg, trunc, ext, readMem, writeMem } from './ops-util.js';
import { Alu, alu, alu64 } from './ops-alu.js';

/** Fast path: 32/64-bit register to register (a 32-bit write zero-extends). */
function movRegReg(cpu: Cpu, size: number, d: number, sReg: number): void {
  const g = cpu.gpr;
  g[d << 1] = g[sReg << 1]!;
  g[(d << 1) + 1] = size === 8 ? g[(sReg << 1) + 1]! : 0;
}

const movEG: Handler = (cpu, i) => {
  const size = i.opSize;
  if (!i.hasMem && size >= 4) { movRegReg(cpu, size, i.rm, i.reg); return; }
  const lo = readReg(cpu, i, size);
  writeOp(cpu, i, linOf(cpu, i), size, lo, cpu.hi);
};

const movGE: Handler = (cpu, i) => {
  const size = i.opSize;
  if (!i.hasMem && size >= 4) { movRegReg(cpu, size, i.reg, i.rm); return; }
  const lo = readOp(cpu, i, linOf(cpu, i), size);
  writeReg(cpu, i, size, lo, cpu.hi);
};

const movEI: Handler = (cpu, i) => {
  if (ext(i) !== 0) cpu.fault(Vector.UD);
  const size = i.opSize;
  writeOp(cpu, i, linOf(cpu, i), size, size === 8 ? i.imm : trunc(i.imm, size), i.immHi);
};

/** B0-BF: MOV reg, imm (B8+ with REX.W takes an imm64). */
const movRI: Handler = (cpu, i) => {
  const size = i.opSize;
  if (size === 8) cpu.setReg64(i.rm, i.imm, i.immHi);
  else cpu.setReg(size, i.rm, trunc(i.imm, size), i.rex);
};

/** A0-A3: MOV AL/rAX <-> moffs. */
const movAO: Handler = (cpu, i) => {
  const size = i.opSize;
  const lo = readMem(cpu, cpu.ea(i), size);
  if (size === 8) cpu.setReg64(0, lo, cpu.hi); else cpu.setReg(size, 0, lo, 0);
};
const movOA: Handler = (cpu, i) => {
  const size = i.opSize;
  const lin = cpu.ea(i);
  if (size === 8) { const lo = cpu.getReg64(0); cpu.write64(lin, lo, cpu.hi); }
  else writeMem(cpu, lin, size, cpu.getReg(size, 0, 0), 0);
};

const lea: Handler = (cpu, i) => {
  if (!i.hasMem) cpu.fault(Vector.UD);
  const size = i.opSize;
  let lo: number; let hi = 0;
  if (i.addrSize === 8) { lo = cpu.rawOffset64(i); hi = cpu.eaHi >>> 0; }
  else lo = cpu.offset(i);
  if (size === 8) cpu.setReg64(i.reg, lo, hi);
  else cpu.setReg(size, i.reg, trunc(lo, size), i.rex);
};

/** 0F B6/B7 MOVZX, 0F BE/BF MOVSX. */
function makeMovx(srcSize: 1 | 2, signed: boolean): Handler {
  return (cpu, i) => {
    let v = readOp(cpu, i, linOf(cpu, i), srcSize);
    if (signed) v = srcSize === 1 ? (v << 24) >> 24 : (v << 16) >> 16;
    const size = i.opSize;
    if (size === 8) cpu.setReg64(i.reg, v >>> 0, v < 0 ? 0xffffffff : 0);
    else cpu.setReg(size, i.reg, trunc(v, size), i.rex);
  };
}

/** 63: MOVSXD in 64-bit mode (ARPL elsewhere is a system instruction, left #UD). */
const movsxd: Handler = (cpu, i) => {
  if (cpu.codeBits !== 64) cpu.fault(Vector.UD);
  const v = readOp(cpu, i, linOf(cpu, i), 4);
  if (i.opSize === 8) cpu.setReg64(i.reg, v, (v | 0) < 0 ? 0xffffffff : 0);
  else cpu.setReg(i.opSize, i.reg, trunc(v, i.opSize), i.rex);
};

const xchgEG: Handler = (cpu, i) => {
  const size = i.opSize;
  const lin = linOf(cpu, i);
  const a = readOp(cpu, i, lin, size); const aHi = cpu.hi;
  const b = readReg(cpu, i, size); const bHi = cpu.hi;
  writeOp(cpu, i, lin, size, b, bHi);
  writeReg(cpu, i, size, a, aHi);
};

/** 90-97: XCHG rAX, reg (90 without REX.B is NOP; F3 90 is PAUSE). */
const xchgAR: Handler = (cpu, i) => {
  const r = i.rm;
  if (r === 0) {
    // NOP (no zero-extension of EAX: SDM XCHG "NOP" note); F3 90 is PAUSE.
    if ((i.prefixes & Prefix.REP) !== 0) cpu.pauseHint();
    return;
  }
  const size = i.opSize;
  if (size === 8) {
    const a = cpu.getReg64(0); const aHi = cpu.hi;
    const b = cpu.getReg64(r); const bHi = cpu.hi;
    cpu.setReg64(0, b, bHi); cpu.setReg64(r, a, aHi);
  } else {
    const a = cpu.getReg(size, 0, 0); const b = cpu.getReg(size, r, 0);
    cpu.setReg(size, 0, b, 0); cpu.setReg(size, r, a, 0);
  }
};

/** 0F B0/B1 CMPXCHG r/m, reg: compares with rAX. */
const cmpxchg: Handler = (cpu, i) => {
  const size = i.opSize;
  const lin = linOf(cpu, i);
  const d = readOp(cpu, i, lin, size); const dHi = cpu.hi;
  if (size === 8) {
    const a = cpu.getReg64(0); const aHi = cpu.hi;
    alu64(cpu, Alu.CMP, a, aHi, d, dHi);
    if (a === d && aHi === dHi) { const s = cpu.getReg64(i.reg); writeOp(cpu, i, lin, 8, s, cpu.hi); }
    else { if (i.hasMem) writeOp(cpu, i, lin, 8, d, dHi); cpu.setReg64(0, d, dHi); }
  } else {
    const a = cpu.getReg(size, 0, 0);
    alu(cpu, Alu.CMP, size, a, d);
    if (a === d) writeOp(cpu, i, lin, size, readReg(cpu, i, size), 0);
    else {
      // On failure a memory destination is written back unchanged; a register one is not
      // written at all (its upper half survives in 64-bit mode), while rAX is.
      if (i.hasMem) writeOp(cpu, i, lin, size, d, 0);
      cpu.setReg(size, 0, d, 0);
    }
  }
};

/** 0F C0/C1 XADD r/m, reg. */
const xadd: Handler = (cpu, i) => {
  const size = i.opSize;
  const lin = linOf(cpu, i);
  const d = readOp(cpu, i, lin, size); const dHi = cpu.hi;
  const s = readReg(cpu, i, size); const sHi = cpu.hi;
  if (size === 8) {
    const lo = alu64(cpu, Alu.ADD, d, dHi, s, sHi); const hi = cpu.hi;
    cpu.setReg64(i.reg, d, dHi);
    writeOp(cpu, i, lin, 8, lo, hi);
  } else {
    const r = alu(cpu, Alu.ADD, size, d, s);
    writeReg(cpu, i, size, d, 0);
    writeOp(cpu, i, lin, size, r, 0);
  }
};

/** 0F C7 /1: CMPXCHG8B, and CMPXCHG16B with REX.W (16-byte aligned operand or #GP(0)). */
const group9: Handler = (cpu, i) => {
  if (ext(i) !== 1 || !i.hasMem) cpu.fault(Vector.UD);
  const lin = cpu.ea(i);
  if (i.opSize === 8) { cmpxchg16b(cpu, lin); return; }
  const lo = cpu.read32(lin); const hi = cpu.read32(lin + 4);
  const g = cpu.gpr;
  const f = computeArithFlags(cpu) & ~Flag.ZF;
  if (lo === g[0] && hi === g[4]) {
    cpu.write32(lin, g[6]!); cpu.write32(lin + 4, g[2]!);
    setArithFlags(cpu, f | Flag.ZF);
  } else {
    cpu.write32(lin, lo); cpu.write32(lin + 4, hi);
    cpu.setReg(4, 0, lo, 0); cpu.setReg(4, 2, hi, 0);
    setArithFlags(cpu, f);
  }
};

function cmpxchg16b(cpu: Cpu, lin: number): void {
  if (lin % 16 !== 0) cpu.fault(Vector.GP, 0);
  const g = cpu.gpr;
  const lo = cpu.read64(lin); const loHi = cpu.hi;
  const hi = cpu.read64(lin + 8); const hiHi = cpu.hi;
  const f = computeArithFlags(cpu) & ~Flag.ZF;
  if (lo === g[0] && loHi === g[1] && hi === g[4] && hiHi === g[5]) {
    cpu.write64(lin, g[6]!, g[7]!); cpu.write64(lin + 8, g[2]!, g[3]!);
    setArithFlags(cpu, f | Flag.ZF);
  } else {
    cpu.write64(lin, lo, loHi); cpu.write64(lin + 8, hi, hiHi);
    cpu.setReg64(0, lo, loHi); cpu.setReg64(2, hi, hiHi);
    setArithFlags(cpu, f);
  }
}

/** 98: CBW / CWDE / CDQE. */
const cbw: Handler = (cpu, i) => {
  const g = cpu.gpr;
  if (i.opSize === 2) cpu.setReg(2, 0, ((g[0]! << 24) >> 24) & 0xffff, 0);
  else if (i.opSize === 4) cpu.setReg(4, 0, ((g[0]! << 16) >> 16) >>> 0, 0);
  else cpu.setReg64(0, g[0]!, (g[0]! | 0) < 0 ? 0xffffffff : 0);
};

/** 99: CWD / CDQ / CQO. */
const cwd: Handler = (cpu, i) => {
  const g = cpu.gpr;
  if (i.opSize === 2) cpu.setReg(2, 2, (g[0]! & 0x8000) !== 0 ? 0xffff : 0, 0);
  else if (i.opSize === 4) cpu.setReg(4, 2, (g[0]! | 0) < 0 ? 0xffffffff : 0, 0);
  else { const s = (g[1]! | 0) < 0 ? 0xffffffff : 0; cpu.setReg64(2, s, s); }
};

/** D7: XLAT: AL = [seg:rBX + AL]. */
const xlat: Handler = (cpu, i) => {
  const g = cpu.gpr;
  const al = g[0]! & 0xff;
  let off: number;
  if (i.addrSize === 8) off = (g[7]! | 0) * 4294967296 + g[6]! + al;
  else if (i.addrSize === 4) off = (g[6]! + al) >>> 0;
  else off = (g[6]! + al) & 0xffff;
  const seg = (i.prefixes & Prefix.SEG) !== 0 ? i.seg : 3;
  const lin = cpu.codeBits === 64 ? (seg >= 4 ? off + cpu.seg[seg]!.base : off) : (cpu.seg[seg]!.base + off) >>> 0;
  cpu.setReg(1, 0, cpu.read8(lin), 0);
};

/** 9F LAHF / 9E SAHF (in 64-bit mode they need CPUID LAHF-SAHF; we allow them). */
const lahf: Handler = (cpu) => { cpu.setReg(1, 4, cpu.getRflags() & 0xff, 0); };
const sahf: Handler = (cpu) => {
  const ah = (cpu.gpr[0]! >>> 8) & 0xff;
  const keep = computeArithFlags(cpu) & Flag.OF;
  setArithFlags(cpu, keep | (ah & (Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF)));
};

export function registerMovOps(t: OpTable): void {
  setOp(t, OpMap.Primary, 0x88, movEG); setOp(t, OpMap.Primary, 0x89, movEG);
  setOp(t, OpMap.Primary, 0x8a, movGE); setOp(t, OpMap.Primary, 0x8b, movGE);
  setOp(t, OpMap.Primary, 0xc6, movEI); setOp(t, OpMap.Primary, 0xc7, movEI);
  for (let r = 0; r < 16; r++) setOp(t, OpMap.Primary, 0xb0 + r, movRI);
  setOp(t, OpMap.Primary, 0xa0, movAO); setOp(t, OpMap.Primary, 0xa1, movAO);
  setOp(t, OpMap.Primary, 0xa2, movOA); setOp(t, OpMap.Primary, 0xa3, movOA);
  setOp(t, OpMap.Primary, 0x8d, lea);
  setOp(t, OpMap.M0F, 0xb6, makeMovx(1, false)); setOp(t, OpMap.M0F, 0xb7, makeMovx(2, false));
  setOp(t, OpMap.M0F, 0xbe, makeMovx(1, true)); setOp(t, OpMap.M0F, 0xbf, makeMovx(2, true));
  setOp(t, OpMap.Primary, 0x63, movsxd);
  setOp(t, OpMap.Primary, 0x86, xchgEG); setOp(t, OpMap.Primary, 0x87, xchgEG);
  for (let r = 0; r < 8; r++) setOp(t, OpMap.Primary, 0x90 + r, xchgAR);
  setOp(t, OpMap.M0F, 0xb0, cmpxchg); setOp(t, OpMap.M0F, 0xb1, cmpxchg);
  setOp(t, OpMap.M0F, 0xc0, xadd); setOp(t, OpMap.M0F, 0xc1, xadd);
  setOp(t, OpMap.M0F, 0xc7, group9);
  setOp(t, OpMap.Primary, 0x98, cbw); setOp(t, OpMap.Primary, 0x99, cwd);
  setOp(t, OpMap.Primary, 0xd7, xlat);
  setOp(t, OpMap.Primary, 0x9f, lahf); setOp(t, OpMap.Primary, 0x9e, sahf);
}

export { computeZF };
