import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MmioBus, PioBus } from '../bus.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { PCI_CONFIG_ADDRESS_PORT, PCI_ECAM_START, PCI_MMIO32_START } from '../../arch/x86/layout.js';
import { buildAcpiTables } from '../../arch/x86/acpi/acpi.js';
import { eisaIdValue } from '../../arch/x86/acpi/aml.js';
import { createPciPlatform } from './platform.js';
import { PciConfigSpace, PCI_COMMAND, PCI_COMMAND_MEMORY, PCI_BASE_ADDRESS_0, PCI_CAPABILITY_LIST } from './config-space.js';
import { Msix, PCI_CAP_ID_MSIX, PCI_MSIX_FLAGS_ENABLE, PCI_MSIX_FLAGS_MASKALL } from './msix.js';
import type { PciDevice } from './pci-device.js';

function platform() {
  const pio = new PioBus();
  const mmio = new MmioBus();
  const memory = new GuestMemory(new Uint8Array(1 << 20), [{ gpa: 0, sizeBytes: 1 << 20, offset: 0 }]);
  const msis: [number, number][] = [];
  const pci = createPciPlatform({ pio, mmio, memory, msi: (a, d) => { msis.push([a, d]); } });
  return { pio, mmio, pci, msis };
}

class TestDevice implements PciDevice {
  readonly name = 'test';
  readonly config = new PciConfigSpace({ vendorId: 0x1234, deviceId: 0x5678, classCode: 0xff0000, revisionId: 2, subsystemVendorId: 0, subsystemId: 0 });
  readonly msix: Msix;
  reg = 0;
  constructor(sink: (a: number, d: number) => void) {
    this.config.addMemoryBar(0, 0x4000);
    this.config.addMemoryBar(2, 0x1000);
    this.msix = new Msix(this.config, 4, 2, 0, 0x800, sink);
  }
  barRead(bar: number, off: number, size: 1 | 2 | 4): number {
    if (bar === 2) return off < 0x800 ? this.msix.tableRead(off, size) : this.msix.pbaRead(off - 0x800, size);
    return off === 0 ? this.reg : 0;
  }
  barWrite(bar: number, off: number, size: 1 | 2 | 4, v: number): void {
    if (bar === 2) this.msix.tableWrite(off, size, v);
    else if (off === 0) this.reg = v;
  }
  configWritten(off: number, size: 1 | 2 | 4): void { this.msix.configWritten(off, size); }
}

test('pci: configuration mechanism #1 reaches the host bridge; absent devices read all ones', () => {
  const { pio } = platform();
  pio.pioWrite(PCI_CONFIG_ADDRESS_PORT, 4, 0x8000_0000);
  assert.equal(pio.pioRead(PCI_CONFIG_ADDRESS_PORT, 4), 0x8000_0000);
  assert.equal(pio.pioRead(0xcfc, 4), 0x0008_1b36);
  pio.pioWrite(PCI_CONFIG_ADDRESS_PORT, 4, 0x8000_0008);
  assert.equal(pio.pioRead(0xcfc, 4) >>> 8, 0x060000);
  assert.equal(pio.pioRead(0xcfe, 2), 0x0600);
  pio.pioWrite(PCI_CONFIG_ADDRESS_PORT, 4, 0x8100_0000); // register 0x100: extended space reads 0, no alias
  assert.equal(pio.pioRead(0xcfc, 4), 0);
  pio.pioWrite(PCI_CONFIG_ADDRESS_PORT, 4, 0x8000_0000 | (5 << 11));
  assert.equal(pio.pioRead(0xcfc, 4), 0xffff_ffff);
  pio.pioWrite(PCI_CONFIG_ADDRESS_PORT, 4, 0); // enable bit clear
  assert.equal(pio.pioRead(0xcfc, 4), 0xffff_ffff);
  // 0xCF9 stays free for the reset register.
  assert.doesNotThrow(() => pio.register(0xcf9, 1, { pioRead: () => 0, pioWrite: () => {} }, 'reset'));
});

test('pci: ECAM reaches the same configuration space', () => {
  const { mmio } = platform();
  assert.equal(mmio.mmioRead(PCI_ECAM_START, 4), 0x0008_1b36);
  assert.equal(mmio.mmioRead(PCI_ECAM_START + (1 << 15), 4), 0xffff_ffff);
  assert.equal(mmio.mmioRead(PCI_ECAM_START + (1 << 20), 2), 0xffff); // bus 1
  assert.equal(mmio.mmioRead(PCI_ECAM_START + 0x100, 4), 0); // extended space
});

test('pci: BARs are allocated in the window, sized by all-ones writes, and re-mapped when moved', () => {
  const { mmio, pci, msis } = platform();
  const dev = new TestDevice((a, d) => msis.push([a, d]));
  const slot = pci.bus.add(dev);
  assert.equal(slot, 1);
  const ecam = (reg: number) => PCI_ECAM_START + (slot << 15) + reg;
  const bar0 = mmio.mmioRead(ecam(PCI_BASE_ADDRESS_0), 4);
  assert.equal(bar0, PCI_MMIO32_START);
  const changes: number[][] = [];
  pci.bus.onBarChange((s, b, a) => changes.push([s, b, a]));
  mmio.mmioWrite(bar0, 4, 42);
  assert.equal(dev.reg, 42);
  // Sizing with decode off (as Linux does), then restore.
  mmio.mmioWrite(ecam(PCI_COMMAND), 2, 0);
  assert.equal(mmio.isClaimed(bar0), false);
  mmio.mmioWrite(ecam(PCI_BASE_ADDRESS_0), 4, 0xffff_ffff);
  assert.equal(mmio.mmioRead(ecam(PCI_BASE_ADDRESS_0), 4), 0xffff_c000);
  // Move it and turn decode back on.
  const moved = PCI_MMIO32_START + 0x10_0000;
  mmio.mmioWrite(ecam(PCI_BASE_ADDRESS_0), 4, moved);
  mmio.mmioWrite(ecam(PCI_COMMAND), 2, PCI_COMMAND_MEMORY);
  assert.equal(mmio.isClaimed(bar0), false);
  assert.equal(mmio.mmioRead(moved, 4), 42);
  assert.equal(pci.bus.barMapping(slot, 0), moved);
  assert.deepEqual(changes, [[slot, 0, -1], [slot, 2, -1], [slot, 0, moved], [slot, 2, bar0 + 0x4000]]);
  // A BAR placed over another one stays unmapped instead of throwing.
  const bar2 = mmio.mmioRead(ecam(PCI_BASE_ADDRESS_0 + 8), 4);
  assert.doesNotThrow(() => mmio.mmioWrite(ecam(PCI_BASE_ADDRESS_0 + 8), 4, moved));
  assert.equal(pci.bus.barMapping(slot, 2), -1);
  mmio.mmioWrite(ecam(PCI_BASE_ADDRESS_0 + 8), 4, bar2);
  assert.equal(pci.bus.barMapping(slot, 2), bar2);
  // Outside the window: not mapped.
  mmio.mmioWrite(ecam(PCI_BASE_ADDRESS_0), 4, 0xfee0_0000);
  assert.equal(pci.bus.barMapping(slot, 0), -1);
});

test('pci: MSI-X capability, per-vector mask, function mask and pending bits', () => {
  const { mmio, pci, msis } = platform();
  const dev = new TestDevice((a, d) => msis.push([a, d]));
  const slot = pci.bus.add(dev);
  const ecam = (reg: number) => PCI_ECAM_START + (slot << 15) + reg;
  const cap = mmio.mmioRead(ecam(PCI_CAPABILITY_LIST), 1);
  assert.equal(mmio.mmioRead(ecam(cap), 1), PCI_CAP_ID_MSIX);
  assert.equal(mmio.mmioRead(ecam(cap + 2), 2) & 0x7ff, 3); // 4 vectors
  const table = (mmio.mmioRead(ecam(PCI_BASE_ADDRESS_0 + 8), 4) & ~0xf) >>> 0;
  // Disabled: nothing.
  assert.equal(dev.msix.signal(1), false);
  mmio.mmioWrite(ecam(cap + 2), 2, PCI_MSIX_FLAGS_ENABLE);
  mmio.mmioWrite(table + 16, 4, 0xfee0_0000);
  mmio.mmioWrite(table + 24, 4, 0x41);
  // Vector 1 is masked from reset: pending.
  dev.msix.signal(1);
  assert.equal(msis.length, 0);
  assert.equal(mmio.mmioRead(table + 0x800, 4), 0b10);
  mmio.mmioWrite(table + 28, 4, 0); // unmask → delivered
  assert.deepEqual(msis, [[0xfee0_0000, 0x41]]);
  assert.equal(mmio.mmioRead(table + 0x800, 4), 0);
  // Function mask holds it, clearing the mask delivers.
  mmio.mmioWrite(ecam(cap + 2), 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
  dev.msix.signal(1);
  assert.equal(msis.length, 1);
  mmio.mmioWrite(ecam(cap + 2), 2, PCI_MSIX_FLAGS_ENABLE);
  assert.equal(msis.length, 2);
  dev.msix.signal(1);
  assert.equal(msis.length, 3);
  assert.equal(dev.msix.signal(9), false);
  const saved = dev.msix.save();
  dev.msix.reset();
  dev.msix.restore(saved);
  assert.equal(mmio.mmioRead(table + 24, 4), 0x41);
});

test('pci: ACPI pieces describe PCI0 and ECAM and fit in the table set', () => {
  const { pci } = platform();
  const mcfg = pci.acpi.tables[0]!;
  assert.equal(new TextDecoder().decode(mcfg.subarray(0, 4)), 'MCFG');
  const v = new DataView(mcfg.buffer, mcfg.byteOffset);
  assert.equal(Number(v.getBigUint64(44, true)), PCI_ECAM_START);
  assert.equal(v.getUint8(55), 255);
  const dsdtTerm = pci.acpi.sbTerms[0]!;
  const hid = eisaIdValue('PNP0A08');
  const needle = [hid & 0xff, (hid >>> 8) & 0xff, (hid >>> 16) & 0xff, hid >>> 24];
  const hay = Array.from(dsdtTerm);
  assert.ok(hay.some((_, i) => needle.every((b, j) => hay[i + j] === b)));
  const tables = buildAcpiTables({ cpuCount: 2, extraSbTerms: pci.acpi.sbTerms, extraTables: pci.acpi.tables });
  assert.ok(tables.blobs.some((b) => b.signature === 'MCFG'));
});

test('pci: bus state round-trips and re-maps BARs', () => {
  const { mmio, pci, msis } = platform();
  const dev = new TestDevice((a, d) => msis.push([a, d]));
  const slot = pci.bus.add(dev);
  const ecam = (reg: number) => PCI_ECAM_START + (slot << 15) + reg;
  const moved = PCI_MMIO32_START + 0x20_0000;
  mmio.mmioWrite(ecam(PCI_BASE_ADDRESS_0), 4, moved);
  const state = JSON.parse(JSON.stringify(pci.bus.save())) as ReturnType<typeof pci.bus.save>;
  const other = platform();
  const dev2 = new TestDevice(() => {});
  other.pci.bus.add(dev2);
  other.pci.bus.restore(state);
  assert.equal(other.pci.bus.barMapping(slot, 0), moved);
  dev2.reg = 7;
  assert.equal(other.mmio.mmioRead(moved, 4), 7);
});
