import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filePayloadCache } from './payload-cache.js';

const payload = (n: number): Uint8Array => new Uint8Array(64).fill(n);
const fileOf = (dir: string, n: number): string => join(dir, createHash('sha256').update(payload(n)).digest('hex'));

describe('filePayloadCache', () => {
  it('keeps a vmlinux per payload, the four written last', () => {
    const root = mkdtempSync(join(tmpdir(), 'tshv-payload-cache-'));
    const dir = join(root, 'vmlinux');
    try {
      const cache = filePayloadCache(dir);
      assert.equal(cache.get(payload(1)), undefined);
      const past = Date.now() / 1000 - 1000;
      for (let n = 1; n <= 6; n++) {
        cache.put(payload(n), new Uint8Array(1000).fill(n));
        utimesSync(fileOf(dir, n), past + n, past + n); // distinct write times, oldest first
      }
      assert.deepEqual(filePayloadCache(dir).get(payload(6)), new Uint8Array(1000).fill(6));
      assert.deepEqual(cache.get(payload(3)), new Uint8Array(1000).fill(3));
      assert.equal(cache.get(payload(2)), undefined);
      assert.deepEqual(readdirSync(dir).sort(), [3, 4, 5, 6].map((n) => fileOf(dir, n).slice(dir.length + 1)).sort());
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('writes nothing it cannot, and throws nothing', () => {
    const root = mkdtempSync(join(tmpdir(), 'tshv-payload-cache-'));
    try {
      writeFileSync(join(root, 'file'), '');
      const cache = filePayloadCache(join(root, 'file', 'vmlinux')); // a file where the directory would go
      cache.put(payload(1), new Uint8Array(8));
      assert.equal(cache.get(payload(1)), undefined);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
