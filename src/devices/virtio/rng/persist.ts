// The persisted shape of virtio-rng: nothing beyond its version (queues live in the transport).

import { TshvError } from '../../../common/errors.js';

export interface RngState {
  version: 1;
}

export function checkRngState(state: unknown): void {
  const s = state as Partial<RngState> | undefined;
  if (s?.version !== 1) throw new TshvError(`Cannot restore virtio-rng state: version ${String(s?.version)} is not supported (expected 1)`);
}
