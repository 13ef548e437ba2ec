// SSE2 integer instructions on XMM registers (66-prefixed 0F 60..FE, 0F 70..73): wiring of the
// lane operations of simd-int.ts to opcodes (SDM Vol. 2, Appendix A Table A-3).

import { OpMap, type Cpu, type Insn, type OpTable } from '../insn.js';
import { Vector } from '../fault.js';
import { Cr0 } from '../state.js';
import { loadA, loadB, sseCheck, storeA } from './operands.js';
import * as S from './simd-int.js';

/** dst = op(dst, src) with src = xmm/m128 (aligned, as all legacy-SSE packed memory operands). */
function binary(op: S.SimdOp) {
  return (cpu: Cpu, i: Insn): void => {
    sseCheck(cpu);
    loadA(cpu, i.reg);
    loadB(cpu, i, true);
    op();
    storeA(cpu, i.reg);
  };
}
/** Shift by the count in xmm/m128 (PSRLW xmm, xmm/m128 ...). */
function shiftByXmm(op: (n: number) => void) {
  return (cpu: Cpu, i: Insn): void => {
    sseCheck(cpu);
    loadA(cpu, i.reg);
    loadB(cpu, i, true);
    op(S.countFromB());
    storeA(cpu, i.reg);
  };
}
/** PSHUFD/PSHUFHW/PSHUFLW xmm, xmm/m128, imm8. */
function shuffleImm(op: (imm: number) => void) {
  return (cpu: Cpu, i: Insn): void => {
    sseCheck(cpu);
    loadB(cpu, i, true);
    op(i.imm & 0xff);
    storeA(cpu, i.reg);
  };
}
/** SHUFPS/SHUFPD xmm, xmm/m128, imm8 (both sources). */
function binaryImm(op: (imm: number) => void) {
  return (cpu: Cpu, i: Insn): void => {
    sseCheck(cpu);
    loadA(cpu, i.reg);
    loadB(cpu, i, true);
    op(i.imm & 0xff);
    storeA(cpu, i.reg);
  };
}

/**
 * Groups 12/13/14 (66 0F 71/72/73 /r ib): shifts of the register in ModRM.rm by an immediate.
 * reg field: 2 = logical right, 4 = arithmetic right, 6 = left; 3/7 = PSRLDQ/PSLLDQ (73 only).
 */
function shiftGroup(ops: ReadonlyArray<((n: number) => void) | undefined>) {
  return (cpu: Cpu, i: Insn): void => {
    const op = i.mod === 3 ? ops[i.reg & 7] : undefined;
    if (op === undefined) cpu.fault(Vector.UD);
    sseCheck(cpu);
    loadA(cpu, i.rm);
    op(i.imm & 0xff);
    storeA(cpu, i.rm);
  };
}

/** EMMS (0F 77): marks all x87 registers empty (SDM Vol. 2 EMMS). */
function emms(cpu: Cpu): void {
  if ((cpu.cr0 & Cr0.EM) !== 0) cpu.fault(Vector.UD);
  if ((cpu.cr0 & Cr0.TS) !== 0) cpu.fault(Vector.NM);
  if ((cpu.fpuStatus & FSW_ES) !== 0 && (cpu.cr0 & Cr0.NE) !== 0) cpu.fault(Vector.MF);
  cpu.fpuTagValid = 0;
}
/** FSW.ES: an unmasked x87 exception is pending (SDM Vol. 1 §8.1.3.1). */
const FSW_ES = 1 << 7;

export function registerIntOps(t: OpTable): void {
  const M = OpMap.M0F;
  const b: Array<[number, S.SimdOp]> = [
    [0x60, S.punpcklbw], [0x61, S.punpcklwd], [0x62, S.punpckldq], [0x63, S.packsswb],
    [0x64, S.pcmpgtb], [0x65, S.pcmpgtw], [0x66, S.pcmpgtd], [0x67, S.packuswb],
    [0x68, S.punpckhbw], [0x69, S.punpckhwd], [0x6a, S.punpckhdq], [0x6b, S.packssdw],
    [0x6c, S.punpcklqdq], [0x6d, S.punpckhqdq],
    [0x74, S.pcmpeqb], [0x75, S.pcmpeqw], [0x76, S.pcmpeqd],
    [0xd4, S.paddq], [0xd5, S.pmullw],
    [0xd8, S.psubusb], [0xd9, S.psubusw], [0xda, S.pminub], [0xdb, S.pand],
    [0xdc, S.paddusb], [0xdd, S.paddusw], [0xde, S.pmaxub], [0xdf, S.pandn],
    [0xe0, S.pavgb], [0xe3, S.pavgw], [0xe4, S.pmulhuw], [0xe5, S.pmulhw],
    [0xe8, S.psubsb], [0xe9, S.psubsw], [0xea, S.pminsw], [0xeb, S.por],
    [0xec, S.paddsb], [0xed, S.paddsw], [0xee, S.pmaxsw], [0xef, S.pxor],
    [0xf4, S.pmuludq], [0xf5, S.pmaddwd], [0xf6, S.psadbw],
    [0xf8, S.psubb], [0xf9, S.psubw], [0xfa, S.psubd], [0xfb, S.psubq],
    [0xfc, S.paddb], [0xfd, S.paddw], [0xfe, S.paddd],
  ];
  for (const [op, fn] of b) t.set(M, op, 1, binary(fn));
  const sh: Array<[number, (n: number) => void]> = [
    [0xd1, S.psrlw], [0xd2, S.psrld], [0xd3, S.psrlq], [0xe1, S.psraw], [0xe2, S.psrad],
    [0xf1, S.psllw], [0xf2, S.pslld], [0xf3, S.psllq],
  ];
  for (const [op, fn] of sh) t.set(M, op, 1, shiftByXmm(fn));
  t.set(M, 0x70, 1, shuffleImm(S.pshufd));
  t.set(M, 0x70, 2, shuffleImm(S.pshufhw));
  t.set(M, 0x70, 3, shuffleImm(S.pshuflw));
  t.set(M, 0x71, 1, shiftGroup([undefined, undefined, S.psrlw, undefined, S.psraw, undefined, S.psllw, undefined]));
  t.set(M, 0x72, 1, shiftGroup([undefined, undefined, S.psrld, undefined, S.psrad, undefined, S.pslld, undefined]));
  t.set(M, 0x73, 1, shiftGroup([undefined, undefined, S.psrlq, S.psrldq, undefined, undefined, S.psllq, S.pslldq]));
  t.set(M, 0x77, 0, emms);
  // Packed-single/double forms that are plain bit operations or lane shuffles.
  for (const m of [0, 1] as const) {
    t.set(M, 0x54, m, binary(S.pand));
    t.set(M, 0x55, m, binary(S.pandn));
    t.set(M, 0x56, m, binary(S.por));
    t.set(M, 0x57, m, binary(S.pxor));
  }
  t.set(M, 0x14, 0, binary(S.punpckldq)); t.set(M, 0x15, 0, binary(S.punpckhdq));
  t.set(M, 0x14, 1, binary(S.punpcklqdq)); t.set(M, 0x15, 1, binary(S.punpckhqdq));
  t.set(M, 0xc6, 0, binaryImm(S.shufps)); t.set(M, 0xc6, 1, binaryImm(S.shufpd));
}
