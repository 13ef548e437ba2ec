// x87 and FXSAVE/FXRSTOR through the whole soft CPU (runSnippet): memory formats, rounding
// control, BCD, the FXSAVE image layout, FNSTENV, and the #NM/#GP/#UD checks. Expected values
// were checked against an x86-64 host.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSnippet } from '../testing/run-snippet.js';
import type { SnippetResult } from '../testing/snippet.js';

const DATA = 0x10000;
const FNINIT = [0xdb, 0xe3];

function run(code: number[], init: Array<[number, number[]]> = [], xmm0 = 0n): SnippetResult & { data?: Uint8Array } {
  const data = new Uint8Array(1024);
  for (const [off, bytes] of init) data.set(bytes, off);
  const gpr = Array.from({ length: 16 }, (_, r) => (r === 3 ? BigInt(DATA) : r === 4 ? BigInt(DATA + 0x3f0) : 0n));
  return runSnippet(Uint8Array.from([...FNINIT, ...code]), { gpr, rflags: 0x202, xmm: [xmm0], mxcsr: 0x1f80 }, { data, dataAddress: DATA });
}
const f64 = (x: number): number[] => { const b = Buffer.alloc(8); b.writeDoubleLE(x); return [...b]; };
const readF64 = (d: Uint8Array | undefined, off: number): number => Buffer.from(d!).readDoubleLE(off);
const readU16 = (d: Uint8Array | undefined, off: number): number => Buffer.from(d!).readUInt16LE(off);
const hex = (d: Uint8Array | undefined, from: number, to: number): string => Buffer.from(d!.subarray(from, to)).toString('hex');

test('FLD/FSTP m64 and the SUB/SUBR/DIV/DIVR register forms', () => {
  // fld [rbx]; fld [rbx+8]; fsub st(1), st(0) (DC E9); fstp [rbx+64]; fstp [rbx+72]
  const r = run([0xdd, 0x43, 0, 0xdd, 0x43, 8, 0xdc, 0xe9, 0xdd, 0x5b, 64, 0xdd, 0x5b, 72], [[0, f64(10)], [8, f64(4)]]);
  assert.equal(readF64(r.data, 64), 4);
  assert.equal(readF64(r.data, 72), 6);
  // fld 10; fld 4; fdivrp (DE F1): st1 = st0 / st1 = 0.4
  const q = run([0xdd, 0x43, 0, 0xdd, 0x43, 8, 0xde, 0xf1, 0xdd, 0x5b, 64], [[0, f64(10)], [8, f64(4)]]);
  assert.equal(readF64(q.data, 64), 0.4);
  // fild dword; fimul? use fiadd m32 (DA /0): 10 + 7
  const s = run([0xdd, 0x43, 0, 0xda, 0x43, 16, 0xdd, 0x5b, 64], [[0, f64(10)], [16, [7, 0, 0, 0]]]);
  assert.equal(readF64(s.data, 64), 17);
});

test('FIST/FISTP follow FCW.RC; out of range stores the integer indefinite', () => {
  const want = [2, 2, 3, 2];
  for (let rc = 0; rc < 4; rc++) {
    const cw = 0x37f | (rc << 10);
    // fldcw [rbx+16]; fld [rbx]; fistp dword [rbx+64]
    const r = run([0xd9, 0x6b, 16, 0xdd, 0x43, 0, 0xdb, 0x5b, 64], [[0, f64(2.5)], [16, [cw & 0xff, cw >> 8]]]);
    assert.equal(Buffer.from(r.data!).readInt32LE(64), want[rc], `RC=${rc}`);
  }
  const big = run([0xdd, 0x43, 0, 0xdf, 0x5b, 64, 0xdd, 0x7b, 66], [[0, f64(40000)]]); // fistp word
  assert.equal(readU16(big.data, 64), 0x8000);
  assert.equal(readU16(big.data, 66) & 0x21, 0x01, 'IE set');
});

test('FBSTP and FBLD use 18-digit packed BCD', () => {
  const r = run([0xdd, 0x43, 0, 0xdf, 0x73, 64], [[0, f64(-123456789012)]]);
  assert.equal(hex(r.data, 64, 74), '12907856341200000080');
  const l = run([0xdf, 0x63, 0, 0xdd, 0x5b, 64], [[0, [0x89, 0x67, 0x45, 0x23, 0x01, 0, 0, 0, 0, 0x80]]]);
  assert.equal(readF64(l.data, 64), -123456789);
});

test('FCOMIP sets ZF/PF/CF; FNSTSW AX; FXAM classes', () => {
  // fld [rbx+8] (2); fld [rbx] (1); fcomip st1 -> 1 < 2: CF
  const r = run([0xdd, 0x43, 8, 0xdd, 0x43, 0, 0xdf, 0xf1], [[0, f64(1)], [8, f64(2)]]);
  assert.equal(r.rflags & 0x45, 0x01);
  // fld1; fxam; fnstsw ax -> C2 (normal), TOP = 7
  const x = run([0xd9, 0xe8, 0xd9, 0xe5, 0xdf, 0xe0]);
  assert.equal(Number(x.gpr[0]! & 0xffffn), 0x3800 | 0x0400);
});

test('FXSAVE64 writes the SDM Table 10-2 layout', () => {
  // fld1; fldz; fxsave64 [rbx]
  const r = run([0xd9, 0xe8, 0xd9, 0xee, 0x48, 0x0f, 0xae, 0x03], [], 0x0123456789abcdef_fedcba9876543210n);
  const d = r.data;
  assert.equal(readU16(d, 0), 0x037f, 'FCW');
  assert.equal(readU16(d, 2), 0x3000, 'FSW with TOP = 6');
  assert.equal(d![4], 0xc0, 'abridged FTW: R6, R7 valid');
  assert.equal(Buffer.from(d!).readUInt32LE(24), 0x1f80, 'MXCSR');
  assert.equal(Buffer.from(d!).readUInt32LE(28), 0xffff, 'MXCSR_MASK');
  assert.equal(hex(d, 32, 42), '00000000000000000000', 'ST0 = +0');
  assert.equal(hex(d, 48, 58), '0000000000000080ff3f', 'ST1 = 1.0');
  assert.equal(hex(d, 160, 176), '1032547698badcfeefcdab8967452301', 'XMM0');
});

test('FXRSTOR restores what FXSAVE stored and checks MXCSR and alignment', () => {
  // fld1; fldpi; fxsave64 [rbx]; fninit; fxrstor64 [rbx]; fstp [rbx+512]; fstp [rbx+520]
  const r = run([0xd9, 0xe8, 0xd9, 0xeb, 0x48, 0x0f, 0xae, 0x03, 0xdb, 0xe3, 0x48, 0x0f, 0xae, 0x0b,
    0xdd, 0x9b, 0, 2, 0, 0, 0xdd, 0x9b, 8, 2, 0, 0]);
  assert.equal(readF64(r.data, 512), Math.PI);
  assert.equal(readF64(r.data, 520), 1);
  const bad = new Array<number>(4).fill(0);
  bad[2] = 0x01; // MXCSR bit 16: reserved
  const g = run([0x48, 0x0f, 0xae, 0x0b], [[24, bad]]);
  assert.equal(g.faultVector, 13);
  const m = run([0x0f, 0xae, 0x43, 8]); // fxsave [rbx+8]
  assert.equal(m.faultVector, 13);
});

test('FNSTENV stores the 28-byte environment and masks exceptions', () => {
  // fld1; fnstenv [rbx+64]; fnstcw [rbx+112]
  const r = run([0xd9, 0xe8, 0xd9, 0x73, 64, 0xd9, 0x7b, 0x70]);
  assert.equal(hex(r.data, 64, 76), '7f03ffff0038ffffff3fffff');
  assert.equal(readU16(r.data, 112), 0x037f, 'all exceptions were already masked');
});

test('CR0.TS gives #NM for x87 and SSE; CR4.OSFXSR clear gives #UD for SSE', () => {
  const setTs = [0x0f, 0x20, 0xc0, 0x48, 0x83, 0xc8, 0x08, 0x0f, 0x22, 0xc0]; // mov rax,cr0; or rax,8; mov cr0,rax
  assert.equal(run([...setTs, 0xd9, 0xe8]).faultVector, 7);
  assert.equal(run([...setTs, 0x0f, 0x58, 0xc1]).faultVector, 7);
  assert.equal(run([...setTs, 0x48, 0x0f, 0xae, 0x03]).faultVector, 7);
  const clearOsfxsr = [0x0f, 0x20, 0xe0, 0x48, 0x0f, 0xba, 0xf0, 0x09, 0x0f, 0x22, 0xe0]; // btr rax, 9
  assert.equal(run([...clearOsfxsr, 0x0f, 0x58, 0xc1]).faultVector, 6);
  assert.equal(run([...clearOsfxsr, 0xd9, 0xe8]).faultVector, undefined);
});

test('extended precision: 1/3 at PC = extended keeps 64 bits; FLDPI follows FCW.RC', () => {
  // fld1; fld [rbx] (3); fdivp; fstp tword [rbx+64]
  const r = run([0xd9, 0xe8, 0xdd, 0x43, 0, 0xde, 0xf9, 0xdb, 0x7b, 64], [[0, f64(3)]]);
  assert.equal(hex(r.data, 64, 74), 'abaaaaaaaaaaaaaafd3f');
  // same at PC = double (FCW 0x27f): the significand is rounded to 53 bits
  const d = run([0xd9, 0x6b, 16, 0xd9, 0xe8, 0xdd, 0x43, 0, 0xde, 0xf9, 0xdb, 0x7b, 64], [[0, f64(3)], [16, [0x7f, 0x02]]]);
  assert.equal(hex(d.data, 64, 74), '00a8aaaaaaaaaaaafd3f');
  const pi = run([0xd9, 0xeb, 0xdb, 0x7b, 64]);
  assert.equal(hex(pi.data, 64, 74), '35c26821a2da0fc90040');
  const piDown = run([0xd9, 0x6b, 16, 0xd9, 0xeb, 0xdb, 0x7b, 64], [[16, [0x7f, 0x07]]]);
  assert.equal(hex(piDown.data, 64, 74), '34c26821a2da0fc90040');
  // fld tword pi; fstp qword: rounded to double at the store, PE and C1 (rounded up)
  const st = run([0xdb, 0x6b, 0, 0xdd, 0x5b, 64, 0xdd, 0x7b, 72], [[0, [0x35, 0xc2, 0x68, 0x21, 0xa2, 0xda, 0x0f, 0xc9, 0x00, 0x40]]]);
  assert.equal(readF64(st.data, 64), Math.PI);
  assert.equal(readU16(st.data, 72) & 0x0220, 0x0020, 'PE, C1 = 0: pi rounds down to the double');
});

test('FPREM1 is exact and reports quotient bits; NaN operands: QNaN beats SNaN', () => {
  // fld [rbx+8] (3); fld [rbx] (11); fprem1; fnstsw [rbx+80]; fstp qword [rbx+64]
  const r = run([0xdd, 0x43, 8, 0xdd, 0x03, 0xd9, 0xf5, 0xdd, 0x7b, 80, 0xdd, 0x5b, 64], [[0, f64(11)], [8, f64(3)]]);
  assert.equal(readF64(r.data, 64), -1); // 11 - 4*3
  assert.equal(readU16(r.data, 80) & 0x4700, 0x0100, 'q = 4: C0 = Q2 = 1, C3 = Q1 = 0, C1 = Q0 = 0, C2 = 0 (complete)');
  // fld [rbx] (QNaN -, payload 0x1234); fadd qword [rbx+8] (SNaN +): the QNaN wins
  const n = run([0xdd, 0x03, 0xdc, 0x43, 8, 0xdd, 0x5b, 64], [[0, [0x34, 0x12, 0, 0, 0, 0, 0xf8, 0xff]], [8, [0, 0, 0, 0, 0, 0, 0xf4, 0x7f]]]);
  assert.equal(hex(n.data, 64, 72), '341200000000f8ff');
});
