// The DSDT (ACPI 6.x §5.2.11.1): the \_S5 sleep package for power-off, and under \_SB the legacy
// devices Linux should find through ACPI (PNP) rather than by probing: COM1, the RTC, the i8042,
// and one processor device per vCPU. PCI0 (issue 4) comes in through `extraSbTerms`.

import { COM1_IRQ, COM1_PORT, I8042_PORT, RTC_IRQ, RTC_PORT, ACPI_S5_SLP_TYP } from '../layout.js';
import { concat, device, eisaId, integer, name, packageOf, scope, string } from './aml.js';
import { io, irqNoFlags, resourceTemplate } from './aml-resources.js';
import { acpiTable } from './tables.js';

/** DSDT revision 2: integers are 64 bits wide (§5.2.11.1). */
const DSDT_REVISION = 2;
const I8042_IRQ_KBD = 1;
const I8042_COMMAND_PORT = 0x64;
const COM_PORT_BYTES = 8;
const RTC_PORT_BYTES = 2;
/** Processor device names are C + 3 hex digits (C000..CFFF). */
const MAX_PROCESSOR_DEVICES = 0x1000;

export interface DsdtConfig {
  cpuCount: number;
  /** Describe the PS/2 controller (PNP0303) so Linux's i8042 driver finds it through PNP. */
  i8042: boolean;
  /** Extension point: encoded AML terms placed inside Scope(\_SB), e.g. Device(PCI0) (issue 4). */
  extraSbTerms: readonly Uint8Array[];
}

function com1(): Uint8Array {
  return device('COM1', [
    name('_HID', eisaId('PNP0501')),
    name('_UID', integer(1)),
    name('_CRS', resourceTemplate([io(COM1_PORT, COM1_PORT, 0, COM_PORT_BYTES), irqNoFlags([COM1_IRQ])])),
  ]);
}

function rtc(): Uint8Array {
  return device('RTC', [
    name('_HID', eisaId('PNP0B00')),
    name('_CRS', resourceTemplate([io(RTC_PORT, RTC_PORT, 0, RTC_PORT_BYTES), irqNoFlags([RTC_IRQ])])),
  ]);
}

function ps2Keyboard(): Uint8Array {
  return device('PS2K', [
    name('_HID', eisaId('PNP0303')),
    name('_CRS', resourceTemplate([
      io(I8042_PORT, I8042_PORT, 0, 1),
      io(I8042_COMMAND_PORT, I8042_COMMAND_PORT, 0, 1),
      irqNoFlags([I8042_IRQ_KBD]),
    ])),
  ]);
}

/** Processor devices (§8.4, "ACPI0007") whose _UID matches the MADT's ACPI processor UID. */
function processor(index: number): Uint8Array {
  return device(`C${index.toString(16).toUpperCase().padStart(3, '0')}`, [
    name('_HID', string('ACPI0007')),
    name('_UID', integer(index)),
  ]);
}

/** The DSDT's AML body (no table header), exported for tests. */
export function buildDsdtAml(c: DsdtConfig): Uint8Array[] {
  // \_S5: {SLP_TYPa, SLP_TYPb, reserved, reserved} (§7.4.2).
  const s5 = name('\\_S5', packageOf([
    integer(ACPI_S5_SLP_TYP), integer(ACPI_S5_SLP_TYP), integer(0), integer(0),
  ]));
  const sb: Uint8Array[] = [com1(), rtc()];
  if (c.i8042) sb.push(ps2Keyboard());
  for (let i = 0; i < Math.min(c.cpuCount, MAX_PROCESSOR_DEVICES); i++) sb.push(processor(i));
  sb.push(...c.extraSbTerms);
  return [s5, scope('\\_SB', sb)];
}

export function buildDsdt(c: DsdtConfig): Uint8Array {
  return acpiTable('DSDT', DSDT_REVISION, concat(buildDsdtAml(c)));
}
