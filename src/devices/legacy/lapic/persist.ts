// The persisted shape of one local APIC (shared/STYLE.md habit 2).

import type { ApicTimerState } from './timer.js';

export interface LocalApicState {
  version: 1;
  apicId: number;
  globalEnabled: boolean;
  tpr: number;
  ldr: number;
  dfr: number;
  svr: number;
  /** 256-bit registers as 8 dwords, lowest vectors first. */
  isr: number[];
  tmr: number[];
  irr: number[];
  esr: number;
  esrPending: number;
  icrLow: number;
  icrHigh: number;
  /** LVT timer, thermal, perf, LINT0, LINT1, error. */
  lvt: number[];
  lint0Level: boolean;
  lint1Level: boolean;
  timer: ApicTimerState;
  nmiPending: boolean;
  initPending: boolean;
  waitForSipi: boolean;
  sipiVector: number;
}
