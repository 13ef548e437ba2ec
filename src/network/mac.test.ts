import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deterministicMac, formatMac, parseMac, randomMac } from './mac.js';
import { LoopbackNetBackend, validateTapName } from './tap.js';

test('mac: parse, format, reject multicast and garbage', () => {
  assert.equal(formatMac(parseMac('52:54:00:AB:cd:0f')), '52:54:00:ab:cd:0f');
  assert.equal(formatMac(parseMac('52-54-00-ab-cd-0f')), '52:54:00:ab:cd:0f');
  assert.throws(() => parseMac('01:00:5e:00:00:01'), /multicast/);
  assert.throws(() => parseMac('52:54:00:ab:cd'), /Cannot parse MAC/);
  assert.throws(() => parseMac('52:54:00:ab:cd:0g'), /Cannot parse MAC/);
});

test('mac: generated addresses are locally administered unicast; seeds are deterministic', () => {
  for (let i = 0; i < 50; i++) assert.equal(randomMac()[0]! & 3, 2);
  assert.deepEqual(deterministicMac('vm1/0'), deterministicMac('vm1/0'));
  assert.notDeepEqual(deterministicMac('vm1/0'), deterministicMac('vm1/1'));
  assert.equal(deterministicMac('x')[0]! & 3, 2);
});

test('tap: interface names are checked; the loopback back end queues frames', () => {
  validateTapName('tap0');
  assert.throws(() => validateTapName(''), /TAP name/);
  assert.throws(() => validateTapName('a'.repeat(16)), /TAP name/);
  assert.throws(() => validateTapName('../x'), /TAP name/);
  assert.throws(() => validateTapName('a b'), /TAP name/);
  const b = new LoopbackNetBackend();
  assert.equal(b.receive(new Uint8Array(10)), 0);
  b.inbox.push(new Uint8Array(20));
  assert.equal(b.receive(new Uint8Array(10)), -90);
  assert.equal(b.setOffload(0x80), false);
});
