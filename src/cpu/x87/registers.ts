// Access to the x87 register file of CpuState: raw bits of the double registers, and exact 80-bit
// images recorded beside them. The registers are doubles (see stack.ts); an 80-bit value that a
// double cannot hold (64-bit significand, MMX data) is kept in a per-CPU record, valid while the
// register still holds the double written with it. FXSAVE writes the recorded image, so guest
// state restored by FXRSTOR (a context switch) and not touched since is saved back bit for bit;
// MMX reads and writes go through the same record (SDM Vol. 1 §9.5: MMi aliases Ri's significand).

import type { Cpu } from '../insn.js';
import { dbl, doubleBitsToF80, f80, f80ToDoubleBits } from './f80.js';

const fprBits = new WeakMap<Float64Array, Uint32Array>();
/** A uint32 view on the x87 registers, to copy raw double bits (NaN payloads included). */
export function fprWords(cpu: Cpu): Uint32Array {
  let v = fprBits.get(cpu.fpr);
  if (v === undefined) { v = new Uint32Array(cpu.fpr.buffer, cpu.fpr.byteOffset, 16); fprBits.set(cpu.fpr, v); }
  return v;
}

/** Exact 80-bit register images recorded beside the double registers, per CPU (keyed by fpr). */
interface Raw80Record { lo: Uint32Array; hi: Uint32Array; se: Uint16Array; dLo: Uint32Array; dHi: Uint32Array; valid: number }
const records = new WeakMap<Float64Array, Raw80Record>();
function record(cpu: Cpu): Raw80Record {
  let r = records.get(cpu.fpr);
  if (r === undefined) {
    r = { lo: new Uint32Array(8), hi: new Uint32Array(8), se: new Uint16Array(8), dLo: new Uint32Array(8), dHi: new Uint32Array(8), valid: 0 };
    records.set(cpu.fpr, r);
  }
  return r;
}

/** The 80-bit significand of physical register i, in mmVal. */
export const mmVal = { lo: 0, hi: 0 };
export function readMm(cpu: Cpu, i: number): void {
  const w = fprWords(cpu);
  const r = records.get(cpu.fpr);
  if (r !== undefined && ((r.valid >>> i) & 1) !== 0 && r.dLo[i] === w[2 * i] && r.dHi[i] === w[2 * i + 1]) {
    mmVal.lo = r.lo[i]!; mmVal.hi = r.hi[i]!;
    return;
  }
  doubleBitsToF80(w[2 * i]!, w[2 * i + 1]!);
  mmVal.lo = f80.lo; mmVal.hi = f80.hi;
}
/**
 * Records an 80-bit register image (significand lo/hi, sign+exponent se) for physical register i
 * and stores its double approximation in fpr; used by MMX writes and by FXRSTOR so that an
 * untouched register is saved again exactly (the registers themselves are doubles).
 */
export function writeRaw80(cpu: Cpu, i: number, lo: number, hi: number, se: number): void {
  f80ToDoubleBits(lo, hi, se);
  const w = fprWords(cpu);
  w[2 * i] = dbl.lo; w[2 * i + 1] = dbl.hi;
  const r = record(cpu);
  r.lo[i] = lo >>> 0; r.hi[i] = hi >>> 0; r.se[i] = se; r.dLo[i] = dbl.lo; r.dHi[i] = dbl.hi;
  r.valid |= 1 << i;
}
/** For FXSAVE: the exact 80-bit image of physical register i when one is recorded, in f80. */
export function recordedRaw80(cpu: Cpu, i: number): boolean {
  const r = records.get(cpu.fpr);
  if (r === undefined || ((r.valid >>> i) & 1) === 0) return false;
  const w = fprWords(cpu);
  if (r.dLo[i] !== w[2 * i] || r.dHi[i] !== w[2 * i + 1]) return false;
  f80.lo = r.lo[i]!; f80.hi = r.hi[i]!; f80.se = r.se[i]!;
  return true;
}
/** Records the 80-bit image a load produced for physical register i, against its current double. */
export function recordRaw80(cpu: Cpu, i: number, lo: number, hi: number, se: number): void {
  const w = fprWords(cpu);
  const r = record(cpu);
  r.lo[i] = lo >>> 0; r.hi[i] = hi >>> 0; r.se[i] = se; r.dLo[i] = w[2 * i]!; r.dHi[i] = w[2 * i + 1]!;
  r.valid |= 1 << i;
}
/** The 80-bit image of physical register i: the recorded one if still valid, else its double's. */
export function imageOf(cpu: Cpu, i: number): void {
  if (recordedRaw80(cpu, i)) return;
  const w = fprWords(cpu);
  doubleBitsToF80(w[2 * i]!, w[2 * i + 1]!);
}
/** Writes an 80-bit result image to physical register i (double approximation + record). */
export function setImage(cpu: Cpu, i: number, lo: number, hi: number, se: number): void {
  writeRaw80(cpu, i, lo, hi, se);
  cpu.fpuTagValid |= 1 << i;
}
/** FXCH: exchanges the recorded images of physical registers p and q along with the doubles. */
export function swapRecords(cpu: Cpu, p: number, q: number): void {
  const r = records.get(cpu.fpr);
  if (r === undefined) return;
  for (const a of [r.lo, r.hi, r.dLo, r.dHi]) { const t = a[p]!; a[p] = a[q]!; a[q] = t; }
  const t = r.se[p]!; r.se[p] = r.se[q]!; r.se[q] = t;
  const vp = (r.valid >>> p) & 1, vq = (r.valid >>> q) & 1;
  r.valid = (r.valid & ~((1 << p) | (1 << q))) | (vp << q) | (vq << p);
}
/** Register-to-register copies (FLD ST(i), FST ST(i), FCMOV): the image goes along. */
export function copyRecord(cpu: Cpu, from: number, to: number): void {
  const r = records.get(cpu.fpr);
  if (r === undefined) return;
  r.lo[to] = r.lo[from]!; r.hi[to] = r.hi[from]!; r.se[to] = r.se[from]!;
  r.dLo[to] = r.dLo[from]!; r.dHi[to] = r.dHi[from]!;
  r.valid = (r.valid & ~(1 << to)) | (((r.valid >>> from) & 1) << to);
}
/** A register written from a double: its recorded image no longer applies. */
export function invalidateRecord(cpu: Cpu, i: number): void {
  const r = records.get(cpu.fpr);
  if (r !== undefined) r.valid &= ~(1 << i);
}
