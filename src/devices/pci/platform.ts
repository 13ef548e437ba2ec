// The wiring function the machine calls: a PCI root with its host bridge, reachable through
// 0xCF8/0xCFC and ECAM, plus the ACPI pieces describing it. Devices are added afterwards
// (addVirtioBlk, addVirtioRng...) with the returned `bus` and `msi`.

import { PCI_CONFIG_ADDRESS_PORT, PCI_ECAM_SIZE, PCI_ECAM_START, PCI_MMIO32_END, PCI_MMIO32_START } from '../../arch/x86/layout.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import type { MmioBus, PioBus } from '../bus.js';
import { buildPciAcpi, type PciAcpi } from './acpi.js';
import { PciConfigAddress, PciConfigData, PciEcam } from './config-access.js';
import { PciHostBridge } from './host-bridge.js';
import { PciBus } from './pci-bus.js';
import type { MsiSink } from './pci-device.js';

/** CONFIG_DATA is four ports after CONFIG_ADDRESS's dword. */
const PCI_CONFIG_DATA_PORT = PCI_CONFIG_ADDRESS_PORT + 4;

export interface PciPlatformOptions {
  pio: PioBus;
  mmio: MmioBus;
  memory: GuestMemory;
  /** Where MSI-X messages go: apicBus.deliverMsi on the soft engine, a KVM route later. */
  msi: MsiSink;
}

export interface PciPlatform {
  bus: PciBus;
  memory: GuestMemory;
  msi: MsiSink;
  /** Pass as AcpiOptions { extraSbTerms: acpi.sbTerms, extraTables: acpi.tables }. */
  acpi: PciAcpi;
}

export function createPciPlatform(o: PciPlatformOptions): PciPlatform {
  const bus = new PciBus({ mmio: o.mmio, mmioStart: PCI_MMIO32_START, mmioEnd: PCI_MMIO32_END });
  bus.add(new PciHostBridge(), 0);
  const address = new PciConfigAddress();
  o.pio.register(PCI_CONFIG_ADDRESS_PORT, 1, address, 'pci-config-address');
  o.pio.register(PCI_CONFIG_DATA_PORT, 4, new PciConfigData(address, bus), 'pci-config-data');
  o.mmio.register(PCI_ECAM_START, PCI_ECAM_SIZE, new PciEcam(bus), 'pci-ecam');
  const endBus = PCI_ECAM_SIZE / 0x10_0000 - 1;
  const acpi = buildPciAcpi({ ecamBase: PCI_ECAM_START, endBus, mmioStart: PCI_MMIO32_START, mmioEnd: PCI_MMIO32_END });
  return { bus, memory: o.memory, msi: o.msi, acpi };
}
