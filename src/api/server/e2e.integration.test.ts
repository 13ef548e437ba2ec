// End to end: the real `tshv daemon` process (real Daemon, real VMM process, soft engine, the
// default guest) in a temporary $TSHV_HOME, driven through the CLI as a user would: create →
// start → console shows the readiness line and answers a command → pause → resume → the daemon
// SIGKILLed while the VM runs, a new daemon reports it running again → token roles over HTTP on
// an ephemeral port → stop → delete. Then the lifecycle again through REST alone (fetch with an
// admin token) with its events read over SSE. One full guest boot for the whole file.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tshvHome } from '../../guest/build.js';
import { GUEST_READY_LINE } from '../../guest/init-script.js';
import { tshvEntryPath } from '../../vmm/testing/guest-session.js';

const entry = tshvEntryPath();
const BOOT_TIMEOUT_MS = 10 * 60 * 1000;

interface Run { code: number | null; stdout: string; stderr: string }

let home: string;
let env: NodeJS.ProcessEnv;
const daemons = new Set<ChildProcess>();
/** VMM pids seen, killed at the end whatever happens (they outlive daemons by design). */
const vmmPids = new Set<number>();

function tshv(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; onSpawn?: (child: ChildProcess, out: () => string) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, ...args], { env: opts.env ?? env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString('latin1'); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString('latin1'); });
    child.stdin.on('error', () => {});
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (opts.onSpawn !== undefined) opts.onSpawn(child, () => stdout);
    else child.stdin.end();
  });
}

async function tshvJson<T>(args: string[], runEnv?: NodeJS.ProcessEnv): Promise<T> {
  const r = await tshv([...args, '--json'], runEnv !== undefined ? { env: runEnv } : {});
  assert.equal(r.code, 0, `tshv ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

interface Daemon { child: ChildProcess; httpUrl: string; log: () => string; exited: Promise<number | null> }

async function startDaemon(): Promise<Daemon> {
  const child = spawn(process.execPath, [entry, 'daemon', '--listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  daemons.add(child);
  let log = '';
  child.stderr.on('data', (d: Buffer) => { log += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    daemons.delete(child);
    resolve(code);
  }));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const m = /listening on \S+ and (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
    if (m !== null) return { child, httpUrl: m[1]!, log: () => log, exited };
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the daemon did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function until(cond: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() - start > timeoutMs) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 50);
    };
    tick();
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface VmJson { id: string; name: string; state: string; pid?: number; spec: { memoryMib?: number } }

before(() => {
  home = mkdtempSync(join(tmpdir(), 'tshv-e2e-'));
  // The cached default guest, not a rebuild (src/guest/build.ts keeps it under $TSHV_HOME/guest).
  const cached = join(tshvHome(process.env), 'guest');
  if (existsSync(cached)) symlinkSync(cached, join(home, 'guest'));
  env = { ...process.env, TSHV_HOME: home, TSHV_HOST: '', TSHV_TOKEN: '' };
});

/** Processes whose command line names the temporary home: VMMs this test's daemons spawned. */
function processesOfHome(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'latin1').includes(home)) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

after(async () => {
  for (const d of daemons) d.kill('SIGKILL');
  for (const pid of [...vmmPids, ...processesOfHome()]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  rmSync(home, { recursive: true, force: true });
});

test('the daemon, the CLI and a real VM: lifecycle, console, daemon restart, roles', { timeout: 20 * 60 * 1000 }, async () => {
  let daemon = await startDaemon();

  const created = await tshvJson<VmJson>(['vm', 'create', 'e2e', '--memory', '256']);
  assert.equal(created.state, 'stopped');
  assert.equal(created.spec.memoryMib, 256);

  const started = await tshvJson<VmJson>(['vm', 'start', 'e2e']);
  assert.equal(started.state, 'running');
  assert.ok(started.pid !== undefined);
  const pid = started.pid;
  vmmPids.add(pid);

  // The console: the readiness line (live or from the scrollback), a command, then detach.
  const con = await tshv(['vm', 'console', 'e2e'], {
    timeoutMs: BOOT_TIMEOUT_MS,
    onSpawn: (child, out) => {
      void (async () => {
        await until(() => out().includes(GUEST_READY_LINE), 'the readiness line', BOOT_TIMEOUT_MS);
        // The shell's prompt follows the readiness line; type once it is there.
        await until(() => /# $/.test(out().replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '')), 'the prompt', 120_000);
        child.stdin!.write('echo "e2e-$((6*7))"\r');
        await until(() => out().includes('e2e-42'), 'the command output', 120_000);
        child.stdin!.write('\x1d');
      })().catch(() => child.kill('SIGKILL'));
    },
  });
  assert.equal(con.code, 0, con.stderr);
  assert.ok(con.stdout.includes(GUEST_READY_LINE));
  assert.ok(con.stdout.includes('e2e-42'));
  assert.match(con.stderr, /Detached from VM "e2e"/);

  assert.equal((await tshvJson<VmJson>(['vm', 'pause', 'e2e'])).state, 'paused');
  assert.equal((await tshvJson<VmJson>(['vm', 'resume', 'e2e'])).state, 'running');
  const conflict = await tshv(['vm', 'resume', 'e2e']);
  assert.equal(conflict.code, 1);
  assert.match(conflict.stderr, /^tshv: Cannot resume VM "e2e": it is (already )?running\n$/);

  // The daemon dies hard; the VM does not. A new daemon manages it again.
  daemon.child.kill('SIGKILL');
  await daemon.exited;
  assert.ok(alive(pid), 'the VMM survived the daemon');
  const down = await tshv(['vm', 'list']);
  assert.match(down.stderr, /Cannot reach the tshv daemon at .*: is `tshv daemon` running\?/);
  daemon = await startDaemon();
  const again = await tshvJson<VmJson>(['vm', 'show', 'e2e']);
  assert.equal(again.state, 'running');
  assert.equal(again.pid, pid);
  assert.equal((await tshvJson<VmJson>(['vm', 'pause', 'e2e'])).state, 'paused');
  assert.equal((await tshvJson<VmJson>(['vm', 'resume', 'e2e'])).state, 'running');

  // Roles over HTTP on the ephemeral port.
  const viewer = await tshvJson<{ secret: string }>(['token', 'create', 'v', '--role', 'viewer']);
  const operator = await tshvJson<{ secret: string }>(['token', 'create', 'o', '--role', 'operator']);
  const as = (secret: string): string[] => ['--host', daemon.httpUrl, '--token', secret];
  const listed = await tshvJson<VmJson[]>(['vm', 'list', ...as(viewer.secret)]);
  assert.deepEqual(listed.map((v) => v.name), ['e2e']);
  let r = await tshv(['vm', 'pause', 'e2e', ...as(viewer.secret)]);
  assert.equal(r.stderr, 'tshv: This needs the "operator" role; the token has "viewer"\n');
  r = await tshv(['token', 'list', ...as(operator.secret)]);
  assert.equal(r.stderr, 'tshv: This needs the "admin" role; the token has "operator"\n');
  assert.equal((await tshvJson<VmJson>(['vm', 'pause', 'e2e', ...as(operator.secret)])).state, 'paused');
  assert.equal((await tshvJson<VmJson>(['vm', 'resume', 'e2e', ...as(operator.secret)])).state, 'running');
  r = await tshv(['vm', 'list', '--host', daemon.httpUrl]);
  assert.match(r.stderr, /^tshv: Missing API token/);

  // Delete is refused while it runs; stop (power button, forced after the timeout); delete.
  r = await tshv(['vm', 'delete', 'e2e']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /e2e/);
  const stopped = await tshvJson<VmJson>(['vm', 'stop', 'e2e', '--timeout', '20']);
  assert.equal(stopped.state, 'stopped');
  await until(() => !alive(pid), 'the VMM process to end', 30_000);
  r = await tshv(['vm', 'delete', 'e2e']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await tshvJson<VmJson[]>(['vm', 'list']), []);

  daemon.child.kill('SIGTERM');
  assert.equal(await daemon.exited, 0, daemon.log());
});

test('the same lifecycle through REST alone, with an admin token over HTTP, and its events over SSE', { timeout: 10 * 60 * 1000 }, async () => {
  const daemon = await startDaemon();
  const admin = await tshvJson<{ secret: string }>(['token', 'create', 'rest', '--role', 'admin']);
  const headers = { authorization: `Bearer ${admin.secret}` };
  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(`${daemon.httpUrl}/api/v1${path}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { ...headers, 'content-type': 'application/json' } } : { headers }),
    });
    const text = await res.text();
    return { status: res.status, json: text === '' ? undefined : JSON.parse(text) as unknown };
  };
  const state = (r: { json: unknown }): string => (r.json as VmJson).state;

  // Events: read the SSE stream in the background, keep the vm-state transitions.
  const events: string[] = [];
  const abort = new AbortController();
  const sse = fetch(`${daemon.httpUrl}/api/v1/events`, { headers, signal: abort.signal }).then(async (res) => {
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body!) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const data = /^data: (.*)$/m.exec(buf.slice(0, i));
        buf = buf.slice(i + 2);
        if (data === null) continue;
        const e = JSON.parse(data[1]!) as { type: string; to?: string };
        events.push(e.type === 'vm-state' ? `${e.type}:${e.to}` : e.type);
      }
    }
  }).catch((e: unknown) => {
    if (!abort.signal.aborted) throw e;
  });

  let r = await api('POST', '/vms', { name: 'rest', memoryMib: 128 });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  assert.equal(state(r), 'stopped');
  r = await api('POST', '/vms', { name: 'rest' });
  assert.equal(r.status, 409);
  r = await api('POST', '/vms/rest/pause');
  assert.equal(r.status, 409);
  r = await api('POST', '/vms/rest/start');
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(state(r), 'running');
  const pid = (r.json as VmJson).pid!;
  vmmPids.add(pid);
  assert.equal(state(await api('POST', '/vms/rest/pause')), 'paused');
  assert.equal(state(await api('GET', '/vms/rest')), 'paused');
  assert.equal(state(await api('POST', '/vms/rest/resume')), 'running');
  assert.equal(state(await api('POST', '/vms/rest/reboot')), 'running');
  r = await api('DELETE', '/vms/rest');
  assert.equal(r.status, 409);
  // The guest is still booting (no acpid yet): the power button goes unanswered, the stop is forced.
  r = await api('POST', '/vms/rest/stop', { timeoutMs: 1000 });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(state(r), 'stopped');
  await until(() => !alive(pid), 'the VMM process to end', 30_000);
  r = await api('DELETE', '/vms/rest');
  assert.equal(r.status, 204);
  r = await api('GET', '/vms/rest');
  assert.equal(r.status, 404);

  await until(() => events.includes('vm-deleted'), 'the vm-deleted event', 10_000);
  abort.abort();
  await sse;
  assert.equal(events[0], 'vm-created');
  for (const to of ['starting', 'running', 'paused', 'stopped']) assert.ok(events.includes(`vm-state:${to}`), `event vm-state:${to} in ${events.join(', ')}`);

  daemon.child.kill('SIGTERM');
  assert.equal(await daemon.exited, 0, daemon.log());
});
