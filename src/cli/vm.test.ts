// The daemon commands of the CLI (vm, token, host) as a user runs them: the compiled `tshv` in a
// child process against an API server with the fake daemon in this process, over the local
// socket and over HTTP with tokens. Plus the small pieces (detach keys, tables, create flags).

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiListener } from '../api/server/listen.js';
import { FakeDaemon, FAKE_CONSOLE_SCROLLBACK } from '../api/server/testing/fake-daemon.js';
import { DetachKeys } from './vm-console.js';
import { table } from './remote.js';
import { parseCreateArgs } from './vm.js';
import { hoistGlobalOptions } from './main.js';

const entry = fileURLToPath(new URL('../bin/tshv.js', import.meta.url));

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs the CLI asynchronously (the server answering it lives in this process). */
function tshv(args: string[], env: NodeJS.ProcessEnv, input?: (child: ReturnType<typeof spawn>, out: () => string) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, ...args], { env: { ...process.env, TSHV_HOST: '', TSHV_TOKEN: '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) input(child, () => stdout);
    else child.stdin.end();
  });
}

test('DetachKeys: Ctrl-] and Ctrl-A x detach; Ctrl-A Ctrl-A sends one Ctrl-A', () => {
  const k = new DetachKeys();
  assert.deepEqual(k.feed(Buffer.from('ls\r')), { send: Buffer.from('ls\r'), detach: false });
  assert.deepEqual(k.feed(Buffer.from('ab\x1dcd')), { send: Buffer.from('ab'), detach: true });
  assert.deepEqual(new DetachKeys().feed(Buffer.from('q\x01x')), { send: Buffer.from('q'), detach: true });
  assert.deepEqual(new DetachKeys().feed(Buffer.from('\x01\x01z')), { send: Buffer.from('\x01z'), detach: false });
  assert.deepEqual(new DetachKeys().feed(Buffer.from('\x01c')), { send: Buffer.from('\x01c'), detach: false });
  // The escape may be split across reads.
  const split = new DetachKeys();
  assert.equal(split.feed(Buffer.from('\x01')).detach, false);
  assert.equal(split.feed(Buffer.from('x')).detach, true);
});

test('table pads columns to the widest cell', () => {
  assert.equal(table(['NAME', 'STATE'], [['a', 'running'], ['long-name', 'stopped']]),
    'NAME       STATE\na          running\nlong-name  stopped\n');
});

test('hoistGlobalOptions moves leading --host/--token after the command', () => {
  assert.deepEqual(hoistGlobalOptions(['--host', 'h:1', '--token=t', 'vm', 'list']), ['vm', 'list', '--host', 'h:1', '--token=t']);
  assert.deepEqual(hoistGlobalOptions(['vm', 'list', '--host', 'x']), ['vm', 'list', '--host', 'x']);
});

test('vm create flags become a VmSpec; local paths are made absolute', () => {
  const env = { TSHV_HOME: '/nonexistent-home' };
  const { spec } = parseCreateArgs(['web', '--cpus', '2', '--memory', '256', '--kernel', 'k', '--initrd', 'i', '--append', 'console=ttyS0',
    '--disk', 'd.img,ro,serial=S1,bps=1M', '--net', 'tap=tap7,mac=52:54:00:00:00:07', '--engine', 'soft', '--autostart',
    '--cpu-weight', '200', '--cpu-cap', '150', '--memory-limit', '1024'], env);
  assert.deepEqual(spec, {
    name: 'web', cpus: 2, memoryMib: 256, kernel: resolve('k'), initrd: resolve('i'), append: 'console=ttyS0', engine: 'soft',
    autostart: true, cpuWeight: 200, cpuCapPercent: 150, memoryLimitMib: 1024,
    disks: [{ path: resolve('d.img'), readOnly: true, serial: 'S1', bps: 1024 * 1024 }],
    nics: [{ tap: 'tap7', mac: '52:54:00:00:00:07' }],
  });
  assert.deepEqual(parseCreateArgs(['plain'], env).spec, { name: 'plain' });
  // For a remote daemon paths are its host's: left as given.
  assert.equal(parseCreateArgs(['r', '--kernel', 'k', '--host', 'http://h:1'], env).spec.kernel, 'k');
  assert.throws(() => parseCreateArgs(['x', '--cpus', 'two'], env), /--cpus must be a whole number, not "two"/);
  assert.throws(() => parseCreateArgs(['x', '--engine', 'qemu'], env), /--engine must be soft, kvm or auto/);
  assert.throws(() => parseCreateArgs(['x', '--initrd', 'i'], env), /--initrd needs --kernel/);
  assert.throws(() => parseCreateArgs([], env), /missing NAME/);
  assert.throws(() => parseCreateArgs(['a', 'b'], env), /unexpected argument "b"/);
});

describe('tshv vm/token/host against a daemon (fake service)', () => {
  const fake = new FakeDaemon();
  let home: string;
  let listener: ApiListener;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'tshv-cli-'));
    listener = await ApiListener.start(fake, { home, http: { host: '127.0.0.1', port: 0 } });
    env = { TSHV_HOME: home };
  });
  after(async () => {
    await listener?.close();
    rmSync(home, { recursive: true, force: true });
  });

  test('the lifecycle through the CLI, --json parsed, tables for people', async () => {
    let r = await tshv(['vm', 'create', 'web', '--cpus', '2', '--memory', '256', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const created = JSON.parse(r.stdout);
    assert.equal(created.name, 'web');
    assert.equal(created.spec.cpus, 2);
    r = await tshv(['vm', 'create', 'db'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Created VM "db" \(1 vCPU, 512 MiB, default guest\), id [0-9a-f-]{36}; start it with: tshv vm start db\n$/);
    r = await tshv(['vm', 'start', 'web', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).state, 'running');
    r = await tshv(['vm', 'list'], env);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+STATE\s+CPUS\s+MEMORY\s+ENGINE\s+PID\s+UPTIME\s+REASON$/);
    assert.match(r.stdout, /\nweb\s+running\s+2\s+256 MiB\s+auto\s+4242\s+\d+s/);
    assert.equal(lines[1]!.indexOf('running'), lines[0]!.indexOf('STATE'));
    r = await tshv(['vm', 'list', '--json'], env);
    assert.deepEqual(JSON.parse(r.stdout).map((v: { name: string }) => v.name).sort(), ['db', 'web']);
    r = await tshv(['vm', 'show', 'web'], env);
    assert.match(r.stdout, /^Name:\s+web$/m);
    assert.match(r.stdout, /^State:\s+running$/m);
    for (const [cmd, state] of [['pause', 'paused'], ['resume', 'running'], ['reboot', 'running']] as const) {
      r = await tshv(['vm', cmd, 'web', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).state, state);
    }
    r = await tshv(['vm', 'delete', 'web'], env);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'tshv: Cannot delete VM "web": it is running\n');
    r = await tshv(['vm', 'stop', 'web', '--timeout', '5'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Stopping VM "web" \(ACPI power button; forced after 5 s\)/);
    assert.equal(r.stdout, 'VM "web" is stopped\n');
    r = await tshv(['vm', 'force-stop', 'web'], env);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'tshv: Cannot force-stop VM "web": it is stopped\n');
    r = await tshv(['vm', 'delete', 'web'], env);
    assert.equal(r.code, 0, r.stderr);
    r = await tshv(['vm', 'show', 'web'], env);
    assert.equal(r.stderr, 'tshv: VM "web" not found\n');
    r = await tshv(['vm', 'create', 'Bad!'], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^tshv: Field "name" is invalid: Unique VM name/);
    r = await tshv(['host', '--json'], env);
    assert.equal(JSON.parse(r.stdout).hostname, 'fakehost');
    r = await tshv(['host'], env);
    assert.match(r.stdout, /^Overcommit:\s+CPU 0\.00x, memory 0\.00x$/m);
  });

  test('tokens: create (secret once), use over HTTP with --host/--token and env, roles, revoke', async () => {
    let r = await tshv(['token', 'create', 'ci', '--role', 'viewer', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const { token, secret } = JSON.parse(r.stdout);
    r = await tshv(['token', 'list'], env);
    assert.match(r.stdout, new RegExp(`^${token.id}\\s+ci\\s+viewer\\s`, 'm'));
    const url = listener.httpUrl!;
    r = await tshv(['--host', url, '--token', secret, 'vm', 'list', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Array.isArray(JSON.parse(r.stdout)));
    r = await tshv(['vm', 'create', 'x', '--json'], { ...env, TSHV_HOST: url, TSHV_TOKEN: secret });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'tshv: This needs the "operator" role; the token has "viewer"\n');
    r = await tshv(['vm', 'list', '--host', url], env);
    assert.match(r.stderr, /^tshv: Missing API token/);
    r = await tshv(['token', 'revoke', token.id], env);
    assert.equal(r.code, 0, r.stderr);
    r = await tshv(['vm', 'list', '--host', url, '--token', secret], env);
    assert.equal(r.stderr, 'tshv: Invalid or revoked API token\n');
    r = await tshv(['token', 'create', 'x', '--role', 'root'], env);
    assert.equal(r.code, 2);
  });

  test('vm console: scrollback, typing, Ctrl-] detaches and the VM keeps running', async () => {
    await tshv(['vm', 'create', 'con'], env);
    await tshv(['vm', 'start', 'con'], env);
    const r = await tshv(['vm', 'console', 'con'], env, (child, out) => {
      const wait = (text: string, then: () => void): void => {
        const t = setInterval(() => {
          if (out().includes(text)) {
            clearInterval(t);
            then();
          }
        }, 20);
      };
      wait(FAKE_CONSOLE_SCROLLBACK, () => {
        child.stdin!.write('uptime\r');
        wait('echo:uptime', () => child.stdin!.write('\x1d'));
      });
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Detached from VM "con" \(it keeps running\)/);
    assert.equal(fake.typed.get('con'), 'uptime\r');
    assert.equal(fake.getVm('con').state, 'running');
    const deadline = Date.now() + 5000;
    while (fake.consoles.size > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    assert.equal(fake.consoles.size, 0);
  });

  test('no daemon: one clear line', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'tshv-cli-none-'));
    try {
      const r = await tshv(['vm', 'list'], { TSHV_HOME: empty });
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `tshv: Cannot reach the tshv daemon at ${join(empty, 'tshvd.sock')}: is \`tshv daemon\` running?\n`);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
