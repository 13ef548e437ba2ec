// Boots the default guest under QEMU TCG (our measured peer) to check it from outside: the
// readiness line, a shell that runs what is typed on the serial console with job control,
// `poweroff` (QEMU exits) and `reboot` (QEMU -no-reboot exits), and the tshv.run test hook.
// Skipped when QEMU is not installed. Timings go to the test's diagnostics, never asserted.

import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { ensureDefaultGuest, type GuestFlavour, type GuestImage } from './build.js';
import { GUEST_EXIT_STATUS_PREFIX, GUEST_READY_LINE } from './init-script.js';
import { QemuGuest, qemuAvailable } from './testing/qemu-guest.js';

const BOOT_TIMEOUT_MS = 120_000;
const STEP_TIMEOUT_MS = 30_000;
const PROMPT = 'root@tshv:~# ';

async function guestOrSkip(t: TestContext, flavour: GuestFlavour = 'cloud'): Promise<GuestImage | undefined> {
  if (!qemuAvailable()) {
    t.skip('qemu-system-x86_64 is not installed');
    return undefined;
  }
  return ensureDefaultGuest({ flavour, onProgress: () => {} });
}

async function withQemu(guest: GuestImage, append: string | undefined, body: (vm: QemuGuest) => Promise<void>): Promise<void> {
  const vm = new QemuGuest({ kernelPath: guest.kernelPath, initrdPath: guest.initrdPath, ...(append === undefined ? {} : { append }) });
  try {
    await body(vm);
  } finally {
    vm[Symbol.dispose]();
  }
}

void describe('default guest under QEMU', { timeout: 10 * 60 * 1000 }, () => {
  void it('prints the readiness line, runs typed commands with job control, and poweroff ends QEMU', async (t) => {
    const guest = await guestOrSkip(t);
    if (!guest) return;
    await withQemu(guest, undefined, async (vm) => {
      const ready = await vm.waitFor(GUEST_READY_LINE, BOOT_TIMEOUT_MS);
      const readyMs = vm.elapsedMs();
      const prompt = await vm.waitFor(PROMPT, STEP_TIMEOUT_MS, ready);
      const promptMs = vm.elapsedMs();
      vm.send('echo sum=$((6*7)) host=$(hostname); cat /proc/uptime\n');
      await vm.waitFor('sum=42 host=tshv', STEP_TIMEOUT_MS, prompt);
      vm.send('sleep 60 &\n');
      vm.send('jobs\n');
      const job = await vm.waitFor(/\[1\]\+ +Running +sleep 60/, STEP_TIMEOUT_MS, prompt);
      vm.send('kill %1; ls /dev/pts /sys/bus/virtio/drivers\n');
      await vm.waitFor('virtio_net', STEP_TIMEOUT_MS, job);
      const sent = vm.elapsedMs();
      vm.send('poweroff\n');
      const exit = await vm.waitExit(STEP_TIMEOUT_MS);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.match(vm.output, /reboot: Power down/);
      assert.doesNotMatch(vm.output, /cannot load module|can't access tty/);
      t.diagnostic(`QEMU TCG ${guest.version}: ready at ${readyMs} ms, prompt at ${promptMs} ms, poweroff took ${vm.elapsedMs() - sent} ms`);
    });
  });

  void it('reboot typed in the shell restarts the machine (QEMU -no-reboot exits)', async (t) => {
    const guest = await guestOrSkip(t);
    if (!guest) return;
    await withQemu(guest, undefined, async (vm) => {
      const ready = await vm.waitFor(GUEST_READY_LINE, BOOT_TIMEOUT_MS);
      await vm.waitFor(PROMPT, STEP_TIMEOUT_MS, ready);
      vm.send('reboot\n');
      const exit = await vm.waitExit(STEP_TIMEOUT_MS);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.match(vm.output, /reboot: Restarting system/);
    });
  });

  void it('tshv.run runs a command from the kernel command line, reports its status and powers off', async (t) => {
    const guest = await guestOrSkip(t);
    if (!guest) return;
    await withQemu(guest, 'console=ttyS0 quiet tshv.run="echo run-$((2+3)); rmmod virtio_net net_failover failover && modprobe virtio_net && echo modprobe-ok; exit 3"', async (vm) => {
      const exit = await vm.waitExit(BOOT_TIMEOUT_MS);
      assert.deepEqual(exit, { code: 0, signal: null });
      const ready = vm.output.indexOf(GUEST_READY_LINE);
      assert.ok(ready >= 0);
      assert.ok(vm.output.indexOf('run-5', ready) > ready);
      assert.ok(vm.output.includes('modprobe-ok'), 'modprobe finds dependencies in modules.dep');
      assert.ok(vm.output.includes(`${GUEST_EXIT_STATUS_PREFIX}3`));
      t.diagnostic(`QEMU TCG ${guest.version}: boot, run and poweroff in ${vm.elapsedMs()} ms`);
    });
  });

  void it('the generic Debian kernel (linux-image-amd64) boots the same initramfs design', async (t) => {
    const guest = await guestOrSkip(t, 'generic');
    if (!guest) return;
    await withQemu(guest, 'console=ttyS0 quiet tshv.run="uname -r; lsmod | grep -c virtio"', async (vm) => {
      const exit = await vm.waitExit(BOOT_TIMEOUT_MS);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(vm.output.includes(GUEST_READY_LINE));
      assert.ok(vm.output.includes(`\n${guest.version}`), 'uname -r shows the generic kernel');
      assert.ok(vm.output.includes(`${GUEST_EXIT_STATUS_PREFIX}0`));
      t.diagnostic(`QEMU TCG ${guest.version}: boot, run and poweroff in ${vm.elapsedMs()} ms`);
    });
  });
});
