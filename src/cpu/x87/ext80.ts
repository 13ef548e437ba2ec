// Double extended-precision arithmetic (SDM Vol. 1 §4.2.2: 64-bit significand with an explicit
// integer bit, 15-bit exponent) for the x87 when its precision control is "extended", the FNINIT
// default that Linux keeps. Operands and results are 80-bit images; the arithmetic is exact on
// BigInts then rounded once under FCW.RC to the precision control's width. Slow, but the x87 is
// rare in the guests we target; it keeps long double results bit-exact.
//
// Special operands (NaN, infinity) and invalid/divide-by-zero cases are the caller's: they are
// exact in the double path. Zeros are handled here because x + 0 must keep x's 64-bit value.

import { Rc } from '../sse/mxcsr.js';

/** Result image and what the rounding did: FSW flags (PE/UE/OE) and C1 (rounded up). */
export const x80 = { lo: 0, hi: 0, se: 0, flags: 0, up: false };

const FSW_OE = 1 << 3, FSW_UE = 1 << 4, FSW_PE = 1 << 5;
const EMIN = -16382;

interface Unpacked { neg: boolean; sig: bigint; exp: number }
const ua: Unpacked = { neg: false, sig: 0n, exp: 0 };
const ub: Unpacked = { neg: false, sig: 0n, exp: 0 };

/** value = (-1)^neg * sig * 2^exp for a finite image. */
function unpack(lo: number, hi: number, se: number, u: Unpacked): void {
  const e = se & 0x7fff;
  u.neg = (se & 0x8000) !== 0;
  u.sig = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  u.exp = (e === 0 ? 1 : e) - 16383 - 63;
}

function bitLen(x: bigint): number { return x === 0n ? 0 : x.toString(2).length; }

let inexact = false;
let inc = false;
function roundShift(sig: bigint, shift: number, sticky: boolean, neg: boolean, rc: number): bigint {
  let m: bigint, cmp: number;
  if (shift <= 0) { m = sig << BigInt(-shift); inexact = sticky; cmp = -1; } else {
    const s = BigInt(shift);
    m = sig >> s;
    const rem = sig & ((1n << s) - 1n), half = 1n << (s - 1n);
    inexact = rem !== 0n || sticky;
    cmp = rem > half ? 1 : rem < half ? -1 : sticky ? 1 : 0;
  }
  inc = false;
  if (inexact) {
    if (rc === Rc.Nearest) inc = cmp > 0 || (cmp === 0 && (m & 1n) === 1n);
    else if (rc === Rc.Down) inc = neg;
    else if (rc === Rc.Up) inc = !neg;
    if (inc) m += 1n;
  }
  return m;
}

/** Rounds (-1)^neg * (sig + sticky) * 2^exp to `precBits` bits in the 80-bit format, into x80. */
export function round80(neg: boolean, sig: bigint, exp: number, sticky: boolean, precBits: number, rc: number): void {
  x80.flags = 0;
  x80.up = false;
  const sign = neg ? 0x8000 : 0;
  if (sig === 0n && !sticky) { x80.lo = 0; x80.hi = 0; x80.se = sign; return; }
  const n = bitLen(sig);
  const lead = exp + n - 1;
  const fracBits = precBits - 1;
  let tiny = false;
  if (lead < EMIN - 1) tiny = true;
  else if (lead === EMIN - 1) tiny = bitLen(roundShift(sig, n - precBits, sticky, neg, rc)) <= precBits;
  let q = Math.max(lead - fracBits, EMIN - 63);
  let m = roundShift(sig, q - exp, sticky, neg, rc);
  const wasInexact = inexact;
  x80.up = inc;
  if (bitLen(m) > precBits) { m >>= 1n; q += 1; }
  if (m !== 0n) {
    const storageQ = Math.max(q + bitLen(m) - 1, EMIN) - 63;
    m <<= BigInt(q - storageQ);
    q = storageQ;
  }
  let be = m >= 1n << 63n ? q + 63 + 16383 : 0;
  if (be >= 0x7fff) {
    x80.flags = FSW_OE | FSW_PE;
    const toInf = rc === Rc.Nearest || (rc === Rc.Down && neg) || (rc === Rc.Up && !neg);
    x80.up = toInf;
    if (toInf) { be = 0x7fff; m = 1n << 63n; } else { be = 0x7ffe; m = ((1n << BigInt(precBits)) - 1n) << BigInt(64 - precBits); }
  } else if (wasInexact) {
    x80.flags = FSW_PE | (tiny ? FSW_UE : 0);
  }
  x80.lo = Number(m & 0xffffffffn);
  x80.hi = Number(m >> 32n);
  x80.se = sign | be;
}

/** Operation codes: 0 add, 1 sub, 2 mul, 3 div. Operands are finite images; b != 0 for div. */
export function arith80(op: number, aLo: number, aHi: number, aSe: number, bLo: number, bHi: number, bSe: number, precBits: number, rc: number): void {
  unpack(aLo, aHi, aSe, ua);
  unpack(bLo, bHi, bSe, ub);
  if (op === 1) { ub.neg = !ub.neg; op = 0; }
  if (op === 0) {
    if (ua.sig === 0n && ub.sig === 0n) {
      round80(ua.neg === ub.neg ? ua.neg : rc === Rc.Down, 0n, 0, false, precBits, rc);
      return;
    }
    const e = Math.min(ua.exp, ub.exp);
    let A = ua.sig << BigInt(ua.exp - e), B = ub.sig << BigInt(ub.exp - e);
    if (ua.neg) A = -A;
    if (ub.neg) B = -B;
    const S = A + B;
    if (S === 0n) { round80(rc === Rc.Down, 0n, 0, false, precBits, rc); return; }
    round80(S < 0n, S < 0n ? -S : S, e, false, precBits, rc);
    return;
  }
  const neg = ua.neg !== ub.neg;
  if (op === 2) { round80(neg, ua.sig * ub.sig, ua.exp + ub.exp, false, precBits, rc); return; }
  if (ua.sig === 0n) { round80(neg, 0n, 0, false, precBits, rc); return; }
  const num = ua.sig << 130n;
  const q = num / ub.sig;
  round80(neg, q, ua.exp - ub.exp - 130, q * ub.sig !== num, precBits, rc);
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
/** Square root of a finite, non-negative image (a negative non-zero one is the caller's). */
export function sqrt80(lo: number, hi: number, se: number, precBits: number, rc: number): void {
  unpack(lo, hi, se, ua);
  if (ua.sig === 0n) { round80(ua.neg, 0n, 0, false, precBits, rc); return; }
  let s = ua.sig, e = ua.exp;
  if ((e & 1) !== 0) { s <<= 1n; e -= 1; }
  const N = s << 260n;
  const r = isqrt(N);
  round80(false, r, (e - 260) / 2, r * r !== N, precBits, rc);
}

/**
 * |value| = sig * 2^exp (exp < 0) rounded to an integer under rc: returns the magnitude; sets
 * x80.flags to PE when inexact and x80.up when rounded up in magnitude (FRNDINT, FIST).
 */
export function roundToInteger(neg: boolean, sig: bigint, exp: number, rc: number): bigint {
  const m = roundShift(sig, -exp, false, neg, rc);
  x80.flags = inexact ? FSW_PE : 0;
  x80.up = inc;
  return m;
}

/** Image of a signed integer (FILD m64: exact in 64 bits). */
export function intImage(v: bigint): void {
  round80(v < 0n, v < 0n ? -v : v, 0, false, 64, Rc.Nearest);
}

/**
 * Constants of FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2 to 128 bits (leading bit = bit 127) and the
 * exponent of that bit; rounded to 64 bits under FCW.RC when loaded (SDM Vol. 1 §8.3.8).
 */
const CONSTANTS: ReadonlyArray<readonly [bigint, number]> = [
  [0xD49A784BCD1B8AFE492BF6FF4DAFDB4Dn, 1], // log2(10)
  [0xB8AA3B295C17F0BBBE87FED0691D3E89n, 0], // log2(e)
  [0xC90FDAA22168C234C4C6628B80DC1CD1n, 1], // pi
  [0x9A209A84FBCFF7988F8959AC0B7C9178n, -2], // log10(2)
  [0xB17217F7D1CF79ABC9E3B39803F2F6AFn, -1], // ln(2)
];
/** k = 1..5 as in D9 E9..ED. */
export function constantImage(k: number, rc: number): void {
  const c = CONSTANTS[k - 1]!;
  round80(false, c[0], c[1] - 127, true, 64, rc);
}
