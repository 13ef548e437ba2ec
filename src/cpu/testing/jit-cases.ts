// Snippets and the runner the execution tiers are checked with against the interpreter
// (jit/block-compiler.test.ts, wasm/tier.test.ts): each snippet runs on fresh CPUs from the same
// random register and memory state; registers, RFLAGS, RIP, the instruction count, the run()
// exit and memory must come out identical.

import { Buffer } from 'node:buffer';
import assert from 'node:assert/strict';
import { makeTestCpu, setMode, CODE_ADDRESS, SNIPPET_RAM_BYTES } from './run-snippet.js';
import type { RunExit } from '../cpu.js';
import { setJitThreshold, jitThreshold } from '../jit/block-compiler.js';
import { WasmTier, setWasmTier, wasmThreshold, wasmBatch } from '../wasm/tier.js';
import { fninit } from '../x87/stack.js';
import { invalidateRecord } from '../x87/registers.js';

export const DATA = 0x10000;
const STACK = 0x30000;

/** xorshift32: deterministic random numbers. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

const INTERESTING = [0, 1, 2, 0x7f, 0x80, 0xff, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe];

function randomHalf(r: () => number): number {
  return (r() & 3) === 0 ? INTERESTING[r() % INTERESTING.length]! : r();
}

export interface Outcome { gpr: number[]; rflags: number; rip: number; count: number; exit: RunExit; data: number[] }

export function hex(bytes: string): Uint8Array {
  return Uint8Array.from(bytes.trim().split(/\s+/).map((b) => parseInt(b, 16)));
}

/**
 * Runs `code` with the block JIT at `threshold` (-1: off) and, with `wasm`, the WebAssembly tier
 * translating every block on its first run (one shared tier: its RAM is reset for each run).
 */
export function run(code: Uint8Array, seed: number, threshold: number, budget = 100000, setup?: (g: Uint32Array) => void, chunk = 0, wasm = false, wasmAt = 0): Outcome {
  const saved = jitThreshold;
  const savedWasm = [wasmThreshold, wasmBatch] as const;
  setJitThreshold(threshold);
  setWasmTier(wasm ? wasmAt : -1, 1);
  try {
    const tier = wasm ? testTier() : null;
    if (tier !== null) { tier.ram.fill(0); tier.codePages.fill(0); }
    const ram = tier?.ram ?? new Uint8Array(SNIPPET_RAM_BYTES);
    // The snippet ends with HLT (run() returns 'halt'), not a stop RIP: with one set, wasm blocks do not chain.
    ram.set(code, CODE_ADDRESS);
    ram[CODE_ADDRESS + code.length] = 0xf4;
    const { cpu } = makeTestCpu(ram, undefined, 0, tier);
    if (tier !== null && cpu.slab === null) throw new Error('the wasm arena has no room for another vCPU slab');
    try {
      const start = (): void => {
        const r = rng(seed);
        for (let k = 0; k < 256; k++) ram[DATA + k] = r() & 0xff;
        ram.fill(0, STACK - 64, STACK + 16);
        setMode(cpu, 'long64', CODE_ADDRESS, DATA);
        cpu.instructionCount = 0;
        cpu.halted = false;
        for (let k = 0; k < 32; k++) cpu.gpr[k] = randomHalf(r);
        cpu.gpr[6] = DATA; cpu.gpr[7] = 0; // RBX: data pointer
        cpu.gpr[8] = STACK; cpu.gpr[9] = 0; // RSP
        setup?.(cpu.gpr);
        // Every flag but VM: the warm-up run before the compared one may have changed any (STI,
        // STD, POPF of a random word setting AC, ID or NT).
        cpu.setRflags(r() & 0x8d5, 0x3f7fd5 & ~0x20000);
        // A kernel address in CR2, as a page fault leaves it (MOV r64, CR2 reads it).
        cpu.cr2 = -0x7f0000000000 + (r() >>> 0) * 4096 + (r() & 0xfff);
        // x87 and SSE as a new CPU has them: the warm-up run may have loaded any (FRSTOR of random
        // data left an unmasked exception pending, and the compared run's next x87 instruction
        // took #MF where the interpreter's run, on a new CPU, did not).
        fninit(cpu);
        cpu.fpr.fill(0);
        for (let k = 0; k < 8; k++) invalidateRecord(cpu, k);
        cpu.xmm.fill(0);
        cpu.mxcsr = 0x1f80;
      };
      let exit: RunExit = { kind: 'budget' };
      const go = (): void => {
        let total = 0;
        // Small budgets in turn, as the machine's quanta do, until the end or a fault.
        while (total < budget) {
          exit = cpu.run(Math.min(chunk > 0 ? chunk : 7 + (total % 5), budget - total));
          total = cpu.instructionCount;
          if (exit.kind !== 'budget') break;
        }
      };
      if (tier !== null) {
        // A first run from the same state gets the blocks translated (a block runs interpreted
        // when it is queued), so that straight-line code runs as wasm in the run compared below.
        // RAM comes back as it was (random stores may have hit anything, page tables included).
        const before = ram.slice();
        start();
        go();
        // Blocks decoded from bytes the run wrote (its own code, or code it wrote and jumped to)
        // do not match RAM once restored: the pages that changed are dropped.
        for (let page = 0; page < ram.length; page += 4096) {
          if (Buffer.compare(ram.subarray(page, page + 4096), before.subarray(page, page + 4096)) !== 0) cpu.invalidatePhysRange(page, 4096);
        }
        ram.set(before);
        cpu.flushTlb(true);
      }
      start();
      go();
      return {
        gpr: Array.from(cpu.gpr), rflags: cpu.getRflags(), rip: cpu.rip, count: cpu.instructionCount, exit,
        data: Array.from(ram.subarray(DATA, DATA + 256)).concat(Array.from(ram.subarray(STACK - 64, STACK + 16))),
      };
    } finally {
      cpu.dispose();
    }
  } finally {
    setJitThreshold(saved);
    setWasmTier(savedWasm[0], savedWasm[1]);
  }
}

/**
 * Asserts that `code` gives the interpreter's outcome with every JIT threshold in `jits` (-1:
 * off), with and without the wasm tier as `wasm` says, at the machine's small budgets and at
 * large ones, over `seeds` random states.
 */
export function agree(name: string, code: Uint8Array, o: { seeds: number; jits: number[]; wasm: boolean; setup?: (g: Uint32Array) => void }): void {
  for (let s = 1; s <= o.seeds; s++) {
    const seed = s * 0x9e3779b1;
    const want = run(code, seed, -1, 100000, o.setup);
    for (const jit of o.jits) {
      // Small budgets as the machine's quanta near a timer; large ones let regions loop. The wasm
      // tier translating at a block's second run also appends fall-through blocks seen by then.
      for (const chunk of [0, 1000]) {
        for (const wasmAt of o.wasm ? [0, 1] : [0]) {
          const got = run(code, seed, jit, 100000, o.setup, chunk, o.wasm, wasmAt);
          assert.deepEqual(got, want, `${name} (seed ${s}, jit threshold ${jit}, wasm ${o.wasm ? `at ${wasmAt}` : 'off'}, chunk ${chunk})`);
        }
      }
    }
  }
}

let sharedTier: WasmTier | null = null;

/** The tier snippet runs share (translating at a block's first run, one block per module). */
export function testTier(): WasmTier {
  if (sharedTier === null) {
    setWasmTier(0, 1);
    sharedTier = WasmTier.create(SNIPPET_RAM_BYTES, SNIPPET_RAM_BYTES / 4096);
    if (sharedTier === null) throw new Error('no WebAssembly tier on this host');
  }
  return sharedTier;
}

/**
 * REP MOVS/STOS snippets (RBX points at DATA; RDI, RSI and RCX set by the snippet): whole pages,
 * page crossings, an element across a page boundary, overlaps either way, a count of 0, DF set,
 * and a store over the instructions that follow (a code page).
 */
export const STRING_CASES: [string, string][] = [
  ['REP STOSQ, random RAX', '48 8d 7b 10  b9 0c 00 00 00  f3 48 ab  48 01 f8'],
  ['REP STOSQ of zeros', '48 8d 7b 08  b9 05 00 00 00  31 c0  f3 48 ab  48 01 c8'],
  ['REP STOSB and STOSD', '48 8d 7b 03  b9 21 00 00 00  f3 aa  48 8d 7b 40  b9 07 00 00 00  f3 ab'],
  ['REP MOVSB and MOVSQ', '48 8d 73 05  48 8d 7b 70  b9 40 00 00 00  f3 a4  48 8d 33  48 8d 7b 48  b9 03 00 00 00  f3 48 a5'],
  ['REP MOVSQ, destination inside the source', '48 8d 33  48 8d 7b 08  b9 08 00 00 00  f3 48 a5'],
  ['REP MOVSB, destination below the source, overlapping', '48 8d 73 10  48 8d 3b  b9 40 00 00 00  f3 a4'],
  ['STOSD and MOVSW without REP', '48 8d 7b 20  ab  48 8d 73 40  66 a5  48 01 f7'],
  ['REP STOSQ with a count of 0', '48 8d 7b 20  31 c9  f3 48 ab  48 01 f9'],
  ['REP STOSQ across a page boundary', '48 8d 7b f8  b9 04 00 00 00  f3 48 ab'],
  ['REP STOSQ, an element across a page boundary', '48 8d 7b fc  b9 03 00 00 00  f3 48 ab'],
  ['REP STOSB with DF set', '48 8d 7b 40  b9 09 00 00 00  fd  f3 aa  fc  48 01 f9'],
  ['REP STOSB over the next instruction (code page)', '48 8d 3d 09 00 00 00  b9 02 00 00 00  b0 90  f3 aa  ff c0  ff c1'],
  ['REP STOSB patching an immediate in its loop (code page)', 'bd 05 00 00 00  48 8d 3d 0c 00 00 00  40 88 e8  b9 01 00 00 00  f3 aa  83 c6 00  ff cd  75 e8'],
];

/**
 * Accesses near one another and near page boundaries, which wasm checks one by one against its
 * TLB (a reuse of one check for accesses at a known distance was measured and dropped, stop 17;
 * these are its cases): through one register moved by ADD, LEA and copies, constant addresses, a
 * stack frame (RSP moved to mid-page first), a store across a page boundary into the first byte
 * of a function the loop calls (written by the snippet: mov dl, 5 and mov dh, 5 in turn), a read
 * of that function's page before such a store, %gs:8 before and after SWAPGS (GS base and
 * IA32_KERNEL_GS_BASE on one page), a RET of a non-canonical address pushed just before, and
 * accesses crossing into the page after RAM.
 */
export const PAGE_CASES: [string, string][] = [
  ['accesses through one register, moved', '48 8b 03  48 89 43 10  48 8b 4b 08  48 83 c3 18  48 89 0b  48 8b 53 f0  48 8d 7b 20  48 89 57 08  48 8b 77 e8  48 89 de  48 89 46 10  48 83 ee 08  48 8b 6e 08'],
  ['constant addresses', 'bf 00 00 01 00  48 8b 47 08  48 89 47 20  48 c7 c6 40 00 01 00  48 8b 0e  48 89 4f 28  48 8b 15 f0 ff ff ff  48 8b 2d e9 ff ff ff  48 8d 35 e2 ff ff ff  48 8b 76 04'],
  ['a stack frame', '48 8d a4 24 00 f8 ff ff  50  53  48 83 ec 10  48 89 4c 24 10  48 89 54 24 18  48 8b 74 24 08  48 83 c4 10  5f  41 58'],
  ['constant registers and RIP-relative addresses on one page', '48 8b 05 05 00 00 00  bf 03 00 04 00  48 8b 0f  48 8b 57 04'],
  ['a store across a page boundary into code', '48 8d bb 00 20 03 00  c7 07 b2 05 c3 00  be 04 00 00 00  31 d2  ff d7  48 89 47 f8  80 37 04  ff ce  75 f1'],
  ['a read, then a store on the same page of code', '48 8d bb 00 20 03 00  c7 07 b2 05 c3 00  be 04 00 00 00  31 d2  ff d7  48 8b 47 08  80 37 04  ff ce  75 f1'],
  ['per-CPU reads around SWAPGS', 'b9 01 01 00 c0  b8 00 00 01 00  31 d2  0f 30  b9 02 01 00 c0  b8 00 08 01 00  0f 30  65 48 8b 04 25 08 00 00 00  0f 01 f8  65 48 8b 0c 25 08 00 00 00  0f 01 f8'],
  ['RET of a non-canonical address just pushed', '48 b8 00 00 00 00 00 00 00 80  50  c3'],
  // Each page's last bytes, until a qword read or a word store crosses into the page after RAM
  // (#PF): a crossing access must miss even when its first page is in the TLB.
  ['qword reads crossing into the page after RAM', 'b9 c8 00 00 00  48 8b 83 fc 0f 00 00  48 81 c3 00 10 00 00  ff c9  75 ee'],
  ['word stores crossing into the page after RAM', 'b9 c8 00 00 00  66 89 83 ff 0f 00 00  48 81 c3 00 10 00 00  ff c9  75 ee'],
];

/**
 * Calls and returns inside one wasm function (a trace appends a direct CALL's callee and, after
 * its RET, the caller): a loop calling a leaf function twice, nested calls, a callee that adds 3
 * to its return address every other call (the RET then leaves the function at the address
 * popped), and one that writes a non-canonical return address on the last iteration (#GP(0) at
 * the RET, RSP unchanged).
 */
export const CALL_CASES: [string, string][] = [
  ['loop calling a leaf function twice', 'b9 20 00 00 00  48 89 d8  e8 11 00 00 00  48 01 c2  e8 09 00 00 00  48 31 c6  ff c9  75 e9  eb 0a  48 8b 43 08  48 01 c8  c3  90 90'],
  ['callee moving its return address every other call', 'b9 10 00 00 00  e8 0c 00 00 00  48 ff c2  48 ff c6  ff c9  75 f1  eb 0b  f6 c1 01  74 05  48 83 04 24 03  c3'],
  ['nested calls', 'b9 18 00 00 00  e8 0b 00 00 00  48 01 c2  ff c9  75 f4  eb 15  90 90  48 8d 04 0b  e8 05 00 00 00  48 83 c0 05  c3  48 c1 c0 03  c3'],
  ['callee returning to a non-canonical address at last', '48 b8 00 00 00 00 00 00 00 80  b9 10 00 00 00  e8 09 00 00 00  48 ff c2  ff c9  75 f4  eb 0a  83 f9 01  75 04  48 89 04 24  c3'],
  ['callee walking off RAM', 'b9 c8 00 00 00  e8 09 00 00 00  48 01 c2  ff c9  75 f4  eb 0b  48 8b 03  48 81 c3 00 10 00 00  c3'],
  // Loops whose body goes through a CALL and its RET iterate inside one function (translate.ts
  // walk): the callee's branch here changes its way after 20 iterations (the loop leaves there).
  ['loop through a call whose callee branches the other way at last', 'b9 20 00 00 00  e8 06 00 00 00  ff c9  75 f7  eb 09  83 f9 0c  72 03  48 01 ca  c3'],
  // The callee moves its return address every other call without a branch: only the RET's check
  // of the popped address keeps the loop from going on into the caller's code it skipped.
  ['loop through a callee moving its return address without a branch', 'b9 10 00 00 00  e8 0c 00 00 00  48 ff c2  48 ff c6  ff c9  75 f1  eb 0d  89 c8  83 e0 01  6b c0 03  48 01 04 24  c3'],
  // The outer loop's trace stops before the inner loop's head (a backward JB): chains enter the
  // inner loop's own function there.
  ['outer loop round an inner loop through a call', 'be 06 00 00 00  31 c9  ff c1  e8 0b 00 00 00  83 f9 0a  72 f4  ff ce  75 ee  eb 04  01 ca  c3  90'],
];

export const CASES: [string, string][] = [
  ['add/sub/xor/and/or/cmp 64', '48 01 d8  48 29 d1  48 31 f0  48 21 f8  48 09 c2  48 39 d8'],
  ['32-bit ALU zero-extends', '01 d8  29 d1  31 f0  21 f8  09 c2  39 d8  85 d8'],
  ['ALU with immediates', '48 83 c0 7f  48 83 e8 80  48 81 f9 78 56 34 12  48 81 e1 00 00 00 80  83 e1 ff  48 05 44 33 22 11  48 3d ff ff ff ff  25 ff 00 00 00'],
  ['ALU with memory', '48 03 03  48 01 03  48 39 43 08  03 4b 04  48 83 03 01  48 85 03  83 6b 10 05  48 31 43 18'],
  ['dead flags then reader', '48 01 d8  48 29 d1  48 31 f0  0f 92 c1  48 21 f8  48 85 c0  0f 94 c2'],
  ['MOV forms', '48 89 03  48 8b 4b 08  48 c7 03 ff ff ff ff  c7 43 04 78 56 34 12  48 c7 c0 80 00 00 00  b8 78 56 34 12  48 ba 88 77 66 55 44 33 22 11  89 d6  48 89 cf'],
  ['LEA forms', '48 8d 44 8b 10  8d 04 08  48 8d 05 10 00 00 00  4a 8d 44 2d f0  48 8d 0c c5 08 00 00 00  8d 54 12 ff'],
  ['MOVSXD/MOVZX', '48 63 c1  48 63 03  0f b6 c4  0f b6 c1  40 0f b6 c6  48 0f b7 c1  0f b6 03  0f b7 4b 02'],
  ['CMOVcc/SETcc', '48 39 c8  48 0f 4c c1  0f 44 d1  0f 97 c0  0f 9c c4  41 0f 92 c0  85 d2  0f 4f f7  0f 9e c3'],
  ['PUSH/POP', '50  41 57  54  5c  41 5f  53  58  5b'],
  ['CALL/RET/JMP', 'e8 06 00 00 00  48 83 c0 01  eb 05  48 83 c1 02  c3'],
  ['loop with fused compare', 'b9 64 00 00 00  48 01 d8  48 31 c2  48 83 c3 07  ff c9  75 f2'],
  ['64-bit compare loop', 'b9 20 00 00 00  48 83 e8 03  48 39 d0  7c 02  31 d2  ff c9  75 f2'],
  ['self-modifying byte store', 'b9 05 00 00 00  88 0d 02 00 00 00  83 c0 00  ff c9  75 f3'],
  ['self-modifying dword store', 'b9 05 00 00 00  89 0d 01 00 00 00  05 00 00 00 00  ff c9  75 f1'],
  ['byte CMP/TEST/MOV', '80 f9 7f  0f 9c c0  3c 80  0f 97 c4  84 e3  0f 94 c1  f6 c2 81  0f 98 c2  80 7b 03 10  0f 92 c3  88 23  8a 4b 05  c6 43 07 99  88 e7  8a d8  40 88 f7'],
  ['shifts and rotates by constants', '48 c1 e0 05  0f 92 c1  48 c1 e8 3f  48 c1 f8 21  0f 90 c2  48 c1 e0 20  48 d1 e3  c1 e1 1f  c1 e9 01  c1 f8 07  0f 9f c3  c1 c0 05  0f 90 c1  48 c1 c8 29  48 c1 c2 20  48 c1 ca 01  c1 e0 00  48 c1 e8 40'],
  ['8- and 16-bit shifts by constants', 'c0 e8 04  0f 92 c1  c0 e0 03  0f 90 c2  c0 ec 02  66 c1 e1 05  66 c1 f8 0f  0f 92 c5  d0 fb  66 d1 e2  0f 90 c6  c0 e3 07  0f 9f c4  c0 6b 03 04  66 c1 63 06 09  c0 7b 09 03  40 c0 ee 03  0f 98 c7'],
  ['8- and 16-bit shifts the interpreter runs', 'c0 e0 09  0f 92 c1  c0 c0 03  66 c1 c8 12  0f 90 c2  66 c1 e6 10  c0 e8 00'],
  ['8-bit SHL carrying bits out: ZF of the byte', 'b0 20  c0 e0 03  0f 94 c1  66 b8 00 01  66 c1 e0 08  0f 94 c2  c6 03 40  c0 63 00 02  0f 94 c5'],
  ['BT/BTS/BTR/BTC on memory with register offsets (bit strings, negative offsets)', '48 c7 c1 45 00 00 00  48 0f a3 0b  0f 92 c0  48 0f ab 0b  48 c7 c1 f3 ff ff ff  0f b3 4b 40  0f 92 c2  66 0f bb 4b 20  f0 48 0f ab 4b 10  9c  5e'],
  ['8- and 16-bit rotates by constants', '66 c1 c0 08  0f 92 c1  c0 c8 03  0f 90 c2  66 c1 c3 10  0f 92 c5  c0 c4 0c  66 d1 c6  9c  5f  d0 c9'],
  ['SHLD/SHRD by constants and CL (0 and masked counts)', '48 0f ac d0 0c  0f 92 c1  0f a4 d8 05  0f 90 c5  b1 07  48 0f ad 03  9c  5f  b1 00  0f a5 d1  0f ac c2 1f  0f 98 c6  b1 41  48 0f a5 c6  9c  5d  b1 40  48 0f ad d6  66 0f a4 d8 03'],
  ['XCHG forms', '48 87 03  86 4b 05  87 d1  66 87 43 0a  f0 48 87 53 10  87 c0'],
  ['BSF/BSR (and REP BSF), zero and non-zero sources', '0f bc c3  48 0f bd d1  66 0f bc 03  9c  5f  31 c9  48 0f bd c1  9c  5e  f3 48 0f bc d6  44 0f bd 4b 08  0f 94 c1  48 c7 c2 ff ff ff ff  31 c0  0f bd d0  9c  5d'],
  ['LOCK CMPXCHG16B: unequal, equal, misaligned', 'f0 48 0f c7 0b  41 0f 94 c0  f0 48 0f c7 0b  41 0f 94 c1  9c  5f  48 8b 73 08  f0 48 0f c7 4b 10  41 0f 94 c2  f0 48 0f c7 4b 08'],
  ['SWAPGS pairs around GS-relative loads', 'b9 02 01 00 c0  b8 00 00 01 00  31 d2  0f 30  bf 03 00 00 00  0f 01 f8  65 48 8b 04 25 08 00 00 00  65 48 03 04 25 10 00 00 00  0f 01 f8  65 48 8b 0c 25 20 00 01 00  48 01 c6  48 01 ce  ff cf  75 d5  65 48 8b 14 25 30 00 01 00'],
  ['SWAPGS around RDMSR IA32_GS_BASE (helper calls see the swap)', 'b9 02 01 00 c0  b8 00 00 01 00  31 d2  0f 30  bf 03 00 00 00  0f 01 f8  b9 01 01 00 c0  0f 32  48 01 c6  0f 01 f8  0f 32  48 01 c3  ff cf  75 e7'],
  ['RDTSCP in a loop after WRMSR IA32_TSC_AUX and IA32_TSC', 'b9 03 01 00 c0  b8 55 00 00 00  31 d2  0f 30  b9 10 00 00 00  b8 78 56 34 12  ba 45 23 01 00  0f 30  bf 04 00 00 00  0f 01 f9  48 c1 e2 20  48 09 d0  48 01 c6  48 01 cb  ff cf  75 ec'],
  ['RDTSC in a loop after WRMSR IA32_TSC', 'b9 10 00 00 00  b8 78 56 34 12  ba 45 23 01 00  0f 30  bf 04 00 00 00  0f 31  48 c1 e2 20  48 09 d0  48 01 c6  ff cf  75 f0'],
  ['rotates and INC/DEC with dead and live flags', '48 01 d8  c1 c9 07  48 ff c1  31 d0  c1 c0 0d  ff c2  48 01 c3  48 c1 ca 11  ff cb  48 c1 c1 03'],
  ['NOT/NEG/TEST imm', '48 f7 d0  f7 d1  48 f7 da  0f 92 c0  f7 db  0f 9c c1  f7 c1 00 00 00 80  0f 95 c2  48 f7 c2 ff 00 00 00  0f 94 c3  48 a9 00 00 00 80  0f 98 c4  a9 01 00 00 00  f7 03 10 00 00 00  48 f7 43 08 ff ff ff ff  0f 9f c1'],
  ['INC/DEC and NOPs', '48 ff c0  0f 92 c1  ff c9  48 ff cb  0f 9e c2  ff c6  90  0f 1f 44 00 00  48 ff ca  0f 97 c3'],
  ['fault in the middle of a block', '48 01 c8  48 83 c2 01  48 8b 03  48 ff c0'],
  ['IMUL forms, dead flags', '48 0f af c3  0f af ca  48 0f af 53 08  48 6b c1 38  69 c1 78 56 34 12  48 6b f7 fb  4c 69 03 ff ff ff 7f  48 01 d8'],
  ['IMUL forms, live flags', '48 0f af c3  0f 92 c1  0f af ca  0f 90 c5  48 69 f7 00 00 00 80  0f 9c c2  6b c1 fe  0f 98 c3  48 0f af 53 08  0f 94 c6  48 f7 d8  48 0f af c0  0f 9a c4'],
  ['ADC/SBB forms', '48 11 d8  11 d1  48 13 53 08  48 11 03  48 83 d0 05  48 19 d1  1d 00 00 00 80  49 83 d9 ff  48 15 ff ff ff 7f  19 43 10  83 5b 14 07  0f 92 c1'],
  ['carry chains', '48 01 d8  48 11 d1  48 83 d6 00  48 19 ff  0f 92 c0  01 d8  11 d1  83 d6 00  19 ff  0f 97 c2  48 29 d8  48 19 d1  0f 92 c3  31 c0  48 11 c0'],
  // A flag producer ends a block and the next reads the flags first: wasm computes them from
  // the lazy record the first block left (translate.ts materializeBody).
  ['flags across blocks: ADD 64, read by PUSHF', 'b9 06 00 00 00  48 01 d8  eb 00  9c  5a  48 31 d6  ff c9  75 f2'],
  ['flags across blocks: ADC 64 of all ones (result = destination)', '48 c7 c3 ff ff ff ff  b9 06 00 00 00  48 0f ba e6 00  48 11 d8  eb 00  9c  5a  48 31 d6  ff c9  75 ed'],
  ['flags across blocks: ADC 64, read by PUSHF', 'b9 06 00 00 00  48 0f ba e6 00  48 11 d8  eb 00  9c  5a  48 31 d6  ff c9  75 ed'],
  ['flags across blocks: SUB 64, read by PUSHF', 'b9 06 00 00 00  48 29 d8  eb 00  9c  5a  48 31 d6  ff c9  75 f2'],
  ['flags across blocks: SBB 32, read by PUSHF', 'b9 06 00 00 00  48 0f ba e6 00  19 d8  eb 00  9c  5a  48 31 d6  ff c9  75 ee'],
  ['flags across blocks: CMP 8, read by PUSHF', 'b9 06 00 00 00  38 d8  eb 00  9c  5a  48 31 d6  ff c9  75 f3'],
  ['flags across blocks: SUB 16, read by PUSHF', 'b9 06 00 00 00  66 29 d8  eb 00  9c  5a  48 31 d6  ff c9  75 f2'],
  ['flags across blocks: AND 64, read by PUSHF', 'b9 06 00 00 00  48 21 d8  eb 00  9c  5a  48 31 d6  ff c9  75 f2'],
  ['flags across blocks: INC 64, read by PUSHF', 'b9 06 00 00 00  48 ff c0  eb 00  9c  5a  48 31 d6  ff c9  75 f2'],
  ['flags across blocks: DEC 16, read by PUSHF', 'b9 06 00 00 00  66 ff c8  eb 00  9c  5a  48 31 d6  ff c9  75 f2'],
  ['flags across blocks: INC 8, read by PUSHF', 'b9 06 00 00 00  fe c4  eb 00  9c  5a  48 31 d6  ff c9  75 f3'],
  ['flags across blocks: ADD 64, read by SETcc', 'b9 06 00 00 00  48 01 d8  eb 00  0f 92 c2  0f 90 c6  0f 9a c7  0f 97 c4  48 31 d6  ff c9  75 e8'],
  ['flags across blocks: ADC 64, read by SETcc', 'b9 06 00 00 00  48 0f ba e6 00  48 11 d8  eb 00  0f 92 c2  0f 90 c6  0f 9a c7  0f 97 c4  48 31 d6  ff c9  75 e3'],
  ['flags across blocks: SUB 64, read by SETcc', 'b9 06 00 00 00  48 29 d8  eb 00  0f 92 c2  0f 90 c6  0f 9a c7  0f 97 c4  48 31 d6  ff c9  75 e8'],
  ['flags across blocks: SBB 32, read by SETcc', 'b9 06 00 00 00  48 0f ba e6 00  19 d8  eb 00  0f 92 c2  0f 90 c6  0f 9a c7  0f 97 c4  48 31 d6  ff c9  75 e4'],
  ['flags across blocks: CMP 8, read by SETcc', 'b9 06 00 00 00  38 d8  eb 00  0f 92 c2  0f 90 c6  0f 9a c7  0f 97 c4  48 31 d6  ff c9  75 e9'],
  ['flags across blocks: INC 64, read by SETcc', 'b9 06 00 00 00  48 ff c0  eb 00  0f 92 c2  0f 90 c6  0f 9a c7  0f 97 c4  48 31 d6  ff c9  75 e8'],
  ['flags across blocks: DEC 16, read by SETcc', 'b9 06 00 00 00  66 ff c8  eb 00  0f 92 c2  0f 90 c6  0f 9a c7  0f 97 c4  48 31 d6  ff c9  75 e8'],
  ['flags across blocks: INC 8, read by SETcc', 'b9 06 00 00 00  fe c4  eb 00  0f 92 c2  0f 90 c6  0f 9a c7  0f 97 c4  48 31 d6  ff c9  75 e9'],
  ['BSWAP', '0f c8  48 0f c9  41 0f cb  48 0f ca'],
  ['shifts and rotates by CL', '48 d3 e0  0f 92 c1  d3 e8  0f 90 c2  48 d3 f8  d3 c0  0f 92 c3  48 d3 c8  d3 e2  0f 98 c4  48 d3 e3  0f 94 c5'],
  ['BT/BTS/BTR/BTC', '48 0f ba e0 05  0f 92 c1  0f ba e8 1f  48 0f ba f3 3f  0f ba 3b 07  0f 92 c2  48 0f a3 c8  0f ab d0  48 0f b3 d8  0f bb c1  0f 92 c3'],
  ['CLC/STC/CMC, prefetch hints', 'f9  0f 92 c0  f8  48 11 d8  f5  0f 92 c1  48 01 d8  f5  0f 93 c2  0f 18 0b  0f 0d 0b  0f 1f 00'],
  ['indirect CALL/JMP', '48 8d 05 04 00 00 00  ff d0  eb 05  48 83 c1 01  c3'],
  ['indirect CALL through memory (random target: faults)', '48 01 d8  ff 13  48 01 c8'],
  ['MUL/IMUL r/m32', 'f7 e3  0f 92 c1  f7 eb  0f 90 c2  f7 63 08  0f 98 c3  f7 6b 0c  0f 94 c4'],
  // A block that loops to itself (wasm iterates inside the function) and walks off RAM: the load
  // misses at the start of a later iteration, before its flag producer.
  ['self-loop walking off RAM', 'b9 c8 00 00 00  48 8b 03  48 81 c3 00 10 00 00  ff c9  75 f2'],
  ['self-loop with a store and ADC', 'b9 40 00 00 00  48 8b 03  48 11 43 08  48 89 43 10  ff c9  75 f1'],
  ['MUL/IMUL r/m64', '48 f7 e3  0f 92 c1  48 f7 eb  0f 90 c2  48 f7 63 08  0f 98 c3  48 f7 6b 10  0f 94 c4  48 f7 e0  48 01 d0'],
  // DIV/IDIV with dividends wasm divides (RDX zero or RAX's sign) and ones it leaves to the
  // interpreter (random RDX: a 128-bit dividend, or #DE), from registers and memory
  ['DIV/IDIV r/m64', '48 01 d8  31 d2  48 f7 f3  49 89 c0  49 89 d1  48 89 c8  48 99  48 f7 fe  49 89 c2  49 89 d3  48 89 f8  31 d2  48 f7 73 08  49 89 c4  48 99  48 f7 7b 10  48 f7 f1'],
  ['DIV/IDIV r/m32', '31 d2  f7 f1  41 89 c0  41 89 d1  89 f0  99  f7 ff  41 89 c2  41 89 d3  31 d2  f7 73 08  41 89 c4  99  f7 7b 0c  f7 f3'],
  ['IDIV -2^63 / -1 (#DE)', '48 b8 00 00 00 00 00 00 00 80  48 99  48 c7 c1 ff ff ff ff  48 f7 f9'],
  ['IDIV r/m32 -2^63 / -1 (#DE)', '31 c0  ba 00 00 00 80  b9 ff ff ff ff  f7 f9'],
  ['DIV r/m32 quotient overflow (#DE)', 'ba 01 00 00 00  b9 01 00 00 00  f7 f1'],
  ['DIV by zero (#DE)', '31 c9  31 d2  48 f7 f1'],
  // Instructions wasm hands to the interpreter (helper calls) between ones it runs: they read and
  // write registers, flags and memory; branch (LOOP); fault (REP STOSQ to a random RDI); end the
  // chain (STI)
  // LOCK CMPXCHG to memory in wasm: succeeding compares (RAX stored first; a 32-bit one leaves
  // RAX's upper half) and failing ones (random data), 32- and 64-bit; the register form stays a helper
  ['LOCK CMPXCHG m32/m64', '89 43 14  f0 0f b1 73 14  48 89 c7  0f 92 c5  f0 48 0f b1 0b  0f 94 c1  48 89 43 08  f0 48 0f b1 53 08  0f 94 c2  f0 0f b1 4b 10  0f b1 d1'],
  ['helpers: CMPXCHG, LOCK XADD, PUSHF/POPF', '48 01 d8  48 0f b1 0b  48 11 c2  f0 48 0f c1 4b 08  9c  48 83 c0 01  9d  48 01 c8  0f 92 c1  48 0f b1 53 10  0f 94 c2'],
  ['helpers: LOOP and REP STOSQ', 'b9 03 00 00 00  48 01 d8  e2 fb  48 8d 7b 20  b9 04 00 00 00  f3 48 ab  48 01 c8'],
  ['helper faults: REP STOSQ to a random address', '48 01 c8  b9 02 00 00 00  f3 48 ab  48 01 d8'],
  ['helpers: CLI, STI', '48 01 d8  fa  48 01 c8  fb  48 83 c2 01'],
  // LOCK on read-modify-write forms to memory (ADD, ADD imm, INC, XADD, NEG, AND, OR imm8 to a
  // byte), then PUSH r/m64 and LEAVE (RSP from RBP, RBP popped)
  ['LOCK ALU/INC/XADD/NEG to memory, PUSH r/m64, LEAVE', 'f0 48 01 03  f0 83 43 08 05  f0 48 ff 43 10  0f 92 c1  f0 48 0f c1 4b 08  f0 48 f7 5b 18  0f 9c c2  f0 48 21 53 08  f0 80 4b 03 81  ff 73 08  5e  55  48 89 e5  ff 33  ff 74 24 08  c9  48 01 f0'],
  // RFLAGS beyond the six arithmetic flags: DF (STD/CLD), IF (CLI/STI) read back by PUSHF 64
  // and 16 (wasm runs CLI, STI and PUSHF 64 on the slab's copy of them, the interpreter the rest)
  ['DF and IF read back by PUSHF', 'fd  fb  9c  5a  fa  9c  5e  fc  66 9c  66 58  fb  9c  5f  48 01 d8  9c  59'],
  // MOV r64, CR2 into RCX and R10 (CR2 holds a random kernel address: run() above)
  ['MOV r64, CR2 (CPL 0)', '48 01 d8  0f 20 d1  48 01 c8  41 0f 20 d2  4c 01 d3'],
  // STD then REP MOVSB (backwards: the interpreter's), CLD then REP MOVSB forwards, in one block
  ['STD and CLD around REP MOVSB', 'fd  48 8d 73 18  48 8d 7b 28  b9 04 00 00 00  f3 a4  fc  48 8d 73 08  b9 05 00 00 00  f3 a4  48 01 d8'],
  // XADD register and memory forms (a byte one with AH, one with itself), fences
  ['XADD forms, fences', '48 0f c1 c8  0f 92 c1  0f c1 03  0f 94 c2  0f c0 e3  0f 98 c6  48 0f c1 c0  0f ae e8  0f ae f0  0f ae f8  f0 48 0f c1 53 08  0f 9c c7'],
  // LOCK where the SDM makes it #UD: a register destination, CMP
  ['LOCK ADD to a register (#UD)', '48 01 d8  f0 48 01 d8  48 01 c8'],
  ['LOCK CMP to memory (#UD)', '48 01 d8  f0 48 39 03  48 01 c8'],
];

// Loops over several blocks, which the JIT compiles into one region (block-compiler.ts).
export const REGION_CASES: [string, string][] = [
  // if/else inside a loop, with handler calls (TEST AL, imm8; MOVSX) in members
  ['if/else loop', 'b9 32 00 00 00  48 01 d8  a8 01  74 05  48 31 c2  eb 03  48 29 c2  48 0f be c0  ff c9  75 e9'],
  // loads, stores and a call inside the loop
  ['loop with memory and a call', 'b9 28 00 00 00  48 8b 03  e8 0a 00 00 00  48 89 43 08  ff c9  75 f0  eb 08  48 01 d0  48 c1 c0 07  c3'],
  // a handler (MOVSX from memory) faults in a member once RBX walks off RAM
  ['fault in a member', 'b9 c8 00 00 00  48 01 c2  48 85 d2  74 03  48 31 c0  48 0f be 03  48 81 c3 00 10 00 00  ff c9  75 e6'],
  // a Jcc's fall-through block (which wasm appends to the Jcc's block) stores into its own immediate
  ['store into a fall-through block', 'b9 0a 00 00 00  85 c9  74 0f  05 00 00 00 00  89 0d f6 ff ff ff  ff c9  eb ed'],
  // a fall-through block whose load walks off RAM
  ['fault in a fall-through block', 'b9 c8 00 00 00  85 c9  74 11  48 8b 03  48 81 c3 00 10 00 00  48 01 c2  ff c9  eb eb'],
  // a member stores into another member's immediate (self-modifying code)
  ['store into another member', 'b9 0a 00 00 00  05 00 00 00 00  eb 00  89 0d f4 ff ff ff  ff c9  75 ef'],
  // a Jcc's taken block (which wasm appends too) stores into its own immediate, loads off RAM,
  // runs a handler (PUSHF)
  ['store into a taken block', 'b9 0a 00 00 00  f7 c1 01 00 00 00  75 06  ff c9  75 f4  eb 10  81 c3 00 00 00 00  89 0d f6 ff ff ff  ff c9  75 e2'],
  ['fault in a taken block', 'b9 c8 00 00 00  f7 c1 01 00 00 00  75 06  ff c9  75 f4  eb 0e  48 8b 03  48 81 c3 00 10 00 00  ff c9  75 e4'],
  // A loop of two blocks: the first's Jcc branches to the second, which branches back (wasm
  // appends the taken block and iterates both inside one function)
  ['loop of a block and its taken block', 'b9 40 00 00 00  48 01 d8  84 c0  79 05  48 31 d2  eb 00  48 83 c2 03  ff c9  75 ec'],
  ['loop of two blocks walking off RAM', 'b9 c8 00 00 00  48 8b 13  48 81 c3 00 10 00 00  84 d2  79 05  48 31 c0  eb 00  48 01 d0  ff c9  75 e6'],
  // Loops of three blocks: through two fall-throughs and a taken branch back; through a taken
  // branch, a fall-through and a JMP back
  ['loop of three blocks by fall-throughs', 'b9 40 00 00 00  48 01 d8  a8 01  74 10  48 83 c2 05  ff c9  74 0e  48 31 d6  48 85 f6  75 e9  48 83 c2 07  eb ea'],
  ['loop of three blocks closed by a JMP', 'b9 40 00 00 00  48 01 d8  a8 01  75 06  48 83 c6 01  eb 00  48 83 c2 05  ff c9  74 05  48 31 d0  eb e6'],
  ['loop of two blocks with a handler', 'b9 40 00 00 00  48 01 d8  84 c0  79 05  48 31 d2  eb 00  9c  5e  48 01 f2  ff c9  75 eb'],
  ['handler in a taken block', 'b9 0a 00 00 00  f7 c1 01 00 00 00  75 06  ff c9  75 f4  eb 09  9c  5a  48 01 d0  ff c9  75 e9'],
];


/** Flag producers of every kind (each followed by Jcc of all 16 codes in the tests). */
export const FLAG_PRODUCERS = ['48 f7 d9', 'f7 db', 'f7 c1 00 00 00 80', '48 a9 00 00 00 80', 'ff c1', '48 ff c9 c1 c0 03', '48 01 d8 48 c1 c8 05', '80 f9 7f', '3c 80', '84 e3', '48 c1 e0 05', 'c1 e9 03', '48 ff c8', '48 39 d8', '39 d8', '48 85 c0', '85 d8', '48 21 f8', '48 01 d8', '01 d8', '48 29 d1', '48 83 f8 05', '3d 00 00 00 80', '48 ff c0',
  '48 11 d8', '11 d8', '48 19 d1', '19 d1', '48 01 d8 48 11 d1', '48 29 d8 48 19 d1', '01 d8 11 d1', '48 0f af c3', '6b c1 38'];
