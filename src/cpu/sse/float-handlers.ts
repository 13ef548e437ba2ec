// SSE/SSE2 floating-point instructions (SDM Vol. 2): packed and scalar single/double arithmetic,
// SQRT, MIN/MAX, CMP, COMIS/UCOMIS, RCP/RSQRT and the conversions (0F 2A..2D, 5A, 5B, E6).
// The lane arithmetic lives in softfloat.ts; here are operand forms and exception commit.

import { OpMap, type Cpu, type Insn, type OpTable } from '../insn.js';
import { Flag } from '../state.js';
import { loadA, loadB, loadB32, loadB64, readGprOrMem, rexW, setGpr32, sseFpBegin, sseFpEnd, storeA } from './operands.js';
import { A32, B32 } from './simd-int.js';
import {
  f32Arith, f32Cmp, f32Comi, f32FromBits, f32Bits, f32Sqrt, f32ToF64, f32ToInt, f64Arith, f64Cmp, f64Comi, f64Sqrt,
  f64ToF32, f64ToInt, FpOp, i32ToF32, i32ToF64, i64ToF32, i64ToF64, isNaN32, out,
} from './softfloat.js';

function arithPs(op: FpOp) {
  return (cpu: Cpu, i: Insn): void => {
    sseFpBegin(cpu);
    loadA(cpu, i.reg);
    loadB(cpu, i, true);
    for (let k = 0; k < 4; k++) A32[k] = f32Arith(op, A32[k]!, B32[k]!);
    sseFpEnd(cpu);
    storeA(cpu, i.reg);
  };
}
function arithPd(op: FpOp) {
  return (cpu: Cpu, i: Insn): void => {
    sseFpBegin(cpu);
    loadA(cpu, i.reg);
    loadB(cpu, i, true);
    for (let k = 0; k < 4; k += 2) {
      f64Arith(op, A32[k]!, A32[k + 1]!, B32[k]!, B32[k + 1]!);
      A32[k] = out.lo; A32[k + 1] = out.hi;
    }
    sseFpEnd(cpu);
    storeA(cpu, i.reg);
  };
}
function arithSs(op: FpOp) {
  return (cpu: Cpu, i: Insn): void => {
    sseFpBegin(cpu);
    loadB32(cpu, i);
    const r = f32Arith(op, cpu.xmm[i.reg << 2]!, B32[0]!);
    sseFpEnd(cpu);
    cpu.xmm[i.reg << 2] = r;
  };
}
function arithSd(op: FpOp) {
  return (cpu: Cpu, i: Insn): void => {
    sseFpBegin(cpu);
    loadB64(cpu, i);
    const d = i.reg << 2;
    f64Arith(op, cpu.xmm[d]!, cpu.xmm[d + 1]!, B32[0]!, B32[1]!);
    sseFpEnd(cpu);
    cpu.xmm[d] = out.lo; cpu.xmm[d + 1] = out.hi;
  };
}

function sqrtPs(cpu: Cpu, i: Insn): void {
  sseFpBegin(cpu);
  loadB(cpu, i, true);
  for (let k = 0; k < 4; k++) A32[k] = f32Sqrt(B32[k]!);
  sseFpEnd(cpu);
  storeA(cpu, i.reg);
}
function sqrtPd(cpu: Cpu, i: Insn): void {
  sseFpBegin(cpu);
  loadB(cpu, i, true);
  for (let k = 0; k < 4; k += 2) { f64Sqrt(B32[k]!, B32[k + 1]!); A32[k] = out.lo; A32[k + 1] = out.hi; }
  sseFpEnd(cpu);
  storeA(cpu, i.reg);
}
function sqrtSs(cpu: Cpu, i: Insn): void {
  sseFpBegin(cpu);
  loadB32(cpu, i);
  const r = f32Sqrt(B32[0]!);
  sseFpEnd(cpu);
  cpu.xmm[i.reg << 2] = r;
}
function sqrtSd(cpu: Cpu, i: Insn): void {
  sseFpBegin(cpu);
  loadB64(cpu, i);
  f64Sqrt(B32[0]!, B32[1]!);
  sseFpEnd(cpu);
  const d = i.reg << 2;
  cpu.xmm[d] = out.lo; cpu.xmm[d + 1] = out.hi;
}

/**
 * RCPSS/RSQRTSS approximations. Hardware returns a table-driven result with relative error up
 * to 1.5 * 2^-12 (SDM Vol. 2 RCPPS); we return the correctly rounded value, which is within that
 * bound but not bit-identical to any particular processor. No exceptions are reported; denormal
 * inputs count as zero, as on hardware.
 */
export function approx32(rsqrt: boolean, b: number): number {
  if (isNaN32(b)) return (b | 0x00400000) >>> 0;
  let x = f32FromBits(b);
  if ((b & 0x7f800000) === 0) x = (b & 0x80000000) !== 0 ? -0 : 0;
  if (rsqrt) {
    if (x < 0) return 0xffc00000;
    return f32Bits(Math.fround(1 / Math.sqrt(x)));
  }
  return f32Bits(Math.fround(1 / x));
}
function approxPs(rsqrt: boolean) {
  return (cpu: Cpu, i: Insn): void => {
    sseFpBegin(cpu);
    loadB(cpu, i, true);
    for (let k = 0; k < 4; k++) A32[k] = approx32(rsqrt, B32[k]!);
    storeA(cpu, i.reg);
  };
}
function approxSs(rsqrt: boolean) {
  return (cpu: Cpu, i: Insn): void => {
    sseFpBegin(cpu);
    loadB32(cpu, i);
    cpu.xmm[i.reg << 2] = approx32(rsqrt, B32[0]!);
  };
}

function cmpPs(cpu: Cpu, i: Insn): void {
  sseFpBegin(cpu);
  loadA(cpu, i.reg);
  loadB(cpu, i, true);
  for (let k = 0; k < 4; k++) A32[k] = f32Cmp(i.imm, A32[k]!, B32[k]!) ? 0xffffffff : 0;
  sseFpEnd(cpu);
  storeA(cpu, i.reg);
}
function cmpPd(cpu: Cpu, i: Insn): void {
  sseFpBegin(cpu);
  loadA(cpu, i.reg);
  loadB(cpu, i, true);
  for (let k = 0; k < 4; k += 2) {
    const m = f64Cmp(i.imm, A32[k]!, A32[k + 1]!, B32[k]!, B32[k + 1]!) ? 0xffffffff : 0;
    A32[k] = m; A32[k + 1] = m;
  }
  sseFpEnd(cpu);
  storeA(cpu, i.reg);
}
function cmpSs(cpu: Cpu, i: Insn): void {
  sseFpBegin(cpu);
  loadB32(cpu, i);
  const m = f32Cmp(i.imm, cpu.xmm[i.reg << 2]!, B32[0]!) ? 0xffffffff : 0;
  sseFpEnd(cpu);
  cpu.xmm[i.reg << 2] = m;
}
function cmpSd(cpu: Cpu, i: Insn): void {
  sseFpBegin(cpu);
  loadB64(cpu, i);
  const d = i.reg << 2;
  const m = f64Cmp(i.imm, cpu.xmm[d]!, cpu.xmm[d + 1]!, B32[0]!, B32[1]!) ? 0xffffffff : 0;
  sseFpEnd(cpu);
  cpu.xmm[d] = m; cpu.xmm[d + 1] = m;
}

const COMI_MASK = Flag.ZF | Flag.PF | Flag.CF | Flag.OF | Flag.SF | Flag.AF;
function comiss(signaling: boolean) {
  return (cpu: Cpu, i: Insn): void => {
    sseFpBegin(cpu);
    loadB32(cpu, i);
    const f = f32Comi(signaling, cpu.xmm[i.reg << 2]!, B32[0]!);
    sseFpEnd(cpu);
    cpu.setRflags(f, COMI_MASK);
  };
}
function comisd(signaling: boolean) {
  return (cpu: Cpu, i: Insn): void => {
    sseFpBegin(cpu);
    loadB64(cpu, i);
    const d = i.reg << 2;
    const f = f64Comi(signaling, cpu.xmm[d]!, cpu.xmm[d + 1]!, B32[0]!, B32[1]!);
    sseFpEnd(cpu);
    cpu.setRflags(f, COMI_MASK);
  };
}

/** CVTSI2SS xmm, r/m32|r/m64 (F3 0F 2A). */
function cvtsi2ss(cpu: Cpu, i: Insn): void {
  sseFpBegin(cpu);
  const w = rexW(i);
  const lo = readGprOrMem(cpu, i, w);
  const r = w ? i64ToF32(lo, cpu.hi) : i32ToF32(lo);
  sseFpEnd(cpu);
  cpu.xmm[i.reg << 2] = r;
}
function cvtsi2sd(cpu: Cpu, i: Insn): void {
  sseFpBegin(cpu);
  const w = rexW(i);
  const lo = readGprOrMem(cpu, i, w);
  if (w) i64ToF64(lo, cpu.hi); else i32ToF64(lo);
  sseFpEnd(cpu);
  const d = i.reg << 2;
  cpu.xmm[d] = out.lo; cpu.xmm[d + 1] = out.hi;
}
/** CVT(T)SS2SI / CVT(T)SD2SI r32|r64, xmm/m (F3/F2 0F 2C/2D). */
function cvtToSi(double: boolean, truncate: boolean) {
  return (cpu: Cpu, i: Insn): void => {
    sseFpBegin(cpu);
    const w = rexW(i);
    if (double) { loadB64(cpu, i); f64ToInt(B32[0]!, B32[1]!, w ? 64 : 32, truncate); } else { loadB32(cpu, i); f32ToInt(B32[0]!, w ? 64 : 32, truncate); }
    sseFpEnd(cpu);
    if (w) cpu.setReg64(i.reg, out.lo, out.hi); else setGpr32(cpu, i.reg, out.lo);
  };
}

/** CVTPS2PD (0F 5A): two singles from xmm/m64. */
function cvtps2pd(cpu: Cpu, i: Insn): void {
  sseFpBegin(cpu);
  loadB64(cpu, i);
  f32ToF64(B32[0]!); A32[0] = out.lo; A32[1] = out.hi;
  f32ToF64(B32[1]!); A32[2] = out.lo; A32[3] = out.hi;
  sseFpEnd(cpu);
  storeA(cpu, i.reg);
}
/** CVTPD2PS (66 0F 5A): upper half of the destination zeroed. */
function cvtpd2ps(cpu: Cpu, i: Insn): void {
  sseFpBegin(cpu);
  loadB(cpu, i, true);
  A32[0] = f64ToF32(B32[0]!, B32[1]!);
  A32[1] = f64ToF32(B32[2]!, B32[3]!);
  A32[2] = 0; A32[3] = 0;
  sseFpEnd(cpu);
  storeA(cpu, i.reg);
}
function cvtss2sd(cpu: Cpu, i: Insn): void {
  sseFpBegin(cpu);
  loadB32(cpu, i);
  f32ToF64(B32[0]!);
  sseFpEnd(cpu);
  const d = i.reg << 2;
  cpu.xmm[d] = out.lo; cpu.xmm[d + 1] = out.hi;
}
function cvtsd2ss(cpu: Cpu, i: Insn): void {
  sseFpBegin(cpu);
  loadB64(cpu, i);
  const r = f64ToF32(B32[0]!, B32[1]!);
  sseFpEnd(cpu);
  cpu.xmm[i.reg << 2] = r;
}
/** CVTDQ2PS (0F 5B). */
function cvtdq2ps(cpu: Cpu, i: Insn): void {
  sseFpBegin(cpu);
  loadB(cpu, i, true);
  for (let k = 0; k < 4; k++) A32[k] = i32ToF32(B32[k]!);
  sseFpEnd(cpu);
  storeA(cpu, i.reg);
}
/** CVTPS2DQ (66 0F 5B) / CVTTPS2DQ (F3 0F 5B). */
function cvtps2dq(truncate: boolean) {
  return (cpu: Cpu, i: Insn): void => {
    sseFpBegin(cpu);
    loadB(cpu, i, true);
    for (let k = 0; k < 4; k++) { f32ToInt(B32[k]!, 32, truncate); A32[k] = out.lo; }
    sseFpEnd(cpu);
    storeA(cpu, i.reg);
  };
}
/** CVTDQ2PD (F3 0F E6): two dwords from xmm/m64, exact. */
function cvtdq2pd(cpu: Cpu, i: Insn): void {
  sseFpBegin(cpu);
  loadB64(cpu, i);
  i32ToF64(B32[0]!); A32[0] = out.lo; A32[1] = out.hi;
  i32ToF64(B32[1]!); A32[2] = out.lo; A32[3] = out.hi;
  storeA(cpu, i.reg);
}
/** CVTPD2DQ (F2 0F E6) / CVTTPD2DQ (66 0F E6): upper half zeroed. */
function cvtpd2dq(truncate: boolean) {
  return (cpu: Cpu, i: Insn): void => {
    sseFpBegin(cpu);
    loadB(cpu, i, true);
    f64ToInt(B32[0]!, B32[1]!, 32, truncate); A32[0] = out.lo;
    f64ToInt(B32[2]!, B32[3]!, 32, truncate); A32[1] = out.lo;
    A32[2] = 0; A32[3] = 0;
    sseFpEnd(cpu);
    storeA(cpu, i.reg);
  };
}

export function registerFloatOps(t: OpTable): void {
  const M = OpMap.M0F;
  const ops: Array<[number, FpOp]> = [
    [0x58, FpOp.Add], [0x59, FpOp.Mul], [0x5c, FpOp.Sub], [0x5d, FpOp.Min], [0x5e, FpOp.Div], [0x5f, FpOp.Max],
  ];
  for (const [op, fn] of ops) {
    t.set(M, op, 0, arithPs(fn));
    t.set(M, op, 1, arithPd(fn));
    t.set(M, op, 2, arithSs(fn));
    t.set(M, op, 3, arithSd(fn));
  }
  t.set(M, 0x51, 0, sqrtPs); t.set(M, 0x51, 1, sqrtPd); t.set(M, 0x51, 2, sqrtSs); t.set(M, 0x51, 3, sqrtSd);
  t.set(M, 0x52, 0, approxPs(true)); t.set(M, 0x52, 2, approxSs(true));
  t.set(M, 0x53, 0, approxPs(false)); t.set(M, 0x53, 2, approxSs(false));
  t.set(M, 0xc2, 0, cmpPs); t.set(M, 0xc2, 1, cmpPd); t.set(M, 0xc2, 2, cmpSs); t.set(M, 0xc2, 3, cmpSd);
  t.set(M, 0x2e, 0, comiss(false)); t.set(M, 0x2e, 1, comisd(false));
  t.set(M, 0x2f, 0, comiss(true)); t.set(M, 0x2f, 1, comisd(true));
  t.set(M, 0x2a, 2, cvtsi2ss); t.set(M, 0x2a, 3, cvtsi2sd);
  t.set(M, 0x2c, 2, cvtToSi(false, true)); t.set(M, 0x2c, 3, cvtToSi(true, true));
  t.set(M, 0x2d, 2, cvtToSi(false, false)); t.set(M, 0x2d, 3, cvtToSi(true, false));
  t.set(M, 0x5a, 0, cvtps2pd); t.set(M, 0x5a, 1, cvtpd2ps); t.set(M, 0x5a, 2, cvtss2sd); t.set(M, 0x5a, 3, cvtsd2ss);
  t.set(M, 0x5b, 0, cvtdq2ps); t.set(M, 0x5b, 1, cvtps2dq(false)); t.set(M, 0x5b, 2, cvtps2dq(true));
  t.set(M, 0xe6, 1, cvtpd2dq(true)); t.set(M, 0xe6, 2, cvtdq2pd); t.set(M, 0xe6, 3, cvtpd2dq(false));
}
