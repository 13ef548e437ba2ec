// Real-guest checks of the virtio I/O stack's run-time side (issue 4, section 6), on ONE booted
// default guest (soft CPU) shared by every test of this file, started with:
//   --disk flush.img          (vda: the flush-then-SIGKILL check)
//   --disk rate.img,bps=4M    (vdb: the rate limit, changed at run time through the control socket)
//   --control SOCK            (balloon, balloon-stats, set-rate-limit)
//   --hvc socket=SOCK         (the guest's /dev/hvc0 on a Unix socket)
// The tests run in order; the last one SIGKILLs the VMM. Rates are asserted only as ceilings (a
// limit is a ceiling: a slow machine is slower, never faster), by the guest's clock and the host's;
// other timings go to the diagnostics.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureDefaultGuest } from '../guest/build.js';
import { VmmControlClient } from './control/client.js';
import type { VmmBalloonInfo } from './control/protocol.js';
import { DEFAULT_BOOT_TIMEOUT_MS, GuestSession } from './testing/guest-session.js';

const SUITE_TIMEOUT_MS = 30 * 60 * 1000;
const MIB = 1024 * 1024;
const GUEST_MEM_MIB = 512;
const RATE_BPS = 4 * MIB;
const RATE_DISK_BYTES = 32 * MIB;
const FLUSH_DISK_BYTES = 4 * MIB;
const BALLOON_MIB = 256;
/** How long the guest may take to inflate or deflate the balloon (soft CPU, loaded CI machine). */
const BALLOON_SETTLE_MS = 5 * 60 * 1000;
const CONTROL_TIMEOUT_MS = 60_000;

/**
 * Runs a dd in the guest and times it with the guest's own clock (/proc/uptime, 10 ms ticks):
 * Debian's busybox dd prints no rate line. The disk limiter runs on the same (guest) clock.
 */
async function guestDd(vm: GuestSession, ddArgs: string, bytes: number): Promise<{ seconds: number; bytesPerSecond: number; hostBytesPerSecond: number; text: string }> {
  const t0 = Date.now();
  const out = await vm.check(`read a x < /proc/uptime; dd ${ddArgs} 2>/dev/null; read b x < /proc/uptime; echo "dd-took $a $b"`);
  const hostS = (Date.now() - t0) / 1000;
  const m = /dd-took ([\d.]+) ([\d.]+)/.exec(out);
  assert.ok(m, `dd timing in:\n${out}`);
  const seconds = Math.max(Number(m[2]) - Number(m[1]), 0.01);
  const bytesPerSecond = bytes / seconds;
  // The host's wall time includes the console round trip (so it errs on the slow side). On the soft
  // engine the guest clock counts executed instructions and idle waits, not the device's copying.
  const hostBytesPerSecond = bytes / hostS;
  const text = `${mibps(bytesPerSecond)} by the guest clock (${seconds.toFixed(2)} s), ${mibps(hostBytesPerSecond)} by the host's (${hostS.toFixed(2)} s)`;
  return { seconds, bytesPerSecond, hostBytesPerSecond, text };
}

function mibps(bytesPerSecond: number): string {
  return `${(bytesPerSecond / MIB).toFixed(2)} MiB/s`;
}

/** A /proc/meminfo field of the guest, in bytes. */
async function guestMeminfo(vm: GuestSession, field: string): Promise<number> {
  const out = await vm.check(`grep '^${field}:' /proc/meminfo`);
  const m = /(\d+) kB/.exec(out);
  assert.ok(m, `${field} in ${out}`);
  return Number(m[1]) * 1024;
}

/** VmRSS of a host process, in bytes. */
function hostRssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `VmRSS of ${pid}`);
  return Number(m[1]) * 1024;
}

void describe('virtio I/O at run time on a real guest (soft CPU)', { timeout: SUITE_TIMEOUT_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-io-'));
  const flushDisk = join(dir, 'flush.img');
  const rateDisk = join(dir, 'rate.img');
  const controlPath = join(dir, 'control.sock');
  const hvcPath = join(dir, 'hvc.sock');
  let vm: Promise<GuestSession>;
  let session: GuestSession | undefined;
  let control: VmmControlClient | undefined;
  const sockets: Socket[] = [];

  before(async () => {
    await ensureDefaultGuest({ onProgress: () => {} });
    writeFileSync(flushDisk, new Uint8Array(FLUSH_DISK_BYTES));
    writeFileSync(rateDisk, new Uint8Array(RATE_DISK_BYTES).fill(0x5a));
    vm = GuestSession.start({
      runArgs: [
        '--memory', String(GUEST_MEM_MIB), '--disk', flushDisk, '--disk', `${rateDisk},bps=${RATE_BPS}`,
        '--control', controlPath, '--hvc', `socket=${hvcPath}`,
      ],
      bootTimeoutMs: DEFAULT_BOOT_TIMEOUT_MS,
    });
    vm.then((s) => { session = s; }, () => {});
  });

  after(() => {
    for (const s of sockets) s.destroy();
    control?.[Symbol.dispose]();
    session?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  function controlClient(): VmmControlClient {
    control ??= new VmmControlClient(controlPath, { requestTimeoutMs: CONTROL_TIMEOUT_MS });
    return control;
  }

  async function balloon(targetMib?: number): Promise<VmmBalloonInfo> {
    const r = await controlClient().request(targetMib === undefined ? { action: 'balloon-stats' } : { action: 'balloon', targetMib });
    assert.ok(r.balloon, 'a balloon answer');
    return r.balloon;
  }

  /** Polls balloon-stats until the guest's `actual` reaches the target. */
  async function balloonSettled(targetMib: number): Promise<VmmBalloonInfo> {
    const deadline = Date.now() + BALLOON_SETTLE_MS;
    for (;;) {
      const info = await balloon();
      if (info.actualMib === targetMib) return info;
      if (Date.now() > deadline) assert.fail(`the balloon did not reach ${targetMib} MiB: ${JSON.stringify(info)}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  void it('hvc0 reaches the --hvc socket both ways', async () => {
    const guest = await vm;
    const sock = connect(hvcPath);
    sockets.push(sock);
    let received = '';
    let wake: (() => void) | undefined;
    sock.on('data', (b: Buffer) => { received += b.toString('latin1'); wake?.(); });
    await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    const until = async (text: string): Promise<void> => {
      const deadline = Date.now() + CONTROL_TIMEOUT_MS * 2;
      while (!received.includes(text)) {
        if (Date.now() > deadline) assert.fail(`"${text}" did not reach the hvc socket; got ${JSON.stringify(received)}`);
        await new Promise<void>((resolve) => { wake = resolve; setTimeout(resolve, 200); });
      }
    };
    // One fd held open for the whole exchange; raw and no echo, so the socket sees only what the guest writes.
    const cmd = guest.run('(exec 3<>/dev/hvc0; stty raw -echo <&3; echo hvc-ready-from-guest >&3; read -r line <&3; echo "got=$line" >&3; echo "got=$line")');
    cmd.catch(() => {});
    await until('hvc-ready-from-guest');
    sock.write('ping-from-host\n');
    const r = await cmd;
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /got=ping-from-host/);
    await until('got=ping-from-host');
  });

  void it('balloon: inflating takes memory from the guest and gives it back to the host; deflating returns it; stats arrive', async (t) => {
    const guest = await vm;
    const pid = (await controlClient().status()).pid;
    // Free page reporting (also offered by our balloon) would release freed guest memory on its
    // own; switch it off so that what the host gets back is the balloon's doing.
    const off = await guest.run('echo 11 > /sys/module/page_reporting/parameters/page_reporting_order');
    t.diagnostic(`free page reporting off: ${off.status === 0 ? 'yes' : off.output.trim()}`);
    // Touch most of the guest's free memory, then free it: the balloon's pages are then pages the
    // host really holds, and releasing them must show in the VMM's RSS.
    const availMib = Math.floor((await guestMeminfo(guest, 'MemAvailable')) / MIB);
    const fillMib = availMib - 64;
    assert.ok(fillMib > BALLOON_MIB, `MemAvailable ${availMib} MiB leaves room to fill`);
    // A tmpfs of its own: /tmp is capped at half of RAM.
    await guest.check('mkdir -p /mnt/fill && mount -t tmpfs -o size=100% fill /mnt/fill');
    await guest.check(`dd if=/dev/zero of=/mnt/fill/x bs=1M count=${fillMib} 2>/dev/null && rm /mnt/fill/x`);
    const free0 = await guestMeminfo(guest, 'MemFree');
    const before = await balloon();
    const rss0 = hostRssBytes(pid);
    t.diagnostic(`before: guest MemFree ${(free0 / MIB).toFixed(0)} MiB, VMM RSS ${(before.vmmRssBytes / MIB).toFixed(0)} MiB (/proc: ${(rss0 / MIB).toFixed(0)} MiB)`);
    assert.ok(before.statsUpdates > 0, `the guest sent statistics: ${JSON.stringify(before)}`);
    assert.ok((before.guestStats['totalBytes'] ?? 0) > 0, `totalBytes in ${JSON.stringify(before.guestStats)}`);

    const set = await balloon(BALLOON_MIB);
    assert.equal(set.targetMib, BALLOON_MIB);
    const inflated = await balloonSettled(BALLOON_MIB);
    const free1 = await guestMeminfo(guest, 'MemFree');
    const rss1 = hostRssBytes(pid);
    t.diagnostic(`inflated ${BALLOON_MIB} MiB: guest MemFree ${(free1 / MIB).toFixed(0)} MiB, VMM RSS ${(inflated.vmmRssBytes / MIB).toFixed(0)} MiB (/proc: ${(rss1 / MIB).toFixed(0)} MiB), released ${(inflated.releasedBytes / MIB).toFixed(0)} MiB`);
    assert.ok(free0 - free1 >= (BALLOON_MIB - 32) * MIB, `guest MemFree dropped by about ${BALLOON_MIB} MiB: ${free0} -> ${free1}`);
    assert.ok(inflated.releasedBytes - before.releasedBytes >= BALLOON_MIB * MIB, `the VMM released the balloon's pages: ${JSON.stringify(inflated)}`);
    // At most the 64 MiB left untouched (plus noise) can come from pages the host never held.
    assert.ok(rss0 - rss1 >= (BALLOON_MIB - 128) * MIB, `VMM RSS dropped: ${rss0} -> ${rss1}`);
    assert.ok(before.vmmRssBytes - inflated.vmmRssBytes >= (BALLOON_MIB - 128) * MIB, 'balloon-stats reports the RSS drop');
    // Fresh statistics after the inflation show the guest's smaller free memory.
    const freeStat = inflated.guestStats['freeBytes'];
    assert.ok(freeStat !== undefined && freeStat < free0 - (BALLOON_MIB - 32) * MIB, `stats freeBytes ${freeStat} after inflation`);

    await balloon(0);
    const deflated = await balloonSettled(0);
    const free2 = await guestMeminfo(guest, 'MemFree');
    t.diagnostic(`deflated: guest MemFree ${(free2 / MIB).toFixed(0)} MiB, VMM RSS ${(deflated.vmmRssBytes / MIB).toFixed(0)} MiB`);
    assert.ok(free2 - free1 >= (BALLOON_MIB - 32) * MIB, `the guest got its memory back: ${free1} -> ${free2}`);
    // The pages come back zeroed on first touch: the guest can use them all again.
    await guest.check(`dd if=/dev/zero of=/mnt/fill/x bs=1M count=${fillMib} 2>/dev/null && rm /mnt/fill/x`);
  });

  void it(`a disk limit of ${RATE_BPS / MIB} MiB/s caps the guest's O_DIRECT dd; set-rate-limit changes and removes it at run time`, async (t) => {
    const guest = await vm;
    const limited = await guestDd(guest, `if=/dev/vdb of=/dev/null bs=1M count=${RATE_DISK_BYTES / MIB} iflag=direct`, RATE_DISK_BYTES);
    t.diagnostic(`bps=${RATE_BPS}: ${limited.text}`);
    assert.ok(limited.bytesPerSecond <= 1.5 * RATE_BPS, `at most 1.5 x the limit by the guest clock: ${limited.text}`);
    // The limit shares the host's bandwidth: it holds in host time too (the guest clock may lag and catch up).
    assert.ok(limited.hostBytesPerSecond <= 1.5 * RATE_BPS, `at most 1.5 x the limit by the host clock: ${limited.text}`);

    const lower = MIB;
    const r1 = await controlClient().request({ action: 'set-rate-limit', device: 'vdb', bps: lower });
    assert.deepEqual(r1.rateLimit, { device: 'vdb', bps: lower, iops: 0 });
    const slower = await guestDd(guest, 'if=/dev/vdb of=/dev/null bs=1M count=8 iflag=direct', 8 * MIB);
    t.diagnostic(`bps=${lower}: ${slower.text}`);
    assert.ok(slower.bytesPerSecond <= 1.5 * lower, `at most 1.5 x the new limit by the guest clock: ${slower.text}`);
    assert.ok(slower.hostBytesPerSecond <= 1.5 * lower, `at most 1.5 x the new limit by the host clock: ${slower.text}`);

    const r2 = await controlClient().request({ action: 'set-rate-limit', device: 'vdb', bps: null });
    assert.deepEqual(r2.rateLimit, { device: 'vdb', bps: 0, iops: 0 });
    const free = await guestDd(guest, `if=/dev/vdb of=/dev/null bs=1M count=${RATE_DISK_BYTES / MIB} iflag=direct`, RATE_DISK_BYTES);
    t.diagnostic(`unlimited: ${free.text}`);

    await assert.rejects(controlClient().request({ action: 'set-rate-limit', device: 'vdz', bps: 1 }), /No device "vdz"/);
    await assert.rejects(controlClient().request({ action: 'set-rate-limit', device: 'vdb', bps: -1 }), /bps must be/);
  });

  void it('data the guest flushed (sync) survives a SIGKILL of the VMM right after', async (t) => {
    const guest = await vm;
    const offset = MIB;
    const length = 256 * 1024;
    // Random bytes made in the guest; the host compares their sha256. Written through the guest's
    // page cache (no O_DIRECT, no fsync): only `sync` (VIRTIO_BLK_T_FLUSH → fdatasync) pushes them out.
    const digest = (await guest.check(`head -c ${length} /dev/urandom > /tmp/pattern && sha256sum /tmp/pattern`)).split(/\s+/)[0];
    await guest.check(`dd if=/tmp/pattern of=/dev/vda bs=64k seek=${offset / (64 * 1024)} 2>/dev/null`);
    const t0 = Date.now();
    await guest.check('sync');
    guest.kill();
    t.diagnostic(`sync took ${Date.now() - t0} ms; SIGKILL sent right after`);
    const exit = await guest.waitExit();
    assert.equal(exit.signal, 'SIGKILL');
    const got = Buffer.alloc(length);
    const fd = openSync(flushDisk, 'r');
    try {
      readSync(fd, got, 0, length, offset);
    } finally {
      closeSync(fd);
    }
    assert.equal(createHash('sha256').update(got).digest('hex'), digest, 'the host file holds what the guest wrote');
  });
});
