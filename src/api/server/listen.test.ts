// The API over real transports with the fake daemon: the Unix socket (mode, stale file, a second
// daemon refused), HTTP on an ephemeral port with tokens, the SSE event stream and the WebSocket
// console (scrollback, typing, detaching, origin checks), through the typed client.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import WebSocket from 'ws';
import { ApiListener, parseListenAddress } from './listen.js';
import { FakeDaemon, FAKE_CONSOLE_SCROLLBACK } from './testing/fake-daemon.js';
import { TshvClient, ApiClientError } from '../../client/client.js';
import type { ApiEvent } from '../schema/common.js';
import { TshvError } from '../../common/errors.js';

function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() - start > timeoutMs) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

test('parseListenAddress', () => {
  assert.deepEqual(parseListenAddress('127.0.0.1:7480'), { host: '127.0.0.1', port: 7480 });
  assert.deepEqual(parseListenAddress(':0'), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseListenAddress('[::1]:80'), { host: '::1', port: 80 });
  assert.deepEqual(parseListenAddress('0.0.0.0:1'), { host: '0.0.0.0', port: 1 });
  for (const bad of ['7480', 'host', 'h:99999', 'h:-1', '']) assert.throws(() => parseListenAddress(bad), TshvError, bad);
});

describe('ApiListener on a Unix socket and HTTP', () => {
  const fake = new FakeDaemon();
  let home: string;
  let listener: ApiListener;
  let local: TshvClient;
  const secrets: Record<string, string> = {};
  const logLines: string[] = [];

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'tshv-api-'));
    // A stale socket file left by a dead daemon is replaced.
    writeFileSync(join(home, 'tshvd.sock'), '');
    listener = await ApiListener.start(fake, { home, http: { host: '127.0.0.1', port: 0 }, log: (l) => logLines.push(l), sseKeepAliveMs: 50 });
    local = TshvClient.local(home);
    for (const role of ['viewer', 'operator', 'admin'] as const) secrets[role] = fake.createToken({ name: role, role }).secret;
  });
  after(async () => {
    await listener?.close();
    rmSync(home, { recursive: true, force: true });
  });

  const remote = (role: string): TshvClient => new TshvClient({ baseUrl: listener.httpUrl!, token: secrets[role] ?? role });

  test('the socket is 0600 in a 0700 home; a second daemon on the same home is refused', async () => {
    assert.equal(statSync(listener.socketPath).mode & 0o777, 0o600);
    assert.equal(statSync(home).mode & 0o777, 0o700);
    await assert.rejects(ApiListener.start(fake, { home }), /Another tshv daemon is listening/);
  });

  test('local socket: admin without a token, through the typed client', async () => {
    const vm = await local.createVm({ name: 'alpha', cpus: 2 });
    assert.equal(vm.state, 'stopped');
    assert.equal((await local.startVm('alpha')).state, 'running');
    assert.deepEqual((await local.listVms()).map((v) => v.name), ['alpha']);
    assert.equal((await local.hostInfo()).committed.cpus, 2);
    const t = await local.createToken({ name: 'tmp', role: 'viewer' });
    assert.ok((await local.listTokens()).some((x) => x.id === t.token.id));
    await local.revokeToken(t.token.id);
    await assert.rejects(local.pauseVm('nope'), (e: unknown) => e instanceof ApiClientError && e.status === 404 && e.message === 'VM "nope" not found');
    await assert.rejects(local.resumeVm('alpha'), /Cannot resume VM "alpha": it is running/);
    assert.ok(logLines.some((l) => l.startsWith('POST /api/v1/vms 201')), logLines.join('\n'));
  });

  test('HTTP: tokens and roles through the client; no token is refused', async () => {
    await assert.rejects(new TshvClient({ baseUrl: listener.httpUrl! }).listVms(), /Missing API token/);
    await assert.rejects(remote('bogus').listVms(), /Invalid or revoked API token/);
    assert.equal((await remote('viewer').getVm('alpha')).name, 'alpha');
    await assert.rejects(remote('viewer').pauseVm('alpha'), (e: unknown) => e instanceof ApiClientError && e.status === 403);
    assert.equal((await remote('operator').pauseVm('alpha')).state, 'paused');
    assert.equal((await remote('operator').resumeVm('alpha')).state, 'running');
    await assert.rejects(remote('operator').listTokens(), /needs the "admin" role/);
    assert.ok((await remote('admin').listTokens()).length >= 3);
  });

  test('events arrive over SSE with keep-alives; closing unsubscribes', async () => {
    const events: ApiEvent[] = [];
    const before = fake.subscriberCount;
    const stream = await remote('viewer').events((e) => events.push(e));
    await until(() => fake.subscriberCount === before + 1, 'subscription');
    await local.createVm({ name: 'beta' });
    await local.startVm('beta');
    await until(() => events.length >= 2, 'two events');
    assert.equal(events[0]?.type, 'vm-created');
    assert.deepEqual(events[1] && 'to' in events[1] ? [events[1].from, events[1].to] : [], ['stopped', 'running']);
    stream.close();
    await stream.closed;
    await until(() => fake.subscriberCount === before, 'unsubscribe');
    // Raw: keep-alive comments come on a quiet stream; ?token= works for browsers' EventSource.
    const text = await new Promise<string>((resolve, reject) => {
      const url = new URL(`/api/v1/events?token=${secrets['viewer']}`, listener.httpUrl);
      const req = request(url, (res) => {
        let got = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          got += c;
          if (got.includes(': keep-alive')) {
            req.destroy();
            resolve(got);
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    assert.match(text, /^: subscribed\n\n/);
  });

  test('console over WebSocket: scrollback, typing, detach leaves the VM running', async () => {
    for (const client of [local, remote('operator')]) {
      let got = '';
      const ws = await client.attachConsole('alpha', (d) => { got += d.toString('latin1'); });
      await until(() => got.includes(FAKE_CONSOLE_SCROLLBACK), 'scrollback');
      ws.send(Buffer.from('uname\r'));
      await until(() => got.includes('echo:uname\r'), 'echo');
      assert.equal(fake.consoles.size, 1);
      ws.close();
      await until(() => fake.consoles.size === 0, 'console detached');
      assert.equal((await local.getVm('alpha')).state, 'running');
    }
  });

  test('console refusals are plain HTTP errors before the upgrade', async () => {
    await assert.rejects(remote('viewer').attachConsole('alpha', () => {}), /needs the "operator" role/);
    await assert.rejects(local.attachConsole('nope', () => {}), /VM "nope" not found/);
    await local.createVm({ name: 'idle' });
    await assert.rejects(local.attachConsole('idle', () => {}), /it is stopped/);
    assert.equal(fake.consoles.size, 0);
  });

  test('WebSocket origin: same origin or none is accepted, another origin is refused; ?token= works', async () => {
    const base = listener.httpUrl!.replace(/^http/, 'ws');
    const open = (origin: string | undefined): Promise<number> => new Promise((resolve, reject) => {
      const ws = new WebSocket(`${base}/api/v1/vms/alpha/console?token=${secrets['operator']}`, origin !== undefined ? { origin } : {});
      ws.once('open', () => {
        ws.close();
        resolve(101);
      });
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        ws.terminate();
        resolve(res.statusCode ?? 0);
      });
      ws.once('error', reject);
    });
    assert.equal(await open(undefined), 101);
    assert.equal(await open(listener.httpUrl), 101);
    assert.equal(await open('https://evil.example'), 403);
    assert.equal(await open('null'), 403);
    await until(() => fake.consoles.size === 0, 'consoles closed');
  });

  test('an unreachable daemon is one clear line', async () => {
    const client = TshvClient.local(join(home, 'nowhere'));
    await assert.rejects(client.listVms(), (e: unknown) => e instanceof TshvError
      && e.message === `Cannot reach the tshv daemon at ${join(home, 'nowhere', 'tshvd.sock')}: is \`tshv daemon\` running?`);
  });
});
