// The persisted shape of a virtio-blk device (shared/STYLE.md habit 2). Requests complete
// synchronously, so nothing is in flight at a snapshot: the queues' state lives in the
// transport; the device keeps only what identifies its disk, checked on restore.

import { TshvError } from '../../../common/errors.js';

export interface BlockState {
  version: 1;
  path: string;
  readOnly: boolean;
  capacitySectors: number;
  serial: string;
}

export function checkBlockState(state: unknown, current: BlockState): void {
  const s = state as Partial<BlockState> | undefined;
  if (s?.version !== 1) throw new TshvError(`Cannot restore virtio-blk state of ${current.path}: version ${String(s?.version)} is not supported (expected 1)`);
  if (s.capacitySectors !== current.capacitySectors || s.readOnly !== current.readOnly) {
    throw new TshvError(`Cannot restore virtio-blk state of ${current.path}: the disk differs from the snapshot's (${String(s.path)})`);
  }
}
