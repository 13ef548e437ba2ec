// Decompressed kernel payloads kept between boots, under $TSHV_HOME/cache/vmlinux/, one file per
// payload named by its SHA-256 (a changed kernel has another name; nothing goes stale). The cache
// is an optimisation only: any error reading or writing it is ignored and the loader decompresses
// as before. It keeps the few most recently written files (a vmlinux is tens of MiB).

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PayloadCache } from '../arch/x86/boot/payload.js';
import { tshvHome } from '../guest/build.js';

/** Files kept; older ones are removed when a new one is written. */
const KEEP_FILES = 4;

function keyOf(payload: Uint8Array): string {
  return createHash('sha256').update(payload).digest('hex');
}

/** The cache in `dir` (default $TSHV_HOME/cache/vmlinux). */
export function filePayloadCache(dir: string = join(tshvHome(), 'cache', 'vmlinux')): PayloadCache {
  let key: string | undefined;
  let keyFor: Uint8Array | undefined;
  // get() and put() of one boot hash the same payload: once.
  const keyOnce = (payload: Uint8Array): string => {
    if (keyFor !== payload || key === undefined) { key = keyOf(payload); keyFor = payload; }
    return key;
  };
  return {
    get(payload) {
      try {
        const b = readFileSync(join(dir, keyOnce(payload)));
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch {
        return undefined;
      }
    },
    put(payload, vmlinux) {
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const file = join(dir, keyOnce(payload));
        const tmp = `${file}.${process.pid}.tmp`;
        writeFileSync(tmp, vmlinux, { mode: 0o600 });
        renameSync(tmp, file); // whole or absent, also with several VMMs booting at once
        const kept = readdirSync(dir).filter((f) => /^[0-9a-f]{64}$/.test(f))
          .map((f) => ({ f, mtimeMs: statSync(join(dir, f)).mtimeMs })).sort((a, b) => b.mtimeMs - a.mtimeMs);
        for (const { f } of kept.slice(KEEP_FILES)) unlinkSync(join(dir, f));
      } catch {
        // best effort (a read-only or full data directory)
      }
    },
  };
}
