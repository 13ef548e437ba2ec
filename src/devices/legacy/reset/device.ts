// The two chipset registers a PC guest uses to reset itself besides the keyboard controller:
// the Reset Control register at 0xCF9 (Intel PIIX/ICH family; our FADT's RESET_REG points at it,
// ACPI 6.5 §4.8.3.6) and System Control Port A at 0x92 ("fast reset" and the A20 gate, from the
// IBM PS/2). Each port is its own PioDevice, registered with length 1.
//
// 0xCF9 sits inside the PCI CONFIG_ADDRESS dword (0xCF8-0xCFB): PCI mechanism #1 only decodes
// dword accesses there, so the PCI host should claim 0xCF8 with length 1 (dword accesses start
// at 0xCF8, and our bus routes an access to the owner of its first port) and leave 0xCF9 to us.

import type { PioDevice, Persistable } from '../../device.js';
import { checkResetControlState, type ResetControlState } from './persist.js';

/** Reset Control register bits (Intel ICH datasheets, "RST_CNT—Reset Control Register"). */
export const RST_CNT_SYS_RST = 0x02; // hard (1) or soft (0) reset when RST_CPU fires
export const RST_CNT_RST_CPU = 0x04; // writing 1 resets
export const RST_CNT_FULL_RST = 0x08;
/** System Control Port A bits. */
export const PORT92_FAST_RESET = 0x01;
export const PORT92_A20 = 0x02;

export interface ResetControlConfig {
  /** The guest asked for a reset (the machine resets or, if so configured, exits). */
  onReset?: () => void;
}

export class ResetControl implements Persistable<ResetControlState> {
  private readonly onReset: (() => void) | undefined;
  private rstCnt = 0;
  private port92 = PORT92_A20;

  /** Port 0xCF9 (RESET_PORT). */
  readonly resetControlPort: PioDevice = {
    pioRead: () => this.rstCnt,
    pioWrite: (_offset, _size, value) => this.writeResetControl(value & 0xff),
  };
  /** Port 0x92. */
  readonly systemControlPortA: PioDevice = {
    pioRead: () => this.port92,
    pioWrite: (_offset, _size, value) => this.writePort92(value & 0xff),
  };

  constructor(config: ResetControlConfig = {}) {
    this.onReset = config.onReset;
  }

  reset(): void {
    this.rstCnt = 0;
    this.port92 = PORT92_A20;
  }

  /** Port 0x92 bit 1 as the guest last set it. */
  get a20Enabled(): boolean {
    return (this.port92 & PORT92_A20) !== 0;
  }

  writeResetControl(value: number): void {
    // Linux's reboot=pci writes 0x02 then 0x06; the FADT RESET_VALUE is 0x06: RST_CPU triggers.
    this.rstCnt = value & (RST_CNT_SYS_RST | RST_CNT_FULL_RST);
    if (value & RST_CNT_RST_CPU) this.onReset?.();
  }

  writePort92(value: number): void {
    const old = this.port92;
    this.port92 = value & (PORT92_A20 | PORT92_FAST_RESET);
    // Fast reset fires on the 0 → 1 transition of bit 0.
    if (value & PORT92_FAST_RESET && !(old & PORT92_FAST_RESET)) {
      this.port92 &= ~PORT92_FAST_RESET;
      this.onReset?.();
    }
  }

  save(): ResetControlState {
    return { version: 1, rstCnt: this.rstCnt, port92: this.port92 };
  }

  restore(state: ResetControlState): void {
    checkResetControlState(state);
    this.rstCnt = state.rstCnt & (RST_CNT_SYS_RST | RST_CNT_FULL_RST);
    this.port92 = state.port92 & (PORT92_A20 | PORT92_FAST_RESET);
  }
}
