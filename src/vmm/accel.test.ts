import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { SOFTWARE_KVM_EXIT_MICROS, chooseAccel, probeKvm } from './accel.js';
import { measureKvmExitMicros } from './kvm-calibrate.js';

test('auto: KVM only when usable, hardware, and exits are cheap; every choice says why', () => {
  const hw = { usable: true, hardware: true, detail: 'hardware virtualization available' };
  assert.deepEqual(chooseAccel('auto', { ...hw, exitMicros: 1.4 }), { engine: 'kvm', reason: 'KVM: hardware virtualization available' });
  const slow = chooseAccel('auto', { ...hw, exitMicros: SOFTWARE_KVM_EXIT_MICROS + 4 });
  assert.equal(slow.engine, 'soft');
  assert.match(slow.reason, /^soft engine: a KVM exit costs 10\.0 µs here \(over 6 µs: a software KVM\)$/);
  assert.deepEqual(chooseAccel('auto', { usable: true, hardware: false, detail: 'KVM here is kvm_pvm, a nested software implementation' }),
    { engine: 'soft', reason: 'soft engine: KVM here is kvm_pvm, a nested software implementation' });
  assert.deepEqual(chooseAccel('auto', { usable: false, hardware: false, detail: '/dev/kvm does not exist' }),
    { engine: 'soft', reason: 'soft engine: /dev/kvm does not exist' });
});

test('kvm: forced KVM on a software implementation runs with a warning', () => {
  const c = chooseAccel('kvm', { usable: true, hardware: false, detail: 'KVM here is kvm_pvm, a nested software implementation' });
  assert.equal(c.engine, 'kvm');
  assert.match(c.warning ?? '', /kvm_pvm.*very slow or fail/);
  assert.equal(chooseAccel('soft', { usable: true, hardware: true, detail: '' }).engine, 'soft');
});

test('the calibration measures a PIO exit round trip', { skip: probeKvm().usable ? false : 'KVM is not usable here' }, (t) => {
  const us = measureKvmExitMicros('/dev/kvm', 100, 3);
  assert.ok(us > 0 && us < 10_000);
  t.diagnostic(`one PIO exit: ${us.toFixed(2)} µs${existsSync('/sys/module/kvm_pvm') ? ' (kvm_pvm)' : ''}`);
});
