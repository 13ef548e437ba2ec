// The block JIT against the interpreter: each snippet runs on two fresh CPUs, one interpreting
// and one with compiled blocks, from the same random register and memory state; registers,
// RFLAGS, RIP, the instruction count, the run() exit and memory must be identical.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CODE_ADDRESS } from '../testing/run-snippet.js';
import { CASES, REGION_CASES, FLAG_PRODUCERS, hex, run, agree as agreeAll } from '../testing/jit-cases.js';
import { jitStats, reoptimizeCompiled } from './block-compiler.js';
import { Block } from '../block-cache.js';

function agree(name: string, code: Uint8Array, seeds = 40, setup?: (g: Uint32Array) => void): void {
  agreeAll(name, code, { seeds, jits: [0, 2], wasm: false, ...(setup !== undefined ? { setup } : {}) });
}

void test('regions (loops over several blocks) agree with the interpreter', () => {
  for (const [name, bytes] of REGION_CASES) agree(name, hex(bytes), 12);
  assert.ok(jitStats.regionBlocks > jitStats.compiled, 'some region has more than one block');
});

void test('compiled blocks agree with the interpreter on templated instructions', () => {
  for (const [name, bytes] of CASES) agree(name, hex(bytes));
});

void test('conditions after every flag producer agree (Jcc, all 16 codes)', () => {
  for (const p of FLAG_PRODUCERS) {
    for (let cc = 0; cc < 16; cc++) {
      const jcc = (0x70 + cc).toString(16);
      // producer; jcc +5; mov ecx, 1; then a near Jcc (0F 8x) over a mov edx, 2
      agree(`${p} j${cc}`, hex(`${p} ${jcc} 05 b9 01 00 00 00 ${p} 0f ${(0x80 + cc).toString(16)} 05 00 00 00 ba 02 00 00 00`), 12);
    }
  }
});

void test('a fused reader leaves the flag record to later unfused readers (dead-flag analysis)', () => {
  // producer; a fused reader (SETcc / CMOVcc / ADC); then Jcc with every code, O and P among them
  // reading the lazy record; then a flag writer that would kill the record if the reader were
  // counted as its last use.
  const readers = ['0f 9c c1' /* setl cl */, '48 0f 42 d3' /* cmovb rdx, rbx */, '48 11 d9' /* adc rcx, rbx */, '0f 94 c2' /* sete dl */];
  const producers = ['48 39 d8' /* cmp rax, rbx */, '85 d8' /* test eax, ebx */, '48 29 d1' /* sub rcx, rdx */, '48 01 d8' /* add rax, rbx */];
  for (const p of producers) {
    for (const r of readers) {
      for (let cc = 0; cc < 16; cc++) {
        const jcc = (0x70 + cc).toString(16);
        agree(`${p} ${r} j${cc}`, hex(`${p} ${r} ${jcc} 05 b9 01 00 00 00 48 01 d8`), 6);
      }
    }
  }
});

void test('a fault in a compiled block leaves RIP and the count at the faulting instruction', () => {
  const code = hex('48 01 c8  48 83 c2 01  48 8b 03  48 ff c0');
  const setup = (g: Uint32Array): void => { g[6] = 0x100000; }; // RBX outside RAM: #PF
  agree('fault', code, 5, setup);
  const o = run(code, 7, 0, 1000, setup);
  assert.equal(o.exit.kind, 'fault');
  assert.equal(o.rip, CODE_ADDRESS + 7);
  assert.equal(o.count, 2);
});

void test('flags that only an exit could observe are recorded on that exit (slow path, fault)', () => {
  // A register-operand producer, then a load through RBX: outside RAM (the slow path, then #PF
  // with RFLAGS compared) or inside it (the fast path); then a flag writer.
  const producers = ['48 39 d1', '48 29 d1', '85 d1', '48 01 d1', '48 11 d1', '31 d1', '80 f9 7f', '84 d1', '48 f7 d9'];
  for (const p of producers) {
    const code = hex(`${p} 48 8b 03 48 01 c8`);
    agree(`${p} then a faulting load`, code, 6, (g) => { g[6] = 0x100000; });
    agree(`${p} then a load`, code, 6, (g) => { g[6] = 0x10000; g[7] = 0; });
    // Through a store too (its exit check after the write) and a second load before the writer.
    agree(`${p} then store and load`, hex(`${p} 48 89 0b 48 8b 13 48 01 c8`), 6, (g) => { g[6] = 0x10000; g[7] = 0; });
  }
});

void test('unusual addresses take the handler path (non-canonical, huge registers)', () => {
  // mov rax, [rbx+rcx*8]: rcx with a large high half; the sum wraps to the data page.
  agree('wrap', hex('48 8b 04 cb  48 01 c8'), 4, (g) => { g[2] = 0; g[3] = 0x20000000; }); // rcx*8 = 2^64 → wraps to rbx
  agree('non-canonical', hex('48 8b 04 0b  48 01 c8'), 4, (g) => { g[2] = 0; g[3] = 0x00010000; });
  assert.ok(jitStats.compiled > 0);
});

void test('a compiled block that V8 runs unoptimized is handed to TurboFan again, a bounded number of times', () => {
  // A function never optimized reads as deoptimized: the first check marks it for optimization;
  // while that is pending, checks leave it alone.
  const block = new Block(0, 0, []);
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  block.compiled = new Function('c', 'b', 'e', 'return;') as Block['compiled'];
  const before = jitStats.reoptimized;
  reoptimizeCompiled(block);
  reoptimizeCompiled(block);
  if (jitStats.reoptimized === before) return; // V8 natives unavailable (TSHV_JIT_FORCE_OPT=0): a no-op
  assert.equal(block.reoptimizations, 1);
  assert.equal(jitStats.reoptimized, before + 1);
  // The cap: a block that keeps deoptimizing is left to V8's own tiering.
  block.reoptimizations = 6;
  block.compiled = new Function('c', 'b', 'e', 'return;') as Block['compiled']; // eslint-disable-line @typescript-eslint/no-implied-eval
  reoptimizeCompiled(block);
  assert.equal(block.reoptimizations, 6);
});
