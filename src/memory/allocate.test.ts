import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { allocateGuestMemory } from './allocate.js';

/** The VmFlags of the mapping that starts at `address` (proc(5): smaps). */
function vmFlags(address: bigint): string[] {
  const smaps = readFileSync('/proc/self/smaps', 'latin1').split('\n');
  const start = address.toString(16).padStart(8, '0');
  let inside = false;
  for (const line of smaps) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inside = line.startsWith(`${start}-`);
    else if (inside && line.startsWith('VmFlags:')) return line.slice(8).trim().split(/\s+/);
  }
  return [];
}

void test('guest RAM is a shared memfd mapping advised for huge pages, readable and writable', () => {
  const ram = allocateGuestMemory(4, 0xc0000000, 0x100000000);
  try {
    const flags = vmFlags(ram.mapping.address);
    assert.ok(flags.includes('sh'), `shared mapping: ${flags.join(' ')}`);
    assert.ok(flags.includes('hg'), `MADV_HUGEPAGE applied: ${flags.join(' ')}`);
    const bytes = new Uint8Array(ram.mapping.buffer);
    bytes[4 * 1024 * 1024 - 1] = 0xa5;
    assert.equal(bytes[4 * 1024 * 1024 - 1], 0xa5);
    assert.equal(bytes[0], 0); // lazily allocated pages read as zero
  } finally {
    ram.dispose();
  }
});
