// The BIOS-style memory map handed to Linux in boot_params.e820_table (struct boot_e820_entry,
// arch/x86/include/uapi/asm/bootparam.h; types from the ACPI spec §15 "System Address Map Interfaces").

import {
  EBDA_START, HIMEM_START, PCI_ECAM_SIZE, PCI_ECAM_START, PCI_HOLE_END, PCI_HOLE_START,
} from '../layout.js';

/** Address range types (ACPI 6.x Table 15.1; E820_TYPE_* in arch/x86/include/asm/e820/types.h). */
export const E820_TYPE_RAM = 1;
export const E820_TYPE_RESERVED = 2;
export const E820_TYPE_ACPI = 3;
export const E820_TYPE_NVS = 4;
export const E820_TYPE_UNUSABLE = 5;

/** boot_params holds at most this many entries (E820_MAX_ENTRIES_ZEROPAGE). */
export const E820_MAX_ENTRIES_ZEROPAGE = 128;
/** sizeof(struct boot_e820_entry): addr u64, size u64, type u32, packed. */
export const E820_ENTRY_BYTES = 20;

export interface E820Entry {
  addr: number;
  sizeBytes: number;
  type: number;
}

/**
 * The map for `memSizeBytes` of RAM laid out as GuestMemory.layout does: RAM below the EBDA,
 * the EBDA/VGA/BIOS area reserved (our ACPI tables live there), RAM from 1 MiB up to the PCI hole,
 * the rest of RAM from 4 GiB. The ECAM window is reserved so that Linux trusts the MCFG table
 * (pci_mmcfg_reserved() wants it E820-reserved).
 */
export function buildE820Map(memSizeBytes: number): E820Entry[] {
  const map: E820Entry[] = [
    { addr: 0, sizeBytes: EBDA_START, type: E820_TYPE_RAM },
    { addr: EBDA_START, sizeBytes: HIMEM_START - EBDA_START, type: E820_TYPE_RESERVED },
  ];
  const lowEnd = Math.min(memSizeBytes, PCI_HOLE_START);
  if (lowEnd > HIMEM_START) map.push({ addr: HIMEM_START, sizeBytes: lowEnd - HIMEM_START, type: E820_TYPE_RAM });
  map.push({ addr: PCI_ECAM_START, sizeBytes: PCI_ECAM_SIZE, type: E820_TYPE_RESERVED });
  if (memSizeBytes > PCI_HOLE_START) {
    map.push({ addr: PCI_HOLE_END, sizeBytes: memSizeBytes - PCI_HOLE_START, type: E820_TYPE_RAM });
  }
  return map;
}

/** Encodes entries as the packed boot_e820_entry array. */
export function encodeE820(entries: readonly E820Entry[]): Uint8Array {
  const out = new Uint8Array(entries.length * E820_ENTRY_BYTES);
  const view = new DataView(out.buffer);
  entries.forEach((e, i) => {
    const off = i * E820_ENTRY_BYTES;
    view.setBigUint64(off, BigInt(e.addr), true);
    view.setBigUint64(off + 8, BigInt(e.sizeBytes), true);
    view.setUint32(off + 16, e.type, true);
  });
  return out;
}
