// The host bridge at 00:00.0: Red Hat's "QEMU PCIe Host bridge" identity (1b36:0008, class
// 06.00.00), chosen because Linux has no quirks keyed on it, and because Linux's type-1 probe
// (pci_sanity_check) looks for a host-bridge class device on bus 0. It has no BARs.

import type { AccessSize } from '../bus.js';
import { PciConfigSpace } from './config-space.js';
import type { PciDevice } from './pci-device.js';

export const PCI_VENDOR_ID_REDHAT = 0x1b36;
export const PCI_DEVICE_ID_REDHAT_PCIE_HOST = 0x0008;
/** Base class 06 (bridge), subclass 00 (host bridge). */
export const PCI_CLASS_BRIDGE_HOST = 0x06_00_00;

export class PciHostBridge implements PciDevice {
  readonly name = 'host-bridge';
  readonly config = new PciConfigSpace({
    vendorId: PCI_VENDOR_ID_REDHAT,
    deviceId: PCI_DEVICE_ID_REDHAT_PCIE_HOST,
    classCode: PCI_CLASS_BRIDGE_HOST,
    revisionId: 0,
    subsystemVendorId: PCI_VENDOR_ID_REDHAT,
    subsystemId: 0x1100,
  });

  barRead(_bar: number, _offset: number, size: AccessSize): number {
    return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffff_ffff;
  }

  barWrite(): void {}
}
