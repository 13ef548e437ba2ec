// System instructions (SDM Vol. 2 instruction pages; Vol. 3A ch. 2, 5, 6): control and debug
// registers, descriptor-table registers, the 0F 00 / 0F 01 groups, MSRs, TSC, CPUID, fast system
// calls, software interrupts, IRET, HLT, CLI/STI. Segment-register and far-transfer instructions
// are in segment-ops.ts, port I/O in io-ops.ts; registerSystemOps registers all three.
//
// Handlers run with cpu.rip already at the next instruction (cpu.ts run loop); those that
// transfer control set cpu.rip. Faults are thrown as CpuFault (the run loop restores RIP).

import type { Cpu, Insn, OpTable } from './insn.js';
import { OpMap } from './insn.js';
import { Vector } from './fault.js';
import { raiseFault } from './mmu.js';
import { CpuMode, Cr0, Cr4, Efer, Flag, Reg, Seg } from './state.js';
import { type SystemCpu, type SystemHandler, setSystemOp } from './segments.js';
import { loadLdt, loadTr, readDescriptor, descAttr, descLimit, dplOf, SegAttr, SysType } from './segments.js';
import { DeliveryKind, deliverEvent, getReg64Num, iret, setReg64Num } from './exceptions.js';
import { readMsr, writeMsr, readTsc } from './msr.js';
import { cpuid, defaultCpuidConfig } from './cpuid.js';
import { registerSegmentOps } from './segment-ops.js';
import { registerIoOps } from './io-ops.js';


const TWO32 = 4294967296;

function gp0(): never { raiseFault(Vector.GP, 0); }
function ud(): never { raiseFault(Vector.UD); }

/** Privileged instructions: #GP(0) unless CPL 0 (real mode counts as CPL 0). */
export function requireCpl0(cpu: SystemCpu): void {
  if (cpu.cpl !== 0) gp0();
}

/** Instructions that do not exist in real and virtual-8086 mode (#UD there). */
function requireProtected(cpu: SystemCpu): void {
  if (cpu.mode === CpuMode.Real || cpu.mode === CpuMode.Virtual8086) ud();
}

/** ModRM.reg without REX.R (group opcode extension). */
function ext(i: Insn): number { return (i.modrm >> 3) & 7; }

function setZF(cpu: SystemCpu, on: boolean): void {
  cpu.setRflags(on ? Flag.ZF : 0, Flag.ZF);
}

// ---- Control registers (SDM Vol. 3A §2.5, Vol. 2 "MOV—Move to/from Control Registers") ----

/** CR4 bits this CPU implements (matching what cpuid.ts announces: no VME, PCID, SMEP/SMAP, XSAVE, FSGSBASE, UMIP, LA57). */
export const CR4_SUPPORTED = Cr4.TSD | Cr4.DE | Cr4.PSE | Cr4.PAE | Cr4.MCE | Cr4.PGE | Cr4.PCE |
  Cr4.OSFXSR | Cr4.OSXMMEXCPT;

export function writeCr0(cpu: SystemCpu, lo: number, hi: number): void {
  if (hi !== 0) gp0();
  const v = (lo | Cr0.ET) >>> 0;
  const old = cpu.cr0;
  if ((v & Cr0.PG) !== 0 && (v & Cr0.PE) === 0) gp0();
  if ((v & Cr0.NW) !== 0 && (v & Cr0.CD) === 0) gp0();
  const pgOn = (v & Cr0.PG) !== 0 && (old & Cr0.PG) === 0;
  const pgOff = (v & Cr0.PG) === 0 && (old & Cr0.PG) !== 0;
  if (pgOn && (cpu.efer & Efer.LME) !== 0) {
    // Activating IA-32e mode (§9.8.5): needs PAE, and CS must not be a 64-bit segment yet.
    if ((cpu.cr4 & Cr4.PAE) === 0) gp0();
    if ((cpu.seg[Seg.CS]!.attr & SegAttr.L) !== 0) gp0();
    cpu.efer |= Efer.LMA;
  }
  if (pgOff && (cpu.efer & Efer.LMA) !== 0) {
    if (cpu.mode === CpuMode.Long64) gp0(); // leaving long mode only from compatibility mode (§9.8.5.4)
    cpu.efer &= ~Efer.LMA;
  }
  cpu.cr0 = v;
  if (((v ^ old) & (Cr0.PG | Cr0.WP | Cr0.PE)) !== 0) cpu.flushTlb(true);
  cpu.updateMode();
}

export function writeCr3(cpu: SystemCpu, lo: number, hi: number): void {
  // Bits above MAXPHYADDR (40) are reserved; bit 63 would be PCID's no-flush bit (no PCIDs here).
  if ((hi & 0xffffff00) !== 0) gp0();
  cpu.cr3 = (hi & 0xff) * TWO32 + (lo >>> 0);
  cpu.flushTlb(false);
}

export function writeCr4(cpu: SystemCpu, lo: number, hi: number): void {
  if (hi !== 0 || (lo & ~CR4_SUPPORTED) !== 0) gp0();
  const old = cpu.cr4;
  if ((cpu.efer & Efer.LMA) !== 0 && (lo & Cr4.PAE) === 0) gp0();
  cpu.cr4 = lo >>> 0;
  if (((lo ^ old) & (Cr4.PAE | Cr4.PSE | Cr4.PGE)) !== 0) cpu.flushTlb(true);
}

function writeCr8(cpu: SystemCpu, lo: number, hi: number): void {
  if (hi !== 0 || (lo & ~0xf) !== 0) gp0();
  cpu.cr8 = lo;
  cpu.irq.setTpr(lo);
}

/** 0F 20: MOV r, CRn. 0F 22: MOV CRn, r. ModRM.rm is always a register (mod ignored). */
const movFromCr: SystemHandler = (cpu, i) => {
  requireCpl0(cpu);
  if (cpu.mode === CpuMode.Virtual8086) gp0();
  let lo: number;
  let hi = 0;
  switch (i.reg) {
    case 0: lo = cpu.cr0; break;
    case 2: lo = cpu.cr2 >>> 0; hi = Math.floor(cpu.cr2 / TWO32) >>> 0; break;
    case 3: lo = cpu.cr3 >>> 0; hi = Math.floor(cpu.cr3 / TWO32) >>> 0; break;
    case 4: lo = cpu.cr4; break;
    case 8: lo = cpu.irq.getTpr() & 0xf; break;
    default: ud();
  }
  const r = i.modrm & 7 | (i.rex & 1) << 3;
  if (cpu.mode === CpuMode.Long64) cpu.setReg64(r, lo >>> 0, hi);
  else cpu.setReg(4, r, lo >>> 0, 0);
};

const movToCr: SystemHandler = (cpu, i) => {
  requireCpl0(cpu);
  if (cpu.mode === CpuMode.Virtual8086) gp0();
  const r = i.modrm & 7 | (i.rex & 1) << 3;
  const lo = cpu.gpr[2 * r]!;
  const hi = cpu.mode === CpuMode.Long64 ? cpu.gpr[2 * r + 1]! : 0;
  switch (i.reg) {
    case 0: writeCr0(cpu, lo, hi); break;
    case 2: cpu.cr2 = cpu.mode === CpuMode.Long64 ? (hi | 0) * TWO32 + lo : lo; break;
    case 3: writeCr3(cpu, lo, hi); break;
    case 4: writeCr4(cpu, lo, hi); break;
    case 8: writeCr8(cpu, lo, hi); break;
    default: ud();
  }
};

/** 0F 21 / 0F 23: MOV to/from DR0-7 (DR4/5 alias DR6/7 unless CR4.DE). Breakpoints are not acted on. */
function drIndex(cpu: SystemCpu, i: Insn): number {
  requireCpl0(cpu);
  if (cpu.mode === CpuMode.Virtual8086) gp0();
  let n = i.reg;
  if (n > 7) ud();
  if (n === 4 || n === 5) { if ((cpu.cr4 & Cr4.DE) !== 0) ud(); n += 2; }
  return n;
}

const movFromDr: SystemHandler = (cpu, i) => {
  const n = drIndex(cpu, i);
  const r = i.modrm & 7 | (i.rex & 1) << 3;
  const v = cpu.dr[n]!;
  if (cpu.mode === CpuMode.Long64) cpu.setReg64(r, v >>> 0, 0); else cpu.setReg(4, r, v >>> 0, 0);
};

const movToDr: SystemHandler = (cpu, i) => {
  const n = drIndex(cpu, i);
  const r = i.modrm & 7 | (i.rex & 1) << 3;
  const lo = cpu.gpr[2 * r]!;
  if (cpu.mode === CpuMode.Long64 && (n === 6 || n === 7) && cpu.gpr[2 * r + 1] !== 0) gp0();
  // DR6: bits 4-11 and 16-31 read as 1, bit 12 as 0; DR7: bit 10 reads as 1 (§17.2).
  cpu.dr[n] = n === 6 ? ((lo | 0xffff0ff0) & ~0x1000) >>> 0 : n === 7 ? ((lo | 0x400) >>> 0) : lo;
};

// ---- 0F 01 group ----

function readPseudoDescriptor(cpu: SystemCpu, i: Insn): { limit: number; base: number } {
  const lin = cpu.ea(i);
  const limit = cpu.read16(lin);
  if (cpu.mode === CpuMode.Long64) {
    const lo = cpu.read64(lin + 2);
    const base = (cpu.hi | 0) * TWO32 + lo;
    return { limit, base };
  }
  const b = cpu.read32(((lin + 2) >>> 0));
  return { limit, base: i.opSize === 2 ? b & 0xffffff : b };
}

function writePseudoDescriptor(cpu: SystemCpu, i: Insn, limit: number, base: number): void {
  const lin = cpu.ea(i);
  cpu.write16(lin, limit);
  if (cpu.mode === CpuMode.Long64) cpu.write64(lin + 2, base >>> 0, Math.floor(base / TWO32) >>> 0);
  else cpu.write32((lin + 2) >>> 0, base >>> 0);
}

const group0F01: SystemHandler = (cpu, i) => {
  const e = ext(i);
  if (i.mod === 3) {
    switch (i.modrm) {
      case 0xf8: // SWAPGS (64-bit mode only)
        if (cpu.mode !== CpuMode.Long64) ud();
        requireCpl0(cpu);
        { const gs = cpu.seg[Seg.GS]!; const t = gs.base; gs.base = cpu.kernelGsBase; cpu.kernelGsBase = t; }
        return;
      case 0xf9: { // RDTSCP
        if (!(cpu.cpuidConfig ?? defaultCpuidConfig()).features.rdtscp) ud();
        if ((cpu.cr4 & Cr4.TSD) !== 0 && cpu.cpl !== 0) gp0();
        const lo = readTsc(cpu);
        const hi = cpu.hi;
        cpu.setReg(4, Reg.RAX, lo, 0); cpu.setReg(4, Reg.RDX, hi, 0); cpu.setReg(4, Reg.RCX, cpu.tscAux >>> 0, 0);
        return;
      }
      default: break;
    }
    if (e === 4) { smsw(cpu, i); return; }
    if (e === 6) { lmsw(cpu, i); return; }
    // VMX, SVM, MONITOR/MWAIT, CLAC/STAC, XGETBV/XSETBV, RDPKRU...: features not announced.
    ud();
  }
  switch (e) {
    case 0: { // SGDT
      writePseudoDescriptor(cpu, i, cpu.gdtr.limit, cpu.gdtr.base);
      return;
    }
    case 1: writePseudoDescriptor(cpu, i, cpu.idtr.limit, cpu.idtr.base); return; // SIDT
    case 2: { requireCpl0(cpu); const d = readPseudoDescriptor(cpu, i); cpu.gdtr = d; return; } // LGDT
    case 3: { requireCpl0(cpu); const d = readPseudoDescriptor(cpu, i); cpu.idtr = d; return; } // LIDT
    case 4: smsw(cpu, i); return;
    case 6: lmsw(cpu, i); return;
    case 7: requireCpl0(cpu); cpu.invlpg(cpu.ea(i)); return; // INVLPG
    default: ud();
  }
};

function smsw(cpu: SystemCpu, i: Insn): void {
  if (i.mod === 3) {
    if (i.opSize === 8) cpu.setReg64(i.rm, cpu.cr0 >>> 0, 0);
    else cpu.setReg(i.opSize === 4 ? 4 : 2, i.rm, i.opSize === 4 ? cpu.cr0 >>> 0 : cpu.cr0 & 0xffff, i.rex);
  } else {
    cpu.write16(cpu.ea(i), cpu.cr0 & 0xffff);
  }
}

/** LMSW: loads CR0 bits 0-3; PE can be set but not cleared. */
function lmsw(cpu: SystemCpu, i: Insn): void {
  requireCpl0(cpu);
  const v = cpu.readRm(i, 2);
  writeCr0(cpu, ((cpu.cr0 & ~0xf) | (v & 0xf) | (cpu.cr0 & Cr0.PE)) >>> 0, 0);
}

// ---- 0F 00 group, LAR, LSL ----

const group0F00: SystemHandler = (cpu, i) => {
  requireProtected(cpu);
  const e = ext(i);
  switch (e) {
    case 0: case 1: { // SLDT, STR
      const sel = e === 0 ? cpu.ldtr.selector : cpu.tr.selector;
      if (i.mod === 3) {
        if (i.opSize === 8) cpu.setReg64(i.rm, sel, 0); else cpu.setReg(i.opSize === 4 ? 4 : 2, i.rm, sel, i.rex);
      } else cpu.write16(cpu.ea(i), sel);
      return;
    }
    case 2: requireCpl0(cpu); loadLdt(cpu, cpu.readRm(i, 2)); return;
    case 3: requireCpl0(cpu); loadTr(cpu, cpu.readRm(i, 2)); return;
    case 4: case 5: setZF(cpu, verifySegment(cpu, cpu.readRm(i, 2), e === 5)); return;
    default: ud();
  }
};

/** VERR / VERW (SDM Vol. 2 "VERR/VERW"). */
function verifySegment(cpu: SystemCpu, sel: number, write: boolean): boolean {
  if ((sel & 0xfffc) === 0) return false;
  const d = readDescriptor(cpu, sel);
  if (d === undefined) return false;
  const attr = descAttr(d.hi);
  if ((attr & SegAttr.S) === 0) return false;
  const code = (attr & SegAttr.CODE) !== 0;
  if (write ? code || (attr & SegAttr.RW) === 0 : code && (attr & SegAttr.RW) === 0) return false;
  const conforming = code && (attr & SegAttr.DC) !== 0;
  const dpl = dplOf(attr);
  return conforming || (dpl >= cpu.cpl && dpl >= (sel & 3));
}

/** Descriptor checks shared by LAR and LSL; returns the descriptor's high dword or -1. */
function accessibleDescriptor(cpu: SystemCpu, sel: number, lar: boolean): { lo: number; hi: number } | undefined {
  if ((sel & 0xfffc) === 0) return undefined;
  const d = readDescriptor(cpu, sel);
  if (d === undefined) return undefined;
  const attr = descAttr(d.hi);
  if ((attr & SegAttr.S) === 0) {
    const type = attr & 0xf;
    const long = (cpu.efer & Efer.LMA) !== 0;
    const ok = long
      ? type === SysType.LDT || type === SysType.TSS_AVAIL || type === SysType.TSS_BUSY || (lar && type === SysType.CALL_GATE)
      : type === SysType.TSS16_AVAIL || type === SysType.LDT || type === SysType.TSS16_BUSY || type === SysType.TSS_AVAIL ||
        type === SysType.TSS_BUSY || (lar && (type === SysType.CALL_GATE16 || type === SysType.TASK_GATE || type === SysType.CALL_GATE));
    if (!ok) return undefined;
  }
  const conforming = (attr & (SegAttr.S | SegAttr.CODE | SegAttr.DC)) === (SegAttr.S | SegAttr.CODE | SegAttr.DC);
  const dpl = dplOf(attr);
  if (!conforming && (dpl < cpu.cpl || dpl < (sel & 3))) return undefined;
  return d;
}

const lar: SystemHandler = (cpu, i) => {
  requireProtected(cpu);
  const d = accessibleDescriptor(cpu, cpu.readRm(i, 2), true);
  setZF(cpu, d !== undefined);
  if (d === undefined) return;
  const v = i.opSize === 2 ? d.hi & 0xff00 : d.hi & 0x00f0ff00;
  if (i.opSize === 8) cpu.setReg64(i.reg, v >>> 0, 0); else cpu.setReg(i.opSize === 4 ? 4 : 2, i.reg, v >>> 0, i.rex);
};

const lsl: SystemHandler = (cpu, i) => {
  requireProtected(cpu);
  const d = accessibleDescriptor(cpu, cpu.readRm(i, 2), false);
  setZF(cpu, d !== undefined);
  if (d === undefined) return;
  const v = descLimit(d.lo, d.hi);
  if (i.opSize === 8) cpu.setReg64(i.reg, v >>> 0, 0); else cpu.setReg(i.opSize === 4 ? 4 : 2, i.reg, i.opSize === 4 ? v >>> 0 : v & 0xffff, i.rex);
};

// ---- Fast system calls (SDM Vol. 2 "SYSCALL", "SYSRET", "SYSENTER", "SYSEXIT") ----

/** Flat segments loaded by SYSCALL/SYSRET/SYSENTER/SYSEXIT (fixed attributes, not read from the GDT). */
const ATTR_CODE64_DPL0 = 0xa09b; // G, L, P, DPL 0, S, code execute/read accessed
const ATTR_CODE32_DPL0 = 0xc09b;
const ATTR_DATA_DPL0 = 0xc093; // G, B, P, DPL 0, S, data read/write accessed
const ATTR_CODE64_DPL3 = 0xa0fb;
const ATTR_CODE32_DPL3 = 0xc0fb;
const ATTR_DATA_DPL3 = 0xc0f3;

function setFlat(cpu: SystemCpu, seg: Seg, selector: number, attr: number): void {
  const s = cpu.seg[seg]!;
  s.selector = selector & 0xffff; s.base = 0; s.limit = 0xffffffff; s.attr = attr;
}

/** CS and SS as SYSCALL loads them (from IA32_STAR[47:32]). */
function syscallSegments(cpu: SystemCpu): void {
  const csSel = cpu.starHi & 0xffff;
  setFlat(cpu, Seg.CS, csSel & 0xfffc, ATTR_CODE64_DPL0);
  setFlat(cpu, Seg.SS, (csSel + 8) & 0xfffc, ATTR_DATA_DPL0);
}

/** CS and SS as SYSRET loads them (from IA32_STAR[63:48]), to 64-bit code or (not `long`) 32-bit. */
function sysretSegments(cpu: SystemCpu, long: boolean): void {
  const base = cpu.starHi >>> 16;
  if (long) setFlat(cpu, Seg.CS, ((base + 16) & 0xfffc) | 3, ATTR_CODE64_DPL3);
  else setFlat(cpu, Seg.CS, (base & 0xfffc) | 3, ATTR_CODE32_DPL3);
  setFlat(cpu, Seg.SS, ((base + 8) & 0xfffc) | 3, ATTR_DATA_DPL3);
}

/**
 * The segments and mode that SYSCALL (`cpl` 0) or SYSRETQ (`cpl` 3) leave, for the switches wasm
 * code made in a chain (translate.ts fastSystemCall, Cpu.takeWasmSys): the registers and RFLAGS
 * are set already.
 */
export function takeFastSystemCallMode(cpu: SystemCpu, cpl: number): void {
  if (cpl === 0) syscallSegments(cpu); else sysretSegments(cpu, true);
  cpu.updateMode();
}

const syscall: SystemHandler = (cpu) => {
  if ((cpu.efer & Efer.SCE) === 0 || cpu.mode !== CpuMode.Long64) ud();
  const rip = cpu.rip;
  setReg64Num(cpu, Reg.RCX, rip);
  const rflags = cpu.getRflags();
  cpu.setReg64(Reg.R11, (rflags & ~Flag.RF) >>> 0, 0);
  cpu.setRflags(0, (cpu.sfmask | Flag.RF) & 0x3f7fd5);
  syscallSegments(cpu);
  cpu.rip = cpu.lstar;
  cpu.updateMode();
  cpu.linkAcrossMode = true;
};

const sysret: SystemHandler = (cpu, i) => {
  if ((cpu.efer & Efer.SCE) === 0 || cpu.mode !== CpuMode.Long64) ud();
  requireCpl0(cpu);
  let target: number;
  if (i.opSize === 8) {
    target = getReg64Num(cpu, Reg.RCX);
    if (target >= 0x800000000000 || target < -0x800000000000) gp0();
  } else {
    target = cpu.gpr[2 * Reg.RCX]!;
  }
  sysretSegments(cpu, i.opSize === 8);
  cpu.setRflags((cpu.gpr[2 * Reg.R11]! & 0x3c7fd7) | 2, 0x3f7fd7);
  cpu.rip = target;
  cpu.updateMode();
  cpu.linkAcrossMode = true;
};

const sysenter: SystemHandler = (cpu) => {
  if (cpu.mode === CpuMode.Real || (cpu.sysenterCs & 0xfffc) === 0) gp0();
  const long = (cpu.efer & Efer.LMA) !== 0;
  cpu.setRflags(0, Flag.VM | Flag.IF | Flag.RF);
  setFlat(cpu, Seg.CS, cpu.sysenterCs & 0xfffc, long ? ATTR_CODE64_DPL0 : ATTR_CODE32_DPL0);
  setFlat(cpu, Seg.SS, (cpu.sysenterCs + 8) & 0xfffc, ATTR_DATA_DPL0);
  if (long) { setReg64Num(cpu, Reg.RSP, cpu.sysenterEsp); cpu.rip = cpu.sysenterEip; }
  else { cpu.setReg(4, Reg.RSP, cpu.sysenterEsp >>> 0, 0); cpu.rip = cpu.sysenterEip >>> 0; }
  cpu.updateMode();
};

const sysexit: SystemHandler = (cpu, i) => {
  if (cpu.mode === CpuMode.Real || cpu.mode === CpuMode.Virtual8086 || (cpu.sysenterCs & 0xfffc) === 0) gp0();
  requireCpl0(cpu);
  const cs = cpu.sysenterCs;
  if (i.opSize === 8) {
    setFlat(cpu, Seg.CS, ((cs + 32) & 0xfffc) | 3, ATTR_CODE64_DPL3);
    setFlat(cpu, Seg.SS, ((cs + 40) & 0xfffc) | 3, ATTR_DATA_DPL3);
    setReg64Num(cpu, Reg.RSP, getReg64Num(cpu, Reg.RCX));
    cpu.rip = getReg64Num(cpu, Reg.RDX);
  } else {
    setFlat(cpu, Seg.CS, ((cs + 16) & 0xfffc) | 3, ATTR_CODE32_DPL3);
    setFlat(cpu, Seg.SS, ((cs + 24) & 0xfffc) | 3, ATTR_DATA_DPL3);
    cpu.setReg(4, Reg.RSP, cpu.gpr[2 * Reg.RCX]!, 0);
    cpu.rip = cpu.gpr[2 * Reg.RDX]!;
  }
  cpu.updateMode();
};

// ---- MSRs, TSC, CPUID ----

const rdmsr: SystemHandler = (cpu) => {
  requireCpl0(cpu);
  const v = readMsr(cpu, cpu.gpr[2 * Reg.RCX]!);
  cpu.setReg(4, Reg.RAX, Number(v & 0xffffffffn), 0);
  cpu.setReg(4, Reg.RDX, Number(v >> 32n), 0);
};

const wrmsr: SystemHandler = (cpu) => {
  requireCpl0(cpu);
  const v = (BigInt(cpu.gpr[2 * Reg.RDX]!) << 32n) | BigInt(cpu.gpr[2 * Reg.RAX]!);
  writeMsr(cpu, cpu.gpr[2 * Reg.RCX]!, v);
};

const rdtsc: SystemHandler = (cpu) => {
  if ((cpu.cr4 & Cr4.TSD) !== 0 && cpu.cpl !== 0) gp0();
  const lo = readTsc(cpu);
  const hi = cpu.hi;
  cpu.setReg(4, Reg.RAX, lo, 0);
  cpu.setReg(4, Reg.RDX, hi, 0);
};

const cpuidOp: SystemHandler = (cpu) => {
  const config = cpu.cpuidConfig ?? defaultCpuidConfig(1, cpu.clock.tscHz);
  const r = cpuid(cpu, cpu.gpr[2 * Reg.RAX]!, cpu.gpr[2 * Reg.RCX]!, config);
  cpu.setReg(4, Reg.RAX, r.eax, 0);
  cpu.setReg(4, Reg.RBX, r.ebx, 0);
  cpu.setReg(4, Reg.RCX, r.ecx, 0);
  cpu.setReg(4, Reg.RDX, r.edx, 0);
};

// ---- Interrupts, HLT, CLI/STI ----

const int3: SystemHandler = (cpu) => { deliverEvent(cpu, Vector.BP, -1, DeliveryKind.Software); };

const intN: SystemHandler = (cpu, i) => {
  if (cpu.mode === CpuMode.Virtual8086 && (cpu.flagsRest & Flag.IOPL) !== Flag.IOPL) gp0();
  deliverEvent(cpu, i.imm & 0xff, -1, DeliveryKind.Software);
};

const into: SystemHandler = (cpu) => {
  if (cpu.mode === CpuMode.Long64) ud();
  if ((cpu.getRflags() & Flag.OF) !== 0) deliverEvent(cpu, Vector.OF, -1, DeliveryKind.Software);
};

/** F1: INT1 / ICEBP, a #DB without the gate DPL check. */
const int1: SystemHandler = (cpu) => { deliverEvent(cpu, Vector.DB, -1, DeliveryKind.External); };

const iretOp: SystemHandler = (cpu, i) => { iret(cpu, i.opSize === 1 ? 4 : i.opSize); };

const hlt: SystemHandler = (cpu) => {
  requireCpl0(cpu);
  cpu.halted = true;
};

/** IF may change when CPL <= IOPL (SDM Vol. 2 "CLI", "STI"; VME/PVI virtual flags not supported). */
function checkIopl(cpu: SystemCpu): void {
  if (cpu.mode === CpuMode.Real) return;
  const iopl = (cpu.flagsRest & Flag.IOPL) >>> 12;
  if (cpu.cpl > iopl) gp0();
}

const cli: SystemHandler = (cpu) => { checkIopl(cpu); cpu.setRflags(0, Flag.IF); };

const sti: SystemHandler = (cpu) => {
  checkIopl(cpu);
  // Interrupts stay blocked for one more instruction when STI sets IF (§6.8.3).
  if ((cpu.flagsRest & Flag.IF) === 0) { cpu.setRflags(Flag.IF, Flag.IF); cpu.interruptShadow = true; }
};

const clts: SystemHandler = (cpu) => { requireCpl0(cpu); cpu.cr0 &= ~Cr0.TS; };
const wbinvd: SystemHandler = (cpu) => { requireCpl0(cpu); };
const rdpmc: SystemHandler = () => { gp0(); };

export function registerSystemOps(t: OpTable): void {
  setSystemOp(t, OpMap.M0F, 0x00, group0F00);
  setSystemOp(t, OpMap.M0F, 0x01, group0F01);
  setSystemOp(t, OpMap.M0F, 0x02, lar);
  setSystemOp(t, OpMap.M0F, 0x03, lsl);
  setSystemOp(t, OpMap.M0F, 0x05, syscall);
  setSystemOp(t, OpMap.M0F, 0x06, clts);
  setSystemOp(t, OpMap.M0F, 0x07, sysret);
  setSystemOp(t, OpMap.M0F, 0x08, wbinvd); // INVD: caches are not modelled
  setSystemOp(t, OpMap.M0F, 0x09, wbinvd);
  setSystemOp(t, OpMap.M0F, 0x20, movFromCr);
  setSystemOp(t, OpMap.M0F, 0x21, movFromDr);
  setSystemOp(t, OpMap.M0F, 0x22, movToCr);
  setSystemOp(t, OpMap.M0F, 0x23, movToDr);
  setSystemOp(t, OpMap.M0F, 0x30, wrmsr);
  setSystemOp(t, OpMap.M0F, 0x31, rdtsc);
  setSystemOp(t, OpMap.M0F, 0x32, rdmsr);
  setSystemOp(t, OpMap.M0F, 0x33, rdpmc);
  setSystemOp(t, OpMap.M0F, 0x34, sysenter);
  setSystemOp(t, OpMap.M0F, 0x35, sysexit);
  setSystemOp(t, OpMap.M0F, 0xa2, cpuidOp);
  setSystemOp(t, OpMap.Primary, 0xcc, int3);
  setSystemOp(t, OpMap.Primary, 0xcd, intN);
  setSystemOp(t, OpMap.Primary, 0xce, into);
  setSystemOp(t, OpMap.Primary, 0xcf, iretOp);
  setSystemOp(t, OpMap.Primary, 0xf1, int1);
  setSystemOp(t, OpMap.Primary, 0xf4, hlt);
  setSystemOp(t, OpMap.Primary, 0xfa, cli);
  setSystemOp(t, OpMap.Primary, 0xfb, sti);
  registerSegmentOps(t);
  registerIoOps(t);
}

/** For tests and tools: the handlers by name. */
export const systemHandlers = { movFromCr, movToCr, group0F01, group0F00, syscall, sysret, rdmsr, wrmsr, rdtsc, cpuidOp, iretOp, int3, intN, hlt, cli, sti };

export type { Cpu };
