// PUSH/POP, PUSHF/POPF, PUSHA/POPA, ENTER/LEAVE (SDM Vol. 2).

import { OpMap, type OpTable } from './insn.js';
import type { Cpu } from './cpu.js';
import { CpuMode, Flag } from './state.js';
import { Vector } from './fault.js';
import { type Handler, setOp, readOp, writeOp, linOf, ext } from './ops-util.js';

/** 50-57: PUSH reg. */
const pushR: Handler = (cpu, i) => {
  const size = i.opSize as 2 | 4 | 8;
  const g = cpu.gpr; const k = i.rm << 1;
  cpu.push(size, size === 2 ? g[k]! & 0xffff : g[k]!, g[k + 1]!);
};

/** 58-5F: POP reg. */
const popR: Handler = (cpu, i) => {
  const size = i.opSize as 2 | 4 | 8;
  const v = cpu.pop(size);
  if (size === 8) cpu.setReg64(i.rm, v, cpu.hi); else cpu.setReg(size, i.rm, v, 0);
};

/** 68/6A: PUSH imm (sign-extended to the operand size). */
const pushI: Handler = (cpu, i) => {
  const size = i.opSize as 2 | 4 | 8;
  cpu.push(size, size === 2 ? i.imm & 0xffff : i.imm, i.immHi);
};

/** 8F /0: POP r/m. The address is computed after rSP is incremented (SDM POP). */
const popE: Handler = (cpu, i) => {
  if (ext(i) !== 0) cpu.fault(Vector.UD);
  const size = i.opSize as 2 | 4 | 8;
  const g = cpu.gpr; const spLo = g[8]!; const spHi = g[9]!;
  const v = cpu.pop(size); const hi = cpu.hi;
  try {
    writeOp(cpu, i, linOf(cpu, i), size, v, hi);
  } catch (e) {
    g[8] = spLo; g[9] = spHi;
    throw e;
  }
};

/** FF /6: PUSH r/m. */
export function pushE(cpu: Cpu, i: import('./insn.js').Insn): void {
  const size = i.opSize as 2 | 4 | 8;
  const v = readOp(cpu, i, linOf(cpu, i), size);
  cpu.push(size, v, size === 8 ? cpu.hi : 0);
}

/** 9C: PUSHF. The image has VM and RF clear (SDM PUSHF). */
const pushf: Handler = (cpu, i) => {
  if (cpu.mode === CpuMode.Virtual8086 && (cpu.flagsRest & Flag.IOPL) !== Flag.IOPL) cpu.fault(Vector.GP, 0);
  const f = cpu.getRflags() & ~(Flag.VM | Flag.RF);
  const size = i.opSize as 2 | 4 | 8;
  cpu.push(size, size === 2 ? f & 0xffff : f, 0);
};

/** Flags POPF may write at all (non-reserved bits). */
const POPF_BITS = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.TF | Flag.IF | Flag.DF | Flag.OF |
  Flag.IOPL | Flag.NT | Flag.AC | Flag.ID;

/** 9D: POPF with the IOPL/CPL rules of SDM POPF. */
const popf: Handler = (cpu, i) => {
  const size = i.opSize as 2 | 4 | 8;
  const iopl = (cpu.flagsRest & Flag.IOPL) >>> 12;
  if (cpu.mode === CpuMode.Virtual8086 && iopl !== 3) cpu.fault(Vector.GP, 0);
  const v = cpu.pop(size);
  let mask = POPF_BITS;
  if (cpu.mode === CpuMode.Virtual8086) mask &= ~Flag.IOPL;
  else if (cpu.cpl > 0) {
    mask &= ~Flag.IOPL;
    if (cpu.cpl > iopl) mask &= ~Flag.IF;
  }
  if (size === 2) mask &= 0xffff;
  else mask |= Flag.RF; // RF is cleared by 32/64-bit POPF
  cpu.setRflags(v & ~Flag.RF, mask);
  cpu.blockExit = true; // IF or TF may have changed
};

/** 60: PUSHA/PUSHAD (legacy modes). */
const pusha: Handler = (cpu, i) => {
  const size = i.opSize as 2 | 4;
  const g = cpu.gpr;
  const sp = g[8]!;
  for (let r = 0; r < 8; r++) {
    const v = r === 4 ? sp : g[r << 1]!;
    cpu.push(size, size === 2 ? v & 0xffff : v, 0);
  }
};

/** 61: POPA/POPAD: the stored rSP is skipped. */
const popa: Handler = (cpu, i) => {
  const size = i.opSize as 2 | 4;
  for (let r = 7; r >= 0; r--) {
    const v = cpu.pop(size);
    if (r !== 4) cpu.setReg(size, r, v, 0);
  }
};

/** C8: ENTER imm16, imm8 (SDM ENTER pseudo-code). */
const enter: Handler = (cpu, i) => {
  const size = i.opSize as 2 | 4 | 8;
  const level = i.imm2 & 31;
  const g = cpu.gpr;
  cpu.push(size, size === 2 ? g[10]! & 0xffff : g[10]!, g[11]!);
  const ftLo = g[8]!; const ftHi = g[9]!;
  if (level > 0) {
    for (let k = 1; k < level; k++) {
      // rBP -= size; push [rBP]
      const bpDelta = -k * size;
      const ss = cpu.seg[2]!;
      let lin: number;
      if (cpu.stackSize === 8) lin = (g[11]! | 0) * 4294967296 + g[10]! + bpDelta;
      else if (cpu.stackSize === 4) lin = (ss.base + ((g[10]! + bpDelta) >>> 0)) >>> 0;
      else lin = (ss.base + ((g[10]! + bpDelta) & 0xffff)) >>> 0;
      const v = size === 8 ? cpu.read64(lin) : size === 4 ? cpu.read32(lin) : cpu.read16(lin);
      cpu.push(size, v, size === 8 ? cpu.hi : 0);
    }
    cpu.push(size, size === 2 ? ftLo & 0xffff : ftLo, ftHi);
  }
  // rBP = frame temp (stack-size wide), rSP -= imm16
  if (cpu.stackSize === 8) { g[10] = ftLo; g[11] = ftHi; }
  else if (cpu.stackSize === 4) { if (size === 2) g[10] = (g[10]! & 0xffff0000) | (ftLo & 0xffff); else { g[10] = ftLo; g[11] = 0; } }
  else g[10] = (g[10]! & 0xffff0000) | (ftLo & 0xffff);
  cpu.adjustSp(-(i.imm & 0xffff));
};

/** C9: LEAVE: rSP = rBP; pop rBP. */
const leave: Handler = (cpu, i) => {
  const g = cpu.gpr;
  const spLo = g[8]!; const spHi = g[9]!;
  if (cpu.stackSize === 8) { g[8] = g[10]!; g[9] = g[11]!; }
  else if (cpu.stackSize === 4) g[8] = g[10]!;
  else g[8] = (g[8]! & 0xffff0000) | (g[10]! & 0xffff);
  const size = i.opSize as 2 | 4 | 8;
  let v: number;
  try { v = cpu.pop(size); } catch (e) { g[8] = spLo; g[9] = spHi; throw e; }
  if (size === 8) cpu.setReg64(5, v, cpu.hi); else cpu.setReg(size, 5, v, 0);
};

export function registerStackOps(t: OpTable): void {
  for (let r = 0; r < 8; r++) { setOp(t, OpMap.Primary, 0x50 + r, pushR); setOp(t, OpMap.Primary, 0x58 + r, popR); }
  setOp(t, OpMap.Primary, 0x68, pushI); setOp(t, OpMap.Primary, 0x6a, pushI);
  setOp(t, OpMap.Primary, 0x8f, popE);
  setOp(t, OpMap.Primary, 0x9c, pushf); setOp(t, OpMap.Primary, 0x9d, popf);
  setOp(t, OpMap.Primary, 0x60, pusha); setOp(t, OpMap.Primary, 0x61, popa);
  setOp(t, OpMap.Primary, 0xc8, enter); setOp(t, OpMap.Primary, 0xc9, leave);
}
