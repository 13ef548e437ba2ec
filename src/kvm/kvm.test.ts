import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Kvm, KvmError } from './kvm.js';
import { KVM_CAP } from './ioctls.js';
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
