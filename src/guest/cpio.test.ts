import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { CpioWriter, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, gzipArchive } from './cpio.js';
import { readCpio } from './cpio-reader.js';

function sample(): Buffer {
  const cpio = new CpioWriter();
  cpio.addDirectories('etc/init.d');
  cpio.addDirectory('dev', { mode: 0o700 });
  cpio.addCharDevice('dev/console', 5, 1);
  cpio.addFile('etc/init.d/rcS', '#!/bin/sh\necho hi\n', { mode: 0o755 });
  cpio.addFile('etc/odd', new Uint8Array([1, 2, 3, 4, 5])); // 5 bytes: data needs padding
  cpio.addFile('empty', new Uint8Array(0));
  cpio.addSymlink('init', '/bin/busybox');
  return cpio.finish();
}

void describe('CpioWriter', () => {
  void it('writes entries that read back with names, modes, data and device numbers', () => {
    const entries = readCpio(sample());
    assert.deepEqual(
      entries.map((e) => e.name),
      ['etc', 'etc/init.d', 'dev', 'dev/console', 'etc/init.d/rcS', 'etc/odd', 'empty', 'init'],
    );
    const byName = new Map(entries.map((e) => [e.name, e]));
    const dev = byName.get('dev');
    assert.equal(dev?.mode, S_IFDIR | 0o700);
    assert.equal(dev?.nlink, 2);
    const console_ = byName.get('dev/console');
    assert.equal((console_?.mode ?? 0) & S_IFMT, S_IFCHR);
    assert.equal(console_?.rdevMajor, 5);
    assert.equal(console_?.rdevMinor, 1);
    const rcS = byName.get('etc/init.d/rcS');
    assert.equal(rcS?.mode, S_IFREG | 0o755);
    assert.equal(rcS?.data.toString(), '#!/bin/sh\necho hi\n');
    assert.deepEqual([...(byName.get('etc/odd')?.data ?? [])], [1, 2, 3, 4, 5]);
    assert.equal(byName.get('empty')?.data.length, 0);
    const init = byName.get('init');
    assert.equal(init?.mode, S_IFLNK | 0o777);
    assert.equal(init?.data.toString(), '/bin/busybox');
    assert.equal(new Set(entries.map((e) => e.ino)).size, entries.length, 'inode numbers are unique');
  });

  void it('aligns every header to 4 bytes and ends with the trailer', () => {
    const archive = sample();
    assert.equal(archive.length % 4, 0);
    assert.equal(archive.toString('ascii', 0, 6), '070701');
    assert.ok(archive.includes(Buffer.from('TRAILER!!!\0')));
  });

  void it('is reproducible: the same entries give the same bytes', () => {
    assert.deepEqual(sample(), sample());
  });

  void it('rejects duplicates, missing parents, ".." and use after finish', () => {
    const cpio = new CpioWriter();
    cpio.addDirectory('a');
    assert.throws(() => cpio.addDirectory('a'), /already present/);
    assert.throws(() => cpio.addFile('b/c', 'x'), /parent directory/);
    assert.throws(() => cpio.addFile('a/../x', 'x'), /"\.\." is not allowed/);
    assert.throws(() => cpio.addFile('/', 'x'), /empty path/);
    cpio.addFile('/a/./f', 'x'); // stored as "a/f"
    assert.ok(cpio.has('a/f'));
    assert.throws(() => cpio.addFile('a//f', 'y'), /already present/);
    cpio.finish();
    assert.throws(() => cpio.addFile('z', 'x'), /finished/);
  });

  void it('gzips to something gunzip restores', () => {
    const archive = sample();
    const gz = gzipArchive(archive);
    assert.equal(gz[0], 0x1f);
    assert.equal(gz[1], 0x8b);
    assert.deepEqual(gunzipSync(gz), archive);
  });

  void it('is read by the system cpio (GNU cpio -t) when installed', (t) => {
    if (!existsSync('/usr/bin/cpio')) {
      t.skip('cpio not installed');
      return;
    }
    const listing = execFileSync('/usr/bin/cpio', ['-t', '--quiet'], { input: sample(), encoding: 'utf8' });
    assert.deepEqual(listing.trim().split('\n'), ['etc', 'etc/init.d', 'dev', 'dev/console', 'etc/init.d/rcS', 'etc/odd', 'empty', 'init']);
    // Extract it too: contents and symlink come back as written.
    const dir = mkdtempSync(join(tmpdir(), 'tshv-cpio-'));
    try {
      execFileSync('/usr/bin/cpio', ['-i', '--quiet', '--no-absolute-filenames', '--nonmatching', 'dev/console'], {
        input: sample(),
        cwd: dir,
      });
      assert.equal(execFileSync('cat', [join(dir, 'etc/init.d/rcS')], { encoding: 'utf8' }), '#!/bin/sh\necho hi\n');
      assert.equal(execFileSync('readlink', [join(dir, 'init')], { encoding: 'utf8' }).trim(), '/bin/busybox');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

void describe('readCpio', () => {
  void it('rejects bad magic and truncated archives', () => {
    assert.throws(() => readCpio(Buffer.from('hello world')), /truncated header/);
    const archive = sample();
    const bad = Buffer.from(archive);
    bad.write('123456', 0, 'ascii');
    assert.throws(() => readCpio(bad), /bad magic/);
    assert.throws(() => readCpio(archive.subarray(0, 200)), /truncated/);
  });
});
