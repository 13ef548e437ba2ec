import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Seg } from './state.js';
import { CpuFault, Vector } from './fault.js';
import { ARCH_CAPABILITIES_VALUE, Msr, readMsr, readTsc, writeMsr } from './msr.js';
import { defaultCpuidConfig } from './cpuid.js';
import { RamBus, TestCpu } from './testing/system-fixture.js';

function cpu(): TestCpu {
  return new TestCpu(new RamBus(1 << 20));
}

function gp(f: () => unknown): void {
  try { f(); } catch (e) {
    assert.ok(e instanceof CpuFault);
    assert.deepEqual([e.vector, e.errorCode], [Vector.GP, 0]);
    return;
  }
  assert.fail('expected #GP(0)');
}

void test('msr: syscall MSRs, FS/GS bases and KERNEL_GS_BASE round trip (canonical number form)', () => {
  const c = cpu();
  writeMsr(c, Msr.IA32_STAR, 0x0023001000000000n);
  writeMsr(c, Msr.IA32_LSTAR, 0xffffffff81a00080n);
  writeMsr(c, Msr.IA32_CSTAR, 0xffffffff81a00100n);
  writeMsr(c, Msr.IA32_FMASK, 0x47700n);
  writeMsr(c, Msr.IA32_FS_BASE, 0x7f0012345000n);
  writeMsr(c, Msr.IA32_GS_BASE, 0xffff888007c00000n);
  writeMsr(c, Msr.IA32_KERNEL_GS_BASE, 0x1000n);
  assert.equal(c.lstar, -0x7e5fff80);
  assert.equal(c.seg[Seg.FS]!.base, 0x7f0012345000);
  assert.equal(readMsr(c, Msr.IA32_STAR), 0x0023001000000000n);
  assert.equal(readMsr(c, Msr.IA32_LSTAR), 0xffffffff81a00080n);
  assert.equal(readMsr(c, Msr.IA32_CSTAR), 0xffffffff81a00100n);
  assert.equal(readMsr(c, Msr.IA32_FMASK), 0x47700n);
  assert.equal(readMsr(c, Msr.IA32_GS_BASE), 0xffff888007c00000n);
  assert.equal(readMsr(c, Msr.IA32_KERNEL_GS_BASE), 0x1000n);
  gp(() => writeMsr(c, Msr.IA32_LSTAR, 0x0000800000000000n));
  gp(() => writeMsr(c, Msr.IA32_FS_BASE, 0x1234000000000000n));
});

void test('msr: SYSENTER, PAT validation, MISC_ENABLE, TSC_AUX', () => {
  const c = cpu();
  writeMsr(c, Msr.IA32_SYSENTER_CS, 0x10n);
  writeMsr(c, Msr.IA32_SYSENTER_EIP, 0xffffffff81a01000n);
  assert.equal(readMsr(c, Msr.IA32_SYSENTER_CS), 0x10n);
  assert.equal(readMsr(c, Msr.IA32_SYSENTER_EIP), 0xffffffff81a01000n);
  assert.equal(readMsr(c, Msr.IA32_PAT), 0x0007040600070406n);
  writeMsr(c, Msr.IA32_PAT, 0x0407050600070106n);
  assert.equal(readMsr(c, Msr.IA32_PAT), 0x0407050600070106n);
  gp(() => writeMsr(c, Msr.IA32_PAT, 0x0000000000000002n));
  assert.equal(readMsr(c, Msr.IA32_MISC_ENABLE) & 1n, 1n);
  writeMsr(c, Msr.IA32_TSC_AUX, 7n);
  assert.equal(readMsr(c, Msr.IA32_TSC_AUX), 7n);
  gp(() => writeMsr(c, Msr.IA32_TSC_AUX, 1n << 32n));
});

void test('msr: EFER writable bits; LMA is read-only; unknown bits #GP', () => {
  const c = cpu();
  writeMsr(c, Msr.IA32_EFER, 0xd01n); // SCE LME NXE (+LMA ignored)
  assert.equal(readMsr(c, Msr.IA32_EFER), 0x901n);
  gp(() => writeMsr(c, Msr.IA32_EFER, 1n << 20n));
});

void test('msr: TSC reads follow the clock, writes set the offset; RDTSC number path agrees', () => {
  const c = cpu();
  c.clock.ns = 500;
  assert.equal(readMsr(c, Msr.IA32_TSC), 1000n);
  writeMsr(c, Msr.IA32_TSC, 0x123456789abn);
  assert.equal(readMsr(c, Msr.IA32_TSC), 0x123456789abn);
  c.clock.ns += 1000;
  const lo = readTsc(c);
  assert.equal((BigInt(c.hi) << 32n) | BigInt(lo), 0x123456789abn + 2000n);
});

void test('msr: MTRRs report WB default with the PCI hole uncacheable; writes stick', () => {
  const c = cpu();
  assert.equal(readMsr(c, Msr.IA32_MTRRCAP) & 0xffn, 8n);
  assert.equal(readMsr(c, Msr.IA32_MTRR_DEF_TYPE), 0x806n);
  assert.equal(readMsr(c, Msr.IA32_MTRR_PHYSBASE0), 0xc0000000n);
  assert.equal(readMsr(c, Msr.IA32_MTRR_PHYSBASE0 + 1), 0xffc0000800n);
  assert.equal(readMsr(c, Msr.IA32_MTRR_PHYSBASE0 + 2), 0n);
  writeMsr(c, Msr.IA32_MTRR_PHYSBASE0 + 2, 0x6n);
  assert.equal(readMsr(c, Msr.IA32_MTRR_PHYSBASE0 + 2), 0x6n);
  c.cpuidConfig = defaultCpuidConfig();
  c.cpuidConfig.features.mtrr = false;
  gp(() => readMsr(c, Msr.IA32_MTRRCAP));
});

void test('msr: misc identification MSRs and ARCH_CAPABILITIES', () => {
  const c = cpu();
  assert.equal(readMsr(c, Msr.IA32_PLATFORM_ID), 0n);
  assert.equal(readMsr(c, Msr.IA32_BIOS_SIGN_ID) >> 32n, 1n);
  assert.equal(readMsr(c, Msr.IA32_MCG_CAP), 0n);
  assert.equal(readMsr(c, Msr.IA32_MCG_STATUS), 0n);
  assert.equal(readMsr(c, Msr.IA32_ARCH_CAPABILITIES), ARCH_CAPABILITIES_VALUE);
  assert.equal(ARCH_CAPABILITIES_VALUE & 1n, 1n, 'RDCL_NO: no page-table isolation');
  assert.equal(readMsr(c, Msr.IA32_APIC_BASE), 0xfee00900n);
});

void test('msr: TSC_DEADLINE and x2APIC MSRs go to the interrupt controller; unknown MSRs #GP(0)', () => {
  const c = cpu();
  writeMsr(c, Msr.IA32_TSC_DEADLINE, 12345n);
  assert.equal(c.irq.msrs.get(0x6e0), 12345n);
  assert.equal(readMsr(c, Msr.IA32_TSC_DEADLINE), 12345n);
  writeMsr(c, 0x808, 0x10n);
  assert.equal(readMsr(c, 0x808), 0x10n);
  gp(() => readMsr(c, 0x48)); // IA32_SPEC_CTRL: not announced
  gp(() => writeMsr(c, 0x49, 1n));
  gp(() => readMsr(c, 0xc0010015));
});
