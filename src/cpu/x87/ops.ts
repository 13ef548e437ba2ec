// x87 instructions, one handler per escape opcode D8..DF (SDM Vol. 2 Appendix A.5, Tables A-7..
// A-22), plus FWAIT (9B). Memory forms dispatch on ModRM.reg, register forms on reg and rm.

import { Vector } from '../fault.js';
import type { Cpu, Insn } from '../insn.js';
import { Cr0, Flag, Reg } from '../state.js';
import { Rc } from '../sse/mxcsr.js';
import { env, f64Arith, f64Sqrt, FpOp, isNaN64, isSNaN64, loadEnv, out, roundToF32, roundToF64 } from '../sse/softfloat.js';
import { fldenv, fnsave, fnstenv, frstor } from './env.js';
import { arith80, constantImage, intImage, round80, roundToInteger, sqrt80, x80 } from './ext80.js';
import { doubleBitsToF80, f80 } from './f80.js';
import { composeFsw } from './fxsave.js';
import { copyRecord, fprWords, imageOf, invalidateRecord, recordedRaw80, recordRaw80, setImage, swapRecords } from './registers.js';
import {
  bits, bitsValue, int64Inexact, memOperand, rawBits, lastBcd, lastInt64, raw80, readBcd, readInt, readReal32, readReal64, readReal80, writeBcd, writeBcdInt, writeInt, writeReal32, writeReal64, writeReal80,
} from './mem-formats.js';
import {
  FSW_B, FSW_C0, FSW_C1, FSW_C2, FSW_C3, FSW_CC, FSW_DE, FSW_ES, FSW_IE, FSW_OE, FSW_PE, FSW_SF, FSW_UE, FSW_ZE, fninit, isEmpty, phys, pop, push, pushBits,
  raise, setSt, st, x87Begin, x87CheckNm,
} from './stack.js';

/** Operands and result of x87Arith as binary64 bit patterns (NaN payloads matter). */
const opA = { lo: 0, hi: 0 };
const opB = { lo: 0, hi: 0 };
const res = { lo: 0, hi: 0 };
const scratch = new Float64Array(1);
const scratchW = new Uint32Array(scratch.buffer);

/** 80-bit images of the operands (exact values; see registers.ts) and of the result. */
interface Image { lo: number; hi: number; se: number }
const imgA: Image = { lo: 0, hi: 0, se: 0 };
const imgB: Image = { lo: 0, hi: 0, se: 0 };
/** Set when the last x87Arith/x87Sqrt produced its result as an image in x80 (else in res). */
let extResult = false;

/** ST(i) into an operand: its raw bits and image, or the indefinite after a stack underflow. */
function stToOp(cpu: Cpu, i: number, o: { lo: number; hi: number }, img: Image = o === opA ? imgA : imgB): number {
  const v = st(cpu, i);
  if (isEmpty(cpu, i)) { o.lo = 0; o.hi = 0xfff80000; img.lo = 0; img.hi = 0xc0000000; img.se = 0xffff; return v; }
  const w = fprWords(cpu), p = phys(cpu, i);
  o.lo = w[2 * p]!; o.hi = w[2 * p + 1]!;
  imageOf(cpu, p);
  img.lo = f80.lo; img.hi = f80.hi; img.se = f80.se;
  return v;
}
/** A memory operand (already a double, so exact as an image). */
function bitsToOp(lo: number, hi: number, o: { lo: number; hi: number }, img: Image): void {
  o.lo = lo; o.hi = hi;
  doubleBitsToF80(lo, hi);
  img.lo = f80.lo; img.hi = f80.hi; img.se = f80.se;
}
function numToOp(v: number, o: { lo: number; hi: number }): void {
  scratch[0] = v;
  bitsToOp(scratchW[0]!, scratchW[1]!, o, o === opA ? imgA : imgB);
}
function classOnly(m: Image, o: { lo: number; hi: number }): void {
  if ((m.se & 0x7fff) === 0x7fff) return;
  o.lo = 0;
  o.hi = ((m.se & 0x8000) << 16 | ((m.lo | m.hi) === 0 ? 0 : 0x3ff00000)) >>> 0;
}
const isSpecial80 = (m: Image): boolean => (m.se & 0x7fff) === 0x7fff;
const isZero80 = (m: Image): boolean => (m.lo | m.hi) === 0;
/** Significand width of FCW.PC (SDM Vol. 1 Table 8-2): 00 single, 10 double, 11 extended. */
function precisionBits(cpu: Cpu): number {
  const pc = (cpu.fpuControl >>> 8) & 3;
  return pc === 0 ? 24 : pc === 2 ? 53 : 64;
}
/** Flags and C1 of an extended-path result (x80). */
function ext80Flags(cpu: Cpu): void {
  extResult = true;
  if (x80.flags !== 0) {
    raise(cpu, x80.flags);
    if ((x80.flags & FSW_PE) !== 0 && x80.up) cpu.fpuStatus |= FSW_C1;
  }
}
function setStBits(cpu: Cpu, i: number, lo: number, hi: number): void {
  const w = fprWords(cpu), p = phys(cpu, i);
  invalidateRecord(cpu, p);
  w[2 * p] = lo; w[2 * p + 1] = hi;
  cpu.fpuTagValid |= 1 << p;
}

/**
 * Loads the SSE environment for an x87 operation: FCW.RC, and FCW.PC = single narrowing results
 * to 24 bits. PC = double is what the double-based registers compute natively; PC = extended
 * (the FNINIT default) is approximated by double precision (see stack.ts).
 */
function x87Env(cpu: Cpu): void {
  loadEnv(0x1f80 | (((cpu.fpuControl >>> 10) & 3) << 13));
  if (((cpu.fpuControl >>> 8) & 3) === 0) env.precBits = 24;
}
/**
 * Flags of a softfloat operation into FSW (same bit positions as MXCSR). Only special operands
 * (infinities, invalid operations) take the double path, so only IE and ZE can arise; DE is left
 * out because memory operands report it when read.
 */
function x87Flags(cpu: Cpu): void {
  const f = env.flags & (FSW_IE | FSW_ZE);
  if (f !== 0) raise(cpu, f);
}
function setResult(cpu: Cpu, i: number): void {
  if (extResult) { setImage(cpu, phys(cpu, i), x80.lo, x80.hi, x80.se); return; }
  setStBits(cpu, i, res.lo, res.hi);
}

/** x87 NaN rules (SDM Vol. 1 Table 4-7): a QNaN beats an SNaN, else the larger significand. */
function x87Nan(cpu: Cpu, a: { lo: number; hi: number }, b: { lo: number; hi: number }): void {
  const aN = isNaN64(a.lo, a.hi), bN = isNaN64(b.lo, b.hi);
  const aS = isSNaN64(a.lo, a.hi), bS = isSNaN64(b.lo, b.hi);
  if (aS || bS) raise(cpu, FSW_IE);
  let pickA = aN;
  if (aN && bN) {
    if (aS !== bS) pickA = !aS;
    else {
      const ah = a.hi & 0xfffff, bh = b.hi & 0xfffff;
      const al = a.lo >>> 0, bl = b.lo >>> 0;
      // Equal significands: the positive one (observed on hardware).
      pickA = ah > bh || (ah === bh && (al > bl || (al === bl && (a.hi >>> 31) < (b.hi >>> 31))));
    }
  }
  const o = pickA ? a : b;
  res.lo = o.lo;
  res.hi = (o.hi | 0x00080000) >>> 0;
}

/**
 * The six arithmetic operations by ModRM.reg of D8/DC/DA/DE on opA (destination) and opB:
 * 0 add, 1 mul, 4 sub (a - b), 5 subr (b - a), 6 div (a / b), 7 divr (b / a); result in res.
 * The IEEE double arithmetic of softfloat.ts gives results and flags under FCW.RC.
 */
export function x87Arith(cpu: Cpu, r: number): void {
  extResult = false;
  if (isNaN64(opA.lo, opA.hi) || isNaN64(opB.lo, opB.hi)) { x87Nan(cpu, opA, opB); return; }
  const swap = r === 5 || r === 7;
  if (!isSpecial80(imgA) && !isSpecial80(imgB)) {
    // Finite operands: exact arithmetic on the 80-bit images, rounded under FCW.PC and FCW.RC.
    const x = swap ? imgB : imgA, y = swap ? imgA : imgB;
    const op80 = r === 0 ? 0 : r === 1 ? 2 : r <= 5 ? 1 : 3;
    if (op80 !== 3 || !isZero80(y)) {
      arith80(op80, x.lo, x.hi, x.se, y.lo, y.hi, y.se, precisionBits(cpu), (cpu.fpuControl >>> 10) & 3);
      ext80Flags(cpu);
      return;
    }
    if (!isZero80(x)) { // finite / 0: divide-by-zero, a signed infinity
      raise(cpu, FSW_ZE);
      x80.lo = 0; x80.hi = 0x80000000; x80.se = ((x.se ^ y.se) & 0x8000) | 0x7fff;
      extResult = true;
      return;
    }
  } else {
    // An infinite or NaN operand: the result depends only on the other operand's sign and class,
    // which its double may not keep (an 80-bit value beyond the double range): use +-1 or +-0.
    classOnly(imgA, opA);
    classOnly(imgB, opB);
  }
  const x = swap ? opB : opA, y = swap ? opA : opB;
  const op = r === 0 ? FpOp.Add : r === 1 ? FpOp.Mul : r <= 5 ? FpOp.Sub : FpOp.Div;
  x87Env(cpu);
  f64Arith(op, x.lo, x.hi, y.lo, y.hi);
  res.lo = out.lo; res.hi = out.hi;
  x87Flags(cpu);
}
/** FSQRT with the same conventions (operand in opA). */
function x87Sqrt(cpu: Cpu): void {
  extResult = false;
  if (isNaN64(opA.lo, opA.hi)) { x87Nan(cpu, opA, opA); return; }
  if (!isSpecial80(imgA) && (imgA.se & 0x8000) !== 0 && !isZero80(imgA)) { // sqrt of a negative
    raise(cpu, FSW_IE);
    res.lo = 0; res.hi = 0xfff80000;
    return;
  }
  if (!isSpecial80(imgA)) {
    sqrt80(imgA.lo, imgA.hi, imgA.se, precisionBits(cpu), (cpu.fpuControl >>> 10) & 3);
    ext80Flags(cpu);
    return;
  }
  x87Env(cpu);
  f64Sqrt(opA.lo, opA.hi);
  res.lo = out.lo; res.hi = out.hi;
  x87Flags(cpu);
}

/** Order of two finite images: -1, 0, 1 (zeros of either sign are equal). */
function cmp80(a: Image, b: Image): number {
  const za = isZero80(a), zb = isZero80(b);
  if (za && zb) return 0;
  const na = !za && (a.se & 0x8000) !== 0, nb = !zb && (b.se & 0x8000) !== 0;
  if (na !== nb) return na ? -1 : 1;
  let m = 0; // magnitude order
  const ea = za ? -1 : a.se & 0x7fff, eb = zb ? -1 : b.se & 0x7fff;
  if (ea !== eb) m = ea < eb ? -1 : 1;
  else if (a.hi >>> 0 !== b.hi >>> 0) m = a.hi >>> 0 < b.hi >>> 0 ? -1 : 1;
  else if (a.lo >>> 0 !== b.lo >>> 0) m = a.lo >>> 0 < b.lo >>> 0 ? -1 : 1;
  return na ? -m : m;
}
/** a ? b: 2 unordered, else -1/0/1, exact on the images in imgA/imgB when both are finite. */
function order(a: number, b: number): number {
  if (a !== a || b !== b) return 2;
  if (!isSpecial80(imgA) && !isSpecial80(imgB)) return cmp80(imgA, imgB);
  return a < b ? -1 : a === b ? 0 : 1;
}
/**
 * FCOM-family compare of ST(0) (a, image in imgA) with b (image in imgB): IE on a NaN when
 * `signaling` (FCOM) as opposed to FUCOM. C3/C2/C0 per SDM Vol. 2 FCOM Table 3-21.
 */
function compare(cpu: Cpu, a: number, b: number, signaling: boolean): void {
  if ((a !== a || b !== b) && signaling) raise(cpu, FSW_IE);
  const o = order(a, b);
  const cc = o === 2 ? FSW_C3 | FSW_C2 | FSW_C0 : o < 0 ? FSW_C0 : o === 0 ? FSW_C3 : 0;
  cpu.fpuStatus = (cpu.fpuStatus & ~FSW_CC) | cc;
}
/** Compare of ST(0) with ST(k), loading both images. */
function compareSt(cpu: Cpu, k: number, signaling: boolean): void {
  const a = stToOp(cpu, 0, opA), b = stToOp(cpu, k, opB);
  compare(cpu, a, b, signaling);
}
/** FCOMI/FUCOMI with ST(k): ZF, PF, CF like COMISD; OF, SF, AF cleared. */
function compareEflags(cpu: Cpu, k: number, signaling: boolean): void {
  const a = stToOp(cpu, 0, opA), b = stToOp(cpu, k, opB);
  const o = order(a, b);
  if (o === 2 && signaling) raise(cpu, FSW_IE);
  const f = o === 2 ? Flag.ZF | Flag.PF | Flag.CF : o < 0 ? Flag.CF : o === 0 ? Flag.ZF : 0;
  cpu.fpuStatus &= ~FSW_C1;
  cpu.setRflags(f, Flag.ZF | Flag.PF | Flag.CF | Flag.OF | Flag.SF | Flag.AF);
}

/** Arithmetic/compare with a memory operand value b (D8, DA, DC, DE memory forms). */
/** Arithmetic/compare of ST(0) with the operand already in opB (value b). */
function memArith(cpu: Cpu, r: number, b: number): void {
  const a = stToOp(cpu, 0, opA);
  if (r === 2 || r === 3) { compare(cpu, a, b, true); if (r === 3) pop(cpu); return; }
  cpu.fpuStatus &= ~FSW_C1;
  x87Arith(cpu, r);
  setResult(cpu, 0);
}
function memArithBits(cpu: Cpu, r: number): void {
  bitsToOp(rawBits.lo, rawBits.hi, opB, imgB);
  // A denormal operand reports DE unless ST(0) is a NaN or empty (memOperand, mem-formats.ts).
  if (memOperand.denormal) { stToOp(cpu, 0, opA); if (!isNaN64(opA.lo, opA.hi)) raise(cpu, FSW_DE); }
  memArith(cpu, r, bitsValue());
}
function memArithInt(cpu: Cpu, r: number, v: number): void {
  numToOp(v, opB);
  memArith(cpu, r, v);
}

// ---- D8: ST(0) op m32real / ST(i) --------------------------------------------------------------
function opD8(cpu: Cpu, i: Insn): void {
  x87Begin(cpu);
  const r = i.reg & 7;
  if (i.mod === 3) { memArith(cpu, r, stToOp(cpu, i.rm & 7, opB)); return; }
  readReal32(cpu, cpu.ea(i));
  memArithBits(cpu, r);
}
// ---- DC: ST(0) op m64real / ST(i) = ST(i) op ST(0) ---------------------------------------------
function opDC(cpu: Cpu, i: Insn): void {
  x87Begin(cpu);
  const r = i.reg & 7;
  if (i.mod === 3) { regArithToSti(cpu, r, i.rm & 7, false); return; }
  readReal64(cpu, cpu.ea(i));
  memArithBits(cpu, r);
}
/** DC/DE register forms: ST(i) <- ST(i) op ST(0), where /4../7 are SUBR, SUB, DIVR, DIV. */
function regArithToSti(cpu: Cpu, r: number, k: number, popAfter: boolean): void {
  if (r === 2 || r === 3) { // DC D0+i / D8+i: undocumented aliases of FCOM / FCOMP
    compareSt(cpu, k, true);
    if (r === 3) pop(cpu);
    return;
  }
  stToOp(cpu, k, opA);
  stToOp(cpu, 0, opB);
  cpu.fpuStatus &= ~FSW_C1;
  x87Arith(cpu, r >= 4 ? r ^ 1 : r);
  setResult(cpu, k);
  if (popAfter) pop(cpu);
}
// ---- DA / DE: integer memory operands; DE register forms pop ----------------------------------
function opDA(cpu: Cpu, i: Insn): void {
  x87Begin(cpu);
  if (i.mod === 3) {
    const r = i.reg & 7, k = i.rm & 7;
    if (r <= 3) { fcmov(cpu, r, k, false); return; }
    if (r === 5 && k === 1) { // FUCOMPP
      compareSt(cpu, 1, false);
      pop(cpu); pop(cpu);
      return;
    }
    cpu.fault(Vector.UD);
  }
  memArithInt(cpu, i.reg & 7, readInt(cpu, cpu.ea(i), 4));
}
function opDE(cpu: Cpu, i: Insn): void {
  x87Begin(cpu);
  const r = i.reg & 7;
  if (i.mod === 3) {
    const k = i.rm & 7;
    if (r === 3) { if (k !== 1) cpu.fault(Vector.UD); compareSt(cpu, 1, true); pop(cpu); pop(cpu); return; }
    if (r === 2) { compareSt(cpu, k, true); pop(cpu); return; }
    regArithToSti(cpu, r, k, true);
    return;
  }
  memArithInt(cpu, r, readInt(cpu, cpu.ea(i), 2));
}

/** FCMOVcc: DA = B, E, BE, U; DB = the negations (SDM Vol. 2 FCMOVcc). */
function fcmov(cpu: Cpu, r: number, k: number, negate: boolean): void {
  const f = cpu.getRflags();
  let c: boolean;
  switch (r) {
    case 0: c = (f & Flag.CF) !== 0; break;
    case 1: c = (f & Flag.ZF) !== 0; break;
    case 2: c = (f & (Flag.CF | Flag.ZF)) !== 0; break;
    default: c = (f & Flag.PF) !== 0; break;
  }
  const v = st(cpu, k);
  cpu.fpuStatus &= ~FSW_C1;
  if (c !== negate) copyReg(cpu, k, 0, v);
}
/** ST(dst) <- ST(src) keeping raw bits (NaN payloads). */
function copyReg(cpu: Cpu, src: number, dst: number, v: number): void {
  if (isEmpty(cpu, src)) { setSt(cpu, dst, v); return; }
  const w = fprWords(cpu), ps = phys(cpu, src), pd = phys(cpu, dst);
  w[2 * pd] = w[2 * ps]!;
  w[2 * pd + 1] = w[2 * ps + 1]!;
  cpu.fpuTagValid |= 1 << pd;
  copyRecord(cpu, ps, pd);
}

// ---- D9: loads/stores of m32real, control, constants, transcendental ---------------------------
const LOG2_10 = 3.321928094887362; // log2(10)
const LOG10_2 = 0.30102999566398120; // log10(2)

function opD9(cpu: Cpu, i: Insn): void {
  const r = i.reg & 7;
  if (i.mod !== 3) {
    const lin = cpu.ea(i);
    switch (r) {
      case 0: x87Begin(cpu); readReal32(cpu, lin); if (memOperand.denormal) raise(cpu, FSW_DE); cpu.fpuStatus &= ~FSW_C1; pushBits(cpu, bits.lo, bits.hi); return;
      case 2: case 3: {
        x87Begin(cpu);
        cpu.fpuStatus &= ~FSW_C1;
        const v = st(cpu, 0);
        const p = phys(cpu, 0), w = fprWords(cpu);
        const empty = isEmpty(cpu, 0);
        if (empty || !recordedRaw80(cpu, p) || (f80.se & 0x7fff) === 0x7fff || !storeImage(cpu, lin, 32)) {
          writeReal32(cpu, lin, v, empty ? 0 : w[2 * p]!, empty ? 0xfff80000 : w[2 * p + 1]!);
        }
        if (r === 3) pop(cpu);
        return;
      }
      case 4: x87Begin(cpu); fldenv(cpu, lin, i.opSize); return;
      // FLDCW: bit 6 reads as 1 and bits 13..15 as 0 (reserved); may unmask a pending exception.
      case 5: x87Begin(cpu); cpu.fpuControl = (cpu.read16(lin) & 0x1f3f) | 0x40; fixEs(cpu); return;
      case 6: x87CheckNm(cpu); fnstenv(cpu, lin, i.opSize); cpu.fpuControl |= 0x3f; fixEs(cpu); return;
      case 7: x87CheckNm(cpu); cpu.write16(lin, cpu.fpuControl & 0xffff); return;
      default: cpu.fault(Vector.UD);
    }
  }
  x87Begin(cpu);
  const k = i.rm & 7;
  switch (r) {
    case 0: { // FLD ST(i)
      const v = st(cpu, k);
      const empty = isEmpty(cpu, k);
      const p = phys(cpu, k), w = fprWords(cpu);
      cpu.fpuStatus &= ~FSW_C1;
      if (empty) push(cpu, v); else { pushBits(cpu, w[2 * p]!, w[2 * p + 1]!); if (!isEmptyAfterOverflow(cpu)) copyRecord(cpu, p, cpu.fpuTop); }
      return;
    }
    case 1: { // FXCH
      // An empty register is a stack underflow (IE|SF) and takes part as the indefinite.
      st(cpu, 0); st(cpu, k);
      const w = fprWords(cpu), p0 = phys(cpu, 0), pk = phys(cpu, k);
      const under = isEmpty(cpu, 0) || isEmpty(cpu, k);
      for (const p of [p0, pk]) if (((cpu.fpuTagValid >>> p) & 1) === 0) { w[2 * p] = 0; w[2 * p + 1] = 0xfff80000; }
      const lo = w[2 * p0]!, hi = w[2 * p0 + 1]!;
      w[2 * p0] = w[2 * pk]!; w[2 * p0 + 1] = w[2 * pk + 1]!;
      w[2 * pk] = lo; w[2 * pk + 1] = hi;
      swapRecords(cpu, p0, pk);
      cpu.fpuTagValid |= (1 << p0) | (1 << pk);
      if (!under) cpu.fpuStatus &= ~FSW_C1;
      return;
    }
    case 2: if (k === 0) return; break; // FNOP
    case 4: d9Group4(cpu, k); return;
    case 5: d9Constants(cpu, k); return;
    case 6: d9Group6(cpu, k); return;
    case 7: d9Group7(cpu, k); return;
  }
  cpu.fault(Vector.UD);
}
/** FLDCW may unmask a pending exception: ES follows flags and masks. */
function fixEs(cpu: Cpu): void {
  if ((cpu.fpuStatus & ~cpu.fpuControl & 0x3f) !== 0) cpu.fpuStatus |= FSW_ES | FSW_B;
  else cpu.fpuStatus &= ~(FSW_ES | FSW_B);
}

function d9Group4(cpu: Cpu, k: number): void {
  switch (k) {
    case 0: case 1: { // FCHS, FABS: sign-bit operations on the image, NaN payloads kept
      stToOp(cpu, 0, opA);
      if (isEmpty(cpu, 0)) setStBits(cpu, 0, opA.lo, opA.hi);
      else setImage(cpu, phys(cpu, 0), imgA.lo, imgA.hi, k === 0 ? imgA.se ^ 0x8000 : imgA.se & 0x7fff);
      cpu.fpuStatus &= ~FSW_C1;
      return;
    }
    case 4: { const a = stToOp(cpu, 0, opA); numToOp(0, opB); compare(cpu, a, 0, true); return; } // FTST
    case 5: fxam(cpu); return;
  }
  cpu.fault(Vector.UD);
}
/** FXAM class codes in C3,C2,C0 (SDM Vol. 2 FXAM): from the 80-bit image; C1 = sign. */
function fxam(cpu: Cpu): void {
  const p = phys(cpu, 0);
  imageOf(cpu, p);
  const e = f80.se & 0x7fff, intBit = (f80.hi & 0x80000000) !== 0, frac = ((f80.hi & 0x7fffffff) | f80.lo) !== 0;
  let cc: number;
  if (isEmpty(cpu, 0)) cc = FSW_C3 | FSW_C0;
  else if (e === 0x7fff) cc = !intBit ? 0 : frac ? FSW_C0 : FSW_C2 | FSW_C0; // unsupported, NaN, infinity
  else if (e === 0) cc = intBit || frac ? FSW_C3 | FSW_C2 : FSW_C3; // denormal, zero
  else cc = intBit ? FSW_C2 : 0; // normal, unnormal (unsupported)
  cpu.fpuStatus = (cpu.fpuStatus & ~FSW_CC) | cc | ((f80.se & 0x8000) !== 0 ? FSW_C1 : 0);
}
function d9Constants(cpu: Cpu, k: number): void {
  if (k >= 1 && k <= 5) { // irrational: the 64-bit image, rounded under FCW.RC
    cpu.fpuStatus &= ~FSW_C1;
    push(cpu, 0);
    if (!isEmptyAfterOverflow(cpu)) {
      constantImage(k, (cpu.fpuControl >>> 10) & 3);
      setImage(cpu, cpu.fpuTop, x80.lo, x80.hi, x80.se);
    }
    return;
  }
  let v: number;
  switch (k) {
    case 0: v = 1; break;
    case 1: v = LOG2_10; break;
    case 2: v = Math.LOG2E; break;
    case 3: v = Math.PI; break;
    case 4: v = LOG10_2; break;
    case 5: v = Math.LN2; break;
    case 6: v = 0; break;
    default: cpu.fault(Vector.UD);
  }
  cpu.fpuStatus &= ~FSW_C1;
  push(cpu, v);
}
function d9Group6(cpu: Cpu, k: number): void {
  cpu.fpuStatus &= ~FSW_C1;
  switch (k) {
    case 0: setSt(cpu, 0, Math.expm1(st(cpu, 0) * Math.LN2)); return; // F2XM1
    case 1: { const x = st(cpu, 0), y = st(cpu, 1); setSt(cpu, 1, y * Math.log2(x)); pop(cpu); return; } // FYL2X
    case 2: { setSt(cpu, 0, Math.tan(st(cpu, 0))); cpu.fpuStatus &= ~FSW_C2; push(cpu, 1); return; } // FPTAN
    case 3: { const x = st(cpu, 0), y = st(cpu, 1); setSt(cpu, 1, Math.atan2(y, x)); pop(cpu); return; } // FPATAN
    case 4: { // FXTRACT: ST(0) <- exponent, push the significand (exponent 0), on the image
      const x = stToOp(cpu, 0, opA);
      if (isEmpty(cpu, 0) || x !== x) { // NaN (quieted) in both, or the indefinite after underflow
        const lo = opA.lo, hi = (opA.hi | 0x00080000) >>> 0;
        if (!isEmpty(cpu, 0) && (opA.hi & 0x00080000) === 0) raise(cpu, FSW_IE);
        setStBits(cpu, 0, lo, hi);
        pushBits(cpu, lo, hi);
        return;
      }
      if (isZero80(imgA)) { raise(cpu, FSW_ZE); setSt(cpu, 0, -Infinity); push(cpu, x); return; }
      if (isSpecial80(imgA)) { setSt(cpu, 0, Infinity); push(cpu, x); return; }
      let sig = (BigInt(imgA.hi >>> 0) << 32n) | BigInt(imgA.lo >>> 0);
      let e = (imgA.se & 0x7fff) === 0 ? -16382 : (imgA.se & 0x7fff) - 16383;
      while (sig < 1n << 63n) { sig <<= 1n; e -= 1; } // denormal: normalize
      setSt(cpu, 0, e);
      push(cpu, 0);
      if (!isEmptyAfterOverflow(cpu)) {
        setImage(cpu, cpu.fpuTop, Number(sig & 0xffffffffn), Number(sig >> 32n), (imgA.se & 0x8000) | 0x3fff);
      }
      return;
    }
    case 5: fprem(cpu, true); return; // FPREM1
    case 6: cpu.fpuTop = (cpu.fpuTop - 1) & 7; return; // FDECSTP
    default: cpu.fpuTop = (cpu.fpuTop + 1) & 7; return; // FINCSTP
  }
}
function d9Group7(cpu: Cpu, k: number): void {
  cpu.fpuStatus &= ~FSW_C1;
  const x = st(cpu, 0);
  switch (k) {
    case 0: fprem(cpu, false); return; // FPREM
    case 1: { const y = st(cpu, 1); setSt(cpu, 1, y * Math.log1p(x) / Math.LN2); pop(cpu); return; } // FYL2XP1
    case 2: stToOp(cpu, 0, opA); x87Sqrt(cpu); setResult(cpu, 0); return; // FSQRT
    case 3: setSt(cpu, 0, Math.sin(x)); cpu.fpuStatus &= ~FSW_C2; push(cpu, Math.cos(x)); return; // FSINCOS
    case 4: { // FRNDINT per FCW.RC, on the image
      stToOp(cpu, 0, opA);
      if (x !== x || isSpecial80(imgA) || isZero80(imgA)) return;
      const e = imgA.se & 0x7fff;
      const exp = (e === 0 ? 1 : e) - 16383 - 63;
      if (exp >= 0) return; // already an integer
      const neg = (imgA.se & 0x8000) !== 0;
      const v = roundToInteger(neg, (BigInt(imgA.hi >>> 0) << 32n) | BigInt(imgA.lo >>> 0), exp, (cpu.fpuControl >>> 10) & 3);
      if (x80.flags !== 0) { raise(cpu, FSW_PE); if (x80.up) cpu.fpuStatus |= FSW_C1; }
      const up = x80.up, flags = x80.flags;
      round80(neg, v, 0, false, 64, Rc.Nearest); // exact: |v| < 2^64
      if (v === 0n) x80.se = neg ? 0x8000 : 0;
      x80.up = up; x80.flags = flags;
      setImage(cpu, phys(cpu, 0), x80.lo, x80.hi, x80.se);
      return;
    }
    case 5: fscale(cpu); return;
    case 6: setSt(cpu, 0, Math.sin(x)); cpu.fpuStatus &= ~FSW_C2; return; // FSIN
    default: setSt(cpu, 0, Math.cos(x)); cpu.fpuStatus &= ~FSW_C2; return; // FCOS
  }
}
/** FSCALE: ST(0) * 2^trunc(ST(1)) on the image, rounded only when it leaves the 80-bit range. */
function fscale(cpu: Cpu): void {
  const x = stToOp(cpu, 0, opA);
  const y = stToOp(cpu, 1, opB);
  if (x !== x || y !== y) { x87Nan(cpu, opA, opB); setStBits(cpu, 0, res.lo, res.hi); return; }
  if (isEmpty(cpu, 0) || isEmpty(cpu, 1) || x !== x || y !== y || isSpecial80(imgA) || y - y !== 0 || isZero80(imgA)) {
    const v = x * 2 ** Math.trunc(y);
    if (x === 0 && y === Infinity) raise(cpu, FSW_IE);
    if (x - x !== 0 && y === -Infinity) raise(cpu, FSW_IE);
    setSt(cpu, 0, x === 0 ? (y === Infinity ? NaN : x) : x - x !== 0 ? (y === -Infinity ? NaN : x) : v);
    return;
  }
  const n = Math.max(-70000, Math.min(70000, Math.trunc(y)));
  const e = imgA.se & 0x7fff;
  round80((imgA.se & 0x8000) !== 0, (BigInt(imgA.hi >>> 0) << 32n) | BigInt(imgA.lo >>> 0), (e === 0 ? 1 : e) - 16383 - 63 + n, false, 64, (cpu.fpuControl >>> 10) & 3);
  ext80Flags(cpu);
  setImage(cpu, phys(cpu, 0), x80.lo, x80.hi, x80.se);
}

/**
 * FPREM (truncating quotient) / FPREM1 (quotient rounded to nearest even), exact on the images.
 * When the exponents differ by 64 or more only a partial reduction is done (C2 = 1), by a
 * multiple of ST(1) * 2^(D - PARTIAL_N) (SDM Vol. 2 FPREM: N is implementation-defined, 32..63).
 * The three low quotient bits go to C0 (Q2), C3 (Q1), C1 (Q0).
 */
const PARTIAL_N = 63;
function fprem(cpu: Cpu, ieee: boolean): void {
  const a = stToOp(cpu, 0, opA), b = stToOp(cpu, 1, opB);
  cpu.fpuStatus &= ~FSW_CC;
  if (a !== a || b !== b) { x87Nan(cpu, opA, opB); setStBits(cpu, 0, res.lo, res.hi); return; }
  if (isSpecial80(imgA) || isZero80(imgB)) { raise(cpu, FSW_IE); setStBits(cpu, 0, 0, 0xfff80000); return; }
  if (isSpecial80(imgB) || isZero80(imgA)) return; // ST(0) unchanged
  const ea = imgA.se & 0x7fff, eb = imgB.se & 0x7fff;
  const sa = (BigInt(imgA.hi >>> 0) << 32n) | BigInt(imgA.lo >>> 0), sb = (BigInt(imgB.hi >>> 0) << 32n) | BigInt(imgB.lo >>> 0);
  const xa = (ea === 0 ? 1 : ea) - 16383 - 63, xb = (eb === 0 ? 1 : eb) - 16383 - 63;
  const lead = (v: bigint, x: number): number => x + v.toString(2).length - 1;
  const d = lead(sa, xa) - lead(sb, xb);
  const e = Math.min(xa, xb);
  const A = sa << BigInt(xa - e);
  let B = sb << BigInt(xb - e);
  let partial = false;
  if (d >= 64) { partial = true; B <<= BigInt(d - PARTIAL_N); }
  let q = A / B;
  let r = A - q * B;
  let neg = (imgA.se & 0x8000) !== 0;
  if (ieee && !partial) {
    const twice = 2n * r;
    if (twice > B || (twice === B && (q & 1n) === 1n)) { r = B - r; q += 1n; neg = !neg; }
  }
  round80(neg, r, e, false, 64, Rc.Nearest); // exact
  if (r === 0n) x80.se = (imgA.se & 0x8000);
  setImage(cpu, phys(cpu, 0), x80.lo, x80.hi, x80.se);
  const ql = Number(q & 7n);
  cpu.fpuStatus |= (partial ? FSW_C2 : 0) | ((ql & 4) !== 0 ? FSW_C0 : 0) | ((ql & 2) !== 0 ? FSW_C3 : 0) | ((ql & 1) !== 0 ? FSW_C1 : 0);
}

// ---- DB: m32int, m80real, FCMOVN*, FNCLEX, FNINIT, FUCOMI, FCOMI ---------------------------------
function opDB(cpu: Cpu, i: Insn): void {
  const r = i.reg & 7;
  if (i.mod === 3) {
    const k = i.rm & 7;
    if (r === 4) {
      x87CheckNm(cpu);
      if (k === 2) { cpu.fpuStatus &= ~(0xff | FSW_B); return; } // FNCLEX
      if (k === 3) { fninit(cpu); return; }
      if (k === 0 || k === 1 || k === 4) return; // FENI/FDISI/FSETPM: no-ops since the 387
      cpu.fault(Vector.UD);
    }
    x87Begin(cpu);
    if (r <= 3) { fcmov(cpu, r, k, true); return; }
    if (r === 5 || r === 6) { compareEflags(cpu, k, r === 6); return; }
    cpu.fault(Vector.UD);
  }
  x87Begin(cpu);
  const lin = cpu.ea(i);
  switch (r) {
    case 0: { const v = readInt(cpu, lin, 4); cpu.fpuStatus &= ~FSW_C1; push(cpu, v); return; }
    case 1: case 2: case 3: cpu.fpuStatus &= ~FSW_C1; fist(cpu, lin, 4, r === 1); if (r !== 2) pop(cpu); return;
    case 5:
      cpu.fpuStatus &= ~FSW_C1;
      readReal80(cpu, lin);
      pushBits(cpu, bits.lo, bits.hi);
      if (!isEmptyAfterOverflow(cpu)) recordRaw80(cpu, cpu.fpuTop, raw80.lo, raw80.hi, raw80.se);
      return;
    case 7: storeReal(cpu, lin, 80); pop(cpu); return;
  }
  cpu.fault(Vector.UD);
}
/**
 * FIST/FISTP/FISTTP of ST(0): from its 80-bit image, rounded under FCW.RC (or truncated); out of
 * range stores the integer indefinite with IE (mem-formats.ts writeInt).
 */
function fist(cpu: Cpu, lin: number, size: 2 | 4 | 8, truncate: boolean): void {
  const x = stToOp(cpu, 0, opA);
  if (isEmpty(cpu, 0) || x !== x || isSpecial80(imgA) || isZero80(imgA)) { writeInt(cpu, lin, x, size, truncate); return; }
  const neg = (imgA.se & 0x8000) !== 0, e = imgA.se & 0x7fff;
  const sig = (BigInt(imgA.hi >>> 0) << 32n) | BigInt(imgA.lo >>> 0);
  const exp = (e === 0 ? 1 : e) - 16383 - 63;
  let mag: bigint;
  x80.flags = 0; x80.up = false;
  if (exp >= 0) mag = exp > 64 ? 1n << 64n : sig << BigInt(exp);
  else mag = roundToInteger(neg, sig, exp, truncate ? Rc.Zero : (cpu.fpuControl >>> 10) & 3);
  const lim = 1n << BigInt(size * 8 - 1);
  if (neg ? mag > lim : mag >= lim) { writeInt(cpu, lin, NaN, size, truncate); return; }
  if (x80.flags !== 0) { raise(cpu, FSW_PE); if (x80.up) cpu.fpuStatus |= FSW_C1; }
  const v = BigInt.asUintN(64, neg ? -mag : mag);
  if (size === 2) cpu.write16(lin, Number(v & 0xffffn));
  else if (size === 4) cpu.write32(lin, Number(v & 0xffffffffn));
  else cpu.write64(lin, Number(v & 0xffffffffn), Number(v >> 32n));
}

/** FBSTP from the image, rounded under FCW.RC (C1 = rounded up, SDM Vol. 2 FBSTP). */
function fbstp(cpu: Cpu, lin: number): void {
  const x = stToOp(cpu, 0, opA);
  if (isEmpty(cpu, 0) || x !== x || isSpecial80(imgA)) { writeBcd(cpu, lin, x); return; }
  const neg = (imgA.se & 0x8000) !== 0, e = imgA.se & 0x7fff;
  const sig = (BigInt(imgA.hi >>> 0) << 32n) | BigInt(imgA.lo >>> 0);
  const exp = (e === 0 ? 1 : e) - 16383 - 63;
  x80.flags = 0; x80.up = false;
  const mag = isZero80(imgA) ? 0n : exp >= 0 ? (exp > 64 ? null : sig << BigInt(exp)) : roundToInteger(neg, sig, exp, (cpu.fpuControl >>> 10) & 3);
  if (mag !== null && mag < 1000000000000000000n && x80.flags !== 0) { raise(cpu, FSW_PE); if (x80.up) cpu.fpuStatus |= FSW_C1; }
  writeBcdInt(cpu, lin, mag, neg);
}

/** FST m64/m32 of the finite image in f80, rounded under FCW.RC; false when it is a zero (exact). */
function storeImage(cpu: Cpu, lin: number, size: 32 | 64): boolean {
  if ((f80.lo | f80.hi) === 0) return false;
  const neg = (f80.se & 0x8000) !== 0, e = f80.se & 0x7fff;
  const sig = (BigInt(f80.hi >>> 0) << 32n) | BigInt(f80.lo >>> 0), exp = (e === 0 ? 1 : e) - 16383 - 63;
  loadEnv(0x1f80 | (((cpu.fpuControl >>> 10) & 3) << 13));
  if (size === 64) roundToF64(neg, sig, exp); else roundToF32(neg, sig, exp);
  const f = env.flags & (FSW_PE | FSW_UE | FSW_OE);
  if (f !== 0) { raise(cpu, f); if (env.up) cpu.fpuStatus |= FSW_C1; }
  if (size === 64) cpu.write64(lin, out.lo, out.hi); else cpu.write32(lin, out.lo);
  return true;
}
/** After a push: true when it overflowed the stack (the slot holds the indefinite, no image). */
function isEmptyAfterOverflow(cpu: Cpu): boolean {
  return (cpu.fpuStatus & FSW_SF) !== 0 && (cpu.fpuStatus & FSW_C1) !== 0;
}

/** FST/FSTP m64/m80: C1 is the rounding direction when inexact, else 0 (SDM Vol. 2 FST). */
function storeReal(cpu: Cpu, lin: number, size: 64 | 80): void {
  cpu.fpuStatus &= ~FSW_C1;
  st(cpu, 0); // an empty ST(0) is a stack underflow: the indefinite is stored
  let lo = 0, hi = 0xfff80000;
  if (!isEmpty(cpu, 0)) {
    const w = fprWords(cpu), p = phys(cpu, 0);
    lo = w[2 * p]!; hi = w[2 * p + 1]!;
    if (recordedRaw80(cpu, p)) {
      if (size === 80) { cpu.write64(lin, f80.lo, f80.hi); cpu.write16(lin + 8, f80.se); return; }
      if ((f80.se & 0x7fff) !== 0x7fff && storeImage(cpu, lin, 64)) return;
    }
  }
  if (size === 64) writeReal64(cpu, lin, lo, hi); else writeReal80(cpu, lin, lo, hi);
}

// ---- DD: m64real, FRSTOR, FNSAVE, FNSTSW m16, FFREE, FST(P) ST(i), FUCOM(P) ------------------------
function opDD(cpu: Cpu, i: Insn): void {
  const r = i.reg & 7;
  if (i.mod !== 3) {
    const lin = cpu.ea(i);
    switch (r) {
      case 0: x87Begin(cpu); readReal64(cpu, lin); if (memOperand.denormal) raise(cpu, FSW_DE); cpu.fpuStatus &= ~FSW_C1; pushBits(cpu, bits.lo, bits.hi); return;
      case 1: x87Begin(cpu); cpu.fpuStatus &= ~FSW_C1; fist(cpu, lin, 8, true); pop(cpu); return;
      case 2: case 3: x87Begin(cpu); storeReal(cpu, lin, 64); if (r === 3) pop(cpu); return;
      case 4: x87Begin(cpu); frstor(cpu, lin, i.opSize); return;
      case 6: x87CheckNm(cpu); fnsave(cpu, lin, i.opSize); return;
      case 7: x87CheckNm(cpu); cpu.write16(lin, composeFsw(cpu)); return;
      default: cpu.fault(Vector.UD);
    }
  }
  x87Begin(cpu);
  const k = i.rm & 7;
  switch (r) {
    case 0: cpu.fpuTagValid &= ~(1 << phys(cpu, k)); return; // FFREE
    case 1: opD9(cpu, i); return; // FXCH alias
    case 2: case 3: { const v = st(cpu, 0); copyReg(cpu, 0, k, v); if (r === 3) pop(cpu); return; }
    case 4: case 5: compareSt(cpu, k, false); if (r === 5) pop(cpu); return;
  }
  cpu.fault(Vector.UD);
}

// ---- DF: m16int, m64int, BCD, FNSTSW AX, FUCOMIP, FCOMIP ---------------------------------------
function opDF(cpu: Cpu, i: Insn): void {
  const r = i.reg & 7;
  if (i.mod === 3) {
    const k = i.rm & 7;
    if (r === 4 && k === 0) { x87CheckNm(cpu); cpu.setReg(2, Reg.RAX, composeFsw(cpu), 0); return; } // FNSTSW AX
    x87Begin(cpu);
    if (r === 5 || r === 6) { compareEflags(cpu, k, r === 6); pop(cpu); return; }
    if (r === 0) { cpu.fpuTagValid &= ~(1 << phys(cpu, k)); pop(cpu); return; } // FFREEP
    cpu.fault(Vector.UD);
  }
  x87Begin(cpu);
  const lin = cpu.ea(i);
  if (r === 1 || r === 2 || r === 3 || r === 6 || r === 7) cpu.fpuStatus &= ~FSW_C1;
  switch (r) {
    case 0: { const v = readInt(cpu, lin, 2); cpu.fpuStatus &= ~FSW_C1; push(cpu, v); return; }
    case 1: case 2: case 3: fist(cpu, lin, 2, r === 1); if (r !== 2) pop(cpu); return;
    case 4: { // FBLD: 18 digits exceed a double but not the 64-bit significand
      const v = readBcd(cpu, lin);
      cpu.fpuStatus &= ~FSW_C1;
      push(cpu, v);
      if (!isEmptyAfterOverflow(cpu)) { intImage(lastBcd); setImage(cpu, cpu.fpuTop, x80.lo, x80.hi, x80.se); }
      return;
    }
    case 5: {
      const v = readInt(cpu, lin, 8);
      cpu.fpuStatus &= ~FSW_C1;
      push(cpu, v);
      if (int64Inexact && !isEmptyAfterOverflow(cpu)) { // beyond 2^53: keep the exact integer
        intImage(lastInt64);
        setImage(cpu, cpu.fpuTop, x80.lo, x80.hi, x80.se);
      }
      return;
    }
    case 6: fbstp(cpu, lin); pop(cpu); return;
    default: fist(cpu, lin, 8, false); pop(cpu); return;
  }
}

/** FWAIT/WAIT (9B): #NM when CR0.MP and CR0.TS are both set; delivers pending exceptions. */
function fwait(cpu: Cpu): void {
  if ((cpu.cr0 & (Cr0.MP | Cr0.TS)) === (Cr0.MP | Cr0.TS)) cpu.fault(Vector.NM);
  if ((cpu.fpuStatus & FSW_ES) !== 0 && (cpu.cr0 & Cr0.NE) !== 0) cpu.fault(Vector.MF);
}

export const x87Handlers = { opD8, opD9, opDA, opDB, opDC, opDD, opDE, opDF, fwait };
