// Lazy arithmetic flags (SDM Vol. 1 §3.4.3.1, Appendix A "EFLAGS Cross-Reference").
//
// Most instructions that write the six status flags are ALU operations whose flags nobody
// reads; we record the operation, its size and operands in CpuState.lazy* and compute
// CF/PF/AF/ZF/SF/OF only when someone asks (Jcc, SETcc, PUSHF, ADC...). Instructions whose flag
// rules are irregular (shifts, rotates, multiplies, BSF...) compute the flags at once and store
// them "materialized" (LazyOp.None, value in lazyFlags).
//
// Operand values are masked to the operation size; 64-bit operands use the Hi fields, smaller
// ones leave them 0.

import { type CpuState, Flag, ARITH_FLAGS } from './state.js';

export const enum LazyOp {
  /** lazyFlags holds the six flags. */
  None = 0,
  Add = 1,
  /** ADC with carry-in 1 (ADC with carry-in 0 is recorded as Add). */
  Adc1 = 2,
  Sub = 3,
  /** SBB with borrow-in 1. */
  Sbb1 = 4,
  /** AND/OR/XOR/TEST: CF=OF=0, AF=0 (undefined in the SDM; hardware clears it). */
  Logic = 5,
  /** INC/DEC: CF kept from before, held in lazyFlags. */
  Inc = 6,
  Dec = 7,
}

/** PF of a byte: set when the number of one bits is even. */
export const PARITY = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  let ones = 0;
  for (let k = 0; k < 8; k++) ones += (b >> k) & 1;
  PARITY[b] = (ones & 1) === 0 ? Flag.PF : 0;
}

/** Sign-bit position of the top 32-bit word for each size (index by size). */
const SIGN_SHIFT = [0, 7, 15, 0, 31, 0, 0, 0, 31];

/** unsigned 64-bit a < b on (hi, lo) pairs. */
function ult64(aHi: number, aLo: number, bHi: number, bLo: number): boolean {
  return aHi !== bHi ? (aHi >>> 0) < (bHi >>> 0) : (aLo >>> 0) < (bLo >>> 0);
}

/** The six status flags from the lazy record. */
export function computeArithFlags(s: CpuState): number {
  const op = s.lazyOp;
  if (op === LazyOp.None) return s.lazyFlags;
  const size = s.lazySize;
  const resLo = s.lazyResLo;
  const sh = SIGN_SHIFT[size] ?? 31;
  let res: number; let dst: number; let src: number; let zero: boolean;
  if (size === 8) {
    res = s.lazyResHi; dst = s.lazyDstHi; src = s.lazySrcHi;
    zero = (resLo | s.lazyResHi) === 0;
  } else {
    res = resLo; dst = s.lazyDstLo; src = s.lazySrcLo;
    zero = resLo === 0;
  }
  let f = PARITY[resLo & 0xff]! | (zero ? Flag.ZF : 0) | (((res >>> sh) & 1) !== 0 ? Flag.SF : 0);
  switch (op) {
    case LazyOp.Logic:
      return f;
    case LazyOp.Add:
    case LazyOp.Adc1: {
      if ((((dst ^ res) & (src ^ res)) >>> sh) & 1) f |= Flag.OF;
      f |= (s.lazyDstLo ^ s.lazySrcLo ^ resLo) & Flag.AF;
      const carry = below(size, s.lazyResHi, resLo, s.lazyDstHi, s.lazyDstLo, op === LazyOp.Adc1);
      return carry ? f | Flag.CF : f;
    }
    case LazyOp.Sub:
    case LazyOp.Sbb1: {
      if ((((dst ^ src) & (dst ^ res)) >>> sh) & 1) f |= Flag.OF;
      f |= (s.lazyDstLo ^ s.lazySrcLo ^ resLo) & Flag.AF;
      const borrow = below(size, s.lazyDstHi, s.lazyDstLo, s.lazySrcHi, s.lazySrcLo, op === LazyOp.Sbb1);
      return borrow ? f | Flag.CF : f;
    }
    case LazyOp.Inc: {
      // OF when the result is the smallest negative number (SDM INC); AF when low nibble wrapped.
      if ((res >>> 0) === ((1 << sh) >>> 0) && (size !== 8 || resLo === 0)) f |= Flag.OF;
      if ((resLo & 0xf) === 0) f |= Flag.AF;
      return f | (s.lazyFlags & Flag.CF);
    }
    case LazyOp.Dec: {
      // OF when the result is the largest positive number; AF when low nibble borrowed.
      const maxPos = sh === 31 ? 0x7fffffff : (1 << sh) - 1;
      if ((res >>> 0) === maxPos && (size !== 8 || (resLo >>> 0) === 0xffffffff)) f |= Flag.OF;
      if ((resLo & 0xf) === 0xf) f |= Flag.AF;
      return f | (s.lazyFlags & Flag.CF);
    }
    default:
      return s.lazyFlags;
  }
}

/**
 * CF alone (ADC/SBB carry-in, INC/DEC keeping CF, JB...): the carry or borrow of the recorded
 * operation, as computeArithFlags finds it, without the other five flags.
 */
export function computeCF(s: CpuState): boolean {
  const op = s.lazyOp;
  switch (op) {
    case LazyOp.Logic:
      return false;
    case LazyOp.Add:
    case LazyOp.Adc1: // carry: the result wrapped below the destination (or to it, with a carry-in)
      return below(s.lazySize, s.lazyResHi, s.lazyResLo, s.lazyDstHi, s.lazyDstLo, op === LazyOp.Adc1);
    case LazyOp.Sub:
    case LazyOp.Sbb1: // borrow: the destination below the source (or equal to it, with a borrow-in)
      return below(s.lazySize, s.lazyDstHi, s.lazyDstLo, s.lazySrcHi, s.lazySrcLo, op === LazyOp.Sbb1);
    default: // None (materialized), Inc, Dec (CF kept in lazyFlags)
      return (s.lazyFlags & Flag.CF) !== 0;
  }
}

/** Unsigned a < b (a <= b with orEqual) on operands of `size` (the Hi halves count for size 8 only). */
function below(size: number, aHi: number, aLo: number, bHi: number, bLo: number, orEqual: boolean): boolean {
  if (size === 8) return ult64(aHi, aLo, bHi, bLo) || (orEqual && aHi === bHi && aLo === bLo);
  return orEqual ? (aLo >>> 0) <= (bLo >>> 0) : (aLo >>> 0) < (bLo >>> 0);
}

/** ZF alone. */
export function computeZF(s: CpuState): boolean {
  if (s.lazyOp === LazyOp.None) return (s.lazyFlags & Flag.ZF) !== 0;
  return s.lazySize === 8 ? (s.lazyResLo | s.lazyResHi) === 0 : s.lazyResLo === 0;
}

/** Full RFLAGS. */
export function getRflags(s: CpuState): number {
  return (s.flagsRest & ~ARITH_FLAGS) | computeArithFlags(s) | 0x2;
}

/** Stores materialized arithmetic flags. */
export function setArithFlags(s: CpuState, flags: number): void {
  s.lazyOp = LazyOp.None;
  s.lazyFlags = flags & ARITH_FLAGS;
}

/** Records a lazy result for sizes 1..4 (values already masked to the size). */
export function setLazy(s: CpuState, op: LazyOp, size: number, dst: number, src: number, res: number): void {
  // The Hi fields are read only for size 8, so they are left as they are.
  s.lazyOp = op; s.lazySize = size;
  s.lazyDstLo = dst; s.lazySrcLo = src; s.lazyResLo = res;
}

/** Records a lazy 64-bit result. */
export function setLazy64(s: CpuState, op: LazyOp, dstLo: number, dstHi: number, srcLo: number, srcHi: number, resLo: number, resHi: number): void {
  s.lazyOp = op; s.lazySize = 8;
  s.lazyDstLo = dstLo >>> 0; s.lazyDstHi = dstHi >>> 0; s.lazySrcLo = srcLo >>> 0; s.lazySrcHi = srcHi >>> 0;
  s.lazyResLo = resLo >>> 0; s.lazyResHi = resHi >>> 0;
}

/** INC/DEC: keeps CF, so it materializes CF into lazyFlags first. */
export function setLazyIncDec(s: CpuState, op: LazyOp.Inc | LazyOp.Dec, size: number, resLo: number, resHi: number): void {
  const cf = computeCF(s) ? Flag.CF : 0;
  s.lazyFlags = cf;
  s.lazyOp = op; s.lazySize = size;
  s.lazyResLo = resLo; s.lazyResHi = resHi;
  s.lazyDstLo = 0; s.lazyDstHi = 0; s.lazySrcLo = 0; s.lazySrcHi = 0;
}

/**
 * Evaluates condition code cc (0..15, the low nibble of Jcc/SETcc/CMOVcc; SDM Vol. 1 Table B-1).
 * After CMP/SUB and TEST/AND/OR/XOR (most conditions a kernel tests) the condition comes from the
 * recorded operands directly, as the comparison it stands for, without computing all six flags.
 */
export function testCondition(s: CpuState, cc: number): boolean {
  const op = s.lazyOp;
  const kind = cc >> 1;
  let r: boolean;
  if (op === LazyOp.Sub && kind !== 0 && kind !== 5) r = subCondition(s, kind);
  else if (op === LazyOp.Logic && kind !== 5) r = logicCondition(s, kind);
  else r = flagsCondition(s, kind);
  return (cc & 1) !== 0 ? !r : r;
}

/** B, Z, BE, S, L, LE after dst - src (no borrow-in): unsigned and signed comparisons. */
function subCondition(s: CpuState, kind: number): boolean {
  const size = s.lazySize;
  if (kind === 2) return computeZF(s);
  if (kind === 4) return resultNegative(s);
  if (size === 8) {
    const dHi = s.lazyDstHi >>> 0; const sHi = s.lazySrcHi >>> 0;
    const dLo = s.lazyDstLo >>> 0; const sLo = s.lazySrcLo >>> 0;
    switch (kind) {
      case 1: return dHi !== sHi ? dHi < sHi : dLo < sLo;
      case 3: return dHi !== sHi ? dHi < sHi : dLo <= sLo;
      case 6: return dHi !== sHi ? (dHi | 0) < (sHi | 0) : dLo < sLo;
      default: return dHi !== sHi ? (dHi | 0) < (sHi | 0) : dLo <= sLo;
    }
  }
  const d = s.lazyDstLo >>> 0; const v = s.lazySrcLo >>> 0;
  switch (kind) {
    case 1: return d < v;
    case 3: return d <= v;
    case 6: return signedOf(d, size) < signedOf(v, size);
    default: return signedOf(d, size) <= signedOf(v, size);
  }
}

/** A size-1/2/4 operand as a signed number. */
function signedOf(v: number, size: number): number {
  return size === 4 ? v | 0 : size === 2 ? (v << 16) >> 16 : (v << 24) >> 24;
}

/** Conditions after a logic op: CF = OF = 0, so B and O are false, L is S, BE is Z, LE is Z or S. */
function logicCondition(s: CpuState, kind: number): boolean {
  switch (kind) {
    case 0: case 1: return false;
    case 2: case 3: return computeZF(s);
    case 4: case 6: return resultNegative(s);
    default: return computeZF(s) || resultNegative(s);
  }
}

/** SF of a recorded (not materialized) result: its sign bit at the operation size. */
function resultNegative(s: CpuState): boolean {
  return s.lazySize === 8 ? (s.lazyResHi >>> 31) !== 0 : ((s.lazyResLo >>> (SIGN_SHIFT[s.lazySize] ?? 31)) & 1) !== 0;
}

/** The condition from the six flags (cc >> 1 = kind, before the negation bit). */
function flagsCondition(s: CpuState, kind: number): boolean {
  switch (kind) {
    case 0: return (computeArithFlags(s) & Flag.OF) !== 0; // O
    case 1: return computeCF(s); // B
    case 2: return computeZF(s); // Z
    case 3: return (computeArithFlags(s) & (Flag.CF | Flag.ZF)) !== 0; // BE
    case 4: return (computeArithFlags(s) & Flag.SF) !== 0; // S
    case 5: return (computeArithFlags(s) & Flag.PF) !== 0; // P
    case 6: { const f = computeArithFlags(s); return ((f >> 7) & 1) !== ((f >> 11) & 1); } // L
    default: { const f = computeArithFlags(s); return (f & Flag.ZF) !== 0 || ((f >> 7) & 1) !== ((f >> 11) & 1); } // LE
  }
}
