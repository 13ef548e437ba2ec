import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CpuState, Flag } from './state.js';
import { LazyOp, computeArithFlags, setLazy, setLazy64, setLazyIncDec, setArithFlags, testCondition } from './flags.js';

const s = new CpuState(0);

void test('ADD flags: carry, overflow, adjust, parity, zero, sign', () => {
  setLazy(s, LazyOp.Add, 1, 0xff, 0x01, 0x00);
  assert.equal(computeArithFlags(s), Flag.CF | Flag.ZF | Flag.AF | Flag.PF);
  setLazy(s, LazyOp.Add, 1, 0x7f, 0x01, 0x80);
  assert.equal(computeArithFlags(s), Flag.OF | Flag.SF | Flag.AF);
  setLazy(s, LazyOp.Add, 4, 0xffffffff, 0xffffffff, 0xfffffffe);
  assert.equal(computeArithFlags(s) & (Flag.CF | Flag.OF | Flag.SF), Flag.CF | Flag.SF);
  setLazy(s, LazyOp.Adc1, 2, 0xffff, 0, 0);
  assert.ok(computeArithFlags(s) & Flag.CF, 'ADC with carry-in wraps to 0 with CF');
});

void test('SUB flags and the condition codes', () => {
  setLazy(s, LazyOp.Sub, 4, 1, 2, 0xffffffff);
  const f = computeArithFlags(s);
  assert.equal(f & (Flag.CF | Flag.SF | Flag.ZF | Flag.OF), Flag.CF | Flag.SF);
  assert.equal(testCondition(s, 0x2), true); // B
  assert.equal(testCondition(s, 0xc), true); // L (1 < 2 signed)
  assert.equal(testCondition(s, 0x7), false); // A
  setLazy(s, LazyOp.Sub, 4, 0x80000000, 1, 0x7fffffff);
  assert.ok(computeArithFlags(s) & Flag.OF);
  assert.equal(testCondition(s, 0xc), true, 'INT_MIN < 1');
  setLazy(s, LazyOp.Sbb1, 1, 5, 5, 0xff);
  assert.ok(computeArithFlags(s) & Flag.CF, 'SBB with borrow-in: 5 - 5 - 1 borrows');
});

void test('64-bit lazy flags', () => {
  setLazy64(s, LazyOp.Sub, 0xfffffffe, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff);
  assert.equal(computeArithFlags(s) & (Flag.CF | Flag.SF | Flag.ZF), Flag.CF | Flag.SF);
  setLazy64(s, LazyOp.Add, 0, 0x7fffffff, 0, 0x00000001, 0, 0x80000000);
  assert.equal(computeArithFlags(s) & (Flag.OF | Flag.SF | Flag.CF), Flag.OF | Flag.SF);
  setLazy64(s, LazyOp.Logic, 0, 0, 0, 0, 0, 0);
  assert.equal(computeArithFlags(s), Flag.ZF | Flag.PF);
});

void test('INC/DEC keep CF and set OF at the signed boundary', () => {
  setArithFlags(s, Flag.CF);
  setLazyIncDec(s, LazyOp.Inc, 1, 0x80, 0);
  assert.equal(computeArithFlags(s) & (Flag.CF | Flag.OF | Flag.SF | Flag.AF), Flag.CF | Flag.OF | Flag.SF | Flag.AF);
  setArithFlags(s, 0);
  setLazyIncDec(s, LazyOp.Dec, 8, 0xffffffff, 0x7fffffff);
  assert.equal(computeArithFlags(s) & (Flag.CF | Flag.OF), Flag.OF);
});
