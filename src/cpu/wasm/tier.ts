// The WebAssembly tier of the soft CPU, between the interpreter and the block JIT: a block that
// ran WASM_THRESHOLD times is translated (translate.ts) and queued; queued blocks are compiled
// WASM_BATCH at a time into one module whose functions go into a shared table, and the run loop
// enters them through one exported dispatcher, which chains from block to block inside wasm
// (below) and returns to JS only when the next block is not known to it.
//
// Why: warm code (blocks that run hundreds to thousands of times, most of a boot's interpreted
// instructions) pays the interpreter's per-instruction dispatch and, with many distinct blocks,
// the cache and TLB misses of reaching decoded-instruction objects. Compiled wasm is compact
// machine code made about 500x cheaper than a TurboFan region (bench/jit/wasm-blocks.mjs).
//
// One tier per machine (its RAM range and code-page map are baked into the code); its vCPUs
// share it like they share the block cache.

import { setFlagsFromString } from 'node:v8';
import type { Block } from '../block-cache.js';
import type { DecodedInsn } from '../decoder.js';
import type { Cpu } from '../cpu.js';
import { ARENA_PAGES, JUMP_BITS, SlabOffset, type CpuSlab, type WasmArena, wasmArena } from './arena.js';
import { buildModule, Bytes, F64, I32, Op, VOID } from './encoder.js';
import { materializeBody, translateBlock, type SideExit, type Translation } from './translate.js';

const env = typeof process !== 'undefined' ? process.env : {};

// Branch hints (branchHints below) are read by V8 (11.x, Node 20) only with this flag; set before
// the first module is compiled. Without it the section is ignored: the code stays correct.
if (env['TSHV_BH'] !== '0') {
  try { setFlagsFromString('--experimental-wasm-branch-hinting'); } catch { /* another engine: no hints */ }
}

function parseCount(s: string | undefined, fallback: number): number {
  if (s === undefined || s === '') return fallback;
  const n = Number(s);
  return Number.isInteger(n) && n >= 0 ? n : fallback;
}

/**
 * V8's budget for moving a wasm function from Liftoff to TurboFan (--wasm-tiering-budget, "a rough
 * approximation of bytes executed"; V8 11's default 1,800,000): a function of ~1 KB tiers up after
 * ~1,800 calls. Much guest kernel code runs a few times per I/O request (a sequential read enters
 * ~1,100 functions per request, most once or twice), so at the default it stayed in Liftoff for
 * several passes of bench/blk after the cold one. TSHV_WASM_TIERING_BUDGET sets another (0: V8's).
 */
const tieringBudget = parseCount(env['TSHV_WASM_TIERING_BUDGET'], 300_000);
if (tieringBudget > 0) {
  try { setFlagsFromString(`--wasm-tiering-budget=${tieringBudget}`); } catch { /* another engine */ }
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

/**
 * The jump cache's hash of a RIP's low 32 bits (Fibonacci hashing: the top JUMP_BITS bits of
 * w * 2^32/phi): code is dense, and folding address bits with shifts and XOR left blocks 32 KiB
 * apart in one slot.
 */
const JUMP_HASH = 0x9e3779b1 | 0;

/** The jump cache slot of a RIP (as the dispatcher computes it). */
function jumpSlot(rip: number): number {
  return Math.imul(rip >>> 0, JUMP_HASH) >>> (32 - JUMP_BITS);
}

/**
 * Modules before the tier drops all its code and starts over: each module's code space takes
 * several memory mappings, and a process has at most vm.max_map_count (65,530) of them; V8 aborts
 * the process when it cannot map code ("Commit wasm code space ... out of memory", seen with
 * one-block modules). A boot makes ~470 modules.
 */
let moduleLimit = 1024;

/** Tests: start over after `modules` modules (default 1,024). */
export function setWasmModuleLimit(modules: number): void {
  moduleLimit = modules;
}

/**
 * Interpreted runs of queued blocks before the queue is compiled anyway (TSHV_WASM_PATIENCE). At
 * 2,048 a boot interpreted 3.3 M instructions of blocks already translated; 512 halves that for
 * 35 % more modules (pinned A/B: 6 of 6 boots faster, by 0.1-0.5 s); 128 was slower.
 */
const QUEUE_PATIENCE = parseCount(env['TSHV_WASM_PATIENCE'], 512);

/** Table slots before the tier drops all its code and starts over (code of dead blocks is never freed one by one). */
const TABLE_LIMIT = 1 << 18;

/**
 * Run-loop entries into wasm (takeHits) between looks at the clock, and the host milliseconds
 * between reviews of the functions' side exits (a review reads the records of 1/REVIEW_SLICES of
 * the ~20,000 functions with side exits after a boot). At a fixed 4,096 entries, reviews ran ~60
 * times a second in sequential reads.
 */
let reviewEvery = 4096;
let reviewMs = 50;

/** Tests: review every `entries` run-loop entries into wasm, at least `ms` apart. */
export function setWasmReview(entries: number, ms: number): void {
  reviewEvery = entries;
  reviewMs = ms;
}

/**
 * Reviews per round over the functions with side exits: each review reads the records of
 * 1/REVIEW_SLICES of them (a function is looked at every REVIEW_SLICES * reviewMs, its counts
 * kept since its last look). Reading all ~20,000 scattered records at once missed the caches and
 * evicted ~1 MiB of them: 1.1-1.4 % of a sequential read's main thread, every 50 ms.
 */
const REVIEW_SLICES = 8;

/** Runs of a function to its end before its exits are looked at (again). */
const REVIEW_MIN = 4096;
/** Translations anew of one block because of its exits: a Jcc that goes each way half the time would flip for ever. */
const REVIEW_MAX = 8;

/** A function's counted exits (WasmTier.review) and its record's counts when last looked at. */
interface Review {
  exits: SideExit[];
  entries: number;
  insns: number;
}

/**
 * Per table index, a record of REC_BYTES (one cache line) that the dispatcher reads and writes:
 * the block's info word (Info), the times chains entered it through a back edge (for the block
 * JIT), the times its function ran to its end (ENTRIES: the weight of the block when a later
 * translation chooses a branch's way, WasmTier.blockWeight), the instructions those runs did
 * (INSNS, wrapping: a self-loop's iterations, for WasmTier.review), and two links: the RIPs the block's
 * function last ended at, with the table index and code generation the jump cache gave for each,
 * and the times chains went on through each (A_COUNT, B_COUNT: since WasmTier.review last read
 * them, or since the link was made).
 * A chain follows a link without the jump cache lookup, whose 1 MiB of entries miss the CPU
 * caches: the record the dispatcher reads to check the block is the one that holds its links.
 */
const REC_BYTES = 64;
const REC_SHIFT = 6;
const enum Rec { INFO = 0, HITS = 4, A_RIP = 8, A_INDEX = 16, A_GEN = 20, B_RIP = 24, B_INDEX = 32, B_GEN = 36, ENTRIES = 40, INSNS = 44, A_COUNT = 48, B_COUNT = 52 }

/**
 * The info word: the most instructions one call runs (bits 0-7), whether the function reads the
 * incoming flags (SlabOffset.CC_OP), and whether the block may still be entered (VALID: cleared
 * when the block is dropped or handed to the block JIT).
 */
const enum Info { COUNT = 0xff /* most instructions per call */, FLAGS_IN = 0x200, VALID = 0x400 }

function infoOf(b: Block): number {
  return b.wasmMax | (b.wasmFlagsIn ? Info.FLAGS_IN : 0) | Info.VALID;
}

/**
 * The payload of a module's branch hints section (the branch hinting proposal's
 * metadata.code.branch_hint, read by V8 with --experimental-wasm-branch-hinting): every branch
 * that leaves a block's function (Translation.exitBranches) is unlikely. TurboFan then lays the
 * exits' code (their register moves and the jump to the epilogue) after the function's hot path,
 * which otherwise jumps over each one.
 */
function branchHints(shapes: readonly { exitBranches: number[] }[]): Bytes {
  const b = new Bytes();
  let n = 0;
  for (const s of shapes) if (s.exitBranches.length > 0) n++;
  b.u32(n);
  for (let k = 0; k < shapes.length; k++) {
    const offsets = shapes[k]!.exitBranches;
    if (offsets.length === 0) continue;
    b.u32(k + 2); // function index: after the helper import and the flags materializer
    b.u32(offsets.length);
    for (const o of offsets) { b.u32(o); b.u32(1); b.u8(0); } // offset, hint size, 0: unlikely
  }
  return b;
}

/**
 * The dispatcher: run(index, slab, tlbHalf, budget, flagsKnown, generation) -> (instructions << 1)
 * | flags written. It calls table[index](slab, tlbHalf); when that block ran to its end, it finds
 * the block of the new RIP through the block's links or the vCPU's jump cache (filled by the run
 * loop, and by the module's import `m.h`, Cpu.wasmLookup, for a RIP whose entry is of an older
 * generation) and goes on while the entry is for the current code generation and TLB half, its block
 * still VALID, its instructions within the budget and, if it reads incoming flags, those are known
 * (given, as the run loop now always does (Cpu.putWasmFlags), or written by a block of the chain).
 * What the run loop checks between blocks (interrupts, TF, the interrupt shadow, the mode) a chain
 * changes only through helper calls, which stop it when that matters (Cpu.wasmHelper); CLI, STI
 * and PUSHF run in wasm on the slab's copy of RFLAGS (SlabOffset.REST).
 */
function dispatcherBody(recBase: number): Uint8Array {
  const b = new Bytes();
  // params
  const INDEX = 0, SLAB = 1, HALF = 2, BUDGET = 3, FLAGS_KNOWN = 4, GEN = 5, JIT_AT = 6, GLOBAL_GEN = 7, CUR_RIP = 8;
  // locals: i32, f64, i32
  const TOTAL = 9, R = 10, DONE = 11, E = 12, INFO = 13, ANY_FLAGS = 14, T = 15, RIP = 16, REC = 17, SL = 18;
  b.u32(3); b.u32(7); b.u8(I32); b.u32(1); b.u8(F64); b.u32(2); b.u8(I32);
  const get = (l: number): void => { b.u8(Op.local_get); b.u32(l); };
  const set = (l: number): void => { b.u8(Op.local_set); b.u32(l); };
  const i32c = (v: number): void => { b.u8(Op.i32_const); b.s32(v); };
  const mem = (op: number, off: number): void => { b.u8(op); b.u8(0); b.u32(off); };
  const genOk = (): void => { get(T); get(GEN); b.u8(Op.i32_eq); get(T); get(GLOBAL_GEN); b.u8(Op.i32_eq); b.u8(Op.i32_or); };
  get(SLAB); i32c(0); mem(Op.i32_store, SlabOffset.MODE_SWITCH);
  b.op(Op.block, VOID, Op.loop, VOID);
  // r = table[index](slab, half): bit 0 flags written, bit 1 the block ran to its end, then the count
  get(SLAB); get(HALF); get(BUDGET); get(INDEX); b.op(Op.call_indirect, 0, 0); set(R);
  get(R); i32c(2); b.u8(Op.i32_shr_u); set(DONE);
  get(TOTAL); get(DONE); b.u8(Op.i32_add); set(TOTAL);
  // Flags the block wrote are in the slab, where the next block reads incoming flags.
  get(R); i32c(1); b.u8(Op.i32_and); set(T);
  get(FLAGS_KNOWN); get(T); b.u8(Op.i32_or); set(FLAGS_KNOWN);
  get(ANY_FLAGS); get(T); b.u8(Op.i32_or); set(ANY_FLAGS);
  get(R); i32c(2); b.u8(Op.i32_and); b.u8(Op.i32_eqz); b.op(Op.br_if, 1);
  // SYSCALL or SYSRET switched mode and the chain goes on (in wasm, translate.ts fastSystemCall, or
  // a helper call that returned HelperResult.Jump): links and the jump
  // cache are checked against the new mode's generations, functions get its TLB half.
  get(SLAB); mem(Op.i32_load, SlabOffset.MODE_SWITCH); b.op(Op.if, VOID);
  get(SLAB); mem(Op.i32_load, SlabOffset.MODE_GEN); set(GEN);
  get(SLAB); mem(Op.i32_load, SlabOffset.MODE_GLOBAL_GEN); set(GLOBAL_GEN);
  get(SLAB); mem(Op.i32_load, SlabOffset.MODE_HALF); set(HALF);
  get(SLAB); i32c(0); mem(Op.i32_store, SlabOffset.MODE_SWITCH);
  // Nor is the jump a backward branch (user code sits below the kernel's RIPs, as numbers).
  b.u8(Op.f64_const); b.f64(-Infinity); set(CUR_RIP);
  b.u8(Op.end);
  get(BUDGET); get(DONE); b.u8(Op.i32_sub); set(BUDGET);
  get(SLAB); mem(Op.f64_load, SlabOffset.RIP); set(RIP);
  get(INDEX); i32c(REC_SHIFT); b.u8(Op.i32_shl); set(REC);
  // Entries that ran to their end: they weigh the ways of the branches that lead to the block
  // when a later translation appends it (WasmTier.blockWeight).
  get(REC); get(REC); mem(Op.i32_load, recBase + Rec.ENTRIES); i32c(1); b.u8(Op.i32_add); mem(Op.i32_store, recBase + Rec.ENTRIES);
  get(REC); get(REC); mem(Op.i32_load, recBase + Rec.INSNS); get(DONE); b.u8(Op.i32_add); mem(Op.i32_store, recBase + Rec.INSNS);
  // E = the next block's index, from link A, link B or the jump cache (depths: $have 0, loop 1)
  b.op(Op.block, VOID);
  for (const [ripAt, indexAt, genAt, countAt] of [[Rec.A_RIP, Rec.A_INDEX, Rec.A_GEN, Rec.A_COUNT], [Rec.B_RIP, Rec.B_INDEX, Rec.B_GEN, Rec.B_COUNT]] as const) {
    get(REC); mem(Op.f64_load, recBase + ripAt); get(RIP); b.u8(Op.f64_eq);
    b.op(Op.if, VOID);
    get(REC); get(REC); mem(Op.i32_load, recBase + countAt); i32c(1); b.u8(Op.i32_add); mem(Op.i32_store, recBase + countAt);
    get(REC); mem(Op.i32_load, recBase + genAt); set(T);
    genOk(); b.op(Op.if, VOID);
    // A link to a block no longer VALID (dropped, or translated again at another index) is
    // replaced through the jump cache, which the run loop keeps current.
    get(REC); mem(Op.i32_load, recBase + indexAt); set(E);
    get(E); i32c(REC_SHIFT); b.u8(Op.i32_shl); mem(Op.i32_load, recBase + Rec.INFO); b.op(Op.local_tee); b.u32(INFO);
    i32c(Info.VALID); b.u8(Op.i32_and); b.op(Op.br_if, 2);
    b.op(Op.end, Op.end);
  }
  // sl = jumpSlot(RIP) * 16 (the RIP's low 32 bits, hashed; the saturating conversion has no
  // trap check), e = slab + sl. Depths: $found 0, $miss 1, $ok 2, $have 3, loop 4, out 5.
  b.op(Op.block, VOID, Op.block, VOID, Op.block, VOID);
  get(RIP); b.op(0xfc, 6 /* i64.trunc_sat_f64_s */); b.u8(Op.i32_wrap_i64);
  i32c(JUMP_HASH); b.u8(Op.i32_mul); i32c(32 - JUMP_BITS); b.u8(Op.i32_shr_u);
  i32c(4); b.u8(Op.i32_shl); set(SL);
  get(SL); get(SLAB); b.u8(Op.i32_add); set(E);
  get(E); mem(Op.f64_load, SlabOffset.JUMP); get(RIP); b.u8(Op.f64_eq); b.op(Op.br_if, 0);
  // Not in its slot: the other slot of its pair (the second way, WasmTier.remember).
  get(SL); i32c(16); b.u8(Op.i32_xor); get(SLAB); b.u8(Op.i32_add); set(E);
  get(E); mem(Op.f64_load, SlabOffset.JUMP); get(RIP); b.u8(Op.f64_eq); b.op(Op.br_if, 0);
  b.op(Op.br, 5);
  b.u8(Op.end); // $found
  get(E); mem(Op.i32_load, SlabOffset.JUMP + 12); set(T);
  genOk(); b.op(Op.br_if, 1);
  b.u8(Op.end); // $miss
  // In the jump cache for an older generation (after a CR3 write, every entry of user code is):
  // the run loop's lookup, from here (Cpu.wasmLookup), which puts the block in the pair's slots
  // for this one; 0: the run loop takes over. Not for a RIP not in the jump cache at all: that is
  // mostly code run too few times to have a function yet, for which the lookup would come back
  // empty-handed (~350,000 times in a boot). Depths: $ok 0, $have 1, loop 2, out 3.
  get(RIP); get(GEN); b.op(Op.call, 0); b.u8(Op.i32_eqz); b.op(Op.br_if, 3);
  get(SL); i32c(~16); b.u8(Op.i32_and); get(SLAB); b.u8(Op.i32_add); set(E);
  get(E); mem(Op.f64_load, SlabOffset.JUMP); get(RIP); b.u8(Op.f64_ne); b.op(Op.if, VOID);
  get(E); i32c(16); b.u8(Op.i32_add); set(E);
  get(E); mem(Op.f64_load, SlabOffset.JUMP); get(RIP); b.u8(Op.f64_ne); b.op(Op.br_if, 4);
  b.u8(Op.end);
  get(E); mem(Op.i32_load, SlabOffset.JUMP + 12); set(T);
  genOk(); b.u8(Op.i32_eqz); b.op(Op.br_if, 3);
  b.u8(Op.end); // $ok
  get(E); mem(Op.i32_load, SlabOffset.JUMP + 8); set(E);
  // The new link becomes A, A becomes B.
  get(REC); get(REC); mem(Op.f64_load, recBase + Rec.A_RIP); mem(Op.f64_store, recBase + Rec.B_RIP);
  get(REC); get(REC); mem(Op.i64_load, recBase + Rec.A_INDEX); mem(Op.i64_store, recBase + Rec.B_INDEX);
  get(REC); get(REC); mem(Op.i32_load, recBase + Rec.A_COUNT); mem(Op.i32_store, recBase + Rec.B_COUNT);
  get(REC); i32c(1); mem(Op.i32_store, recBase + Rec.A_COUNT);
  get(REC); get(RIP); mem(Op.f64_store, recBase + Rec.A_RIP);
  get(REC); get(E); mem(Op.i32_store, recBase + Rec.A_INDEX);
  get(REC); get(T); mem(Op.i32_store, recBase + Rec.A_GEN);
  get(E); i32c(REC_SHIFT); b.u8(Op.i32_shl); mem(Op.i32_load, recBase + Rec.INFO); set(INFO);
  b.u8(Op.end);
  // INFO is the next block's info word (a link read it already).
  get(E); i32c(REC_SHIFT); b.u8(Op.i32_shl); set(REC);
  get(INFO); i32c(Info.VALID); b.u8(Op.i32_and); b.u8(Op.i32_eqz); b.op(Op.br_if, 1);
  get(INFO); i32c(9); b.u8(Op.i32_shr_u); i32c(1); b.u8(Op.i32_and); get(FLAGS_KNOWN); b.u8(Op.i32_eqz); b.u8(Op.i32_and); b.op(Op.br_if, 1);
  get(INFO); i32c(Info.COUNT); b.u8(Op.i32_and); get(BUDGET); b.u8(Op.i32_gt_s); b.op(Op.br_if, 1);
  // A backward branch (a loop) counts an entry of its target; at the JIT threshold the run loop
  // takes it (it adds the count and compiles the loop).
  get(RIP); get(CUR_RIP); b.u8(Op.f64_le); b.op(Op.if, VOID);
  get(REC); mem(Op.i32_load, recBase + Rec.HITS); i32c(1); b.u8(Op.i32_add); set(T);
  get(REC); get(T); mem(Op.i32_store, recBase + Rec.HITS);
  get(T); get(JIT_AT); b.u8(Op.i32_eq); b.op(Op.br_if, 2);
  b.u8(Op.end);
  get(RIP); set(CUR_RIP);
  get(E); set(INDEX);
  b.op(Op.br, 0);
  b.op(Op.end, Op.end);
  get(SLAB); get(INDEX); mem(Op.i32_store, SlabOffset.LAST_INDEX); // LAST_DONE: the block's own
  get(TOTAL); i32c(1); b.u8(Op.i32_shl); get(ANY_FLAGS); b.u8(Op.i32_or);
  b.u8(Op.end);
  return b.view().slice();
}

export const wasmStats = { translated: 0, replaced: 0, reviewed: 0, modules: 0, untranslatable: 0, flushes: 0, compileMs: 0, translateMs: 0, wasmBytes: 0, moduleMs: 0, buildMs: 0, instMs: 0 };

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
  /** Modules compiled into the current table. */
  private modules = 0;
  /** The records of table indices (arena view, REC_BYTES each; see Rec). */
  private readonly rec: Int32Array;
  private readonly recBase: number;
  /** The block of each table index. */
  private byIndex: (Block | null)[] = [null];
  /** The records as f64 (the links' RIPs). */
  private readonly recF64: Float64Array;
  /** The side exits of each table index that has any (WasmTier.review). */
  private reviewOf = new Map<number, Review>();
  /** Where the last review stopped in reviewOf (a Map iterator sees later insertions and skips deletions). */
  private reviewCursor: IterableIterator<[number, Review]> | null = null;
  private reviewCursorOf: Map<number, Review> | null = null;
  private reviewTick = 0;
  private reviewedAtMs = 0;
  /** Per block, the ways its functions take at Jccs against the weights (Jcc block RIP -> taken), and how often it was translated anew for them. */
  private readonly ways = new WeakMap<Block, Map<number, boolean>>();
  private readonly reviews = new WeakMap<Block, number>();
  /** The dispatcher (dispatcherBody). */
  run!: (index: number, slab: number, tlbHalf: number, budget: number, flagsKnown: number, generation: number, jitAt: number, globalGeneration: number, blockRip: number) => number;
  private queued: Block[] = [];
  /** What the queued blocks' translations are like (set on each block when it is compiled). */
  private queuedShape: { count: number; maxCount: number; flagsIn: boolean; selfLoop: boolean; exits: SideExit[]; exitBranches: number[] }[] = [];
  /** Blocks whose functions also run the key's code (appended fall-through blocks). */
  private readonly dependents = new WeakMap<Block, Block[]>();
  private queuedRuns = 0;
  /** The queued blocks' functions, encoded as code section entries (size, body). */
  private readonly queuedCode = new Bytes(1 << 16);
  private live: Block[] = [];
  /** The slabs of this tier's vCPUs: their jump caches hold table indices, which a new table reuses. */
  private readonly slabs = new Set<CpuSlab>();
  /** Instructions that functions hand to the interpreter (helper calls), by id, and their blocks. */
  private helperInsns: DecodedInsn[] = [];
  private helperOwners: Block[] = [];
  /** The vCPU that entered wasm last (remember() comes before every run): the one helpers run for. */
  private current: Cpu | null = null;
  /** The function modules import as `m.h`: runs helper `id` (Cpu.wasmHelper). */
  private readonly helper = (id: number): number => this.current!.wasmHelper(this.helperInsns[id]!, this.helperOwners[id]!);
  /** The dispatcher's import `m.h`: the table index of the block at a RIP whose jump cache entry is of an older generation, or 0 (Cpu.wasmLookup). */
  private readonly lookup = (rip: number, generation: number): number => this.current!.wasmLookup(rip, generation);
  private readonly helperOf = (i: DecodedInsn, owner: Block): number => {
    this.helperInsns.push(i);
    this.helperOwners.push(owner);
    return this.helperInsns.length - 1;
  };

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
    this.recBase = arena.allocState(this, TABLE_LIMIT * REC_BYTES);
    if (this.recBase < 0) { r.release(); throw new Error('no arena range for the block table'); }
    this.rec = new Int32Array(arena.memory.buffer, this.recBase, TABLE_LIMIT * REC_BYTES / 4);
    this.recF64 = new Float64Array(arena.memory.buffer, this.recBase, TABLE_LIMIT * REC_BYTES / 8);
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
    const slab = this.arena.allocSlab(owner);
    if (slab === null) return null;
    const mine: CpuSlab = { ...slab, release: () => { this.slabs.delete(mine); slab.release(); } };
    this.slabs.add(mine);
    return mine;
  }

  private newTable(): void {
    // The records of the indices the old table used (links name those indices too).
    this.rec.fill(0, 0, this.tableUsed * (REC_BYTES / 4));
    this.reviewOf = new Map();
    this.table = new WebAssembly.Table({ initial: 1024, element: 'anyfunc' });
    this.tableUsed = 1;
    this.modules = 0;
    this.byIndex = [null];
    // Jump cache entries name indices of the old table: a chain must not follow them into the
    // new one's blocks at those indices (a NaN RIP matches nothing).
    for (const slab of this.slabs) slab.jumpF64.fill(NaN);
    const bytes = buildModule({
      types: [{ params: [I32, I32, I32], results: [I32] }, { params: [I32, I32, I32, I32, I32, I32, I32, I32, F64], results: [I32] }, { params: [F64, I32], results: [I32] }],
      funcTypes: [1], memPages: ARENA_PAGES, tableMin: 1, tableBase: -1, bodies: [dispatcherBody(this.recBase)], exports: [['run', 1]], importFunc: 2,
    });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { m: { mem: this.arena.memory, t: this.table, h: this.lookup } });
    this.run = inst.exports['run'] as WasmTier['run'];
  }

  /**
   * The block's execution count with the times chains entered it added (its JIT threshold
   * counts those too): a loop that runs inside wasm chains still gets to the block JIT.
   */
  takeHits(block: Block, cpu: Cpu): number {
    // Here, before the run loop reads the block's table index, a review may compile (and even
    // start a new table): not in remember(), between that read and the call.
    if (++this.reviewTick >= reviewEvery) {
      this.reviewTick = 0;
      const now = performance.now();
      if (now - this.reviewedAtMs >= reviewMs) {
        this.reviewedAtMs = now;
        this.review(cpu);
        if (block.wasmIndex <= 0) return block.execCount;
      }
    }
    const at = block.wasmIndex * (REC_BYTES / 4) + Rec.HITS / 4;
    const h = this.rec[at]!;
    if (h !== 0) { this.rec[at] = 0; block.execCount += h; }
    return block.execCount;
  }

  /**
   * Looks at the side exits of the functions that ran REVIEW_MIN times since last time: one that
   * more than half of a function's passes left by (runs to its end; for a self-loop, iterations)
   * means the function goes the wrong way at that Jcc, and each pass pays a return to the
   * dispatcher and a call of the function there. The path's ways come from the blocks' weights
   * when translated, which mislead: a weight counts every way into a block (the join after an
   * if-then outweighs the then-block), and code warmed at boot (one bvec per bio) runs
   * differently later (256 per 1 MiB read). Such a function is translated anew, that way taken.
   * A self-loop's own exits (a `break` once per entry) are few against its iterations.
   */
  private review(cpu: Cpu): void {
    // A review may start a new table (replace compiles): this loop goes on over the old map,
    // whose indices byIndex no longer has.
    const reviewOf = this.reviewOf;
    if (this.reviewCursorOf !== reviewOf || this.reviewCursor === null) { this.reviewCursor = reviewOf.entries(); this.reviewCursorOf = reviewOf; }
    for (let left = Math.ceil(reviewOf.size / REVIEW_SLICES); left > 0; left--) {
      let step = this.reviewCursor.next();
      if (step.done === true) {
        this.reviewCursor = reviewOf.entries();
        step = this.reviewCursor.next();
        if (step.done === true) return;
      }
      const [index, r] = step.value;
      const b = this.byIndex[index];
      if (b === null || b === undefined || b.wasmIndex !== index || !b.valid) { reviewOf.delete(index); continue; }
      if (b.wasmPending || b.compiled !== null) continue;
      const at = index * (REC_BYTES / 4);
      const entries = this.rec[at + Rec.ENTRIES / 4]!;
      const runs = (entries - r.entries) >>> 0;
      if (runs < REVIEW_MIN) continue;
      const insns = this.rec[at + Rec.INSNS / 4]!;
      const passes = Math.max(runs, ((insns - r.insns) >>> 0) / Math.max(1, b.wasmMax));
      // Chains that went on from the function through its links since the last look: a side
      // exit's target is one of them when the exit was taken lately.
      const aRip = this.recF64[at / 2 + Rec.A_RIP / 8]!;
      const bRip = this.recF64[at / 2 + Rec.B_RIP / 8]!;
      const aCount = this.rec[at + Rec.A_COUNT / 4]!;
      const bCount = this.rec[at + Rec.B_COUNT / 4]!;
      let worst: SideExit | null = null;
      let most = 0;
      for (const e of r.exits) {
        const c = e.target === aRip ? aCount : e.target === bRip ? bCount : 0;
        if (c * 2 > passes && c > most) { worst = e; most = c; }
      }
      // A translation finds the blocks of its trace at their RIPs through the current page
      // tables and privilege level, and a review runs in whatever address space the vCPU is in:
      // another process's code sits at the same virtual addresses (it was appended to a user
      // block: tier.test.ts), and kernel code looked up from user mode is not found (nothing
      // appended). Such a function waits, its counts kept, for a review where its own RIP finds it.
      if (worst !== null && cpu.lookupBlock(b.rip) !== b) continue;
      r.entries = entries;
      r.insns = insns;
      this.rec[at + Rec.A_COUNT / 4] = 0;
      this.rec[at + Rec.B_COUNT / 4] = 0;
      if (worst === null) continue;
      const n = this.reviews.get(b) ?? 0;
      if (n >= REVIEW_MAX) continue;
      this.reviews.set(b, n + 1);
      let ways = this.ways.get(b);
      if (ways === undefined) { ways = new Map(); this.ways.set(b, ways); }
      // The path's other ways stay as they are: chosen anew by weights, which changed since, they
      // moved (a boot-time way came back at another Jcc), and the review never settled.
      for (const e of r.exits) ways.set(e.rip, !e.taken);
      ways.set(worst.rip, worst.taken);
      wasmStats.reviewed++;
      this.replace(b, cpu);
    }
  }

  /** Translates `block` anew while its function runs on; the new one replaces it once compiled. */
  private replace(block: Block, cpu: Cpu): void {
    const t = this.translate(block, cpu);
    if (t === null) return;
    wasmStats.replaced++;
    block.wasmPending = true;
    this.queue(block, t, cpu);
  }

  /**
   * How often `block` ran: interpreted, and entered by chains (its functions' entries that ran
   * to their end). Translation weighs a branch's two ways by it.
   */
  readonly blockWeight = (block: Block): number =>
    block.execCount + block.wasmEntries + (block.wasmIndex > 0 ? this.entries(block.wasmIndex) : 0);

  /** Runs to its end of the function at table index `index` (Rec.ENTRIES). */
  private entries(index: number): number {
    return this.rec[index * (REC_BYTES / 4) + Rec.ENTRIES / 4]!;
  }

  private setInfo(index: number, info: number): void {
    this.rec[index * (REC_BYTES / 4) + Rec.INFO / 4] = info;
  }

  /** The block at a table index (where a chain stopped). */
  blockAt(index: number): Block {
    return this.byIndex[index]!;
  }

  /**
   * Records `block` (which the run loop is about to enter at table index `index`) in the vCPU's
   * jump cache, so chains reaching its RIP go on into it.
   */
  remember(slab: CpuSlab, block: Block, generation: number, globalGeneration: number, cpu: Cpu): void {
    this.current = cpu;
    // Two ways: the pair of slots {2k, 2k + 1} that holds the RIP's slot, both of which the
    // dispatcher probes (its own slot first). A new RIP goes into the pair's first slot and moves
    // the one there to the second, so any two hot RIPs of one pair both stay
    // (__list_del_entry_valid and __rq_qos_track took turns in one slot: ~4 chain stops per
    // 1 MiB read). It used to go into its own slot: a RIP whose slot was the other one of the
    // pair then pushed out the first (try_to_grab_pending's and blk_mq_do_dispatch_sched's next
    // blocks, slots 2k and 2k + 1: two chain stops per 1 MiB read).
    let slot = jumpSlot(block.rip) & ~1;
    const f = slab.jumpF64;
    const i = slab.jumpI32;
    if (f[slot * 2] !== block.rip) {
      const other = slot | 1;
      if (f[other * 2] === block.rip) slot = other;
      else { f[other * 2] = f[slot * 2]!; i[other * 4 + 2] = i[slot * 4 + 2]!; i[other * 4 + 3] = i[slot * 4 + 3]!; }
    }
    const g = i[slot * 4 + 3];
    if (f[slot * 2] === block.rip && i[slot * 4 + 2] === block.wasmIndex && (g === generation || g === globalGeneration)) return;
    f[slot * 2] = block.rip;
    i[slot * 4 + 2] = block.wasmIndex;
    // 64-bit code: the linear address is the RIP (CS base 0).
    i[slot * 4 + 3] = generation !== -1 && cpu.mem.codeIsGlobal?.(block.rip) === true ? globalGeneration : generation;
  }

  /** Chains may enter `block` again (the block JIT gave it back). */
  revive(block: Block): void {
    if (block.wasmIndex > 0 && block.valid) this.setInfo(block.wasmIndex, infoOf(block));
  }

  /**
   * `block`'s code changed (the block cache dropped it): its function and those that appended it
   * are not run again; blocks that appended it get translated anew.
   */
  dropped(block: Block): void {
    this.retire(block);
    const deps = this.dependents.get(block);
    if (deps === undefined) return;
    this.dependents.delete(block);
    for (const a of deps) {
      a.wasmStale = true;
      if (a.wasmIndex > 0) { this.setInfo(a.wasmIndex, 0); a.wasmIndex = WasmState.NotYet; }
    }
  }

  /** Chains must no longer enter `block`: it was dropped (its code changed) or the JIT runs it now. */
  retire(block: Block): void {
    if (block.wasmIndex > 0) this.setInfo(block.wasmIndex, 0);
  }

  /**
   * A queued block ran again (interpreted): after QUEUE_PATIENCE such runs the queue is compiled
   * even if not full, so that a phase with few new warm blocks does not leave them interpreted.
   */
  waiting(): void {
    if (++this.queuedRuns >= QUEUE_PATIENCE) this.compileQueued();
  }

  /** Translates `block` (hot enough) and compiles the queue when it is full. */
  enqueue(block: Block, cpu: Cpu): void {
    const t = this.translate(block, cpu);
    if (t === null) { block.wasmIndex = WasmState.None; wasmStats.untranslatable++; return; }
    block.wasmIndex = WasmState.Queued;
    this.queue(block, t, cpu);
  }

  private translate(block: Block, cpu: Cpu): Translation | null {
    const t0 = performance.now();
    const t = translateBlock(cpu, block, this.ramBase, this.helperOf, this.blockWeight, this.ways.get(block));
    wasmStats.translateMs += performance.now() - t0;
    return t;
  }

  private queue(block: Block, t: Translation, cpu: Cpu): void {
    block.wasmStale = false;
    for (const a of t.appended) {
      const deps = this.dependents.get(a);
      if (deps === undefined) this.dependents.set(a, [block]); else deps.push(block);
    }
    this.queued.push(block);
    this.queuedShape.push({ count: t.count, maxCount: t.maxCount, flagsIn: t.needsFlagsIn, selfLoop: t.selfLoop, exits: t.exits, exitBranches: t.exitBranches });
    this.queuedCode.u32(t.body.length);
    this.queuedCode.bytes(t.body);
    wasmStats.translated++;
    // The trace stopped before a loop head: chains enter the head's own function there, which
    // should iterate the loop. One translated before the loop was seen (at boot, its branches
    // went other ways) is made anew, once.
    const head = t.loopHead;
    if (head !== null && !head.wasmLoopHead) {
      head.wasmLoopHead = true;
      if (head.wasmIndex > 0 && !head.wasmSelfLoop && !head.wasmPending && head.compiled === null) this.replace(head, cpu);
    }
    if (this.queued.length >= wasmBatch) this.compileQueued();
  }

  /** Compiles the queued blocks into one module and gives each its table index. */
  compileQueued(): void {
    const blocks = this.queued;
    if (blocks.length === 0) return;
    const shapes = this.queuedShape;
    this.queued = [];
    this.queuedShape = [];
    const entries = this.queuedCode.view();
    this.queuedCode.length = 0;
    this.queuedRuns = 0;
    const t0 = performance.now();
    if (this.tableUsed + blocks.length > TABLE_LIMIT || this.modules >= moduleLimit) {
      // Start over: blocks that still run get translated again, the queued ones too (their
      // helper ids are dropped with the rest).
      for (const b of this.live) b.wasmIndex = WasmState.NotYet;
      for (const b of blocks) { b.wasmIndex = WasmState.NotYet; b.wasmPending = false; }
      this.live = [];
      this.helperInsns = [];
      this.helperOwners = [];
      this.newTable();
      wasmStats.flushes++;
      return;
    }
    const base = this.tableUsed;
    const need = base + blocks.length;
    if (need > this.table.length) this.table.grow(Math.max(need - this.table.length, this.table.length));
    const tb = performance.now();
    // The functions are exported and set into the table from here: a module that imported the
    // table would be registered with it, and V8 (11.x) updates every registered instance's copy of
    // the table on each change (quadratic in the modules of a boot).
    // Functions: the helper import (0), the flags materializer (1), the blocks (translate.ts).
    const bytes = buildModule({
      types: [{ params: [I32, I32, I32], results: [I32] }, { params: [I32], results: [I32] }], funcTypes: [1, ...blocks.map(() => 0)],
      memPages: ARENA_PAGES, tableMin: -1, tableBase: -1, bodies: [materializeBody()], moreCode: { count: blocks.length, entries },
      exports: blocks.map((_, k) => [String(k), k + 2]), importFunc: 1, custom: [['metadata.code.branch_hint', branchHints(shapes)]],
    });
    wasmStats.wasmBytes += bytes.length;
    wasmStats.buildMs += performance.now() - tb;
    const t1 = performance.now();
    const module = new WebAssembly.Module(bytes);
    wasmStats.moduleMs += performance.now() - t1;
    const ti = performance.now();
    const inst = new WebAssembly.Instance(module, { m: { mem: this.arena.memory, h: this.helper } });
    const exports = inst.exports;
    for (let k = 0; k < blocks.length; k++) this.table.set(base + k, exports[String(k)]);
    wasmStats.instMs += performance.now() - ti;
    this.tableUsed = need;
    for (let k = 0; k < blocks.length; k++) {
      const b = blocks[k]!;
      const shape = shapes[k]!;
      this.byIndex[base + k] = b;
      if (b.wasmPending) {
        // A replacement: the old function is not entered again; its entries still weigh the block.
        b.wasmPending = false;
        if (b.wasmIndex > 0) {
          b.wasmEntries += this.entries(b.wasmIndex);
          this.retire(b);
        }
      }
      if (b.wasmStale) { b.wasmIndex = WasmState.NotYet; b.wasmStale = false; this.setInfo(base + k, 0); continue; }
      b.wasmCount = shape.count;
      b.wasmMax = shape.maxCount;
      b.wasmFlagsIn = shape.flagsIn;
      b.wasmSelfLoop = shape.selfLoop;
      b.wasmIndex = base + k;
      this.setInfo(base + k, b.valid && b.compiled === null ? infoOf(b) : 0);
      this.live.push(b);
      if (shape.exits.length > 0) {
        this.reviewOf.set(base + k, { exits: shape.exits, entries: 0, insns: 0 });
      }
    }
    wasmStats.modules++;
    this.modules++;
    wasmStats.compileMs += performance.now() - t0;
  }
}
