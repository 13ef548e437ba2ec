// CPUID for the soft CPU (SDM Vol. 2 "CPUID"): a plain GenuineIntel family-6 x86-64 processor
// with exactly the features the engine implements, so Linux takes its common paths.
//
// The feature set is one typed config (CpuidConfig) so that announcing more later is one line.

import type { CpuState } from './state.js';

export interface CpuidFeatures {
  /** Leaf 1 EDX: MTRR (bit 12). MSRs report default type WB with the PCI hole UC (msr.ts). */
  mtrr: boolean;
  /** Leaf 1 ECX bit 24: the local APIC's TSC-deadline timer mode. */
  tscDeadline: boolean;
  /** Leaf 7 EBX bit 9: enhanced REP MOVSB/STOSB (a hint: Linux then copies with REP MOVSB). */
  erms: boolean;
  /** Leaf 0x80000001 EDX bit 27. */
  rdtscp: boolean;
  /**
   * Leaf 7 EDX bit 29 with IA32_ARCH_CAPABILITIES reporting the CPU not affected by Meltdown,
   * MDS, TAA, SSB...: otherwise Linux turns on page-table isolation (a CR3 reload on every kernel
   * entry) and buffer-clearing VERWs, which only cost time on a soft CPU.
   */
  archCapabilities: boolean;
  /**
   * Leaf 1 EDX bit 23: MMX (implemented in sse/mmx.ts and checked against the host). glibc counts
   * a CPU as x86-64 baseline only with MMX, and refuses binaries marked for that level without it.
   */
  mmx: boolean;
  /**
   * Leaf 1 ECX bit 13: CMPXCHG16B (ops-mov.ts, checked against the host). Without it Linux's
   * SLUB takes this_cpu_cmpxchg16b_emu (PUSHF, CLI, compare, POPF) on every allocation and free
   * of its lockless fast path: 69 K calls per boot, each leaving the wasm tier twice.
   */
  cx16: boolean;
}

export interface CpuidConfig {
  /** Number of vCPUs (topology leaves; APIC ID = cpuIndex). */
  cpuCount: number;
  /** TSC frequency reported through leaf 0x15 (with apicTimerHz) and 0x16. */
  tscHz: number;
  /**
   * Core crystal clock (leaf 0x15 ECX), which Linux also takes as the local APIC timer
   * frequency; 0 leaves leaf 0x15 empty (Linux then calibrates against the PIT).
   */
  apicTimerHz: number;
  features: CpuidFeatures;
}

export const DEFAULT_CPUID_FEATURES: CpuidFeatures = {
  mtrr: true, tscDeadline: true, erms: true, rdtscp: true, archCapabilities: true, mmx: true, cx16: true,
};

/** The default identity; tscHz should be the GuestClock's (bus.ts), which RDTSC counts at. */
export function defaultCpuidConfig(cpuCount = 1, tscHz = 1_000_000_000): CpuidConfig {
  return { cpuCount, tscHz, apicTimerHz: 0, features: { ...DEFAULT_CPUID_FEATURES } };
}

/** Family 6, model 0x2a (extended model 2, model 0xa), stepping 7. */
export const CPUID_SIGNATURE = 0x000206a7;
export const CPUID_BRAND = 'tshv soft CPU';
const HYPERVISOR_VENDOR = 'TSHVTSHVTSHV';
const MAX_BASIC_LEAF = 0x16;
const MAX_EXT_LEAF = 0x80000008;

// Leaf 1 EDX (SDM Vol. 2 Table 3-11).
const EDX1_FPU = 1 << 0, EDX1_DE = 1 << 2, EDX1_PSE = 1 << 3, EDX1_TSC = 1 << 4, EDX1_MSR = 1 << 5, EDX1_PAE = 1 << 6;
const EDX1_CX8 = 1 << 8, EDX1_APIC = 1 << 9, EDX1_SEP = 1 << 11, EDX1_MTRR = 1 << 12, EDX1_PGE = 1 << 13;
const EDX1_CMOV = 1 << 15, EDX1_PAT = 1 << 16, EDX1_CLFSH = 1 << 19, EDX1_FXSR = 1 << 24;
const EDX1_MMX = 1 << 23, EDX1_SSE = 1 << 25, EDX1_SSE2 = 1 << 26, EDX1_HTT = 1 << 28;
// Leaf 1 ECX (Table 3-10).
const ECX1_CX16 = 1 << 13, ECX1_TSC_DEADLINE = 1 << 24, ECX1_HYPERVISOR = 1 << 31;
// Leaf 7 (Table 3-8).
const EBX7_ERMS = 1 << 9;
const EDX7_ARCH_CAPABILITIES = 1 << 29;
// Leaf 6 EAX bit 2: APIC timer always running (no stop in deep C-states).
const EAX6_ARAT = 1 << 2;
// Leaf 0x80000001.
const ECX81_LAHF_LM = 1 << 0;
const EDX81_SYSCALL = 1 << 11, EDX81_NX = 1 << 20, EDX81_RDTSCP = 1 << 27, EDX81_LM = 1 << 29;
// Leaf 0x80000007 EDX bit 8: invariant TSC.
const EDX87_INVARIANT_TSC = 1 << 8;

export interface CpuidResult { eax: number; ebx: number; ecx: number; edx: number }

function str4(s: string, at: number): number {
  let v = 0;
  for (let k = 0; k < 4; k++) v |= (s.charCodeAt(at + k) || 0) << (8 * k);
  return v >>> 0;
}

function gcd(a: number, b: number): number {
  while (b !== 0) { const t = a % b; a = b; b = t; }
  return a;
}

/** CPUID leaf `leaf`, subleaf `subleaf`, for the vCPU `state.cpuIndex`. */
export function cpuid(state: CpuState, leaf: number, subleaf: number, config: CpuidConfig): CpuidResult {
  const f = config.features;
  const apicId = state.cpuIndex;
  const r: CpuidResult = { eax: 0, ebx: 0, ecx: 0, edx: 0 };
  leaf >>>= 0;
  // Intel: a leaf above the highest basic or extended leaf returns the highest basic leaf.
  if ((leaf > MAX_BASIC_LEAF && leaf < 0x40000000) || leaf > MAX_EXT_LEAF) leaf = MAX_BASIC_LEAF;
  switch (leaf) {
    case 0:
      r.eax = MAX_BASIC_LEAF; r.ebx = str4('GenuineIntel', 0); r.edx = str4('GenuineIntel', 4); r.ecx = str4('GenuineIntel', 8);
      break;
    case 1: {
      const logical = Math.min(255, 1 << Math.ceil(Math.log2(Math.max(1, config.cpuCount))));
      r.eax = CPUID_SIGNATURE;
      // EBX: APIC ID, logical processor count (HTT), CLFLUSH line size in 8-byte units.
      r.ebx = ((apicId & 0xff) << 24) | (logical << 16) | (8 << 8);
      r.ebx >>>= 0;
      r.ecx = ECX1_HYPERVISOR | (f.tscDeadline ? ECX1_TSC_DEADLINE : 0) | (f.cx16 ? ECX1_CX16 : 0);
      r.edx = EDX1_FPU | EDX1_DE | EDX1_PSE | EDX1_TSC | EDX1_MSR | EDX1_PAE | EDX1_CX8 | EDX1_APIC | EDX1_SEP |
        (f.mtrr ? EDX1_MTRR : 0) | EDX1_PGE | EDX1_CMOV | EDX1_PAT | EDX1_CLFSH | EDX1_FXSR | EDX1_SSE | EDX1_SSE2 |
        (f.mmx ? EDX1_MMX : 0) |
        (config.cpuCount > 1 ? EDX1_HTT : 0);
      r.ecx >>>= 0; r.edx >>>= 0;
      break;
    }
    case 6:
      r.eax = EAX6_ARAT;
      break;
    case 7:
      if (subleaf === 0) {
        r.ebx = f.erms ? EBX7_ERMS : 0;
        r.edx = f.archCapabilities ? EDX7_ARCH_CAPABILITIES : 0;
      }
      break;
    case 0xb: {
      // Extended topology (SDM Vol. 3A §8.9.1): one thread per core, cpuCount cores per package.
      const coreBits = Math.ceil(Math.log2(Math.max(1, config.cpuCount)));
      r.edx = apicId;
      if (subleaf === 0) { r.eax = 0; r.ebx = 1; r.ecx = (1 << 8) | 0; }
      else if (subleaf === 1) { r.eax = coreBits; r.ebx = config.cpuCount; r.ecx = (2 << 8) | 1; }
      else r.ecx = subleaf & 0xff;
      break;
    }
    case 0x15:
      // TSC / crystal ratio (EBX/EAX) and crystal frequency (ECX).
      if (config.apicTimerHz > 0 && config.tscHz > 0) {
        const g = gcd(config.tscHz, config.apicTimerHz);
        r.eax = config.apicTimerHz / g; r.ebx = config.tscHz / g; r.ecx = config.apicTimerHz;
        if (r.eax > 0xffffffff || r.ebx > 0xffffffff) { r.eax = 0; r.ebx = 0; r.ecx = 0; }
      }
      break;
    case 0x16:
      r.eax = Math.round(config.tscHz / 1e6) & 0xffff; r.ebx = r.eax; r.ecx = 100;
      break;
    case 0x40000000:
      r.eax = 0x40000001; r.ebx = str4(HYPERVISOR_VENDOR, 0); r.ecx = str4(HYPERVISOR_VENDOR, 4); r.edx = str4(HYPERVISOR_VENDOR, 8);
      break;
    case 0x80000000:
      r.eax = MAX_EXT_LEAF;
      break;
    case 0x80000001:
      r.ecx = ECX81_LAHF_LM;
      r.edx = (EDX81_SYSCALL | EDX81_NX | EDX81_LM | (f.rdtscp ? EDX81_RDTSCP : 0)) >>> 0;
      break;
    case 0x80000002: case 0x80000003: case 0x80000004: {
      const base = (leaf - 0x80000002) * 16;
      r.eax = str4(CPUID_BRAND, base); r.ebx = str4(CPUID_BRAND, base + 4);
      r.ecx = str4(CPUID_BRAND, base + 8); r.edx = str4(CPUID_BRAND, base + 12);
      break;
    }
    case 0x80000007:
      r.edx = EDX87_INVARIANT_TSC;
      break;
    case 0x80000008:
      r.eax = 0x3028; // 48 linear bits, 40 physical bits (MAXPHYADDR, mmu.ts)
      break;
    default:
      break;
  }
  return r;
}
