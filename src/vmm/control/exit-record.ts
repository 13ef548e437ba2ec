// The VMM's exit record (protocol.ts VmmExitRecord), written to `--exit-file PATH` just before the
// process exits, so that a supervisor that is not its parent learns why it ended. Atomic: the
// record goes to a temporary file in the same directory, which is then renamed over PATH, so a
// reader sees the whole record or none.

import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { TshvError, errorMessage } from '../../common/errors.js';
import type { VmmExitRecord } from './protocol.js';

/** Set once the record is written: a process exits once, so it has one record. */
let written = false;

/** Writes the record unless this process already wrote one; false when it had. */
export function writeExitRecord(path: string, record: VmmExitRecord): boolean {
  if (written) return false;
  written = true;
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, `${JSON.stringify(record)}\n`, { mode: 0o600 });
    renameSync(tmp, path);
    return true;
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new TshvError(`Cannot write the exit record "${path}": ${errorMessage(e)}`);
  }
}

/** The exit record for a run that failed with `e` (a TshvError carries its exit status). */
export function errorExitRecord(e: unknown): VmmExitRecord {
  const exitCode = e instanceof TshvError ? e.exitCode : 70;
  return { reason: 'error', exitCode, message: errorMessage(e), time: new Date().toISOString() };
}
