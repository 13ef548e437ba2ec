// IEEE 754 binary32/binary64 arithmetic with the SSE rules of x86 (SDM Vol. 1 §4.8, §11.5, and
// Vol. 2 per-instruction "SIMD Floating-Point Exceptions"): NaN propagation (first source wins,
// SNaN quieted), the "QNaN floating-point indefinite" for invalid operations, MXCSR rounding modes,
// DAZ/FTZ, and the six exception flags.
//
// Values travel as bit patterns (f32: one uint32; f64: lo/hi uint32 halves) because JS engines may
// canonicalize NaN payloads. The common case (round to nearest, normal results) runs on JS doubles:
// an error-free transformation (TwoSum, Dekker's product) tells whether the result is exact, so the
// precision flag is right without extended arithmetic. Everything else (directed rounding, results
// that overflow or are tiny, huge operands) falls to an exact BigInt path, which is slow but rare.
//
// binary32 results are computed in double then rounded once more: double rounding is innocuous for
// +, -, *, / and sqrt because 53 >= 2*24 + 2 (Figueroa, "When is double rounding innocuous?").

import { MXCSR_DAZ, MXCSR_DE, MXCSR_FTZ, MXCSR_IE, MXCSR_OE, MXCSR_PE, MXCSR_RC_SHIFT, MXCSR_UE, MXCSR_UM, MXCSR_ZE, Rc } from './mxcsr.js';

/**
 * Per-instruction environment, loaded from MXCSR by loadEnv(); `flags` accumulates exceptions.
 * `precBits` (0 = the format's own) narrows the significand of binary64 results, for the x87
 * precision control set to single (SDM Vol. 1 §8.1.5.2); it forces the exact path. `up` tells
 * whether the last binary64 result was rounded up in magnitude (the x87 reports it in C1).
 */
export const env = { rc: 0, daz: false, ftz: false, underflowMasked: true, flags: 0, precBits: 0, up: false };

export function loadEnv(mxcsr: number): void {
  env.rc = (mxcsr >>> MXCSR_RC_SHIFT) & 3;
  env.daz = (mxcsr & MXCSR_DAZ) !== 0;
  env.ftz = (mxcsr & MXCSR_FTZ) !== 0;
  env.underflowMasked = (mxcsr & MXCSR_UM) !== 0;
  env.flags = 0;
  env.precBits = 0;
  env.up = false;
}

/** Result of the f64 operations (and of f32 ones in `lo`). */
export const out = { lo: 0, hi: 0 };

/** QNaN floating-point indefinite (SDM Vol. 1 Table 4-3). */
export const F32_INDEFINITE = 0xffc00000;
export const F64_INDEFINITE_HI = 0xfff80000;

const f64buf = new Float64Array(1);
const f64w = new Uint32Array(f64buf.buffer);
const f32buf = new Float32Array(1);
const f32w = new Uint32Array(f32buf.buffer);

/** Bits to double; only for non-NaN patterns. */
export function f64FromBits(lo: number, hi: number): number {
  f64w[0] = lo;
  f64w[1] = hi;
  return f64buf[0]!;
}
/** Double to bits in `out`; only for non-NaN values. */
export function f64ToOut(x: number): void {
  f64buf[0] = x;
  out.lo = f64w[0]!;
  out.hi = f64w[1]!;
}
export function f32FromBits(b: number): number {
  f32w[0] = b;
  return f32buf[0]!;
}
/** Bits of a double that is exactly representable in binary32 (or is rounded to nearest). */
export function f32Bits(x: number): number {
  f32buf[0] = x;
  return f32w[0]!;
}

export function isNaN32(b: number): boolean { return (b & 0x7fffffff) > 0x7f800000; }
export function isSNaN32(b: number): boolean { return isNaN32(b) && (b & 0x00400000) === 0; }
export function isNaN64(lo: number, hi: number): boolean {
  const h = hi & 0x7fffffff;
  return h > 0x7ff00000 || (h === 0x7ff00000 && lo !== 0);
}
export function isSNaN64(lo: number, hi: number): boolean { return isNaN64(lo, hi) && (hi & 0x00080000) === 0; }

/** Reads an f32 operand that is not a NaN, applying DAZ or reporting a denormal. */
export function in32(b: number): number {
  if ((b & 0x7f800000) === 0 && (b & 0x007fffff) !== 0) {
    if (env.daz) return (b & 0x80000000) !== 0 ? -0 : 0;
    env.flags |= MXCSR_DE;
  }
  return f32FromBits(b);
}
export function in64(lo: number, hi: number): number {
  if ((hi & 0x7ff00000) === 0 && ((hi & 0x000fffff) | lo) !== 0) {
    if (env.daz) return (hi & 0x80000000) !== 0 ? -0 : 0;
    env.flags |= MXCSR_DE;
  }
  return f64FromBits(lo, hi);
}

/** NaN result of a two-operand SSE operation when a or b is a NaN (SDM Vol. 1 Table 4-7). */
function propagate32(a: number, b: number): number {
  if (isSNaN32(a) || isSNaN32(b)) env.flags |= MXCSR_IE;
  return ((isNaN32(a) ? a : b) | 0x00400000) >>> 0;
}
function propagate64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  if (isSNaN64(aLo, aHi) || isSNaN64(bLo, bHi)) env.flags |= MXCSR_IE;
  if (isNaN64(aLo, aHi)) { out.lo = aLo; out.hi = (aHi | 0x00080000) >>> 0; } else { out.lo = bLo; out.hi = (bHi | 0x00080000) >>> 0; }
}

// ---- Exact path ------------------------------------------------------------------------------

interface Fmt { mant: number; bias: number; expMax: number }
const FMT32: Fmt = { mant: 23, bias: 127, expMax: 255 };
const FMT64: Fmt = { mant: 52, bias: 1023, expMax: 2047 };

function bitLen(x: bigint): number { return x === 0n ? 0 : x.toString(2).length; }

let dSig = 0n;
let dExp = 0;
/** |x| = dSig * 2^dExp for a finite double x. */
function decompose(x: number): void {
  f64buf[0] = x;
  const hi = f64w[1]!;
  const lo = f64w[0]!;
  const e = (hi >>> 20) & 0x7ff;
  const frac = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  dSig = e === 0 ? frac : frac | (1n << 52n);
  dExp = (e === 0 ? 1 : e) - 1075;
}

let rInexact = false;
let rInc = false;
/** Drops `shift` low bits of sig (plus a sticky remainder below them), rounding per rc. */
function roundShift(sig: bigint, shift: number, sticky: boolean, neg: boolean, rc: number): bigint {
  let m: bigint;
  let cmp: number;
  if (shift <= 0) {
    m = sig << BigInt(-shift);
    rInexact = sticky;
    cmp = -1;
  } else {
    const s = BigInt(shift);
    m = sig >> s;
    const rem = sig & ((1n << s) - 1n);
    const half = 1n << (s - 1n);
    rInexact = rem !== 0n || sticky;
    cmp = rem > half ? 1 : rem < half ? -1 : sticky ? 1 : 0;
  }
  rInc = false;
  if (rInexact) {
    let inc = false;
    if (rc === Rc.Nearest) inc = cmp > 0 || (cmp === 0 && (m & 1n) === 1n);
    else if (rc === Rc.Down) inc = neg;
    else if (rc === Rc.Up) inc = !neg;
    if (inc) m += 1n;
    rInc = inc;
  }
  return m;
}

/**
 * Rounds (-1)^neg * (sig + sticky) * 2^exp to the format under env.rc, with tininess detected
 * after rounding as x86 does; writes bits to `out` (f32 in out.lo) and sets flags.
 */
function roundPack(neg: boolean, sig: bigint, exp: number, sticky: boolean, fmt: Fmt): void {
  const rc = env.rc;
  const fracBits = env.precBits !== 0 && fmt === FMT64 ? env.precBits - 1 : fmt.mant;
  const p = fracBits + 1;
  const emin = 1 - fmt.bias;
  const n = bitLen(sig);
  const lead = exp + n - 1;
  let tiny = false;
  if (lead < emin - 1) tiny = true;
  else if (lead === emin - 1) tiny = bitLen(roundShift(sig, n - p, sticky, neg, rc)) <= p;
  let q = Math.max(lead - fracBits, emin - fmt.mant);
  let m = roundShift(sig, q - exp, sticky, neg, rc);
  const inexact = rInexact;
  env.up = rInc;
  if (bitLen(m) > p) { m >>= 1n; q += 1; }
  if (fracBits !== fmt.mant && m !== 0n) {
    // Reduced precision: move m to the storage format's quantum for the encoding below.
    const storageQ = Math.max(q + bitLen(m) - 1, emin) - fmt.mant;
    m <<= BigInt(q - storageQ);
    q = storageQ;
  }
  const implicit = 1n << BigInt(fmt.mant);
  let be = 0;
  let frac = m;
  if (m >= implicit) { be = q + fmt.mant + fmt.bias; frac = m - implicit; }
  if (be >= fmt.expMax) {
    env.flags |= MXCSR_OE | MXCSR_PE;
    const toInf = rc === Rc.Nearest || (rc === Rc.Down && neg) || (rc === Rc.Up && !neg);
    if (toInf) { be = fmt.expMax; frac = 0n; } else { be = fmt.expMax - 1; frac = implicit - 1n; }
    env.up = toInf;
  } else if (tiny) {
    if (env.ftz && env.underflowMasked) {
      env.flags |= MXCSR_UE | MXCSR_PE;
      be = 0;
      frac = 0n;
      env.up = false;
    } else {
      if (inexact || !env.underflowMasked) env.flags |= MXCSR_UE;
      if (inexact) env.flags |= MXCSR_PE;
    }
  } else if (inexact) {
    env.flags |= MXCSR_PE;
  }
  const s = neg ? 0x80000000 : 0;
  if (fmt === FMT32) {
    out.lo = (s | (be << 23) | Number(frac)) >>> 0;
    out.hi = 0;
  } else {
    out.hi = (s | (be << 20) | Number(frac >> 32n)) >>> 0;
    out.lo = Number(frac & 0xffffffffn);
  }
}

function writeExact(x: number, fmt: Fmt): void {
  if (fmt === FMT32) { out.lo = f32Bits(x); out.hi = 0; } else f64ToOut(x);
}
function writeZero(neg: boolean, fmt: Fmt): void {
  writeExact(neg ? -0 : 0, fmt);
}

function slowAdd(a: number, b: number, fmt: Fmt): void {
  if (a === 0 && b === 0) {
    const na = Object.is(a, -0), nb = Object.is(b, -0);
    writeZero(na === nb ? na : env.rc === Rc.Down, fmt);
    return;
  }
  if (a === 0) { decompose(b); roundPack(b < 0, dSig, dExp, false, fmt); return; }
  if (b === 0) { decompose(a); roundPack(a < 0, dSig, dExp, false, fmt); return; }
  decompose(a);
  const sa = dSig, ea = dExp;
  decompose(b);
  const sb = dSig, eb = dExp;
  const e = Math.min(ea, eb);
  let A = sa << BigInt(ea - e);
  let B = sb << BigInt(eb - e);
  if (a < 0) A = -A;
  if (b < 0) B = -B;
  const S = A + B;
  if (S === 0n) { writeZero(env.rc === Rc.Down, fmt); return; }
  roundPack(S < 0n, S < 0n ? -S : S, e, false, fmt);
}
function slowMul(a: number, b: number, fmt: Fmt): void {
  const neg = (a < 0 || Object.is(a, -0)) !== (b < 0 || Object.is(b, -0));
  if (a === 0 || b === 0) { writeZero(neg, fmt); return; }
  decompose(a);
  const sa = dSig, ea = dExp;
  decompose(b);
  roundPack(neg, sa * dSig, ea + dExp, false, fmt);
}
function slowDiv(a: number, b: number, fmt: Fmt): void {
  const neg = (a < 0 || Object.is(a, -0)) !== (b < 0 || Object.is(b, -0));
  if (a === 0) { writeZero(neg, fmt); return; }
  decompose(a);
  const sa = dSig, ea = dExp;
  decompose(b);
  const num = sa << 128n;
  const q = num / dSig;
  roundPack(neg, q, ea - dExp - 128, q * dSig !== num, fmt);
}
function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((bitLen(n) >> 1) + 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}
function slowSqrt(a: number, fmt: Fmt): void {
  decompose(a);
  let s = dSig, e = dExp;
  if ((e & 1) !== 0) { s <<= 1n; e -= 1; }
  const N = s << 256n;
  const r = isqrt(N);
  roundPack(false, r, (e - 256) / 2, r * r !== N, fmt);
}

// ---- Error-free transformations ---------------------------------------------------------------

const SPLITTER = 134217729; // 2^27 + 1 (Dekker/Veltkamp split of a double in two 26-bit halves)
let epLo = 0;
/** Returns fl(a*b) and leaves the exact error a*b - fl(a*b) in epLo (needs |a|,|b| < 2^995). */
function twoProduct(a: number, b: number): number {
  const p = a * b;
  let c = SPLITTER * a;
  const ah = c - (c - a), al = a - ah;
  c = SPLITTER * b;
  const bh = c - (c - b), bl = b - bh;
  epLo = al * bl - (((p - ah * bh) - al * bh) - ah * bl);
  return p;
}
function twoSumErr(a: number, b: number, s: number): number {
  const bb = s - a;
  return (a - (s - bb)) + (b - bb);
}

const TWO_M969 = 2 ** -969;
const TWO_995 = 2 ** 995;
const TWO_M126 = 2 ** -126;
const TWO_M1022 = 2 ** -1022;

export const enum FpOp { Add = 0, Sub = 1, Mul = 2, Div = 3, Min = 4, Max = 5 }

function invalid(fmt: Fmt): void {
  env.flags |= MXCSR_IE;
  if (fmt === FMT32) { out.lo = F32_INDEFINITE; out.hi = 0; } else { out.lo = 0; out.hi = F64_INDEFINITE_HI; }
}

/** +,-,*,/ on non-NaN doubles exactly representable in fmt; result bits in out. */
function arith(op: number, a: number, b: number, fmt: Fmt): void {
  const f32 = fmt === FMT32;
  let r: number;
  let exact: boolean;
  switch (op) {
    case FpOp.Add:
    case FpOp.Sub: {
      if (op === FpOp.Sub) { b = -b; op = FpOp.Add; }
      r = a + b;
      if (r !== r) { invalid(fmt); return; }
      if (a - a !== 0 || b - b !== 0) { writeExact(r, fmt); return; } // an infinite operand
      if (env.rc !== Rc.Nearest || env.precBits !== 0 || r - r !== 0) { slowAdd(a, b, fmt); return; }
      if (r === 0) { writeExact(r, fmt); return; }
      const err = twoSumErr(a, b, r); // exact - r
      exact = err === 0;
      upFast = err !== 0 && (err < 0) === (r > 0);
      break;
    }
    case FpOp.Mul: {
      r = a * b;
      if (r !== r) { invalid(fmt); return; }
      if (a - a !== 0 || b - b !== 0 || a === 0 || b === 0) { writeExact(r, fmt); return; }
      if (env.rc !== Rc.Nearest || env.precBits !== 0) { slowMul(a, b, fmt); return; }
      if (f32) { exact = true; break; } // a 24x24-bit product is exact in double
      const ar = Math.abs(r);
      if (ar - ar !== 0 || ar < TWO_M969 || ar >= TWO_995 || Math.abs(a) >= TWO_995 || Math.abs(b) >= TWO_995) { slowMul(a, b, fmt); return; }
      const p = twoProduct(a, b);
      exact = epLo === 0;
      upFast = epLo !== 0 && (epLo < 0) === (p > 0);
      break;
    }
    default: { // Div
      if (b === 0) {
        if (a === 0) { invalid(fmt); return; }
        // Divide-by-zero is reported alone: a denormal dividend's DE is dropped (as hardware does).
        if (a - a === 0) env.flags = flagsBeforeOperands | MXCSR_ZE;
        writeExact(a / b, fmt);
        return;
      }
      r = a / b;
      if (r !== r) { invalid(fmt); return; }
      if (a - a !== 0 || b - b !== 0 || a === 0) { writeExact(r, fmt); return; }
      if (env.rc !== Rc.Nearest || env.precBits !== 0) { slowDiv(a, b, fmt); return; }
      const ar = Math.abs(r);
      if (ar - ar !== 0 || ar < TWO_M969 || ar >= TWO_995 || Math.abs(b) >= TWO_995 || Math.abs(a) < TWO_M969 || Math.abs(a) >= TWO_995) { slowDiv(a, b, fmt); return; }
      const d = (twoProduct(r, b) - a) + epLo; // r*b - a, exactly rounded
      exact = d === 0;
      upFast = d !== 0 && (d > 0) === (a > 0);
      break;
    }
  }
  finishFast(r, exact, a, b, op, fmt);
}

/** Fast paths: whether r is above the exact value in magnitude. */
let upFast = false;

/** Fast-path result r (round to nearest in double; `exact` says whether r is the exact value). */
function finishFast(r: number, exact: boolean, a: number, b: number, op: number, fmt: Fmt): void {
  if (fmt === FMT32) {
    // Near the bottom of the normal range, tininess (detected after rounding, to the format's
    // precision with unbounded exponent) needs the exact path.
    const f = Math.fround(r);
    const af = Math.abs(f);
    if (af - af !== 0 || Math.abs(r) <= TWO_M126) { slowRedo(op, a, b, fmt); return; }
    if (!exact || f !== r) env.flags |= MXCSR_PE;
    out.lo = f32Bits(f);
    out.hi = 0;
    return;
  }
  if (Math.abs(r) <= TWO_M1022) { slowRedo(op, a, b, fmt); return; }
  if (!exact) env.flags |= MXCSR_PE;
  env.up = upFast;
  f64ToOut(r);
}
function slowRedo(op: number, a: number, b: number, fmt: Fmt): void {
  switch (op) {
    case FpOp.Add: slowAdd(a, b, fmt); break;
    case FpOp.Sub: slowAdd(a, -b, fmt); break;
    case FpOp.Mul: slowMul(a, b, fmt); break;
    case FpOp.Div: slowDiv(a, b, fmt); break;
    default: slowSqrt(a, fmt); break;
  }
}

// ---- Public operations on bit patterns --------------------------------------------------------

/** env.flags before the current lane's operands were read (see the divide-by-zero rule). */
let flagsBeforeOperands = 0;

/** ADDSS/SUBSS/MULSS/DIVSS/MINSS/MAXSS on one lane; returns the result bits. */
export function f32Arith(op: FpOp, a: number, b: number): number {
  if (op >= FpOp.Min) return f32MinMax(op === FpOp.Max, a, b);
  if (isNaN32(a) || isNaN32(b)) return propagate32(a, b);
  flagsBeforeOperands = env.flags;
  arith(op, in32(a), in32(b), FMT32);
  return out.lo;
}
/** The same on binary64 lanes; result in out. */
export function f64Arith(op: FpOp, aLo: number, aHi: number, bLo: number, bHi: number): void {
  if (op >= FpOp.Min) { f64MinMax(op === FpOp.Max, aLo, aHi, bLo, bHi); return; }
  if (isNaN64(aLo, aHi) || isNaN64(bLo, bHi)) { propagate64(aLo, aHi, bLo, bHi); return; }
  flagsBeforeOperands = env.flags;
  arith(op, in64(aLo, aHi), in64(bLo, bHi), FMT64);
}

/**
 * MINSS/MAXSS: if either operand is a NaN (any kind) or both are zeros, the second operand is
 * returned unchanged (SDM Vol. 2 MINPS/MAXPS), and any NaN signals invalid.
 */
/** The second operand returned as is, except that DAZ still turns a denormal into a zero. */
function dazBits32(b: number): number {
  return env.daz && (b & 0x7f800000) === 0 ? (b & 0x80000000) >>> 0 : b;
}
function f32MinMax(max: boolean, a: number, b: number): number {
  if (isNaN32(a) || isNaN32(b)) { env.flags |= MXCSR_IE; return dazBits32(b); }
  const x = in32(a), y = in32(b);
  const pickA = max ? x > y : x < y;
  return pickA ? f32Bits(x) : f32Bits(y);
}
function f64MinMax(max: boolean, aLo: number, aHi: number, bLo: number, bHi: number): void {
  if (isNaN64(aLo, aHi) || isNaN64(bLo, bHi)) {
    env.flags |= MXCSR_IE;
    const daz = env.daz && (bHi & 0x7ff00000) === 0;
    out.lo = daz ? 0 : bLo; out.hi = daz ? (bHi & 0x80000000) >>> 0 : bHi;
    return;
  }
  const x = in64(aLo, aHi), y = in64(bLo, bHi);
  f64ToOut((max ? x > y : x < y) ? x : y);
}

/** SQRT: a negative operand is invalid before the denormal check (no DE with the IE). */
export function f32Sqrt(a: number): number {
  if (isNaN32(a)) return propagate32(a, a);
  if ((a & 0x80000000) !== 0 && (a & 0x7fffffff) !== 0 && !(env.daz && (a & 0x7f800000) === 0)) { invalid(FMT32); return out.lo; }
  const x = in32(a);
  sqrt(x, FMT32);
  return out.lo;
}
export function f64Sqrt(lo: number, hi: number): void {
  if (isNaN64(lo, hi)) { propagate64(lo, hi, lo, hi); return; }
  if ((hi & 0x80000000) !== 0 && ((hi & 0x7fffffff) | lo) !== 0 && !(env.daz && (hi & 0x7ff00000) === 0)) { invalid(FMT64); return; }
  sqrt(in64(lo, hi), FMT64);
}
function sqrt(x: number, fmt: Fmt): void {
  if (x === 0 || x === Infinity) { writeExact(x, fmt); return; }
  if (x < 0) { invalid(fmt); return; }
  if (env.rc !== Rc.Nearest || env.precBits !== 0 || x < TWO_M969 || x >= TWO_995) { slowSqrt(x, fmt); return; }
  const r = Math.sqrt(x);
  const d = (twoProduct(r, r) - x) + epLo;
  upFast = d > 0;
  finishFast(r, d === 0, x, 0, -1, fmt);
}

// ---- Comparisons ------------------------------------------------------------------------------

/**
 * CMPPS/CMPSS predicate imm8[2:0] (SDM Vol. 2 Table 3-1): EQ, LT, LE, UNORD, NEQ, NLT, NLE, ORD.
 * LT/LE/NLT/NLE signal invalid on any NaN, the others only on SNaN.
 */
export function cmpPredicate(pred: number, unordered: boolean, lt: boolean, eq: boolean): boolean {
  switch (pred & 7) {
    case 0: return !unordered && eq;
    case 1: return !unordered && lt;
    case 2: return !unordered && (lt || eq);
    case 3: return unordered;
    case 4: return unordered || !eq;
    case 5: return unordered || !lt;
    case 6: return unordered || !(lt || eq);
    default: return !unordered;
  }
}
function signalsOnQnan(pred: number): boolean { const p = pred & 3; return p === 1 || p === 2; }

export function f32Cmp(pred: number, a: number, b: number): boolean {
  if (isNaN32(a) || isNaN32(b)) {
    if (signalsOnQnan(pred) || isSNaN32(a) || isSNaN32(b)) env.flags |= MXCSR_IE;
    return cmpPredicate(pred, true, false, false);
  }
  const x = in32(a), y = in32(b);
  return cmpPredicate(pred, false, x < y, x === y);
}
export function f64Cmp(pred: number, aLo: number, aHi: number, bLo: number, bHi: number): boolean {
  if (isNaN64(aLo, aHi) || isNaN64(bLo, bHi)) {
    if (signalsOnQnan(pred) || isSNaN64(aLo, aHi) || isSNaN64(bLo, bHi)) env.flags |= MXCSR_IE;
    return cmpPredicate(pred, true, false, false);
  }
  const x = in64(aLo, aHi), y = in64(bLo, bHi);
  return cmpPredicate(pred, false, x < y, x === y);
}

/** RFLAGS bits written by COMISS/UCOMISS (SDM Vol. 2 COMISD): ZF, PF, CF; OF, SF, AF cleared. */
export const COMI_ZF = 1 << 6;
export const COMI_PF = 1 << 2;
export const COMI_CF = 1 << 0;

/** COMISS (signaling = true) / UCOMISS: returns the ZF|PF|CF value. */
export function f32Comi(signaling: boolean, a: number, b: number): number {
  if (isNaN32(a) || isNaN32(b)) {
    if (signaling || isSNaN32(a) || isSNaN32(b)) env.flags |= MXCSR_IE;
    return COMI_ZF | COMI_PF | COMI_CF;
  }
  const x = in32(a), y = in32(b);
  return x < y ? COMI_CF : x === y ? COMI_ZF : 0;
}
export function f64Comi(signaling: boolean, aLo: number, aHi: number, bLo: number, bHi: number): number {
  if (isNaN64(aLo, aHi) || isNaN64(bLo, bHi)) {
    if (signaling || isSNaN64(aLo, aHi) || isSNaN64(bLo, bHi)) env.flags |= MXCSR_IE;
    return COMI_ZF | COMI_PF | COMI_CF;
  }
  const x = in64(aLo, aHi), y = in64(bLo, bHi);
  return x < y ? COMI_CF : x === y ? COMI_ZF : 0;
}

// ---- Conversions ------------------------------------------------------------------------------

/** CVTSS2SD: exact except for NaNs (quieted, payload kept) and DAZ. */
export function f32ToF64(a: number): void {
  if (isNaN32(a)) {
    if (isSNaN32(a)) env.flags |= MXCSR_IE;
    out.hi = ((a & 0x80000000) | 0x7ff80000 | ((a & 0x3fffff) >>> 3)) >>> 0;
    out.lo = (a << 29) >>> 0;
    return;
  }
  f64ToOut(in32(a));
}
/** CVTSD2SS: rounds per MXCSR. */
export function f64ToF32(lo: number, hi: number): number {
  if (isNaN64(lo, hi)) {
    if (isSNaN64(lo, hi)) env.flags |= MXCSR_IE;
    return ((hi & 0x80000000) | 0x7fc00000 | ((hi & 0x7ffff) << 3) | (lo >>> 29)) >>> 0;
  }
  const x = in64(lo, hi);
  if (x === 0 || x - x !== 0) return f32Bits(x);
  if (env.rc === Rc.Nearest && Math.abs(x) >= TWO_M126) {
    const f = Math.fround(x);
    if (f - f === 0) {
      if (f !== x) env.flags |= MXCSR_PE;
      return f32Bits(f);
    }
  }
  decompose(x);
  roundPack(x < 0, dSig, dExp, false, FMT32);
  return out.lo;
}

/** CVTSI2SS/CVTSI2SD from a signed 32-bit integer. */
export function i32ToF32(v: number): number {
  v |= 0;
  if (env.rc === Rc.Nearest || Math.abs(v) < 2 ** 24) {
    const f = Math.fround(v);
    if (f !== v) env.flags |= MXCSR_PE;
    return f32Bits(f);
  }
  roundPack(v < 0, BigInt(Math.abs(v)), 0, false, FMT32);
  return out.lo;
}
export function i32ToF64(v: number): void { f64ToOut(v | 0); }
/** From a signed 64-bit integer given as halves. */
export function i64ToF32(lo: number, hi: number): number {
  const h = hi | 0;
  if ((h === 0 && lo < 2 ** 24) || (h === -1 && lo >= 2 ** 32 - 2 ** 24)) return i32ToF32(lo);
  const v = (BigInt(h) << 32n) | BigInt(lo >>> 0);
  roundPack(v < 0n, v < 0n ? -v : v, 0, false, FMT32);
  return out.lo;
}
export function i64ToF64(lo: number, hi: number): void {
  const h = (hi | 0) * 4294967296;
  const l = lo >>> 0;
  const r = h + l;
  if (env.rc === Rc.Nearest) {
    const err = twoSumErr(h, l, r);
    if (err !== 0) { env.flags |= MXCSR_PE; env.up = (err < 0) === (r > 0); }
    f64ToOut(r);
    return;
  }
  const v = (BigInt(hi | 0) << 32n) | BigInt(l);
  if (v === 0n) { f64ToOut(0); return; }
  roundPack(v < 0n, v < 0n ? -v : v, 0, false, FMT64);
}

/**
 * Rounds (-1)^neg * sig * 2^exp (sig a non-zero BigInt) to binary64 under env (rc, precBits),
 * result in out, flags and env.up set: for the x87's conversions from 80-bit values.
 */
export function roundToF64(neg: boolean, sig: bigint, exp: number): void {
  roundPack(neg, sig, exp, false, FMT64);
}
/** The same to binary32; bits in out.lo. */
export function roundToF32(neg: boolean, sig: bigint, exp: number): void {
  roundPack(neg, sig, exp, false, FMT32);
}

/** Rounds a finite double to an integral value per rc; sets rInexact. */
export function roundIntegral(x: number, rc: number): number {
  let r: number;
  switch (rc) {
    case Rc.Nearest: {
      r = Math.floor(x);
      const d = x - r;
      if (d > 0.5 || (d === 0.5 && r % 2 !== 0)) r += 1;
      if (r === 0 && x < 0) r = -0;
      break;
    }
    case Rc.Down: r = Math.floor(x); break;
    case Rc.Up: r = Math.ceil(x); break;
    default: r = Math.trunc(x); break;
  }
  rInexact = r !== x;
  return r;
}

/**
 * CVTSS2SI/CVTSD2SI/CVTT*: float value (NaN given as NaN) to a signed integer of 32 or 64 bits
 * in out.lo/out.hi; NaN and out-of-range give the integer indefinite 0x80000000[00000000] (SDM Vol. 1 §4.8.3.7).
 */
export function floatToInt(x: number, bits: 32 | 64, truncate: boolean): void {
  if (x === x && x - x === 0) {
    const r = roundIntegral(x, truncate ? Rc.Zero : env.rc);
    const inRange = bits === 32 ? r >= -2147483648 && r <= 2147483647 : r >= -9223372036854775808 && r < 9223372036854775808;
    if (inRange) {
      if (rInexact) env.flags |= MXCSR_PE;
      if (bits === 32) { out.lo = r >>> 0; out.hi = 0; return; }
      const h = Math.floor(r / 4294967296);
      out.lo = (r - h * 4294967296) >>> 0;
      out.hi = h >>> 0;
      return;
    }
  }
  env.flags |= MXCSR_IE;
  if (bits === 32) { out.lo = 0x80000000; out.hi = 0; } else { out.lo = 0; out.hi = 0x80000000; }
}
export function f32ToInt(a: number, bits: 32 | 64, truncate: boolean): void {
  floatToInt(isNaN32(a) ? NaN : in32NoDe(a), bits, truncate);
}
export function f64ToInt(lo: number, hi: number, bits: 32 | 64, truncate: boolean): void {
  floatToInt(isNaN64(lo, hi) ? NaN : in64NoDe(lo, hi), bits, truncate);
}
/** Float-to-integer conversions honour DAZ but report no denormal exception (SDM Vol. 2 CVTSD2SI). */
function in32NoDe(b: number): number {
  if (env.daz && (b & 0x7f800000) === 0) return 0;
  return f32FromBits(b);
}
function in64NoDe(lo: number, hi: number): number {
  if (env.daz && (hi & 0x7ff00000) === 0) return 0;
  return f64FromBits(lo, hi);
}
