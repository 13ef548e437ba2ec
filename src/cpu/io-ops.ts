// Port I/O instructions: IN, OUT, INS, OUTS (SDM Vol. 2; protection per Vol. 1 §19.5: when
// CPL > IOPL or in virtual-8086 mode, the TSS I/O permission bitmap decides).

import type { Insn, OpTable } from './insn.js';
import { OpMap, Prefix } from './insn.js';
import { Vector } from './fault.js';
import { raiseFault } from './mmu.js';
import { CpuMode, Flag, Reg, Seg } from './state.js';
import { type SystemCpu, type SystemHandler, SysType, setSystemOp } from './segments.js';
import { getReg64Num, setReg64Num } from './exceptions.js';

/** Most iterations of one REP INS/OUTS before it yields (it resumes at the same RIP). */
export const REP_IO_CHUNK = 4096;

/**
 * I/O permission check (SDM Vol. 1 §19.5.2): allowed when CPL <= IOPL outside virtual-8086
 * mode; otherwise every bit for the accessed ports in the 32/64-bit TSS bitmap must be clear.
 */
export function checkIoPermission(cpu: SystemCpu, port: number, size: number): void {
  if (cpu.mode === CpuMode.Real) return;
  const iopl = (cpu.flagsRest & Flag.IOPL) >>> 12;
  if (cpu.mode !== CpuMode.Virtual8086 && cpu.cpl <= iopl) return;
  const tr = cpu.tr;
  const type = tr.attr & 0xf;
  if ((type !== SysType.TSS_BUSY && type !== SysType.TSS_AVAIL) || tr.limit < 103) raiseFault(Vector.GP, 0);
  const long = cpu.mode === CpuMode.Long64 || cpu.mode === CpuMode.Compat16 || cpu.mode === CpuMode.Compat32;
  const at = (off: number): number => (long ? tr.base + off : (tr.base + off) >>> 0);
  const mapBase = cpu.mem.readSystem32(at(100)) >>> 16;
  const byte = mapBase + (port >>> 3);
  if (byte + 1 > tr.limit) raiseFault(Vector.GP, 0);
  const word = cpu.mem.readSystem32(at(byte & ~3)) >>> ((byte & 3) * 8);
  const bits = (byte & 3) === 3 ? (word & 0xff) | ((cpu.mem.readSystem32(at((byte & ~3) + 4)) & 0xff) << 8) : word & 0xffff;
  const mask = ((1 << size) - 1) << (port & 7);
  if ((bits & mask) !== 0) raiseFault(Vector.GP, 0);
}

function ioSize(i: Insn): 1 | 2 | 4 {
  return (i.op & 1) === 0 ? 1 : i.opSize === 2 ? 2 : 4;
}

function writeAcc(cpu: SystemCpu, size: 1 | 2 | 4, v: number): void {
  cpu.setReg(size, Reg.RAX, v, 0);
}

/** E4/E5: IN AL/eAX, imm8. EC/ED: IN AL/eAX, DX. */
const inOp: SystemHandler = (cpu, i) => {
  const size = ioSize(i);
  const port = i.op >= 0xec ? cpu.gpr[2 * Reg.RDX]! & 0xffff : i.imm & 0xff;
  checkIoPermission(cpu, port, size);
  writeAcc(cpu, size, cpu.bus.pioRead(port, size));
};

/** E6/E7: OUT imm8, AL/eAX. EE/EF: OUT DX, AL/eAX. */
const outOp: SystemHandler = (cpu, i) => {
  const size = ioSize(i);
  const port = i.op >= 0xec ? cpu.gpr[2 * Reg.RDX]! & 0xffff : i.imm & 0xff;
  checkIoPermission(cpu, port, size);
  const a = cpu.gpr[2 * Reg.RAX]!;
  cpu.bus.pioWrite(port, size, size === 4 ? a : size === 2 ? a & 0xffff : a & 0xff);
};

// ---- String forms ----

function getIndex(cpu: SystemCpu, r: number, addrSize: number): number {
  if (addrSize === 8) return getReg64Num(cpu, r);
  return addrSize === 4 ? cpu.gpr[2 * r]! : cpu.gpr[2 * r]! & 0xffff;
}

function setIndex(cpu: SystemCpu, r: number, addrSize: number, v: number): void {
  if (addrSize === 8) setReg64Num(cpu, r, v);
  else if (addrSize === 4) { cpu.gpr[2 * r] = v >>> 0; cpu.gpr[2 * r + 1] = 0; }
  else cpu.gpr[2 * r] = (cpu.gpr[2 * r]! & 0xffff0000) | (v & 0xffff);
}

function linear(cpu: SystemCpu, seg: number, offset: number): number {
  if (cpu.mode === CpuMode.Long64) return seg === Seg.FS || seg === Seg.GS ? cpu.seg[seg]!.base + offset : offset;
  return (cpu.seg[seg]!.base + offset) >>> 0;
}

/** 6C/6D INS, 6E/6F OUTS, with an optional REP prefix (F3 or F2, both mean REP here). */
function stringIo(input: boolean): SystemHandler {
  return (cpu, i) => {
    const size = (i.op & 1) === 0 ? 1 : i.opSize === 2 ? 2 : 4;
    const port = cpu.gpr[2 * Reg.RDX]! & 0xffff;
    checkIoPermission(cpu, port, size);
    const as = i.addrSize;
    const rep = (i.prefixes & (Prefix.REP | Prefix.REPNE)) !== 0;
    const step = (cpu.flagsRest & Flag.DF) !== 0 ? -size : size;
    const idx = input ? Reg.RDI : Reg.RSI;
    const seg = input ? Seg.ES : i.seg;
    let count = rep ? getIndex(cpu, Reg.RCX, as) : 1;
    let n = 0;
    while (count !== 0 && n < REP_IO_CHUNK) {
      const off = getIndex(cpu, idx, as);
      const lin = linear(cpu, seg, off);
      if (input) {
        const v = cpu.bus.pioRead(port, size);
        if (size === 1) cpu.write8(lin, v); else if (size === 2) cpu.write16(lin, v); else cpu.write32(lin, v);
      } else {
        const v = size === 1 ? cpu.read8(lin) : size === 2 ? cpu.read16(lin) : cpu.read32(lin);
        cpu.bus.pioWrite(port, size, v);
      }
      setIndex(cpu, idx, as, off + step);
      n++;
      if (rep) { count--; setIndex(cpu, Reg.RCX, as, count); }
      else count = 0;
    }
    // Not finished: run the same instruction again (interrupts can be taken in between).
    if (count !== 0) cpu.rip = i.rip;
  };
}

export function registerIoOps(t: OpTable): void {
  setSystemOp(t, OpMap.Primary, 0xe4, inOp);
  setSystemOp(t, OpMap.Primary, 0xe5, inOp);
  setSystemOp(t, OpMap.Primary, 0xec, inOp);
  setSystemOp(t, OpMap.Primary, 0xed, inOp);
  setSystemOp(t, OpMap.Primary, 0xe6, outOp);
  setSystemOp(t, OpMap.Primary, 0xe7, outOp);
  setSystemOp(t, OpMap.Primary, 0xee, outOp);
  setSystemOp(t, OpMap.Primary, 0xef, outOp);
  setSystemOp(t, OpMap.Primary, 0x6c, stringIo(true));
  setSystemOp(t, OpMap.Primary, 0x6d, stringIo(true));
  setSystemOp(t, OpMap.Primary, 0x6e, stringIo(false));
  setSystemOp(t, OpMap.Primary, 0x6f, stringIo(false));
}
