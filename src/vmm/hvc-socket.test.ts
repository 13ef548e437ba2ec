import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HvcSocket, parseHvcOption } from './hvc-socket.js';

const dir = mkdtempSync(join(tmpdir(), 'tshv-hvc-'));
const cleanups: Array<() => void> = [];
after(() => {
  for (const c of cleanups) c();
  rmSync(dir, { recursive: true, force: true });
});

async function client(path: string): Promise<{ sock: Socket; text: () => string; next: (s: string) => Promise<void>; closed: Promise<void> }> {
  const sock = connect(path);
  cleanups.push(() => sock.destroy());
  let got = '';
  let wake: (() => void) | undefined;
  sock.on('data', (b: Buffer) => { got += b.toString(); wake?.(); });
  const closed = new Promise<void>((resolve) => sock.on('close', () => { wake?.(); resolve(); }));
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  const next = async (s: string): Promise<void> => {
    const deadline = Date.now() + 5000;
    while (!got.includes(s)) {
      if (Date.now() > deadline) throw new Error(`"${s}" not received; got ${JSON.stringify(got)}`);
      await new Promise<void>((resolve) => { wake = resolve; setTimeout(resolve, 50); });
    }
  };
  return { sock, text: () => got, next, closed };
}

void describe('hvc socket', () => {
  void it('parses socket=PATH and unix:PATH', () => {
    assert.deepEqual(parseHvcOption('socket=/tmp/a'), { socketPath: '/tmp/a' });
    assert.deepEqual(parseHvcOption('unix:/tmp/b'), { socketPath: '/tmp/b' });
    assert.throws(() => parseHvcOption('pty'), /expected socket=PATH/);
    assert.throws(() => parseHvcOption('socket='), /expected socket=PATH/);
  });

  void it('carries output to one client and input to the sink, with back-pressure; a second client is refused', async () => {
    const path = join(dir, 'a.sock');
    const hvc = await HvcSocket.listen(path);
    cleanups.push(() => hvc.dispose());
    assert.equal(statSync(path).mode & 0o777, 0o600);
    hvc.write(new TextEncoder().encode('lost'));
    assert.equal(hvc.droppedBytes, 4);
    const inputs: string[] = [];
    let full = true;
    hvc.setInputSink((b) => {
      if (full) return false;
      inputs.push(Buffer.from(b).toString());
      return true;
    });
    const c = await client(path);
    while (!hvc.connected) await new Promise((r) => setTimeout(r, 5));
    hvc.write(new TextEncoder().encode('from-guest'));
    await c.next('from-guest');
    c.sock.write('to-guest');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(inputs, []);
    full = false;
    const deadline = Date.now() + 5000;
    while (inputs.join('') !== 'to-guest' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(inputs.join(''), 'to-guest');

    const second = await client(path);
    await second.closed;
    assert.match(second.text(), /already attached/);

    c.sock.destroy();
    while (hvc.connected) await new Promise((r) => setTimeout(r, 5));
    const third = await client(path);
    while (!hvc.connected) await new Promise((r) => setTimeout(r, 5));
    hvc.write(new TextEncoder().encode('again'));
    await third.next('again');
    hvc.dispose();
    await third.closed;
    assert.equal(existsSync(path), false);
  });

  void it('replaces a stale socket file, refuses a live one and a file that is not a socket', async () => {
    const stale = join(dir, 'stale.sock');
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(stale, r));
    await assert.rejects(HvcSocket.listen(stale), /another process is serving it/);
    await new Promise<void>((r) => srv.close(() => r()));
    // A process that dies while serving leaves its socket file behind, with nobody accepting on it.
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    assert.equal(existsSync(stale), true);
    const hvc = await HvcSocket.listen(stale);
    hvc.dispose();
    const plain = join(dir, 'plain');
    writeFileSync(plain, 'x');
    await assert.rejects(HvcSocket.listen(plain), /not a socket/);
  });
});
