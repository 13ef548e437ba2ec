// FNSTENV/FLDENV/FNSAVE/FRSTOR (SDM Vol. 1 §8.1.10, Figures 8-9..8-12): the x87 environment in
// its 14-byte (16-bit operand size) or 28-byte (32/64-bit) protected-mode layout, and the full
// state (environment + the eight registers as 80-bit values, in stack order).
//
// The real-mode layouts (which split FIP/FDP differently) are not modelled: Linux never uses
// them. FCS/FDS are stored as 0 and the instruction/data pointers are those last restored.

import type { Cpu } from '../insn.js';
import { composeFsw } from './fxsave.js';
import { doubleBitsToF80, f80 } from './f80.js';
import { fprWords, recordedRaw80, writeRaw80 } from './registers.js';
import { abridgeTagWord, fninit, fullTagWord, updateEs } from './stack.js';

/** Environment size in bytes for the operand size. */
export function envSizeBytes(opSize: number): number { return opSize === 2 ? 14 : 28; }

export function fnstenv(cpu: Cpu, lin: number, opSize: number): void {
  const fcw = cpu.fpuControl & 0xffff, fsw = composeFsw(cpu), ftw = fullTagWord(cpu);
  if (opSize === 2) {
    cpu.write16(lin, fcw);
    cpu.write16(lin + 2, fsw);
    cpu.write16(lin + 4, ftw);
    cpu.write16(lin + 6, cpu.fpuLastIp & 0xffff);
    cpu.write16(lin + 8, 0);
    cpu.write16(lin + 10, cpu.fpuLastDp & 0xffff);
    cpu.write16(lin + 12, 0);
    return;
  }
  // The upper halves of the control, status and tag dwords are reserved and read as ones.
  cpu.write32(lin, (fcw | 0xffff0000) >>> 0);
  cpu.write32(lin + 4, (fsw | 0xffff0000) >>> 0);
  cpu.write32(lin + 8, (ftw | 0xffff0000) >>> 0);
  cpu.write32(lin + 12, cpu.fpuLastIp >>> 0);
  cpu.write32(lin + 16, (cpu.fpuLastOpcode & 0x7ff) << 16);
  cpu.write32(lin + 20, cpu.fpuLastDp >>> 0);
  cpu.write32(lin + 24, 0);
}

export function fldenv(cpu: Cpu, lin: number, opSize: number): void {
  let fcw: number, fsw: number, ftw: number, ip: number, dp: number, fop = 0;
  if (opSize === 2) {
    fcw = cpu.read16(lin); fsw = cpu.read16(lin + 2); ftw = cpu.read16(lin + 4);
    ip = cpu.read16(lin + 6); dp = cpu.read16(lin + 10);
  } else {
    fcw = cpu.read16(lin); fsw = cpu.read16(lin + 4); ftw = cpu.read16(lin + 8);
    ip = cpu.read32(lin + 12) >>> 0; fop = (cpu.read32(lin + 16) >>> 16) & 0x7ff; dp = cpu.read32(lin + 20) >>> 0;
  }
  cpu.fpuControl = fcw;
  cpu.fpuTop = (fsw >>> 11) & 7;
  cpu.fpuStatus = fsw & ~0x3800;
  cpu.fpuTagValid = abridgeTagWord(ftw);
  cpu.fpuLastIp = ip;
  cpu.fpuLastDp = dp;
  cpu.fpuLastOpcode = fop;
  updateEs(cpu);
}

/** FNSAVE: environment, registers ST(0)..ST(7) as 80-bit values, then FNINIT. */
export function fnsave(cpu: Cpu, lin: number, opSize: number): void {
  fnstenv(cpu, lin, opSize);
  const base = lin + envSizeBytes(opSize);
  const words = fprWords(cpu);
  for (let i = 0; i < 8; i++) {
    const p = (cpu.fpuTop + i) & 7;
    if (!recordedRaw80(cpu, p)) doubleBitsToF80(words[2 * p]!, words[2 * p + 1]!);
    cpu.write64(base + 10 * i, f80.lo, f80.hi);
    cpu.write16(base + 10 * i + 8, f80.se);
  }
  fninit(cpu);
}

const regScratch = new Uint32Array(16);
const seScratch = new Uint16Array(8);
export function frstor(cpu: Cpu, lin: number, opSize: number): void {
  const base = lin + envSizeBytes(opSize);
  for (let i = 0; i < 8; i++) {
    regScratch[2 * i] = cpu.read64(base + 10 * i);
    regScratch[2 * i + 1] = cpu.hi;
    seScratch[i] = cpu.read16(base + 10 * i + 8);
  }
  fldenv(cpu, lin, opSize);
  for (let i = 0; i < 8; i++) writeRaw80(cpu, (cpu.fpuTop + i) & 7, regScratch[2 * i]!, regScratch[2 * i + 1]!, seScratch[i]!);
}
