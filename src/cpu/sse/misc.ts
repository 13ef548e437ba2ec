// Group 15 (0F AE; SDM Vol. 2 Table A-6): FXSAVE, FXRSTOR, LDMXCSR, STMXCSR, CLFLUSH and the
// LFENCE/MFENCE/SFENCE register forms; and the PREFETCH hints (0F 18, 0F 0D).
//
// The soft CPU executes one instruction at a time in program order with a coherent memory, so
// fences, cache flushes and prefetches have nothing to do beyond their operand checks.

import { Vector } from '../fault.js';
import { OpMap, type Cpu, type Insn, type OpTable } from '../insn.js';
import { fxrstor, fxsave } from '../x87/fxsave.js';
import { MXCSR_MASK } from './mxcsr.js';
import { rexW, sseCheck } from './operands.js';

/** LDMXCSR m32: #GP(0) when a reserved bit (outside MXCSR_MASK) is set (SDM Vol. 2 LDMXCSR). */
function ldmxcsr(cpu: Cpu, i: Insn): void {
  sseCheck(cpu);
  const v = cpu.read32(cpu.ea(i)) >>> 0;
  if ((v & ~MXCSR_MASK) !== 0) cpu.fault(Vector.GP, 0);
  cpu.mxcsr = v;
}
function stmxcsr(cpu: Cpu, i: Insn): void {
  sseCheck(cpu);
  cpu.write32(cpu.ea(i), cpu.mxcsr);
}

function group15(cpu: Cpu, i: Insn): void {
  const r = i.reg & 7;
  if (i.mod === 3) {
    // 5 LFENCE, 6 MFENCE, 7 SFENCE.
    if (r < 5) cpu.fault(Vector.UD);
    return;
  }
  switch (r) {
    case 0: fxsave(cpu, cpu.ea(i), rexW(i)); return;
    case 1: fxrstor(cpu, cpu.ea(i), rexW(i)); return;
    case 2: ldmxcsr(cpu, i); return;
    case 3: stmxcsr(cpu, i); return;
    case 7: cpu.ea(i); return; // CLFLUSH: the address is checked by forming it; nothing to flush
    default: cpu.fault(Vector.UD); // XSAVE family: not announced in CPUID
  }
}

/** PREFETCHh / PREFETCHW / NOP hints: no architectural effect. */
function prefetch(): void { /* hint only */ }

export function registerMiscOps(t: OpTable): void {
  t.set(OpMap.M0F, 0xae, 0, group15);
  t.set(OpMap.M0F, 0x18, -1, prefetch);
  t.set(OpMap.M0F, 0x0d, -1, prefetch);
}
