// Near control transfers: Jcc, JMP, CALL, RET, LOOP/JCXZ, and the FF group (SDM Vol. 2).
// Handlers run with cpu.rip already at the next instruction.

import { OpMap, type Insn, type OpTable } from './insn.js';
import type { Cpu } from './cpu.js';
import { Vector } from './fault.js';
import { computeZF, testCondition } from './flags.js';
import { type Handler, setOp, readOp, linOf, ext } from './ops-util.js';
import { incDec } from './ops-alu.js';
import { pushE } from './ops-stack.js';

/** Branch target rip + rel, truncated to the operand size outside 64-bit mode. */
function relTarget(cpu: Cpu, i: Insn): number {
  const t = cpu.rip + (i.imm | 0);
  return i.opSize === 8 ? t : i.opSize === 4 ? t >>> 0 : t & 0xffff;
}

const jcc: Handler = (cpu, i) => {
  if (testCondition(cpu, i.op & 15)) cpu.jump(relTarget(cpu, i));
};

const jmpRel: Handler = (cpu, i) => cpu.jump(relTarget(cpu, i));

/** Pushes the return address (current rip) in the operand size. */
function pushRip(cpu: Cpu, size: number): void {
  const r = cpu.rip;
  if (size === 8) cpu.push(8, r >>> 0, Math.floor(r / 4294967296) >>> 0);
  else cpu.push(size as 2 | 4, size === 2 ? r & 0xffff : r >>> 0, 0);
}

const callRel: Handler = (cpu, i) => {
  const target = relTarget(cpu, i);
  pushRip(cpu, i.opSize);
  cpu.jump(target);
};

function popRip(cpu: Cpu, size: number): number {
  if (size === 8) { const lo = cpu.pop(8); return (cpu.hi | 0) * 4294967296 + lo; }
  return cpu.pop(size as 2 | 4);
}

/** C3 / C2 iw: RET near (imm16 bytes released after the pop). */
const ret: Handler = (cpu, i) => {
  const g = cpu.gpr; const spLo = g[8]!; const spHi = g[9]!;
  const target = popRip(cpu, i.opSize);
  try {
    cpu.jump(target);
  } catch (e) {
    g[8] = spLo; g[9] = spHi;
    throw e;
  }
  if (i.op === 0xc2) cpu.adjustSp(i.imm & 0xffff);
};

/** Count register per address size: read, decrement (no flags), return the new value != 0. */
function decCount(cpu: Cpu, as: number): boolean {
  const g = cpu.gpr;
  if (as === 8) {
    const lo = g[2]!;
    g[2] = (lo - 1) >>> 0;
    if (lo === 0) g[3] = (g[3]! - 1) >>> 0;
    return (g[2] | g[3]!) !== 0;
  }
  if (as === 4) { g[2] = (g[2]! - 1) >>> 0; g[3] = 0; return g[2] !== 0; } // ECX write zero-extends
  const cx = (g[2]! - 1) & 0xffff;
  g[2] = (g[2]! & 0xffff0000) | cx;
  return cx !== 0;
}

/** E0 LOOPNE, E1 LOOPE, E2 LOOP, E3 JrCXZ. */
const loop: Handler = (cpu, i) => {
  let take: boolean;
  if (i.op === 0xe3) {
    const g = cpu.gpr;
    take = i.addrSize === 8 ? (g[2]! | g[3]!) === 0 : i.addrSize === 4 ? g[2] === 0 : (g[2]! & 0xffff) === 0;
  } else {
    take = decCount(cpu, i.addrSize);
    if (i.op === 0xe1) take = take && computeZF(cpu);
    else if (i.op === 0xe0) take = take && !computeZF(cpu);
  }
  if (take) cpu.jump(relTarget(cpu, i));
};

/**
 * FF: INC/DEC/CALL/CALLF/JMP/JMPF/PUSH r/m. Far forms (/3, /5) go to `far`, the system-ops
 * handler registered for FF (the table builder composes both), or #UD without one.
 */
export function groupFFWith(far: Handler | null): Handler {
  return (cpu, i) => {
  switch (ext(i)) {
    case 0: incDec(cpu, i, i.opSize, false); return;
    case 1: incDec(cpu, i, i.opSize, true); return;
    case 2: {
      const size = i.opSize;
      const lo = readOp(cpu, i, linOf(cpu, i), size);
      const target = size === 8 ? (cpu.hi | 0) * 4294967296 + lo : lo;
      pushRip(cpu, size);
      cpu.jump(target);
      return;
    }
    case 4: {
      const size = i.opSize;
      const lo = readOp(cpu, i, linOf(cpu, i), size);
      cpu.jump(size === 8 ? (cpu.hi | 0) * 4294967296 + lo : lo);
      return;
    }
    case 6: pushE(cpu, i); return;
    case 3: case 5:
      if (far !== null) { far(cpu, i); return; }
      cpu.fault(Vector.UD);
      break;
    default: cpu.fault(Vector.UD);
  }
  };
}

export function registerControlOps(t: OpTable): void {
  for (let c = 0; c < 16; c++) { setOp(t, OpMap.Primary, 0x70 + c, jcc); setOp(t, OpMap.M0F, 0x80 + c, jcc); }
  setOp(t, OpMap.Primary, 0xe9, jmpRel); setOp(t, OpMap.Primary, 0xeb, jmpRel);
  setOp(t, OpMap.Primary, 0xe8, callRel);
  setOp(t, OpMap.Primary, 0xc3, ret); setOp(t, OpMap.Primary, 0xc2, ret);
  for (let op = 0xe0; op <= 0xe3; op++) setOp(t, OpMap.Primary, op, loop);
  setOp(t, OpMap.Primary, 0xff, groupFFWith(null));
}
