// ACPI table builders (ACPI 6.x §5.2 "ACPI System Description Tables"): each returns the table's
// bytes with its header and checksum filled in. Addresses of the other tables are parameters;
// acpi.ts decides where everything goes.

import {
  ACPI_GPE0, ACPI_GPE0_LEN, ACPI_PM1A_CNT, ACPI_PM1A_EVT, ACPI_PM_TMR, ACPI_SCI_IRQ, IOAPIC_BASE, LAPIC_BASE,
  RESET_PORT, RESET_VALUE,
} from '../layout.js';

export const OEM_ID = 'TSHV  ';
export const CREATOR_ID = 'TSHV';
const OEM_REVISION = 1;
const CREATOR_REVISION = 1;
/** System description table header (§5.2.6, Table 5.4). */
export const TABLE_HEADER_BYTES = 36;

/** Sum of all bytes mod 256. */
export function byteSum(b: Uint8Array, start = 0, end = b.byteLength): number {
  let s = 0;
  for (let i = start; i < end; i++) s = (s + b[i]!) & 0xff;
  return s;
}

function ascii(out: Uint8Array, off: number, s: string, len: number): void {
  for (let i = 0; i < len; i++) out[off + i] = i < s.length ? s.charCodeAt(i) : 0x20;
}

/**
 * A whole table: header (signature, length, revision, checksum, OEM fields) + body. The OEM table
 * ID is "TSHV" + the signature, so every table is told apart in dumps.
 */
export function acpiTable(signature: string, revision: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(TABLE_HEADER_BYTES + body.byteLength);
  const v = new DataView(out.buffer);
  ascii(out, 0, signature, 4);
  v.setUint32(4, out.byteLength, true);
  out[8] = revision;
  ascii(out, 10, OEM_ID, 6);
  ascii(out, 16, `TSHV${signature}`, 8);
  v.setUint32(24, OEM_REVISION, true);
  ascii(out, 28, CREATOR_ID, 4);
  v.setUint32(32, CREATOR_REVISION, true);
  out.set(body, TABLE_HEADER_BYTES);
  out[9] = (0x100 - byteSum(out)) & 0xff;
  return out;
}

/** RSDP revision 2 (§5.2.5.3): 36 bytes, checksum over the first 20, extended checksum over all. */
export const RSDP_BYTES = 36;
export function buildRsdp(rsdtAddress: number, xsdtAddress: number): Uint8Array {
  const out = new Uint8Array(RSDP_BYTES);
  const v = new DataView(out.buffer);
  ascii(out, 0, 'RSD PTR ', 8);
  ascii(out, 9, OEM_ID, 6);
  out[15] = 2; // revision: ACPI 2.0+ (XSDT present)
  v.setUint32(16, rsdtAddress, true);
  v.setUint32(20, RSDP_BYTES, true);
  v.setBigUint64(24, BigInt(xsdtAddress), true);
  out[8] = (0x100 - byteSum(out, 0, 20)) & 0xff;
  out[32] = (0x100 - byteSum(out)) & 0xff;
  return out;
}

/** XSDT (§5.2.8): 64-bit pointers to the other tables (not the DSDT and FACS, which the FADT holds). */
export function buildXsdt(entries: readonly number[]): Uint8Array {
  const body = new Uint8Array(entries.length * 8);
  const v = new DataView(body.buffer);
  entries.forEach((a, i) => v.setBigUint64(i * 8, BigInt(a), true));
  return acpiTable('XSDT', 1, body);
}

/** RSDT (§5.2.7): the same list with 32-bit pointers, for OSes that ignore the XSDT. */
export function buildRsdt(entries: readonly number[]): Uint8Array {
  const body = new Uint8Array(entries.length * 4);
  const v = new DataView(body.buffer);
  entries.forEach((a, i) => v.setUint32(i * 4, a, true));
  return acpiTable('RSDT', 1, body);
}

/** FACS (§5.2.10): 64 bytes, 64-byte aligned, no checksum. */
export const FACS_BYTES = 64;
export function buildFacs(): Uint8Array {
  const out = new Uint8Array(FACS_BYTES);
  ascii(out, 0, 'FACS', 4);
  new DataView(out.buffer).setUint32(4, FACS_BYTES, true);
  out[32] = 2; // version
  return out;
}

// Generic Address Structure (§5.2.3.2).
const GAS_SYSTEM_IO = 1;
const GAS_ACCESS_BYTE = 1;
const GAS_ACCESS_WORD = 2;
const GAS_ACCESS_DWORD = 3;
function writeGas(v: DataView, off: number, space: number, bitWidth: number, accessSize: number, address: number): void {
  v.setUint8(off, space);
  v.setUint8(off + 1, bitWidth);
  v.setUint8(off + 2, 0); // bit offset
  v.setUint8(off + 3, accessSize);
  v.setBigUint64(off + 4, BigInt(address), true);
}

// FADT Flags (§5.2.9, Table 5.10).
export const FADT_WBINVD = 1 << 0;
export const FADT_PROC_C1 = 1 << 2;
export const FADT_PWR_BUTTON = 1 << 4;
export const FADT_SLP_BUTTON = 1 << 5;
export const FADT_TMR_VAL_EXT = 1 << 8;
export const FADT_RESET_REG_SUP = 1 << 10;
// IA-PC boot architecture flags (§5.2.9.3, Table 5.11).
export const IAPC_LEGACY_DEVICES = 1 << 0;
export const IAPC_8042 = 1 << 1;

// FADT field offsets (§5.2.9, Table 5.9, revision 6).
const FADT_FIRMWARE_CTRL = 36;
const FADT_DSDT = 40;
const FADT_SCI_INT = 46;
const FADT_SMI_CMD = 48;
const FADT_PM1A_EVT_BLK = 56;
const FADT_PM1A_CNT_BLK = 64;
const FADT_PM_TMR_BLK = 76;
const FADT_GPE0_BLK = 80;
const FADT_PM1_EVT_LEN = 88;
const FADT_PM1_CNT_LEN = 89;
const FADT_PM_TMR_LEN = 91;
const FADT_GPE0_BLK_LEN = 92;
const FADT_P_LVL2_LAT = 96;
const FADT_P_LVL3_LAT = 98;
const FADT_IAPC_BOOT_ARCH = 109;
const FADT_FLAGS = 112;
const FADT_RESET_REG = 116;
const FADT_RESET_VALUE = 128;
const FADT_MINOR_VERSION = 131;
const FADT_X_FIRMWARE_CTRL = 132;
const FADT_X_DSDT = 140;
const FADT_X_PM1A_EVT_BLK = 148;
const FADT_X_PM1A_CNT_BLK = 172;
const FADT_X_PM_TMR_BLK = 208;
const FADT_X_GPE0_BLK = 220;
const FADT_HYPERVISOR_VENDOR = 268;
export const FADT_BYTES = 276;
const FADT_REVISION = 6;
const FADT_MINOR = 0;

const PM1_EVT_LEN = 4;
const PM1_CNT_LEN = 2;
const PM_TMR_LEN = 4;
/** P_LVL2_LAT > 100 and P_LVL3_LAT > 1000 say C2 and C3 are not supported (Table 5.9). */
const C2_UNSUPPORTED_US = 101;
const C3_UNSUPPORTED_US = 1001;

export interface FadtConfig {
  facsAddress: number;
  dsdtAddress: number;
  /** The PM timer counts 32 bits (TMR_VAL_EXT) rather than 24. */
  pmTimer32Bit: boolean;
}

/**
 * FADT (§5.2.9): fixed hardware at the ports of layout.ts in both the legacy and the X_ (GAS)
 * fields, SCI on ACPI_SCI_IRQ, SMI_CMD = 0 (no SMM: the machine is always in ACPI mode, §4.8.2.1),
 * fixed-feature power button, no sleep button, reset through RESET_PORT.
 */
export function buildFadt(c: FadtConfig): Uint8Array {
  const body = new Uint8Array(FADT_BYTES - TABLE_HEADER_BYTES);
  const v = new DataView(body.buffer);
  const at = (off: number): number => off - TABLE_HEADER_BYTES;
  // FIRMWARE_CTRL must be 0 when X_FIRMWARE_CTRL is set (Table 5.9).
  v.setUint32(at(FADT_FIRMWARE_CTRL), 0, true);
  v.setUint32(at(FADT_DSDT), c.dsdtAddress, true);
  v.setUint16(at(FADT_SCI_INT), ACPI_SCI_IRQ, true);
  v.setUint32(at(FADT_SMI_CMD), 0, true);
  v.setUint32(at(FADT_PM1A_EVT_BLK), ACPI_PM1A_EVT, true);
  v.setUint32(at(FADT_PM1A_CNT_BLK), ACPI_PM1A_CNT, true);
  v.setUint32(at(FADT_PM_TMR_BLK), ACPI_PM_TMR, true);
  v.setUint32(at(FADT_GPE0_BLK), ACPI_GPE0, true);
  v.setUint8(at(FADT_PM1_EVT_LEN), PM1_EVT_LEN);
  v.setUint8(at(FADT_PM1_CNT_LEN), PM1_CNT_LEN);
  v.setUint8(at(FADT_PM_TMR_LEN), PM_TMR_LEN);
  v.setUint8(at(FADT_GPE0_BLK_LEN), ACPI_GPE0_LEN);
  v.setUint16(at(FADT_P_LVL2_LAT), C2_UNSUPPORTED_US, true);
  v.setUint16(at(FADT_P_LVL3_LAT), C3_UNSUPPORTED_US, true);
  v.setUint16(at(FADT_IAPC_BOOT_ARCH), IAPC_LEGACY_DEVICES | IAPC_8042, true);
  const flags = FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_RESET_REG_SUP |
    (c.pmTimer32Bit ? FADT_TMR_VAL_EXT : 0);
  v.setUint32(at(FADT_FLAGS), flags, true);
  writeGas(v, at(FADT_RESET_REG), GAS_SYSTEM_IO, 8, GAS_ACCESS_BYTE, RESET_PORT);
  v.setUint8(at(FADT_RESET_VALUE), RESET_VALUE);
  v.setUint8(at(FADT_MINOR_VERSION), FADT_MINOR);
  v.setBigUint64(at(FADT_X_FIRMWARE_CTRL), BigInt(c.facsAddress), true);
  v.setBigUint64(at(FADT_X_DSDT), BigInt(c.dsdtAddress), true);
  writeGas(v, at(FADT_X_PM1A_EVT_BLK), GAS_SYSTEM_IO, PM1_EVT_LEN * 8, GAS_ACCESS_WORD, ACPI_PM1A_EVT);
  writeGas(v, at(FADT_X_PM1A_CNT_BLK), GAS_SYSTEM_IO, PM1_CNT_LEN * 8, GAS_ACCESS_WORD, ACPI_PM1A_CNT);
  writeGas(v, at(FADT_X_PM_TMR_BLK), GAS_SYSTEM_IO, PM_TMR_LEN * 8, GAS_ACCESS_DWORD, ACPI_PM_TMR);
  writeGas(v, at(FADT_X_GPE0_BLK), GAS_SYSTEM_IO, ACPI_GPE0_LEN * 8, GAS_ACCESS_BYTE, ACPI_GPE0);
  ascii(body, at(FADT_HYPERVISOR_VENDOR), 'TSHV', 8);
  return acpiTable('FACP', FADT_REVISION, body);
}

// MADT (§5.2.12) interrupt controller structure types and flags.
const MADT_LOCAL_APIC = 0;
const MADT_IO_APIC = 1;
const MADT_INTERRUPT_OVERRIDE = 2;
const MADT_LOCAL_APIC_NMI = 4;
const MADT_LOCAL_X2APIC = 9;
const MADT_LOCAL_X2APIC_NMI = 10;
const MADT_PCAT_COMPAT = 1;
const MADT_LAPIC_ENABLED = 1;
const MADT_REVISION = 5;
// MPS INTI flags (Table 5.26): polarity bits 0..1 (1 active high, 3 active low), trigger bits 2..3 (1 edge, 3 level).
export const MPS_INTI_POLARITY_HIGH = 1;
export const MPS_INTI_TRIGGER_EDGE = 1 << 2;
export const MPS_INTI_TRIGGER_LEVEL = 3 << 2;
/** xAPIC IDs stop at 254 (255 is the broadcast ID): CPUs past that are described as x2APICs. */
const MAX_XAPIC_ID = 254;
const ISA_BUS = 0;
const PIT_GSI = 2;
const ALL_PROCESSORS_UID = 0xff;
const ALL_PROCESSORS_X2_UID = 0xffff_ffff;
const LINT1 = 1;

export interface MadtConfig {
  cpuCount: number;
  ioapicId: number;
}

/**
 * MADT: a local APIC per vCPU (APIC ID = ACPI processor UID = vCPU index), the IOAPIC with GSI base
 * 0, the ISA overrides (the PIT's IRQ0 arrives on pin 2; the SCI is level-triggered active-high,
 * §5.2.12.5) and NMI on LINT1 of every processor.
 */
export function buildMadt(c: MadtConfig): Uint8Array {
  const parts: number[] = [];
  const u8 = (n: number): void => { parts.push(n & 0xff); };
  const u16 = (n: number): void => { u8(n); u8(n >>> 8); };
  const u32 = (n: number): void => { u16(n & 0xffff); u16(n >>> 16); };
  u32(LAPIC_BASE);
  u32(MADT_PCAT_COMPAT);
  for (let i = 0; i < c.cpuCount; i++) {
    if (i <= MAX_XAPIC_ID) {
      u8(MADT_LOCAL_APIC); u8(8); u8(i); u8(i); u32(MADT_LAPIC_ENABLED);
    } else {
      u8(MADT_LOCAL_X2APIC); u8(16); u16(0); u32(i); u32(MADT_LAPIC_ENABLED); u32(i);
    }
  }
  u8(MADT_IO_APIC); u8(12); u8(c.ioapicId); u8(0); u32(IOAPIC_BASE); u32(0);
  u8(MADT_INTERRUPT_OVERRIDE); u8(10); u8(ISA_BUS); u8(0); u32(PIT_GSI);
  u16(MPS_INTI_POLARITY_HIGH | MPS_INTI_TRIGGER_EDGE);
  u8(MADT_INTERRUPT_OVERRIDE); u8(10); u8(ISA_BUS); u8(ACPI_SCI_IRQ); u32(ACPI_SCI_IRQ);
  u16(MPS_INTI_POLARITY_HIGH | MPS_INTI_TRIGGER_LEVEL);
  u8(MADT_LOCAL_APIC_NMI); u8(6); u8(ALL_PROCESSORS_UID); u16(0); u8(LINT1);
  if (c.cpuCount > MAX_XAPIC_ID + 1) {
    u8(MADT_LOCAL_X2APIC_NMI); u8(12); u16(0); u32(ALL_PROCESSORS_X2_UID); u8(LINT1); u8(0); u16(0);
  }
  return acpiTable('APIC', MADT_REVISION, Uint8Array.from(parts));
}

export interface McfgAllocation {
  baseAddress: number;
  segment: number;
  startBus: number;
  endBus: number;
}

/** MCFG (PCI Firmware Specification 3.0 §4.1.2): 8 reserved bytes, then 16 bytes per ECAM region. */
export function buildMcfg(allocations: readonly McfgAllocation[]): Uint8Array {
  const body = new Uint8Array(8 + allocations.length * 16);
  const v = new DataView(body.buffer);
  allocations.forEach((a, i) => {
    const off = 8 + i * 16;
    v.setBigUint64(off, BigInt(a.baseAddress), true);
    v.setUint16(off + 8, a.segment, true);
    v.setUint8(off + 10, a.startBus);
    v.setUint8(off + 11, a.endBus);
  });
  return acpiTable('MCFG', 1, body);
}
