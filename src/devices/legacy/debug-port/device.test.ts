import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PioBus } from '../../bus.js';
import { DEBUG_CONSOLE_PORT, DebugConsole, POST_CODE_PORT, PostCodePort } from './device.js';

test('port 0x80 swallows io_delay writes and remembers the last POST code', () => {
  const bus = new PioBus();
  const post = new PostCodePort();
  bus.register(POST_CODE_PORT, 1, post, 'post');
  bus.pioWrite(0x80, 1, 0x12);
  bus.pioWrite(0x80, 1, 0x34);
  assert.equal(post.lastCode, 0x34);
  assert.equal(bus.pioRead(0x80, 1), 0x34);
  const s1 = post.save();
  const again = new PostCodePort();
  again.restore(JSON.parse(JSON.stringify(s1)));
  assert.deepEqual(again.save(), s1);
  again.pioWrite(0, 1, 0x56);
  assert.equal(again.lastCode, 0x56);
  assert.throws(() => again.restore({ version: 2 as 1, lastCode: 0 }), /version 2/);
});

test('debug console sends bytes to the sink and reads back its signature', () => {
  const bus = new PioBus();
  const out: number[] = [];
  bus.register(DEBUG_CONSOLE_PORT, 1, new DebugConsole({ onOutput: (b) => out.push(...b) }), 'debugcon');
  for (const c of 'ok\n') bus.pioWrite(0xe9, 1, c.charCodeAt(0));
  assert.equal(Buffer.from(out).toString(), 'ok\n');
  assert.equal(bus.pioRead(0xe9, 1), 0xe9);
});
