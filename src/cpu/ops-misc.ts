// Flag instructions, NOP forms, fences, UD2 (SDM Vol. 2).

import { OpMap, type OpTable } from './insn.js';
import { Cr0, Flag } from './state.js';
import { Vector } from './fault.js';
import { computeArithFlags, setArithFlags } from './flags.js';
import { type Handler, setOp } from './ops-util.js';

const nop: Handler = () => {};
const ud: Handler = (cpu) => cpu.fault(Vector.UD);

const clc: Handler = (cpu) => setArithFlags(cpu, computeArithFlags(cpu) & ~Flag.CF);
const stc: Handler = (cpu) => setArithFlags(cpu, computeArithFlags(cpu) | Flag.CF);
const cmc: Handler = (cpu) => setArithFlags(cpu, computeArithFlags(cpu) ^ Flag.CF);
const cld: Handler = (cpu) => { cpu.flagsRest &= ~Flag.DF; };
const std: Handler = (cpu) => { cpu.flagsRest |= Flag.DF; };

/** 0F 1F /0 multi-byte NOP; 0F 18-1E hint NOPs (incl. F3 0F 1E FA ENDBR64); 0F 0D PREFETCHW. */
const hintNop: Handler = nop;

/** 9B WAIT/FWAIT: #NM when CR0.MP and CR0.TS (SDM Vol. 3A §2.5); x87 code may replace it. */
const wait: Handler = (cpu) => {
  if ((cpu.cr0 & (Cr0.MP | Cr0.TS)) === (Cr0.MP | Cr0.TS)) cpu.fault(Vector.NM);
};

/** 0F AE with mod = 3: LFENCE (/5), MFENCE (/6), SFENCE (/7) are no-ops for one in-order CPU. */
export const fences: Handler = (cpu, i) => {
  const e = (i.modrm >> 3) & 7;
  if (i.mod !== 3 || e < 5) cpu.fault(Vector.UD);
};

export function registerMiscOps(t: OpTable): void {
  setOp(t, OpMap.Primary, 0xf8, clc); setOp(t, OpMap.Primary, 0xf9, stc); setOp(t, OpMap.Primary, 0xf5, cmc);
  setOp(t, OpMap.Primary, 0xfc, cld); setOp(t, OpMap.Primary, 0xfd, std);
  for (let op = 0x18; op <= 0x1f; op++) setOp(t, OpMap.M0F, op, hintNop);
  setOp(t, OpMap.M0F, 0x0d, hintNop);
  setOp(t, OpMap.M0F, 0x0b, ud);
  // Not announced in CPUID, so #UD as on a CPU without them: POPCNT (F3 0F B8), MOVBE/CRC32 (0F 38 F0/F1).
  setOp(t, OpMap.M0F, 0xb8, ud);
  setOp(t, OpMap.M0F38, 0xf0, ud); setOp(t, OpMap.M0F38, 0xf1, ud); setOp(t, OpMap.M0F, 0xb9, ud); setOp(t, OpMap.M0F, 0xff, ud);
  setOp(t, OpMap.Primary, 0x9b, wait);
  setOp(t, OpMap.M0F, 0xae, fences);
}
