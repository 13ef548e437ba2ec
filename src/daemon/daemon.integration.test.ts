// The daemon with real VMMs: `tshv run` on the soft engine booting the default guest, two guests
// for the whole file (plus short-lived VMMs that never need a booted guest):
//   a: create, start, console (readiness line, a command), pause/resume, reboot; survives a daemon
//      close + reopen and a daemon SIGKILL; then its VMM is SIGKILLed → crashed, b untouched;
//   b: boots beside a; stopped at the end by the ACPI power button (busybox acpid in the guest);
//   c: delete refused while it runs, then delete with force;
//   d: started by a daemon in another process that is then SIGKILLed; re-attached, force-stopped.
// $TSHV_HOME is a temp dir whose guest/ is a symlink to the cached default guest.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureDefaultGuest } from '../guest/build.js';
import { GUEST_READY_LINE } from '../guest/init-script.js';
import { GUEST_SHELL_PROMPT, cleanConsoleText } from '../vmm/testing/guest-session.js';
import type { VmSpec } from '../api/schema/vm.js';
import { CGROUP_SLICE, ownV1Path } from './cgroups.js';
import { Daemon, type DaemonOptions } from './daemon.js';
import { DaemonError } from './service.js';
import { isOurVmm } from './supervisor.js';

const BOOT_TIMEOUT_MS = 10 * 60 * 1000;
const STEP_TIMEOUT_MS = 3 * 60 * 1000;
const SUITE_TIMEOUT_MS = 20 * 60 * 1000;

/** Every VMM pid this file saw: killed at the end whatever happened (they outlive daemons by design). */
const vmmPids = new Set<number>();
function killAll(): void {
  for (const pid of vmmPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
process.on('exit', killAll);

/** A console stream with a text buffer to wait in. */
class ConsoleReader {
  text = '';
  private waiters: Array<() => void> = [];
  constructor(readonly stream: Duplex) {
    stream.on('data', (b: Buffer) => {
      this.text += b.toString('latin1');
      for (const w of this.waiters.splice(0)) w();
    });
    stream.on('close', () => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  async waitFor(what: string | RegExp, from = 0, timeoutMs = STEP_TIMEOUT_MS): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const tail = this.text.slice(from);
      const at = typeof what === 'string' ? tail.indexOf(what) : tail.search(what);
      if (at >= 0) return from + at;
      if (this.stream.destroyed) throw new Error(`Console closed before ${String(what)}; tail:\n${cleanConsoleText(this.text.slice(-2000))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out waiting for ${String(what)}; tail:\n${cleanConsoleText(this.text.slice(-2000))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Types a command and waits for its (computed, so not echoed) answer. */
  async expect(command: string, answer: string, timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
    const from = this.text.length;
    this.stream.write(`${command}\n`);
    await this.waitFor(new RegExp(`(^|\\n)${answer}\\r?\\n`), from, timeoutMs);
  }

  close(): void {
    this.stream.destroy();
  }
}

async function until(what: string, cond: () => boolean, timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

void describe('tshvd with real VMMs (soft engine, default guest)', { timeout: SUITE_TIMEOUT_MS }, () => {
  let home: string;
  let daemon: Daemon;
  const logLines: string[] = [];
  // Real cgroups where the host has them (v1 on the development machine): a gets limits.
  const options: DaemonOptions = { log: (l) => logLines.push(l) };
  const spec = (name: string): VmSpec => ({ name, memoryMib: 256, engine: 'soft' });
  /** The VM's own cgroup directories, as cgroups.ts makes them. */
  const cgroupDirsOf = (name: string): string[] => {
    const self = readFileSync('/proc/self/cgroup', 'utf8');
    if (daemon.cgroups.mode === 'v2') return [join('/sys/fs/cgroup', CGROUP_SLICE, name)];
    if (daemon.cgroups.mode === 'v1') {
      return ['cpu', 'memory'].map((c) => join('/sys/fs/cgroup', c, ownV1Path(self, c), CGROUP_SLICE, name));
    }
    return [];
  };
  const pidOf = (name: string): number => {
    const pid = daemon.getVm(name).pid;
    assert.ok(pid !== undefined, `${name} has a VMM pid`);
    vmmPids.add(pid);
    return pid;
  };
  const socketOf = (name: string): string => join(home, 'run', `${daemon.getVm(name).id}.sock`);

  before(async () => {
    // Build (or validate) the default guest once, in the usual cache; the temp home links to it.
    const guest = await ensureDefaultGuest({ onProgress: () => {} });
    home = mkdtempSync('/tmp/tshvd-it-');
    symlinkSync(dirname(guest.dir), join(home, 'guest'));
    daemon = await Daemon.open(home, options);
  });

  after(async () => {
    // Kill first and let the daemon see the ends, so that it removes the VMs' cgroups.
    const d = daemon as Daemon | undefined; // undefined when before() failed
    if (d?.isOpen) for (const v of d.listVms()) if (v.pid !== undefined) vmmPids.add(v.pid);
    killAll();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && d?.isOpen && d.listVms().some((v) => v.pid !== undefined)) await new Promise((r) => setTimeout(r, 50));
    d?.close();
    if ((home as string | undefined) !== undefined) rmSync(home, { recursive: true, force: true });
  });

  let consoleA: ConsoleReader;
  let consoleB: ConsoleReader;

  void it('create and start two VMs; each reaches its shell, seen through the console', async () => {
    daemon.createVm({ ...spec('a'), cpuWeight: 200, cpuCapPercent: 150 });
    daemon.createVm(spec('b'));
    const [a, b] = await Promise.all([daemon.startVm('a'), daemon.startVm('b')]);
    assert.equal(a.state, 'running');
    assert.equal(b.state, 'running');
    const pidA = pidOf('a');
    pidOf('b');
    assert.equal(a.limits.enforced, daemon.cgroups.mode !== 'none', a.limits.detail);
    if (a.limits.enforced) {
      assert.match(a.limits.detail, /^cgroup v[12] .*tshv\.slice\/a: cpu\.(shares 2048|weight 200), CPU cap 150%, no memory limit$/);
      assert.match(readFileSync(`/proc/${pidA}/cgroup`, 'utf8'), /tshv\.slice\/a$/m);
      for (const dir of cgroupDirsOf('a')) assert.ok(existsSync(dir), dir);
    }
    consoleA = new ConsoleReader(await daemon.openConsole('a'));
    consoleB = new ConsoleReader(await daemon.openConsole('b'));
    const readyA = await consoleA.waitFor(GUEST_READY_LINE, 0, BOOT_TIMEOUT_MS);
    await consoleA.waitFor(GUEST_SHELL_PROMPT, readyA);
    await consoleA.expect('echo a-$((20+1))', 'a-21');
    await consoleB.waitFor(GUEST_READY_LINE, 0, BOOT_TIMEOUT_MS);
    assert.equal(daemon.hostInfo().committed.memoryMib, 512);
  });

  void it('pause and resume: input typed while paused is answered after the resume', async () => {
    assert.equal((await daemon.pauseVm('a')).state, 'paused');
    const from = consoleA.text.length;
    consoleA.stream.write('echo p-$((40+2))\n');
    assert.equal((await daemon.resumeVm('a')).state, 'running');
    await consoleA.waitFor(/(^|\n)p-42\r?\n/, from);
  });

  void it('reboot: the guest boots again, the VMM and the console stay', async () => {
    const pid = pidOf('a');
    const from = consoleA.text.length;
    assert.equal((await daemon.rebootVm('a')).state, 'running');
    const ready = await consoleA.waitFor(GUEST_READY_LINE, from, BOOT_TIMEOUT_MS);
    await consoleA.waitFor(GUEST_SHELL_PROMPT, ready);
    assert.equal(daemon.getVm('a').pid, pid);
    await consoleA.expect('echo r-$((5*5))', 'r-25');
  });

  void it('delete is refused while a VM runs, and done with force', async () => {
    daemon.createVm(spec('c'));
    await daemon.startVm('c');
    const pid = pidOf('c');
    const socket = socketOf('c');
    await assert.rejects(daemon.deleteVm('c', false), (e: unknown) => {
      assert.ok(e instanceof DaemonError);
      assert.equal(e.code, 'conflict');
      assert.equal(e.message, 'Cannot delete VM "c": it is running (stop it first, or delete with force)');
      return true;
    });
    await daemon.deleteVm('c', true);
    assert.throws(() => daemon.getVm('c'), /No VM named "c"/);
    assert.equal(isOurVmm(pid, socket), false);
  });

  void it('daemon close, then a daemon in another process that is SIGKILLed: the VMs run on and are managed again', async () => {
    const pidA = pidOf('a');
    const pidB = pidOf('b');
    const socketA = socketOf('a');
    consoleA.close();
    consoleB.close();
    daemon.close();
    assert.ok(isOurVmm(pidA, socketA));

    // A daemon in its own process: re-attaches a and b, creates and starts d, then dies by SIGKILL.
    const script = join(home, 'child-daemon.mjs');
    const daemonUrl = pathToFileURL(fileURLToPath(new URL('./daemon.js', import.meta.url))).href;
    writeFileSync(script, [
      `import { Daemon } from ${JSON.stringify(daemonUrl)};`,
      `const d = await Daemon.open(${JSON.stringify(home)}, { log: () => {} });`,
      `d.createVm({ name: 'd', memoryMib: 256, engine: 'soft' });`,
      `await d.startVm('d');`,
      `process.stdout.write(JSON.stringify(d.listVms().map((v) => [v.name, v.state, v.pid])) + '\\n');`,
      `setInterval(() => {}, 1000);`,
    ].join('\n'));
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    try {
      await until('the child daemon to start d', () => out.includes('\n') || child.exitCode !== null);
      const listed = JSON.parse(out) as Array<[string, string, number]>;
      const d = listed.find(([n]) => n === 'd');
      assert.ok(d !== undefined && d[1] === 'running', out);
      vmmPids.add(d[2]);
      assert.deepEqual(listed.filter(([n]) => n !== 'd').map(([n, s, p]) => [n, s, p]), [['a', 'running', pidA], ['b', 'running', pidB]]);
    } finally {
      child.kill('SIGKILL');
    }
    assert.equal(await exited, 'SIGKILL');

    daemon = await Daemon.open(home, options);
    for (const [name, pid] of [['a', pidA], ['b', pidB]] as const) {
      const vm = daemon.getVm(name);
      assert.equal(vm.state, 'running');
      assert.equal(vm.pid, pid);
    }
    assert.equal(daemon.getVm('d').state, 'running');
    consoleA = new ConsoleReader(await daemon.openConsole('a'));
    await consoleA.expect('echo back-$((6*7))', 'back-42');
    const dStopped = await daemon.forceStopVm('d');
    assert.equal(dStopped.state, 'stopped');
    await daemon.deleteVm('d', false);
  });

  void it('a VMM killed by SIGKILL: its VM is crashed with the reason; the other VM is untouched', async () => {
    const pidA = pidOf('a');
    process.kill(pidA, 'SIGKILL');
    await until('a crashed', () => daemon.getVm('a').state === 'crashed');
    const a = daemon.getVm('a');
    assert.match(a.stateReason ?? '', /^The VMM process \(pid \d+\) ended without an exit record \(killed by a signal, or it crashed\)$/);
    assert.equal(a.pid, undefined);
    // Its cgroups go with it (this daemon re-attached to it: the dirs came from the inventory).
    await until('the cgroups of a removed', () => cgroupDirsOf('a').every((d) => !existsSync(d)));
    assert.equal(daemon.getVm('b').state, 'running');
    consoleB = new ConsoleReader(await daemon.openConsole('b'));
    await consoleB.expect('echo b-$((3+4))', 'b-7');
  });

  void it('stop by the ACPI power button: the guest powers off', async () => {
    const b = await daemon.stopVm('b', STEP_TIMEOUT_MS);
    assert.equal(b.state, 'stopped');
    assert.equal(b.stateReason, 'The guest powered off');
    consoleB.close();
  });

  void it('delete both; nothing is left in run/', async () => {
    await daemon.deleteVm('a', false);
    await daemon.deleteVm('b', false);
    assert.deepEqual(daemon.listVms(), []);
    assert.deepEqual(readdirSync(join(home, 'run')), []);
    assert.equal(existsSync(join(home, 'logs', 'a.log')), false);
  });
});
