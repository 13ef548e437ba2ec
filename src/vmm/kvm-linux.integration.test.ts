// Linux on the KVM engine: the default guest (Debian 12's cloud kernel + busybox initramfs) boots
// with `tshv run --accel kvm`, runs a command from the tshv.run hook and powers off. Runs only
// where KVM is real hardware virtualization: on a nested software KVM (kvm_pvm, or a CPU without
// VMX/SVM) Linux takes minutes and dies on emulation failures (shared/reference/qemu-peer.md),
// so the test skips there and says why.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ensureDefaultGuest } from '../guest/build.js';
import { GUEST_EXIT_STATUS_PREFIX, GUEST_READY_LINE } from '../guest/init-script.js';
import { probeKvm } from './accel.js';

const TSHV = fileURLToPath(new URL('../bin/tshv.js', import.meta.url));
const BOOT_TIMEOUT_MS = 120_000;
const kvm = probeKvm();
const skip = !kvm.usable ? `KVM is not usable here: ${kvm.detail}` : !kvm.hardware ? `not real hardware virtualization: ${kvm.detail}` : false;

test('Linux boots on the KVM engine, runs the tshv.run hook and powers off', { skip, timeout: 10 * 60 * 1000 }, async (t) => {
  const guest = await ensureDefaultGuest({ flavour: 'cloud', onProgress: () => {} });
  const started = Date.now();
  const child = spawn(process.execPath, [
    TSHV, 'run', '--accel', 'kvm', '--cpus', '2', '--memory', '512', '--kernel', guest.kernelPath, '--initrd', guest.initrdPath,
    '--append', 'console=ttyS0 quiet tshv.run="echo kvm-$((40+2)); nproc; exit 0"',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString('latin1'); });
  child.stderr.on('data', (b: Buffer) => { err += b.toString('latin1'); });
  const timer = setTimeout(() => child.kill('SIGKILL'), BOOT_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(timer);
  assert.equal(code, 0, `tshv exited ${code}\nstderr:\n${err}\nstdout:\n${out.slice(-4000)}`);
  assert.match(err, /tshv: KVM requested/);
  assert.ok(out.includes(GUEST_READY_LINE), 'readiness line');
  assert.ok(out.includes('kvm-42'));
  assert.match(out, /\n2\r?\n/, 'nproc sees both vCPUs');
  assert.ok(out.includes(`${GUEST_EXIT_STATUS_PREFIX}0`));
  t.diagnostic(`KVM: boot, run and poweroff in ${Date.now() - started} ms`);
});
