// SSE/SSE2 data movement (SDM Vol. 2): MOVUPS/MOVAPS/MOVDQA/MOVDQU and their PD twins, MOVSS/MOVSD,
// MOVLPS/MOVHPS/MOVLPD/MOVHPD/MOVHLPS/MOVLHPS, MOVD/MOVQ, the non-temporal stores, MOVMSK*,
// PMOVMSKB, PINSRW/PEXTRW and MASKMOVDQU.

import { OpMap, type Cpu, type Insn, type OpTable } from '../insn.js';
import { Vector } from '../fault.js';
import { checkAlign16, loadA, loadBReg, read128, readGprOrMem, rexW, setGpr32, sseCheck, storeA, write128 } from './operands.js';
import { B32, byteOfB, byteOfA, movmskpd, movmskps, pextrw, pinsrw, pmovmskb } from './simd-int.js';
import { Reg } from '../state.js';

/** Full 128-bit load: xmm[reg] <- xmm/m128. */
function load128(aligned: boolean) {
  return (cpu: Cpu, i: Insn): void => {
    sseCheck(cpu);
    const x = cpu.xmm, d = i.reg << 2;
    if (i.mod === 3) {
      const s = i.rm << 2;
      x[d] = x[s]!; x[d + 1] = x[s + 1]!; x[d + 2] = x[s + 2]!; x[d + 3] = x[s + 3]!;
      return;
    }
    const lin = cpu.ea(i);
    if (aligned) checkAlign16(cpu, lin);
    read128(cpu, lin);
    x[d] = B32[0]!; x[d + 1] = B32[1]!; x[d + 2] = B32[2]!; x[d + 3] = B32[3]!;
  };
}
/** Full 128-bit store: xmm/m128 <- xmm[reg]. */
function store128(aligned: boolean, memOnly: boolean) {
  return (cpu: Cpu, i: Insn): void => {
    sseCheck(cpu);
    const x = cpu.xmm, s = i.reg << 2;
    if (i.mod === 3) {
      if (memOnly) cpu.fault(Vector.UD);
      const d = i.rm << 2;
      x[d] = x[s]!; x[d + 1] = x[s + 1]!; x[d + 2] = x[s + 2]!; x[d + 3] = x[s + 3]!;
      return;
    }
    const lin = cpu.ea(i);
    if (aligned) checkAlign16(cpu, lin);
    write128(cpu, lin, i.reg);
  };
}

/** MOVSS load (F3 0F 10): register form merges the low dword, memory form zeroes the rest. */
function movssLoad(cpu: Cpu, i: Insn): void {
  sseCheck(cpu);
  const x = cpu.xmm, d = i.reg << 2;
  if (i.mod === 3) { x[d] = x[i.rm << 2]!; return; }
  x[d] = cpu.read32(cpu.ea(i));
  x[d + 1] = 0; x[d + 2] = 0; x[d + 3] = 0;
}
function movssStore(cpu: Cpu, i: Insn): void {
  sseCheck(cpu);
  const x = cpu.xmm, s = i.reg << 2;
  if (i.mod === 3) { x[i.rm << 2] = x[s]!; return; }
  cpu.write32(cpu.ea(i), x[s]!);
}
function movsdLoad(cpu: Cpu, i: Insn): void {
  sseCheck(cpu);
  const x = cpu.xmm, d = i.reg << 2;
  if (i.mod === 3) { const s = i.rm << 2; x[d] = x[s]!; x[d + 1] = x[s + 1]!; return; }
  x[d] = cpu.read64(cpu.ea(i));
  x[d + 1] = cpu.hi; x[d + 2] = 0; x[d + 3] = 0;
}
/** MOVSD/MOVLPS/MOVLPD/MOVQ(66 D6) store of the low quadword; reg form used by MOVSD only. */
function movsdStore(cpu: Cpu, i: Insn): void {
  sseCheck(cpu);
  const x = cpu.xmm, s = i.reg << 2;
  if (i.mod === 3) { const d = i.rm << 2; x[d] = x[s]!; x[d + 1] = x[s + 1]!; return; }
  cpu.write64(cpu.ea(i), x[s]!, x[s + 1]!);
}
function movlpStore(cpu: Cpu, i: Insn): void {
  if (i.mod === 3) cpu.fault(Vector.UD);
  movsdStore(cpu, i);
}
/** MOVQ xmm/m64, xmm (66 0F D6): the register form zeroes the upper quadword of the destination. */
function movqStore(cpu: Cpu, i: Insn): void {
  sseCheck(cpu);
  const x = cpu.xmm, s = i.reg << 2;
  if (i.mod === 3) { const d = i.rm << 2; x[d] = x[s]!; x[d + 1] = x[s + 1]!; x[d + 2] = 0; x[d + 3] = 0; return; }
  cpu.write64(cpu.ea(i), x[s]!, x[s + 1]!);
}
/** MOVQ xmm, xmm/m64 (F3 0F 7E): zero-extends. */
function movqLoad(cpu: Cpu, i: Insn): void {
  sseCheck(cpu);
  const x = cpu.xmm, d = i.reg << 2;
  let lo: number, hi: number;
  if (i.mod === 3) { const s = i.rm << 2; lo = x[s]!; hi = x[s + 1]!; } else { lo = cpu.read64(cpu.ea(i)); hi = cpu.hi; }
  x[d] = lo; x[d + 1] = hi; x[d + 2] = 0; x[d + 3] = 0;
}
/** MOVLPS/MOVLPD load (0F 12 mem) or MOVHLPS (0F 12 reg, no prefix). */
function movlpLoad(allowHl: boolean) {
  return (cpu: Cpu, i: Insn): void => {
    sseCheck(cpu);
    const x = cpu.xmm, d = i.reg << 2;
    if (i.mod === 3) {
      if (!allowHl) cpu.fault(Vector.UD);
      const s = i.rm << 2;
      x[d] = x[s + 2]!; x[d + 1] = x[s + 3]!;
      return;
    }
    x[d] = cpu.read64(cpu.ea(i));
    x[d + 1] = cpu.hi;
  };
}
/** MOVHPS/MOVHPD load (0F 16 mem) or MOVLHPS (0F 16 reg, no prefix). */
function movhpLoad(allowLh: boolean) {
  return (cpu: Cpu, i: Insn): void => {
    sseCheck(cpu);
    const x = cpu.xmm, d = i.reg << 2;
    if (i.mod === 3) {
      if (!allowLh) cpu.fault(Vector.UD);
      const s = i.rm << 2;
      x[d + 2] = x[s]!; x[d + 3] = x[s + 1]!;
      return;
    }
    x[d + 2] = cpu.read64(cpu.ea(i));
    x[d + 3] = cpu.hi;
  };
}
function movhpStore(cpu: Cpu, i: Insn): void {
  sseCheck(cpu);
  if (i.mod === 3) cpu.fault(Vector.UD);
  const s = i.reg << 2;
  cpu.write64(cpu.ea(i), cpu.xmm[s + 2]!, cpu.xmm[s + 3]!);
}

/** MOVD/MOVQ xmm, r/m32 or r/m64 (66 0F 6E): zero-extends to 128 bits. */
function movdToXmm(cpu: Cpu, i: Insn): void {
  sseCheck(cpu);
  const w = rexW(i);
  const lo = readGprOrMem(cpu, i, w);
  const hi = w ? cpu.hi : 0;
  const x = cpu.xmm, d = i.reg << 2;
  x[d] = lo; x[d + 1] = hi; x[d + 2] = 0; x[d + 3] = 0;
}
/** MOVD/MOVQ r/m32 or r/m64, xmm (66 0F 7E). */
function movdFromXmm(cpu: Cpu, i: Insn): void {
  sseCheck(cpu);
  const x = cpu.xmm, s = i.reg << 2;
  const w = rexW(i);
  if (i.mod === 3) {
    if (w) cpu.setReg64(i.rm, x[s]!, x[s + 1]!); else setGpr32(cpu, i.rm, x[s]!);
    return;
  }
  const lin = cpu.ea(i);
  if (w) cpu.write64(lin, x[s]!, x[s + 1]!); else cpu.write32(lin, x[s]!);
}
/** MOVNTI m32/m64, r (0F C3). */
function movnti(cpu: Cpu, i: Insn): void {
  if (i.mod === 3) cpu.fault(Vector.UD);
  const lin = cpu.ea(i);
  if (rexW(i)) cpu.write64(lin, cpu.getReg64(i.reg), cpu.hi);
  else cpu.write32(lin, cpu.getReg(4, i.reg, i.rex));
}

function gprFromMask(fn: () => number) {
  return (cpu: Cpu, i: Insn): void => {
    sseCheck(cpu);
    if (i.mod !== 3) cpu.fault(Vector.UD);
    loadBReg(cpu, i.rm);
    setGpr32(cpu, i.reg, fn());
  };
}
/** PEXTRW r32, xmm, imm8 (66 0F C5). */
function pextrwOp(cpu: Cpu, i: Insn): void {
  sseCheck(cpu);
  if (i.mod !== 3) cpu.fault(Vector.UD);
  loadA(cpu, i.rm);
  setGpr32(cpu, i.reg, pextrw(i.imm));
}
/** PINSRW xmm, r32/m16, imm8 (66 0F C4). */
function pinsrwOp(cpu: Cpu, i: Insn): void {
  sseCheck(cpu);
  const v = i.mod === 3 ? cpu.getReg(4, i.rm, i.rex) : cpu.read16(cpu.ea(i));
  loadA(cpu, i.reg);
  pinsrw(v & 0xffff, i.imm);
  storeA(cpu, i.reg);
}
/**
 * MASKMOVDQU xmm1, xmm2 (66 0F F7): stores the bytes of xmm1 selected by the top bits of xmm2's
 * bytes to DS:rDI (segment override allowed); the address size picks DI/EDI/RDI.
 */
function maskmovdqu(cpu: Cpu, i: Insn): void {
  sseCheck(cpu);
  if (i.mod !== 3) cpu.fault(Vector.UD);
  loadA(cpu, i.reg);
  loadBReg(cpu, i.rm);
  let di = cpu.getReg64(Reg.RDI);
  const diHi = cpu.hi;
  if (i.addrSize === 4) di >>>= 0;
  else if (i.addrSize === 2) di &= 0xffff;
  else di = (diHi | 0) * 4294967296 + (di >>> 0);
  const lin = cpu.seg[i.seg]!.base + di;
  for (let k = 0; k < 16; k++) if ((byteOfB(k) & 0x80) !== 0) cpu.write8(lin + k, byteOfA(k));
}

export function registerMoveOps(t: OpTable): void {
  const M = OpMap.M0F;
  t.set(M, 0x10, 0, load128(false)); t.set(M, 0x10, 1, load128(false));
  t.set(M, 0x11, 0, store128(false, false)); t.set(M, 0x11, 1, store128(false, false));
  t.set(M, 0x10, 2, movssLoad); t.set(M, 0x11, 2, movssStore);
  t.set(M, 0x10, 3, movsdLoad); t.set(M, 0x11, 3, movsdStore);
  t.set(M, 0x12, 0, movlpLoad(true)); t.set(M, 0x12, 1, movlpLoad(false));
  t.set(M, 0x13, 0, movlpStore); t.set(M, 0x13, 1, movlpStore);
  t.set(M, 0x16, 0, movhpLoad(true)); t.set(M, 0x16, 1, movhpLoad(false));
  t.set(M, 0x17, 0, movhpStore); t.set(M, 0x17, 1, movhpStore);
  t.set(M, 0x28, 0, load128(true)); t.set(M, 0x28, 1, load128(true));
  t.set(M, 0x29, 0, store128(true, false)); t.set(M, 0x29, 1, store128(true, false));
  t.set(M, 0x2b, 0, store128(true, true)); t.set(M, 0x2b, 1, store128(true, true));
  t.set(M, 0x50, 0, gprFromMask(movmskps)); t.set(M, 0x50, 1, gprFromMask(movmskpd));
  t.set(M, 0x6e, 1, movdToXmm);
  t.set(M, 0x6f, 1, load128(true)); t.set(M, 0x6f, 2, load128(false));
  t.set(M, 0x7e, 1, movdFromXmm); t.set(M, 0x7e, 2, movqLoad);
  t.set(M, 0x7f, 1, store128(true, false)); t.set(M, 0x7f, 2, store128(false, false));
  t.set(M, 0xc3, 0, movnti);
  t.set(M, 0xc4, 1, pinsrwOp); t.set(M, 0xc5, 1, pextrwOp);
  t.set(M, 0xd6, 1, movqStore);
  t.set(M, 0xd7, 1, gprFromMask(pmovmskb));
  t.set(M, 0xe7, 1, store128(true, true));
  t.set(M, 0xf7, 1, maskmovdqu);
}

