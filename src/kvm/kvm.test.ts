import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Kvm, KvmError, apiVersionError, kvmOpenError } from './kvm.js';
import { KVM_CAP, SIZEOF } from './ioctls.js';
import {
  KVM_IOEVENTFD_FLAG_PIO, KVM_IRQCHIP_IOAPIC, KVM_IRQFD_FLAG_DEASSIGN, KVM_MEM_LOG_DIRTY_PAGES, KVM_MP_STATE,
} from './structs.js';
import { EventFd } from '../sys/eventfd.js';
import { allocateGuestMemory } from '../memory/allocate.js';

const haveKvm = existsSync('/dev/kvm');

test('a missing /dev/kvm is a clear error', () => {
  assert.throws(() => Kvm.open('/nonexistent/kvm'), (e: unknown) => e instanceof KvmError && /does not exist/.test(e.message));
});

test('real-mode guest: OUT to a port exits to us with the byte, then HLT', { skip: haveKvm ? false : 'no /dev/kvm' }, () => {
  const kvm = Kvm.open();
  assert.ok(kvm.checkExtension(KVM_CAP.USER_MEMORY) > 0);
  const vm = kvm.createVm();
  const ram = allocateGuestMemory(2, 0xc0000000, 0x100000000);
  try {
    vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: BigInt(ram.memory.sizeBytes), userspaceAddr: ram.mapping.address });
    // mov dx, 0x3f8; mov al, 'K'; out dx, al; inc al; out dx, al; hlt
    ram.memory.write(0x1000, Uint8Array.from([0xba, 0xf8, 0x03, 0xb0, 0x4b, 0xee, 0xfe, 0xc0, 0xee, 0xf4]));
    const vcpu = vm.createVcpu(0);
    const s = vcpu.getSregs();
    s.cs.base = 0n; s.cs.selector = 0;
    vcpu.setSregs(s);
    const r = vcpu.getRegs();
    r.rip = 0x1000n; r.rflags = 2n;
    vcpu.setRegs(r);
    const out: number[] = [];
    for (let i = 0; i < 10; i++) {
      assert.equal(vcpu.runOnce(), 0);
      const exit = vcpu.run.decode();
      if (exit.kind === 'io') {
        assert.equal(exit.port, 0x3f8);
        assert.equal(exit.write, true);
        out.push(vcpu.run.bytes[exit.dataOffset]!);
        continue;
      }
      assert.equal(exit.kind, 'hlt');
      break;
    }
    assert.deepEqual(out, [0x4b, 0x4c]);
    vcpu.dispose();
  } finally {
    vm.dispose();
    kvm.dispose();
    ram.dispose();
  }
});

test('errors name the problem: no permission, API version, missing capability, failing ioctl', { skip: haveKvm ? false : 'no /dev/kvm' }, () => {
  assert.match(kvmOpenError('/dev/kvm', 13, '').message, /permission denied on \/dev\/kvm/);
  assert.match(kvmOpenError('/dev/kvm', 2, '').message, /does not exist/);
  assert.equal(apiVersionError(12), undefined);
  assert.match(apiVersionError(11)!.message, /KVM API version 11 is not supported \(need 12\)/);
  const kvm = Kvm.open();
  try {
    assert.throws(() => kvm.requireExtension(0x7fff_0000, 'IMAGINARY'), /lacks a required capability: KVM_CAP_IMAGINARY/);
    const vm = kvm.createVm();
    try {
      // An unaligned guest physical address is EINVAL, and the message says which ioctl failed.
      assert.throws(() => vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0x123n, memorySize: 0x1000n, userspaceAddr: 0n }),
        (e: unknown) => e instanceof KvmError && /^KVM_SET_USER_MEMORY_REGION failed: EINVAL \(22\)$/.test(e.message));
    } finally {
      vm.dispose();
    }
  } finally {
    kvm.dispose();
  }
});

test('state ioctls: vCPU state blobs save and restore; irqchip, PIT and clock read back', { skip: haveKvm ? false : 'no /dev/kvm' }, () => {
  const kvm = Kvm.open();
  const vm = kvm.createVm();
  try {
    vm.createIrqchip();
    vm.createPit2();
    const vcpu = vm.createVcpu(0);
    try {
      const withXsave = kvm.checkExtension(KVM_CAP.XSAVE) > 0;
      const s = vcpu.saveState([0x1a0, 0x10], withXsave);
      assert.equal(s.lapic.byteLength, SIZEOF.kvm_lapic_state);
      assert.equal(s.vcpuEvents.byteLength, SIZEOF.kvm_vcpu_events);
      assert.equal(s.msrs.length, 2);
      s.regs.rax = 0x1234_5678_9abc_def0n;
      vcpu.restoreState(s);
      assert.equal(vcpu.getRegs().rax, 0x1234_5678_9abc_def0n);
      assert.equal(vcpu.getMpState(), KVM_MP_STATE.RUNNABLE);
      const ioapic = vm.getIrqchip(KVM_IRQCHIP_IOAPIC);
      assert.equal(new DataView(ioapic.buffer).getUint32(0, true), KVM_IRQCHIP_IOAPIC);
      vm.setIrqchip(ioapic);
      vm.setPit2(vm.getPit2());
      assert.equal(typeof vm.getClockNs(), 'bigint');
    } finally {
      vcpu.dispose();
    }
  } finally {
    vm.dispose();
    kvm.dispose();
  }
});

test('irqfd and ioeventfd accept eventfds; MSI routes load with the PC routing', { skip: haveKvm ? false : 'no /dev/kvm' }, () => {
  const kvm = Kvm.open();
  const vm = kvm.createVm();
  const irq = new EventFd();
  const doorbell = new EventFd();
  try {
    vm.createIrqchip();
    vm.setGsiRouting([
      { gsi: 5, type: 'irqchip', irqchip: KVM_IRQCHIP_IOAPIC, pin: 5 },
      { gsi: 24, type: 'msi', addressLo: 0xfee00000, addressHi: 0, data: 0x41 },
    ]);
    vm.irqfd(irq.fd, 24);
    irq.signal(); // KVM consumes it and injects the MSI
    vm.ioeventfd({ addr: 0xd000_0000n, len: 4, fd: doorbell.fd, flags: 0 });
    vm.ioeventfd({ addr: 0xc050n, len: 2, fd: doorbell.fd, flags: KVM_IOEVENTFD_FLAG_PIO });
    vm.irqfd(irq.fd, 24, KVM_IRQFD_FLAG_DEASSIGN);
  } finally {
    irq.dispose();
    doorbell.dispose();
    vm.dispose();
    kvm.dispose();
  }
});

test('dirty logging: a slot registered with KVM_MEM_LOG_DIRTY_PAGES reports the page the guest wrote', { skip: haveKvm ? false : 'no /dev/kvm' }, () => {
  const kvm = Kvm.open();
  const vm = kvm.createVm();
  const ram = allocateGuestMemory(2, 0xc0000000, 0x100000000);
  try {
    const region = { slot: 0, flags: KVM_MEM_LOG_DIRTY_PAGES, guestPhysAddr: 0n, memorySize: BigInt(ram.memory.sizeBytes), userspaceAddr: ram.mapping.address };
    vm.setUserMemoryRegion(region);
    // mov [0x5000], al; out 0x80, al; hlt
    ram.memory.write(0x1000, Uint8Array.from([0xa2, 0x00, 0x50, 0xe6, 0x80, 0xf4]));
    const vcpu = vm.createVcpu(0);
    const s = vcpu.getSregs();
    s.cs.base = 0n; s.cs.selector = 0; s.ds.base = 0n; s.ds.selector = 0;
    vcpu.setSregs(s);
    const r = vcpu.getRegs();
    r.rip = 0x1000n; r.rflags = 2n; r.rax = 0x77n;
    vcpu.setRegs(r);
    const pages = ram.memory.sizeBytes / 4096;
    vm.getDirtyLog(0, pages); // reset
    assert.equal(vcpu.runOnce(), 0);
    assert.equal(vcpu.run.decode().kind, 'io');
    const log = vm.getDirtyLog(0, pages);
    assert.equal(ram.memory.bytes[0x5000], 0x77);
    assert.equal((log[0]! >> 5) & 1, 1, 'page 5 is dirty');
    assert.equal(log.slice(1).every((b) => b === 0), true);
    vcpu.dispose();
  } finally {
    vm.dispose();
    kvm.dispose();
    ram.dispose();
  }
});
