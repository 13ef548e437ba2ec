import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CpuState, Flag } from './state.js';
import { LazyOp, computeArithFlags, computeCF, setLazy, setLazy64, setLazyIncDec, setArithFlags, testCondition } from './flags.js';

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

void test('conditions after SUB and logic ops equal the ones read from the six flags (all sizes, all 16 codes)', () => {
  // The reference: the condition from computeArithFlags' flags (SDM Vol. 1 Table B-1).
  const fromFlags = (cc: number): boolean => {
    const f = computeArithFlags(s);
    const cf = (f & Flag.CF) !== 0; const zf = (f & Flag.ZF) !== 0; const sf = (f & Flag.SF) !== 0;
    const of = (f & Flag.OF) !== 0; const pf = (f & Flag.PF) !== 0;
    const r = [of, cf, zf, cf || zf, sf, pf, sf !== of, zf || sf !== of][cc >> 1]!;
    return (cc & 1) !== 0 ? !r : r;
  };
  let x = 0x2545f491;
  const next = (): number => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  const edge = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];
  const pick = (): number => ((next() & 3) === 0 ? edge[next() % edge.length]! : next());
  const mask = [0, 0xff, 0xffff, 0, 0xffffffff];
  for (let n = 0; n < 4000; n++) {
    const size = [1, 2, 4, 8][n & 3]!;
    const logic = (n & 4) !== 0;
    if (size === 8) {
      const dLo = pick(); const dHi = (n & 8) !== 0 ? pick() : dLo === 0 ? 0 : 0xffffffff; const sLo = (n & 16) !== 0 ? dLo : pick(); const sHi = (n & 32) !== 0 ? dHi : pick();
      const d = (BigInt(dHi) << 32n) | BigInt(dLo); const v = (BigInt(sHi) << 32n) | BigInt(sLo);
      const r = BigInt.asUintN(64, logic ? d & v : d - v);
      if (logic) setLazy64(s, LazyOp.Logic, 0, 0, 0, 0, Number(r & 0xffffffffn), Number(r >> 32n));
      else setLazy64(s, LazyOp.Sub, dLo, dHi, sLo, sHi, Number(r & 0xffffffffn), Number(r >> 32n));
    } else {
      const m = mask[size]!;
      const d = (pick() & m) >>> 0; const v = (n & 16) !== 0 ? d : (pick() & m) >>> 0;
      const r = ((logic ? d | v : d - v) & m) >>> 0;
      setLazy(s, logic ? LazyOp.Logic : LazyOp.Sub, size, d, v, r);
    }
    for (let cc = 0; cc < 16; cc++) assert.equal(testCondition(s, cc), fromFlags(cc), `size ${size} ${logic ? 'logic' : 'sub'} cc ${cc} (n ${n})`);
  }
});

void test('CF alone equals the CF of the six flags (ADD, ADC, SUB, SBB, logic, INC/DEC; all sizes)', () => {
  let x = 0x9e3779b9;
  const next = (): number => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  const edge = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];
  const pick = (): number => ((next() & 3) === 0 ? edge[next() % edge.length]! : next());
  const mask = [0, 0xff, 0xffff, 0, 0xffffffff];
  const ops = [LazyOp.Add, LazyOp.Adc1, LazyOp.Sub, LazyOp.Sbb1, LazyOp.Logic];
  for (let n = 0; n < 4000; n++) {
    const size = [1, 2, 4, 8][n & 3]!;
    const op = ops[(n >> 2) % ops.length]!;
    const cin = op === LazyOp.Adc1 || op === LazyOp.Sbb1 ? 1n : 0n;
    if (size === 8) {
      const dLo = pick(); const dHi = pick(); const sLo = (n & 64) !== 0 ? dLo : pick(); const sHi = (n & 128) !== 0 ? dHi : pick();
      const d = (BigInt(dHi) << 32n) | BigInt(dLo); const v = (BigInt(sHi) << 32n) | BigInt(sLo);
      const r = BigInt.asUintN(64, op === LazyOp.Logic ? d ^ v : op === LazyOp.Add || op === LazyOp.Adc1 ? d + v + cin : d - v - cin);
      setLazy64(s, op, dLo, dHi, sLo, sHi, Number(r & 0xffffffffn), Number(r >> 32n));
    } else {
      const m = mask[size]!; const c = Number(cin);
      const d = (pick() & m) >>> 0; const v = (n & 64) !== 0 ? d : (pick() & m) >>> 0;
      const r = ((op === LazyOp.Logic ? d ^ v : op === LazyOp.Add || op === LazyOp.Adc1 ? d + v + c : d - v - c) & m) >>> 0;
      setLazy(s, op, size, d, v, r);
    }
    assert.equal(computeCF(s), (computeArithFlags(s) & Flag.CF) !== 0, `op ${op} size ${size} (n ${n})`);
    setLazyIncDec(s, (n & 1) !== 0 ? LazyOp.Inc : LazyOp.Dec, size === 8 ? 8 : 4, pick(), 0);
    assert.equal(computeCF(s), (computeArithFlags(s) & Flag.CF) !== 0, `INC/DEC after op ${op} (n ${n})`);
  }
});
