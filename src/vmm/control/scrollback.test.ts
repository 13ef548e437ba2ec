import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScrollbackBuffer } from './scrollback.js';

const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

test('scrollback keeps the last capacity bytes, oldest first, across wrap-around', () => {
  const s = new ScrollbackBuffer(8);
  assert.equal(text(s.snapshot()), '');
  s.push(Buffer.from('abc'));
  assert.equal(text(s.snapshot()), 'abc');
  s.push(Buffer.from('defgh'));
  assert.equal(text(s.snapshot()), 'abcdefgh');
  s.push(Buffer.from('ij'));
  assert.equal(text(s.snapshot()), 'cdefghij');
  s.push(Buffer.from('0123456789xyz')); // larger than the ring
  assert.equal(text(s.snapshot()), '56789xyz');
  for (const c of 'KLMNOPQRST') s.push(Buffer.from(c));
  assert.equal(text(s.snapshot()), 'MNOPQRST');
});

test('a zero-size scrollback holds nothing', () => {
  const s = new ScrollbackBuffer(0);
  s.push(Buffer.from('abc'));
  assert.equal(s.snapshot().length, 0);
});
