// The CPUID table one KVM vCPU sees: what KVM_GET_SUPPORTED_CPUID offers, with this vCPU's APIC
// ID and a simple topology (one package, `cpuCount` cores, one thread per core) written into the
// leaves that describe it (SDM Vol. 2A, CPUID; Vol. 3A §8.9 "Programming considerations for
// hardware multi-threading"). The vCPU index is its APIC ID, as the MADT says.

import { KVM_CPUID_FLAG_SIGNIFCANT_INDEX, type KvmCpuidEntry } from './structs.js';

const CPUID_1_ECX_HYPERVISOR = 1 << 31;
const CPUID_1_EDX_HTT = 1 << 28;
/** Leaf 0xB/0x1F level types (ECX[15:8]). */
const LEVEL_SMT = 1;
const LEVEL_CORE = 2;

/** Bits needed to number `n` things (x2APIC ID shift width). */
export function idBits(n: number): number {
  return n <= 1 ? 0 : 32 - Math.clz32(n - 1);
}

function topologyLeaf(fn: number, apicId: number, cpuCount: number): KvmCpuidEntry[] {
  const flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
  return [
    // SMT level: one thread per core, so the next level starts at shift 0.
    { function: fn, index: 0, flags, eax: 0, ebx: 1, ecx: (LEVEL_SMT << 8) | 0, edx: apicId },
    { function: fn, index: 1, flags, eax: idBits(cpuCount), ebx: cpuCount, ecx: (LEVEL_CORE << 8) | 1, edx: apicId },
    // Level type 0: no more levels.
    { function: fn, index: 2, flags, eax: 0, ebx: 0, ecx: 2, edx: apicId },
  ];
}

export function vcpuCpuid(supported: readonly KvmCpuidEntry[], apicId: number, cpuCount: number): KvmCpuidEntry[] {
  const out: KvmCpuidEntry[] = [];
  const has = (fn: number): boolean => supported.some((e) => e.function === fn);
  for (const e0 of supported) {
    const e = { ...e0 };
    switch (e.function) {
      case 0x1:
        // EBX[31:24] initial APIC ID, EBX[23:16] addressable logical processor IDs in the package.
        e.ebx = ((e.ebx & 0xffff) | ((Math.min(cpuCount, 255) & 0xff) << 16) | ((apicId & 0xff) << 24)) >>> 0;
        e.ecx = (e.ecx | CPUID_1_ECX_HYPERVISOR) >>> 0;
        e.edx = cpuCount > 1 ? (e.edx | CPUID_1_EDX_HTT) >>> 0 : (e.edx & ~CPUID_1_EDX_HTT) >>> 0;
        break;
      case 0x4:
        // EAX[31:26] cores per package - 1; EAX[25:14] threads sharing this cache - 1 (private
        // caches for L1/L2, the package for L3 and beyond).
        if ((e.eax & 0x1f) !== 0) {
          const level = (e.eax >> 5) & 7;
          const sharing = level >= 3 ? cpuCount - 1 : 0;
          e.eax = ((e.eax & 0x3fff) | (sharing << 14) | ((cpuCount - 1) << 26)) >>> 0;
        }
        break;
      case 0xb:
      case 0x1f:
        continue; // rewritten below
      case 0x80000008:
        // AMD: ECX[7:0] cores - 1, ECX[15:12] APIC ID bits for the core.
        e.ecx = ((e.ecx & ~0xf0ff) | ((cpuCount - 1) & 0xff) | (idBits(cpuCount) << 12)) >>> 0;
        break;
      default:
        break;
    }
    out.push(e);
  }
  if (has(0xb)) out.push(...topologyLeaf(0xb, apicId, cpuCount));
  if (has(0x1f)) out.push(...topologyLeaf(0x1f, apicId, cpuCount));
  return out;
}

// MSRs every vCPU starts with (SDM Vol. 4): fast strings on, as firmware leaves it, and no TSC
// deadline armed.
export const MSR_IA32_MISC_ENABLE = 0x1a0;
export const MSR_IA32_MISC_ENABLE_FAST_STRING = 1n;
export const MSR_IA32_TSC_DEADLINE = 0x6e0;
export const INITIAL_MSRS: readonly { index: number; data: bigint }[] = [
  { index: MSR_IA32_MISC_ENABLE, data: MSR_IA32_MISC_ENABLE_FAST_STRING },
  { index: MSR_IA32_TSC_DEADLINE, data: 0n },
];
