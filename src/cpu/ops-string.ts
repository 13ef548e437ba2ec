// String instructions MOVS/STOS/LODS/CMPS/SCAS with REP/REPE/REPNE in every address size
// (SDM Vol. 2 "REP/REPE/REPZ/REPNE/REPNZ"). A REP instruction runs at most REP_CHUNK elements
// (or REP_BULK_BYTES through the bulk path) per execution and then sets RIP back to itself, so
// long loops yield to the run loop (interrupts, budget) and resume where they stopped; every
// element updates rSI/rDI/rCX at once so a fault leaves a restartable state.

import { OpMap, Prefix, type Insn, type OpTable } from './insn.js';
import type { Cpu } from './cpu.js';
import { Flag, Seg } from './state.js';
import { computeZF } from './flags.js';
import { type Handler, setOp, readMem, writeMem, TWO32 } from './ops-util.js';
import { Alu, alu, alu64 } from './ops-alu.js';

/** Most REP iterations one instruction runs before yielding (it resumes at the same RIP). */
export const REP_CHUNK = 4096;

/** Most bytes one REP MOVS/STOS copies in bulk before yielding. */
export const REP_BULK_BYTES = 256 * 1024;

function getIdx(cpu: Cpu, r: number, as: number): number {
  const g = cpu.gpr;
  if (as === 8) return (g[(r << 1) + 1]! | 0) * TWO32 + g[r << 1]!;
  return as === 4 ? g[r << 1]! : g[r << 1]! & 0xffff;
}

function addIdx(cpu: Cpu, r: number, as: number, delta: number): void {
  const g = cpu.gpr; const k = r << 1;
  if (as === 8) {
    const total = g[k]! + delta;
    const lo = total >>> 0;
    g[k + 1] = (g[k + 1]! + (total - lo) / TWO32) >>> 0;
    g[k] = lo;
  } else if (as === 4) { g[k] = (g[k]! + delta) >>> 0; g[k + 1] = 0; }
  else g[k] = (g[k]! & 0xffff0000) | ((g[k]! + delta) & 0xffff);
}

function getCount(cpu: Cpu, as: number): number {
  const g = cpu.gpr;
  if (as === 8) return g[3]! * TWO32 + g[2]!;
  return as === 4 ? g[2]! : g[2]! & 0xffff;
}

function srcLin(cpu: Cpu, i: Insn, off: number): number {
  const seg = i.seg;
  if (cpu.codeBits === 64) return seg >= Seg.FS ? cpu.canonical(off + cpu.seg[seg]!.base, seg) : cpu.canonical(off, seg);
  return (cpu.seg[seg]!.base + off) >>> 0;
}

function dstLin(cpu: Cpu, off: number): number {
  if (cpu.codeBits === 64) return cpu.canonical(off, Seg.ES);
  return (cpu.seg[Seg.ES]!.base + off) >>> 0;
}

function isRep(i: Insn): boolean {
  return (i.prefixes & (Prefix.REP | Prefix.REPNE)) !== 0;
}

/** Bulk REP MOVS/STOS within one page of RAM; returns the elements done (0 = use the slow path). */
function bulk(cpu: Cpu, i: Insn, movs: boolean, n: number): number {
  const mem = cpu.mem;
  if (mem.translateData === undefined || (cpu.flagsRest & Flag.DF) !== 0) return 0;
  const size = i.opSize; const as = i.addrSize;
  const dOff = getIdx(cpu, 7, as);
  const dLin = dstLin(cpu, dOff);
  let room = 4096 - (((dLin % 4096) + 4096) % 4096);
  let sLin = 0;
  if (movs) {
    sLin = srcLin(cpu, i, getIdx(cpu, 6, as));
    room = Math.min(room, 4096 - (((sLin % 4096) + 4096) % 4096));
  }
  // Stay clear of 16-bit/32-bit offset wrap-around: it is rare and the slow path gets it right.
  const limit = as === 2 ? 0x10000 : as === 4 ? TWO32 : Infinity;
  if (dOff + room > limit) return 0;
  if (movs && getIdx(cpu, 6, as) + room > limit) return 0;
  let count = Math.min(Math.floor(room / size), n);
  if (count <= 0) return 0;
  const dPa = mem.translateData(dLin, true);
  const dRam = cpu.bus.ramOffset(dPa);
  if (dRam < 0) return 0;
  const ram = cpu.bus.ram;
  const bytes = count * size;
  if (movs) {
    const sPa = mem.translateData(sLin, false);
    const sRam = cpu.bus.ramOffset(sPa);
    if (sRam < 0) return 0;
    // Forward element copy differs from memmove when the destination overlaps just above the source.
    if (dRam > sRam && dRam < sRam + bytes) {
      if (size !== 1 || dRam - sRam < 1) return 0;
      count = Math.min(count, dRam - sRam);
    }
    ram.copyWithin(dRam, sRam, sRam + count * size);
    addIdx(cpu, 6, as, count * size);
  } else {
    const g = cpu.gpr;
    if (size === 1) ram.fill(g[0]! & 0xff, dRam, dRam + bytes);
    else {
      const lo = g[0]!; const hi = g[1]!;
      for (let k = 0; k < count; k++) {
        const o = dRam + k * size;
        ram[o] = lo; ram[o + 1] = lo >>> 8;
        if (size >= 4) { ram[o + 2] = lo >>> 16; ram[o + 3] = lo >>> 24; }
        if (size === 8) { ram[o + 4] = hi; ram[o + 5] = hi >>> 8; ram[o + 6] = hi >>> 16; ram[o + 7] = hi >>> 24; }
      }
    }
  }
  const pn = Math.floor(dPa / 4096);
  if (pn < mem.codePages.length && mem.codePages[pn] !== 0) mem.onCodeWrite(pn * 4096);
  addIdx(cpu, 7, as, count * size);
  setCount(cpu, as, n - count);
  return count;
}

function setCount(cpu: Cpu, as: number, n: number): void {
  const g = cpu.gpr;
  if (as === 8) { g[2] = n >>> 0; g[3] = Math.floor(n / TWO32) >>> 0; }
  else if (as === 4) { g[2] = n >>> 0; g[3] = 0; }
  else g[2] = (g[2]! & 0xffff0000) | (n & 0xffff);
}

/** One element of MOVS/STOS/LODS/CMPS/SCAS; returns false for CMPS/SCAS when the REP condition ends. */
function element(cpu: Cpu, i: Insn, kind: number): void {
  const size = i.opSize; const as = i.addrSize;
  const step = (cpu.flagsRest & Flag.DF) !== 0 ? -size : size;
  switch (kind) {
    case 0: { // MOVS
      const v = readMem(cpu, srcLin(cpu, i, getIdx(cpu, 6, as)), size); const hi = cpu.hi;
      writeMem(cpu, dstLin(cpu, getIdx(cpu, 7, as)), size, v, hi);
      addIdx(cpu, 6, as, step); addIdx(cpu, 7, as, step);
      return;
    }
    case 1: { // STOS
      const g = cpu.gpr;
      writeMem(cpu, dstLin(cpu, getIdx(cpu, 7, as)), size, size === 2 ? g[0]! & 0xffff : size === 1 ? g[0]! & 0xff : g[0]!, g[1]!);
      addIdx(cpu, 7, as, step);
      return;
    }
    case 2: { // LODS
      const v = readMem(cpu, srcLin(cpu, i, getIdx(cpu, 6, as)), size);
      if (size === 8) cpu.setReg64(0, v, cpu.hi); else cpu.setReg(size, 0, v, 0);
      addIdx(cpu, 6, as, step);
      return;
    }
    case 3: { // CMPS: compares [rSI] - [rDI]
      const a = readMem(cpu, srcLin(cpu, i, getIdx(cpu, 6, as)), size); const aHi = cpu.hi;
      const b = readMem(cpu, dstLin(cpu, getIdx(cpu, 7, as)), size); const bHi = cpu.hi;
      if (size === 8) alu64(cpu, Alu.CMP, a, aHi, b, bHi); else alu(cpu, Alu.CMP, size, a, b);
      addIdx(cpu, 6, as, step); addIdx(cpu, 7, as, step);
      return;
    }
    default: { // SCAS: compares rAX - [rDI]
      const b = readMem(cpu, dstLin(cpu, getIdx(cpu, 7, as)), size); const bHi = cpu.hi;
      const g = cpu.gpr;
      if (size === 8) alu64(cpu, Alu.CMP, g[0]!, g[1]!, b, bHi);
      else alu(cpu, Alu.CMP, size, size === 4 ? g[0]! : g[0]! & (size === 2 ? 0xffff : 0xff), b);
      addIdx(cpu, 7, as, step);
    }
  }
}

function makeString(kind: number): Handler {
  const conditional = kind >= 3;
  return (cpu, i) => {
    if (!isRep(i)) { element(cpu, i, kind); return; }
    const as = i.addrSize;
    let n = getCount(cpu, as);
    if (n === 0) return;
    if (kind <= 1) {
      let bytes = 0;
      while (n > 0 && bytes < REP_BULK_BYTES) {
        const done = bulk(cpu, i, kind === 0, n);
        if (done === 0) break;
        n -= done; bytes += done * i.opSize;
      }
      if (n === 0) return;
      if (bytes >= REP_BULK_BYTES) { cpu.rip = i.rip; return; }
    }
    const repne = (i.prefixes & Prefix.REPNE) !== 0 && ((i.prefixes & Prefix.REP) === 0 || i.mandatory === 3);
    for (let k = 0; k < REP_CHUNK; k++) {
      element(cpu, i, kind);
      n--;
      setCount(cpu, as, n);
      if (conditional && computeZF(cpu) === repne) return;
      if (n === 0) return;
    }
    cpu.rip = i.rip; // resume the remaining iterations later
  };
}

export function registerStringOps(t: OpTable): void {
  const movs = makeString(0); const stos = makeString(1); const lods = makeString(2);
  const cmps = makeString(3); const scas = makeString(4);
  setOp(t, OpMap.Primary, 0xa4, movs); setOp(t, OpMap.Primary, 0xa5, movs);
  setOp(t, OpMap.Primary, 0xaa, stos); setOp(t, OpMap.Primary, 0xab, stos);
  setOp(t, OpMap.Primary, 0xac, lods); setOp(t, OpMap.Primary, 0xad, lods);
  setOp(t, OpMap.Primary, 0xa6, cmps); setOp(t, OpMap.Primary, 0xa7, cmps);
  setOp(t, OpMap.Primary, 0xae, scas); setOp(t, OpMap.Primary, 0xaf, scas);
}
