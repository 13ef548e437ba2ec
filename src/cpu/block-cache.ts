// Decoded basic blocks, keyed by the physical address of their first byte and the code size
// (16/32/64-bit decoding differs). A block is a run of pre-decoded instructions ending at a
// branch or system instruction, at MAX_BLOCK_INSNS, or at a page boundary, so every block
// lives in one physical page (an instruction that straddles into the next page ends its block
// and registers the block on both pages). Writes to a page holding blocks drop them (the MMU
// flags such pages in `codePages` and calls `invalidatePage`).
//
// A block also remembers the linear RIP it was decoded at: Insn.rip is linear, so a page mapped
// at two linear addresses gets one block per address (the lookup checks rip and re-decodes).

import { untypeNumberFields, type DecodedInsn } from './decoder.js';
import type { CompiledBlock } from './jit/block-compiler.js';

export const MAX_BLOCK_INSNS = 64;
export const PAGE_SHIFT = 12;

/**
 * Slots of the direct-mapped lookup in front of the Map (a power of two). Link misses in the run
 * loop (returns, indirect jumps, the first pass after a code-generation bump) land here; a Map
 * lookup with keys beyond 2^31 (heap-number keys) is several times slower than an array index.
 * A boot keeps ~63 K blocks: with 8,192 slots 418 K of its 1.4 M lookups went on to the Map,
 * with 65,536 (512 KiB of slots) 96 K.
 */
const DIRECT_SLOTS = 65536;
const DIRECT_MASK = DIRECT_SLOTS - 1;

export class Block {
  // Field order is memory order: the run loop's link check and runBlock's entry read the first
  // two cache lines' worth (rip, valid, insns, execCount, wasmIndex, links, compiled, wasmMax);
  // a block run a few dozen times between others is mostly a cache miss per line it touches.
  readonly rip: number;
  readonly insns: DecodedInsn[];
  /** Cleared when the page was written: the run loop stops replaying it. */
  valid = true;
  /** Times executed (for a future JIT's hotness threshold). */
  execCount = 0;
  /** The WebAssembly tier's table index of this block's function (> 0), or a WasmState. */
  wasmIndex = 0;
  /**
   * Direct links to the last two successor blocks, valid while the CPU's code generation
   * (bumped on TLB flushes, INVLPG and mode changes) equals `linkGen`: following a link skips
   * the translation and the hash lookup.
   */
  succ1: Block | null = null;
  succ2: Block | null = null;
  linkGen = -1;
  /** The block as one generated function (jit/block-compiler.ts), once it ran often enough. */
  compiled: CompiledBlock | null = null;
  /** Most instructions one call of it runs (more than the block's with a fall-through block appended). */
  wasmMax = 0;
  /** The wasm function reads the incoming flags (SlabOffset.FLAGS). */
  wasmFlagsIn = false;
  /**
   * The CPU's globalCodeGen when the links were made, and whether each successor was reached
   * through a global translation: such links survive a CR3 write (Cpu.globalCodeGen).
   */
  linkGlobalGen = -1;
  succ1Global = false;
  succ2Global = false;
  readonly key: number;
  /** The block JIT declined it, or gave it back: the WebAssembly tier runs it (cpu.ts). */
  jitDeclined = false;
  /** Calls of its compiled function and instructions they ran, while on trial (cpu.ts jitTrialOver). */
  jitCalls = 0;
  jitInsns = 0;
  /** Times the compiled function was handed back to TurboFan after a deoptimization. */
  reoptimizations = 0;
  /** Instructions the wasm function covers (a leading part of the block). */
  wasmCount = 0;
  /** Its translation includes code that changed since (the appended block was dropped). */
  wasmStale = false;
  /** The wasm function loops over the block itself (it branches to its own start). */
  wasmSelfLoop = false;
  /** A trace stopped before it as a loop head, and its own function was made anew once (tier.ts queue). */
  wasmLoopHead = false;
  /** A new translation of it is queued while its function runs on (tier.ts replace). */
  wasmPending = false;
  /** Chain entries of its earlier wasm functions (tier.ts blockWeight). */
  wasmEntries = 0;
  constructor(key: number, rip: number, insns: DecodedInsn[]) {
    this.key = key;
    this.rip = rip;
    this.insns = insns;
  }
}

// The run loop compares a linked block's rip before following the link (decoder.ts).
untypeNumberFields(new Block(0, 0, []), ['rip', 'key']);

export class BlockCache {
  private readonly blocks = new Map<number, Block>();
  private readonly byPage = new Map<number, Block[]>();
  /**
   * Direct-mapped cache of the Map: a slot holds the last block found or added for keys hashing
   * to it. A hit must match key and rip and still be valid (a valid block is always the Map's
   * entry for its key: add() and invalidatePage() clear `valid` when they drop one).
   */
  private readonly direct: (Block | null)[] = new Array<Block | null>(DIRECT_SLOTS).fill(null);
  /** Count of blocks dropped by self-modifying code (for tests and metrics). */
  invalidations = 0;
  /** Called for each block that stops being valid (the WebAssembly tier retires its code). */
  onDrop: ((b: Block) => void) | null = null;
  /**
   * Called when physical page `pn` starts (true) or stops (false) holding decoded code, -1 when
   * every page stops: each vCPU's MMU marks its wasm TLB entries for the page (Mmu.codePageChanged).
   */
  private readonly codePageListeners = new Set<(pn: number, code: boolean) => void>();

  /** Adds a listener of code page changes; returns its removal. */
  listenCodePages(f: (pn: number, code: boolean) => void): () => void {
    this.codePageListeners.add(f);
    return () => { this.codePageListeners.delete(f); };
  }

  private codePageChanged(pn: number, code: boolean): void {
    for (const f of this.codePageListeners) f(pn, code);
  }

  static key(pa: number, codeBits: number): number {
    return pa * 4 + (codeBits === 64 ? 2 : codeBits === 32 ? 1 : 0);
  }

  /** Slot of `key` in the direct-mapped cache (key = pa * 4 + mode, may exceed 2^32). */
  private static slot(key: number): number {
    const lo = key >>> 2; // pa mod 2^30 (enough to spread the slots)
    return (lo ^ (lo >>> 13)) & DIRECT_MASK;
  }

  get(key: number, rip: number): Block | undefined {
    const slot = BlockCache.slot(key);
    const d = this.direct[slot]!;
    if (d !== null && d.key === key && d.rip === rip && d.valid) return d;
    const b = this.blocks.get(key);
    if (b === undefined || b.rip !== rip) return undefined;
    this.direct[slot] = b;
    return b;
  }

  /** Stores a block; `pages` are the physical page numbers its bytes come from. */
  add(block: Block, pages: readonly number[], codePages: Uint8Array): void {
    const old = this.blocks.get(block.key);
    if (old !== undefined) { old.valid = false; this.onDrop?.(old); }
    this.blocks.set(block.key, block);
    this.direct[BlockCache.slot(block.key)] = block;
    for (const pn of pages) {
      let list = this.byPage.get(pn);
      if (list === undefined) { list = []; this.byPage.set(pn, list); }
      list.push(block);
      if (pn < codePages.length && codePages[pn] === 0) { codePages[pn] = 1; this.codePageChanged(pn, true); }
    }
  }

  /** Drops the blocks decoded from physical page `pn` (page number = pa >>> 12). */
  invalidatePage(pn: number, codePages: Uint8Array): void {
    if (pn < codePages.length && codePages[pn] !== 0) { codePages[pn] = 0; this.codePageChanged(pn, false); }
    const list = this.byPage.get(pn);
    if (list === undefined) return;
    this.byPage.delete(pn);
    for (const b of list) {
      if (!b.valid) continue;
      b.valid = false;
      this.onDrop?.(b);
      this.invalidations++;
      if (this.blocks.get(b.key) === b) this.blocks.delete(b.key);
    }
  }

  clear(codePages: Uint8Array): void {
    for (const b of this.blocks.values()) { b.valid = false; this.onDrop?.(b); }
    this.blocks.clear();
    this.byPage.clear();
    this.direct.fill(null);
    codePages.fill(0);
    this.codePageChanged(-1, false);
  }

  get size(): number {
    return this.blocks.size;
  }
}
