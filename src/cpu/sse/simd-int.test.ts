// Unit tests of the integer SIMD lane operations (SDM Vol. 2 semantics, values worked by hand).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as S from './simd-int.js';

function set(dst: Uint32Array, v: bigint): void {
  for (let k = 0; k < 4; k++) dst[k] = Number((v >> BigInt(32 * k)) & 0xffffffffn);
}
function get(): bigint {
  let v = 0n;
  for (let k = 3; k >= 0; k--) v = (v << 32n) | BigInt(S.A32[k]!);
  return v;
}
function bin(op: () => void, a: bigint, b: bigint): string {
  set(S.A32, a);
  set(S.B32, b);
  op();
  return get().toString(16).padStart(32, '0');
}
function un(op: (n: number) => void, a: bigint, n: number): string {
  set(S.A32, a);
  op(n);
  return get().toString(16).padStart(32, '0');
}

test('pack instructions saturate', () => {
  // words: 0x7fff, 0x8000, 0x0100, 0xff80, 0x0080, 0xff7f, 0x0001, 0xffff
  const a = 0xffff_0001_ff7f_0080_ff80_0100_8000_7fffn;
  assert.equal(bin(S.packsswb, a, 0n), '0000000000000000ff01807f807f807f');
  assert.equal(bin(S.packsswb, 0n, a), 'ff01807f807f807f0000000000000000');
  assert.equal(bin(S.packuswb, a, 0n), '00000000000000000001008000ff00ff');
  // dwords: 0x00010000, 0xffff0000 (-65536), 0x00007fff, 0xffff8000
  assert.equal(bin(S.packssdw, 0xffff8000_00007fff_ffff0000_00010000n, 0n), '00000000000000008000' + '7fff' + '8000' + '7fff');
});

test('shifts by counts at or above the lane width', () => {
  const a = 0x8000_0001_8000_0001_8000_0001_8000_0001n;
  assert.equal(un(S.psrlw, a, 15), '00010000000100000001000000010000');
  assert.equal(un(S.psrlw, a, 16), '0'.repeat(32));
  assert.equal(un(S.psraw, a, 16), 'ffff0000ffff0000ffff0000ffff0000');
  assert.equal(un(S.psrad, a, 200), 'ffffffffffffffffffffffffffffffff');
  assert.equal(un(S.pslld, a, 32), '0'.repeat(32));
  assert.equal(un(S.psllq, a, 33), '00000002000000000000000200000000');
  assert.equal(un(S.psrlq, a, 63), '00000000000000010000000000000001');
  assert.equal(un(S.psrlq, a, 64), '0'.repeat(32));
  assert.equal(un(S.pslldq, 0x0f0e0d0c0b0a09080706050403020100n, 3), '0c0b0a09080706050403020100000000');
  assert.equal(un(S.psrldq, 0x0f0e0d0c0b0a09080706050403020100n, 15), '0000000000000000000000000000000f');
  assert.equal(un(S.psrldq, 0x0f0e0d0c0b0a09080706050403020100n, 16), '0'.repeat(32));
  set(S.B32, 0x1_0000_0000n); // high dword of the count set: saturates
  assert.equal(S.countFromB(), 255);
});

test('pmovmskb, movmskps, movmskpd', () => {
  set(S.B32, 0x80_00_ff_7f_00_00_00_00_00_00_00_00_00_00_80_01n);
  assert.equal(S.pmovmskb(), 0b1010_0000_0000_0010);
  set(S.B32, 0x80000000_00000000_ffffffff_7fffffffn);
  assert.equal(S.movmskps(), 0b1010);
  assert.equal(S.movmskpd(), 0b11);
});

test('multiplies', () => {
  assert.equal(bin(S.pmuludq, 0x00000000_ffffffff_00000000_ffffffffn, 0x00000000_ffffffff_00000000_00000002n), 'fffffffe0000000100000001fffffffe');
  assert.equal(bin(S.pmulhw, 0x8000n, 0x8000n).slice(-4), '4000');
  assert.equal(bin(S.pmulhuw, 0xffffn, 0xffffn).slice(-4), 'fffe');
  assert.equal(bin(S.pmullw, 0xffffn, 0xffffn).slice(-4), '0001');
  assert.equal(bin(S.pmaddwd, 0x8000_8000n, 0x8000_8000n).slice(-8), '80000000');
});

test('saturating add/sub, average, min/max, sad, compares', () => {
  assert.equal(bin(S.paddsb, 0x7f80n, 0x01ffn).slice(-4), '7f80');
  assert.equal(bin(S.paddusb, 0xfff0n, 0x0120n).slice(-4), 'ffff');
  assert.equal(bin(S.psubusw, 0x0001n, 0x0002n).slice(-4), '0000');
  assert.equal(bin(S.psubsw, 0x8000n, 0x0001n).slice(-4), '8000');
  assert.equal(bin(S.pavgb, 0xff01n, 0xff02n).slice(-4), 'ff02');
  assert.equal(bin(S.pminub, 0x80_01n, 0x7f_02n).slice(-4), '7f01');
  assert.equal(bin(S.pmaxsw, 0x8000_0001n, 0x7fff_ffffn).slice(-8), '7fff0001');
  assert.equal(bin(S.psadbw, 0xff_00n, 0x00_ffn), '0'.repeat(16) + '00000000000001fe');
  assert.equal(bin(S.pcmpgtb, 0x01_80n, 0x00_7fn).slice(-4), 'ff00');
  assert.equal(bin(S.paddq, 0xffffffff_ffffffffn, 1n), '0'.repeat(32));
  assert.equal(bin(S.psubq, 0n, 1n), '0000000000000000ffffffffffffffff');
});

test('shuffles and unpacks', () => {
  const a = 0x33333333_22222222_11111111_00000000n;
  const b = 0x77777777_66666666_55555555_44444444n;
  set(S.B32, a);
  S.pshufd(0x1b);
  assert.equal(get().toString(16).padStart(32, '0'), '00000000111111112222222233333333');
  assert.equal(bin(() => S.shufps(0x4e), a, b), '55555555444444443333333322222222');
  assert.equal(bin(() => S.shufpd(1), a, b), '55555555444444443333333322222222');
  assert.equal(bin(S.punpckldq, a, b), '55555555111111114444444400000000');
  assert.equal(bin(S.punpckhqdq, a, b), '77777777666666663333333322222222');
  set(S.B32, 0x0f0e0d0c0b0a09080706050403020100n);
  S.pshuflw(0x1b);
  assert.equal(get().toString(16).padStart(32, '0'), '0f0e0d0c0b0a09080100030205040706');
  S.pshufhw(0x1b);
  assert.equal(get().toString(16).padStart(32, '0'), '09080b0a0d0c0f0e0706050403020100');
});
