// The double <-> 80-bit extended conversions (values checked against an x86-64 host's FLD/FSTP).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dbl, doubleBitsToF80, doubleToF80, f80, f80ToDouble, f80ToDoubleBits } from './f80.js';

function toF80(x: number): string {
  doubleToF80(x);
  return `${f80.se.toString(16)}:${f80.hi.toString(16).padStart(8, '0')}${f80.lo.toString(16).padStart(8, '0')}`;
}
function fromF80(se: number, sig: bigint): string {
  f80ToDoubleBits(Number(sig & 0xffffffffn), Number(sig >> 32n), se);
  return `${dbl.hi.toString(16).padStart(8, '0')}${dbl.lo.toString(16).padStart(8, '0')}`;
}

test('double to f80: normals, zeros, denormals, infinities, NaNs', () => {
  assert.equal(toF80(1), '3fff:8000000000000000');
  assert.equal(toF80(-2.5), 'c000:a000000000000000');
  assert.equal(toF80(-0), '8000:0000000000000000');
  assert.equal(toF80(5e-324), '3bcd:8000000000000000');
  assert.equal(toF80(Infinity), '7fff:8000000000000000');
  doubleBitsToF80(0xffffffff, 0x000fffff); // largest double denormal
  assert.equal(f80.se, 0x3c00);
  assert.equal(f80.hi, 0xffffffff);
  assert.equal(f80.lo, 0xfffff000);
  doubleBitsToF80(1, 0x7ff80000); // QNaN with payload 1
  assert.equal(f80.se, 0x7fff);
  assert.equal(f80.hi, 0xc0000000);
  assert.equal(f80.lo, 0x800);
});

test('f80 to double rounds to nearest even, with denormal and overflow results', () => {
  assert.equal(fromF80(0x3fff, 0xffffffffffffffffn), '4000000000000000');
  assert.equal(dbl.inexact && dbl.up, true);
  assert.equal(fromF80(0x3fff, 0x8000000000000400n), '3ff0000000000000'); // tie, even stays
  assert.equal(fromF80(0x3fff, 0x8000000000000c00n), '3ff0000000000002'); // tie, odd goes up
  assert.equal(fromF80(0x3bcc, 0xc000000000000000n), '0000000000000001'); // 0.75 * 2^-1074
  assert.equal(dbl.tiny, true);
  assert.equal(fromF80(0x3bcb, 0x8000000000000000n), '0000000000000000'); // 2^-1076
  assert.equal(fromF80(0x43ff, 0x8000000000000000n), '7ff0000000000000');
  assert.equal(dbl.overflow, true);
  assert.equal(fromF80(0x0001, 0x8000000000000001n), '0000000000000000');
  assert.equal(fromF80(0xffff, 0xc000000000000001n), 'fff8000000000000'); // payload bits below the top 52 are dropped
  assert.equal(fromF80(0x7fff, 0x8000000000000001n), '7ff0000000000001'); // ... an SNaN stays a NaN
  assert.equal(fromF80(0x8000, 0n), '8000000000000000');
});

test('double -> f80 -> double is the identity', () => {
  let s = 1;
  const buf = new Float64Array(1), w = new Uint32Array(buf.buffer);
  for (let k = 0; k < 2000; k++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    w[0] = Math.imul(s, 2654435761) >>> 0;
    w[1] = s;
    if ((w[1] & 0x7ff00000) === 0x7ff00000) continue;
    const x = buf[0]!;
    doubleToF80(x);
    assert.ok(Object.is(f80ToDouble(f80.lo, f80.hi, f80.se), x), `${x}`);
  }
});
