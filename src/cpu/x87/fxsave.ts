// FXSAVE / FXRSTOR (0F AE /0, /1; SDM Vol. 2 FXSAVE, Vol. 1 §10.5.1 Table 10-2): the 512-byte
// image of the x87, MMX and SSE state that Linux uses for every context switch of a task that
// touched the FPU.
//
// Layout (offsets in bytes):
//   0 FCW, 2 FSW, 4 abridged FTW, 6 FOP,
//   8 FPU IP (64-bit form: 8 bytes; otherwise 4 bytes + FCS at 12),
//  16 FPU DP (64-bit form: 8 bytes; otherwise 4 bytes + FDS at 20),
//  24 MXCSR, 28 MXCSR_MASK, 32 + 16*i ST(i) as 80-bit (in stack order), 160 + 16*i XMMi.
// Outside 64-bit mode only XMM0..7 are saved. Bytes 416..511 are left to software.

import { Vector } from '../fault.js';
import type { Cpu } from '../insn.js';
import { Cr0, CpuMode } from '../state.js';
import { MXCSR_MASK } from '../sse/mxcsr.js';
import { doubleBitsToF80, f80 } from './f80.js';
import { fprWords, recordedRaw80, writeRaw80 } from './registers.js';

export { fprWords };

export const FXSAVE_SIZE_BYTES = 512;

/** #NM when CR0.EM or CR0.TS is set, #GP(0) when the area is not 16-byte aligned. */
function fxCheck(cpu: Cpu, lin: number): void {
  if ((cpu.cr0 & (Cr0.EM | Cr0.TS)) !== 0) cpu.fault(Vector.NM);
  if ((lin & 15) !== 0) cpu.fault(Vector.GP, 0);
}

/** FSW with the current TOP in bits 11..13. */
export function composeFsw(cpu: Cpu): number {
  return ((cpu.fpuStatus & ~0x3800) | ((cpu.fpuTop & 7) << 11)) & 0xffff;
}

/** FXSAVE / FXSAVE64 to linear address lin. */
export function fxsave(cpu: Cpu, lin: number, rexW: boolean): void {
  fxCheck(cpu, lin);
  // Write the last byte first so a fault on the far page happens before anything is stored.
  cpu.write8(lin + 511, cpu.read8(lin + 511));
  const words = fprWords(cpu);
  cpu.write16(lin, cpu.fpuControl & 0xffff);
  cpu.write16(lin + 2, composeFsw(cpu));
  cpu.write16(lin + 4, cpu.fpuTagValid & 0xff);
  cpu.write16(lin + 6, cpu.fpuLastOpcode & 0x7ff);
  const ip = cpu.fpuLastIp, dp = cpu.fpuLastDp;
  if (rexW) {
    cpu.write64(lin + 8, ip >>> 0, Math.floor(ip / 4294967296) >>> 0);
    cpu.write64(lin + 16, dp >>> 0, Math.floor(dp / 4294967296) >>> 0);
  } else {
    cpu.write64(lin + 8, ip >>> 0, 0); // FCS (and the reserved word) as 0
    cpu.write64(lin + 16, dp >>> 0, 0); // FDS as 0
  }
  cpu.write32(lin + 24, cpu.mxcsr);
  cpu.write32(lin + 28, MXCSR_MASK);
  for (let i = 0; i < 8; i++) {
    const phys = (cpu.fpuTop + i) & 7;
    if (!recordedRaw80(cpu, phys)) doubleBitsToF80(words[2 * phys]!, words[2 * phys + 1]!);
    const a = lin + 32 + 16 * i;
    cpu.write64(a, f80.lo, f80.hi);
    cpu.write64(a + 8, f80.se, 0);
  }
  const nXmm = cpu.mode === CpuMode.Long64 ? 16 : 8;
  const x = cpu.xmm;
  for (let r = 0; r < nXmm; r++) {
    const a = lin + 160 + 16 * r, o = r << 2;
    cpu.write64(a, x[o]!, x[o + 1]!);
    cpu.write64(a + 8, x[o + 2]!, x[o + 3]!);
  }
}

/** Scratch for FXRSTOR, so that nothing is committed before every read has succeeded. */
const stRaw = new Uint32Array(16);
const stSe = new Uint16Array(8);
const xmmScratch = new Uint32Array(64);

/** FXRSTOR / FXRSTOR64 from linear address lin. */
export function fxrstor(cpu: Cpu, lin: number, rexW: boolean): void {
  fxCheck(cpu, lin);
  const mxcsr = cpu.read32(lin + 24) >>> 0;
  if ((mxcsr & ~MXCSR_MASK) !== 0) cpu.fault(Vector.GP, 0);
  const fcw = cpu.read16(lin);
  const fsw = cpu.read16(lin + 2);
  const ftw = cpu.read8(lin + 4);
  const fop = cpu.read16(lin + 6);
  let ip: number, dp: number;
  if (rexW) {
    const ipLo = cpu.read64(lin + 8) >>> 0; ip = (cpu.hi | 0) * 4294967296 + ipLo;
    const dpLo = cpu.read64(lin + 16) >>> 0; dp = (cpu.hi | 0) * 4294967296 + dpLo;
  } else {
    ip = cpu.read32(lin + 8) >>> 0;
    dp = cpu.read32(lin + 16) >>> 0;
  }
  for (let i = 0; i < 8; i++) {
    const a = lin + 32 + 16 * i;
    const lo = cpu.read64(a);
    const hi = cpu.hi;
    stRaw[2 * i] = lo;
    stRaw[2 * i + 1] = hi;
    stSe[i] = cpu.read16(a + 8);
  }
  const nXmm = cpu.mode === CpuMode.Long64 ? 16 : 8;
  const xmm = xmmScratch;
  for (let r = 0; r < nXmm; r++) {
    const a = lin + 160 + 16 * r;
    xmm[4 * r] = cpu.read64(a); xmm[4 * r + 1] = cpu.hi;
    xmm[4 * r + 2] = cpu.read64(a + 8); xmm[4 * r + 3] = cpu.hi;
  }
  // All reads done without a fault: commit.
  cpu.fpuControl = fcw & 0xffff;
  cpu.fpuTop = (fsw >>> 11) & 7;
  cpu.fpuStatus = fsw & ~0x3800 & 0xffff;
  cpu.fpuTagValid = ftw & 0xff;
  cpu.fpuLastOpcode = fop & 0x7ff;
  cpu.fpuLastIp = ip;
  cpu.fpuLastDp = dp;
  cpu.mxcsr = mxcsr;
  for (let i = 0; i < 8; i++) writeRaw80(cpu, (cpu.fpuTop + i) & 7, stRaw[2 * i]!, stRaw[2 * i + 1]!, stSe[i]!);
  for (let k = 0; k < nXmm * 4; k++) cpu.xmm[k] = xmm[k]!;
}
