// The two ways software reaches configuration space: configuration mechanism #1 (PCI Local Bus
// 3.0 §3.2.2.3.2: an address DWORD at 0xCF8, data at 0xCFC-0xCFF) and ECAM (PCI Express Base
// §7.2.2: 1 MiB per bus, 4 KiB per function, at the base the ACPI MCFG table gives).

import type { AccessSize } from '../bus.js';
import type { MmioDevice, PioDevice } from '../device.js';
import type { PciBus } from './pci-bus.js';

/** CONFIG_ADDRESS enable bit (§3.2.2.3.2). */
export const PCI_CONFIG_ENABLE = 0x8000_0000;

/**
 * The CONFIG_ADDRESS register. Register it at 0xCF8 for one port: 0xCF9 is the reset control
 * register, and only DWORD accesses to 0xCF8 reach CONFIG_ADDRESS.
 */
export class PciConfigAddress implements PioDevice {
  value = 0;

  pioRead(offset: number, size: AccessSize): number {
    return offset === 0 && size === 4 ? this.value : size === 1 ? 0xff : size === 2 ? 0xffff : 0xffff_ffff;
  }

  pioWrite(offset: number, size: AccessSize, value: number): void {
    // Bits 27:24 carry register bits 11:8 (the extended space, as Linux's PCI_CONF1_ADDRESS sets them).
    if (offset === 0 && size === 4) this.value = (value & 0x8fff_fffc) >>> 0;
  }
}

/** Register number of a CONFIG_ADDRESS value, extended bits included. */
function register(a: number): number {
  return ((a >>> 16) & 0xf00) | (a & 0xfc);
}

/** CONFIG_DATA, four ports at 0xCFC. */
export class PciConfigData implements PioDevice {
  constructor(private readonly address: PciConfigAddress, private readonly bus: PciBus) {}

  pioRead(offset: number, size: AccessSize): number {
    const a = this.address.value;
    if ((a & PCI_CONFIG_ENABLE) === 0) return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffff_ffff;
    return this.bus.configRead((a >>> 16) & 0xff, (a >>> 11) & 0x1f, (a >>> 8) & 7, register(a) + offset, size);
  }

  pioWrite(offset: number, size: AccessSize, value: number): void {
    const a = this.address.value;
    if ((a & PCI_CONFIG_ENABLE) === 0) return;
    this.bus.configWrite((a >>> 16) & 0xff, (a >>> 11) & 0x1f, (a >>> 8) & 7, register(a) + offset, size, value);
  }
}

/** ECAM window: offset = bus << 20 | device << 15 | function << 12 | register. */
export class PciEcam implements MmioDevice {
  constructor(private readonly bus: PciBus) {}

  mmioRead(offset: number, size: AccessSize): number {
    return this.bus.configRead((offset >>> 20) & 0xff, (offset >>> 15) & 0x1f, (offset >>> 12) & 7, offset & 0xfff, size);
  }

  mmioWrite(offset: number, size: AccessSize, value: number): void {
    this.bus.configWrite((offset >>> 20) & 0xff, (offset >>> 15) & 0x1f, (offset >>> 12) & 7, offset & 0xfff, size, value);
  }
}
