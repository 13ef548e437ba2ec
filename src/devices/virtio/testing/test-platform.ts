// A small machine for device tests: plain buses, RAM in a Uint8Array, the PCI platform, and an
// MSI sink that records every message.

import { MmioBus, PioBus } from '../../bus.js';
import { GuestMemory } from '../../../memory/guest-memory.js';
import { createPciPlatform, type PciPlatform } from '../../pci/platform.js';

export interface RecordedMsi {
  address: number;
  data: number;
}

export interface TestPlatform {
  pio: PioBus;
  mmio: MmioBus;
  memory: GuestMemory;
  pci: PciPlatform;
  msis: RecordedMsi[];
}

export function createTestPlatform(memBytes = 4 << 20): TestPlatform {
  const pio = new PioBus();
  const mmio = new MmioBus();
  const memory = new GuestMemory(new Uint8Array(memBytes), [{ gpa: 0, sizeBytes: memBytes, offset: 0 }]);
  const msis: RecordedMsi[] = [];
  const pci = createPciPlatform({ pio, mmio, memory, msi: (address, data) => { msis.push({ address, data }); } });
  return { pio, mmio, memory, pci, msis };
}
