// Shifts and rotates: ROL/ROR/RCL/RCR/SHL/SHR/SAR (C0/C1/D0-D3) and SHLD/SHRD (0F A4/A5/AC/AD).
// Flags per SDM Vol. 2 "SAL/SAR/SHL/SHR" and "RCL/RCR/ROL/ROR": a masked count of 0 changes
// nothing; rotates touch only CF and OF; OF is defined for 1-bit counts (we compute the 1-bit
// formula for every count, the value Intel hardware produces for shifts).

import { OpMap, type Insn, type OpTable } from './insn.js';
import type { Cpu } from './cpu.js';
import { Flag } from './state.js';
import { PARITY, computeArithFlags, setArithFlags } from './flags.js';
import { type Handler, setOp, readOp, writeOp, linOf, ext, readReg } from './ops-util.js';

/** SF/ZF/PF of a result (size 1/2/4 value, or 8 with hi). */
function szp(lo: number, hi: number, size: number): number {
  let f = PARITY[lo & 0xff]!;
  if (size === 8) {
    if ((lo | hi) === 0) f |= Flag.ZF;
    if (hi & 0x80000000) f |= Flag.SF;
  } else {
    if (lo === 0) f |= Flag.ZF;
    if ((lo >>> (size * 8 - 1)) & 1) f |= Flag.SF;
  }
  return f;
}

const M64 = 0xffffffffffffffffn;
function big(lo: number, hi: number): bigint { return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0); }

let resHi = 0;

/** Shift/rotate of a size 1/2/4 value; returns the result and sets flags. */
function shift32(cpu: Cpu, kind: number, size: number, v: number, count: number): number {
  const bits = size * 8;
  const mask = size === 4 ? 0xffffffff : (1 << bits) - 1;
  const top = bits - 1;
  let r: number; let cf: number; let of: number;
  switch (kind) {
    case 0: { // ROL
      const n = count % bits;
      r = n === 0 ? v : ((v << n) | (v >>> (bits - n))) & mask;
      r >>>= 0;
      cf = r & 1; of = ((r >>> top) & 1) ^ cf;
      setCfOf(cpu, cf, of);
      return r;
    }
    case 1: { // ROR
      const n = count % bits;
      r = n === 0 ? v : ((v >>> n) | (v << (bits - n))) & mask;
      r >>>= 0;
      cf = (r >>> top) & 1; of = cf ^ ((r >>> (top - 1)) & 1);
      setCfOf(cpu, cf, of);
      return r;
    }
    case 2: { // RCL
      const n = size === 4 ? count : count % (bits + 1);
      let c = cpu.getCF() ? 1 : 0;
      r = v;
      for (let k = 0; k < n; k++) { const out = (r >>> top) & 1; r = ((r << 1) | c) & mask; c = out; }
      r >>>= 0;
      if (n !== 0 || count !== 0) setCfOf(cpu, c, ((r >>> top) & 1) ^ c);
      return r;
    }
    case 3: { // RCR
      const n = size === 4 ? count : count % (bits + 1);
      let c = cpu.getCF() ? 1 : 0;
      const of0 = ((v >>> top) & 1) ^ c;
      r = v;
      for (let k = 0; k < n; k++) { const out = r & 1; r = ((r >>> 1) | (c << top)) & mask; c = out; }
      r >>>= 0;
      setCfOf(cpu, c, of0);
      return r;
    }
    case 4: case 6: { // SHL/SAL
      if (count < 32) { r = (v << count) & mask; r >>>= 0; } else r = 0;
      cf = count <= bits ? (count === 0 ? 0 : (v >>> (bits - count)) & 1) : 0;
      if (count === bits && size === 4) cf = v & 1;
      of = ((r >>> top) & 1) ^ cf;
      setArithFlags(cpu, szp(r, 0, size) | (cf ? Flag.CF : 0) | (of ? Flag.OF : 0));
      return r;
    }
    case 5: { // SHR
      r = count < 32 ? v >>> count : 0;
      cf = count - 1 < bits ? (v >>> (count - 1)) & 1 : 0;
      of = (v >>> top) & 1;
      setArithFlags(cpu, szp(r, 0, size) | (cf ? Flag.CF : 0) | (of ? Flag.OF : 0));
      return r;
    }
    default: { // SAR
      const sv = size === 4 ? v | 0 : size === 2 ? (v << 16) >> 16 : (v << 24) >> 24;
      r = (sv >> Math.min(count, 31)) & mask; r >>>= 0;
      cf = (sv >> Math.min(count - 1, 31)) & 1;
      setArithFlags(cpu, szp(r, 0, size) | (cf ? Flag.CF : 0));
      return r;
    }
  }
}

function setCfOf(cpu: Cpu, cf: number, of: number): void {
  const f = computeArithFlags(cpu) & ~(Flag.CF | Flag.OF);
  setArithFlags(cpu, f | (cf ? Flag.CF : 0) | (of ? Flag.OF : 0));
}

/** 64-bit shift/rotate on (lo, hi); returns lo, high half in resHi. count is 1..63. */
function shift64(cpu: Cpu, kind: number, lo: number, hi: number, count: number): number {
  let rl: number; let rh: number; let cf: number;
  switch (kind) {
    case 0: case 1: { // ROL / ROR via pair rotations
      let n = kind === 0 ? count : 64 - count;
      let a = lo; let b = hi;
      if (n >= 32) { const t = a; a = b; b = t; n -= 32; }
      if (n === 0) { rl = a >>> 0; rh = b >>> 0; }
      else { rl = ((a << n) | (b >>> (32 - n))) >>> 0; rh = ((b << n) | (a >>> (32 - n))) >>> 0; }
      if (kind === 0) { cf = rl & 1; setCfOf(cpu, cf, (rh >>> 31) ^ cf); }
      else { cf = rh >>> 31; setCfOf(cpu, cf, cf ^ ((rh >>> 30) & 1)); }
      resHi = rh;
      return rl;
    }
    case 2: case 3: { // RCL / RCR: rare, BigInt
      const c = cpu.getCF() ? 1n : 0n;
      const v = (c << 64n) | big(lo, hi); // 65-bit value with CF on top
      const n = BigInt(count);
      let r: bigint;
      const M65 = (1n << 65n) - 1n;
      if (kind === 2) r = ((v << n) | (v >> (65n - n))) & M65;
      else r = ((v >> n) | (v << (65n - n))) & M65;
      const res = r & M64; const newC = Number(r >> 64n);
      rl = Number(res & 0xffffffffn); rh = Number(res >> 32n);
      const msb = rh >>> 31;
      if (kind === 2) setCfOf(cpu, newC, msb ^ newC);
      else setCfOf(cpu, newC, (hi >>> 31) ^ Number(c));
      resHi = rh;
      return rl;
    }
    case 4: case 6: {
      if (count >= 32) { rh = count === 32 ? lo : (lo << (count - 32)) >>> 0; rl = 0; cf = count === 32 ? hi & 1 : (lo >>> (64 - count)) & 1; }
      else { rh = ((hi << count) | (lo >>> (32 - count))) >>> 0; rl = (lo << count) >>> 0; cf = (hi >>> (32 - count)) & 1; }
      setArithFlags(cpu, szp(rl, rh, 8) | (cf ? Flag.CF : 0) | (((rh >>> 31) ^ cf) ? Flag.OF : 0));
      resHi = rh;
      return rl;
    }
    case 5: {
      if (count >= 32) { rl = count === 32 ? hi >>> 0 : hi >>> (count - 32); rh = 0; cf = (hi >>> (count - 33)) & 1; if (count === 32) cf = lo >>> 31; }
      else { rl = ((lo >>> count) | (hi << (32 - count))) >>> 0; rh = hi >>> count; cf = (lo >>> (count - 1)) & 1; }
      setArithFlags(cpu, szp(rl, rh, 8) | (cf ? Flag.CF : 0) | ((hi >>> 31) ? Flag.OF : 0));
      resHi = rh;
      return rl;
    }
    default: {
      const sh = hi | 0;
      if (count >= 32) { rl = (sh >> (count - 32)) >>> 0; rh = (sh >> 31) >>> 0; cf = count === 32 ? lo >>> 31 : (sh >> (count - 33)) & 1; }
      else { rl = ((lo >>> count) | (hi << (32 - count))) >>> 0; rh = (sh >> count) >>> 0; cf = (lo >>> (count - 1)) & 1; }
      setArithFlags(cpu, szp(rl, rh, 8) | (cf ? Flag.CF : 0));
      resHi = rh;
      return rl;
    }
  }
}

function doShift(cpu: Cpu, i: Insn, count: number): void {
  const size = i.opSize;
  const kind = ext(i);
  const c = count & (size === 8 ? 0x3f : 0x1f);
  const lin = linOf(cpu, i);
  const v = readOp(cpu, i, lin, size);
  if (c === 0) {
    // Flags unchanged; a 32-bit register destination is still written (zero-extends in 64-bit mode).
    if (size === 4 && !i.hasMem) cpu.setReg(4, i.rm, v, 0);
    return;
  }
  if (size === 8) {
    const vHi = cpu.hi;
    const lo = shift64(cpu, kind, v, vHi, c);
    writeOp(cpu, i, lin, 8, lo, resHi);
  } else {
    writeOp(cpu, i, lin, size, shift32(cpu, kind, size, v, c), 0);
  }
}

const shiftImm: Handler = (cpu, i) => doShift(cpu, i, i.imm & 0xff);
const shiftOne: Handler = (cpu, i) => doShift(cpu, i, 1);
const shiftCl: Handler = (cpu, i) => doShift(cpu, i, cpu.gpr[2]! & 0xff);

/** SHLD/SHRD: dst = r/m, src = reg. */
function doubleShift(cpu: Cpu, i: Insn, count: number, left: boolean): void {
  const size = i.opSize;
  const c = count & (size === 8 ? 0x3f : 0x1f);
  const lin = linOf(cpu, i);
  const d = readOp(cpu, i, lin, size); const dHi = cpu.hi;
  if (c === 0) { if (size === 4 && !i.hasMem) cpu.setReg(4, i.rm, d, 0); return; }
  const s = readReg(cpu, i, size); const sHi = cpu.hi;
  const bits = BigInt(size * 8);
  const mask = (1n << bits) - 1n;
  const dv = size === 8 ? big(d, dHi) : BigInt(d >>> 0);
  const sv = size === 8 ? big(s, sHi) : BigInt(s >>> 0);
  const n = BigInt(c);
  let r: bigint; let cf: number;
  if (left) {
    // Concatenate dst:src (2*bits wide; 16-bit counts above 16 pull src bits back in, as hardware).
    const wide = (dv << bits) | sv;
    const shifted = c <= size * 8 ? wide << n : ((wide << bits) | dv) << (n - bits);
    r = (shifted >> bits) & mask;
    cf = Number((shifted >> (bits * 2n)) & 1n);
  } else {
    const wide = (sv << bits) | dv;
    const shifted = c <= size * 8 ? wide >> n : ((dv << (bits * 2n)) | wide) >> n;
    r = shifted & mask;
    cf = Number(((c <= size * 8 ? wide : (dv << (bits * 2n)) | wide) >> (n - 1n)) & 1n);
  }
  const topBit = bits - 1n;
  const of = Number(((r ^ dv) >> topBit) & 1n);
  const lo = Number(r & 0xffffffffn); const hi = Number(r >> 32n);
  setArithFlags(cpu, szp(lo, hi, size) | (cf ? Flag.CF : 0) | (of ? Flag.OF : 0));
  writeOp(cpu, i, lin, size, lo, hi);
}

export function registerShiftOps(t: OpTable): void {
  setOp(t, OpMap.Primary, 0xc0, shiftImm); setOp(t, OpMap.Primary, 0xc1, shiftImm);
  setOp(t, OpMap.Primary, 0xd0, shiftOne); setOp(t, OpMap.Primary, 0xd1, shiftOne);
  setOp(t, OpMap.Primary, 0xd2, shiftCl); setOp(t, OpMap.Primary, 0xd3, shiftCl);
  setOp(t, OpMap.M0F, 0xa4, (cpu, i) => doubleShift(cpu, i, i.imm, true));
  setOp(t, OpMap.M0F, 0xa5, (cpu, i) => doubleShift(cpu, i, cpu.gpr[2]! & 0xff, true));
  setOp(t, OpMap.M0F, 0xac, (cpu, i) => doubleShift(cpu, i, i.imm, false));
  setOp(t, OpMap.M0F, 0xad, (cpu, i) => doubleShift(cpu, i, cpu.gpr[2]! & 0xff, false));
}
