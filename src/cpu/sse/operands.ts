// Operand plumbing shared by the SSE handlers: the availability checks every SSE instruction
// makes first, moving XMM registers and 128/64/32-bit memory operands in and out of the scratch
// registers of simd-int.ts, and committing MXCSR exception flags.

import { Vector } from '../fault.js';
import type { Cpu, Insn } from '../insn.js';
import { Cr0, Cr4 } from '../state.js';
import { A32, B32 } from './simd-int.js';
import { MXCSR_FLAGS, MXCSR_MASKS_SHIFT } from './mxcsr.js';
import { env, loadEnv } from './softfloat.js';

/**
 * SDM Vol. 2 §2.4 / Vol. 3A §13.1: CR0.EM set or CR4.OSFXSR clear makes SSE instructions #UD;
 * CR0.TS set makes them #NM (lazy FPU switching).
 */
export function sseCheck(cpu: Cpu): void {
  if (((cpu.cr0 & (Cr0.EM | Cr0.TS)) | (~cpu.cr4 & Cr4.OSFXSR)) === 0) return;
  if ((cpu.cr0 & Cr0.EM) !== 0 || (cpu.cr4 & Cr4.OSFXSR) === 0) cpu.fault(Vector.UD);
  cpu.fault(Vector.NM);
}

/** sseCheck plus loading the MXCSR environment for floating-point work. */
export function sseFpBegin(cpu: Cpu): void {
  sseCheck(cpu);
  loadEnv(cpu.mxcsr);
}

/**
 * Merges the exceptions the instruction raised into MXCSR. An unmasked one raises #XM (or #UD
 * when CR4.OSXMMEXCPT is clear) before the destination is written (SDM Vol. 1 §11.5.3).
 */
export function sseFpEnd(cpu: Cpu): void {
  const f = env.flags;
  if (f === 0) return;
  cpu.mxcsr |= f;
  if ((f & ~(cpu.mxcsr >>> MXCSR_MASKS_SHIFT) & MXCSR_FLAGS) !== 0) {
    cpu.fault((cpu.cr4 & Cr4.OSXMMEXCPT) !== 0 ? Vector.XM : Vector.UD);
  }
}

/**
 * #GP(0) for a misaligned 16-byte memory operand: legacy-SSE packed forms require alignment except
 * the explicitly unaligned moves (SDM Vol. 1 §10.4.1.1, Vol. 2 MOVUPS/MOVDQU).
 */
export function checkAlign16(cpu: Cpu, lin: number): void {
  if ((lin & 15) !== 0) cpu.fault(Vector.GP, 0);
}

export function loadA(cpu: Cpu, reg: number): void {
  const x = cpu.xmm, o = reg << 2;
  A32[0] = x[o]!; A32[1] = x[o + 1]!; A32[2] = x[o + 2]!; A32[3] = x[o + 3]!;
}
export function storeA(cpu: Cpu, reg: number): void {
  const x = cpu.xmm, o = reg << 2;
  x[o] = A32[0]!; x[o + 1] = A32[1]!; x[o + 2] = A32[2]!; x[o + 3] = A32[3]!;
}
export function loadBReg(cpu: Cpu, reg: number): void {
  const x = cpu.xmm, o = reg << 2;
  B32[0] = x[o]!; B32[1] = x[o + 1]!; B32[2] = x[o + 2]!; B32[3] = x[o + 3]!;
}
export function read128(cpu: Cpu, lin: number): void {
  B32[0] = cpu.read64(lin);
  B32[1] = cpu.hi;
  B32[2] = cpu.read64(lin + 8);
  B32[3] = cpu.hi;
}
/** The 128-bit source operand into B; `aligned` demands 16-byte alignment of memory. */
export function loadB(cpu: Cpu, i: Insn, aligned: boolean): void {
  if (i.mod === 3) { loadBReg(cpu, i.rm); return; }
  const lin = cpu.ea(i);
  if (aligned) checkAlign16(cpu, lin);
  read128(cpu, lin);
}
/** Scalar 64-bit source into B32[0..1] (upper lanes of B left as they are). */
export function loadB64(cpu: Cpu, i: Insn): void {
  if (i.mod === 3) { const o = i.rm << 2; B32[0] = cpu.xmm[o]!; B32[1] = cpu.xmm[o + 1]!; return; }
  B32[0] = cpu.read64(cpu.ea(i));
  B32[1] = cpu.hi;
}
export function loadB32(cpu: Cpu, i: Insn): void {
  if (i.mod === 3) { B32[0] = cpu.xmm[i.rm << 2]!; return; }
  B32[0] = cpu.read32(cpu.ea(i));
}
/** Writes XMM register `reg` to 16 bytes at lin. */
export function write128(cpu: Cpu, lin: number, reg: number): void {
  const x = cpu.xmm, o = reg << 2;
  // Probe the last byte first so a page fault on the second half leaves memory untouched.
  cpu.write64(lin + 8, x[o + 2]!, x[o + 3]!);
  cpu.write64(lin, x[o]!, x[o + 1]!);
}

/** REX.W: the 64-bit GPR forms of MOVD/CVTSI2SD/CVTSD2SI/... */
export function rexW(i: Insn): boolean { return (i.rex & 8) !== 0; }

/** A 32- or 64-bit integer source (GPR or memory) into lo/hi via cpu.hi. */
export function readGprOrMem(cpu: Cpu, i: Insn, is64: boolean): number {
  if (i.mod === 3) {
    if (is64) return cpu.getReg64(i.rm);
    cpu.hi = 0;
    return cpu.getReg(4, i.rm, i.rex) >>> 0;
  }
  const lin = cpu.ea(i);
  if (is64) return cpu.read64(lin);
  cpu.hi = 0;
  return cpu.read32(lin) >>> 0;
}
/** Writes a 32-bit result to a GPR, zero-extended as 32-bit operations do in 64-bit mode. */
export function setGpr32(cpu: Cpu, idx: number, value: number): void {
  cpu.setReg64(idx, value >>> 0, 0);
}
