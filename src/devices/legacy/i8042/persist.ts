// The persisted shape of the i8042 (shared/STYLE.md habit 2).

import { TshvError } from '../../../common/errors.js';

export interface I8042State {
  version: 1;
  /** Controller command byte. */
  ctr: number;
  outputPort: number;
  /** Command awaiting its parameter byte, or 0. */
  pendingCommand: number;
  /** Status bit 3: the last byte written went to port 0x64. */
  lastWasCommand: boolean;
  /** Output buffer queue, head first: byte | 0x100 (from AUX) | 0x200 (timeout). */
  output: number[];
  lastData: number;
}

export function checkI8042State(state: I8042State): void {
  if (state.version !== 1) {
    throw new TshvError(`Cannot restore i8042 state: version ${String(state.version)} is not supported (expected 1)`);
  }
}
