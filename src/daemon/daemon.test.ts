// The daemon against fake VMM processes (vmm/control/testing/fake-vmm-main.ts): real processes,
// sockets, exit records and SQLite, but no machine, so every rule is checked in milliseconds.
// daemon.integration.test.ts runs the same paths with the real `tshv run`.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ApiEvent } from '../api/schema/common.js';
import { GUEST_READY_LINE } from '../guest/init-script.js';
import { ownV1Path } from './cgroups.js';
import { Daemon, memAvailableMib, type DaemonOptions } from './daemon.js';
import { DaemonError } from './service.js';
import { isOurVmm } from './supervisor.js';

const FAKE_VMM = fileURLToPath(new URL('../vmm/control/testing/fake-vmm-main.js', import.meta.url));

let home: string;
let daemons: Daemon[] = [];
const pids = new Set<number>();

before(() => {
  home = mkdtempSync(join(tmpdir(), 'tshvd-'));
});
afterEach(async () => {
  // VMMs outlive their daemon by design: the test kills what it started, and lets the daemon see
  // them end before it closes, so that it removes their cgroups (a failed test leaks none).
  for (const d of daemons) if (d.isOpen) for (const v of d.listVms()) if (v.pid !== undefined) pids.add(v.pid);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  pids.clear();
  const deadline = Date.now() + 5000;
  for (const d of daemons) {
    while (Date.now() < deadline && d.isOpen && d.listVms().some((v) => v.pid !== undefined)) await new Promise((r) => setTimeout(r, 20));
    d.close();
  }
  daemons = [];
});
after(() => {
  rmSync(home, { recursive: true, force: true });
});

async function open(dir: string, options: DaemonOptions = {}): Promise<Daemon> {
  const d = await Daemon.open(dir, { entryPath: FAKE_VMM, cgroups: { privileged: false }, log: () => {}, quitTimeoutMs: 2000, ...options });
  daemons.push(d);
  return d;
}

function freshHome(): string {
  return mkdtempSync(join(home, 'h-'));
}

function track(d: Daemon, name: string): number {
  const pid = d.getVm(name).pid;
  assert.ok(pid !== undefined, `${name} has a pid`);
  pids.add(pid);
  return pid;
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function rejectsWith(p: Promise<unknown> | (() => unknown), code: DaemonError['code'], message: RegExp): Promise<void> {
  await assert.rejects(async () => (typeof p === 'function' ? p() : await p), (e: unknown) => {
    assert.ok(e instanceof DaemonError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

test('create: names are unique, boot files must exist, unknown VMs are not found', async () => {
  const d = await open(freshHome());
  const vm = d.createVm({ name: 'web', memoryMib: 256 });
  assert.equal(vm.state, 'stopped');
  assert.match(vm.id, /^[0-9a-f-]{36}$/);
  assert.equal(d.getVm(vm.id).name, 'web');
  await rejectsWith(() => d.createVm({ name: 'web' }), 'conflict', /^Cannot create VM "web": a VM with that name already exists$/);
  await rejectsWith(() => d.createVm({ name: 'k', kernel: '/nonexistent/vmlinuz' }), 'bad-request', /^Cannot create VM "k": kernel \/nonexistent\/vmlinuz does not exist$/);
  await rejectsWith(() => d.createVm({ name: 'k', kernel: home }), 'bad-request', /is not a regular file/);
  await rejectsWith(() => d.createVm({ name: 'k', kernel: 'vmlinuz' }), 'bad-request', /^Cannot create VM "k": kernel path "vmlinuz" must be absolute/);
  await rejectsWith(() => d.createVm({ name: 'k', disks: [{ path: '/nonexistent.img' }] }), 'bad-request', /disk \/nonexistent\.img does not exist/);
  await rejectsWith(() => d.createVm({ name: '../etc' }), 'bad-request', /^Cannot create VM "\.\.\/etc": Unique VM name: lowercase/);
  assert.match(vm.limits.detail, /^Not enforced: the daemon does not run as root/);
  await rejectsWith(() => d.getVm('nope'), 'not-found', /^No VM named "nope"$/);
  await rejectsWith(d.startVm('nope'), 'not-found', /nope/);
  await rejectsWith(d.pauseVm('web'), 'conflict', /^Cannot pause VM "web": it is stopped$/);
  assert.deepEqual(d.listVms().map((v) => v.name), ['web']);
});

test('lifecycle: start, pause, resume, reboot, console, stop by the power button, delete; with events', async () => {
  const d = await open(freshHome());
  const events: ApiEvent[] = [];
  const unsubscribe = d.subscribe((e) => events.push(e));
  d.createVm({ name: 'web', memoryMib: 256, cpus: 2 });
  const started = await d.startVm('web');
  track(d, 'web');
  assert.equal(started.state, 'running');
  assert.ok(started.pid !== undefined && isOurVmm(started.pid, join(d.home, 'run', `${started.id}.sock`)));
  assert.equal(started.limits.enforced, false);
  assert.equal(d.hostInfo().committed.cpus, 2);
  assert.equal(d.hostInfo().vms.running, 1);
  await rejectsWith(d.startVm('web'), 'conflict', /^Cannot start VM "web": it is already running$/);

  assert.equal((await d.pauseVm('web')).state, 'paused');
  await rejectsWith(d.rebootVm('web'), 'conflict', /it is paused/);
  assert.equal((await d.resumeVm('web')).state, 'running');
  assert.equal((await d.rebootVm('web')).state, 'running');

  const console = await d.openConsole('web');
  let text = '';
  console.on('data', (b: Buffer) => {
    text += b.toString('latin1');
  });
  await until('the readiness line', () => text.includes(GUEST_READY_LINE));
  console.write('hello\n');
  await until('the echo', () => text.includes('hello\n'));
  console.destroy();

  await rejectsWith(d.deleteVm('web', false), 'conflict', /^Cannot delete VM "web": it is running \(stop it first, or delete with force\)$/);
  const stopped = await d.stopVm('web', 10_000);
  assert.equal(stopped.state, 'stopped');
  assert.equal(stopped.stateReason, 'The guest powered off');
  assert.equal(stopped.pid, undefined);
  assert.equal(d.hostInfo().committed.cpus, 0);
  await rejectsWith(d.openConsole('web'), 'conflict', /it is stopped/);

  await d.deleteVm('web', false);
  assert.equal(existsSync(join(d.home, 'logs', 'web.log')), false);
  unsubscribe();
  const transitions = events.map((e) => (e.type === 'vm-state' ? `${e.from}>${e.to}` : e.type));
  assert.deepEqual(transitions, [
    'vm-created', 'stopped>starting', 'starting>running', 'running>paused', 'paused>running', 'running>stopping', 'stopping>stopped', 'vm-deleted',
  ]);
});

test('stop: a guest that ignores the power button is forced after the timeout', async () => {
  const d = await open(freshHome());
  d.createVm({ name: 'stubborn' });
  await d.startVm('stubborn');
  track(d, 'stubborn');
  // Paused first: the stop resumes it so that the guest could see the button.
  await d.pauseVm('stubborn');
  const stopped = await d.stopVm('stubborn', 200);
  assert.equal(stopped.state, 'stopped');
  assert.equal(stopped.stateReason, 'Stopped (the VMM was told to quit)');
});

test('stop: a power button refused for a moment (a reset under way) is pressed again, not forced', async () => {
  const d = await open(freshHome());
  d.createVm({ name: 'flaky' });
  await d.startVm('flaky');
  track(d, 'flaky');
  const stopped = await d.stopVm('flaky', 30_000);
  assert.equal(stopped.state, 'stopped');
  assert.equal(stopped.stateReason, 'The guest powered off');
});

test('force-stop, and delete with force of a running VM', async () => {
  const d = await open(freshHome());
  d.createVm({ name: 'a' });
  d.createVm({ name: 'b' });
  await d.startVm('a');
  await d.startVm('b');
  track(d, 'a');
  track(d, 'b');
  const a = await d.forceStopVm('a');
  assert.equal(a.state, 'stopped');
  await rejectsWith(d.forceStopVm('a'), 'conflict', /^Cannot force-stop VM "a": it is already stopped$/);
  await d.deleteVm('b', true);
  await rejectsWith(() => d.getVm('b'), 'not-found', /"b"/);
});

test('a machine that fails: crashed, with the exit record\'s message', async () => {
  const d = await open(freshHome());
  d.createVm({ name: 'crashy' });
  const vm = await d.startVm('crashy').catch(() => d.getVm('crashy'));
  await until('the crash', () => d.getVm('crashy').state === 'crashed');
  assert.ok(vm.state === 'running' || vm.state === 'crashed');
  assert.equal(d.getVm('crashy').stateReason, 'The VMM failed: triple fault (fake)');
  // A crashed VM can be started again, and deleted.
  await d.deleteVm('crashy', false);
});

test('a VMM killed by SIGKILL: that VM is crashed with the reason, the other one runs on', async () => {
  const d = await open(freshHome());
  d.createVm({ name: 'a' });
  d.createVm({ name: 'b' });
  await d.startVm('a');
  await d.startVm('b');
  const pa = track(d, 'a');
  track(d, 'b');
  process.kill(pa, 'SIGKILL');
  await until('a crashed', () => d.getVm('a').state === 'crashed');
  assert.match(d.getVm('a').stateReason ?? '', /^The VMM process \(pid \d+\) was killed by SIGKILL \(no exit record\)$/);
  assert.equal(d.getVm('b').state, 'running');
  assert.equal((await d.pauseVm('b')).state, 'paused');
  // Started again after the crash.
  assert.equal((await d.startVm('a')).state, 'running');
  track(d, 'a');
});

test('close leaves VMMs running; a new daemon re-attaches, and learns of deaths while it was away', async () => {
  const dir = freshHome();
  let d = await open(dir);
  for (const n of ['keep', 'quit-away', 'kill-away', 'kill-later']) {
    d.createVm({ name: n });
    await d.startVm(n);
  }
  await d.pauseVm('keep');
  const pid = (n: string): number => track(d, n);
  const pids0 = { keep: pid('keep'), quitAway: pid('quit-away'), killAway: pid('kill-away'), killLater: pid('kill-later') };
  const keepId = d.getVm('keep').id;
  d.close();
  assert.equal(isOurVmm(pids0.keep, join(dir, 'run', `${keepId}.sock`)), true);

  // While no daemon runs: one VMM quits (it writes an exit record), one is killed (none).
  process.kill(pids0.quitAway, 'SIGTERM');
  process.kill(pids0.killAway, 'SIGKILL');
  await until('both gone', () => {
    for (const p of [pids0.quitAway, pids0.killAway]) {
      try {
        process.kill(p, 0);
        return false;
      } catch {
        // gone
      }
    }
    return true;
  });

  d = await open(dir);
  assert.equal(d.getVm('keep').state, 'paused');
  assert.equal(d.getVm('keep').pid, pids0.keep);
  assert.equal((await d.resumeVm('keep')).state, 'running');
  assert.equal(d.getVm('quit-away').state, 'stopped');
  assert.equal(d.getVm('quit-away').stateReason, 'Stopped (the VMM was told to quit)');
  assert.equal(d.getVm('kill-away').state, 'crashed');
  assert.match(d.getVm('kill-away').stateReason ?? '', /ended without an exit record/);
  // An adopted VMM (not our child any more) that dies is noticed too.
  process.kill(pids0.killLater, 'SIGKILL');
  await until('kill-later crashed', () => d.getVm('kill-later').state === 'crashed');
  // And an adopted VMM can be stopped.
  assert.equal((await d.stopVm('keep', 5000)).state, 'stopped');
});

test('a second daemon on the same home is refused', async () => {
  const dir = freshHome();
  writeFileSync(join(dir, 'tshvd.lock'), '1\n'); // pid 1 lives
  await assert.rejects(Daemon.open(dir, { entryPath: FAKE_VMM, log: () => {} }), /^TshvError: Another tshvd \(pid 1\) already manages|Another tshvd \(pid 1\) already manages/);
  writeFileSync(join(dir, 'tshvd.lock'), '999999999\n'); // a dead pid: taken over
  const d = await open(dir);
  assert.equal(readFileSync(join(dir, 'tshvd.lock'), 'utf8').trim(), String(process.pid));
  d.close();
  assert.equal(existsSync(join(dir, 'tshvd.lock')), false);
});

test('autostart VMs start when the daemon opens', async () => {
  const dir = freshHome();
  let d = await open(dir);
  d.createVm({ name: 'auto', autostart: true });
  d.createVm({ name: 'manual' });
  d.close();
  d = await open(dir);
  assert.equal(d.getVm('auto').state, 'running');
  track(d, 'auto');
  assert.equal(d.getVm('manual').state, 'stopped');
});

test('tokens: the secret is shown once, stored hashed, and revocable', async () => {
  const dir = freshHome();
  const d = await open(dir);
  const created = d.createToken({ name: 'ci', role: 'operator' });
  assert.match(created.secret, /^tshv_[A-Za-z0-9_-]{43}$/);
  assert.equal(d.authenticate(created.secret), 'operator');
  assert.equal(d.authenticate(`${created.secret}x`), undefined);
  assert.equal(d.authenticate(''), undefined);
  assert.deepEqual(d.listTokens(), [created.token]);
  // Only the hash is on disk.
  assert.equal(readFileSync(join(dir, 'tshvd.db')).includes(created.secret), false);
  d.revokeToken(created.token.id);
  assert.equal(d.authenticate(created.secret), undefined);
  assert.deepEqual(d.listTokens(), []);
  await rejectsWith(() => d.revokeToken(created.token.id), 'not-found', /No API token/);
  // Never an option-like word for the CLI (base64url alone starts with "-" 1 time in 32).
  for (let k = 0; k < 64; k++) assert.ok(!d.createToken({ name: `t${k}`, role: 'viewer' }).secret.startsWith('-'));
});

test('host info and MemAvailable', async () => {
  assert.equal(memAvailableMib('MemTotal: 100 kB\nMemAvailable:    2097152 kB\n'), 2048);
  assert.equal(memAvailableMib('MemTotal: 100 kB\n'), undefined);
  const d = await open(freshHome());
  const h = d.hostInfo();
  assert.ok(h.cpus >= 1 && h.memoryMib > 0 && h.memoryFreeMib > 0);
  assert.equal(h.cgroups, 'none');
  assert.deepEqual(h.vms, { defined: 0, running: 0 });
});

test('cgroup limits on this host, applied to the VMM and removed after it', async (t) => {
  const d = await open(freshHome(), { cgroups: {} });
  if (d.cgroups.mode === 'none') {
    t.skip(d.cgroups.summary);
    return;
  }
  d.createVm({ name: `lim-${process.pid}`, cpuWeight: 50, cpuCapPercent: 50, memoryLimitMib: 512 });
  const vm = await d.startVm(`lim-${process.pid}`);
  const pid = track(d, vm.name);
  assert.equal(vm.limits.enforced, true, vm.limits.detail);
  assert.match(vm.limits.detail, /cpu\.(shares 512|weight 50), CPU cap 50%, memory limit 512 MiB$/);
  assert.match(readFileSync(`/proc/${pid}/cgroup`, 'utf8'), new RegExp(`tshv\\.slice/${vm.name}$`, 'm'));
  assert.equal(d.hostInfo().cgroups, d.cgroups.mode);
  await d.forceStopVm(vm.name);
  const self = readFileSync('/proc/self/cgroup', 'utf8');
  const dirs = d.cgroups.mode === 'v2' ? [`/sys/fs/cgroup/tshv.slice/${vm.name}`] : [
    join('/sys/fs/cgroup/cpu', ownV1Path(self, 'cpu'), 'tshv.slice', vm.name),
    join('/sys/fs/cgroup/memory', ownV1Path(self, 'memory'), 'tshv.slice', vm.name),
  ];
  await until('the groups removed', () => !dirs.some((p) => existsSync(p)));
});

test('a VMM over its memory limit is killed by the OOM killer: crashed, and the reason says so', async (t) => {
  const d = await open(freshHome(), { cgroups: {} });
  if (d.cgroups.mode === 'none') {
    t.skip(d.cgroups.summary);
    return;
  }
  // A "hungry" fake VMM touches 64 MiB just after it starts.
  const name = `hungry-${process.pid}`;
  d.createVm({ name, memoryLimitMib: 16 });
  await d.startVm(name).catch(() => undefined);
  const pid = d.getVm(name).pid;
  if (pid !== undefined) pids.add(pid);
  await until('the OOM kill', () => d.getVm(name).state === 'crashed');
  assert.match(d.getVm(name).stateReason ?? '', /^The VMM process was killed by the kernel's OOM killer \(memory limit 16 MiB\)$/);
});

test('a stop cut short by a daemon restart: the new daemon reports what the VMM says', async () => {
  const dir = freshHome();
  let d = await open(dir);
  d.createVm({ name: 'stubborn' });
  await d.startVm('stubborn');
  track(d, 'stubborn');
  const stopping = d.stopVm('stubborn', 60_000);
  await until('stopping', () => d.getVm('stubborn').state === 'stopping');
  d.close();
  await stopping.catch(() => undefined);
  d = await open(dir);
  const vm = d.getVm('stubborn');
  assert.equal(vm.state, 'running');
  assert.equal(vm.stateReason, 'The daemon restarted during a stop; the stop was not finished');
});
