// SSE handlers through the whole soft CPU (runSnippet): operand forms, alignment and exception
// checks, GPR forms with REX.W, MXCSR traps. Bit-exact arithmetic is covered by softfloat.test.ts
// and by the differential tests against the host CPU.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSnippet } from '../testing/run-snippet.js';
import type { SnippetResult } from '../testing/snippet.js';

const DATA = 0x10000;

interface Setup { gpr?: Record<number, bigint>; xmm?: bigint[]; mxcsr?: number; data?: Array<[number, number[]]> }
function run(code: number[], s: Setup = {}): SnippetResult & { data?: Uint8Array } {
  const data = new Uint8Array(256);
  for (const [off, bytes] of s.data ?? []) data.set(bytes, off);
  const gpr = Array.from({ length: 16 }, (_, r) => s.gpr?.[r] ?? (r === 3 ? BigInt(DATA) : r === 4 ? BigInt(DATA + 0xf0) : 0n));
  return runSnippet(Uint8Array.from(code), { gpr, rflags: 0x202, xmm: s.xmm ?? [], mxcsr: s.mxcsr ?? 0x1f80 }, { data, dataAddress: DATA });
}
const seq = (n: number, from = 0): number[] => Array.from({ length: n }, (_, k) => (from + k) & 0xff);
const f64Bits = (x: number): bigint => { const b = Buffer.alloc(8); b.writeDoubleLE(x); return b.readBigUInt64LE(); };

test('aligned forms #GP on misaligned memory; unaligned forms do not', () => {
  assert.equal(run([0x0f, 0x28, 0x43, 0x01]).faultVector, 13); // movaps xmm0, [rbx+1]
  assert.equal(run([0x66, 0x0f, 0xef, 0x43, 0x04]).faultVector, 13); // pxor xmm0, [rbx+4]
  const r = run([0x0f, 0x10, 0x43, 0x01], { data: [[0, seq(32)]] }); // movups xmm0, [rbx+1]
  assert.equal(r.faultVector, undefined);
  assert.equal(r.xmm![0], 0x100f0e0d0c0b0a090807060504030201n);
  const s = run([0xf3, 0x0f, 0x10, 0x43, 0x03], { data: [[0, seq(32)]], xmm: [-1n] }); // movss xmm0, [rbx+3]
  assert.equal(s.xmm![0], 0x06050403n);
});

test('an unmasked SIMD exception raises #XM and sets the flag; LDMXCSR checks reserved bits', () => {
  // ldmxcsr [rbx]; divsd xmm0, xmm1 (0/0)
  const r = run([0x0f, 0xae, 0x13, 0xf2, 0x0f, 0x5e, 0xc1], { data: [[0, [0x00, 0x1f, 0, 0]]] });
  assert.equal(r.faultVector, 19);
  assert.equal(r.mxcsr, 0x1f01);
  assert.equal(r.xmm![0], 0n, 'destination unchanged');
  assert.equal(run([0x0f, 0xae, 0x13], { data: [[0, [0x80, 0x1f, 0x01, 0]]] }).faultVector, 13);
  const st = run([0x0f, 0xae, 0x5b, 0x10], { mxcsr: 0x7fc0 }); // stmxcsr [rbx+16]
  assert.equal(Buffer.from(st.data!).readUInt32LE(16), 0x7fc0);
});

test('GPR forms: CVTSI2SD with REX.W, CVTTSD2SI zero-extends, MOVD/MOVQ, PEXTRW/PINSRW, PMOVMSKB', () => {
  const c = run([0xf2, 0x48, 0x0f, 0x2a, 0xc0, 0xf2, 0x0f, 0x2c, 0xc8], { gpr: { 0: -3n, 1: -1n } }); // cvtsi2sd xmm0, rax; cvttsd2si ecx, xmm0
  assert.equal(c.xmm![0], f64Bits(-3));
  assert.equal(c.gpr[1], 0xfffffffdn);
  const m = run([0x66, 0x0f, 0x7e, 0xc0, 0x66, 0x48, 0x0f, 0x7e, 0xc1], { gpr: { 0: -1n }, xmm: [0x1122334455667788_99aabbccddeeff00n] });
  assert.equal(m.gpr[0], 0xddeeff00n);
  assert.equal(m.gpr[1], 0x99aabbccddeeff00n);
  const w = run([0x66, 0x0f, 0xc5, 0xc0, 0x06, 0x66, 0x0f, 0xc4, 0xc1, 0x00, 0x66, 0x0f, 0xd7, 0xd1], {
    gpr: { 1: 0xabcdn }, xmm: [0x1122334455667788_99aabbccddeeff00n, 0x8000000000000000_00000000000000ffn],
  }); // pextrw eax, xmm0, 6; pinsrw xmm0, ecx, 0; pmovmskb edx, xmm1
  assert.equal(w.gpr[0], 0x3344n);
  assert.equal(w.xmm![0], 0x1122334455667788_99aabbccddeeabcdn);
  assert.equal(w.gpr[2], 0x8001n);
  const q = run([0x66, 0x0f, 0x6e, 0xc0, 0xf3, 0x0f, 0x7e, 0xc9], { gpr: { 0: 0xffffffff_12345678n }, xmm: [-1n, 0x55n << 64n | 0x66n] }); // movd xmm0, eax; movq xmm1, xmm1
  assert.equal(q.xmm![0], 0x12345678n);
  assert.equal(q.xmm![1], 0x66n);
});

test('COMISD/UCOMISD write ZF, PF, CF and clear OF, SF, AF', () => {
  const lt = run([0x66, 0x0f, 0x2f, 0xc1], { xmm: [f64Bits(1), f64Bits(2)] });
  assert.equal(lt.rflags & 0x8d5, 0x01);
  const un = run([0x66, 0x0f, 0x2e, 0xc1], { xmm: [0x7ff8000000000000n, f64Bits(2)] });
  assert.equal(un.rflags & 0x8d5, 0x45);
  assert.equal(un.mxcsr, 0x1f80);
});

test('MASKMOVDQU stores the selected bytes at [RDI]', () => {
  const r = run([0x66, 0x0f, 0xf7, 0xc1], { gpr: { 7: BigInt(DATA + 0x20) }, xmm: [0x0f0e0d0c0b0a09080706050403020100n, 0x80000000000000000000000000008080n], data: [[0x20, new Array<number>(16).fill(0xee)]] });
  assert.equal(Buffer.from(r.data!.subarray(0x20, 0x30)).toString('hex'), '0001eeeeeeeeeeeeeeeeeeeeeeeeee0f');
});

test('shift groups, fences, prefetch, CLFLUSH, EMMS run', () => {
  const r = run([0x66, 0x0f, 0x71, 0xd0, 0x03, 0x66, 0x0f, 0x73, 0xf8, 0x02, 0x0f, 0x18, 0x0b, 0x0f, 0xae, 0x3b,
    0x0f, 0xae, 0xe8, 0x0f, 0xae, 0xf0, 0x0f, 0xae, 0xf8, 0x0f, 0x77], { xmm: [0x0000000000000000_0000000000000008n] });
  assert.equal(r.faultVector, undefined);
  assert.equal(r.xmm![0], 0x10000n); // psrlw by 3 -> 1; pslldq by 2 -> 0x10000
  assert.equal(run([0x66, 0x0f, 0x71, 0xd8, 0x03]).faultVector, 6); // group 12 /3 is not an instruction
});
