// The WebAssembly tier against the interpreter, on the snippets the block JIT is checked with
// (testing/jit-cases.ts): alone (JIT off), and handing blocks on to the JIT.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CALL_CASES, CASES, PAGE_CASES, REGION_CASES, STRING_CASES, FLAG_PRODUCERS, DATA, hex, run, agree as agreeAll, testTier } from '../testing/jit-cases.js';
import { CODE_ADDRESS, FIXED_CLOCK, NO_INTERRUPTS, SNIPPET_RAM_BYTES, makeRamBus, makeTestCpu, setMode } from '../testing/run-snippet.js';
import { Cpu as CpuClass } from '../cpu.js';
import { setWasmModuleLimit, setWasmReview, setWasmTier, wasmBatch, wasmStats, wasmThreshold, type WasmTier } from './tier.js';
import { translateBlock } from './translate.js';
import { Op } from './encoder.js';
import { jitThreshold, setJitThreshold } from '../jit/block-compiler.js';
import type { Cpu } from '../cpu.js';
import { Flag } from '../state.js';
import { UnimplementedInstructionError } from '../fault.js';
import { FakeClock, FakeIrq, RamBus, enterLong64, standardGdt } from '../testing/system-fixture.js';

/** The wasm tier alone (JIT off), and handing blocks on to the JIT. */
function agree(name: string, code: Uint8Array, seeds = 20, setup?: (g: Uint32Array) => void): void {
  agreeAll(name, code, { seeds, jits: [-1, 2], wasm: true, ...(setup !== undefined ? { setup } : {}) });
}

void test('wasm blocks agree with the interpreter', () => {
  const before = wasmStats.translated;
  for (const [name, bytes] of CASES) agree(name, hex(bytes));
  for (const [name, bytes] of REGION_CASES) agree(name, hex(bytes), 8);
  assert.ok(wasmStats.translated > before, 'blocks were translated');
});

void test('wasm REP MOVS/STOS agree with the interpreter', () => {
  for (const [name, bytes] of STRING_CASES) agree(name, hex(bytes), 8);
});

void test('wasm accesses near one another, near page boundaries and into code agree with the interpreter', () => {
  for (const [name, bytes] of PAGE_CASES) agree(name, hex(bytes), 8);
});

void test('wasm calls and returns inside one function agree with the interpreter', () => {
  for (const [name, bytes] of CALL_CASES) agree(name, hex(bytes), 8);
});

void test('wasm conditions after every flag producer agree (Jcc, all 16 codes)', () => {
  for (const p of FLAG_PRODUCERS) {
    for (let cc = 0; cc < 16; cc++) {
      const jcc = (0x70 + cc).toString(16);
      agree(`${p} j${cc}`, hex(`${p} ${jcc} 05 b9 01 00 00 00 ${p} 0f ${(0x80 + cc).toString(16)} 05 00 00 00 ba 02 00 00 00`), 6);
    }
  }
});

void test('a wasm block stops before a faulting access, with RIP and the count there', () => {
  const code = hex('48 01 c8  48 83 c2 01  48 8b 03  48 ff c0');
  const setup = (g: Uint32Array): void => { g[6] = 0x100000; }; // RBX outside RAM: #PF
  agree('fault', code, 5, setup);
  const o = run(code, 7, -1, 1000, setup, 0, true);
  assert.equal(o.exit.kind, 'fault');
  assert.equal(o.rip, CODE_ADDRESS + 7);
  assert.equal(o.count, 2);
  // Non-canonical and wrapping addresses
  agree('wrap', hex('48 8b 04 cb  48 01 c8'), 4, (g) => { g[2] = 0; g[3] = 0x20000000; });
  agree('non-canonical', hex('48 8b 04 0b  48 01 c8'), 4, (g) => { g[2] = 0; g[3] = 0x00010000; });
});

// After so many modules the tier starts over with a new table, whose indices name other blocks:
// chains must not follow jump cache entries made before (they once ran the wrong block).
void test('starting over with a new table: chains do not follow old jump cache entries', () => {
  const before = wasmStats.flushes;
  setWasmModuleLimit(2);
  try {
    for (const [name, bytes] of [...REGION_CASES, ...CASES.slice(0, 12)]) agree(`${name} (new tables)`, hex(bytes), 3);
  } finally {
    setWasmModuleLimit(1024);
  }
  assert.ok(wasmStats.flushes > before + 10, 'the tier started over');
});

// Hostile guest code: random sequences of the snippets' instructions mixed with random bytes
// (branches land anywhere, stores hit code, handlers and faults come in between) must run in wasm
// exactly as in the interpreter, and never throw out of the run loop. TSHV_FUZZ_OPERATIONS runs
// more sequences.
void test('random instruction sequences agree with the interpreter (fuzz)', () => {
  // Not the snippets that write a function at 0x42000: mixed with a REP STOS of a random count,
  // their pointer lets it overwrite the page tables above, after which what a fault reports
  // depends on which translations each run has cached (both architecturally valid).
  const pageParts = PAGE_CASES.filter(([, bytes]) => !bytes.includes('00 20 03 00'));
  const pool = [...CASES, ...REGION_CASES, ...STRING_CASES, ...pageParts, ...CALL_CASES].flatMap(([, bytes]) => bytes.trim().split(/\s{2,}/));
  const sequences = Number(process.env['TSHV_FUZZ_OPERATIONS'] ?? 150);
  let x = Number(process.env['TSHV_FUZZ_SEED'] ?? 0x5eed) >>> 0 || 1;
  const next = (): number => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  for (let n = 0; n < sequences; n++) {
    const parts: string[] = [];
    const length = 4 + (next() % 20);
    for (let k = 0; k < length; k++) {
      if (next() % 8 === 0) parts.push(Array.from({ length: 1 + (next() % 6) }, () => (next() & 0xff).toString(16)).join(' '));
      else parts.push(pool[next() % pool.length]!);
    }
    const code = hex(parts.join(' '));
    const seed = next();
    // Random bytes can reach an opcode the CPU does not implement: the machine stops there
    // (UnimplementedInstructionError), and wasm must stop at the same instruction.
    const outcome = (wasm: boolean, wasmAt = 0): ReturnType<typeof run> | { unimplemented: string } => {
      try {
        return run(code, seed, -1, 20000, undefined, 0, wasm, wasmAt);
      } catch (e) {
        if (e instanceof UnimplementedInstructionError) return { unimplemented: e.message };
        throw e;
      }
    };
    const want = outcome(false);
    for (const wasmAt of [0, 1]) {
      assert.deepEqual(outcome(true, wasmAt), want, `sequence ${n}: ${parts.join(' | ')} (wasm at ${wasmAt})`);
    }
  }
});

/**
 * Runs `body` on a CPU in 64-bit mode over the shared tier, `code` at CODE_ADDRESS, the JIT off
 * and wasm translating at a block's run `wasmAt` (one block per module); `entries()` is the
 * number of calls into wasm since the start or the last `entries(true)`, which also resets it.
 */
function onTierCpu(wasmAt: number, code: Uint8Array, body: (cpu: Cpu, entries: (reset?: boolean) => number) => void): void {
  const savedJit = jitThreshold;
  const savedWasm = [wasmThreshold, wasmBatch] as const;
  setJitThreshold(-1);
  const tier = testTier();
  setWasmTier(wasmAt, 1);
  tier.ram.fill(0); tier.codePages.fill(0);
  tier.ram.set(code, CODE_ADDRESS);
  const { cpu } = makeTestCpu(tier.ram, undefined, 0, tier);
  let count = 0;
  const run = tier.run;
  const counted: typeof run = (...a) => { count++; return run(...a); };
  tier.run = counted;
  try {
    setMode(cpu, 'long64', CODE_ADDRESS, DATA);
    body(cpu, (reset = false) => { const n = count; if (reset) count = 0; return n; });
  } finally {
    // A tier that started over (its module limit) has a new dispatcher: keep that one.
    if (tier.run === counted) tier.run = run;
    cpu.dispose();
    setJitThreshold(savedJit);
    setWasmTier(...savedWasm);
  }
}

// STI that sets IF inside a chain (every kernel spin_unlock_irqrestore): with no interrupt
// pending the chain goes on; with one pending, the chain stops and the interrupt comes after the
// instruction that follows STI (its shadow, SDM Vol. 3A §6.8.3), not later.
void test('STI in a wasm chain: goes on with no interrupt pending; a pending one comes after the next instruction', () => {
  // l: cli; inc eax; sti; inc ecx; jmp l; hlt (where the interrupt handler below sends it)
  onTierCpu(0, hex('fa  ff c0  fb  ff c1  eb f8  f4'), (cpu, entries) => {
    cpu.gpr[8] = 0x30000; cpu.gpr[9] = 0;
    let pending = false;
    const delivered: number[][] = [];
    Object.assign(cpu.irq, { hasInterrupt: () => pending, acknowledge: () => { pending = false; return 0x30; } });
    cpu.deliverEvent = (c: Cpu, vector: number) => { delivered.push([vector, c.gpr[0]!, c.gpr[2]!]); c.rip = CODE_ADDRESS + 8; };
    cpu.run(100); // translates the two blocks
    entries(true);
    cpu.gpr[0] = 0; cpu.gpr[2] = 0;
    assert.equal(cpu.run(5000, true).kind, 'budget');
    assert.ok(cpu.gpr[0] >= 900 && cpu.gpr[2] >= 900, `the loop ran (eax ${cpu.gpr[0]}, ecx ${cpu.gpr[2]})`);
    assert.ok(entries() < 10, `one chain runs the loop through STI (${entries()} entries into wasm)`);
    assert.deepEqual(delivered, []);
    // Now an interrupt is pending: CLI; INC EAX; STI; INC ECX (the shadow), then delivery.
    cpu.gpr[0] = 0; cpu.gpr[2] = 0;
    cpu.rip = CODE_ADDRESS;
    cpu.setRflags(0, Flag.IF);
    pending = true;
    assert.equal(cpu.run(5000).kind, 'halt');
    assert.deepEqual(delivered, [[0x30, 1, 1]]);
  });
});

// A RET shared by three call sites has more successors than the two links of its record, so
// its returns go through the jump cache. Two of the return addresses here share a pair of slots
// (the cache's two ways): in one slot, with one way per slot they took turns there and each
// return to the evicted one ended the chain (in the kernel, __list_del_entry_valid and
// __rq_qos_track, ~4 times per 1 MiB read); in the pair's two slots, each one's insertion into
// its own slot pushed the other out (try_to_grab_pending and blk_mq_do_dispatch_sched, twice
// per 1 MiB read).
function threeReturns(Y: number): void {
  const X = 0x100, Z = 0x40, F = 0x80;
  const code = new Uint8Array(Y + 16);
  const rel32 = (d: number): number[] => [d & 0xff, (d >> 8) & 0xff, (d >> 16) & 0xff, (d >>> 24) & 0xff];
  const jmp = (from: number, to: number): void => code.set([0xe9, ...rel32(to - (from + 5))], from);
  // 0: jmp X; X: call rsi; jmp Y; Y: call rsi; jmp Z; Z: call rsi; dec ecx; jnz 0; hlt; F: ret
  jmp(0, X);
  code.set([0xff, 0xd6], X); jmp(X + 2, Y);
  code.set([0xff, 0xd6], Y); jmp(Y + 2, Z);
  code.set([0xff, 0xd6, 0xff, 0xc9, 0x0f, 0x85, ...rel32(-(Z + 10)), 0xf4], Z);
  code[F] = 0xc3;
  onTierCpu(0, code, (cpu, entries) => {
    cpu.gpr[8] = 0x30000; cpu.gpr[9] = 0; // RSP
    cpu.gpr[12] = CODE_ADDRESS + F; cpu.gpr[13] = 0; // RSI: the callee
    cpu.gpr[2] = 100;
    assert.equal(cpu.run(100_000, true).kind, 'halt'); // translates the blocks, fills the jump cache
    cpu.rip = CODE_ADDRESS; cpu.halted = false; cpu.gpr[2] = 3000;
    entries(true);
    assert.equal(cpu.run(1_000_000, true).kind, 'halt');
    assert.equal(cpu.gpr[2], 0);
    assert.ok(entries() < 50, `3000 rounds in a few chains (${entries()} entries into wasm)`);
  });
}

const jumpSlotOf = (rip: number): number => Math.imul(rip >>> 0, 0x9e3779b1 | 0) >>> 16; // tier.ts jumpSlot

void test('two RIPs of one jump cache slot both stay: chains go on through a RET with three successors', () => {
  assert.equal(jumpSlotOf(CODE_ADDRESS + 0x100 + 2), jumpSlotOf(CODE_ADDRESS + 0xc675 + 2), 'the returns after X and Y share a slot');
  threeReturns(0xc675);
});

void test('two RIPs of the two slots of one jump cache pair both stay', () => {
  const x = jumpSlotOf(CODE_ADDRESS + 0x100 + 2);
  assert.equal(x % 2, 0);
  assert.equal(jumpSlotOf(CODE_ADDRESS + 0x2bc2 + 2), x + 1, 'the return after Y has the other slot of the pair');
  threeReturns(0x2bc2);
});

// After a CR3 write no jump cache entry of non-global code is current. A chain that reaches such
// a block through a stale entry looks it up from the dispatcher (Cpu.wasmLookup) and goes on,
// instead of returning to the run loop: here the JNZ at B back to the loop's head, on another
// page. Each round still ends its chain at MOV CR3 (a helper that stops it): one entry into wasm
// per round, where there were two.
void test('after a CR3 write, a chain goes on through a stale jump cache entry (looked up from wasm)', () => {
  const B = 0x1000;
  const code = new Uint8Array(B + 16);
  const rel32 = (d: number): number[] => [d & 0xff, (d >> 8) & 0xff, (d >> 16) & 0xff, (d >>> 24) & 0xff];
  // 0: mov rax, cr3; mov cr3, rax; jmp B
  code.set([0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8, 0xe9, ...rel32(B - 11)], 0);
  // B: inc ecx; dec edx; jnz 0; hlt
  code.set([0xff, 0xc1, 0xff, 0xca, 0x0f, 0x85, ...rel32(-(B + 10)), 0xf4], B);
  onTierCpu(0, code, (cpu, entries) => {
    cpu.gpr[4] = 200; cpu.gpr[2] = 0;
    assert.equal(cpu.run(100_000, true).kind, 'halt'); // translates the blocks, fills the jump cache
    cpu.rip = CODE_ADDRESS; cpu.halted = false; cpu.gpr[4] = 1000; cpu.gpr[2] = 0;
    entries(true);
    cpu.chainStops = new Map();
    assert.equal(cpu.run(1_000_000, true).kind, 'halt');
    assert.equal(cpu.gpr[2], 1000);
    assert.ok(entries() <= 1100, `about one entry into wasm per round (${entries()} for 1000 rounds)`);
    // Where the chains stopped (the guest profiler's count): after MOV CR3, every round.
    const stops = [...cpu.chainStops];
    cpu.chainStops = null;
    const helper = stops.find(([k]) => k === `helper ${(CODE_ADDRESS + 6).toString(16)}`);
    assert.ok(helper !== undefined && helper[1] >= 990, `stops after MOV CR3: ${JSON.stringify(stops)}`);
    assert.ok(stops.filter(([k]) => k.startsWith('end')).reduce((a, [, n]) => a + n, 0) <= 10, `few stops at block ends: ${JSON.stringify(stops)}`);
  });
});

// The lookup from wasm must never hand a chain a function whose code changed: here every round
// writes B's first instruction (a code page) before jumping there, after a CR3 write made B's
// jump cache entry stale. Warmed up with the bytes unchanged (INC ECX), then rewritten to INC EBX.
void test('a stale jump cache entry whose code was rewritten is not followed into the old function', () => {
  const B = 0x1000;
  const code = new Uint8Array(B + 16);
  const rel32 = (d: number): number[] => [d & 0xff, (d >> 8) & 0xff, (d >> 16) & 0xff, (d >>> 24) & 0xff];
  // 0: mov rax, cr3; mov cr3, rax; mov [B + 1], dil; jmp B
  code.set([0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8, 0x40, 0x88, 0x3c, 0x25, ...rel32(CODE_ADDRESS + B + 1), 0xe9, ...rel32(B - 19)], 0);
  // B: inc ecx (ff c1; ff c3: inc ebx); dec edx; jnz 0; hlt
  code.set([0xff, 0xc1, 0xff, 0xca, 0x0f, 0x85, ...rel32(-(B + 10)), 0xf4], B);
  onTierCpu(0, code, (cpu) => {
    cpu.gpr[4] = 100; cpu.gpr[2] = 0; cpu.gpr[14] = 0xc1; cpu.gpr[15] = 0; // RDI: the byte written
    assert.equal(cpu.run(100_000, true).kind, 'halt');
    assert.equal(cpu.gpr[2], 100);
    cpu.rip = CODE_ADDRESS; cpu.halted = false; cpu.gpr[4] = 100; cpu.gpr[2] = 0; cpu.gpr[6] = 0; cpu.gpr[14] = 0xc3;
    assert.equal(cpu.run(1_000_000, true).kind, 'halt');
    assert.deepEqual([cpu.gpr[2], cpu.gpr[6]], [0, 100], 'INC EBX ran every round, the old INC ECX never');
  });
});

// A trace: a block's function goes on through the JMP that ends it and the Jcc way taken more
// often (both blocks decoded before it was translated), here round a loop of three blocks that
// the loop search (two or three blocks joined by Jcc) does not find; the whole loop then
// iterates inside one function.
void test('a wasm function runs a trace: through a JMP and the hotter way of a Jcc, round a loop', () => {
  // l: inc eax; jmp b; (hlt x3) b: inc ecx; cmp ecx, 100; jb c; hlt x2; c: inc edx; jmp l
  onTierCpu(3, hex('ff c0  eb 03  f4 f4 f4  ff c1  83 f9 64  72 02  f4 f4  ff c2  eb ec'), (cpu, entries) => {
    cpu.gpr[0] = 0; cpu.gpr[2] = 0; cpu.gpr[4] = 0;
    assert.equal(cpu.run(5000).kind, 'halt');
    assert.deepEqual([cpu.gpr[0], cpu.gpr[2], cpu.gpr[4]], [100, 100, 99]);
    assert.equal(cpu.rip, CODE_ADDRESS + 0x0f, 'halted at the fall-through (RIP after HLT)');
    assert.equal(cpu.lookupBlock(CODE_ADDRESS)!.wasmMax, 7, 'the function runs the three blocks');
    assert.ok(entries() <= 3, `the loop iterated inside wasm (${entries()} entries)`);
  });
});

// A loop whose body calls a function that calls another: the walk from the loop's head follows
// the CALLs into their callees and their RETs back (each RET checks the address it pops), and
// closes at the JB back to the head; the whole loop iterates inside the head's function.
void test('a loop through calls and returns iterates inside one wasm function', () => {
  // l: inc eax; call f; cmp eax, 100; jb l; hlt; f: inc ecx; call g; ret; g: add edx, 2; ret
  onTierCpu(3, hex('ff c0  e8 06 00 00 00  83 f8 64  72 f4  f4  ff c1  e8 01 00 00 00  c3  83 c2 02  c3'), (cpu, entries) => {
    cpu.gpr[0] = 0; cpu.gpr[2] = 0; cpu.gpr[4] = 0;
    cpu.gpr[8] = 0x30000; cpu.gpr[9] = 0;
    assert.equal(cpu.run(5000).kind, 'halt');
    assert.deepEqual([cpu.gpr[0], cpu.gpr[2], cpu.gpr[4], cpu.gpr[8]], [100, 100, 200, 0x30000]);
    const head = cpu.lookupBlock(CODE_ADDRESS)!;
    assert.ok(head.wasmSelfLoop, 'the function of the loop head loops');
    assert.equal(head.wasmMax, 9, 'it runs the blocks of the caller, both callees and both returns');
    assert.ok(entries() <= 4, `the loop iterated inside wasm (${entries()} entries)`);
  });
});

// An outer loop round an inner loop through a call: the outer block's trace goes through the
// call and stops at the inner loop's back edge (a loop walk closes from its head), so that chains
// enter the inner loop's own function, which iterates; a trace through the head would run one
// inner iteration per call.
void test('a trace stops before the head of a loop, whose own function iterates', () => {
  // o: xor ecx, ecx; h: inc ecx; call f; cmp ecx, 10; jb h; dec esi; jnz o; hlt; f: add edx, ecx; ret
  onTierCpu(2, hex('31 c9  ff c1  e8 0c 00 00 00  83 f9 0a  72 f4  ff ce  75 ee  f4 f4 f4  01 ca  c3'), (cpu) => {
    cpu.gpr[2] = 0; cpu.gpr[4] = 0; cpu.gpr[12] = 40;
    cpu.gpr[8] = 0x30000; cpu.gpr[9] = 0;
    assert.equal(cpu.run(20000).kind, 'halt');
    assert.deepEqual([cpu.gpr[2], cpu.gpr[4], cpu.gpr[12]], [10, 40 * 55, 0]);
    const inner = cpu.lookupBlock(CODE_ADDRESS + 2)!;
    assert.ok(inner.wasmSelfLoop, 'the function of the inner loop loops');
    const outer = cpu.lookupBlock(CODE_ADDRESS)!;
    assert.ok(outer.wasmIndex > 0 && !outer.wasmSelfLoop);
    assert.equal(outer.wasmMax, 3 + 2 + 2, 'the trace of the outer block: it, the callee, the compare and JB (not the head of the inner loop)');
  });
  // Translated at their first run, the inner loop's head (entered through a JMP first) gets a
  // function that does not loop (its callee was not decoded yet); the JB block's translation finds
  // the loop and has the head translated anew, its function replaced once compiled.
  const replaced = wasmStats.replaced;
  // o: xor ecx, ecx; jmp h; h: inc ecx; call f; cmp ecx, 10; jb h; dec esi; jnz o; hlt; f: add edx, ecx; ret
  onTierCpu(0, hex('31 c9  eb 00  ff c1  e8 0c 00 00 00  83 f9 0a  72 f4  ff ce  75 ec  f4 f4 f4  01 ca  c3'), (cpu) => {
    cpu.gpr[2] = 0; cpu.gpr[4] = 0; cpu.gpr[12] = 40;
    cpu.gpr[8] = 0x30000; cpu.gpr[9] = 0;
    assert.equal(cpu.run(20000).kind, 'halt');
    assert.deepEqual([cpu.gpr[2], cpu.gpr[4], cpu.gpr[12]], [10, 40 * 55, 0]);
    assert.ok(cpu.lookupBlock(CODE_ADDRESS + 4)!.wasmSelfLoop, 'the function of the inner loop loops');
  });
  assert.equal(wasmStats.replaced, replaced + 1, 'the head was translated anew once');
});

// A Jcc whose way changes after the loop's function was made (in the kernel, a loop over a bio's
// pages that tested "first page?": always true at boot, with one page per bio, then false 255
// times in 256): every iteration left the function there and came back through the dispatcher.
// The review sees that most of the function's passes leave by that exit (chains going on to its
// target through the function's link) and translates the head anew, taking the other way.
void test('a function that most passes leave by one side exit is translated anew, that way taken', () => {
  // l: inc eax; test esi, esi; jnz a; add edx, 2; jmp c; a: add edx, 3; nop; jmp c; c: cmp eax, ecx; jb l; hlt
  // (a ends with a JMP: the two- and three-block loop search, which tries both ways, misses it.)
  const code = hex('ff c0  85 f6  75 05  83 c2 02  eb 06  83 c2 03  90  eb 00  39 c8  72 eb  f4');
  setWasmReview(1, 0);
  try {
    onTierCpu(2, code, (cpu, entries) => {
      const round = (esi: number): number => {
        cpu.rip = CODE_ADDRESS; cpu.halted = false;
        cpu.gpr[0] = 0; cpu.gpr[4] = 0; cpu.gpr[2] = 500; cpu.gpr[12] = esi;
        entries(true);
        for (let n = 0; n < 100 && cpu.run(5000, true).kind !== 'halt'; n++);
        assert.deepEqual([cpu.gpr[0], cpu.gpr[4]], [500, 500 * (esi === 0 ? 2 : 3)]);
        return entries();
      };
      for (let n = 0; n < 4; n++) round(0);
      const head = cpu.lookupBlock(CODE_ADDRESS)!;
      const max = (): number => head.wasmMax; // read anew: the review changes it
      assert.ok(head.wasmSelfLoop && max() === 3 + 2 + 2, 'the loop through the fall-through way iterates inside one function');
      const reviewed = wasmStats.reviewed;
      let last = 0;
      for (let n = 0; n < 16; n++) last = round(1);
      assert.equal(wasmStats.reviewed, reviewed + 1, 'the head was translated anew once');
      assert.ok(head.wasmSelfLoop && max() === 3 + 3 + 2, `the loop through the taken way iterates inside one function (${max()})`);
      assert.ok(last <= 3, `500 iterations in a few entries into wasm (${last})`);
    });
    // A loop's own exit (here once per 10 iterations, to an outer loop) is not a wrong way: its
    // iterations, not its runs, are the passes it is weighed against.
    // s: xor eax, eax; l: inc eax; cmp eax, ecx; jae o; add edx, 1; jmp l; o: dec esi; jnz s; hlt
    onTierCpu(2, hex('31 c0  ff c0  39 c8  73 05  83 c2 01  eb f5  ff ce  75 ef  f4'), (cpu) => {
      const reviewed = wasmStats.reviewed;
      for (let n = 0; n < 40; n++) {
        cpu.rip = CODE_ADDRESS; cpu.halted = false;
        cpu.gpr[2] = 10; cpu.gpr[4] = 0; cpu.gpr[12] = 300;
        for (let m = 0; m < 100 && cpu.run(2000, true).kind !== 'halt'; m++);
        assert.deepEqual([cpu.gpr[4], cpu.gpr[12]], [300 * 9, 0]);
      }
      assert.ok(cpu.lookupBlock(CODE_ADDRESS + 2)!.wasmSelfLoop, 'the inner loop iterates inside its function');
      assert.equal(wasmStats.reviewed, reviewed, 'no function was translated anew');
    });
  } finally {
    setWasmReview(4096, 50);
  }
});

/**
 * With 4-level paging (4 KiB pages, identity) where page 0xA000 is present but not writable: a
 * loop reads that page 200 times and stores through RBX each time, to writable 0xB000 until its
 * last iteration, which stores to 0xA000 and must page-fault (#PF, W|P) at the store, as in the
 * interpreter. The store's block runs as wasm by then: its TLB entry for 0xA000 allows reads only.
 */
function readOnlyPageRun(wasmAt: number): { cr2: number; gpr: number[]; pushedRip: number; err: number } {
  const savedJit = jitThreshold;
  const savedWasm = [wasmThreshold, wasmBatch] as const;
  setJitThreshold(-1);
  const tier = wasmAt >= 0 ? testTier() : null; // first: the tier's creation sets a threshold of its own
  setWasmTier(wasmAt, 1);
  const ram = tier?.ram ?? new Uint8Array(SNIPPET_RAM_BYTES);
  ram.fill(0); tier?.codePages.fill(0);
  const v = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  const put64 = (at: number, lo: number, hi = 0): void => { v.setUint32(at, lo >>> 0, true); v.setUint32(at + 4, hi >>> 0, true); };
  put64(0x1000, 0x2003); put64(0x2000, 0x3003); put64(0x3000, 0x9003); // PML4 -> PDPT -> PD -> PT
  for (let p = 0; p < SNIPPET_RAM_BYTES / 4096; p++) put64(0x9000 + 8 * p, p * 4096 | (p === 0xa ? 0x1 : 0x3));
  put64(0x4008, 0x0000ffff, 0x00af9a00); put64(0x4010, 0x0000ffff, 0x00cf9200); // GDT: code 0x08, data 0x10
  put64(0x5000 + 14 * 16, (0x08 << 16) | 0x6100, 0x8e00); put64(0x5000 + 14 * 16 + 8, 0); // #PF -> 0x6100
  v.setUint32(0xa000, 3, true);
  ram.set(hex('b9 c8 00 00 00  bb 00 b0 00 00  8b 04 25 00 a0 00 00  01 c2  83 f9 01  75 05  bb 00 a0 00 00  89 03  ff c9  75 e7  f4'), 0x7000);
  ram.set(hex('f4'), 0x6100);
  const cpu = new CpuClass(0, makeRamBus(ram), NO_INTERRUPTS, FIXED_CLOCK, tier !== null ? { wasm: tier } : {});
  try {
    setMode(cpu, 'long64', 0x7000, 0x10000);
    cpu.cr3 = 0x1000;
    cpu.gdtr = { base: 0x4000, limit: 0x17 };
    cpu.idtr = { base: 0x5000, limit: 0xfff };
    cpu.flushTlb(true);
    cpu.gpr[8] = 0x8000; cpu.gpr[9] = 0; cpu.gpr[4] = 0;
    let exit = 'budget';
    for (let n = 0; n < 100 && exit === 'budget'; n++) exit = cpu.run(50).kind;
    assert.equal(exit, 'halt');
    return { cr2: cpu.cr2, gpr: Array.from(cpu.gpr), pushedRip: v.getUint32(cpu.gpr[8] + 8, true), err: v.getUint32(cpu.gpr[8], true) };
  } finally {
    cpu.dispose();
    setJitThreshold(savedJit);
    setWasmTier(...savedWasm);
  }
}

void test('a store to a read-only page faults in wasm as in the interpreter; reads of it hit', () => {
  const want = readOnlyPageRun(-1);
  assert.equal(want.cr2, 0xa000);
  assert.equal(want.pushedRip, 0x701d, 'the fault is at the store');
  assert.equal(want.err & 3, 3, 'a write to a present page');
  assert.equal(want.gpr[4], 600, '200 reads of 3');
  const before = wasmStats.translated;
  assert.deepEqual(readOnlyPageRun(1), want);
  assert.ok(wasmStats.translated > before, 'blocks were translated');
});

/** User-mode code at USER, entered with SYSRETQ from a setup that programs STAR, LSTAR (KERNEL) and EFER.SCE. */
const USER = CODE_ADDRESS + 0x100;
const KERNEL = CODE_ADDRESS + 0x200;
const le32 = (v: number): string => [0, 8, 16, 24].map((s) => ((v >>> s) & 0xff).toString(16).padStart(2, '0')).join(' ');
const USER_SETUP = hex('b9 80 00 00 c0  0f 32  83 c8 01  0f 30 ' + // EFER.SCE
  'b9 81 00 00 c0  31 c0  ba 08 00 20 00  0f 30 ' + // STAR
  `b9 82 00 00 c0  b8 ${le32(KERNEL)}  31 d2  0f 30 ` + // LSTAR
  `48 c7 c1 ${le32(USER)}  41 bb 02 00 00 00  48 0f 07`); // SYSRETQ to user (IOPL 0)

/**
 * Runs `cpu` in machine-like quanta (7 to 207 instructions) until `total` instructions or an
 * exit other than the budget; returns that exit ('fault N' for a fault).
 */
function runQuanta(cpu: Cpu, total: number): string {
  let exit = 'budget';
  while (cpu.instructionCount < total && exit === 'budget') {
    const e = cpu.run(Math.min(7 + (cpu.instructionCount % 5) * 50, total - cpu.instructionCount));
    exit = e.kind === 'fault' ? `fault ${e.vector}` : e.kind;
  }
  return exit;
}

/**
 * Runs `body` with the JIT off and wasm translating at a block's run `wasmAt` (-1: no wasm tier,
 * `tier` null), the tier's RAM and code-page map cleared, counting entries into wasm in `entries`;
 * then disposes the CPUs `body` put in `cpus` and restores the thresholds.
 */
function withTestTier<T>(wasmAt: number, body: (tier: WasmTier | null, cpus: Cpu[]) => T, entries: { n: number } = { n: 0 }): T {
  const savedJit = jitThreshold;
  const savedWasm = [wasmThreshold, wasmBatch] as const;
  setJitThreshold(-1);
  const tier = wasmAt >= 0 ? testTier() : null; // first: the tier's creation sets a threshold of its own
  setWasmTier(wasmAt, 1);
  if (tier !== null) { tier.ram.fill(0); tier.codePages.fill(0); }
  const run = tier?.run;
  const counted: WasmTier['run'] = (...a) => { entries.n++; return run!(...a); };
  if (tier !== null) tier.run = counted;
  const cpus: Cpu[] = [];
  try {
    return body(tier, cpus);
  } finally {
    // A tier that started over (its module limit) has a new dispatcher: keep that one.
    if (tier !== null && run !== undefined && tier.run === counted) tier.run = run;
    for (const c of cpus) c.dispose();
    setJitThreshold(savedJit);
    setWasmTier(...savedWasm);
  }
}

/**
 * Runs the setup, then `userCode` (and `kernelCode` at LSTAR) for up to 4,000 instructions in
 * machine-like quanta, stopping at the first exit other than the budget; wasm translating at a
 * block's run `wasmAt` (-1: no wasm tier). With `warmUp`, a first run from the same state gets
 * blocks translated that the compared run reaches only once.
 */
function runUserMode(userCode: Uint8Array, kernelCode: Uint8Array, wasmAt: number, warmUp = false, entries: { n: number } = { n: 0 }): { exit: string; gpr: number[]; rip: number; cpl: number; count: number; rflags: number; cs: number; ss: number } {
  return withTestTier(wasmAt, (tier, cpus) => {
    const ram = tier?.ram ?? new Uint8Array(SNIPPET_RAM_BYTES);
    ram.set(USER_SETUP, CODE_ADDRESS); ram.set(userCode, USER); ram.set(kernelCode, KERNEL);
    const { cpu } = makeTestCpu(ram, undefined, 0, tier);
    cpus.push(cpu);
    let exit = 'budget';
    for (let pass = warmUp ? 0 : 1; pass < 2; pass++) {
      entries.n = 0;
      setMode(cpu, 'long64', CODE_ADDRESS, DATA);
      cpu.setRflags(2, 0x37d5);
      cpu.instructionCount = 0;
      cpu.gpr[8] = 0x30000; cpu.gpr[9] = 0;
      for (const r of [2, 3, 6, 7, 12, 13]) cpu.gpr[r] = 0; // RDX, RBX, RSI
      exit = runQuanta(cpu, 4000);
    }
    return {
      exit, gpr: Array.from(cpu.gpr), rip: cpu.rip, cpl: cpu.cpl, count: cpu.instructionCount,
      rflags: cpu.getRflags(), cs: cpu.seg[1]!.selector, ss: cpu.seg[2]!.selector,
    };
  }, entries);
}

// SYSCALL and SYSRET, helper calls that change the privilege level, between blocks run as wasm:
// SYSCALL sits in a block wasm appends to the one before, and the kernel side returns with
// SYSRETQ. The chain goes on across both (HelperResult.Jump): in the new mode's TLB half and
// code generations, at the RIP the helper left. (An earlier variant once stored the wrong RIP
// there: this caught it.)
void test('SYSCALL/SYSRET inside wasm chains agree with the interpreter, and chains go on across them', () => {
  // l: add rdx, 1; cmp rdx, -1; je out (never); inc rsi; syscall; jmp l; out: hlt
  const userCode = hex('48 83 c2 01  48 83 fa ff  74 09  48 ff c6  0f 05  eb ef  90 90  f4');
  const kernelCode = hex('48 ff c3  48 0f 07'); // inc rbx; sysretq
  const want = runUserMode(userCode, kernelCode, -1);
  assert.equal(want.exit, 'budget');
  const calls = want.gpr[6]!;
  assert.ok(calls > 100, `system calls were made (${calls})`);
  const before = wasmStats.translated;
  const entries = { n: 0 };
  assert.deepEqual(runUserMode(userCode, kernelCode, 1, true, entries), want);
  assert.ok(wasmStats.translated > before, 'blocks were translated');
  // A chain that stopped at each SYSCALL and SYSRET would take two entries per system call; the
  // quanta (7-207 instructions) end the others.
  assert.ok(entries.n * 2 < calls, `entries into wasm ${entries.n} for ${calls} system calls`);
});


// SYSCALL and SYSRETQ run in wasm (translate.ts fastSystemCall). The kernel side here programs
// IA32_FMASK to clear IF (WRMSR in the chain: what SYSCALL in wasm reads is written again after
// it) and returns with IF set in R11. An interrupt asserted while the kernel side runs (IF clear)
// comes right after the SYSRETQ that sets IF: wasm stops before that SYSRETQ and the run loop
// delivers it at the first user instruction, as the interpreter does. The segments, RFLAGS and
// the privilege level the Cpu has after chains that switched in wasm are the interpreter's.
void test('SYSCALL/SYSRETQ in wasm: FMASK from WRMSR, an interrupt pending when SYSRETQ sets IF, segments and RFLAGS after', () => {
  // l: inc rsi; syscall; jmp l
  const userCode = hex('48 ff c6  0f 05  eb f9');
  // mov r8, rcx; mov ecx, IA32_FMASK; mov eax, IF; xor edx, edx; wrmsr; mov rcx, r8; inc rbx;
  // mov r11d, 0x202; sysretq
  const kernelCode = hex('49 89 c8  b9 84 00 00 c0  b8 00 02 00 00  31 d2  0f 30  4c 89 c1  48 ff c3  41 bb 02 02 00 00  48 0f 07');
  const run = (wasmAt: number): { delivered: number[][]; end: number[]; entries: number } => {
    const entries = { n: 0 };
    return withTestTier(wasmAt, (tier, cpus) => {
      const ram = tier?.ram ?? new Uint8Array(SNIPPET_RAM_BYTES);
      ram.set(USER_SETUP, CODE_ADDRESS); ram.set(userCode, USER); ram.set(kernelCode, KERNEL);
      const { cpu } = makeTestCpu(ram, undefined, 0, tier);
      cpus.push(cpu);
      let pending = false;
      const delivered: number[][] = [];
      Object.assign(cpu.irq, { hasInterrupt: () => pending, acknowledge: () => { pending = false; return 0x30; } });
      // The handler returns at once: the record is where and in which state the interrupt came.
      cpu.deliverEvent = (c: Cpu, vector: number) => { delivered.push([vector, c.rip, c.cpl, c.getRflags(), c.gpr[6]!, c.instructionCount]); };
      setMode(cpu, 'long64', CODE_ADDRESS, DATA);
      cpu.setRflags(2, 0x37d5);
      cpu.gpr[8] = 0x30000; cpu.gpr[9] = 0;
      let asserted = 0;
      while (cpu.instructionCount < 30_000) {
        const e = cpu.run(7 + (cpu.instructionCount % 5) * 50);
        assert.equal(e.kind, 'budget');
        // Between quanta, as a device would: now and then while the kernel side runs.
        if (cpu.cpl === 0 && cpu.instructionCount > 2000 * (asserted + 1)) { pending = true; asserted++; }
      }
      return {
        delivered,
        end: [cpu.rip, cpu.cpl, cpu.getRflags(), cpu.seg[1]!.selector, cpu.seg[2]!.selector, cpu.gpr[6]!, cpu.instructionCount],
        entries: entries.n,
      };
    }, entries);
  };
  const want = run(-1);
  assert.ok(want.delivered.length >= 5, `interrupts were delivered (${want.delivered.length})`);
  for (const d of want.delivered) assert.equal(d[2], 3, 'in user mode, after the SYSRETQ that set IF');
  const got = run(1);
  assert.deepEqual({ ...got, entries: 0 }, { ...want, entries: 0 });
  assert.ok(got.entries * 4 < want.end[5]!, `chains went on across SYSCALL and SYSRETQ (${got.entries} entries into wasm, ${want.end[5]} system calls)`);
});

// A hostile kernel side: SYSRET to a non-canonical RCX is #GP(0) at CPL 0 (SDM SYSRET), after
// 200 system calls whose chains went on across SYSCALL and SYSRET. wasm stops before it, with
// nothing changed, as the interpreter does.
void test('SYSRET to a non-canonical address in a chain faults (#GP) in wasm as in the interpreter', () => {
  const userCode = hex('48 83 c2 01  48 83 fa ff  74 09  48 ff c6  0f 05  eb ef  90 90  f4');
  // inc rbx; cmp rbx, 200; jne s; mov rcx, 0x800000000000; s: sysretq
  const kernelCode = hex('48 ff c3  48 81 fb c8 00 00 00  75 0a  48 b9 00 00 00 00 00 80 00 00  48 0f 07');
  const want = runUserMode(userCode, kernelCode, -1);
  assert.equal(want.exit, 'fault 13');
  assert.equal(want.cpl, 0);
  assert.equal(want.gpr[6], 200);
  assert.equal(want.rip, KERNEL + 22, 'at the SYSRET');
  assert.deepEqual(runUserMode(userCode, kernelCode, 1, true), want);
});

/**
 * The supervisor-only page test below: 4 KiB pages over the 512 KiB of RAM, all user-accessible
 * but SECRET's; CPL 0 code programs STAR (Linux's layout over standardGdt) and LSTAR, and SYSRETs
 * to `user`; `kernel` runs at LSTAR. Returns how the run ended (at most 20,000 instructions).
 */
function runPaged(user: Uint8Array, kernel: Uint8Array, wasmAt: number): { exit: string; rip: number; cpl: number; rax: number; rsi: number; entries: number } {
  const SECRET = 0x60000, UCODE = 0x41000, KENTRY = 0x40800, PML4 = 0x70000;
  const entries = { n: 0 };
  return withTestTier(wasmAt, (tier, cpus) => {
    const bus = new RamBus(SNIPPET_RAM_BYTES, tier?.ram);
    bus.w64(PML4, (PML4 + 0x1000) | 7, 0);
    bus.w64(PML4 + 0x1000, (PML4 + 0x2000) | 7, 0);
    bus.w64(PML4 + 0x2000, (PML4 + 0x3000) | 7, 0);
    for (let p = 0; p < SNIPPET_RAM_BYTES / 4096; p++) bus.w64(PML4 + 0x3000 + p * 8, (p * 4096) | (p * 4096 === SECRET ? 3 : 7), 0);
    bus.w32(SECRET, 0x5ec2e7);
    bus.ram.set(hex('b9 81 00 00 c0  31 c0  ba 08 00 20 00  0f 30 ' + // STAR: kernel CS 0x08, user base 0x20
      `b9 82 00 00 c0  b8 ${le32(KENTRY)}  31 d2  0f 30 ` + // LSTAR
      `48 c7 c1 ${le32(UCODE)}  41 bb 02 00 00 00  48 0f 07`), CODE_ADDRESS); // SYSRETQ to user
    bus.ram.set(kernel, KENTRY);
    bus.ram.set(user, UCODE);
    const cpu = new CpuClass(0, bus, new FakeIrq(), new FakeClock(), { deliverEvent: null, wasm: tier });
    cpus.push(cpu);
    standardGdt(bus, cpu);
    enterLong64(cpu, PML4);
    cpu.rip = CODE_ADDRESS;
    cpu.setRflags(2, 0x37d5);
    cpu.gpr[8] = 0x30000; cpu.gpr[9] = 0;
    cpu.gpr[14] = 0x50000; // RDI: a user page
    const exit = runQuanta(cpu, 20000);
    return { exit, rip: cpu.rip, cpl: cpu.cpl, rax: cpu.gpr[0]!, rsi: cpu.gpr[12]!, entries: entries.n };
  }, entries);
}

// A chain that goes on across SYSRET runs the user code in the user half of the wasm TLB: the
// kernel just read a supervisor-only page (its entry is in the supervisor half), and user code
// reading the same address must take #PF (U/S), in wasm as in the interpreter, not hit the
// kernel's entry. Guest user programs reading kernel memory is what the halves prevent.
void test('after SYSRET in a chain, user code cannot read a supervisor-only page the kernel just read', () => {
  // l: inc rsi; cmp rsi, 300; jne s; mov edi, 0x60000; s: syscall; mov rax, [rdi]; jmp l
  const user = hex('48 ff c6  48 81 fe 2c 01 00 00  75 05  bf 00 00 06 00  0f 05  48 8b 07  eb e8');
  const kernel = hex('48 8b 1c 25 00 00 06 00  48 0f 07'); // mov rbx, [0x60000]; sysretq
  const want = runPaged(user, kernel, -1);
  assert.equal(want.exit, 'fault 14');
  assert.equal(want.cpl, 3);
  assert.equal(want.rip, 0x41000 + 19, 'at the user read');
  assert.equal(want.rsi, 300);
  const got = runPaged(user, kernel, 1);
  assert.deepEqual({ ...got, entries: 0 }, { ...want, entries: 0 });
  assert.ok(got.entries * 2 < 300, `chains went on across SYSCALL and SYSRET (${got.entries} entries into wasm)`);
});

// A hostile or buggy user program: CLI and STI at CPL 3 with IOPL 0 are #GP(0) (SDM CLI, STI).
// wasm runs CLI, STI and PUSHF itself; at CPL > IOPL it stops before them and the interpreter
// raises the fault, with RIP at the instruction and nothing changed.
void test('CLI, STI and MOV from CR2 in user mode fault (#GP) in wasm as in the interpreter; PUSHF does not', () => {
  for (const op of ['fa', 'fb', '0f 20 d0']) {
    // l: add rdx, 1; pushf; pop rsi; cmp rdx, 40; jne l; cli|sti|mov rax, cr2; hlt
    const userCode = hex(`48 83 c2 01  9c  5e  48 83 fa 28  75 f4  ${op}  f4`);
    const want = runUserMode(userCode, hex('f4'), -1);
    assert.equal(want.exit, 'fault 13');
    assert.equal(want.rip, USER + 12);
    assert.equal(want.cpl, 3);
    assert.equal(want.gpr[4], 40);
    assert.equal(want.gpr[12]! & 0x200, 0, 'PUSHF saw IF clear');
    const before = wasmStats.translated;
    assert.deepEqual(runUserMode(userCode, hex('f4'), 0, true), want);
    assert.ok(wasmStats.translated > before, 'blocks were translated');
  }
});

// Every branch out of a function is marked unlikely in the module's branch hints section, so
// TurboFan lays the exits' code after the hot path (V8 reads the hints' offsets from the start of
// the function body, local declarations included).
void test('the branch hints name the exits of a function: each offset is a br_if or an if', () => {
  // l: mov rax, [rbx]; add [rbx + 8], rax; push rax; pop rcx; dec esi; jnz l; hlt
  onTierCpu(1, hex('48 8b 03  48 01 43 08  50  59  ff ce  75 f3  f4'), (cpu) => {
    cpu.gpr[6] = DATA; cpu.gpr[7] = 0; cpu.gpr[8] = 0x30000; cpu.gpr[9] = 0; cpu.gpr[12] = 20;
    const e = cpu.run(5000);
    assert.equal(e.kind, 'halt', JSON.stringify(e) + ' ' + cpu.rip.toString(16));
    const block = cpu.lookupBlock(CODE_ADDRESS)!;
    const t = translateBlock(cpu, block, 0);
    assert.ok(t !== null);
    // Three accesses' TLB checks, the non-canonical checks of the stack, and more.
    assert.ok(t.exitBranches.length >= 4, `exits hinted: ${t.exitBranches.length}`);
    let last = -1;
    for (const o of t.exitBranches) {
      assert.ok(o > last, 'offsets ascend');
      last = o;
      assert.ok(t.body[o] === Op.br_if || t.body[o] === Op.if, `a branch at ${o}: ${t.body[o]}`);
    }
  });
});

// A review (WasmTier.review) looks at the functions of every address space, while the CPU runs in
// one of them. A block of another process's code, translated anew there, got the blocks that
// address space has at the RIPs of its trace appended: the current process's code at those
// virtual addresses (guest programs share them: busybox and a static program both start at
// 0x401000). Here page V holds two programs, A and B, under two page tables; they differ in one
// instruction (add edx, 3 in A, add edx, 7 in B, in the block a Jcc's taken way goes to). A's
// loop head is made with the other way appended, then runs that way until its function must be
// translated anew; reviews are only on while B runs. A's loop must still add 3.
void test('a review translates a function anew only in its own address space', () => {
  const V = 0x41000, ROOT_A = 0x70000, ROOT_B = 0x74000;
  // h: inc eax; test esi, esi; jnz t; add edx, 2; jmp c; t: add edx, N; nop; jmp c; c: cmp eax, ecx; jb h; hlt
  const prog = (n: number): Uint8Array => hex(`ff c0  85 f6  75 05  83 c2 02  eb 06  83 c2 0${n}  90  eb 00  39 c8  72 eb  f4`);
  setWasmReview(1e9, 1e9);
  try {
    withTestTier(4, (tier, cpus) => {
      const bus = new RamBus(SNIPPET_RAM_BYTES, tier!.ram);
      for (const [root, codePa] of [[ROOT_A, V], [ROOT_B, V + 0x2000]] as const) {
        bus.w64(root, (root + 0x1000) | 3, 0);
        bus.w64(root + 0x1000, (root + 0x2000) | 3, 0);
        bus.w64(root + 0x2000, (root + 0x3000) | 3, 0);
        for (let p = 0; p < SNIPPET_RAM_BYTES / 4096; p++) bus.w64(root + 0x3000 + p * 8, (p * 4096 === V ? codePa : p * 4096) | 3, 0);
      }
      bus.ram.set(prog(3), V);
      bus.ram.set(prog(7), V + 0x2000);
      const cpu = new CpuClass(0, bus, new FakeIrq(), new FakeClock(), { deliverEvent: null, wasm: tier });
      cpus.push(cpu);
      standardGdt(bus, cpu);
      enterLong64(cpu, ROOT_A);
      const round = (root: number, esi: number): number => {
        if (cpu.cr3 !== root) { cpu.cr3 = root; cpu.flushTlb(false); } // as MOV CR3 does
        cpu.rip = V; cpu.halted = false;
        cpu.gpr[0] = 0; cpu.gpr[4] = 0; cpu.gpr[2] = 500; cpu.gpr[12] = esi;
        for (let n = 0; n < 100 && cpu.run(5000, true).kind !== 'halt'; n++);
        assert.equal(cpu.gpr[0], 500);
        return cpu.gpr[4];
      };
      for (let n = 0; n < 4; n++) assert.equal(round(ROOT_A, 0), 1000);
      const headA = cpu.lookupBlock(V)!;
      assert.equal(headA.wasmMax, 3 + 2 + 2, 'A\'s loop goes the fall-through way in its function');
      for (let n = 0; n < 16; n++) assert.equal(round(ROOT_A, 1), 1500);
      const reviewed = wasmStats.reviewed;
      setWasmReview(1, 0);
      for (let n = 0; n < 40; n++) assert.equal(round(ROOT_B, 1), 3500);
      for (let n = 0; n < 40; n++) assert.equal(round(ROOT_A, 1), 1500, `A's round ${n} after B's`);
      assert.ok(wasmStats.reviewed > reviewed, 'A\'s loop head was translated anew');
      assert.equal(headA.wasmMax, 3 + 3 + 2, 'A\'s loop goes the taken way in its function');
    });
  } finally {
    setWasmReview(4096, 50);
  }
});
