// The WebAssembly tier of the soft CPU, between the interpreter and the block JIT: a block that
// ran WASM_THRESHOLD times is translated (translate.ts) and queued; queued blocks are compiled
// WASM_BATCH at a time into one module whose functions go into a shared table, and the run loop
// calls them through one exported trampoline, `run(index, slab, tlbHalf)`.
//
// Why: warm code (blocks that run hundreds to thousands of times, most of a boot's interpreted
// instructions) pays the interpreter's per-instruction dispatch and, with many distinct blocks,
// the cache and TLB misses of reaching decoded-instruction objects. Compiled wasm is compact
// machine code made about 500x cheaper than a TurboFan region (bench/jit/wasm-blocks.mjs).
//
// One tier per machine (its RAM range and code-page map are baked into the code); its vCPUs
// share it like they share the block cache.

import type { Block } from '../block-cache.js';
import type { Cpu } from '../cpu.js';
import { ARENA_PAGES, type CpuSlab, type WasmArena, wasmArena } from './arena.js';
import { buildModule, Bytes, I32, Op } from './encoder.js';
import { translateBlock } from './translate.js';

const env = typeof process !== 'undefined' ? process.env : {};

function parseCount(s: string | undefined, fallback: number): number {
  if (s === undefined || s === '') return fallback;
  const n = Number(s);
  return Number.isInteger(n) && n >= 0 ? n : fallback;
}

/** Executions of a block before it is translated (TSHV_WASM=0 turns the tier off). */
export let wasmThreshold: number = env['TSHV_WASM'] === '0' ? -1 : parseCount(env['TSHV_WASM_THRESHOLD'], 64);
/** Translated blocks compiled together (one module each). */
export let wasmBatch: number = Math.max(1, parseCount(env['TSHV_WASM_BATCH'], 64));

/** For tests: threshold (-1: off) and batch size. */
export function setWasmTier(threshold: number, batch: number): void {
  wasmThreshold = threshold;
  wasmBatch = Math.max(1, batch);
}

/** Block.wasmIndex values other than table indices (which are > 0). */
export const enum WasmState { NotYet = 0, None = -1, Queued = -2 }

/** Table slots before the tier drops all its code and starts over (code of dead blocks is never freed one by one). */
const TABLE_LIMIT = 1 << 18;

export const wasmStats = { translated: 0, modules: 0, untranslatable: 0, flushes: 0, compileMs: 0, translateMs: 0, wasmBytes: 0, moduleMs: 0, buildMs: 0, instMs: 0 };

export class WasmTier {
  readonly arena: WasmArena;
  /** RAM as the arena holds it (for unit tests, also the machine's RAM array). */
  readonly ram: Uint8Array;
  readonly codePages: Uint8Array;
  private readonly ramBase: number;
  private readonly codePagesBase: number;
  private readonly releaseRam: () => void;
  private table!: WebAssembly.Table;
  private tableUsed = 1;
  /** run(index, slab, tlbHalf) -> (instructions done << 1) | flags written */
  run!: (index: number, slab: number, tlbHalf: number) => number;
  private queued: Block[] = [];
  private queuedBodies: Uint8Array[] = [];
  private live: Block[] = [];

  private constructor(arena: WasmArena, ramBytes: number, codePageCount: number, memfd: number) {
    this.arena = arena;
    const r = arena.allocRam(this, ramBytes, memfd);
    if (r === null) throw new Error('no arena range for RAM');
    this.ramBase = r.offset;
    this.releaseRam = r.release;
    this.ram = arena.bytes(r.offset, ramBytes);
    this.codePagesBase = arena.allocState(this, codePageCount);
    if (this.codePagesBase < 0) { r.release(); throw new Error('no arena range for the code-page map'); }
    this.codePages = arena.bytes(this.codePagesBase, codePageCount);
    this.newTable();
  }

  /**
   * A tier whose RAM is `memfd` (ramBytes long) mapped into the arena, or fresh zeroed RAM when
   * memfd is -1 (unit tests: use `ram` as the machine's RAM). Null when the tier is off or the
   * arena cannot hold it (the CPU then runs without it).
   */
  static create(ramBytes: number, codePageCount: number, memfd = -1): WasmTier | null {
    if (wasmThreshold < 0) return null;
    const arena = wasmArena();
    if (arena === null || ramBytes > ARENA_PAGES * 65536) return null;
    try {
      return new WasmTier(arena, ramBytes, codePageCount, memfd);
    } catch {
      return null;
    }
  }

  /** Gives the RAM range back now (the machine is disposed); the tier must not run again. */
  dispose(): void {
    this.releaseRam();
    this.run = () => { throw new Error('wasm tier disposed'); };
  }

  allocSlab(owner: object): CpuSlab | null {
    return this.arena.allocSlab(owner);
  }

  private newTable(): void {
    this.table = new WebAssembly.Table({ initial: 1024, element: 'anyfunc' });
    this.tableUsed = 1;
    // The trampoline: call_indirect (type (i32 i32) -> i32) table[index](slab, tlbHalf).
    const body = new Bytes();
    body.u32(0);
    body.op(Op.local_get, 1, Op.local_get, 2, Op.local_get, 0, Op.call_indirect, 0, 0, Op.end);
    const bytes = buildModule({
      types: [{ params: [I32, I32], results: [I32] }, { params: [I32, I32, I32], results: [I32] }],
      funcTypes: [1], memPages: ARENA_PAGES, tableMin: 1, tableBase: -1, bodies: [body.view()], exports: [['run', 0]],
    });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { m: { mem: this.arena.memory, t: this.table } });
    this.run = inst.exports['run'] as (index: number, slab: number, tlbHalf: number) => number;
  }

  /** Translates `block` (hot enough) and compiles the queue when it is full. */
  enqueue(block: Block, cpu: Cpu): void {
    const t0 = performance.now();
    const t = translateBlock(cpu, block.insns, this.ramBase, this.codePagesBase);
    wasmStats.translateMs += performance.now() - t0;
    if (t === null) { block.wasmIndex = WasmState.None; wasmStats.untranslatable++; return; }
    block.wasmIndex = WasmState.Queued;
    block.wasmCount = t.count;
    block.wasmFlagsIn = t.needsFlagsIn;
    block.wasmSegBases = t.needsSegBases;
    this.queued.push(block);
    this.queuedBodies.push(t.body);
    wasmStats.translated++;
    if (this.queued.length >= wasmBatch) this.compileQueued();
  }

  /** Compiles the queued blocks into one module and gives each its table index. */
  compileQueued(): void {
    const blocks = this.queued;
    const bodies = this.queuedBodies;
    if (blocks.length === 0) return;
    this.queued = [];
    this.queuedBodies = [];
    const t0 = performance.now();
    if (this.tableUsed + blocks.length > TABLE_LIMIT) {
      // Start over: blocks that still run get translated again.
      for (const b of this.live) b.wasmIndex = WasmState.NotYet;
      this.live = [];
      this.newTable();
      wasmStats.flushes++;
    }
    const base = this.tableUsed;
    const need = base + blocks.length;
    if (need > this.table.length) this.table.grow(Math.max(need - this.table.length, this.table.length));
    const tb = performance.now();
    // The functions are exported and set into the table from here: a module that imported the
    // table would be registered with it, and V8 (11.x) updates every registered instance's copy of
    // the table on each change (quadratic in the modules of a boot).
    const bytes = buildModule({
      types: [{ params: [I32, I32], results: [I32] }], funcTypes: bodies.map(() => 0),
      memPages: ARENA_PAGES, tableMin: -1, tableBase: -1, bodies, exports: bodies.map((_, k) => [String(k), k]),
    });
    wasmStats.wasmBytes += bytes.length;
    wasmStats.buildMs += performance.now() - tb;
    const t1 = performance.now();
    const module = new WebAssembly.Module(bytes);
    wasmStats.moduleMs += performance.now() - t1;
    const ti = performance.now();
    const inst = new WebAssembly.Instance(module, { m: { mem: this.arena.memory } });
    const exports = inst.exports;
    for (let k = 0; k < blocks.length; k++) this.table.set(base + k, exports[String(k)]);
    wasmStats.instMs += performance.now() - ti;
    this.tableUsed = need;
    for (let k = 0; k < blocks.length; k++) {
      const b = blocks[k]!;
      b.wasmIndex = base + k;
      this.live.push(b);
    }
    wasmStats.modules++;
    wasmStats.compileMs += performance.now() - t0;
  }
}
