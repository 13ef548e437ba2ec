// The persisted shape of virtio-console: window size and host input not yet delivered.
import { TshvError } from '../../../common/errors.js';

export interface ConsoleState {
  version: 1;
  cols: number;
  rows: number;
  /** base64 */
  pendingInput: string;
}

export function checkConsoleState(state: unknown): ConsoleState {
  const s = state as Partial<ConsoleState> | undefined;
  if (s?.version !== 1 || typeof s.cols !== 'number' || typeof s.rows !== 'number' || typeof s.pendingInput !== 'string') {
    throw new TshvError(`Cannot restore virtio-console state: version ${String(s?.version)} is not supported (expected 1)`);
  }
  return s as ConsoleState;
}
