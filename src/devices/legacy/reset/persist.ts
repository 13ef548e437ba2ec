// The persisted shape of the reset registers (shared/STYLE.md habit 2).

import { TshvError } from '../../../common/errors.js';

export interface ResetControlState {
  version: 1;
  /** 0xCF9 as last written (SYS_RST and FULL_RST bits). */
  rstCnt: number;
  /** Port 0x92 (A20 bit). */
  port92: number;
}

export function checkResetControlState(state: ResetControlState): void {
  if (state.version !== 1) {
    throw new TshvError(`Cannot restore reset-control state: version ${String(state.version)} is not supported (expected 1)`);
  }
}
