// Model-specific registers (SDM Vol. 4 ch. 2) that Linux 6.1 touches on this CPU model. Unknown
// MSRs raise #GP(0): Linux probes optional ones with rdmsr_safe/wrmsr_safe.
//
// Values are bigint (RDMSR/WRMSR are rare); RDTSC has its own number-only path (readTsc).

import { Vector } from './fault.js';
import { raiseFault } from './mmu.js';
import { Cr0, Efer, Seg } from './state.js';
import type { SystemCpu } from './segments.js';
import { defaultCpuidConfig } from './cpuid.js';

/** MSR indices (SDM Vol. 4 Table 2-2 names). */
export const enum Msr {
  IA32_TSC = 0x10,
  IA32_PLATFORM_ID = 0x17,
  IA32_APIC_BASE = 0x1b,
  IA32_FEATURE_CONTROL = 0x3a,
  IA32_BIOS_SIGN_ID = 0x8b,
  IA32_MTRRCAP = 0xfe,
  IA32_ARCH_CAPABILITIES = 0x10a,
  IA32_SYSENTER_CS = 0x174,
  IA32_SYSENTER_ESP = 0x175,
  IA32_SYSENTER_EIP = 0x176,
  IA32_MCG_CAP = 0x179,
  IA32_MCG_STATUS = 0x17a,
  IA32_MISC_ENABLE = 0x1a0,
  IA32_MTRR_PHYSBASE0 = 0x200,
  IA32_MTRR_FIX64K_00000 = 0x250,
  IA32_MTRR_FIX16K_80000 = 0x258,
  IA32_MTRR_FIX16K_A0000 = 0x259,
  IA32_MTRR_FIX4K_C0000 = 0x268,
  IA32_MTRR_FIX4K_F8000 = 0x26f,
  IA32_PAT = 0x277,
  IA32_MTRR_DEF_TYPE = 0x2ff,
  IA32_TSC_DEADLINE = 0x6e0,
  X2APIC_FIRST = 0x800,
  X2APIC_LAST = 0x8ff,
  IA32_EFER = 0xc0000080,
  IA32_STAR = 0xc0000081,
  IA32_LSTAR = 0xc0000082,
  IA32_CSTAR = 0xc0000083,
  IA32_FMASK = 0xc0000084,
  IA32_FS_BASE = 0xc0000100,
  IA32_GS_BASE = 0xc0000101,
  IA32_KERNEL_GS_BASE = 0xc0000102,
  IA32_TSC_AUX = 0xc0000103,
}

/** Variable-range MTRR pairs announced in IA32_MTRRCAP.VCNT. */
export const MTRR_VARIABLE_COUNT = 8;
/** MTRRCAP: VCNT = 8, FIX = 1 (bit 8), WC = 1 (bit 10) (SDM Vol. 3A §11.11.1). */
const MTRRCAP_VALUE = BigInt(MTRR_VARIABLE_COUNT) | 0x100n | 0x400n;
/** Default memory type WB (6), MTRRs enabled (E, bit 11), fixed ranges off (§11.11.2.1). */
const MTRR_DEF_TYPE_RESET = 0x806n;
/** Variable range 0: the 32-bit PCI hole 3 GiB..4 GiB uncacheable (type 0), as firmware sets it. */
const MTRR_PHYSBASE0_RESET = 0xc0000000n;
const MTRR_PHYSMASK0_RESET = 0xffc0000000n | 0x800n;
/** Microcode revision reported in the high half of IA32_BIOS_SIGN_ID. */
const MICROCODE_REVISION = 0x1n;
/**
 * IA32_ARCH_CAPABILITIES (SDM Vol. 4 Table 2-2): RDCL_NO (0), SKIP_L1DFL_VMENTRY (3), SSB_NO (4),
 * MDS_NO (5), IF_PSCHANGE_MC_NO (6), TAA_NO (8), SBDR_SSDP_NO (13), FBSDP_NO (14), PSDP_NO (15),
 * BHI_NO (20), PBRSB_NO (24), GDS_NO (26), RFDS_NO (27), ITS_NO (62; Linux assumes a guest of a
 * hypervisor that does not report it is affected, and patches in aligned thunks).
 */
export const ARCH_CAPABILITIES_VALUE = (1n << 0n) | (1n << 3n) | (1n << 4n) | (1n << 5n) | (1n << 6n) | (1n << 8n) |
  (1n << 13n) | (1n << 14n) | (1n << 15n) | (1n << 20n) | (1n << 24n) | (1n << 26n) | (1n << 27n) | (1n << 62n);

const TWO32 = 4294967296;

function gp0(): never { raiseFault(Vector.GP, 0); }

/** A 64-bit MSR value as a canonical linear address (state.ts number form); #GP if not canonical. */
function canonicalOf(v: bigint): number {
  const n = Number(BigInt.asIntN(64, v));
  if (n >= 0x800000000000 || n < -0x800000000000) gp0();
  return n;
}

function u64(n: number): bigint {
  return BigInt.asUintN(64, BigInt(n));
}

/** Clock ticks at clock.tscHz since the clock's start (the TSC before its offset). */
function tscTicks(cpu: Pick<SystemCpu, 'clock'>): number {
  return Math.floor(cpu.clock.nowNs() * (cpu.clock.tscHz / 1e9));
}

/** TSC value: clock ticks at clock.tscHz plus the offset set by IA32_TSC writes. */
export function tscValue(cpu: SystemCpu): bigint {
  return BigInt.asUintN(64, BigInt(tscTicks(cpu)) + cpu.tscOffset);
}

/** The TSC as a number: exact when within [0, 2^53) (readTsc, and the wasm tier's copy in cpu.ts). */
export function tscNumber(cpu: Pick<SystemCpu, 'clock' | 'tscOffsetNumber'>): number {
  return tscTicks(cpu) + cpu.tscOffsetNumber;
}

/** RDTSC without bigint on the common path: returns the low 32 bits, high 32 bits in cpu.hi. */
export function readTsc(cpu: SystemCpu): number {
  const total = tscNumber(cpu);
  if (total >= 0 && total < 2 ** 53) {
    cpu.hi = Math.floor(total / TWO32) >>> 0;
    return total >>> 0;
  }
  const v = tscValue(cpu);
  cpu.hi = Number(v >> 32n);
  return Number(v & 0xffffffffn);
}

function mtrrDefault(index: number): bigint {
  if (index === Msr.IA32_MTRR_DEF_TYPE) return MTRR_DEF_TYPE_RESET;
  if (index === Msr.IA32_MTRR_PHYSBASE0) return MTRR_PHYSBASE0_RESET;
  if (index === Msr.IA32_MTRR_PHYSBASE0 + 1) return MTRR_PHYSMASK0_RESET;
  return 0n;
}

function isMtrr(index: number): boolean {
  return (index >= Msr.IA32_MTRR_PHYSBASE0 && index < Msr.IA32_MTRR_PHYSBASE0 + 2 * MTRR_VARIABLE_COUNT) ||
    index === Msr.IA32_MTRR_FIX64K_00000 || index === Msr.IA32_MTRR_FIX16K_80000 || index === Msr.IA32_MTRR_FIX16K_A0000 ||
    (index >= Msr.IA32_MTRR_FIX4K_C0000 && index <= Msr.IA32_MTRR_FIX4K_F8000) || index === Msr.IA32_MTRR_DEF_TYPE;
}

/** RDMSR; throws CpuFault #GP(0) for MSRs this CPU does not have. */
export function readMsr(cpu: SystemCpu, index: number): bigint {
  index >>>= 0;
  const features = (cpu.cpuidConfig ?? defaultCpuidConfig()).features;
  switch (index) {
    case Msr.IA32_TSC: return tscValue(cpu);
    case Msr.IA32_PLATFORM_ID: return 0n;
    case Msr.IA32_APIC_BASE: return cpu.irq.readMsr?.(index) ?? cpu.apicBase;
    case Msr.IA32_FEATURE_CONTROL: return 1n; // locked, VMX off
    case Msr.IA32_BIOS_SIGN_ID: return MICROCODE_REVISION << 32n;
    case Msr.IA32_MTRRCAP: if (!features.mtrr) gp0(); return MTRRCAP_VALUE;
    case Msr.IA32_ARCH_CAPABILITIES: if (!features.archCapabilities) gp0(); return ARCH_CAPABILITIES_VALUE;
    case Msr.IA32_SYSENTER_CS: return BigInt(cpu.sysenterCs);
    case Msr.IA32_SYSENTER_ESP: return u64(cpu.sysenterEsp);
    case Msr.IA32_SYSENTER_EIP: return u64(cpu.sysenterEip);
    case Msr.IA32_MCG_CAP: return 0n;
    case Msr.IA32_MCG_STATUS: return 0n;
    case Msr.IA32_MISC_ENABLE: return cpu.miscEnable;
    case Msr.IA32_PAT: return cpu.pat;
    case Msr.IA32_EFER: return BigInt(cpu.efer);
    case Msr.IA32_STAR: return cpu.star;
    case Msr.IA32_LSTAR: return u64(cpu.lstar);
    case Msr.IA32_CSTAR: return u64(cpu.cstar);
    case Msr.IA32_FMASK: return BigInt(cpu.sfmask >>> 0);
    case Msr.IA32_FS_BASE: return u64(cpu.seg[Seg.FS]!.base);
    case Msr.IA32_GS_BASE: return u64(cpu.seg[Seg.GS]!.base);
    case Msr.IA32_KERNEL_GS_BASE: return u64(cpu.kernelGsBase);
    case Msr.IA32_TSC_AUX: return BigInt(cpu.tscAux >>> 0);
    default: break;
  }
  if (isMtrr(index)) {
    if (!features.mtrr) gp0();
    return cpu.otherMsrs.get(index) ?? mtrrDefault(index);
  }
  if (index === Msr.IA32_TSC_DEADLINE || (index >= Msr.X2APIC_FIRST && index <= Msr.X2APIC_LAST)) {
    const v = cpu.irq.readMsr?.(index);
    if (v === undefined) gp0();
    return v;
  }
  gp0();
}

/** WRMSR; throws CpuFault #GP(0) for unknown MSRs and invalid values. */
export function writeMsr(cpu: SystemCpu, index: number, value: bigint): void {
  index >>>= 0;
  value = BigInt.asUintN(64, value);
  const features = (cpu.cpuidConfig ?? defaultCpuidConfig()).features;
  switch (index) {
    case Msr.IA32_TSC:
      cpu.tscOffset = value - BigInt(Math.floor(cpu.clock.nowNs() * (cpu.clock.tscHz / 1e9)));
      return;
    case Msr.IA32_APIC_BASE:
      cpu.irq.writeMsr?.(index, value);
      cpu.apicBase = value;
      return;
    case Msr.IA32_BIOS_SIGN_ID: return; // microcode update trigger: ignored
    case Msr.IA32_SYSENTER_CS: cpu.sysenterCs = Number(value & 0xffffn); return;
    case Msr.IA32_SYSENTER_ESP: cpu.sysenterEsp = canonicalOf(value); return;
    case Msr.IA32_SYSENTER_EIP: cpu.sysenterEip = canonicalOf(value); return;
    case Msr.IA32_MCG_STATUS: if (value !== 0n) gp0(); return;
    case Msr.IA32_MISC_ENABLE: cpu.miscEnable = value; return;
    case Msr.IA32_PAT: {
      // Each of the 8 entries must be a valid memory type: 0, 1, 4, 5, 6, 7 (§11.12.2).
      for (let k = 0n; k < 64n; k += 8n) {
        const t = Number((value >> k) & 0xffn);
        if (t === 2 || t === 3 || t > 7) gp0();
      }
      cpu.pat = value;
      return;
    }
    case Msr.IA32_EFER: writeEfer(cpu, value); return;
    case Msr.IA32_STAR: cpu.star = value; return;
    case Msr.IA32_LSTAR: cpu.lstar = canonicalOf(value); return;
    case Msr.IA32_CSTAR: cpu.cstar = canonicalOf(value); return;
    case Msr.IA32_FMASK: cpu.sfmask = Number(value & 0xffffffffn); return;
    case Msr.IA32_FS_BASE: cpu.seg[Seg.FS]!.base = canonicalOf(value); return;
    case Msr.IA32_GS_BASE: cpu.seg[Seg.GS]!.base = canonicalOf(value); return;
    case Msr.IA32_KERNEL_GS_BASE: cpu.kernelGsBase = canonicalOf(value); return;
    case Msr.IA32_TSC_AUX: if (value >> 32n !== 0n) gp0(); cpu.tscAux = Number(value); return;
    default: break;
  }
  if (isMtrr(index)) {
    if (!features.mtrr) gp0();
    cpu.otherMsrs.set(index, value);
    return;
  }
  if (index === Msr.IA32_TSC_DEADLINE || (index >= Msr.X2APIC_FIRST && index <= Msr.X2APIC_LAST)) {
    if (cpu.irq.writeMsr?.(index, value) !== true) gp0();
    if (index === Msr.IA32_TSC_DEADLINE) cpu.tscDeadline = value;
    return;
  }
  gp0();
}

/**
 * EFER (SDM Vol. 3A §2.2.1, §9.8.5): SCE, LME, NXE are writable; LMA is read-only (it follows
 * CR0.PG with LME); changing LME while paging is on raises #GP(0).
 */
export function writeEfer(cpu: SystemCpu, value: bigint): void {
  const writable = Efer.SCE | Efer.LME | Efer.NXE;
  if ((value & ~BigInt(writable | Efer.LMA)) !== 0n) gp0();
  const v = Number(value);
  if ((cpu.cr0 & Cr0.PG) !== 0 && ((v ^ cpu.efer) & Efer.LME) !== 0) gp0();
  const next = (v & writable) | (cpu.efer & Efer.LMA);
  const changed = next ^ cpu.efer;
  cpu.efer = next;
  if ((changed & Efer.NXE) !== 0) cpu.flushTlb(true);
}
