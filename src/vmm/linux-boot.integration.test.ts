// Real guests on the soft CPU: boots the default guest (Debian's cloud kernel + busybox
// initramfs) with `tshv run` and drives its shell through the serial console (issue 2, section 6).
//
// Each boot costs a minute or more of wall time, so this file boots only two VMs, started at
// once (they run in parallel on the host's cores) and shared by every check; A's reboot comes
// before B's checks, so that it overlaps B's (longer) boot:
//   A: the defaults (1 vCPU, 512 MiB) plus two virtio-blk disks (random bytes; read-only):
//      shell, checksums against the host's, floating point, the disks (issue 4), then `reboot` (the ready line comes a second time) and `poweroff` (exit status 0);
//   B: --cpus 4 --memory 1024: CPUs online, MemTotal, then `poweroff`.
// Timings go to the diagnostics, never asserted.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureDefaultGuest, type GuestImage } from '../guest/build.js';
import { readCpio, type CpioEntry } from '../guest/cpio-reader.js';
import { GUEST_READY_LINE } from '../guest/init-script.js';
import { DEFAULT_BOOT_TIMEOUT_MS, GuestSession } from './testing/guest-session.js';

const SUITE_TIMEOUT_MS = 30 * 60 * 1000;
const SMP_CPU_COUNT = 4;
const SMP_MEM_MIB = 1024;

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
function md5Hex(data: Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}
function sha512Hex(data: Uint8Array): string {
  return createHash('sha512').update(data).digest('hex');
}

/** First field of each line of `sha256sum`-style output. */
function digestOf(output: string): string {
  return output.trim().split(/\s+/)[0] ?? '';
}

/** Boots a session; a failure is kept (and reported by the tests that need it), never unhandled. */
function boot(runArgs: string[]): Promise<GuestSession> {
  const p = GuestSession.start({ runArgs, bootTimeoutMs: DEFAULT_BOOT_TIMEOUT_MS });
  p.catch(() => {});
  return p;
}

void describe('default guest on tshv (soft CPU)', { timeout: SUITE_TIMEOUT_MS }, () => {
  let guest: GuestImage;
  let initrd: Map<string, CpioEntry>;
  let vmA: Promise<GuestSession>;
  let vmB: Promise<GuestSession>;
  const sessions: GuestSession[] = [];
  const diskDir = mkdtempSync(join(tmpdir(), 'tshv-disks-'));
  const randomDisk = join(diskDir, 'random.img');
  const roDisk = join(diskDir, 'ro.img');
  const randomDiskBytes = randomBytes(8 * 1024 * 1024);

  before(async () => {
    guest = await ensureDefaultGuest({ onProgress: () => {} });
    // Before any VM starts: a failure here must not leave VMs booting with nobody to stop them.
    initrd = new Map(readCpio(readFileSync(guest.initrdPath)).map((e) => [e.name, e]));
    writeFileSync(randomDisk, randomDiskBytes);
    writeFileSync(roDisk, new Uint8Array(1024 * 1024));
    vmA = boot(['--disk', `${randomDisk},serial=tshv-random`, '--disk', `${roDisk},ro`]);
    vmB = boot(['--cpus', String(SMP_CPU_COUNT), '--memory', String(SMP_MEM_MIB)]);
    void vmA.then((s) => sessions.push(s), () => {});
    void vmB.then((s) => sessions.push(s), () => {});
  });

  after(() => {
    for (const s of sessions) s.kill();
    rmSync(diskDir, { recursive: true, force: true });
  });

  void it('boots to the shell, runs a command and reads its output and status', async (t) => {
    const vm = await vmA;
    t.diagnostic(`1 vCPU, 512 MiB: ready line after ${vm.readyMs} ms`);
    assert.equal(await vm.check('echo sum=$((6*7)) host=$(hostname)'), 'sum=42 host=tshv');
    assert.equal(await vm.check('uname -r'), guest.version);
    const failed = await vm.run('ls /nonexistent');
    assert.notEqual(failed.status, 0);
    assert.match(failed.output, /No such file or directory/);
    assert.equal((await vm.run('sh -c "exit 7"')).status, 7);
    // Every module of the image loaded (rcS reports the ones that did not).
    assert.doesNotMatch(vm.output, /cannot load module/);
  });

  void it('computes the same checksums as the host', async () => {
    const vm = await vmA;
    const zeros = new Uint8Array(64 * 1024 * 16);
    assert.equal(digestOf(await vm.check('dd if=/dev/zero bs=64k count=16 2>/dev/null | sha256sum')), sha256Hex(zeros));

    const busybox = initrd.get('bin/busybox');
    assert.ok(busybox, 'bin/busybox in the initramfs');
    assert.equal(digestOf(await vm.check('sha256sum /bin/busybox')), sha256Hex(busybox.data));
    assert.equal(digestOf(await vm.check('md5sum /bin/busybox')), md5Hex(busybox.data));

    const modPath = `lib/modules/${guest.version}/kernel/drivers/net/virtio_net.ko`;
    const mod = initrd.get(modPath);
    assert.ok(mod, `${modPath} in the initramfs`);
    assert.equal(digestOf(await vm.check(`sha512sum /${modPath}`)), sha512Hex(mod.data));
    // A round trip through gzip and gunzip (deflate, CRC32) gives the file back.
    assert.equal(digestOf(await vm.check(`gzip -c /${modPath} | gunzip | sha256sum`)), sha256Hex(mod.data));
  });

  void it('reads a virtio disk of random bytes as the host does; guest writes + sync reach the file; ro refuses writes', async () => {
    const vm = await vmA;
    assert.equal(await vm.check('cat /sys/block/vda/serial'), 'tshv-random');
    assert.equal(digestOf(await vm.check('sha256sum /dev/vda')), sha256Hex(randomDiskBytes));
    await vm.check('echo tshv-was-here | dd of=/dev/vda bs=512 seek=100 conv=fsync 2>/dev/null');
    const fd = openSync(randomDisk, 'r');
    const back = Buffer.alloc(14);
    readSync(fd, back, 0, back.length, 100 * 512);
    closeSync(fd);
    assert.equal(back.toString(), 'tshv-was-here\n');
    assert.equal(await vm.check('cat /sys/block/vdb/ro'), '1');
    const ro = await vm.run('dd if=/dev/zero of=/dev/vdb bs=512 count=1 conv=fsync');
    assert.notEqual(ro.status, 0, ro.output);
    assert.ok(readFileSync(roDisk).every((b) => b === 0), 'the read-only image is unchanged');
    // The hardware RNG (virtio-rng) gives bytes.
    assert.match(await vm.check('dd if=/dev/hwrng bs=16 count=1 2>/dev/null | od -An -tx1 | tr -d " \\n"'), /^[0-9a-f]{32}$/);
  });

  void it('does floating point in userland (awk)', async () => {
    const vm = await vmA;
    // Debian's busybox-static has no math library in awk (no sqrt, exp, ^): plain arithmetic,
    // decimal parsing and printf of doubles.
    const expected = [(22 / 7 * 1.5).toFixed(6), (1 / 3 + 0.0025).toFixed(9), (1099511627776 + 0.5).toFixed(1), (6.02214076e23 / 7).toExponential(6)].join(' ');
    assert.equal(await vm.check(`awk 'BEGIN { printf "%.6f %.9f %.1f %e\\n", 22 / 7 * 1.5, 1 / 3 + 0.0025, 1099511627776 + 0.5, 6.02214076e23 / 7 }'`), expected);
  });

  void it('reboot typed in the shell restarts the machine, and poweroff then exits 0', async (t) => {
    const vm = await vmA;
    const firstReady = vm.output.indexOf(GUEST_READY_LINE);
    const before = vm.output.length;
    vm.send('reboot\n');
    const restart = vm.elapsedMs();
    await vm.waitForShell(before);
    t.diagnostic(`reboot: ready again after ${vm.elapsedMs() - restart} ms`);
    assert.ok(firstReady >= 0 && firstReady < before);
    assert.match(vm.output.slice(before), /reboot: Restarting system/);
    assert.equal(await vm.check('echo back $((1+1))'), 'back 2');
    assert.deepEqual(await vm.poweroff(), { code: 0, signal: null });
    assert.match(vm.output, /reboot: Power down/);
  });

  void it(`sees ${SMP_CPU_COUNT} CPUs and ${SMP_MEM_MIB} MiB with --cpus ${SMP_CPU_COUNT} --memory ${SMP_MEM_MIB}, and poweroff exits 0`, async (t) => {
    const vm = await vmB;
    t.diagnostic(`${SMP_CPU_COUNT} vCPUs, ${SMP_MEM_MIB} MiB: ready line after ${vm.readyMs} ms`);
    assert.equal(await vm.check('cat /sys/devices/system/cpu/online'), `0-${SMP_CPU_COUNT - 1}`);
    assert.equal(await vm.check('nproc'), String(SMP_CPU_COUNT));
    const memTotalKib = Number(/MemTotal:\s+(\d+) kB/.exec(await vm.check('cat /proc/meminfo'))?.[1]);
    // The kernel keeps its own image, the initramfs' unpacked copy, page structures and
    // reservations out of MemTotal: expect most of the RAM, and never more than given.
    t.diagnostic(`MemTotal ${memTotalKib} kB`);
    assert.ok(memTotalKib <= SMP_MEM_MIB * 1024, `MemTotal ${memTotalKib} kB is more than ${SMP_MEM_MIB} MiB`);
    assert.ok(memTotalKib >= SMP_MEM_MIB * 1024 * 0.9, `MemTotal ${memTotalKib} kB is less than 90% of ${SMP_MEM_MIB} MiB`);
    // Work on every CPU at once: 4 processes, each its own checksum.
    const out = await vm.check('for i in 1 2 3 4; do (dd if=/dev/zero bs=64k count=4 2>/dev/null | sha256sum > /tmp/s$i) & done; wait; cat /tmp/s1 /tmp/s2 /tmp/s3 /tmp/s4');
    const want = sha256Hex(new Uint8Array(64 * 1024 * 4));
    assert.deepEqual(out.split('\n').map(digestOf), [want, want, want, want]);
    // Every vCPU's TSC reads one virtual clock (clock.ts), PAUSE stalls included: the kernel's TSC
    // sync check and clocksource watchdog must find nothing to complain about.
    const clockLog = await vm.check('dmesg | grep -i -e tsc -e clocksource -e watchdog');
    t.diagnostic(clockLog);
    assert.match(clockLog, /Switched to clocksource tsc/);
    assert.doesNotMatch(clockLog, /unstable|warp|skew|Marking clocksource|fail/i);
    assert.deepEqual(await vm.poweroff(), { code: 0, signal: null });
  });
});
