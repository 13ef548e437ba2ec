import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuState } from '../cpu/state.js';
import { getRflags } from '../cpu/flags.js';
import { setupLongModeEntry } from '../arch/x86/boot/long-mode.js';
import { KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_MASTER } from '../kvm/structs.js';
import { idBits, vcpuCpuid } from '../kvm/cpuid.js';
import { probeKvm } from './accel.js';
import { KvmMachine, pcGsiRoutes } from './kvm-engine.js';
import { cpuStateToKvmRegs, cpuStateToKvmSregs, kvmToCpuState } from './kvm-cpu-state.js';
import { tinyKernel } from './testing/tiny-kernels.js';

const kvm = probeKvm();
const noKvm = kvm.usable ? false : `KVM is not usable here: ${kvm.detail}`;

test('GSI routing: ISA IRQ 0 on IOAPIC pin 2, the cascade unrouted, 24 IOAPIC pins', () => {
  const routes = pcGsiRoutes();
  const ioapic = routes.filter((r) => r.type === 'irqchip' && r.irqchip === KVM_IRQCHIP_IOAPIC);
  assert.equal(ioapic.length, 23);
  assert.deepEqual(ioapic.find((r) => r.gsi === 0), { gsi: 0, type: 'irqchip', irqchip: KVM_IRQCHIP_IOAPIC, pin: 2 });
  assert.equal(routes.some((r) => r.gsi === 2), false);
  assert.deepEqual(routes.find((r) => r.gsi === 4 && r.type === 'irqchip' && r.irqchip === KVM_IRQCHIP_PIC_MASTER),
    { gsi: 4, type: 'irqchip', irqchip: KVM_IRQCHIP_PIC_MASTER, pin: 4 });
});

test('CPUID per vCPU: initial APIC ID, logical count, x2APIC topology leaves', () => {
  const supported = [
    { function: 0, index: 0, flags: 0, eax: 0x1f, ebx: 0, ecx: 0, edx: 0 },
    { function: 1, index: 0, flags: 0, eax: 0x806f8, ebx: 0xff_08_0800, ecx: 0, edx: 0 },
    { function: 0xb, index: 0, flags: 1, eax: 9, ebx: 9, ecx: 9, edx: 9 },
  ];
  const e = vcpuCpuid(supported, 2, 3);
  const leaf1 = e.find((x) => x.function === 1)!;
  assert.equal(leaf1.ebx >>> 24, 2);
  assert.equal((leaf1.ebx >>> 16) & 0xff, 3);
  assert.equal(leaf1.ebx & 0xffff, 0x0800);
  assert.ok(leaf1.ecx & (1 << 31), 'hypervisor bit');
  const b = e.filter((x) => x.function === 0xb);
  assert.equal(b.length, 3);
  assert.deepEqual(b.map((x) => x.edx), [2, 2, 2]);
  assert.equal(b[1]!.eax, idBits(3));
  assert.equal(b[1]!.ebx, 3);
  assert.equal(e.some((x) => x.function === 0x1f), false, 'no leaf 0x1f when KVM does not offer it');
});

test('CpuState → kvm_regs/kvm_sregs → CpuState keeps the 64-bit boot state', () => {
  const c = new CpuState(0);
  setupLongModeEntry(c, 0x1000200, 0x7000, 31);
  c.gpr[2 * 3] = 0xdeadbeef; c.gpr[2 * 3 + 1] = 0x12345678; // RBX
  const regs = cpuStateToKvmRegs(c);
  assert.equal(regs.rsi, 0x7000n);
  assert.equal(regs.rbx, 0x12345678_deadbeefn);
  assert.equal(regs.rip, 0x1000200n);
  assert.equal(regs.rflags, 2n);
  const base = {
    apicBase: 0xfee00900n, interruptBitmap: [0n, 0n, 0n, 0n],
  } as unknown as Parameters<typeof cpuStateToKvmSregs>[1];
  const sregs = cpuStateToKvmSregs(c, base);
  assert.equal(sregs.cs.l, 1);
  assert.equal(sregs.cs.selector, 0x10);
  assert.equal(sregs.cs.present, 1);
  assert.equal(sregs.ds.db, 1);
  assert.equal(sregs.efer, 0x500n);
  assert.equal(sregs.cr3, 0x9000n);
  const back = kvmToCpuState(regs, sregs, new CpuState(0));
  assert.deepEqual([...back.gpr], [...c.gpr]);
  assert.equal(back.rip, c.rip);
  assert.equal(getRflags(back), getRflags(c));
  assert.deepEqual(back.seg, c.seg);
  assert.deepEqual([back.cr0, back.cr3, back.cr4, back.efer], [c.cr0, c.cr3, c.cr4, c.efer]);
  // A canonical-high address survives the trip (numbers hold it sign-extended).
  c.rip = -0x7f000000;
  assert.equal(cpuStateToKvmRegs(c).rip, 0xffffffff81000000n);
  assert.equal(kvmToCpuState(cpuStateToKvmRegs(c), sregs, new CpuState(0)).rip, -0x7f000000);
});

test('KVM: pause kicks a spinning vCPU out of KVM_RUN, its state is readable, resume and stop work', { skip: noKvm }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-kvm-engine-'));
  const kernelPath = join(dir, 'spin.bin');
  // mov dx, 0x3f8; mov al, 'A'; out dx, al; jmp $
  writeFileSync(kernelPath, tinyKernel([0x66, 0xba, 0xf8, 0x03, 0xb0, 0x41, 0xee, 0xeb, 0xfe]));
  let out = '';
  let sawOutput: () => void = () => undefined;
  const printed = new Promise<void>((resolve) => { sawOutput = resolve; });
  const m = new KvmMachine({ kernelPath, cmdline: '', cpuCount: 2, memSizeMib: 64, accel: 'kvm', reboot: false }, {
    onSerialOutput: (b) => { out += Buffer.from(b).toString('latin1'); sawOutput(); },
  });
  try {
    m.loadKernel();
    const entry = BigInt(m.bootInfo!.entryRip);
    const running = m.run();
    await printed;
    await m.pause();
    const regs = m.vcpuFds()[0]!.getRegs();
    assert.equal(regs.rip, entry + 7n, 'paused at the jmp $');
    const state = kvmToCpuState(regs, m.vcpuFds()[0]!.getSregs(), new CpuState(0));
    assert.equal(state.seg[1]!.selector, 0x10);
    // Dirty logging can be switched on for the RAM slots of a paused machine, and off again.
    m.setDirtyLogging(true);
    assert.equal(m.vm.getDirtyLog(0, 16).byteLength, 2);
    m.setDirtyLogging(false);
    m.resume();
    await m.pause();
    m.resume();
    m.stop({ kind: 'quit' });
    assert.deepEqual(await running, { kind: 'quit' });
    assert.equal(out, 'A');
    assert.match(m.stats(), /[1-9]\d* kicks/);
  } finally {
    m.dispose();
  }
});
