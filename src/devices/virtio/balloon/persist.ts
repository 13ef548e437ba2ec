// The persisted shape of virtio-balloon: the target, and which pages are in the balloon (as
// base64 of the page bitmap, so that restore knows what the guest gave away).
import { TshvError } from '../../../common/errors.js';

export interface BalloonState {
  version: 1;
  targetPages: number;
  actualPages: number;
  /** base64 bitmap, bit n = page n (4 KiB) is in the balloon. */
  inflated: string;
}

export function checkBalloonState(state: unknown): BalloonState {
  const s = state as Partial<BalloonState> | undefined;
  if (s?.version !== 1 || typeof s.targetPages !== 'number' || typeof s.actualPages !== 'number' || typeof s.inflated !== 'string') {
    throw new TshvError(`Cannot restore virtio-balloon state: version ${String(s?.version)} is not supported (expected 1)`);
  }
  return s as BalloonState;
}
