// `tshv run` end to end as a user sees it: a child process, its stdout, its stderr line, its exit
// status. Tiny kernels (vmm/testing/tiny-kernels.ts) keep these fast; Linux boots are in
// *.integration.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ECHO_KERNEL, POWEROFF_KERNEL, RESET_KERNEL, TRIPLE_FAULT_KERNEL, tinyKernel,
} from '../vmm/testing/tiny-kernels.js';

const TSHV = fileURLToPath(new URL('../bin/tshv.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tshv-run-test-'));
const file = (name: string, data: Uint8Array | string): string => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};

function tshv(args: string[], input = ''): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [TSHV, ...args], {
    input, encoding: 'utf8', timeout: 60_000, env: { ...process.env, TSHV_HOME: join(dir, 'home') },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The user-facing contract for every error: one line on stderr, no stack trace, non-zero exit. */
function assertCleanError(r: { status: number | null; stderr: string }, pattern: RegExp): void {
  assert.notEqual(r.status, 0, 'exit status must be non-zero');
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('tshv: soft engine') && !l.startsWith('tshv: KVM'));
  assert.equal(lines.length, 1, `one error line expected, got:\n${r.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

const poweroff = file('poweroff.bin', tinyKernel(POWEROFF_KERNEL));

test('a guest that powers off through ACPI ends tshv run with status 0', () => {
  const r = tshv(['run', '--kernel', poweroff, '--accel', 'soft']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'hello from tiny\n');
});

test('reset with --no-reboot exits 0 once', () => {
  const r = tshv(['run', '--kernel', file('reset.bin', tinyKernel(RESET_KERNEL)), '--accel', 'soft', '--no-reboot']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'rebooting\n');
});

test('piped input reaches the guest, none lost even when it arrives before the guest reads', () => {
  const r = tshv(['run', '--kernel', file('echo.bin', tinyKernel(ECHO_KERNEL)), '--accel', 'soft'], 'abcq');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '>a>b>c>q');
});

test('a triple fault is a one-line error', () => {
  const r = tshv(['run', '--kernel', file('tf.bin', tinyKernel(TRIPLE_FAULT_KERNEL)), '--accel', 'soft']);
  assertCleanError(r, /^tshv: Triple fault on vCPU 0 at RIP 0x[0-9a-f]{16}$/);
});

test('a missing kernel is a one-line error', () => {
  assertCleanError(tshv(['run', '--kernel', join(dir, 'nope')]), /Cannot read kernel ".*nope": no such file/);
});

test('an unreadable initrd is a one-line error', (t) => {
  if (process.getuid?.() === 0) {
    t.skip('root reads any file');
    return;
  }
  const p = file('secret.img', 'x');
  chmodSync(p, 0);
  assertCleanError(tshv(['run', '--kernel', poweroff, '--initrd', p]), /Cannot read initrd .*permission denied/);
});

test('a directory as initrd is a one-line error', () => {
  assertCleanError(tshv(['run', '--kernel', poweroff, '--initrd', dir]), /Cannot read initrd .*not a regular file/);
});

test('a file that is not a kernel is a one-line error', () => {
  const r = tshv(['run', '--kernel', file('text.txt', 'hello, not a kernel\n'.repeat(100)), '--accel', 'soft']);
  assertCleanError(r, /not a Linux bzImage|not a kernel/i);
});

test('memory too small for kernel and initrd is a one-line error', () => {
  const initrd = file('big-initrd.img', new Uint8Array(20 * 1024 * 1024));
  const r = tshv(['run', '--kernel', poweroff, '--initrd', initrd, '--memory', '16', '--accel', 'soft']);
  assertCleanError(r, /Memory too small/);
});

test('memory beyond the host is a one-line error', () => {
  assertCleanError(tshv(['run', '--kernel', poweroff, '--memory', '99999999']), /Invalid --memory .*the host has only/);
});

for (const cpus of ['0', '33', 'two', '-1']) {
  test(`--cpus ${cpus} is a one-line error`, () => {
    assertCleanError(tshv(['run', '--kernel', poweroff, `--cpus=${cpus}`]), /Invalid --cpus/);
  });
}

test('an unknown option is a one-line error with usage status 2', () => {
  const r = tshv(['run', '--frobnicate']);
  assertCleanError(r, /Unknown option '--frobnicate'/);
  assert.equal(r.status, 2);
});

test('an unknown --accel is a one-line error', () => {
  assertCleanError(tshv(['run', '--kernel', poweroff, '--accel', 'warp']), /Invalid --accel "warp"/);
});

test('an unknown command is a one-line error', () => {
  assertCleanError(tshv(['fly']), /Unknown command "fly"/);
});

test('a missing disk image is a one-line error', () => {
  assertCleanError(tshv(['run', '--kernel', poweroff, '--disk', join(dir, 'nodisk.img')]), /Cannot attach disk ".*nodisk.img": no such file/);
});

test('a malformed --disk is a one-line error', () => {
  assertCleanError(tshv(['run', '--kernel', poweroff, '--disk', ',ro']), /Cannot parse --disk/);
});

test('a guest with a disk attached still powers off cleanly', () => {
  const disk = file('disk.img', new Uint8Array(1024 * 1024));
  const r = tshv(['run', '--kernel', poweroff, '--accel', 'soft', '--disk', `${disk},serial=abc`]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'hello from tiny\n');
});

test('an unimplemented instruction is a one-line error naming the opcode bytes and the guest RIP', () => {
  // GETSEC (0F 37, SMX): an instruction the engine does not implement (SMX is never announced).
  const r = tshv(['run', '--kernel', file('getsec.bin', tinyKernel([0x0f, 0x37])), '--accel', 'soft']);
  assertCleanError(r, /^tshv: Unimplemented instruction 0f 37 at RIP 0x0000000001000200/);
});
