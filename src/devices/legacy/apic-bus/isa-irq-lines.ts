// ISA interrupt wiring of a PC with both a PIC and an IOAPIC: each ISA IRQ drives the 8259 input
// and an IOAPIC pin. IRQ 0 (the PIT) is on IOAPIC pin 2, the pin the MADT's interrupt source
// override announces (ACPI 6.x §5.2.12.5); the others go to the pin of the same number. ISA IRQ 2
// is the 8259 cascade and has no device.

import type { IrqLine } from '../../device.js';

export interface IrqInput {
  setIrq(irq: number, level: boolean): void;
}

/** The IOAPIC pin ISA IRQ `irq` arrives on. */
export function isaIrqToIoapicPin(irq: number): number {
  return irq === 0 ? 2 : irq;
}

export function isaIrqLines(pic: IrqInput, ioapic: IrqInput): IrqLine[] {
  const lines: IrqLine[] = [];
  for (let irq = 0; irq < 16; irq++) {
    if (irq === 2) {
      lines.push({ set: () => undefined });
      continue;
    }
    const pin = isaIrqToIoapicPin(irq);
    lines.push({
      set: (level: boolean) => {
        pic.setIrq(irq, level);
        ioapic.setIrq(pin, level);
      },
    });
  }
  return lines;
}
