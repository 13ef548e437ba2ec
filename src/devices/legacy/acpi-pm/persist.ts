// The persisted shape of the ACPI fixed-hardware block (shared/STYLE.md habit 2).

import { TshvError } from '../../../common/errors.js';

export interface AcpiPmState {
  version: 1;
  /** PM1_STS without the lazily computed TMR_STS. */
  pm1Sts: number;
  pm1En: number;
  pm1Cnt: number;
  gpeSts: number;
  gpeEn: number;
  /** Unwrapped PM timer tick count at the moment of saving (the timer continues from it). */
  timerTicks: number;
  /** floor(ticks / 2^23) when TMR_STS was last cleared. */
  tmrAckPeriod: number;
}

export function checkAcpiPmState(state: AcpiPmState): void {
  if (state.version !== 1) {
    throw new TshvError(`Cannot restore ACPI PM state: version ${String(state.version)} is not supported (expected 1)`);
  }
}
