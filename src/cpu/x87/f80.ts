// Conversion between JS doubles (how the soft x87 holds its registers) and the 80-bit double
// extended-precision format of memory operands and FXSAVE images (SDM Vol. 1 §4.2.2, Table 4-3):
// 1 sign bit, 15-bit exponent (bias 16383), 64-bit significand with an explicit integer bit.
//
// double -> f80 is exact (every double, denormals included, is a normal f80). f80 -> double
// rounds to nearest-even, producing double denormals and zeros for tiny values and infinities for
// large ones; NaN payloads keep their top 52 fraction bits (and stay NaNs).

/** An 80-bit value: significand halves and sign+exponent (bits 64..79). */
export const f80 = { lo: 0, hi: 0, se: 0 };

const buf = new Float64Array(1);
const w = new Uint32Array(buf.buffer);

/** Double bits of x (raw, so NaN payloads survive when x comes from a Float64Array read). */
export function doubleToF80(x: number): void {
  buf[0] = x;
  doubleBitsToF80(w[0]!, w[1]!);
}

/** Converts the binary64 pattern (lo, hi) to f80 in `f80`. */
export function doubleBitsToF80(lo: number, hi: number): void {
  const sign = (hi >>> 31) << 15;
  const e = (hi >>> 20) & 0x7ff;
  const fh = hi & 0xfffff;
  if (e === 0x7ff) {
    // Infinity or NaN: integer bit set, fraction shifted to the top (quiet bit 51 -> 62).
    f80.hi = (0x80000000 | (fh << 11) | (lo >>> 21)) >>> 0;
    f80.lo = (lo << 11) >>> 0;
    f80.se = sign | 0x7fff;
    return;
  }
  if (e === 0) {
    if ((fh | lo) === 0) { f80.hi = 0; f80.lo = 0; f80.se = sign; return; }
    // Double denormal: normalize the 52-bit fraction so its leading one is bit 63.
    let sh: number, sl: number, p: number; // p = index of the leading one in the fraction
    if (fh !== 0) { p = 63 - Math.clz32(fh); } else { p = 31 - Math.clz32(lo); }
    const shift = 63 - p; // left shift of the 64-bit (fh:lo) value
    if (shift >= 32) { sh = (lo << (shift - 32)) >>> 0; sl = 0; } else { sh = ((fh << shift) | (lo >>> (32 - shift))) >>> 0; sl = (lo << shift) >>> 0; }
    f80.hi = sh; f80.lo = sl;
    f80.se = sign | (p - 1074 + 16383);
    return;
  }
  f80.hi = (0x80000000 | (fh << 11) | (lo >>> 21)) >>> 0;
  f80.lo = (lo << 11) >>> 0;
  f80.se = sign | (e - 1023 + 16383);
}

/**
 * Result of f80ToDoubleBits, with what the rounding did: inexact, magnitude rounded up (the x87
 * reports it in C1), tiny (below the double normal range) and overflow.
 */
export const dbl = { lo: 0, hi: 0, inexact: false, up: false, tiny: false, overflow: false };

/** Converts an f80 (significand hi:lo, sign+exponent se) to double bits in `dbl`. */
export function f80ToDoubleBits(lo: number, hi: number, se: number): void {
  const sign = (se & 0x8000) << 16;
  const e = se & 0x7fff;
  hi >>>= 0; lo >>>= 0;
  dbl.inexact = false; dbl.up = false; dbl.tiny = false; dbl.overflow = false;
  if (e === 0x7fff) {
    const fracHi = hi & 0x7fffffff;
    if ((fracHi | lo) === 0) { dbl.hi = (sign | 0x7ff00000) >>> 0; dbl.lo = 0; return; }
    const fh = fracHi >>> 11;
    let fl = ((fracHi << 21) | (lo >>> 11)) >>> 0;
    if ((fh | fl) === 0) fl = 1; // payload only in the dropped bits: keep it a NaN
    dbl.hi = (sign | 0x7ff00000 | fh) >>> 0;
    dbl.lo = fl;
    return;
  }
  if ((hi | lo) === 0) { dbl.hi = sign >>> 0; dbl.lo = 0; return; }
  const E = e === 0 ? -16382 : e - 16383; // exponent of significand bit 63
  // Leading one may be below bit 63 (f80 denormals, unnormals): find it.
  const lead = hi !== 0 ? 31 - Math.clz32(hi) + 32 : 31 - Math.clz32(lo);
  const top = E - (63 - lead); // exponent of the leading one
  if (top > 1023) {
    dbl.hi = (sign | 0x7ff00000) >>> 0; dbl.lo = 0;
    dbl.inexact = true; dbl.up = true; dbl.overflow = true;
    return;
  }
  if (top >= -1022) {
    // One rounding from 64 to 53 bits: hi * 2^32 is exact, adding lo rounds once (to nearest).
    const h = hi * 4294967296;
    const sig = h + lo;
    const err = (sig - h) - lo; // exact: the rounding error of the sum, in integer units
    if (err !== 0) { dbl.inexact = true; dbl.up = err > 0; }
    if (sig * 2 ** (E - 63) >= 2 ** 1024) { dbl.overflow = true; dbl.up = true; }
    // Scale by 2^(E - 63) in two steps so that neither power of two overflows; exact here.
    const k = E - 63;
    const x = sig * 2 ** Math.trunc(k / 2) * 2 ** (k - Math.trunc(k / 2));
    buf[0] = sign !== 0 ? -x : x;
    dbl.lo = w[0]!; dbl.hi = w[1]!;
    return;
  }
  // Result is a double denormal or zero: round the exact value to a multiple of 2^-1074.
  const s = BigInt(hi) << 32n | BigInt(lo);
  const shift = -1074 - (E - 63); // bits to drop
  let m: bigint;
  if (shift > 70) m = 0n;
  else if (shift <= 0) m = s << BigInt(-shift);
  else {
    const b = BigInt(shift);
    m = s >> b;
    const rem = s & ((1n << b) - 1n);
    const half = 1n << (b - 1n);
    if (rem > half || (rem === half && (m & 1n) === 1n)) { m += 1n; dbl.up = true; }
    dbl.inexact = rem !== 0n;
  }
  if (shift > 70) dbl.inexact = true;
  dbl.tiny = true;
  dbl.hi = (sign | Number(m >> 32n)) >>> 0;
  dbl.lo = Number(m & 0xffffffffn);
}

/** f80 to a JS double (for loading registers). */
export function f80ToDouble(lo: number, hi: number, se: number): number {
  f80ToDoubleBits(lo, hi, se);
  w[0] = dbl.lo; w[1] = dbl.hi;
  return buf[0]!;
}
