// Operand helpers shared by the integer instruction files. `Cpu` here is the concrete class:
// handlers are typed against it for speed (one hidden class, direct field access).

import type { Insn } from './insn.js';
import type { Cpu } from './cpu.js';

export const MASK = [0, 0xff, 0xffff, 0, 0xffffffff, 0, 0, 0, 0xffffffff];
/** Sign bit of the low 32-bit word for each size (index by size; size 8 uses the high word). */
export const SIGN = [0, 0x80, 0x8000, 0, 0x80000000, 0, 0, 0, 0x80000000];
export const TWO32 = 4294967296;

/** Masks a value to an operand size of 1, 2 or 4 bytes, unsigned. */
export function trunc(v: number, size: number): number {
  return size === 4 ? v >>> 0 : size === 2 ? v & 0xffff : v & 0xff;
}

/** Sign-extends a size-byte value to int32. */
export function sext(v: number, size: number): number {
  return size === 4 ? v | 0 : size === 2 ? (v << 16) >> 16 : (v << 24) >> 24;
}

/** Reads the r/m operand (register, or memory at `lin`) of any size; size 8 leaves the high half in cpu.hi. */
export function readOp(cpu: Cpu, i: Insn, lin: number, size: number): number {
  if (!i.hasMem) {
    if (size === 8) return cpu.getReg64(i.rm);
    return cpu.getReg(size as 1 | 2 | 4, i.rm, i.rex);
  }
  switch (size) {
    case 1: return cpu.mem.read8(lin);
    case 2: return cpu.mem.read16(lin);
    case 4: return cpu.mem.read32(lin);
    default: { const lo = cpu.mem.read64(lin); cpu.hi = cpu.mem.hi; return lo; }
  }
}

/** Writes the r/m operand (register, or memory at `lin`). */
export function writeOp(cpu: Cpu, i: Insn, lin: number, size: number, lo: number, hi: number): void {
  if (!i.hasMem) {
    if (size === 8) cpu.setReg64(i.rm, lo, hi);
    else cpu.setReg(size as 1 | 2 | 4, i.rm, lo, i.rex);
    return;
  }
  switch (size) {
    case 1: cpu.mem.write8(lin, lo); break;
    case 2: cpu.mem.write16(lin, lo); break;
    case 4: cpu.mem.write32(lin, lo); break;
    default: cpu.mem.write64(lin, lo, hi);
  }
}

/** Reads the ModRM.reg register operand; size 8 leaves the high half in cpu.hi. */
export function readReg(cpu: Cpu, i: Insn, size: number): number {
  if (size === 8) return cpu.getReg64(i.reg);
  return cpu.getReg(size as 1 | 2 | 4, i.reg, i.rex);
}

export function writeReg(cpu: Cpu, i: Insn, size: number, lo: number, hi: number): void {
  if (size === 8) cpu.setReg64(i.reg, lo, hi);
  else cpu.setReg(size as 1 | 2 | 4, i.reg, lo, i.rex);
}

/** Memory operand's linear address, or 0 for register operands. */
export function linOf(cpu: Cpu, i: Insn): number {
  return i.hasMem ? cpu.ea(i) : 0;
}

/** ModRM.reg without REX.R: the opcode extension of group opcodes. */
export function ext(i: Insn): number {
  return (i.modrm >> 3) & 7;
}

/** Memory read of a given size at a linear address; size 8 leaves the high half in cpu.hi. */
export function readMem(cpu: Cpu, lin: number, size: number): number {
  switch (size) {
    case 1: return cpu.mem.read8(lin);
    case 2: return cpu.mem.read16(lin);
    case 4: return cpu.mem.read32(lin);
    default: { const lo = cpu.mem.read64(lin); cpu.hi = cpu.mem.hi; return lo; }
  }
}

export function writeMem(cpu: Cpu, lin: number, size: number, lo: number, hi: number): void {
  switch (size) {
    case 1: cpu.mem.write8(lin, lo); break;
    case 2: cpu.mem.write16(lin, lo); break;
    case 4: cpu.mem.write32(lin, lo); break;
    default: cpu.mem.write64(lin, lo, hi);
  }
}

import type { OpHandler, OpTable } from './insn.js';
import type { OpMap } from './insn.js';

/** A handler typed against the concrete Cpu class. */
export type Handler = (cpu: Cpu, i: Insn) => void;

/** Registers a concrete-Cpu handler for every prefix combination. */
export function setOp(t: OpTable, map: OpMap, op: number, h: Handler): void {
  t.set(map, op, -1, h as unknown as OpHandler);
}
