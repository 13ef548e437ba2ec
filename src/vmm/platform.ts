// The device set every engine runs (issue 2's machine model): the 16550 UART on COM1, the CMOS RTC,
// the ACPI PM block, the i8042, the reset control ports and the POST code port, on one port bus
// and one MMIO bus. The engines add what they must: the soft engine its userspace PIC, PIT, IOAPIC
// and LAPICs; the KVM engine nothing (those live in the kernel). The devices get their interrupt
// lines, their clock and the power callbacks from the engine and know nothing of which one runs them.

import {
  ACPI_PM_BASE, ACPI_SCI_IRQ, COM1_IRQ, COM1_PORT, I8042_PORT, PCI_HOLE_START, RESET_PORT, RTC_IRQ, RTC_PORT,
} from '../arch/x86/layout.js';
import type { DeviceClock, IrqLine } from '../devices/device.js';
import { MmioBus, PioBus } from '../devices/bus.js';
import { Serial16550, UART_IO_LENGTH } from '../devices/legacy/serial/index.js';
import { CmosRtc, RTC_IO_LENGTH } from '../devices/legacy/rtc/index.js';
import { ACPI_PM_IO_LENGTH, AcpiPm } from '../devices/legacy/acpi-pm/index.js';
import { I8042 } from '../devices/legacy/i8042/index.js';
import { ResetControl } from '../devices/legacy/reset/index.js';
import { PostCodePort, POST_CODE_PORT } from '../devices/legacy/debug-port/index.js';

/** System control port A (fast A20 and reset), beside the i8042. */
const SYSTEM_CONTROL_PORT_A = 0x92;

export interface PlatformOptions {
  clock: DeviceClock;
  /** ISA IRQ lines 0..15, wired by the engine (PIC + IOAPIC, or KVM_IRQ_LINE). */
  isaIrqs: readonly IrqLine[];
  memSizeBytes: number;
  cpuCount: number;
  onSerialOutput(bytes: Uint8Array): void;
  onPowerOff(): void;
  onReset(): void;
}

export class Platform {
  readonly pio = new PioBus();
  readonly mmio = new MmioBus();
  readonly serial: Serial16550;
  readonly rtc: CmosRtc;
  readonly acpiPm: AcpiPm;
  readonly kbc: I8042;

  constructor(o: PlatformOptions) {
    const isa = (irq: number): IrqLine => {
      const line = o.isaIrqs[irq];
      if (line === undefined) throw new Error(`ISA IRQ ${irq} is not wired`);
      return line;
    };
    this.serial = new Serial16550({ irq: isa(COM1_IRQ), batchOutput: true, onTransmit: (bytes) => o.onSerialOutput(bytes) });
    this.pio.register(COM1_PORT, UART_IO_LENGTH, this.serial, 'com1');

    const below4g = Math.min(o.memSizeBytes, PCI_HOLE_START);
    this.rtc = new CmosRtc({
      irq: isa(RTC_IRQ), clock: o.clock, memBelow4GiBBytes: below4g,
      memAbove4GiBBytes: o.memSizeBytes - below4g, cpuCount: o.cpuCount,
    });
    this.pio.register(RTC_PORT, RTC_IO_LENGTH, this.rtc, 'rtc');

    this.acpiPm = new AcpiPm({ sci: isa(ACPI_SCI_IRQ), clock: o.clock, onPowerOff: () => o.onPowerOff() });
    this.pio.register(ACPI_PM_BASE, ACPI_PM_IO_LENGTH, this.acpiPm, 'acpi-pm');

    this.kbc = new I8042({ kbdIrq: isa(1), auxIrq: isa(12), onReset: () => o.onReset() });
    this.pio.register(I8042_PORT, 1, this.kbc.dataPort, 'i8042-data');
    this.pio.register(I8042_PORT + 4, 1, this.kbc.commandPort, 'i8042-command');
    const rc = new ResetControl({ onReset: () => o.onReset() });
    this.pio.register(RESET_PORT, 1, rc.resetControlPort, 'reset-control');
    this.pio.register(SYSTEM_CONTROL_PORT_A, 1, rc.systemControlPortA, 'port92');
    this.pio.register(POST_CODE_PORT, 1, new PostCodePort(), 'post-code');
  }

  dispose(): void {
    this.rtc.dispose();
    this.acpiPm.dispose();
  }
}
