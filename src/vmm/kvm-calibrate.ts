// A short calibration of /dev/kvm: the cost of one PIO exit round trip, measured with a tiny
// real-mode guest (`out 0x80, al; jmp $-2`). On hardware virtualization it is a microsecond or
// two; a software implementation of the KVM API (kvm_pvm, or one emulating ring 0) costs several
// times that, which is how `--accel auto` tells them apart when the module name and CPU flags
// do not (accel.ts).

import { Kvm } from '../kvm/kvm.js';
import { KVM_EXIT } from '../kvm/ioctls.js';
import { allocateGuestMemory } from '../memory/allocate.js';

const GUEST = Uint8Array.from([0xe6, 0x80, 0xeb, 0xfc]); // out 0x80, al; jmp $-2
const CODE_GPA = 0x1000;
const RAM_BYTES = 0x8000;

/** Median microseconds per PIO exit over `rounds` rounds of `exitsPerRound` exits. */
export function measureKvmExitMicros(devPath = '/dev/kvm', exitsPerRound = 200, rounds = 5): number {
  const kvm = Kvm.open(devPath);
  const vm = kvm.createVm();
  const ram = allocateGuestMemory(16, 0xc0000000, 0x100000000);
  try {
    vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: BigInt(RAM_BYTES), userspaceAddr: ram.mapping.address });
    ram.memory.write(CODE_GPA, GUEST);
    const vcpu = vm.createVcpu(0);
    try {
      const s = vcpu.getSregs();
      s.cs.base = 0n; s.cs.selector = 0;
      vcpu.setSregs(s);
      const r = vcpu.getRegs();
      r.rip = BigInt(CODE_GPA); r.rflags = 2n;
      vcpu.setRegs(r);
      const view = vcpu.run.view;
      const perRound: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < exitsPerRound; i++) {
          if (vcpu.runRaw() < 0 || view.getUint32(8, true) !== KVM_EXIT.IO) throw new Error('calibration guest did not exit on its OUT');
        }
        perRound.push(Number(process.hrtime.bigint() - t0) / 1000 / exitsPerRound);
      }
      perRound.sort((a, b) => a - b);
      return perRound[rounds >> 1]!;
    } finally {
      vcpu.dispose();
    }
  } finally {
    vm.dispose();
    kvm.dispose();
    ram.dispose();
  }
}
