// The persisted shape of the POST-code port (shared/STYLE.md habit 2). The debug console is stateless.

import { TshvError } from '../../../common/errors.js';

export interface DebugPortState {
  version: 1;
  lastCode: number;
}

export function checkDebugPortState(state: DebugPortState): void {
  if (state.version !== 1) {
    throw new TshvError(`Cannot restore POST-code port state: version ${String(state.version)} is not supported (expected 1)`);
  }
}
