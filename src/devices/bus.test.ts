import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MmioBus, PioBus } from './bus.js';
import type { MmioDevice, PioDevice } from './device.js';

class Recorder implements PioDevice, MmioDevice {
  readonly log: string[] = [];
  constructor(private readonly readValue: number) {}
  pioRead(offset: number, size: 1 | 2 | 4): number {
    this.log.push(`r${offset}/${size}`);
    return this.readValue;
  }
  pioWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    this.log.push(`w${offset}/${size}=${value}`);
  }
  mmioRead(offset: number, size: 1 | 2 | 4): number {
    return this.pioRead(offset, size);
  }
  mmioWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    this.pioWrite(offset, size, value);
  }
}

test('PioBus dispatches with offsets and floats unclaimed ports to all ones', () => {
  const bus = new PioBus();
  const com1 = new Recorder(0x60);
  bus.register(0x3f8, 8, com1, 'com1');
  assert.equal(bus.pioRead(0x3fd, 1), 0x60);
  bus.pioWrite(0x3f8, 1, 0x41);
  assert.deepEqual(com1.log, ['r5/1', 'w0/1=65']);
  assert.equal(bus.pioRead(0x3f7, 1), 0xff);
  assert.equal(bus.pioRead(0x400, 2), 0xffff);
  assert.equal(bus.pioRead(0x1234, 4), 0xffff_ffff);
  bus.pioWrite(0x400, 1, 0); // ignored, no throw
  assert.deepEqual(bus.ranges(), [{ base: 0x3f8, length: 8, name: 'com1' }]);
});

test('PioBus refuses overlapping ranges with a message naming both devices', () => {
  const bus = new PioBus();
  bus.register(0x60, 1, new Recorder(0), 'i8042-data');
  bus.register(0x64, 1, new Recorder(0), 'i8042-cmd');
  assert.throws(() => bus.register(0x61, 4, new Recorder(0), 'pit-b'), /port 0x64 already belongs to "i8042-cmd"/);
  assert.throws(() => bus.register(0xffff, 2, new Recorder(0), 'wrap'), /outside/);
  bus.register(0x61, 1, new Recorder(7), 'pit-b'); // the failed attempt claimed nothing
  assert.equal(bus.pioRead(0x61, 1), 7);
});

test('PioBus unregister frees the range for a new owner', () => {
  const bus = new PioBus();
  bus.register(0xc000, 0x40, new Recorder(1), 'bar0');
  assert.equal(bus.unregister(0xc001), false, 'must name the base');
  assert.equal(bus.unregister(0xc000), true);
  assert.equal(bus.pioRead(0xc000, 1), 0xff);
  bus.register(0xc020, 0x40, new Recorder(2), 'bar0-moved');
  assert.equal(bus.pioRead(0xc05f, 1), 2);
});

test('MmioBus dispatches with offsets, caches, and floats unclaimed addresses', () => {
  const bus = new MmioBus();
  const ioapic = new Recorder(0x11);
  const lapic = new Recorder(0x22);
  const high = new Recorder(0x33);
  bus.register(0xfee0_0000, 0x1000, lapic, 'lapic');
  bus.register(0xfec0_0000, 0x1000, ioapic, 'ioapic');
  bus.register(0x1_8000_0000, 0x1000, high, 'bar64');
  assert.equal(bus.mmioRead(0xfec0_0010, 4), 0x11);
  assert.equal(bus.mmioRead(0xfee0_0020, 4), 0x22);
  assert.equal(bus.mmioRead(0xfee0_0030, 4), 0x22);
  assert.equal(bus.mmioRead(0x1_8000_0ffc, 4), 0x33);
  bus.mmioWrite(0xfec0_0000, 4, 5);
  assert.deepEqual(ioapic.log, ['r16/4', 'w0/4=5']);
  assert.deepEqual(lapic.log, ['r32/4', 'r48/4']);
  assert.equal(bus.mmioRead(0xfee0_1000, 4), 0xffff_ffff);
  assert.equal(bus.mmioRead(0xfebf_ffff, 1), 0xff);
  assert.equal(bus.isClaimed(0xfee0_0fff), true);
  assert.equal(bus.isClaimed(0xfee0_1000), false);
});

test('MmioBus refuses overlaps and supports unregister', () => {
  const bus = new MmioBus();
  bus.register(0xe000_0000, 0x1000_0000, new Recorder(0), 'ecam');
  assert.throws(() => bus.register(0xefff_f000, 0x2000, new Recorder(0), 'bar'), /overlaps "ecam" \(0xe0000000-0xefffffff\)/);
  bus.register(0xf000_0000, 0x2000, new Recorder(9), 'bar');
  assert.equal(bus.mmioRead(0xf000_1000, 2), 9);
  assert.equal(bus.unregister(0xf000_0000), true);
  assert.equal(bus.mmioRead(0xf000_1000, 2), 0xffff);
});

test('the PC port map of layout.ts fits on one PioBus without overlaps', async () => {
  const L = await import('../arch/x86/layout.js');
  const bus = new PioBus();
  const d = new Recorder(0);
  const map: [number, number, string][] = [
    [L.PIC_MASTER_PORT, 2, 'pic-master'],
    [L.PIC_SLAVE_PORT, 2, 'pic-slave'],
    [L.PIC_ELCR_PORT, 2, 'elcr'],
    [L.PIT_PORT, 4, 'pit'],
    [L.SYSTEM_CONTROL_PORT_B, 1, 'port61'],
    [L.I8042_PORT, 1, 'i8042-data'],
    [L.I8042_PORT + 4, 1, 'i8042-cmd'],
    [L.RTC_PORT, 2, 'rtc'],
    [0x80, 1, 'post'],
    [0x92, 1, 'port92'],
    [0xe9, 1, 'debugcon'],
    [L.COM1_PORT, 8, 'com1'],
    [L.ACPI_PM_BASE, L.ACPI_GPE0 + L.ACPI_GPE0_LEN - L.ACPI_PM_BASE, 'acpi-pm'],
    // PCI mechanism #1 decodes CONFIG_ADDRESS as a dword at 0xCF8 only; 0xCF9 is the reset register.
    [L.PCI_CONFIG_ADDRESS_PORT, 1, 'pci-config-address'],
    [L.RESET_PORT, 1, 'reset-control'],
    [0xcfc, 4, 'pci-config-data'],
  ];
  for (const [base, length, name] of map) bus.register(base, length, d, name);
  assert.equal(bus.ranges().length, map.length);
});
