// MUL/IMUL/DIV/IDIV (SDM Vol. 2). Multiplies split into 16/32-bit pieces that stay exact in
// doubles (no BigInt); 64-bit divides use BigInt (rare enough).

import { OpMap, type Insn, type OpTable } from './insn.js';
import type { Cpu } from './cpu.js';
import { Vector } from './fault.js';
import { Flag } from './state.js';
import { PARITY, setArithFlags } from './flags.js';
import { type Handler, setOp, readOp, linOf, readReg, writeReg, trunc, sext } from './ops-util.js';

let mulHi = 0;
/** Unsigned 32x32 -> 64: returns the low half, high half in mulHi. */
function mulu32(a: number, b: number): number {
  const aL = a & 0xffff; const aH = a >>> 16; const bL = b & 0xffff; const bH = b >>> 16;
  const ll = aL * bL; const lh = aL * bH; const hl = aH * bL; const hh = aH * bH;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  mulHi = (hh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 65536)) >>> 0;
  return (((mid & 0xffff) << 16) | (ll & 0xffff)) >>> 0;
}

/** 128-bit product words (least significant first) of the last mul64 call. */
export const prod = new Uint32Array(4);
/**
 * 64x64 -> 128-bit multiply from 32-bit pieces (exact in doubles, no BigInt). signed: treat both
 * operands as two's-complement (SDM IMUL), correcting the unsigned high half.
 */
export function mul64(aLo: number, aHi: number, bLo: number, bHi: number, signed: boolean): void {
  const l0 = mulu32(aLo, bLo); const h0 = mulHi;
  const l1 = mulu32(aLo, bHi); const h1 = mulHi;
  const l2 = mulu32(aHi, bLo); const h2 = mulHi;
  const l3 = mulu32(aHi, bHi); const h3 = mulHi;
  const s1 = h0 + l1 + l2;
  const w1 = s1 >>> 0;
  const s2 = h1 + h2 + l3 + (s1 - w1) / 4294967296;
  const w2 = s2 >>> 0;
  let w3 = (h3 + (s2 - w2) / 4294967296) >>> 0;
  let hiLo = w2;
  if (signed) {
    // high -= (a < 0 ? b : 0) + (b < 0 ? a : 0), modulo 2^64
    if ((aHi | 0) < 0) { const t = hiLo - bLo; hiLo = t >>> 0; w3 = (w3 - bHi - (t < 0 ? 1 : 0)) >>> 0; }
    if ((bHi | 0) < 0) { const t = hiLo - aLo; hiLo = t >>> 0; w3 = (w3 - aHi - (t < 0 ? 1 : 0)) >>> 0; }
  }
  prod[0] = l0; prod[1] = w1; prod[2] = hiLo; prod[3] = w3;
}

/**
 * True when the signed 64x64-bit product of (aLo, aHi) and (bLo, bHi) does not fit in 64 bits
 * (IMUL's CF/OF). Operands that are sign-extended 32-bit values cannot overflow (|p| <= 2^62),
 * the common case (array indexing); others take the full 128-bit product.
 */
export function imulOverflow64(aLo: number, aHi: number, bLo: number, bHi: number): boolean {
  if ((aHi >>> 0) === (((aLo | 0) >> 31) >>> 0) && (bHi >>> 0) === (((bLo | 0) >> 31) >>> 0)) return false;
  mul64(aLo, aHi, bLo, bHi, true);
  const ext = (prod[1]! | 0) < 0 ? 0xffffffff : 0;
  return prod[2] !== ext || prod[3] !== ext;
}

/** Flags after a multiply: CF=OF=overflow; SF/ZF/PF from the low result (undefined per SDM), AF=0. */
function mulFlags(cpu: Cpu, overflow: boolean, lowLo: number, lowTop: number, signBit: number): void {
  let f = PARITY[lowLo & 0xff]!;
  if (overflow) f |= Flag.CF | Flag.OF;
  if ((lowTop & signBit) !== 0) f |= Flag.SF;
  if (lowLo === 0 && lowTop === 0) f |= Flag.ZF;
  setArithFlags(cpu, f);
}

const M64 = 0xffffffffffffffffn;
function big(lo: number, hi: number): bigint { return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0); }
function sbig(lo: number, hi: number): bigint { return BigInt.asIntN(64, big(lo, hi)); }

/** F6/F7 /4../7 with the operand in r/m. */
export function mulDivGroup(cpu: Cpu, i: Insn, e: number): void {
  const size = i.opSize;
  const src = readOp(cpu, i, linOf(cpu, i), size);
  const srcHi = cpu.hi;
  const g = cpu.gpr;
  switch (size) {
    case 1: {
      const al = g[0]! & 0xff;
      if (e === 4 || e === 5) {
        const p = e === 4 ? al * src : sext(al, 1) * sext(src, 1);
        const r = p & 0xffff;
        const of = e === 4 ? (r >>> 8) !== 0 : sext(r & 0xff, 1) !== p;
        cpu.setReg(2, 0, r, 0);
        mulFlags(cpu, of, r & 0xff, r & 0xff, 0x80);
      } else {
        if (src === 0) cpu.fault(Vector.DE);
        const ax = g[0]! & 0xffff;
        let q: number; let rem: number;
        if (e === 6) { q = Math.floor(ax / src); rem = ax % src; if (q > 0xff) cpu.fault(Vector.DE); }
        else {
          const n = sext(ax, 2); const d = sext(src, 1);
          q = Math.trunc(n / d); rem = n % d; if (q > 127 || q < -128) cpu.fault(Vector.DE);
        }
        cpu.setReg(2, 0, (q & 0xff) | ((rem & 0xff) << 8), 0);
      }
      return;
    }
    case 2: {
      const ax = g[0]! & 0xffff;
      if (e === 4 || e === 5) {
        const p = e === 4 ? ax * src : sext(ax, 2) * sext(src, 2);
        const lo = p & 0xffff; const hi = (p >>> 16) & 0xffff;
        const of = e === 4 ? hi !== 0 : sext(lo, 2) !== p;
        cpu.setReg(2, 0, lo, 0); cpu.setReg(2, 2, hi, 0);
        mulFlags(cpu, of, lo, lo, 0x8000);
      } else {
        if (src === 0) cpu.fault(Vector.DE);
        const dx = g[4]! & 0xffff;
        let q: number; let rem: number;
        if (e === 6) { const n = dx * 65536 + ax; q = Math.floor(n / src); rem = n % src; if (q > 0xffff) cpu.fault(Vector.DE); }
        else {
          const n = ((dx << 16) | ax) | 0; const d = sext(src, 2);
          q = Math.trunc(n / d); rem = n % d; if (q > 32767 || q < -32768) cpu.fault(Vector.DE);
        }
        cpu.setReg(2, 0, q & 0xffff, 0); cpu.setReg(2, 2, rem & 0xffff, 0);
      }
      return;
    }
    case 4: {
      const eax = g[0]!;
      if (e === 4) {
        const lo = mulu32(eax, src); const hi = mulHi;
        cpu.setReg(4, 0, lo, 0); cpu.setReg(4, 2, hi, 0);
        mulFlags(cpu, hi !== 0, lo, lo, 0x80000000);
      } else if (e === 5) {
        const lo = mulu32(eax, src);
        const hi = (mulHi - ((eax | 0) < 0 ? src : 0) - ((src | 0) < 0 ? eax : 0)) >>> 0;
        cpu.setReg(4, 0, lo, 0); cpu.setReg(4, 2, hi, 0);
        mulFlags(cpu, hi !== ((lo | 0) >> 31) >>> 0, lo, lo, 0x80000000);
      } else {
        if (src === 0) cpu.fault(Vector.DE);
        const edx = g[4]!;
        let q: number; let rem: number;
        if (e === 6) {
          if (edx === 0) { q = Math.floor(eax / src); rem = eax % src; }
          else {
            const n = big(eax, edx); const d = BigInt(src);
            const qb = n / d; if (qb > 0xffffffffn) cpu.fault(Vector.DE);
            q = Number(qb); rem = Number(n % d);
          }
        } else {
          const n = sbig(eax, edx); const d = BigInt(src | 0);
          const qb = n / d; if (qb > 0x7fffffffn || qb < -0x80000000n) cpu.fault(Vector.DE);
          q = Number(qb); rem = Number(n % d);
        }
        cpu.setReg(4, 0, q >>> 0, 0); cpu.setReg(4, 2, rem >>> 0, 0);
      }
      return;
    }
    default: {
      const raxLo = g[0]!; const raxHi = g[1]!;
      if (e === 4 || e === 5) {
        mul64(raxLo, raxHi, src, srcHi, e === 5);
        const lLo = prod[0]!; const lHi = prod[1]!; const hLo = prod[2]!; const hHi = prod[3]!;
        cpu.setReg64(0, lLo, lHi);
        cpu.setReg64(2, hLo, hHi);
        const ext = e === 5 && (lHi | 0) < 0 ? 0xffffffff : 0;
        mulFlags(cpu, hLo !== ext || hHi !== ext, lLo, lHi, 0x80000000);
      } else {
        if (src === 0 && srcHi === 0) cpu.fault(Vector.DE);
        const rdxLo = g[4]!; const rdxHi = g[5]!;
        let q: bigint; let rem: bigint;
        if (e === 6) {
          if (rdxLo === 0 && rdxHi === 0 && raxHi === 0 && srcHi === 0) {
            cpu.setReg64(0, Math.floor(raxLo / src) >>> 0, 0); cpu.setReg64(2, raxLo % src, 0);
            return;
          }
          const n = (big(rdxLo, rdxHi) << 64n) | big(raxLo, raxHi); const d = big(src, srcHi);
          q = n / d; rem = n % d; if (q > M64) cpu.fault(Vector.DE);
        } else {
          const n = BigInt.asIntN(128, (big(rdxLo, rdxHi) << 64n) | big(raxLo, raxHi)); const d = sbig(src, srcHi);
          q = n / d; rem = n % d; if (q > 0x7fffffffffffffffn || q < -0x8000000000000000n) cpu.fault(Vector.DE);
        }
        const qu = q & M64; const ru = rem & M64;
        cpu.setReg64(0, Number(qu & 0xffffffffn), Number(qu >> 32n));
        cpu.setReg64(2, Number(ru & 0xffffffffn), Number(ru >> 32n));
      }
    }
  }
}

/** Signed multiply of two operand-size values for IMUL r, r/m(, imm); returns low, sets flags. */
function imulN(cpu: Cpu, size: number, aLo: number, aHi: number, bLo: number, bHi: number): number {
  if (size === 8) {
    // Low 64 bits (the same for signed and unsigned): low words' product split at bit 16 of
    // bLo so each partial product is exact (< 2^48), cross terms modulo 2^32.
    const pa = aLo * (bLo & 0xffff); const pb = aLo * (bLo >>> 16);
    const rLo = Math.imul(aLo, bLo) >>> 0;
    const rHi = (((pb / 65536) >>> 0) + (((pa + (pb & 0xffff) * 65536) / 4294967296) >>> 0) + Math.imul(aLo, bHi) + Math.imul(aHi, bLo)) >>> 0;
    mulFlags(cpu, imulOverflow64(aLo, aHi, bLo, bHi), rLo, rHi, 0x80000000);
    cpu.hi = rHi;
    return rLo;
  }
  if (size === 4) {
    const lo = mulu32(aLo, bLo);
    const hi = (mulHi - ((aLo | 0) < 0 ? bLo : 0) - ((bLo | 0) < 0 ? aLo : 0)) >>> 0;
    mulFlags(cpu, hi !== ((lo | 0) >> 31) >>> 0, lo, lo, 0x80000000);
    return lo;
  }
  const p = sext(aLo, size) * sext(bLo, size);
  const r = trunc(p, size);
  mulFlags(cpu, sext(r, size) !== p, r, r, size === 2 ? 0x8000 : 0x80);
  return r;
}

/** 0F AF: IMUL r, r/m. */
const imulGE: Handler = (cpu, i) => {
  const size = i.opSize;
  const s = readOp(cpu, i, linOf(cpu, i), size); const sHi = cpu.hi;
  const d = readReg(cpu, i, size); const dHi = cpu.hi;
  const r = imulN(cpu, size, d, dHi, s, sHi);
  writeReg(cpu, i, size, r, cpu.hi);
};

/** 69 / 6B: IMUL r, r/m, imm. */
const imulGEI: Handler = (cpu, i) => {
  const size = i.opSize;
  const s = readOp(cpu, i, linOf(cpu, i), size); const sHi = cpu.hi;
  const r = imulN(cpu, size, s, sHi, trunc(i.imm, size === 8 ? 4 : size), i.immHi);
  writeReg(cpu, i, size, r, cpu.hi);
};

export function registerMulDivOps(t: OpTable): void {
  setOp(t, OpMap.M0F, 0xaf, imulGE);
  setOp(t, OpMap.Primary, 0x69, imulGEI);
  setOp(t, OpMap.Primary, 0x6b, imulGEI);
}
