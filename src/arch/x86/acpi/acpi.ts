// Builds the whole ACPI table set and places it in guest memory: the RSDP at RSDP_START (in the
// BIOS area Linux scans, §5.2.5.1) and the other tables from ACPI_TABLES_START, all inside the
// EBDA..1 MiB range the e820 map reserves.

import { TshvError } from '../../../common/errors.js';
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { ACPI_TABLES_END, ACPI_TABLES_START, RSDP_START } from '../layout.js';
import { buildDsdt } from './dsdt.js';
import { buildFacs, buildFadt, buildMadt, buildRsdp, buildRsdt, buildXsdt } from './tables.js';

export interface AcpiOptions {
  /** The PM timer at ACPI_PM_TMR counts 32 bits; default false (24-bit, the FADT says so). */
  pmTimer32Bit?: boolean;
  /** Describe the i8042 PS/2 controller in the DSDT; default true. */
  i8042?: boolean;
  /** IOAPIC ID in the MADT; default 0 (the IOAPIC's reset ID). */
  ioapicId?: number;
  /** Extension point: AML terms inside Scope(\_SB), e.g. Device(PCI0) with its _CRS (issue 4). */
  extraSbTerms?: readonly Uint8Array[];
  /** Extension point: finished tables (header and checksum done, e.g. buildMcfg()) for the XSDT. */
  extraTables?: readonly Uint8Array[];
}

export interface AcpiConfig extends AcpiOptions {
  cpuCount: number;
}

export interface AcpiBlob {
  /** Table signature ("RSD PTR " for the RSDP). */
  signature: string;
  address: number;
  bytes: Uint8Array;
}

export interface AcpiTables {
  rsdpAddress: number;
  /** Every blob to write, the RSDP first. */
  blobs: AcpiBlob[];
}

const TABLE_ALIGN = 8;
const FACS_ALIGN = 64;

/** Lays the tables out from ACPI_TABLES_START; throws when they overflow ACPI_TABLES_END. */
export function buildAcpiTables(config: AcpiConfig): AcpiTables {
  if (!Number.isInteger(config.cpuCount) || config.cpuCount < 1) {
    throw new TshvError(`Cannot build ACPI tables: invalid vCPU count ${config.cpuCount}`);
  }
  const blobs: AcpiBlob[] = [];
  let next = ACPI_TABLES_START;
  const place = (signature: string, bytes: Uint8Array, align = TABLE_ALIGN): number => {
    const address = Math.ceil(next / align) * align;
    if (address + bytes.byteLength > ACPI_TABLES_END) {
      throw new TshvError(
        `Cannot build ACPI tables: ${signature} does not fit below 0x${ACPI_TABLES_END.toString(16)} ` +
        `(${config.cpuCount} vCPUs)`);
    }
    blobs.push({ signature, address, bytes });
    next = address + bytes.byteLength;
    return address;
  };

  const facs = place('FACS', buildFacs(), FACS_ALIGN);
  const dsdt = place('DSDT', buildDsdt({
    cpuCount: config.cpuCount,
    i8042: config.i8042 ?? true,
    extraSbTerms: config.extraSbTerms ?? [],
  }));
  const fadt = place('FACP', buildFadt({ facsAddress: facs, dsdtAddress: dsdt, pmTimer32Bit: config.pmTimer32Bit ?? false }));
  const madt = place('APIC', buildMadt({ cpuCount: config.cpuCount, ioapicId: config.ioapicId ?? 0 }));
  const listed = [fadt, madt];
  for (const t of config.extraTables ?? []) {
    listed.push(place(new TextDecoder().decode(t.subarray(0, 4)), t));
  }
  const xsdt = place('XSDT', buildXsdt(listed));
  const rsdt = place('RSDT', buildRsdt(listed));
  blobs.unshift({ signature: 'RSD PTR ', address: RSDP_START, bytes: buildRsdp(rsdt, xsdt) });
  return { rsdpAddress: RSDP_START, blobs };
}

/** Builds the tables and writes them into guest memory; returns the RSDP address. */
export function writeAcpiTables(mem: GuestMemory, config: AcpiConfig): number {
  const tables = buildAcpiTables(config);
  // Clear the whole area first so that stale bytes never look like a second RSDP to a scan.
  mem.fill(RSDP_START, ACPI_TABLES_END - RSDP_START, 0);
  for (const b of tables.blobs) mem.write(b.address, b.bytes);
  return tables.rsdpAddress;
}
