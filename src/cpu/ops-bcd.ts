// Legacy-mode-only integer instructions: BCD adjustments DAA/DAS/AAA/AAS/AAM/AAD, SALC and
// BOUND (SDM Vol. 2 Operation sections); invalid in 64-bit mode (the decoder marks them so).

import { OpMap, type OpTable } from './insn.js';
import type { Cpu } from './cpu.js';
import { Flag } from './state.js';
import { Vector } from './fault.js';
import { PARITY, computeArithFlags, setArithFlags } from './flags.js';
import { type Handler, setOp } from './ops-util.js';

function szp(v: number): number {
  return PARITY[v & 0xff]! | ((v & 0xff) === 0 ? Flag.ZF : 0) | (v & 0x80 ? Flag.SF : 0);
}

function al(cpu: Cpu): number { return cpu.gpr[0]! & 0xff; }
function setAl(cpu: Cpu, v: number): void { cpu.setReg(1, 0, v, 0); }

const daa: Handler = (cpu) => {
  const f = computeArithFlags(cpu);
  const oldAl = al(cpu); const oldCf = (f & Flag.CF) !== 0;
  let a = oldAl; let cf = false; let af = false;
  if ((a & 0xf) > 9 || (f & Flag.AF) !== 0) { cf = oldCf || a + 6 > 0xff; a = (a + 6) & 0xff; af = true; }
  if (oldAl > 0x99 || oldCf) { a = (a + 0x60) & 0xff; cf = true; } else cf = false;
  setAl(cpu, a);
  setArithFlags(cpu, szp(a) | (cf ? Flag.CF : 0) | (af ? Flag.AF : 0));
};

const das: Handler = (cpu) => {
  const f = computeArithFlags(cpu);
  const oldAl = al(cpu); const oldCf = (f & Flag.CF) !== 0;
  let a = oldAl; let cf = false; let af = false;
  if ((a & 0xf) > 9 || (f & Flag.AF) !== 0) { cf = oldCf || a < 6; a = (a - 6) & 0xff; af = true; }
  if (oldAl > 0x99 || oldCf) { a = (a - 0x60) & 0xff; cf = true; }
  setAl(cpu, a);
  setArithFlags(cpu, szp(a) | (cf ? Flag.CF : 0) | (af ? Flag.AF : 0));
};

const aaa: Handler = (cpu) => {
  const f = computeArithFlags(cpu);
  let ax = cpu.gpr[0]! & 0xffff;
  let adj = false;
  if ((ax & 0xf) > 9 || (f & Flag.AF) !== 0) { ax = (ax + 0x106) & 0xffff; adj = true; }
  ax &= 0xff0f;
  cpu.setReg(2, 0, ax, 0);
  setArithFlags(cpu, szp(ax) | (adj ? Flag.CF | Flag.AF : 0));
};

const aas: Handler = (cpu) => {
  const f = computeArithFlags(cpu);
  let ax = cpu.gpr[0]! & 0xffff;
  let adj = false;
  if ((ax & 0xf) > 9 || (f & Flag.AF) !== 0) {
    const lo = ((ax & 0xff) - 6) & 0xff; const hi = ((ax >>> 8) - 1 - ((ax & 0xff) < 6 ? 1 : 0)) & 0xff;
    ax = (hi << 8) | lo; adj = true;
  }
  ax &= 0xff0f;
  cpu.setReg(2, 0, ax, 0);
  setArithFlags(cpu, szp(ax) | (adj ? Flag.CF | Flag.AF : 0));
};

const aam: Handler = (cpu, i) => {
  const base = i.imm & 0xff;
  if (base === 0) cpu.fault(Vector.DE);
  const a = al(cpu);
  const r = a % base;
  cpu.setReg(2, 0, (Math.floor(a / base) << 8) | r, 0);
  setArithFlags(cpu, szp(r));
};

const aad: Handler = (cpu, i) => {
  const ax = cpu.gpr[0]! & 0xffff;
  const r = ((ax & 0xff) + (ax >>> 8) * (i.imm & 0xff)) & 0xff;
  cpu.setReg(2, 0, r, 0);
  setArithFlags(cpu, szp(r));
};

/** D6: SALC (undocumented, legacy modes): AL = CF ? 0xff : 0. */
const salc: Handler = (cpu) => setAl(cpu, cpu.getCF() ? 0xff : 0);

/** 62: BOUND r, m (legacy modes): #BR unless lower <= index <= upper, signed (SDM BOUND). */
const bound: Handler = (cpu, i) => {
  if (!i.hasMem) cpu.fault(Vector.UD);
  const lin = cpu.ea(i);
  let idx: number; let lo: number; let hi: number;
  if (i.opSize === 2) {
    idx = (cpu.getReg(2, i.reg, 0) << 16) >> 16;
    lo = (cpu.read16(lin) << 16) >> 16; hi = (cpu.read16(lin + 2) << 16) >> 16;
  } else {
    idx = cpu.getReg(4, i.reg, 0) | 0;
    lo = cpu.read32(lin) | 0; hi = cpu.read32(lin + 4) | 0;
  }
  if (idx < lo || idx > hi) cpu.fault(Vector.BR);
};

export function registerBcdOps(t: OpTable): void {
  setOp(t, OpMap.Primary, 0xd6, salc);
  setOp(t, OpMap.Primary, 0x62, bound);
  setOp(t, OpMap.Primary, 0x27, daa); setOp(t, OpMap.Primary, 0x2f, das);
  setOp(t, OpMap.Primary, 0x37, aaa); setOp(t, OpMap.Primary, 0x3f, aas);
  setOp(t, OpMap.Primary, 0xd4, aam); setOp(t, OpMap.Primary, 0xd5, aad);
}
