// Unit tests of the SSE floating-point core. The expected values of the table were produced on
// an x86-64 host (SSE2 instructions under the given MXCSR) and are checked bit for bit, result
// and MXCSR flags alike.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  env, f32Arith, f32Cmp, f32Comi, f32Sqrt, f32ToF64, f32ToInt, f64Arith, f64Cmp, f64Comi, f64Sqrt, f64ToF32, f64ToInt,
  i32ToF32, i32ToF64, i64ToF32, i64ToF64, loadEnv, out, roundIntegral,
} from './softfloat.js';

/** Operation codes of the table (those of the host program that produced it). */
const CASES: Array<[string, number, number, bigint, bigint, bigint, number]> = [
  ['addsd 1 + 2^-60 nearest', 0, 0x1f80, 0x3ff0000000000000n, 0x3c30000000000000n, 0x3ff0000000000000n, 0x1fa0],
  ['addsd 1 + 2^-60 up', 0, 0x5f80, 0x3ff0000000000000n, 0x3c30000000000000n, 0x3ff0000000000001n, 0x5fa0],
  ['addsd -1 - 2^-60 down', 1, 0x3f80, 0xbff0000000000000n, 0x3c30000000000000n, 0xbff0000000000001n, 0x3fa0],
  ['subsd 1 - 1 down gives -0', 1, 0x3f80, 0x3ff0000000000000n, 0x3ff0000000000000n, 0x8000000000000000n, 0x3f80],
  ['subsd 1 - 1 nearest gives +0', 1, 0x1f80, 0x3ff0000000000000n, 0x3ff0000000000000n, 0x0n, 0x1f80],
  ['mulsd overflow nearest', 2, 0x1f80, 0x7fe1ccf385ebc8a0n, 0x4024000000000000n, 0x7ff0000000000000n, 0x1fa8],
  ['mulsd overflow toward zero', 2, 0x7f80, 0x7fe1ccf385ebc8a0n, 0x4024000000000000n, 0x7fefffffffffffffn, 0x7fa8],
  ['mulsd -overflow up', 2, 0x5f80, 0xffe1ccf385ebc8a0n, 0x4024000000000000n, 0xffefffffffffffffn, 0x5fa8],
  ['divsd 1/3 nearest', 3, 0x1f80, 0x3ff0000000000000n, 0x4008000000000000n, 0x3fd5555555555555n, 0x1fa0],
  ['divsd 1/3 up', 3, 0x5f80, 0x3ff0000000000000n, 0x4008000000000000n, 0x3fd5555555555556n, 0x5fa0],
  ['divsd 1/0', 3, 0x1f80, 0x3ff0000000000000n, 0x0n, 0x7ff0000000000000n, 0x1f84],
  ['divsd 0/0 indefinite', 3, 0x1f80, 0x0n, 0x0n, 0xfff8000000000000n, 0x1f81],
  ['divsd denormal/0 reports ZE only', 3, 0x1f80, 0x8000000000000003n, 0x0n, 0xfff0000000000000n, 0x1f84],
  ['subsd inf - inf', 1, 0x1f80, 0x7ff0000000000000n, 0x7ff0000000000000n, 0xfff8000000000000n, 0x1f81],
  ['addsd QNaN + SNaN keeps first', 0, 0x1f80, 0x7ff8000000000001n, 0x7ff0000000000002n, 0x7ff8000000000001n, 0x1f81],
  ['addsd SNaN + 1 quiets', 0, 0x1f80, 0xfff0000000000005n, 0x3ff0000000000000n, 0xfff8000000000005n, 0x1f81],
  ['addsd 1 + QNaN', 0, 0x1f80, 0x3ff0000000000000n, 0xfff8000000000007n, 0xfff8000000000007n, 0x1f80],
  ['mulsd tiny exact denormal', 2, 0x1f80, 0x170000000000000n, 0x3c30000000000000n, 0x4000n, 0x1f80],
  ['mulsd underflow to zero', 2, 0x1f80, 0x170000000000000n, 0x3af0000000000000n, 0x0n, 0x1fb0],
  ['mulsd tininess after rounding: not tiny', 2, 0x1f80, 0x3ff0000000000001n, 0xfffffffffffffn, 0x10000000000000n, 0x1fa2],
  ['mulsd FTZ flushes', 2, 0x9f80, 0x170000000000000n, 0x3c30000000000000n, 0x0n, 0x9fb0],
  ['addsd DAZ treats denormal as zero', 0, 0x1fc0, 0x1n, 0x1n, 0x0n, 0x1fc0],
  ['addsd denormal operand flag', 0, 0x1f80, 0x1n, 0x3ff0000000000000n, 0x3ff0000000000000n, 0x1fa2],
  ['sqrtsd 2', 6, 0x1f80, 0x0n, 0x4000000000000000n, 0x3ff6a09e667f3bcdn, 0x1fa0],
  ['sqrtsd 2 up', 6, 0x5f80, 0x0n, 0x4000000000000000n, 0x3ff6a09e667f3bcdn, 0x5fa0],
  ['sqrtsd -1', 6, 0x1f80, 0x0n, 0xbff0000000000000n, 0xfff8000000000000n, 0x1f81],
  ['sqrtsd -0', 6, 0x1f80, 0x0n, 0x8000000000000000n, 0x8000000000000000n, 0x1f80],
  ['sqrtsd negative denormal: IE only', 6, 0x1f80, 0x0n, 0x8000000000000003n, 0xfff8000000000000n, 0x1f81],
  ['minsd +0,-0 returns second', 4, 0x1f80, 0x0n, 0x8000000000000000n, 0x8000000000000000n, 0x1f80],
  ['minsd -0,+0 returns second', 4, 0x1f80, 0x8000000000000000n, 0x0n, 0x0n, 0x1f80],
  ['maxsd QNaN,1 returns second', 5, 0x1f80, 0x7ff8000000000000n, 0x3ff0000000000000n, 0x3ff0000000000000n, 0x1f81],
  ['minsd 1,SNaN returns SNaN unchanged', 4, 0x1f80, 0x3ff0000000000000n, 0x7ff0000000000001n, 0x7ff0000000000001n, 0x1f81],
  ['maxsd NaN,denormal with DAZ', 5, 0x1fc0, 0x7ff8000000000000n, 0xfffffffffffffn, 0x0n, 0x1fc1],
  ['addss 1 + 2^-24 ties to even', 10, 0x1f80, 0x3f800000n, 0x33800000n, 0x3f800000n, 0x1fa0],
  ['addss 1 + 2^-24 up', 10, 0x5f80, 0x3f800000n, 0x33800000n, 0x3f800001n, 0x5fa0],
  ['subss 1 - denormal (f32)', 11, 0x1f80, 0x1n, 0x7fffffn, 0x807ffffen, 0x1f82],
  ['divss 1/-0', 13, 0x1f80, 0x3f800000n, 0x80000000n, 0xff800000n, 0x1f84],
  ['mulss overflow', 12, 0x1f80, 0x7f7fffffn, 0x40000000n, 0x7f800000n, 0x1fa8],
  ['sqrtss -1', 16, 0x1f80, 0x0n, 0xbf800000n, 0xffc00000n, 0x1f81],
  ['cvtsd2ss rounds to min normal, tiny after rounding', 20, 0x1f80, 0x0n, 0x380fffffe0000000n, 0x800000n, 0x1fb0],
  ['cvtsd2ss SNaN', 20, 0x1f80, 0x0n, 0x7ff4000000000001n, 0x7fe00000n, 0x1f81],
  ['cvtsd2ss overflow down', 20, 0x3f80, 0x0n, 0x7e37e43c8800759cn, 0x7f7fffffn, 0x3fa8],
  ['cvtss2sd SNaN', 21, 0x1f80, 0x0n, 0x7fa00001n, 0x7ffc000020000000n, 0x1f81],
  ['cvtss2sd denormal', 21, 0x1f80, 0x0n, 0x1n, 0x36a0000000000000n, 0x1f82],
  ['cvtsd2si64 2.5 nearest', 22, 0x1f80, 0x0n, 0x4004000000000000n, 0x2n, 0x1fa0],
  ['cvtsd2si64 3.5 nearest', 22, 0x1f80, 0x0n, 0x400c000000000000n, 0x4n, 0x1fa0],
  ['cvtsd2si64 -2.5 down', 22, 0x3f80, 0x0n, 0xc004000000000000n, 0xfffffffffffffffdn, 0x3fa0],
  ['cvtsd2si64 2.5 up', 22, 0x5f80, 0x0n, 0x4004000000000000n, 0x3n, 0x5fa0],
  ['cvtsd2si64 -2.7 toward zero', 22, 0x7f80, 0x0n, 0xc00599999999999an, 0xfffffffffffffffen, 0x7fa0],
  ['cvtsd2si64 2^63 indefinite', 22, 0x1f80, 0x0n, 0x43e0000000000000n, 0x8000000000000000n, 0x1f81],
  ['cvttsd2si64 -2^63 exact', 23, 0x1f80, 0x0n, 0xc3e0000000000000n, 0x8000000000000000n, 0x1f80],
  ['cvttsd2si64 NaN', 23, 0x1f80, 0x0n, 0x7ff8000000000000n, 0x8000000000000000n, 0x1f81],
  ['cvtsd2si32 2^31', 24, 0x1f80, 0x0n, 0x41e0000000000000n, 0x80000000n, 0x1f81],
  ['cvtsd2si32 -2^31 - 0.4', 24, 0x1f80, 0x0n, 0xc1e00000000ccccdn, 0x80000000n, 0x1fa0],
  ['cvtsi2sd64 2^63-1 nearest', 25, 0x1f80, 0x0n, 0x7fffffffffffffffn, 0x43e0000000000000n, 0x1fa0],
  ['cvtsi2sd64 2^63-1 toward zero', 25, 0x7f80, 0x0n, 0x7fffffffffffffffn, 0x43dfffffffffffffn, 0x7fa0],
  ['cvtsi2sd64 -1', 25, 0x1f80, 0x0n, 0xffffffffffffffffn, 0xbff0000000000000n, 0x1f80],
  ['cvtsi2ss64 large', 26, 0x1f80, 0x0n, 0x123456789abcdefn, 0x5b91a2b4n, 0x1fa0],
  ['cvtsi2ss32 2^24+1 up', 27, 0x5f80, 0x0n, 0x1000001n, 0x4b800001n, 0x5fa0],
  ['ucomisd less', 28, 0x1f80, 0x3ff0000000000000n, 0x4000000000000000n, 0x1n, 0x1f80],
  ['ucomisd equal', 28, 0x1f80, 0x8000000000000000n, 0x0n, 0x40n, 0x1f80],
  ['ucomisd greater', 28, 0x1f80, 0x4008000000000000n, 0x4000000000000000n, 0x0n, 0x1f80],
  ['ucomisd QNaN unordered, quiet', 28, 0x1f80, 0x7ff8000000000000n, 0x4000000000000000n, 0x45n, 0x1f80],
  ['comisd QNaN signals', 29, 0x1f80, 0x7ff8000000000000n, 0x4000000000000000n, 0x45n, 0x1f81],
  ['ucomisd SNaN signals', 28, 0x1f80, 0x4000000000000000n, 0x7ff0000000000001n, 0x45n, 0x1f81],
  ['cmpsd eq QNaN quiet', 30, 0x1f80, 0x7ff8000000000000n, 0x4000000000000000n, 0x0n, 0x1f80],
  ['cmpsd lt QNaN signals', 31, 0x1f80, 0x7ff8000000000000n, 0x4000000000000000n, 0x0n, 0x1f81],
  ['cmpsd le equal', 32, 0x1f80, 0x4000000000000000n, 0x4000000000000000n, 0xffffffffffffffffn, 0x1f80],
  ['cmpsd unord', 33, 0x1f80, 0x3ff0000000000000n, 0x7ff8000000000000n, 0xffffffffffffffffn, 0x1f80],
  ['cmpsd neq NaN', 34, 0x1f80, 0x3ff0000000000000n, 0xfff8000000000000n, 0xffffffffffffffffn, 0x1f80],
  ['cmpsd nlt', 35, 0x1f80, 0x4008000000000000n, 0x4000000000000000n, 0xffffffffffffffffn, 0x1f80],
  ['cmpsd nle', 36, 0x1f80, 0x4000000000000000n, 0x4000000000000000n, 0x0n, 0x1f80],
  ['cmpsd ord', 37, 0x1f80, 0x3ff0000000000000n, 0x4000000000000000n, 0xffffffffffffffffn, 0x1f80],
];

const lo = (x: bigint): number => Number(x & 0xffffffffn);
const hi = (x: bigint): number => Number((x >> 32n) & 0xffffffffn);
const outBits = (): bigint => (BigInt(out.hi) << 32n) | BigInt(out.lo);

/** Runs one table operation on the soft implementation: result bits. */
function run(op: number, a: bigint, b: bigint): bigint {
  if (op <= 5) { f64Arith(op, lo(a), hi(a), lo(b), hi(b)); return outBits(); }
  if (op === 6) { f64Sqrt(lo(b), hi(b)); return outBits(); }
  if (op >= 10 && op <= 15) return BigInt(f32Arith((op - 10), lo(a), lo(b)));
  if (op === 16) return BigInt(f32Sqrt(lo(b)));
  switch (op) {
    case 20: return BigInt(f64ToF32(lo(b), hi(b)));
    case 21: f32ToF64(lo(b)); return outBits();
    case 22: f64ToInt(lo(b), hi(b), 64, false); return outBits();
    case 23: f64ToInt(lo(b), hi(b), 64, true); return outBits();
    case 24: f64ToInt(lo(b), hi(b), 32, false); return BigInt(out.lo);
    case 25: i64ToF64(lo(b), hi(b)); return outBits();
    case 26: return BigInt(i64ToF32(lo(b), hi(b)));
    case 27: return BigInt(i32ToF32(lo(b)));
    case 28: case 29: return BigInt(f64Comi(op === 29, lo(a), hi(a), lo(b), hi(b)));
    default: return f64Cmp(op - 30, lo(a), hi(a), lo(b), hi(b)) ? 0xffffffffffffffffn : 0n;
  }
}

test('scalar SSE arithmetic, conversions and compares match the host CPU bit for bit', () => {
  for (const [name, op, mxcsr, a, b, want, wantMxcsr] of CASES) {
    loadEnv(mxcsr);
    const got = run(op, a, b);
    assert.equal(got.toString(16), want.toString(16), `${name}: result`);
    assert.equal((mxcsr | env.flags).toString(16), wantMxcsr.toString(16), `${name}: MXCSR`);
  }
});

test('cvtsd2si rounds under each MXCSR.RC', () => {
  const want: Record<number, number[]> = { 0: [2, 1, -2, -2, 4], 1: [1, 1, -3, -2, 3], 2: [2, 2, -2, -1, 4], 3: [1, 1, -2, -1, 3] };
  const inputs = [1.5, 1.25, -2.5, -1.5, 3.5];
  const f = new Float64Array(1), w = new Uint32Array(f.buffer);
  for (let rc = 0; rc < 4; rc++) {
    const got = inputs.map((x) => { f[0] = x; loadEnv(0x1f80 | (rc << 13)); f64ToInt(w[0]!, w[1]!, 32, false); return out.lo | 0; });
    assert.deepEqual(got, want[rc], `RC=${rc}`);
  }
});

test('roundIntegral: ties to even and signed zero', () => {
  assert.equal(roundIntegral(0.5, 0), 0);
  assert.equal(roundIntegral(1.5, 0), 2);
  assert.ok(Object.is(roundIntegral(-0.4, 0), -0));
  assert.equal(roundIntegral(-0.5, 1), -1);
  assert.equal(roundIntegral(0.1, 2), 1);
});

test('f32 compares, comiss and conversions', () => {
  loadEnv(0x1f80);
  assert.equal(f32Comi(false, 0x3f800000, 0x40000000), 1); // 1 < 2: CF
  assert.equal(env.flags, 0);
  assert.equal(f32Comi(true, 0x7fc00000, 0x40000000), 0x45); // unordered: ZF PF CF
  assert.equal(env.flags, 1);
  loadEnv(0x1f80);
  assert.equal(f32Cmp(1, 0x3f800000, 0x40000000), true);
  assert.equal(f32Cmp(0, 0x7fc00000, 0x7fc00000), false);
  assert.equal(env.flags, 0);
  f32ToInt(0xcf000000, 32, true); // -2^31 is in range
  assert.equal(out.lo, 0x80000000);
  assert.equal(env.flags, 0);
  f32ToInt(0x4f000000, 32, true); // 2^31 is not
  assert.equal(out.lo, 0x80000000);
  assert.equal(env.flags, 1);
  loadEnv(0x1f80);
  i32ToF64(-7);
  assert.equal(out.hi, 0xc01c0000);
  assert.equal(i32ToF32(16777217), 0x4b800000);
  assert.equal(env.flags, 0x20);
});
