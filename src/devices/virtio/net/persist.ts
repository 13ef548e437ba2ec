// The persisted shape of virtio-net: the MAC and link state (the TAP is reopened by name by the
// builder; queues live in the transport). A frame held for the guest at save time is dropped, as
// a real NIC may drop on migration.
import { TshvError } from '../../../common/errors.js';

export interface NetState {
  version: 1;
  mac: string;
  linkUp: boolean;
}

export function checkNetState(state: unknown): NetState {
  const s = state as Partial<NetState> | undefined;
  if (s?.version !== 1 || typeof s.mac !== 'string' || typeof s.linkUp !== 'boolean') {
    throw new TshvError(`Cannot restore virtio-net state: version ${String(s?.version)} is not supported (expected 1)`);
  }
  return s as NetState;
}
