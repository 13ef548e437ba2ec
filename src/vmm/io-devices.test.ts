// The shared PCI + virtio device set (io-devices.ts): the slot order the guest's device names
// depend on, and clean-up when a device cannot be built. MSI delivery through each engine's sink is
// checked end to end by kvm-virtio.test.ts (the guest counts its interrupts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PCI_HOLE_END, PCI_HOLE_START } from '../arch/x86/layout.js';
import { MmioBus, PioBus } from '../devices/bus.js';
import { allocateGuestMemory } from '../memory/allocate.js';
import type { VmConfig } from './config.js';
import { HostClock } from './host-clock.js';
import { createIoDevices, type IoDevices } from './io-devices.js';

const dir = mkdtempSync(join(tmpdir(), 'tshv-io-devices-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function build(config: Partial<VmConfig>): { devices: IoDevices; done: () => void } {
  const ram = allocateGuestMemory(16, PCI_HOLE_START, PCI_HOLE_END);
  const clock = new HostClock();
  try {
    const devices = createIoDevices({
      pio: new PioBus(), mmio: new MmioBus(), ram, msi: () => undefined, clock,
      config: { kernelPath: 'k', cmdline: '', cpuCount: 1, memSizeMib: 16, accel: 'soft', reboot: false, ...config },
      onHvcOutput: () => undefined, onTapReadable: () => undefined, wake: () => undefined,
    });
    return { devices, done: () => { devices.dispose(); clock.dispose(); ram.dispose(); } };
  } catch (e) {
    clock.dispose();
    ram.dispose();
    throw e;
  }
}

test('slots: host bridge 0, then the disks in order, the RNG, the balloon, and the console last', () => {
  const a = join(dir, 'a.img');
  const b = join(dir, 'b.img');
  writeFileSync(a, new Uint8Array(4096));
  writeFileSync(b, new Uint8Array(4096));
  const { devices, done } = build({ disks: [{ path: a, readOnly: false }, { path: b, readOnly: true }], hvc: { socketPath: join(dir, 's') } });
  try {
    assert.deepEqual(devices.disks.map((d) => d.slot), [1, 2]);
    assert.equal(devices.balloon.slot, 4); // the RNG is in slot 3
    assert.equal(devices.hvc?.slot, 5);
    assert.equal(devices.ioControls.setRateLimit('vdb', { bps: 1000 }).bps, 1000);
  } finally {
    done();
  }
});

test('without disks or a console: RNG in slot 1, balloon in slot 2, no hvc', () => {
  const { devices, done } = build({});
  try {
    assert.equal(devices.disks.length, 0);
    assert.equal(devices.balloon.slot, 2);
    assert.equal(devices.hvc, undefined);
  } finally {
    done();
  }
});

test('a disk that cannot be opened is one clear error', () => {
  assert.throws(() => build({ disks: [{ path: join(dir, 'missing.img'), readOnly: false }] }), (e: Error) => e.message.includes('missing.img') && !e.message.includes('\n'));
});
