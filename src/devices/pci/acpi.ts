// How the guest finds the PCI root: Device(PCI0) in the DSDT (PCI Firmware 3.0 §4.1 and ACPI 6.x
// §6.4: _HID PNP0A08 "PCI Express root", _CID PNP0A03, _CRS with the bus range, the I/O windows
// around the 0xCF8 config ports and the 32-bit memory window) and the MCFG table for ECAM.

import { buildMcfg } from '../../arch/x86/acpi/tables.js';
import { device, eisaId, integer, name } from '../../arch/x86/acpi/aml.js';
import { AddressSpaceType, dwordAddressSpace, io, resourceTemplate, wordAddressSpace } from '../../arch/x86/acpi/aml-resources.js';
import { PCI_CONFIG_ADDRESS_PORT } from '../../arch/x86/layout.js';

export interface PciAcpiConfig {
  ecamBase: number;
  /** Last bus number the ECAM window covers (0..255). */
  endBus: number;
  mmioStart: number;
  /** Exclusive end of the 32-bit memory window. */
  mmioEnd: number;
}

export interface PciAcpi {
  /** Terms for AcpiOptions.extraSbTerms. */
  sbTerms: Uint8Array[];
  /** Tables for AcpiOptions.extraTables. */
  tables: Uint8Array[];
}

const CONFIG_PORTS_BYTES = 8;

export function buildPciAcpi(c: PciAcpiConfig): PciAcpi {
  const crs = resourceTemplate([
    wordAddressSpace({ type: AddressSpaceType.BusNumber, producer: true, min: 0, max: c.endBus }),
    io(PCI_CONFIG_ADDRESS_PORT, PCI_CONFIG_ADDRESS_PORT, 1, CONFIG_PORTS_BYTES),
    wordAddressSpace({ type: AddressSpaceType.Io, producer: true, min: 0, max: PCI_CONFIG_ADDRESS_PORT - 1 }),
    wordAddressSpace({ type: AddressSpaceType.Io, producer: true, min: PCI_CONFIG_ADDRESS_PORT + CONFIG_PORTS_BYTES, max: 0xffff }),
    dwordAddressSpace({ type: AddressSpaceType.Memory, producer: true, min: c.mmioStart, max: c.mmioEnd - 1 }),
  ]);
  const pci0 = device('PCI0', [
    name('_HID', eisaId('PNP0A08')),
    name('_CID', eisaId('PNP0A03')),
    name('_ADR', integer(0)),
    name('_UID', integer(0)),
    name('_SEG', integer(0)),
    name('_BBN', integer(0)),
    name('_CRS', crs),
  ]);
  const mcfg = buildMcfg([{ baseAddress: c.ecamBase, segment: 0, startBus: 0, endBus: c.endBus }]);
  return { sbTerms: [pci0], tables: [mcfg] };
}
