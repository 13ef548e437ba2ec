// The control socket against a real guest: ONE default guest booted with
// `tshv run --control S --exit-file F --console none --name t1`, driven only through the socket:
// status, console-attach with scrollback, pause/resume (input typed while paused is answered after
// resume), console detach, reset (the guest boots again), and the power button (busybox acpid in
// the guest powers off: exit 0, exit record 'poweroff'). Then two VMMs that need no booted guest:
// one SIGKILLed (no exit record, a stale socket left behind), and one on the same socket path that
// replaces the stale socket and ends with `quit` (exit record 'stopped').

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GUEST_READY_LINE } from '../../guest/init-script.js';
import { cleanConsoleText, tshvEntryPath } from '../testing/guest-session.js';
import type { VmmEvent, VmmExitRecord, VmmResponse, VmmStatus } from './protocol.js';

const BOOT_TIMEOUT_MS = 10 * 60 * 1000;
const STEP_TIMEOUT_MS = 3 * 60 * 1000;

const children = new Set<ChildProcess>();
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

/** A `tshv run` child whose console is only on its control socket. */
class Vmm {
  log = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly child: ChildProcess;
  constructor(readonly socketPath: string, readonly exitFile: string, name: string) {
    this.child = spawn(process.execPath, [tshvEntryPath(), 'run', '--control', socketPath, '--exit-file', exitFile, '--console', 'none', '--name', name], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(this.child);
    this.child.stdout?.on('data', (d: Buffer) => { this.log += d.toString(); });
    this.child.stderr?.on('data', (d: Buffer) => { this.log += d.toString(); });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        children.delete(this.child);
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  /** Connects once the VMM serves its socket. */
  async connect(timeoutMs = STEP_TIMEOUT_MS): Promise<Conn> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exit) throw new Error(`tshv run exited ${JSON.stringify(this.exit)}: ${this.log}`);
      try {
        return await Conn.open(this.socketPath);
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async request(action: object): Promise<VmmResponse> {
    const c = await this.connect();
    try {
      return await c.request(action);
    } finally {
      c.close();
    }
  }

  async status(): Promise<VmmStatus> {
    const r = await this.request({ action: 'status' });
    assert.ok(r.ok && r.status, JSON.stringify(r));
    return r.status;
  }

  async waitExit(timeoutMs = STEP_TIMEOUT_MS): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.exited,
        new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`tshv run did not exit: ${this.log}`)), timeoutMs); }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    if (!this.exit) this.child.kill('SIGKILL');
  }
}

/** One control connection: request lines, then maybe a console or watch stream. */
class Conn {
  data = '';
  closed = false;
  private nextId = 1;
  private waiters: Array<() => void> = [];
  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => { this.data += d.toString('latin1'); this.wake(); });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => undefined);
  }

  static async open(path: string): Promise<Conn> {
    const s = createConnection(path);
    await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
    return new Conn(s);
  }

  /** Sends one request; resolves with its response line (and leaves the rest in `data`). */
  async request(action: object): Promise<VmmResponse> {
    const id = this.nextId++;
    const from = this.data.length;
    this.socket.write(`${JSON.stringify({ id, ...action })}\n`);
    const nl = await this.waitFor('\n', STEP_TIMEOUT_MS, from);
    const res = JSON.parse(this.data.slice(from, nl)) as VmmResponse;
    assert.equal(res.id, id);
    this.data = this.data.slice(nl + 1);
    return res;
  }

  /** Waits for `s` at or after `from`; returns its index. */
  async waitFor(s: string, timeoutMs: number, from = 0): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.data.indexOf(s, from);
      if (at >= 0) return at;
      if (this.closed) throw new Error(`connection closed before ${JSON.stringify(s)}; got: ${cleanConsoleText(this.data.slice(-2000))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${JSON.stringify(s)}; got: ${cleanConsoleText(this.data.slice(-2000))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  type(text: string): void {
    this.socket.write(text);
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

void describe('control socket with a real guest (tshv run --control --console none)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-control-'));
  const socketPath = join(dir, 't1.sock');
  const exitFile = join(dir, 't1.exit');
  let vmm: Vmm;
  let watch: Conn;
  const events: VmmEvent[] = [];
  const eventLines = (): VmmEvent[] => watch.data.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as VmmEvent);

  before(async () => {
    vmm = new Vmm(socketPath, exitFile, 't1');
    watch = await vmm.connect(BOOT_TIMEOUT_MS); // the first run may build the default guest first
    const r = await watch.request({ action: 'watch' });
    assert.equal(r.ok, true);
  });

  after(async () => {
    vmm.kill();
    watch.close();
    await vmm.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  void it('serves the socket with mode 0600 and answers status', async () => {
    assert.equal(statSync(socketPath).mode & 0o777, 0o600);
    const st = await vmm.status();
    assert.equal(st.name, 't1');
    assert.equal(st.pid, vmm.child.pid);
    assert.equal(st.state, 'running');
    assert.equal(st.resetCount, 0);
    assert.equal(st.cpuCount, 1);
  });

  void it('console-attach with scrollback replays the boot (readiness line); a typed command answers', async () => {
    // A first console waits for the guest to be ready; a second one, attached later, gets it replayed.
    const first = await vmm.connect();
    assert.equal((await first.request({ action: 'console-attach', scrollback: true })).ok, true);
    await first.waitFor(GUEST_READY_LINE, BOOT_TIMEOUT_MS);
    first.close();
    const c = await vmm.connect();
    try {
      assert.equal((await c.request({ action: 'console-attach', scrollback: true })).ok, true);
      await c.waitFor(GUEST_READY_LINE, 5000); // already there: from the scrollback
      const from = c.data.length;
      c.type('echo ctl-$((6*7))\n');
      await c.waitFor('ctl-42', STEP_TIMEOUT_MS, from);
    } finally {
      c.close();
    }
  });

  void it('pause: status paused, input typed while paused is answered only after resume', async () => {
    const c = await vmm.connect();
    try {
      assert.equal((await c.request({ action: 'console-attach', scrollback: false })).ok, true);
      assert.equal((await vmm.request({ action: 'pause' })).ok, true);
      assert.equal((await vmm.status()).state, 'paused');
      c.type('echo paused-$((7*8))\n');
      // Nothing runs while paused: give the guest (were it running) ample time to answer.
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(c.data.includes('paused-56'), false, 'no answer while paused');
      assert.equal((await vmm.request({ action: 'resume' })).ok, true);
      await c.waitFor('paused-56', STEP_TIMEOUT_MS);
      assert.equal((await vmm.status()).state, 'running');
      const states = eventLines().filter((e) => e.event === 'state');
      assert.deepEqual(states.slice(-2), [{ event: 'state', state: 'paused' }, { event: 'state', state: 'running' }]);
    } finally {
      c.close();
    }
  });

  void it('detaching a console leaves the guest running', async () => {
    const a = await vmm.connect();
    assert.equal((await a.request({ action: 'console-attach', scrollback: false })).ok, true);
    a.type('sleep 1\n');
    a.close();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await vmm.status()).state, 'running');
    const b = await vmm.connect();
    try {
      assert.equal((await b.request({ action: 'console-attach', scrollback: false })).ok, true);
      b.type('echo still-$((9*9))\n');
      await b.waitFor('still-81', STEP_TIMEOUT_MS);
    } finally {
      b.close();
    }
    assert.equal(vmm.exit, undefined);
  });

  void it('reset: the guest boots again (readiness line again), resetCount 1, a reset event', async () => {
    const c = await vmm.connect();
    try {
      assert.equal((await c.request({ action: 'console-attach', scrollback: false })).ok, true);
      assert.equal((await vmm.request({ action: 'reset' })).ok, true);
      await c.waitFor(GUEST_READY_LINE, BOOT_TIMEOUT_MS);
      const st = await vmm.status();
      assert.equal(st.resetCount, 1);
      assert.equal(st.state, 'running');
      assert.ok(eventLines().some((e) => e.event === 'reset'));
      // The new machine's shell answers too.
      const from = c.data.length;
      c.type('echo reborn-$((5*5))\n');
      await c.waitFor('reborn-25', STEP_TIMEOUT_MS, from);
    } finally {
      c.close();
    }
  });

  void it('power-button: the guest powers off (acpid); exit 0, exit record poweroff, socket removed', async () => {
    assert.equal((await vmm.request({ action: 'power-button' })).ok, true);
    const exit = await vmm.waitExit();
    assert.deepEqual(exit, { code: 0, signal: null }, vmm.log);
    const record = JSON.parse(readFileSync(exitFile, 'utf8')) as VmmExitRecord;
    assert.equal(record.reason, 'poweroff');
    assert.equal(record.exitCode, 0);
    assert.ok(!Number.isNaN(Date.parse(record.time)));
    await watch.waitFor('"exiting"', 5000).catch(() => undefined);
    events.push(...eventLines());
    assert.deepEqual(events.find((e) => e.event === 'exiting'), { event: 'exiting', exit: record });
    assert.equal(existsSync(socketPath), false);
  });

  void it('SIGKILL leaves no exit record; the next VMM replaces the stale socket, and quit records "stopped"', async () => {
    const path = join(dir, 'k.sock');
    const killedExit = join(dir, 'k.exit');
    const killed = new Vmm(path, killedExit, 'k');
    try {
      await killed.status();
      killed.kill();
      assert.equal((await killed.waitExit()).signal, 'SIGKILL');
      assert.equal(existsSync(killedExit), false);
      assert.ok(statSync(path).isSocket(), 'the dead VMM left its socket');
    } finally {
      killed.kill();
    }
    const quitExit = join(dir, 'q.exit');
    const next = new Vmm(path, quitExit, 'q');
    try {
      assert.equal((await next.status()).name, 'q');
      assert.equal((await next.request({ action: 'quit' })).ok, true);
      assert.deepEqual(await next.waitExit(), { code: 0, signal: null }, next.log);
      const record = JSON.parse(readFileSync(quitExit, 'utf8')) as VmmExitRecord;
      assert.equal(record.reason, 'stopped');
      assert.equal(record.exitCode, 0);
      assert.equal(existsSync(path), false);
    } finally {
      next.kill();
    }
  });
});
