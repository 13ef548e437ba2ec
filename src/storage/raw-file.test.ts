import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawFileDisk, WRITE_BEHIND_BYTES } from './raw-file.js';
import { DiskError, HostIoVec, IOV_MAX } from './disk-backend.js';
import { addressOf } from '../sys/libc.js';

function withImage(bytes: number, fn: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-raw-'));
  try {
    const path = join(dir, 'disk.img');
    const data = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i++) data[i] = (i * 7 + 3) & 0xff;
    writeFileSync(path, data);
    fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('raw file: read, write, flush, size', () => {
  withImage(1 << 20, (path) => {
    const d = RawFileDisk.open(path);
    assert.equal(d.sizeBytes, 1 << 20);
    const buf = new Uint8Array(4);
    d.read(10, buf);
    assert.deepEqual([...buf], [73, 80, 87, 94]);
    d.write(512, Uint8Array.from([1, 2, 3]));
    d.flush();
    d.close();
    assert.deepEqual([...readFileSync(path).subarray(512, 515)], [1, 2, 3]);
  });
});

test('raw file: out-of-range and read-only accesses fail with DiskError', () => {
  withImage(4096, (path) => {
    const d = RawFileDisk.open(path, { readOnly: true });
    assert.throws(() => d.read(4000, new Uint8Array(200)), DiskError);
    assert.throws(() => d.write(0, new Uint8Array(1)), DiskError);
    assert.throws(() => d.discard(0, 512), DiskError);
    d.close();
  });
});

test('raw file: discard and write-zeroes read back as zeroes and punch holes', () => {
  withImage(1 << 20, (path) => {
    const d = RawFileDisk.open(path);
    const before = statSync(path).blocks;
    d.discard(0, 512 * 1024);
    d.writeZeroes(512 * 1024, 4096, false);
    const buf = new Uint8Array(512 * 1024 + 4096);
    d.read(0, buf);
    assert.ok(buf.every((b) => b === 0));
    d.close();
    assert.equal(statSync(path).size, 1 << 20);
    // Most file systems (ext4, xfs, tmpfs, btrfs) punch the hole; fallback writes zeroes.
    assert.ok(statSync(path).blocks <= before);
  });
});

test('raw file: vectored reads and writes (and a file that shrank under a readv)', () => {
  withImage(64 * 1024, (path) => {
    const d = RawFileDisk.open(path);
    const parts = [Uint8Array.from([1, 2, 3]), new Uint8Array(0), Uint8Array.from([4, 5]), new Uint8Array(4096).fill(9)];
    d.writev(1000, parts, 4101);
    const a = new Uint8Array(4); const b = new Uint8Array(4097);
    d.readv(1000, [a, b], 4101);
    assert.deepEqual([...a, ...b.subarray(0, 2)], [1, 2, 3, 4, 5, 9]);
    assert.ok(b.subarray(1).every((x) => x === 9));
    assert.deepEqual([...readFileSync(path).subarray(1000, 1006)], [1, 2, 3, 4, 5, 9]);
    assert.throws(() => d.readv(64 * 1024 - 2, [new Uint8Array(4)], 4), DiskError);
    // More buffers than one preadv takes, then a file cut short: the tail reads as zeroes.
    const many = Array.from({ length: 1500 }, () => new Uint8Array(8));
    d.readv(0, many, 12000);
    assert.deepEqual([...many[1]!], [59, 66, 73, 80, 87, 94, 101, 108]);
    writeFileSync(path, new Uint8Array(100).fill(7));
    const x = new Uint8Array(50).fill(1); const y = new Uint8Array(100).fill(1);
    d.readv(60, [x, y], 150);
    assert.ok(x.subarray(0, 40).every((v) => v === 7) && x.subarray(40).every((v) => v === 0) && y.every((v) => v === 0));
    d.close();
  });
});

test('raw file: vectored transfers at host addresses (one preadv/pwritev), short at a shrunken end', () => {
  withImage(64 * 1024, (path) => {
    const d = RawFileDisk.open(path);
    // A buffer outside V8's heap (1 MiB), as guest RAM is.
    const ram = new Uint8Array(1 << 20);
    const base = addressOf(ram);
    const iov = new HostIoVec();
    ram.set([1, 2, 3], 100); ram.set([4, 5], 5000); ram.fill(9, 9000, 9000 + 4096);
    assert.ok(iov.add(base + 100, 3) && iov.add(base + 200, 0) && iov.add(base + 5000, 2) && iov.add(base + 9000, 4096));
    assert.equal(iov.totalBytes, 4101);
    assert.equal(d.writevHost(1000, iov), true);
    assert.deepEqual([...readFileSync(path).subarray(1000, 1006)], [1, 2, 3, 4, 5, 9]);
    iov.clear();
    iov.add(base + 20000, 4); iov.add(base + 30000, 4097);
    assert.equal(d.readvHost(1000, iov), true);
    assert.deepEqual([...ram.subarray(20000, 20004), ...ram.subarray(30000, 30002)], [1, 2, 3, 4, 5, 9]);
    // Out of range: a DiskError before any system call; a full vector takes no more.
    iov.clear(); iov.add(base, 4);
    assert.throws(() => d.readvHost(64 * 1024 - 2, iov), DiskError);
    for (let i = 1; i < IOV_MAX; i++) iov.add(base, 1);
    assert.equal(iov.add(base, 1), false);
    // The file cut short under us: the transfer comes out short and the caller takes the views' path.
    writeFileSync(path, new Uint8Array(100).fill(7));
    iov.clear(); iov.add(base + 40000, 150);
    assert.equal(d.readvHost(60, iov), false);
    const ro = RawFileDisk.open(path, { readOnly: true });
    assert.throws(() => ro.writevHost(0, iov), DiskError);
    ro.close();
    d.close();
  });
});

test('raw file: writeback starts every WRITE_BEHIND_BYTES written, counted from the last flush; the data is intact', () => {
  const mib = 1 << 20;
  const size = 2 * WRITE_BEHIND_BYTES + 4 * mib;
  withImage(size, (path) => {
    const d = RawFileDisk.open(path);
    const chunk = new Uint8Array(mib).fill(0x5a);
    // Less than the threshold, then a flush: no write-behind, and the count starts over.
    for (let off = 0; off < WRITE_BEHIND_BYTES - mib; off += mib) d.write(off, chunk);
    d.flush();
    for (let off = 0; off < WRITE_BEHIND_BYTES - mib; off += mib) d.writev(off, [chunk.subarray(0, mib / 2), chunk.subarray(mib / 2)], mib);
    assert.equal(d.writeBehinds, 0);
    // One more MiB reaches it (the writes since the flush); the next threshold's worth through
    // pwritev at host addresses starts a second.
    d.write(WRITE_BEHIND_BYTES - mib, chunk);
    assert.equal(d.writeBehinds, 1);
    const iov = new HostIoVec();
    iov.add(addressOf(chunk), mib);
    for (let off = WRITE_BEHIND_BYTES; off < 2 * WRITE_BEHIND_BYTES; off += mib) assert.equal(d.writevHost(off, iov), true);
    assert.equal(d.writeBehinds, 2);
    d.flush();
    d.close();
    const back = readFileSync(path);
    assert.equal(back.subarray(0, 2 * WRITE_BEHIND_BYTES).every((b) => b === 0x5a), true);
    assert.equal(back[2 * WRITE_BEHIND_BYTES], ((2 * WRITE_BEHIND_BYTES) * 7 + 3) & 0xff);
  });
});
