// BT/BTS/BTR/BTC, BSF/BSR, BSWAP, SETcc, CMOVcc (SDM Vol. 2).

import { OpMap, type Insn, type OpTable } from './insn.js';
import type { Cpu } from './cpu.js';
import { Flag } from './state.js';
import { computeArithFlags, setArithFlags, testCondition } from './flags.js';
import { type Handler, setOp, readOp, writeOp, linOf, ext, readReg, writeReg, readMem, writeMem } from './ops-util.js';

/** op: 0 BT, 1 BTS, 2 BTR, 3 BTC. `offLo/offHi` is the bit offset (register form: signed). */
function bitOp(cpu: Cpu, i: Insn, op: number, offLo: number, offHi: number, fromReg: boolean): void {
  const size = i.opSize;
  const bits = size * 8;
  let lin = 0;
  let bit: number;
  if (i.hasMem) {
    lin = cpu.ea(i);
    if (fromReg) {
      // Register bit offsets address memory beyond the operand (SDM BT: "bit string").
      const off = size === 8 ? (offHi | 0) * 4294967296 + (offLo >>> 0) : size === 4 ? offLo | 0 : (offLo << 16) >> 16;
      const unit = Math.floor(off / bits);
      lin += unit * size;
      bit = off - unit * bits;
    } else bit = offLo & (bits - 1);
  } else bit = offLo & (bits - 1);
  const v = readOp(cpu, i, lin, size);
  let vHi = size === 8 ? cpu.hi : 0;
  let lo = v;
  let cf: number;
  if (bit >= 32) {
    const b = bit - 32;
    cf = (vHi >>> b) & 1;
    if (op === 1) vHi = (vHi | (1 << b)) >>> 0; else if (op === 2) vHi = (vHi & ~(1 << b)) >>> 0; else if (op === 3) vHi = (vHi ^ (1 << b)) >>> 0;
  } else {
    cf = (v >>> bit) & 1;
    if (op === 1) lo = (v | (1 << bit)) >>> 0; else if (op === 2) lo = (v & ~(1 << bit)) >>> 0; else if (op === 3) lo = (v ^ (1 << bit)) >>> 0;
  }
  const f = computeArithFlags(cpu) & ~Flag.CF;
  setArithFlags(cpu, f | (cf ? Flag.CF : 0));
  if (op !== 0) {
    if (size === 8) writeOp(cpu, i, lin, 8, lo, vHi);
    else if (i.hasMem) writeMem(cpu, lin, size, lo, 0);
    else cpu.setReg(size, i.rm, lo, i.rex);
  }
}

function makeBitReg(op: number): Handler {
  return (cpu, i) => {
    const lo = readReg(cpu, i, i.opSize);
    bitOp(cpu, i, op, lo, i.opSize === 8 ? cpu.hi : 0, true);
  };
}

const bitImm: Handler = (cpu, i) => {
  const e = ext(i);
  bitOp(cpu, i, e - 4, i.imm & 0xff, 0, false);
};

/** BSF (forward) / BSR. A zero source sets ZF and leaves the destination unchanged. */
function makeBitScan(reverse: boolean): Handler {
  return (cpu, i) => {
    const size = i.opSize;
    const lo = readOp(cpu, i, linOf(cpu, i), size);
    const hi = size === 8 ? cpu.hi : 0;
    const f = computeArithFlags(cpu) & ~(Flag.ZF | Flag.CF | Flag.OF | Flag.SF | Flag.AF | Flag.PF);
    if (lo === 0 && hi === 0) { setArithFlags(cpu, f | Flag.ZF | Flag.PF); return; }
    let idx: number;
    if (reverse) idx = hi !== 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(lo);
    else idx = lo !== 0 ? 31 - Math.clz32(lo & -lo) : 63 - Math.clz32(hi & -hi);
    setArithFlags(cpu, f);
    writeReg(cpu, i, size, idx, 0);
  };
}

const bswap: Handler = (cpu, i) => {
  const g = cpu.gpr; const k = i.rm << 1;
  const sw = (x: number): number => (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
  if (i.opSize === 8) { const lo = g[k]!; g[k] = sw(g[k + 1]!); g[k + 1] = sw(lo); }
  else if (i.opSize === 4) { g[k] = sw(g[k]!); g[k + 1] = 0; }
  else g[k] = g[k]! & 0xffff0000; // 16-bit BSWAP is undefined; hardware clears the word
};

const setcc: Handler = (cpu, i) => {
  writeOp(cpu, i, linOf(cpu, i), 1, testCondition(cpu, i.op & 15) ? 1 : 0, 0);
};

const cmovcc: Handler = (cpu, i) => {
  const size = i.opSize;
  const lo = readOp(cpu, i, linOf(cpu, i), size);
  const hi = cpu.hi;
  if (testCondition(cpu, i.op & 15)) writeReg(cpu, i, size, lo, hi);
  else if (size === 4) cpu.setReg(4, i.reg, cpu.getReg(4, i.reg, 0), 0); // 32-bit dest zero-extends anyway
};

export function registerBitOps(t: OpTable): void {
  setOp(t, OpMap.M0F, 0xa3, makeBitReg(0));
  setOp(t, OpMap.M0F, 0xab, makeBitReg(1));
  setOp(t, OpMap.M0F, 0xb3, makeBitReg(2));
  setOp(t, OpMap.M0F, 0xbb, makeBitReg(3));
  setOp(t, OpMap.M0F, 0xba, bitImm);
  setOp(t, OpMap.M0F, 0xbc, makeBitScan(false));
  setOp(t, OpMap.M0F, 0xbd, makeBitScan(true));
  for (let r = 0; r < 8; r++) setOp(t, OpMap.M0F, 0xc8 + r, bswap);
  for (let c = 0; c < 16; c++) { setOp(t, OpMap.M0F, 0x90 + c, setcc); setOp(t, OpMap.M0F, 0x40 + c, cmovcc); }
}

export { readMem };
