import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuState } from './state.js';
import { CPUID_BRAND, cpuid, defaultCpuidConfig } from './cpuid.js';

function regsString(...vals: number[]): string {
  return vals.map((v) => String.fromCharCode(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24)).join('');
}

const cfg = defaultCpuidConfig(4);
const s = new CpuState(2);

void test('cpuid: leaf 0 vendor and max leaf; hypervisor leaf', () => {
  const r = cpuid(s, 0, 0, cfg);
  assert.equal(regsString(r.ebx, r.edx, r.ecx), 'GenuineIntel');
  assert.ok(r.eax >= 0xb);
  const h = cpuid(s, 0x40000000, 0, cfg);
  assert.equal(regsString(h.ebx, h.ecx, h.edx), 'TSHVTSHVTSHV');
});

void test('cpuid: leaf 1 signature, APIC ID, features present and absent', () => {
  const r = cpuid(s, 1, 0, cfg);
  assert.equal((r.eax >>> 8) & 0xf, 6, 'family 6');
  assert.equal(r.ebx >>> 24, 2, 'initial APIC ID = cpuIndex');
  assert.equal((r.ebx >>> 8) & 0xff, 8, 'CLFLUSH line 64 bytes');
  for (const bit of [0, 4, 5, 6, 8, 9, 11, 13, 15, 16, 19, 24, 25, 26]) assert.ok((r.edx >>> bit) & 1, `EDX bit ${bit}`);
  assert.equal((r.ecx >>> 31) & 1, 1, 'hypervisor');
  assert.equal((r.ecx >>> 24) & 1, 1, 'TSC deadline');
  assert.equal((r.ecx >>> 13) & 1, 1, 'CMPXCHG16B');
  // No SSE3 (0), SSSE3 (9), SSE4.1/4.2 (19/20), x2APIC (21), POPCNT (23), XSAVE (26), AVX (28).
  for (const bit of [0, 9, 19, 20, 21, 23, 26, 27, 28]) assert.equal((r.ecx >>> bit) & 1, 0, `ECX bit ${bit}`);
  const noDeadline = defaultCpuidConfig(1);
  noDeadline.features.tscDeadline = false;
  assert.equal((cpuid(s, 1, 0, noDeadline).ecx >>> 24) & 1, 0);
});

void test('cpuid: leaf 7 and extended leaves (LM, NX, SYSCALL, address sizes, brand)', () => {
  const l7 = cpuid(s, 7, 0, cfg);
  assert.equal(l7.eax, 0);
  assert.equal((l7.ebx >>> 9) & 1, 1, 'ERMS');
  assert.equal((l7.ebx >>> 7) & 1, 0, 'no SMEP');
  assert.equal((l7.edx >>> 29) & 1, 1, 'ARCH_CAPABILITIES');
  assert.ok(cpuid(s, 0x80000000, 0, cfg).eax >= 0x80000008);
  const e1 = cpuid(s, 0x80000001, 0, cfg);
  for (const bit of [11, 20, 29]) assert.ok((e1.edx >>> bit) & 1);
  assert.equal((e1.edx >>> 26) & 1, 0, 'no 1 GiB pages announced');
  assert.equal(cpuid(s, 0x80000008, 0, cfg).eax & 0xffff, 0x3028);
  const brand = [0x80000002, 0x80000003, 0x80000004].map((l) => { const r = cpuid(s, l, 0, cfg); return regsString(r.eax, r.ebx, r.ecx, r.edx); }).join('');
  assert.equal(brand.replace(/\0+$/, ''), CPUID_BRAND);
  assert.equal(brand.length, 48);
});

void test('cpuid: leaf 0xB topology with cpuCount cores', () => {
  const smt = cpuid(s, 0xb, 0, cfg);
  assert.deepEqual([smt.eax, smt.ebx, (smt.ecx >>> 8) & 0xff, smt.edx], [0, 1, 1, 2]);
  const core = cpuid(s, 0xb, 1, cfg);
  assert.deepEqual([core.eax, core.ebx, (core.ecx >>> 8) & 0xff, core.edx], [2, 4, 2, 2]);
  const end = cpuid(s, 0xb, 2, cfg);
  assert.deepEqual([end.eax, end.ebx, (end.ecx >>> 8) & 0xff], [0, 0, 0]);
});

void test('cpuid: leaf 0x15 TSC/crystal ratio when an APIC timer frequency is given', () => {
  const c = defaultCpuidConfig(1);
  c.tscHz = 2_400_000_000; c.apicTimerHz = 25_000_000;
  const r = cpuid(s, 0x15, 0, c);
  assert.equal(r.ecx, 25_000_000);
  assert.equal(r.ecx * r.ebx / r.eax, 2_400_000_000);
  assert.deepEqual(cpuid(s, 0x15, 0, cfg), { eax: 0, ebx: 0, ecx: 0, edx: 0 });
  assert.equal(cpuid(s, 0x16, 0, c).eax, 2400);
});
