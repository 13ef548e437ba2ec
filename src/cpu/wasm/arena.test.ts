// The wasm arena: guest RAM mapped over it is the same memory as the memfd's own mapping, ranges
// and slabs go back to the arena and come out zeroed, and a full arena says so instead of failing.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WasmArena, SlabOffset } from './arena.js';
import { MAP_SHARED, PROT_READ, PROT_WRITE, close, ftruncate, memfdCreate, mmap, munmap } from '../../sys/libc.js';

// A small arena (256 MiB of state + 64 MiB of RAM ranges) so that the test can fill it.
const PAGES = (256 + 64) * 16;
const STATE_BYTES = 256 * 1024 * 1024;

void test('a memfd mapped into the arena is coherent with its other mapping, and zero again after release', () => {
  const arena = new WasmArena(PAGES, STATE_BYTES);
  const bytes = 8 * 1024 * 1024;
  const fd = memfdCreate('tshv-arena-test');
  try {
    ftruncate(fd, bytes);
    const other = mmap(bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
    try {
      const theirs = new Uint8Array(other.buffer);
      theirs[0x1234] = 0x5a; // written before the arena maps it: must be kept
      const owner = {};
      const r = arena.allocRam(owner, bytes, fd);
      assert.ok(r !== null);
      const ours = arena.bytes(r.offset, bytes);
      assert.equal(ours[0x1234], 0x5a);
      ours[bytes - 1] = 7;
      assert.equal(theirs[bytes - 1], 7);
      r.release();
      assert.equal(ours[0x1234], 0, 'a released range is fresh zero pages');
      assert.equal(theirs[0x1234], 0x5a, 'releasing the range leaves the memfd alone');
      // The range is reused.
      const again = arena.allocRam({}, bytes);
      assert.equal(again?.offset, r.offset);
    } finally {
      munmap(other);
    }
  } finally {
    close(fd);
  }
});

void test('slabs come zeroed, are reused after release, and a full arena returns null', () => {
  const arena = new WasmArena(PAGES, STATE_BYTES);
  const owners: object[] = [];
  const first = arena.allocSlab({});
  assert.ok(first !== null);
  first.gpr[3] = 42;
  first.release();
  const second = arena.allocSlab({});
  assert.equal(second?.base, first.base);
  assert.equal(second.gpr[3], 0);
  assert.equal(second.gpr.byteOffset, second.base + SlabOffset.GPR);
  let n = 0;
  for (;;) {
    const owner = {};
    const s = arena.allocSlab(owner);
    if (s === null) break;
    owners.push(owner);
    n++;
  }
  assert.ok(n > 10, `${n} slabs fit`);
  assert.equal(arena.allocRam({}, 128 * 1024 * 1024), null, 'more RAM than the arena has');
});
