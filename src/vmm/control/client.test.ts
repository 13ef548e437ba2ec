import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GUEST_READY_LINE } from '../../guest/init-script.js';
import { VmmControlClient, VmmControlError, VmmRefusedError } from './client.js';
import type { VmmEvent } from './protocol.js';
import { FakeVmmServer } from './testing/fake-vmm.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tshv-ctl-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function withFake<T>(fn: (fake: FakeVmmServer, path: string) => Promise<T>, options: { ignorePowerButton?: boolean } = {}): Promise<T> {
  const path = join(dir, `vmm-${Math.random().toString(36).slice(2)}.sock`);
  const fake = new FakeVmmServer({ name: 'web', ...options });
  await fake.listen(path);
  try {
    return await fn(fake, path);
  } finally {
    await fake.close();
  }
}

test('request: status, pause and resume, answers matched by id', async () => {
  await withFake(async (fake, path) => {
    using client = new VmmControlClient(path);
    const status = await client.status();
    assert.equal(status.name, 'web');
    assert.equal(status.state, 'running');
    // Two requests in flight at once on one connection.
    await Promise.all([client.request({ action: 'pause' }), client.request({ action: 'status' })]);
    assert.equal(fake.state, 'paused');
    await client.request({ action: 'resume' });
    assert.equal((await client.status()).state, 'running');
    assert.deepEqual(fake.requests.map((r) => r.action), ['status', 'pause', 'status', 'resume', 'status']);
  });
});

test('watch: events arrive as the VMM changes state, and the stream ends when the VMM exits', async () => {
  await withFake(async (fake, path) => {
    using client = new VmmControlClient(path);
    const events: VmmEvent[] = [];
    const watch = await client.watch((e) => events.push(e));
    await client.request({ action: 'pause' });
    await client.request({ action: 'reset' });
    fake.exit('poweroff');
    await watch.closed;
    assert.deepEqual(events.map((e) => e.event), ['state', 'reset', 'exiting']);
    const last = events[2];
    assert.ok(last?.event === 'exiting' && last.exit.reason === 'poweroff');
  });
});

test('attachConsole: scrollback first, then a live byte stream both ways; detaching leaves the VMM alone', async () => {
  await withFake(async (fake, path) => {
    using client = new VmmControlClient(path);
    const console = await client.attachConsole();
    let text = '';
    const seen = (s: string): Promise<void> => new Promise((resolve) => {
      const check = (): void => {
        if (text.includes(s)) {
          console.off('data', onData);
          resolve();
        }
      };
      const onData = (b: Buffer): void => {
        text += b.toString('latin1');
        check();
      };
      console.on('data', onData);
      check();
    });
    await seen(GUEST_READY_LINE);
    console.write('echo hi\n');
    await seen('echo hi\n');
    console.destroy();
    assert.equal((await client.status()).state, 'running');
  });
});

test('a refused request is one clear error', async () => {
  await withFake(async (_fake, path) => {
    using client = new VmmControlClient(path);
    await assert.rejects(client.request({ action: 'bogus' } as never), (e: unknown) => {
      assert.ok(e instanceof VmmRefusedError);
      assert.match(e.message, /^The VMM refused "bogus": unknown action "bogus"$/);
      return true;
    });
  });
});

test('no socket, nobody listening, no answer: clear errors with timeouts', async () => {
  using missing = new VmmControlClient(join(dir, 'missing.sock'));
  await assert.rejects(missing.status(), /^VmmControlError: Cannot reach the VMM at .*missing\.sock: the socket does not exist$|Cannot reach the VMM at .*missing\.sock: the socket does not exist/);

  // A server that accepts and never answers.
  const silentPath = join(dir, 'silent.sock');
  const sockets: Array<{ destroy(): void }> = [];
  const silent: Server = createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => silent.listen(silentPath, resolve));
  try {
    using client = new VmmControlClient(silentPath, { requestTimeoutMs: 100 });
    await assert.rejects(client.status(), /did not answer "status" within 100 ms/);
    await assert.rejects(client.watch(() => {}), /did not answer "watch" within 100 ms/);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

test('a VMM that goes away fails the requests in flight and the next request reconnects', async () => {
  await withFake(async (fake, path) => {
    using client = new VmmControlClient(path);
    await client.status();
    await fake.close();
    await assert.rejects(client.status(), VmmControlError);
    const again = new FakeVmmServer({ name: 'web2' });
    await again.listen(path);
    try {
      assert.equal((await client.status()).name, 'web2');
    } finally {
      await again.close();
    }
  });
});
