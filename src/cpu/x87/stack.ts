// The x87 register stack and status/control words (SDM Vol. 1 ch. 8) over the fields of CpuState:
// fpr[] holds physical registers R0..R7 as doubles, fpuTop the TOP field, fpuTagValid one bit per
// physical register (set = not empty), fpuStatus the FSW without TOP, fpuControl the FCW.
//
// Precision: CpuState keeps the registers as doubles, and each register can also carry an exact
// 80-bit image (registers.ts) valid while the double is unchanged. Arithmetic on finite operands
// works on the images with a 64-bit significand and 15-bit exponent (ext80.ts), rounded under
// FCW.PC and FCW.RC like the hardware, and stores/FIST/compares read the images, so results are
// bit-exact at every precision control. The double is the image rounded to nearest: code that
// reads fpr[] directly sees long double values rounded. Transcendental instructions (FSIN, FPTAN,
// F2XM1, FYL2X...) compute in double precision and are not bit-exact.

import { Vector } from '../fault.js';
import type { Cpu } from '../insn.js';
import { Cr0 } from '../state.js';
import { f80 } from './f80.js';
import { fprWords, imageOf, invalidateRecord } from './registers.js';

/** FSW bits (SDM Vol. 1 Figure 8-4). */
export const FSW_IE = 1 << 0, FSW_DE = 1 << 1, FSW_ZE = 1 << 2, FSW_OE = 1 << 3, FSW_UE = 1 << 4, FSW_PE = 1 << 5;
export const FSW_SF = 1 << 6, FSW_ES = 1 << 7, FSW_C0 = 1 << 8, FSW_C1 = 1 << 9, FSW_C2 = 1 << 10, FSW_C3 = 1 << 14, FSW_B = 1 << 15;
export const FSW_CC = FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3;
/** FCW after FNINIT: all exceptions masked, 64-bit precision, round to nearest (SDM Vol. 1 §8.1.5). */
export const FCW_DEFAULT = 0x037f;

/** Checks of every x87 instruction: #NM when CR0.EM or CR0.TS is set (SDM Vol. 3A §2.5). */
export function x87CheckNm(cpu: Cpu): void {
  if ((cpu.cr0 & (Cr0.EM | Cr0.TS)) !== 0) cpu.fault(Vector.NM);
}
/** Waiting instructions also deliver a pending unmasked exception as #MF (SDM Vol. 1 §8.7). */
export function x87Begin(cpu: Cpu): void {
  if ((cpu.cr0 & (Cr0.EM | Cr0.TS)) !== 0) cpu.fault(Vector.NM);
  if ((cpu.fpuStatus & FSW_ES) !== 0 && (cpu.cr0 & Cr0.NE) !== 0) cpu.fault(Vector.MF);
}

/** Records exception flags; an unmasked one sets ES and B (delivered by the next waiting op). */
export function raise(cpu: Cpu, flags: number): void {
  cpu.fpuStatus |= flags;
  updateEs(cpu);
}
/** Recomputes ES/B from the flags and masks (after FLDCW/FLDENV/FRSTOR). */
export function updateEs(cpu: Cpu): void {
  if ((cpu.fpuStatus & ~cpu.fpuControl & 0x3f) !== 0) cpu.fpuStatus |= FSW_ES | FSW_B;
  else cpu.fpuStatus &= ~(FSW_ES | FSW_B);
}

export function phys(cpu: Cpu, i: number): number { return (cpu.fpuTop + i) & 7; }
export function isEmpty(cpu: Cpu, i: number): boolean { return ((cpu.fpuTagValid >>> phys(cpu, i)) & 1) === 0; }

/** Writes NaN as the x87 "real indefinite" pattern so stores show hardware's NaN. */
export function setPhys(cpu: Cpu, p: number, v: number): void {
  invalidateRecord(cpu, p);
  if (v !== v) {
    const w = fprWords(cpu);
    w[2 * p] = 0;
    w[2 * p + 1] = 0xfff80000;
  } else {
    cpu.fpr[p] = v;
  }
  cpu.fpuTagValid |= 1 << p;
}
/** ST(i) value; an empty register is a stack underflow (IE|SF, C1=0) read as the indefinite NaN. */
export function st(cpu: Cpu, i: number): number {
  const p = phys(cpu, i);
  if (((cpu.fpuTagValid >>> p) & 1) === 0) {
    cpu.fpuStatus &= ~FSW_C1;
    raise(cpu, FSW_IE | FSW_SF);
    return NaN;
  }
  return cpu.fpr[p]!;
}
export function setSt(cpu: Cpu, i: number, v: number): void { setPhys(cpu, phys(cpu, i), v); }

/** Pushes v; a full slot is a stack overflow (IE|SF, C1=1) and loads the indefinite NaN. */
export function push(cpu: Cpu, v: number): void {
  const top = (cpu.fpuTop - 1) & 7;
  cpu.fpuTop = top;
  if (((cpu.fpuTagValid >>> top) & 1) !== 0) {
    cpu.fpuStatus |= FSW_C1;
    raise(cpu, FSW_IE | FSW_SF);
    v = NaN;
  }
  setPhys(cpu, top, v);
}
/** Pushes raw double bits (loads that keep NaN payloads). */
export function pushBits(cpu: Cpu, lo: number, hi: number): void {
  const top = (cpu.fpuTop - 1) & 7;
  cpu.fpuTop = top;
  if (((cpu.fpuTagValid >>> top) & 1) !== 0) {
    cpu.fpuStatus |= FSW_C1;
    raise(cpu, FSW_IE | FSW_SF);
    lo = 0; hi = 0xfff80000;
  }
  const w = fprWords(cpu);
  w[2 * top] = lo;
  w[2 * top + 1] = hi;
  invalidateRecord(cpu, top);
  cpu.fpuTagValid |= 1 << top;
}
export function pop(cpu: Cpu): void {
  cpu.fpuTagValid &= ~(1 << cpu.fpuTop);
  cpu.fpuTop = (cpu.fpuTop + 1) & 7;
}

/**
 * Full 16-bit tag word for FNSTENV/FNSAVE (SDM Vol. 1 Figure 8-7): 00 valid, 01 zero,
 * 10 special (NaN, infinity), 11 empty, for physical registers R0..R7.
 */
export function fullTagWord(cpu: Cpu): number {
  let tw = 0;
  for (let p = 0; p < 8; p++) {
    let t = 3;
    if (((cpu.fpuTagValid >>> p) & 1) !== 0) {
      imageOf(cpu, p);
      const e = f80.se & 0x7fff;
      if (e === 0) t = (f80.lo | f80.hi) === 0 ? 1 : 2; // zero, or denormal (special)
      else t = e === 0x7fff || (f80.hi & 0x80000000) === 0 ? 2 : 0; // NaN/infinity/unnormal, or valid
    }
    tw |= t << (2 * p);
  }
  return tw;
}
/** Abridged tag from a full one: a register is valid unless its tag is 11. */
export function abridgeTagWord(tw: number): number {
  let a = 0;
  for (let p = 0; p < 8; p++) if (((tw >>> (2 * p)) & 3) !== 3) a |= 1 << p;
  return a;
}

export function fninit(cpu: Cpu): void {
  cpu.fpuControl = FCW_DEFAULT;
  cpu.fpuStatus = 0;
  cpu.fpuTop = 0;
  cpu.fpuTagValid = 0;
  cpu.fpuLastOpcode = 0;
  cpu.fpuLastIp = 0;
  cpu.fpuLastDp = 0;
}
