// The persisted shape of the CMOS RTC (shared/STYLE.md habit 2): plain JSON data, versioned.

import { TshvError } from '../../../common/errors.js';
import type { RtcTimeFields } from './calendar.js';

export interface RtcState {
  version: 1;
  /** Index register (port 0x70 bits 0-6). */
  index: number;
  /** Port 0x70 bit 7: NMI disabled. */
  nmiDisabled: boolean;
  /** The 128 bytes of CMOS RAM (time registers 0-9, 0x32 and registers A-D are kept separately). */
  ram: number[];
  regA: number;
  regB: number;
  regC: number;
  /** Wall-clock time the RTC shows at the moment of saving, ms since the Unix epoch. */
  timeMs: number;
  /** The divider chain was held in reset (register A DV != 010): time stood still. */
  halted: boolean;
  /** Time fields being written while register B SET was 1, else null. */
  setFields: RtcTimeFields | null;
}

export function checkRtcState(state: RtcState): void {
  if (state.version !== 1) {
    throw new TshvError(`Cannot restore RTC state: version ${String(state.version)} is not supported (expected 1)`);
  }
  if (state.ram.length !== 128) {
    throw new TshvError(`Cannot restore RTC state: CMOS RAM has ${state.ram.length} bytes, expected 128`);
  }
}
