// x87 memory operand formats (SDM Vol. 1 §4.2, §8.2.1): single/double/extended reals, 16/32/64-bit
// integers and 18-digit packed BCD, converted to and from the doubles held in the registers.

import type { Cpu } from '../insn.js';
import { MXCSR_RC_SHIFT, Rc } from '../sse/mxcsr.js';
import { env, f64ToF32, i64ToF64, loadEnv, out, roundIntegral } from '../sse/softfloat.js';
import { dbl, doubleBitsToF80, f80, f80ToDoubleBits } from './f80.js';
import { FSW_C1, FSW_IE, FSW_OE, FSW_PE, FSW_UE, raise } from './stack.js';

/** Double bits produced by the readers (lo, hi), so FLD keeps NaN payloads. */
export const bits = { lo: 0, hi: 0 };
const buf = new Float64Array(1);
const w = new Uint32Array(buf.buffer);
const f32 = new Float32Array(1);
const f32w = new Uint32Array(f32.buffer);

/**
 * The operand as read, an SNaN not yet quieted: arithmetic picks among NaN operands by their
 * kind (SDM Vol. 1 Table 4-7), which quieting at load time would hide.
 */
export const rawBits = { lo: 0, hi: 0 };

export function bitsValue(): number {
  w[0] = bits.lo; w[1] = bits.hi;
  return buf[0]!;
}
function setBitsFrom(x: number): void {
  buf[0] = x;
  bits.lo = w[0]!; bits.hi = w[1]!;
}

/**
 * The last readReal32/readReal64 operand was a denormal. The caller raises DE: FLD always; an
 * arithmetic instruction only when ST(0) is not a NaN, since a NaN operand takes priority over a
 * denormal one (SDM Vol. 1 §8.7; the host reports IE alone for an SNaN ST(0) plus a denormal m64).
 */
export const memOperand = { denormal: false };

/** m32real: SNaN operands are quieted with IE (SDM Vol. 1 §8.5.1.2). */
export function readReal32(cpu: Cpu, lin: number): void {
  memOperand.denormal = false;
  const b = cpu.read32(lin) >>> 0;
  if ((b & 0x7fffffff) > 0x7f800000) {
    if ((b & 0x00400000) === 0) raise(cpu, FSW_IE);
    rawBits.hi = ((b & 0x80000000) | 0x7ff00000 | ((b & 0x7fffff) >>> 3)) >>> 0;
    bits.hi = (rawBits.hi | 0x00080000) >>> 0;
    bits.lo = rawBits.lo = (b << 29) >>> 0;
    return;
  }
  if ((b & 0x7f800000) === 0 && (b & 0x007fffff) !== 0) memOperand.denormal = true;
  f32w[0] = b;
  setBitsFrom(f32[0]!);
  rawBits.lo = bits.lo; rawBits.hi = bits.hi;
}
export function readReal64(cpu: Cpu, lin: number): void {
  memOperand.denormal = false;
  const lo = cpu.read64(lin) >>> 0;
  let hi = cpu.hi >>> 0;
  rawBits.lo = lo; rawBits.hi = hi;
  const h = hi & 0x7fffffff;
  if (h > 0x7ff00000 || (h === 0x7ff00000 && lo !== 0)) {
    if ((hi & 0x00080000) === 0) raise(cpu, FSW_IE);
    hi = (hi | 0x00080000) >>> 0;
  } else if ((hi & 0x7ff00000) === 0 && ((hi & 0x000fffff) | lo) !== 0) {
    memOperand.denormal = true;
  }
  bits.lo = lo; bits.hi = hi;
}
/**
 * m80real: an SNaN is quieted with IE. The register gets the value rounded to nearest double;
 * the exact image is left in raw80 for the caller to record beside it (registers.ts).
 */
export function readReal80(cpu: Cpu, lin: number): void {
  const lo = cpu.read64(lin) >>> 0;
  let hi = cpu.hi >>> 0;
  const se = cpu.read16(lin + 8);
  if ((se & 0x7fff) === 0x7fff && ((hi & 0x7fffffff) | lo) !== 0 && (hi & 0x40000000) === 0) {
    raise(cpu, FSW_IE);
    hi = (hi | 0x40000000) >>> 0;
  }
  f80ToDoubleBits(lo, hi, se);
  bits.lo = dbl.lo; bits.hi = dbl.hi;
  raw80.lo = lo; raw80.hi = hi; raw80.se = se;
}
/** The 80-bit image read by the last readReal80 (SNaN quieted). */
export const raw80 = { lo: 0, hi: 0, se: 0 };

/** The last m64int read by readInt (exact), for the register's 80-bit image. */
export let lastInt64 = 0n;
/** Whether the last m64int read does not fit a double (its exact value is in lastInt64). */
export let int64Inexact = false;

/**
 * m16int/m32int/m64int. Beyond 2^53 an m64int does not fit a double: the register gets it rounded
 * and the caller records the exact value as the register's image (int64Inexact, lastInt64).
 */
export function readInt(cpu: Cpu, lin: number, size: 2 | 4 | 8): number {
  int64Inexact = false;
  if (size === 2) return (cpu.read16(lin) << 16) >> 16;
  if (size === 4) return cpu.read32(lin) | 0;
  const lo = cpu.read64(lin) >>> 0;
  const hi = cpu.hi;
  lastInt64 = (BigInt(hi | 0) << 32n) | BigInt(lo);
  loadEnv(0x1f80 | (((cpu.fpuControl >>> 10) & 3) << MXCSR_RC_SHIFT));
  i64ToF64(lo, hi);
  int64Inexact = env.flags !== 0;
  w[0] = out.lo; w[1] = out.hi;
  return buf[0]!;
}


/** C1 after an inexact store: the rounding direction (SDM Vol. 2 FST, FIST "FPU Flags Affected"). */
function setC1(cpu: Cpu, up: boolean): void {
  if (up) cpu.fpuStatus |= FSW_C1; else cpu.fpuStatus &= ~FSW_C1;
}

/** FST m32: rounds under FCW.RC (softfloat's CVTSD2SS rules); C1 = rounded up in magnitude. */
export function writeReal32(cpu: Cpu, lin: number, x: number, rawLo: number, rawHi: number): void {
  let b: number;
  if (x !== x) {
    b = ((rawHi & 0x80000000) | 0x7fc00000 | ((rawHi & 0x7ffff) << 3) | (rawLo >>> 29)) >>> 0;
  } else {
    loadEnv(0x1f80 | (((cpu.fpuControl >>> 10) & 3) << MXCSR_RC_SHIFT));
    b = f64ToF32(rawLo, rawHi);
    f32w[0] = b;
    const f = env.flags & (FSW_PE | FSW_OE | FSW_UE);
    if (f !== 0) { setC1(cpu, Math.abs(f32[0]!) > Math.abs(x)); raise(cpu, f); }
  }
  cpu.write32(lin, b);
}
export function writeReal64(cpu: Cpu, lin: number, rawLo: number, rawHi: number): void {
  cpu.write64(lin, rawLo, rawHi);
}
export function writeReal80(cpu: Cpu, lin: number, rawLo: number, rawHi: number): void {
  doubleBitsToF80(rawLo, rawHi);
  cpu.write64(lin, f80.lo, f80.hi);
  cpu.write16(lin + 8, f80.se);
}

/** FIST/FISTP/FISTTP: rounds per FCW.RC (or truncates); NaN/out of range -> integer indefinite + IE. */
export function writeInt(cpu: Cpu, lin: number, x: number, size: 2 | 4 | 8, truncate: boolean): void {
  let r = NaN;
  if (x === x && x - x === 0) {
    r = roundIntegral(x, truncate ? Rc.Zero : (cpu.fpuControl >>> 10) & 3);
    const lim = size === 2 ? 32768 : size === 4 ? 2147483648 : 9223372036854775808;
    if (!(r >= -lim && r < lim)) r = NaN;
  }
  if (r !== r) {
    raise(cpu, FSW_IE);
    if (size === 2) cpu.write16(lin, 0x8000);
    else if (size === 4) cpu.write32(lin, 0x80000000);
    else cpu.write64(lin, 0, 0x80000000);
    return;
  }
  if (r !== x) { setC1(cpu, Math.abs(r) > Math.abs(x)); raise(cpu, FSW_PE); }
  if (size === 2) cpu.write16(lin, r & 0xffff);
  else if (size === 4) cpu.write32(lin, r >>> 0);
  else {
    const h = Math.floor(r / 4294967296);
    cpu.write64(lin, (r - h * 4294967296) >>> 0, h >>> 0);
  }
}

/** FBLD: 18 packed BCD digits in bytes 0..8, sign in bit 7 of byte 9 (SDM Vol. 1 §4.7). */
export function readBcd(cpu: Cpu, lin: number): number {
  let v = 0n;
  for (let k = 8; k >= 0; k--) {
    const b = cpu.read8(lin + k);
    v = v * 100n + BigInt((b >>> 4) * 10 + (b & 15));
  }
  const neg = (cpu.read8(lin + 9) & 0x80) !== 0;
  lastBcd = neg ? -v : v; // exact, for the register's 80-bit image
  const n = Number(v);
  return neg ? -n : n;
}
/** The value of the last readBcd, exact. */
export let lastBcd = 0n;
/**
 * FBSTP of an integer magnitude already rounded by the caller (null: NaN, infinity or beyond 18
 * digits, which store the BCD indefinite with IE).
 */
export function writeBcdInt(cpu: Cpu, lin: number, mag: bigint | null, neg: boolean): void {
  if (mag === null || mag >= 1000000000000000000n) {
    raise(cpu, FSW_IE);
    for (let k = 0; k < 7; k++) cpu.write8(lin + k, 0);
    cpu.write8(lin + 7, 0xc0);
    cpu.write8(lin + 8, 0xff);
    cpu.write8(lin + 9, 0xff);
    return;
  }
  let v = mag;
  for (let k = 0; k < 9; k++) {
    const d = Number(v % 100n);
    v /= 100n;
    cpu.write8(lin + k, ((Math.floor(d / 10) << 4) | (d % 10)) & 0xff);
  }
  cpu.write8(lin + 9, neg ? 0x80 : 0);
}
/** FBSTP: rounds per FCW.RC; beyond 18 digits or NaN stores the BCD indefinite with IE. */
export function writeBcd(cpu: Cpu, lin: number, x: number): void {
  let r = NaN;
  if (x === x && x - x === 0) {
    r = roundIntegral(x, (cpu.fpuControl >>> 10) & 3);
    if (Math.abs(r) >= 1e18) r = NaN;
    else if (r !== x) { setC1(cpu, Math.abs(r) > Math.abs(x)); raise(cpu, FSW_PE); }
  }
  if (r !== r) {
    raise(cpu, FSW_IE);
    for (let k = 0; k < 7; k++) cpu.write8(lin + k, 0);
    cpu.write8(lin + 7, 0xc0);
    cpu.write8(lin + 8, 0xff);
    cpu.write8(lin + 9, 0xff);
    return;
  }
  let v = BigInt(Math.abs(r));
  for (let k = 0; k < 9; k++) {
    const d = Number(v % 100n);
    v /= 100n;
    cpu.write8(lin + k, ((Math.floor(d / 10) << 4) | (d % 10)) & 0xff);
  }
  cpu.write8(lin + 9, r < 0 || Object.is(r, -0) ? 0x80 : 0);
}

