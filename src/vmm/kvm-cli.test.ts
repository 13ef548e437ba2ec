// `tshv run --accel kvm|auto` as a user sees it: which engine, why (one line on stderr), the
// warning on a software KVM, clear one-line errors when KVM is missing, and our small guests
// booted through the CLI on KVM.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { probeKvm } from './accel.js';
import { assembleGuest, binutilsMissing, guestBzImage } from './testing/asm-guests.js';
import { POWEROFF_KERNEL, tinyKernel } from './testing/tiny-kernels.js';

const TSHV = fileURLToPath(new URL('../bin/tshv.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tshv-kvm-cli-'));
const poweroff = join(dir, 'poweroff.bin');
writeFileSync(poweroff, tinyKernel(POWEROFF_KERNEL));
const kvm = probeKvm();
const noKvm = kvm.usable ? false : `KVM is not usable here: ${kvm.detail}`;

function tshv(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [TSHV, ...args], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, TSHV_HOME: join(dir, 'home'), ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--accel auto states the engine it chose and why, on one stderr line', () => {
  const r = tshv(['run', '--kernel', poweroff, '--accel', 'auto']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'hello from tiny\n');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  if (kvm.usable && kvm.hardware) assert.equal(lines[0], 'tshv: KVM: hardware virtualization available');
  else assert.match(lines[0]!, /^tshv: soft engine: .+/);
});

test('--accel auto without a KVM device picks the soft engine and says so', () => {
  const r = tshv(['run', '--kernel', poweroff, '--accel', 'auto'], { TSHV_KVM_DEVICE: join(dir, 'no-kvm') });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'hello from tiny\n');
  assert.equal(r.stderr, `tshv: soft engine: ${join(dir, 'no-kvm')} does not exist\n`);
});

test('--accel kvm without a KVM device is a one-line error', () => {
  const r = tshv(['run', '--kernel', poweroff, '--accel', 'kvm'], { TSHV_KVM_DEVICE: join(dir, 'no-kvm') });
  assert.notEqual(r.status, 0);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.match(r.stderr, /^tshv: KVM requested but .*no-kvm does not exist\ntshv: KVM is not available: .*no-kvm does not exist \(no kvm module, or no hardware virtualization\)\n$/);
});

test('--accel kvm on something that is not a KVM device is a one-line error', () => {
  const fake = join(dir, 'fake-kvm');
  writeFileSync(fake, '');
  const r = tshv(['run', '--kernel', poweroff, '--accel', 'kvm'], { TSHV_KVM_DEVICE: fake });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /tshv: KVM is not available: .*fake-kvm is not a KVM device \(KVM_GET_API_VERSION failed: ENOTTY \(25\)\)\n$/);
});

test('--accel kvm runs the guest; on a software KVM it warns first', { skip: noKvm }, () => {
  const r = tshv(['run', '--kernel', poweroff, '--accel', 'kvm']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'hello from tiny\n');
  assert.match(r.stderr, /^tshv: KVM requested \(--accel kvm\)\n/);
  if (!kvm.hardware) assert.match(r.stderr, /tshv: warning: .*Linux guests will be very slow or fail\n/);
});

test('the smp-timer guest boots through tshv run on KVM with 2 vCPUs', { skip: noKvm || (binutilsMissing() ?? false) }, () => {
  const image = join(dir, 'smp-timer.bin');
  writeFileSync(image, guestBzImage(assembleGuest('smp-timer')));
  const r = tshv(['run', '--kernel', image, '--accel', 'kvm', '--cpus', '2']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /G: ap 01 up\nG: cpus 02\nG: done\n$/);
});
