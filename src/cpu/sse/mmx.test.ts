// MMX through the whole soft CPU (runSnippet): register aliasing with the x87 file, the pack /
// unpack layouts of the 64-bit forms, FXSAVE of MMX state. Expected values were checked against
// an x86-64 host.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSnippet } from '../testing/run-snippet.js';

const DATA = 0x10000;
/** movq mm0,[rbx]; movq mm1,[rbx+8]; body; movq [rbx+64],mm0 */
function run(body: number[], a: bigint, b: bigint, cr0Ts = false): { out: bigint; data: Uint8Array; fault: number | undefined } {
  const data = new Uint8Array(256);
  const v = new DataView(data.buffer);
  v.setBigUint64(0, a, true);
  v.setBigUint64(8, b, true);
  const setTs = cr0Ts ? [0x0f, 0x20, 0xc0, 0x48, 0x83, 0xc8, 0x08, 0x0f, 0x22, 0xc0] : [];
  const code = [...setTs, 0x0f, 0x6f, 0x03, 0x0f, 0x6f, 0x4b, 0x08, ...body, 0x0f, 0x7f, 0x43, 0x40];
  const gpr = Array.from({ length: 16 }, (_, r) => (r === 3 ? BigInt(DATA) : r === 4 ? BigInt(DATA + 0xf0) : 0n));
  const r = runSnippet(Uint8Array.from(code), { gpr, rflags: 0x202 }, { data, dataAddress: DATA });
  const d = r.data!;
  return { out: new DataView(d.buffer, d.byteOffset).getBigUint64(0x40, true), data: d, fault: r.faultVector };
}

test('64-bit forms of pack, unpack, add and shift', () => {
  const a = 0x8000_7fff_0100_ff80n, b = 0x0001_0002_fffe_0003n;
  assert.equal(run([0x0f, 0x63, 0xc1], a, b).out, 0x01_02_fe_03_80_7f_7f_80n); // packsswb
  assert.equal(run([0x0f, 0x68, 0xc1], a, b).out, 0x00_80_01_00_00_7f_02_ffn); // punpckhbw: high bytes interleaved
  assert.equal(run([0x0f, 0x62, 0xc1], a, b).out, 0xfffe_0003_0100_ff80n); // punpckldq
  assert.equal(run([0x0f, 0xfd, 0xc1], a, b).out, 0x8001_8001_00fe_ff83n); // paddw
  assert.equal(run([0x0f, 0x73, 0xd0, 0x04], a, b).out, 0x0800_07ff_f010_0ff8n); // psrlq mm0, 4
  assert.equal(run([0x0f, 0x70, 0xc1, 0x1b], a, b).out, 0x0003_fffe_0002_0001n); // pshufw
});

test('MMX writes set TOP = 0, all tags valid and exponent 0xffff; EMMS empties the tags', () => {
  // paddd mm0, mm1; fxsave [rbx+0x80] (16-byte aligned)
  const r = run([0x0f, 0xfe, 0xc1, 0x0f, 0xae, 0x83, 0x80, 0, 0, 0], 0x1_0000_0002n, 0x3_0000_0004n);
  const d = r.data;
  const fx = 0x80;
  assert.equal(d[fx + 2]! | (d[fx + 3]! << 8), 0, 'FSW: TOP = 0');
  assert.equal(d[fx + 4], 0xff, 'abridged FTW: all valid');
  assert.equal(Buffer.from(d.subarray(fx + 32, fx + 42)).toString('hex'), '0600000004000000ffff', 'ST0 = R0 = mm0');
  const e = run([0x0f, 0x77, 0x0f, 0xae, 0x83, 0x80, 0, 0, 0], 0n, 0n);
  assert.equal(e.data[fx + 4], 0, 'EMMS: all empty');
});

test('MMX faults: #NM with CR0.TS', () => {
  assert.equal(run([], 0n, 0n, true).fault, 7);
});

test('FXRSTOR then FXSAVE gives back 80-bit register images the doubles cannot hold', () => {
  // fxsave [rbx+0x80]; write an 80-bit pi into ST0's slot; fxrstor; fxsave [rbx]... keep it simple:
  // store image at 0x80, patch ST0 slot, fxrstor64 [rbx+0x80], fxsave64 [rbx+0x80]
  const data = new Uint8Array(1024);
  const code = [0x48, 0x0f, 0xae, 0x83, 0x80, 0, 0, 0, // fxsave64 [rbx+0x80]
    0x48, 0xb8, 0x35, 0xc2, 0x68, 0x21, 0xa2, 0xda, 0x0f, 0xc9, // mov rax, 0xc90fdaa22168c235
    0x48, 0x89, 0x83, 0xa0, 0, 0, 0, // mov [rbx+0xa0], rax (ST0 significand)
    0x66, 0xc7, 0x83, 0xa8, 0, 0, 0, 0x00, 0x40, // mov word [rbx+0xa8], 0x4000
    0xc6, 0x83, 0x84, 0, 0, 0, 0x01, // mov byte [rbx+0x84], 1 (tag: R0 valid)
    0x48, 0x0f, 0xae, 0x8b, 0x80, 0, 0, 0, // fxrstor64 [rbx+0x80]
    0x48, 0x0f, 0xae, 0x83, 0x00, 0x02, 0, 0, // fxsave64 [rbx+0x200]
    0xdb, 0xbb, 0x00, 0x03, 0, 0]; // fstp tword [rbx+0x300]
  const gpr = Array.from({ length: 16 }, (_, r) => (r === 3 ? BigInt(DATA) : r === 4 ? BigInt(DATA + 0x3f0) : 0n));
  const r = runSnippet(Uint8Array.from(code), { gpr, rflags: 0x202 }, { data, dataAddress: DATA });
  assert.equal(r.faultVector, undefined);
  assert.equal(Buffer.from(r.data!.subarray(0x220, 0x22a)).toString('hex'), '35c26821a2da0fc90040');
  assert.equal(Buffer.from(r.data!.subarray(0x300, 0x30a)).toString('hex'), '35c26821a2da0fc90040');
});
