import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSnippet } from './testing/run-snippet.js';

const M64 = (1n << 64n) - 1n;

void test('64-bit MUL/IMUL without BigInt match BigInt arithmetic (results and CF/OF)', () => {
  let seed = 7n;
  const rnd = (): bigint => { seed = (seed * 6364136223846793005n + 1442695040888963407n) & M64; return seed; };
  const specials = [0n, 1n, M64, 1n << 63n, (1n << 63n) - 1n, 0xffffffffn, 1n << 32n, 3n,
    // sign-extended 32-bit values (imulOverflow64's shortcut) and their neighbours
    M64 - 4n, M64 - 0x7fffffffn, 0x7fffffffn, 0x80000000n, M64 - 0x80000000n];
  const values = [...specials, ...Array.from({ length: 24 }, rnd), ...Array.from({ length: 8 }, () => rnd() >> 40n)];
  const code = Uint8Array.from([
    0x48, 0x89, 0xc6, // mov rsi, rax
    0x48, 0x0f, 0xaf, 0xf3, // imul rsi, rbx
    0x9c, 0x41, 0x58, // pushf; pop r8
    0x48, 0xf7, 0xe3, // mul rbx  (rdx:rax = rax * rbx)
    0x9c, 0x41, 0x59, // pushf; pop r9
  ]);
  for (const a of values) {
    for (const b of values.slice(0, 12)) {
      const g = Array<bigint>(16).fill(0n); g[0] = a; g[3] = b; g[4] = 0x10100n;
      const r = runSnippet(code, { gpr: g, rflags: 2 }, { data: new Uint8Array(0x200) });
      const sa = BigInt.asIntN(64, a); const sb = BigInt.asIntN(64, b);
      const sp = sa * sb;
      assert.equal(r.gpr[6], sp & M64, `imul ${a} ${b}`);
      assert.equal((r.gpr[8]! & 0x801n) !== 0n, BigInt.asIntN(64, sp) !== sp, `imul CF/OF ${a} ${b}`);
      const up = a * b;
      assert.equal(r.gpr[0], up & M64, `mul lo ${a} ${b}`);
      assert.equal(r.gpr[2], up >> 64n, `mul hi ${a} ${b}`);
      assert.equal((r.gpr[9]! & 0x801n) !== 0n, (up >> 64n) !== 0n, `mul CF/OF ${a} ${b}`);
    }
  }
});

void test('one-operand 64-bit IMUL gives the signed high half', () => {
  const code = Uint8Array.from([0x48, 0xf7, 0xeb]); // imul rbx
  const cases: [bigint, bigint][] = [[-1n, -1n], [-3n, 5n], [1n << 62n, 4n], [-(1n << 63n), -1n], [123456789123n, -987654321987n]];
  for (const [a, b] of cases) {
    const g = Array<bigint>(16).fill(0n); g[0] = a & M64; g[3] = b & M64;
    const r = runSnippet(code, { gpr: g, rflags: 2 });
    const p = a * b;
    assert.equal(r.gpr[0], p & M64);
    assert.equal(r.gpr[2], (p >> 64n) & M64, `high half of ${a} * ${b}`);
  }
});
