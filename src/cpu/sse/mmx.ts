// MMX (SDM Vol. 1 ch. 9): the integer SIMD instructions on the 64-bit registers MM0..MM7, without
// prefix in the 0F map, plus the SSE/SSE2 additions that take MM operands (PSHUFW, PINSRW/PEXTRW,
// PMOVMSKB, MOVNTQ, MASKMOVQ, PADDQ/PSUBQ/PMULUDQ, CVT*PI*, MOVQ2DQ/MOVDQ2Q). glibc counts MMX in
// its x86-64 baseline ISA level, so CPUID may announce it.
//
// MMi aliases the significand of x87 physical register Ri; an MMX write sets its exponent and sign
// to all ones, TOP to 0 and every tag to valid (§9.5.1). The x87 registers are doubles here, which
// cannot hold 64 arbitrary bits, so the MMX values live beside them (mmx-state in this file) and
// are valid while the register still holds the double this file put there; FXSAVE/FXRSTOR use the
// same record to save and restore MMX values exactly.

import { Vector } from '../fault.js';
import { OpMap, type Cpu, type Insn, type OpTable } from '../insn.js';
import { Cr0 } from '../state.js';
import { mmVal, readMm, writeRaw80 } from '../x87/registers.js';
import { loadB, loadB64, readGprOrMem, rexW, setGpr32, sseFpBegin, sseFpEnd } from './operands.js';
import * as S from './simd-int.js';
import { f32ToInt, f64ToInt, i32ToF32, i32ToF64, out } from './softfloat.js';

function writeMm(cpu: Cpu, i: number, lo: number, hi: number): void {
  writeRaw80(cpu, i, lo, hi, 0xffff);
}

/**
 * MMX instruction checks (SDM Vol. 3A §12.5 / Vol. 1 §9.6): #UD with CR0.EM, #NM with CR0.TS,
 * #MF with a pending x87 exception; then the x87-to-MMX transition.
 */
function mmxBegin(cpu: Cpu): void {
  if ((cpu.cr0 & Cr0.EM) !== 0) cpu.fault(Vector.UD);
  if ((cpu.cr0 & Cr0.TS) !== 0) cpu.fault(Vector.NM);
  if ((cpu.fpuStatus & 0x80) !== 0 && (cpu.cr0 & Cr0.NE) !== 0) cpu.fault(Vector.MF);
  // The transition to MMX: TOP = 0, all registers valid (§9.5.1).
  cpu.fpuTop = 0;
  cpu.fpuTagValid = 0xff;
}
/** Source operand mm/m64 into B32[0..1]. */
function loadSrc(cpu: Cpu, i: Insn): void {
  if (i.mod === 3) { readMm(cpu, i.rm & 7); S.B32[0] = mmVal.lo; S.B32[1] = mmVal.hi; return; }
  S.B32[0] = cpu.read64(cpu.ea(i)); S.B32[1] = cpu.hi;
}

const enum Layout { Low = 0, Pack = 1, High = 2 }
/**
 * mm <- op(mm, mm/m64) with the 128-bit lane functions: Low puts the operands in the low halves;
 * Pack puts [dst, src] in A (PACK* read both as one vector); High puts their high dwords where the
 * PUNPCKH* forms read (bytes 8..11).
 */
function binary(op: S.SimdOp, layout: Layout) {
  return (cpu: Cpu, i: Insn): void => {
    mmxBegin(cpu);
    loadSrc(cpu, i);
    const d = i.reg & 7;
    readMm(cpu, d);
    if (layout === Layout.Pack) { S.A32[0] = mmVal.lo; S.A32[1] = mmVal.hi; S.A32[2] = S.B32[0]!; S.A32[3] = S.B32[1]!; }
    else if (layout === Layout.High) { S.A32[2] = mmVal.hi; S.B32[2] = S.B32[1]!; }
    else { S.A32[0] = mmVal.lo; S.A32[1] = mmVal.hi; }
    op();
    writeMm(cpu, d, S.A32[0]!, S.A32[1]!);
  };
}
function shiftByMm(op: (n: number) => void) {
  return (cpu: Cpu, i: Insn): void => {
    mmxBegin(cpu);
    loadSrc(cpu, i);
    const d = i.reg & 7;
    readMm(cpu, d);
    S.A32[0] = mmVal.lo; S.A32[1] = mmVal.hi;
    op(S.countFromB());
    writeMm(cpu, d, S.A32[0], S.A32[1]);
  };
}
function shiftGroup(ops: ReadonlyArray<((n: number) => void) | undefined>) {
  return (cpu: Cpu, i: Insn): void => {
    const op = i.mod === 3 ? ops[i.reg & 7] : undefined;
    if (op === undefined) cpu.fault(Vector.UD);
    mmxBegin(cpu);
    const d = i.rm & 7;
    readMm(cpu, d);
    S.A32[0] = mmVal.lo; S.A32[1] = mmVal.hi;
    op(i.imm & 0xff);
    writeMm(cpu, d, S.A32[0], S.A32[1]);
  };
}

function movdToMm(cpu: Cpu, i: Insn): void {
  mmxBegin(cpu);
  const w = rexW(i);
  const lo = readGprOrMem(cpu, i, w);
  writeMm(cpu, i.reg & 7, lo, w ? cpu.hi : 0);
}
function movdFromMm(cpu: Cpu, i: Insn): void {
  mmxBegin(cpu);
  readMm(cpu, i.reg & 7);
  if (i.mod === 3) {
    if (rexW(i)) cpu.setReg64(i.rm, mmVal.lo, mmVal.hi); else setGpr32(cpu, i.rm, mmVal.lo);
    return;
  }
  const lin = cpu.ea(i);
  if (rexW(i)) cpu.write64(lin, mmVal.lo, mmVal.hi); else cpu.write32(lin, mmVal.lo);
}
function movqLoad(cpu: Cpu, i: Insn): void {
  mmxBegin(cpu);
  loadSrc(cpu, i);
  writeMm(cpu, i.reg & 7, S.B32[0]!, S.B32[1]!);
}
function movqStore(memOnly: boolean) {
  return (cpu: Cpu, i: Insn): void => {
    if (memOnly && i.mod === 3) cpu.fault(Vector.UD);
    mmxBegin(cpu);
    readMm(cpu, i.reg & 7);
    if (i.mod === 3) { const lo = mmVal.lo, hi = mmVal.hi; writeMm(cpu, i.rm & 7, lo, hi); return; }
    cpu.write64(cpu.ea(i), mmVal.lo, mmVal.hi);
  };
}
function pshufw(cpu: Cpu, i: Insn): void {
  mmxBegin(cpu);
  loadSrc(cpu, i);
  S.pshuflw(i.imm & 0xff);
  writeMm(cpu, i.reg & 7, S.A32[0]!, S.A32[1]!);
}
function pinsrw(cpu: Cpu, i: Insn): void {
  mmxBegin(cpu);
  const v = i.mod === 3 ? cpu.getReg(4, i.rm, i.rex) : cpu.read16(cpu.ea(i));
  const d = i.reg & 7;
  readMm(cpu, d);
  S.A32[0] = mmVal.lo; S.A32[1] = mmVal.hi;
  S.pinsrw(v & 0xffff, i.imm & 3);
  writeMm(cpu, d, S.A32[0], S.A32[1]);
}
function pextrw(cpu: Cpu, i: Insn): void {
  if (i.mod !== 3) cpu.fault(Vector.UD);
  mmxBegin(cpu);
  readMm(cpu, i.rm & 7);
  S.A32[0] = mmVal.lo; S.A32[1] = mmVal.hi;
  setGpr32(cpu, i.reg, S.pextrw(i.imm & 3));
}
function pmovmskb(cpu: Cpu, i: Insn): void {
  if (i.mod !== 3) cpu.fault(Vector.UD);
  mmxBegin(cpu);
  readMm(cpu, i.rm & 7);
  S.B32[0] = mmVal.lo; S.B32[1] = mmVal.hi;
  setGpr32(cpu, i.reg, S.pmovmskb() & 0xff);
}
/** MASKMOVQ mm1, mm2: bytes of mm1 selected by mm2's top bits to DS:rDI. */
function maskmovq(cpu: Cpu, i: Insn): void {
  if (i.mod !== 3) cpu.fault(Vector.UD);
  mmxBegin(cpu);
  readMm(cpu, i.reg & 7);
  const lo = mmVal.lo, hi = mmVal.hi;
  readMm(cpu, i.rm & 7);
  let di = cpu.getReg64(7);
  const diHi = cpu.hi;
  if (i.addrSize === 4) di >>>= 0; else if (i.addrSize === 2) di &= 0xffff; else di = (diHi | 0) * 4294967296 + (di >>> 0);
  const lin = cpu.seg[i.seg]!.base + di;
  for (let k = 0; k < 8; k++) {
    const m = k < 4 ? mmVal.lo >>> (8 * k) : mmVal.hi >>> (8 * (k - 4));
    if ((m & 0x80) !== 0) cpu.write8(lin + k, (k < 4 ? lo >>> (8 * k) : hi >>> (8 * (k - 4))) & 0xff);
  }
}
/** MOVQ2DQ xmm, mm (F3 0F D6) and MOVDQ2Q mm, xmm (F2 0F D6). */
function movq2dq(cpu: Cpu, i: Insn): void {
  if (i.mod !== 3) cpu.fault(Vector.UD);
  sseFpBegin(cpu);
  mmxBegin(cpu);
  readMm(cpu, i.rm & 7);
  const o = i.reg << 2;
  cpu.xmm[o] = mmVal.lo; cpu.xmm[o + 1] = mmVal.hi; cpu.xmm[o + 2] = 0; cpu.xmm[o + 3] = 0;
}
function movdq2q(cpu: Cpu, i: Insn): void {
  if (i.mod !== 3) cpu.fault(Vector.UD);
  sseFpBegin(cpu);
  mmxBegin(cpu);
  const o = i.rm << 2;
  writeMm(cpu, i.reg & 7, cpu.xmm[o]!, cpu.xmm[o + 1]!);
}
/** CVTPI2PS xmm, mm/m64 (0F 2A) and CVTPI2PD xmm, mm/m64 (66 0F 2A). */
function cvtpi2p(double: boolean) {
  return (cpu: Cpu, i: Insn): void => {
    sseFpBegin(cpu);
    if (i.mod === 3) { mmxBegin(cpu); readMm(cpu, i.rm & 7); S.B32[0] = mmVal.lo; S.B32[1] = mmVal.hi; } else loadB64(cpu, i);
    const o = i.reg << 2;
    if (double) {
      i32ToF64(S.B32[0]!); const l0 = out.lo, h0 = out.hi;
      i32ToF64(S.B32[1]!);
      cpu.xmm[o] = l0; cpu.xmm[o + 1] = h0; cpu.xmm[o + 2] = out.lo; cpu.xmm[o + 3] = out.hi;
      return;
    }
    const a = i32ToF32(S.B32[0]!), b = i32ToF32(S.B32[1]!);
    sseFpEnd(cpu);
    cpu.xmm[o] = a; cpu.xmm[o + 1] = b;
  };
}
/** CVT(T)PS2PI mm, xmm/m64 (0F 2D/2C) and CVT(T)PD2PI mm, xmm/m128 (66 0F 2D/2C). */
function cvtp2pi(double: boolean, truncate: boolean) {
  return (cpu: Cpu, i: Insn): void => {
    sseFpBegin(cpu);
    let a: number, b: number;
    if (double) {
      loadB(cpu, i, true);
      f64ToInt(S.B32[0]!, S.B32[1]!, 32, truncate); a = out.lo;
      f64ToInt(S.B32[2]!, S.B32[3]!, 32, truncate); b = out.lo;
    } else {
      loadB64(cpu, i);
      f32ToInt(S.B32[0]!, 32, truncate); a = out.lo;
      f32ToInt(S.B32[1]!, 32, truncate); b = out.lo;
    }
    sseFpEnd(cpu);
    mmxBegin(cpu);
    writeMm(cpu, i.reg & 7, a, b);
  };
}

export function registerMmxOps(t: OpTable): void {
  const M = OpMap.M0F;
  const low: Array<[number, S.SimdOp]> = [
    [0x60, S.punpcklbw], [0x61, S.punpcklwd], [0x62, S.punpckldq],
    [0x64, S.pcmpgtb], [0x65, S.pcmpgtw], [0x66, S.pcmpgtd],
    [0x74, S.pcmpeqb], [0x75, S.pcmpeqw], [0x76, S.pcmpeqd],
    [0xd4, S.paddq], [0xd5, S.pmullw], [0xd8, S.psubusb], [0xd9, S.psubusw], [0xda, S.pminub], [0xdb, S.pand],
    [0xdc, S.paddusb], [0xdd, S.paddusw], [0xde, S.pmaxub], [0xdf, S.pandn],
    [0xe0, S.pavgb], [0xe3, S.pavgw], [0xe4, S.pmulhuw], [0xe5, S.pmulhw],
    [0xe8, S.psubsb], [0xe9, S.psubsw], [0xea, S.pminsw], [0xeb, S.por], [0xec, S.paddsb], [0xed, S.paddsw],
    [0xee, S.pmaxsw], [0xef, S.pxor], [0xf4, S.pmuludq], [0xf5, S.pmaddwd], [0xf6, S.psadbw],
    [0xf8, S.psubb], [0xf9, S.psubw], [0xfa, S.psubd], [0xfb, S.psubq], [0xfc, S.paddb], [0xfd, S.paddw], [0xfe, S.paddd],
  ];
  for (const [op, fn] of low) t.set(M, op, 0, binary(fn, Layout.Low));
  for (const [op, fn] of [[0x63, S.packsswb], [0x67, S.packuswb], [0x6b, S.packssdw]] as const) t.set(M, op, 0, binary(fn, Layout.Pack));
  for (const [op, fn] of [[0x68, S.punpckhbw], [0x69, S.punpckhwd], [0x6a, S.punpckhdq]] as const) t.set(M, op, 0, binary(fn, Layout.High));
  const sh: Array<[number, (n: number) => void]> = [
    [0xd1, S.psrlw], [0xd2, S.psrld], [0xd3, S.psrlq], [0xe1, S.psraw], [0xe2, S.psrad], [0xf1, S.psllw], [0xf2, S.pslld], [0xf3, S.psllq],
  ];
  for (const [op, fn] of sh) t.set(M, op, 0, shiftByMm(fn));
  t.set(M, 0x71, 0, shiftGroup([undefined, undefined, S.psrlw, undefined, S.psraw, undefined, S.psllw, undefined]));
  t.set(M, 0x72, 0, shiftGroup([undefined, undefined, S.psrld, undefined, S.psrad, undefined, S.pslld, undefined]));
  t.set(M, 0x73, 0, shiftGroup([undefined, undefined, S.psrlq, undefined, undefined, undefined, S.psllq, undefined]));
  t.set(M, 0x6e, 0, movdToMm); t.set(M, 0x7e, 0, movdFromMm);
  t.set(M, 0x6f, 0, movqLoad); t.set(M, 0x7f, 0, movqStore(false)); t.set(M, 0xe7, 0, movqStore(true));
  t.set(M, 0x70, 0, pshufw); t.set(M, 0xc4, 0, pinsrw); t.set(M, 0xc5, 0, pextrw); t.set(M, 0xd7, 0, pmovmskb);
  t.set(M, 0xf7, 0, maskmovq);
  t.set(M, 0xd6, 2, movq2dq); t.set(M, 0xd6, 3, movdq2q);
  t.set(M, 0x2a, 0, cvtpi2p(false)); t.set(M, 0x2a, 1, cvtpi2p(true));
  t.set(M, 0x2c, 0, cvtp2pi(false, true)); t.set(M, 0x2d, 0, cvtp2pi(false, false));
  t.set(M, 0x2c, 1, cvtp2pi(true, true)); t.set(M, 0x2d, 1, cvtp2pi(true, false));
}
