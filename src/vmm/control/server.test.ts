import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONSOLE_INPUT_HIGH_WATER_BYTES, VMM_MAX_CONTROL_CONNECTIONS, VmmControlServer, parseVmmRequest, type VmmControlHandler } from './server.js';
import { VMM_MAX_REQUEST_BYTES, VMM_NO_REQUEST_ID, type VmmResponse, type VmmStatus } from './protocol.js';

/** A fake VMM: records calls; pause can be held to check ordering. */
class FakeVmm implements VmmControlHandler {
  calls: string[] = [];
  input: Buffer[] = [];
  state: VmmStatus['state'] = 'running';
  pauseDelayMs = 0;
  failPause = false;
  status(): VmmStatus {
    this.calls.push('status');
    return { name: 'fake', pid: 1, state: this.state, engine: 'soft', cpuCount: 1, memSizeMib: 64, uptimeMs: 5, resetCount: 0 };
  }
  async pause(): Promise<void> {
    this.calls.push('pause');
    if (this.failPause) throw new Error('Cannot pause: engine on fire');
    await new Promise((r) => setTimeout(r, this.pauseDelayMs));
    this.state = 'paused';
  }
  resume(): void { this.calls.push('resume'); this.state = 'running'; }
  powerButton(): void { this.calls.push('power-button'); }
  quit(): void { this.calls.push('quit'); }
  reset(): void { this.calls.push('reset'); }
  /** Bytes the "guest" has not read: tests set it to act as a guest that falls behind. */
  pendingInputBytes = 0;
  consoleInput(bytes: Uint8Array): number {
    if (bytes.length > 0) this.input.push(Buffer.from(bytes));
    return this.pendingInputBytes;
  }
  balloon(targetMib: number): never { throw new Error(`no balloon (${targetMib})`); }
  balloonStats(): Promise<never> { return Promise.reject(new Error('no balloon')); }
  setRateLimit(device: string): never { throw new Error(`no device ${device}`); }
}

/** A client that collects what it receives. */
class Client {
  data = Buffer.alloc(0);
  closed = false;
  private waiters: Array<() => void> = [];
  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => { this.data = Buffer.concat([this.data, d]); this.wake(); });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => undefined);
  }
  static async connect(path: string): Promise<Client> {
    const s = createConnection(path);
    await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
    return new Client(s);
  }
  get text(): string { return this.data.toString('utf8'); }
  lines(): string[] { return this.text.split('\n').filter((l) => l !== ''); }
  responses(): VmmResponse[] { return this.lines().map((l) => JSON.parse(l) as VmmResponse); }
  async until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.text.slice(0, 500))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }
  send(s: string | Buffer): void { this.socket.write(s); }
  destroy(): void { this.socket.destroy(); }
  private wake(): void { const w = this.waiters; this.waiters = []; for (const f of w) f(); }
}

async function withServer(fn: (ctx: { server: VmmControlServer; vmm: FakeVmm; path: string; dir: string; clients: Client[] }) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-ctl-'));
  const path = join(dir, 'vm.sock');
  const vmm = new FakeVmm();
  const server = await VmmControlServer.listen(path, vmm);
  const clients: Client[] = [];
  try {
    await fn({ server, vmm, path, dir, clients });
  } finally {
    for (const c of clients) c.destroy();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function connect(ctx: { path: string; clients: Client[] }): Promise<Client> {
  const c = await Client.connect(ctx.path);
  ctx.clients.push(c);
  return c;
}

test('parseVmmRequest: valid requests, and one clear error for each kind of bad line', () => {
  assert.deepEqual(parseVmmRequest('{"id":3,"action":"status"}'), { id: 3, action: 'status' });
  assert.deepEqual(parseVmmRequest('{"id":4,"action":"console-attach","scrollback":false}'), { id: 4, action: 'console-attach', scrollback: false });
  assert.deepEqual(parseVmmRequest('{"id":5,"action":"set-rate-limit","device":"vda","bps":null}'), { id: 5, action: 'set-rate-limit', device: 'vda', bps: null });
  assert.deepEqual(parseVmmRequest('nope'), { id: VMM_NO_REQUEST_ID, error: 'Invalid request: not a JSON line' });
  assert.deepEqual(parseVmmRequest('[1]'), { id: VMM_NO_REQUEST_ID, error: 'Invalid request: not a JSON object' });
  assert.deepEqual(parseVmmRequest('{"action":"status"}'), { id: VMM_NO_REQUEST_ID, error: 'Invalid request: "id" must be an integer' });
  assert.deepEqual(parseVmmRequest('{"id":1.5,"action":"status"}'), { id: VMM_NO_REQUEST_ID, error: 'Invalid request: "id" must be an integer' });
  assert.deepEqual(parseVmmRequest('{"id":7}'), { id: 7, error: 'Invalid request: "action" must be a string' });
  assert.deepEqual(parseVmmRequest('{"id":8,"action":"console-attach"}'), { id: 8, error: 'Invalid "console-attach" request: "scrollback" must be true or false' });
  assert.deepEqual(parseVmmRequest('{"id":9,"action":"balloon","targetMib":"x"}'), { id: 9, error: 'Invalid "balloon" request: "targetMib" must be a number' });
  assert.deepEqual(parseVmmRequest('{"id":10,"action":"rm -rf"}'), { id: 10, error: 'Unknown action "rm -rf"' });
  assert.deepEqual(parseVmmRequest('{"id":11,"action":"toString"}'), { id: 11, error: 'Unknown action "toString"' });
});

test('socket file: mode 0600, removed on close', async () => {
  let path = '';
  await withServer((ctx) => {
    path = ctx.path;
    const st = statSync(ctx.path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    return Promise.resolve();
  });
  assert.equal(existsSync(path), false);
});

test('requests in one write are answered in order with their ids, even when one is slow', async () => {
  await withServer(async (ctx) => {
    ctx.vmm.pauseDelayMs = 50;
    const c = await connect(ctx);
    c.send('{"id":1,"action":"pause"}\n{"id":2,"action":"status"}\n\n{"id":3,"action":"resume"}\n{"id":4,"action":"power-button"}\n{"id":5,"action":"reset"}\n');
    await c.until(() => c.lines().length >= 5, 'five answers');
    const r = c.responses();
    assert.deepEqual(r.map((x) => x.id), [1, 2, 3, 4, 5]);
    assert.ok(r.every((x) => x.ok));
    assert.equal(r[1]!.ok && r[1]!.status?.state, 'paused', 'status answered after pause finished');
    assert.deepEqual(ctx.vmm.calls, ['pause', 'status', 'resume', 'power-button', 'reset']);
  });
});

test('garbage, bad requests and handler errors get an error line and the connection goes on', async () => {
  await withServer(async (ctx) => {
    ctx.vmm.failPause = true;
    const c = await connect(ctx);
    c.send('\x00\xff garbage\n{"id":2}\n{"id":3,"action":"pause"}\n{"id":4,"action":"balloon","targetMib":1}\n{"id":5,"action":"status"}\n');
    await c.until(() => c.lines().length >= 5, 'five answers');
    const r = c.responses();
    assert.deepEqual(r.slice(0, 4).map((x) => [x.id, x.ok]), [[VMM_NO_REQUEST_ID, false], [2, false], [3, false], [4, false]]);
    assert.equal(!r[2]!.ok && r[2]!.error, 'Cannot pause: engine on fire');
    assert.equal(r[4]!.ok, true);
    assert.equal(c.closed, false);
  });
});

test('a line over the limit gets an error line and the connection is closed; the server goes on', async () => {
  await withServer(async (ctx) => {
    const c = await connect(ctx);
    c.send(Buffer.alloc(VMM_MAX_REQUEST_BYTES + 10, 0x61));
    await c.until(() => c.closed, 'the server to close the connection');
    assert.deepEqual(c.responses(), [{ id: VMM_NO_REQUEST_ID, ok: false, error: `Request line longer than ${VMM_MAX_REQUEST_BYTES} bytes` }]);
    // Also when the newline comes, but too late.
    const d = await connect(ctx);
    d.send(`{"id":1,"action":"status","pad":"${'x'.repeat(VMM_MAX_REQUEST_BYTES)}"}\n`);
    await d.until(() => d.closed, 'the server to close the second connection');
    assert.equal(d.responses()[0]?.ok, false);
    const e = await connect(ctx);
    e.send('{"id":9,"action":"status"}\n');
    await e.until(() => e.lines().length === 1, 'an answer on a new connection');
  });
});

test('a half-closed client still gets its answers, then the connection ends', async () => {
  await withServer(async (ctx) => {
    ctx.vmm.pauseDelayMs = 30;
    const c = await connect(ctx);
    c.socket.end('{"id":1,"action":"pause"}\n{"id":2,"action":"status"}\n{"id":3,"act');
    await c.until(() => c.closed, 'the end of the connection');
    const r = c.responses();
    assert.deepEqual(r.map((x) => x.id), [1, 2, VMM_NO_REQUEST_ID]);
    assert.equal(!r[2]!.ok && r[2]!.error, 'Invalid request: the line has no end');
  });
});

test('connections over the limit get an error line and are closed; closing frees a slot', async () => {
  await withServer(async (ctx) => {
    const open: Client[] = [];
    for (let i = 0; i < VMM_MAX_CONTROL_CONNECTIONS; i++) open.push(await connect(ctx));
    const extra = await connect(ctx);
    await extra.until(() => extra.closed, 'the extra connection to be closed');
    assert.match(extra.text, /Too many control connections/);
    open[0]!.destroy();
    await open[0]!.until(() => open[0]!.closed, 'close');
    await new Promise((r) => setTimeout(r, 50));
    const again = await connect(ctx);
    again.send('{"id":1,"action":"status"}\n');
    await again.until(() => again.lines().length === 1, 'an answer');
    assert.equal(again.responses()[0]!.ok, true);
  });
});

test('console-attach: scrollback first, then live output; input (also in the request write) reaches the VMM', async () => {
  await withServer(async (ctx) => {
    ctx.server.consoleOutput(Buffer.from('boot line 1\n'));
    ctx.server.consoleOutput(Buffer.from('tshv-guest: ready\n'));
    const a = await connect(ctx);
    a.send('{"id":1,"action":"console-attach","scrollback":true}\nls\n');
    await a.until(() => a.text.includes('ready'), 'the scrollback');
    assert.equal(a.text, '{"id":1,"ok":true}\nboot line 1\ntshv-guest: ready\n');
    const b = await connect(ctx);
    b.send('{"id":2,"action":"console-attach","scrollback":false}\n');
    await b.until(() => b.lines().length === 1, 'the answer');
    await b.until(() => ctx.server.consoleCount === 2, 'two consoles');
    ctx.server.consoleOutput(Buffer.from('live\n'));
    await a.until(() => a.text.endsWith('live\n'), 'live output on a');
    await b.until(() => b.text.endsWith('live\n'), 'live output on b');
    assert.equal(b.text, '{"id":2,"ok":true}\nlive\n');
    b.send('{"id":3,"action":"quit"}\n'); // raw input now, not a request
    await b.until(() => Buffer.concat(ctx.vmm.input).toString().includes('quit'), 'input');
    assert.equal(Buffer.concat(ctx.vmm.input).toString(), 'ls\n{"id":3,"action":"quit"}\n');
    assert.deepEqual(ctx.vmm.calls, []);
    // Detaching one console leaves the other.
    b.socket.end();
    await b.until(() => b.closed, 'b to close');
    await a.until(() => ctx.server.consoleCount === 1, 'one console left');
  });
});

test('console input beyond what the guest has read holds the client back, and nothing is lost', async () => {
  await withServer(async (ctx) => {
    const a = await connect(ctx);
    a.send('{"id":1,"action":"console-attach","scrollback":false}\n');
    await a.until(() => a.lines().length === 1, 'the answer');
    // The guest falls behind: the server stops reading this client.
    ctx.vmm.pendingInputBytes = CONSOLE_INPUT_HIGH_WATER_BYTES + 1;
    a.send('first');
    await a.until(() => Buffer.concat(ctx.vmm.input).toString() === 'first', 'the first input');
    a.send('second');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(Buffer.concat(ctx.vmm.input).toString(), 'first', 'held back while the queue is full');
    // The guest catches up: reading resumes and the held input arrives.
    ctx.vmm.pendingInputBytes = 0;
    await a.until(() => Buffer.concat(ctx.vmm.input).toString() === 'firstsecond', 'the held input');
  });
});

test('a console client that stops reading is dropped, the others are not', async () => {
  await withServer(async (ctx) => {
    const slow = await connect(ctx);
    slow.send('{"id":1,"action":"console-attach","scrollback":false}\n');
    await slow.until(() => slow.lines().length === 1, 'the answer');
    slow.socket.pause();
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    for (let i = 0; i < 200 && ctx.server.consoleCount > 0; i++) ctx.server.consoleOutput(chunk);
    assert.equal(ctx.server.consoleCount, 0, 'dropped after VMM_STREAM_MAX_BUFFERED_BYTES');
    const c = await connect(ctx);
    c.send('{"id":2,"action":"status"}\n');
    await c.until(() => c.lines().length === 1, 'the server still answers');
  });
});

test('watch: events as JSON lines; close() sends what was emitted and ends the stream', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-ctl-'));
  const path = join(dir, 'vm.sock');
  const server = await VmmControlServer.listen(path, new FakeVmm());
  const w = await Client.connect(path);
  try {
    w.send('{"id":1,"action":"watch"}\n');
    await w.until(() => w.lines().length === 1, 'the answer');
    await new Promise((r) => setImmediate(r));
    server.emit({ event: 'state', state: 'paused' });
    server.emit({ event: 'exiting', exit: { reason: 'stopped', exitCode: 0, time: '2026-01-01T00:00:00.000Z' } });
    await server.close();
    await w.until(() => w.closed, 'the end of the stream');
    assert.deepEqual(w.lines().map((l) => JSON.parse(l) as unknown), [
      { id: 1, ok: true },
      { event: 'state', state: 'paused' },
      { event: 'exiting', exit: { reason: 'stopped', exitCode: 0, time: '2026-01-01T00:00:00.000Z' } },
    ]);
    assert.equal(existsSync(path), false);
  } finally {
    w.destroy();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a stale socket left by a killed process is replaced; a live one and a regular file are refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-ctl-'));
  const path = join(dir, 'vm.sock');
  const child = spawn(process.execPath, ['-e', 'require("net").createServer().listen(process.argv[1], () => console.log("up"))', path], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', () => reject(new Error('listener died')));
    });
    // Live: refused, and the file stays.
    await assert.rejects(VmmControlServer.listen(path, new FakeVmm()), { message: `Cannot serve the control socket "${path}": another process is serving it` });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.ok(statSync(path).isSocket(), 'SIGKILL left the socket file');
    const server = await VmmControlServer.listen(path, new FakeVmm());
    const c = await Client.connect(path);
    c.send('{"id":1,"action":"status"}\n');
    await c.until(() => c.lines().length === 1, 'an answer from the new server');
    c.destroy();
    await server.close();
    const file = join(dir, 'notes.txt');
    writeFileSync(file, 'keep me');
    await assert.rejects(VmmControlServer.listen(file, new FakeVmm()), /the path exists and is not a socket/);
    assert.equal(readFileSync(file, 'utf8'), 'keep me');
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
