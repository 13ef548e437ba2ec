// Block JIT: turns a hot decoded block into one JavaScript function (built with `new Function`),
// the way a threaded-code translator does, and when the block heads a loop, the whole loop: a
// region (compileRegion) is the hot entry block plus the blocks it reaches by direct branches
// that come back to it, run by one function with a `switch` over its members, so an iteration
// never returns to the run loop. The generated code replays the instructions with their operands
// baked in as constants:
// - instructions with a template (templates.ts) become straight-line JS on register locals
//   (G<n> for gpr[n], loaded on entry and written back on exit) and the lazy-flag fields, with
//   memory accessed through the TLB's hit path inline (LinearMemory.tlb); a miss, MMIO or an
//   address outside the fast range leaves the region before the instruction, which the
//   interpreter then runs (and which may fault there);
// - the others call their interpreter handler through a per-instruction constant (`h3(c, i3)`),
//   a monomorphic call site, with the register locals written back before and reloaded after.
//
// Contract with Cpu.runBlock (cpu.ts), which calls a region only when its entry block fits in the
// instruction budget and no interrupt shadow is pending:
// - only handler calls throw; cpu.faultInsn names the instruction whose handler runs, and
//   cpu.instructionCount is exact before it (the region counts in a local, written back before
//   handler calls and when it returns);
// - cpu.rip is the next instruction's address before every handler call (what handlers expect)
//   and when the function returns; cpu.lastBlock is the member that ran last (for links);
// - after a handler call or a memory write the interpreter loop's checks run (RIP change,
//   blockExit, the block invalidated by a write into its page) and the region returns;
// - a move to another member happens only when that block fits in the budget, is still valid, is
//   not the stop RIP and no maskable interrupt is deliverable: what the run loop checks between
//   blocks. A region that made no progress (a slow path at its first instruction) makes runBlock
//   interpret the block instead.

import { setFlagsFromString } from 'node:v8';
import type { Block } from '../block-cache.js';
import type { Cpu } from '../cpu.js';
import type { DecodedInsn } from '../decoder.js';
import { PENDING_COUNT, PENDING_FLAGS, RECORD_END, RECORD_START, templateFor, type Template, type TemplateContext } from './templates.js';
import { computeArithFlags, computeCF, setLazyIncDec, testCondition } from '../flags.js';
import { OpMap } from '../insn.js';
import { TLB_SIZE } from '../mmu.js';

/** A compiled block: runs the block from its first instruction on `cpu`. */
/**
 * A compiled region: runs from its entry block (`block`) on `cpu` while the instruction count
 * stays within `end`; leaves c.rip at the next instruction and c.lastBlock at the member that
 * ran last.
 */
export type CompiledBlock = (cpu: Cpu, block: Block, end: number) => void;

/** RFLAGS.IF (SDM Vol. 1 §3.4.3). */
const FLAG_IF = 0x200;

type Env = Record<string, string | undefined>;
const env: Env = (globalThis as { process?: { env: Env } }).process?.env ?? {};

/**
 * Default hotness threshold. A generated function only pays off once V8 has optimized it (before
 * that it runs in V8's bytecode interpreter, slower than our optimized handlers), and optimizing
 * one costs milliseconds. Measured on Linux boots (helper J, then helper CPU-C: a warm tier
 * compiled at 1,000-3,000 executions and left to V8's own tiering raised total CPU from ~29 s to
 * 37-42 s, V8 optimizing the many warm functions on its own, with no gain on the vCPU thread;
 * compiling itself is cheap, ~0.15 ms per block), 30,000 is the best of those tried.
 */
const DEFAULT_THRESHOLD = 30000;

/** Calls of a compiled block before it is optimized (type feedback for V8). */
const OPTIMIZE_AFTER_CALLS = 16;

/**
 * Executions of a block before it is compiled (TSHV_JIT_THRESHOLD; 0 compiles on first use, for
 * differential tests). Negative (TSHV_JIT=0) turns the JIT off.
 */
export let jitThreshold: number = env['TSHV_JIT'] === '0' ? -1 : parseCount(env['TSHV_JIT_THRESHOLD'], DEFAULT_THRESHOLD);

/**
 * Executions (counted from the block's first) at which a compiled block is handed to V8's
 * optimizing compiler at once: OPTIMIZE_AFTER_CALLS calls after compilation (a few calls first
 * give V8 type feedback), or later with TSHV_JIT_OPTIMIZE_AT (a warm tier left to V8's own
 * tiering between the two thresholds).
 */
export let jitOptimizeAt: number = jitThreshold < 0
  ? -1
  : Math.max(jitThreshold + OPTIMIZE_AFTER_CALLS, parseCount(env['TSHV_JIT_OPTIMIZE_AT'], 0));

/**
 * Sets the hotness threshold for blocks compiled from now on (tests; -1 turns the JIT off); such
 * blocks are optimized OPTIMIZE_AFTER_CALLS calls later.
 */
export function setJitThreshold(executions: number): void {
  jitThreshold = executions;
  jitOptimizeAt = executions < 0 ? -1 : executions + OPTIMIZE_AFTER_CALLS;
}

/** V8's natives used on compiled blocks (status -1: unavailable). */
interface V8Natives { optimize: (f: CompiledBlock) => void; status: (f: CompiledBlock) => number }

/**
 * `%OptimizeFunctionOnNextCall` through V8's natives syntax (enabled for code compiled after the
 * flag is set, i.e. only our generated functions use it); a no-op where it is unavailable
 * (TSHV_JIT_FORCE_OPT=0 too). By default the optimization runs on V8's background compiler
 * thread ("concurrent"): TurboFan takes milliseconds per block, several seconds of a 30 s
 * boot on the vCPU thread; the block keeps running unoptimized for the few calls until the code
 * is installed. TSHV_JIT_FORCE_OPT=sync optimizes on the vCPU thread, before the next call.
 */
const natives: V8Natives = ((): V8Natives => {
  const none = { optimize: (): void => {}, status: (): number => -1 };
  const mode = env['TSHV_JIT_FORCE_OPT'];
  if (mode === '0') return none;
  try {
    setFlagsFromString('--allow-natives-syntax');
    const call = mode === 'sync' ? '%OptimizeFunctionOnNextCall(f);' : '%OptimizeFunctionOnNextCall(f, "concurrent");';
    return {
      // eslint-disable-next-line @typescript-eslint/no-implied-eval
      optimize: new Function('f', call) as (f: CompiledBlock) => void,
      // eslint-disable-next-line @typescript-eslint/no-implied-eval
      status: new Function('f', 'return %GetOptimizationStatus(f);') as (f: CompiledBlock) => number,
    };
  } catch {
    return none;
  }
})();

/** Asks V8 to optimize a compiled block on its next call (see jitOptimizeAt). */
export function optimizeCompiled(f: CompiledBlock): void {
  jitStats.optimized++;
  natives.optimize(f);
}

/**
 * V8's OptimizationStatus bits (src/runtime/runtime-test.cc): optimized, or marked for
 * optimization, or being optimized on the background thread.
 */
const V8_OPTIMIZED_OR_PENDING = (1 << 4) | (1 << 8) | (1 << 9) | (1 << 10);

/** Most times one compiled block is handed back to TurboFan after V8 deoptimized it. */
const MAX_REOPTIMIZATIONS = 6;

/** Executions between two checks that a compiled block is still optimized (a power of two). */
export const REOPTIMIZE_CHECK_EVERY = 1024;

/**
 * Re-optimizes a compiled block that V8 deoptimized. A deoptimization happens when a path that
 * had not run before TurboFan compiled the block runs ("insufficient type feedback"), or a value
 * outgrows its feedback (a small integer becoming a double): the block then runs in V8's bytecode
 * interpreter, several times slower than our own interpreter, until V8's tiering decides to
 * optimize it again, which for a large region took seconds (mpihelp_submul_1: 170 M instr/s for
 * 3 s, then 500). Called every REOPTIMIZE_CHECK_EVERY executions; the feedback gathered since the
 * deoptimization includes the path that caused it.
 */
export function reoptimizeCompiled(block: Block): void {
  const f = block.compiled;
  if (f === null || block.reoptimizations >= MAX_REOPTIMIZATIONS) return;
  const status = natives.status(f);
  if (status < 0 || (status & V8_OPTIMIZED_OR_PENDING) !== 0) return;
  block.reoptimizations++;
  jitStats.reoptimized++;
  natives.optimize(f);
}

function parseCount(s: string | undefined, fallback: number): number {
  if (s === undefined || s === '') return fallback;
  const n = Number(s);
  return Number.isInteger(n) && n >= 0 ? n : fallback;
}

/** Statistics for TSHV_STATS and tests. */
export const jitStats = { compiled: 0, regionBlocks: 0, templated: 0, calls: 0, optimized: 0, reoptimized: 0, compileMs: 0 };

// TSHV_JIT_STATS=1: the statistics on stderr when the process exits (for tuning the tiers).
if (env['TSHV_JIT_STATS'] === '1') {
  (globalThis as { process?: { on(ev: string, f: () => void): void; stderr: { write(s: string): void } } }).process?.on('exit', () => {
    const p = (globalThis as { process?: { stderr: { write(s: string): void } } }).process;
    p?.stderr.write(`tshv: jit ${JSON.stringify(jitStats)} threshold ${jitThreshold} optimizeAt ${jitOptimizeAt}\n`);
  });
}
/** Instructions compiled as handler calls, by "map:opcode/ext size", for choosing templates. */
export const untemplated = new Map<string, number>();

/** Emits a JS literal for a number (integers in the canonical-address range, always exact). */
function lit(n: number): string {
  return n < 0 ? `(${n})` : String(n);
}

/**
 * Compiles the region entered at `block` to a function. Never throws for an instruction it does
 * not know: such instructions call their handler.
 */
export function compileBlock(block: Block, cpu: Cpu): CompiledBlock {
  const t0 = performance.now();
  const f = compileRegion(gatherRegion(block, cpu), cpu);
  jitStats.compileMs += performance.now() - t0;
  return f;
}

/**
 * Whether `block` would compile into a loop (a region of several blocks on a cycle, or a block
 * branching to itself). Straight-line code is left to the WebAssembly tier, whose blocks chain
 * without coming back to the run loop: that call, not the block body, is most of the time a
 * compiled straight-line block takes.
 */
export function compilesToLoop(block: Block, cpu: Cpu): boolean {
  return gatherRegion(block, cpu).length > 1 || successors(block).includes(block.rip);
}

/**
 * A call of an interpreter handler, marked so that compileRegion can write register locals back
 * before it and reload them after it.
 */
function handlerCall(h: string, ic: string): string {
  return `${HANDLER_CALL_MARK}${h}(c, ${ic});${HANDLER_CALL_MARK}`;
}

const HANDLER_CALL_MARK = '/*HC*/';

/**
 * Most blocks and instructions in one region: bounds compile time, and V8 does not optimize
 * functions beyond about 60 KB of bytecode ("Function is too big to be optimized").
 */
const MAX_REGION_BLOCKS = 12;
const MAX_REGION_INSNS = 256;
/** A member other than the entry has run at least this often, and 1/32 as often as the entry. */
const MIN_MEMBER_EXECUTIONS = 100;
/** Most handler calls in one region (each writes back and reloads the register locals). */
const MAX_REGION_CALLS = 8;

/** The direct-branch targets of a block's last instruction (rel8/rel32 Jcc, JMP, CALL), else null. */
function branchTargets(i: DecodedInsn): number[] | null {
  const op = i.op;
  if (i.map === OpMap.Primary) {
    if ((op >= 0x70 && op <= 0x7f) || op === 0xe8) return [i.next + (i.imm | 0), i.next];
    if (op === 0xe9 || op === 0xeb) return [i.next + (i.imm | 0)];
  } else if (i.map === OpMap.M0F && op >= 0x80 && op <= 0x8f) {
    return [i.next + (i.imm | 0), i.next];
  }
  return null;
}

/** Where control may go after `b` without leaving 64-bit code: static successors. */
function successors(b: Block): number[] {
  const last = b.insns[b.insns.length - 1]!;
  if (!last.endsBlock) return [last.next];
  return branchTargets(last) ?? [];
}

/**
 * The blocks of a region: the hot entry block and, in 64-bit code, the blocks it reaches by
 * direct branches or fall-through that have already run (found in the block cache under the
 * current translation, which cannot change while the region runs: a translation change sets
 * blockExit and ends it). Breadth first, so a loop's body comes in before what follows it.
 */
function gatherRegion(entry: Block, cpu: Cpu): Block[] {
  const members = [entry];
  if (cpu.codeBits !== 64) return members;
  let insns = entry.insns.length;
  let calls = handlerCalls(entry, cpu);
  const minCount = Math.max(Math.min(MIN_MEMBER_EXECUTIONS, jitThreshold), entry.execCount / 32);
  const seen = new Set<number>([entry.rip]);
  for (let q = 0; q < members.length; q++) {
    for (const rip of successors(members[q]!)) {
      if (seen.has(rip)) continue;
      seen.add(rip);
      const b = cpu.lookupBlock(rip);
      // Only successors that ran often next to the entry: a cold path costs TurboFan time and
      // code size in every region that holds it.
      if (b === null || b.execCount < minCount) continue;
      if (members.length >= MAX_REGION_BLOCKS || insns + b.insns.length > MAX_REGION_INSNS) return loopOf(members);
      const bCalls = handlerCalls(b, cpu);
      if (calls + bCalls > MAX_REGION_CALLS) continue;
      members.push(b);
      insns += b.insns.length;
      calls += bCalls;
    }
  }
  return loopOf(members);
}

/**
 * The members on a cycle through the entry (those from which the entry can be reached again
 * inside the region), in gathered order: a region pays off where control stays in it, in loops;
 * straight-line code gains little from it and costs TurboFan time for every block it adds.
 */
function loopOf(members: Block[]): Block[] {
  if (members.length === 1) return members;
  const index = new Map<number, number>(members.map((m, k) => [m.rip, k]));
  const reachesEntry = new Array<boolean>(members.length).fill(false);
  reachesEntry[0] = true;
  // Fixed point over the (small) member graph.
  for (let changed = true; changed;) {
    changed = false;
    for (let k = members.length - 1; k >= 1; k--) {
      if (reachesEntry[k]) continue;
      for (const rip of successors(members[k]!)) {
        const j = index.get(rip);
        if (j !== undefined && reachesEntry[j]) { reachesEntry[k] = true; changed = true; break; }
      }
    }
  }
  return members.filter((_m, k) => reachesEntry[k]);
}

/** Instructions of `b` that would compile to handler calls (cached: a block is gathered often). */
function handlerCalls(b: Block, cpu: Cpu): number {
  let n = callCounts.get(b);
  if (n !== undefined) return n;
  const scratch: TemplateContext = { cpu, constant: () => 'k', flagSrc: null };
  n = 0;
  for (const i of b.insns) if (templateFor(i, scratch, true) === null) n++;
  callCounts.set(b, n);
  return n;
}

const callCounts = new WeakMap<Block, number>();

/** How a member block's code ends: with a known successor set, any RIP, or always leaving. */
type BlockEnd = { kind: 'static'; targets: number[] } | { kind: 'dynamic' } | { kind: 'leave' };

/**
 * Region layout (the blocks of gatherRegion, member 0 the entry):
 *   R: for (;;) { switch (b) { case k: <block k>; <dispatch> } }
 * Guest registers live in locals (G<n> for gpr[n]) inside the function: loaded on entry,
 * written back on every exit, around every handler call, and before a fault propagates.
 * A dispatch moves to member `nb` only when its whole block fits in the budget, it is still
 * valid, nothing asked for an exit, it is not the stop RIP, and no maskable interrupt waits
 * (the run loop's checks between blocks); otherwise the function returns with c.rip set.
 */
function compileRegion(members: Block[], cpu: Cpu): CompiledBlock {
  const names: string[] = [];
  const values: unknown[] = [];
  const constant = (v: unknown): string => { const id = `k${names.length}`; names.push(id); values.push(v); return id; };
  const memberIds = members.map((m) => constant(m));
  const cases: string[] = [];
  for (let k = 0; k < members.length; k++) {
    const { code, end } = blockBody(members[k]!, memberIds[k]!, cpu, constant);
    let dispatch: string;
    if (end.kind === 'leave') {
      dispatch = 'break R;';
    } else {
      const targets = end.kind === 'static' ? end.targets : members.map((m) => m.rip);
      const arms: string[] = [];
      for (const rip of targets) {
        const nb = members.findIndex((m) => m.rip === rip);
        if (nb < 0) continue;
        const len = members[nb]!.insns.length;
        arms.push(`if (r === ${lit(rip)}) { if (c.instructionCount <= end - ${len} && ${memberIds[nb]}.valid && r !== stop && ((c.flagsRest & ${FLAG_IF}) === 0 || !irq.hasInterrupt())) { b = ${nb}; continue R; } break R; }`);
      }
      dispatch = arms.length === 0 ? 'break R;' : `if (c.blockExit || solo) break R; { const r = c.rip; ${arms.join(' ')} } break R;`;
    }
    cases.push(`case ${k}: {\n${code}\n${dispatch}\n}`);
  }
  let body = cases.join('\n');
  // Registers: template code names gpr halves with constant indices (g[n]); they become locals.
  const written = new Set<number>();
  // Values stay uint32 as in the Uint32Array: expressions are normalized (NOT, byte merges give
  // int32); template locals and register copies already are.
  body = body.replace(/\bg\[(\d+)\] = ([^;]*);/g, (_m, n: string, e: string) => {
    written.add(Number(n));
    return /^(?:[A-Za-z_]\w*|g\[\d+\]|\d+)$/.test(e) ? `G${n} = ${e};` : `G${n} = (${e}) >>> 0;`;
  });
  const used = new Set<number>(written);
  body = body.replace(/\bg\[(\d+)\]/g, (_m, n: string) => { used.add(Number(n)); return `G${n}`; });
  const usedList = [...used].sort((a, b) => a - b);
  const writtenList = [...written].sort((a, b) => a - b);
  const load = usedList.map((n) => `G${n} = g[${n}];`).join(' ');
  const store = writtenList.map((n) => `g[${n}] = G${n};`).join(' ');
  const mark = HANDLER_CALL_MARK.replace(/[/*]/g, (x) => `\\${x}`);
  // The instruction count lives in the local IC too: written back before handler calls (they
  // may read it, fault with it exact, or add to it) and on the way out, read again after them.
  body = body.replace(/\bc\.instructionCount\b/g, 'IC');
  // So does the lazy flag record (L* locals, LD when they are newer than the Cpu's fields): it is
  // written to the Cpu only on the way out, before handler calls and before the functions that
  // read (or rewrite) the record, never per flag-producing instruction.
  body = body.replace(LAZY_FIELD_WRITE, (_m, f: string) => (f === 'lazyOp' ? 'LD = true; LOP = ' : `${LAZY_LOCALS[f]!} = `));
  if (/\bc\.lazy/.test(body)) throw new Error('jit: region code accesses the lazy flag record other than by writing it');
  const lazy = body.includes('LD = true');
  const flushLazy = lazy ? `(LD && (${Object.entries(LAZY_LOCALS).map(([f, l]) => `c.${f} = ${l}`).join(', ')}, LD = false))` : '';
  const readers = names.filter((_n, k) => RECORD_READERS.has(values[k]));
  if (lazy && readers.length > 0) body = body.replace(new RegExp(`\\b(${readers.join('|')})\\(c\\b`, 'g'), `(${flushLazy}, $1)(c`);
  body = body.replace(new RegExp(`${mark}(\\w+)\\(c, (\\w+)\\);${mark}`, 'g'), (_m, h: string, ic: string) => `${lazy ? `${flushLazy};` : ''} ${store} c.instructionCount = IC; c.faultInsn = ${ic}; ${h}(c, ${ic}); c.faultInsn = null; IC = c.instructionCount; ${load}`);
  const decl = usedList.length > 0 ? `let ${usedList.map((n) => `G${n} = g[${n}]`).join(', ')};` : '';
  const membersOf = constant(members);
  // Cold exits (a slow path, a write into the region's code) only set the local xr: code that
  // never ran before V8 optimized the region has no type feedback, and a property store there
  // would deoptimize it the first time it runs.
  // Nothing in a region throws but handler calls (memory accesses that miss the TLB leave the
  // region instead), and those run with the registers written back: so no try/catch, which
  // would keep every register local alive in memory at every call. A handler's fault is located
  // through c.faultInsn (Cpu.runBlock).
  // The preamble loads only what the body uses: most regions are one short block entered from
  // the run loop, where every load here is paid per entry.
  const uses = (name: string): boolean => new RegExp(`\\b${name}\\b`).test(body);
  const tlbLocals: string[] = [];
  if (cpu.mem.tlb !== undefined) {
    for (const [name, from] of [['TR', 'T.tagR'], ['TW', 'T.tagW'], ['AD', 'T.addend'], ['PP', 'T.ppn'], ['V', 'T.view']] as const) {
      if (uses(name)) tlbLocals.push(`${name} = ${from}`);
    }
    if (uses('CP')) tlbLocals.push('CP = c.mem.codePages');
  }
  const tlb = tlbLocals.length === 0 ? '' : `const T = c.mem.tlb, ${tlbLocals.join(', ')}; const ub = c.cpl === 3 ? ${TLB_SIZE} : 0;`;
  // Transitions between members (or a member to itself) make it a loop: then the dispatch's
  // locals, the translation check and the last block for the run loop's links.
  const loops = uses('continue R');
  let head = '';
  let tail = '';
  if (loops) {
    // The members were found under the translation of the compile time; the region runs under
    // whatever translation the entry block was found with. While the CPU's code generation is
    // the same (or only CR3 changed and every member is on a global page) the members still
    // hold; otherwise they are looked up again, and the region runs its entry block alone if one
    // moved.
    const rs = constant(regionState(members, cpu));
    const revalidate = constant(revalidateRegion);
    head = `const irq = c.irq; const stop = c.stopRip;
const solo = c.codeGen !== ${rs}.gen && !(${rs}.allGlobal && c.globalCodeGen === ${rs}.globalGen) && !${revalidate}(c, ${rs});`;
    tail = `c.lastBlock = ${membersOf}[b];`;
  }
  const src = `"use strict";
return function jitRegion_${members[0]!.rip.toString(16).replace('-', 'm')}(c, B, end) {
const g = c.gpr;
${head}
${tlb}
${decl}
let b = 0, xr = NaN, IC = c.instructionCount;
${lazy ? 'let LD = false, LOP = 0, LSZ = 0, LDL = 0, LDH = 0, LSL = 0, LSH = 0, LRL = 0, LRH = 0, LFL = 0;' : ''}
R: for (;;) {
switch (b) {
${body}
}
break;
}
if (xr === xr) c.rip = xr;
c.instructionCount = IC;
${lazy ? `${flushLazy};` : ''}
${store}
${tail}
};`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const factory = new Function(...names, src) as (...args: unknown[]) => CompiledBlock;
  jitStats.compiled++;
  jitStats.regionBlocks += members.length;
  return factory(...values);
}

/** What a region remembers of the translation its members were found under. */
interface RegionState {
  members: Block[];
  gen: number;
  globalGen: number;
  /** Every member's code is on a global page (survives CR3 writes). */
  allGlobal: boolean;
}

function regionState(members: Block[], cpu: Cpu): RegionState {
  const allGlobal = members.every((m) => cpu.mem.codeIsGlobal?.(m.rip) === true);
  return { members, gen: cpu.codeGen, globalGen: cpu.globalCodeGen, allGlobal };
}

/** True when every member is still what the current translation finds at its RIP (then recorded as current). */
function revalidateRegion(cpu: Cpu, rs: RegionState): boolean {
  for (let k = 1; k < rs.members.length; k++) {
    const m = rs.members[k]!;
    if (cpu.lookupBlock(m.rip) !== m) return false;
  }
  rs.gen = cpu.codeGen;
  rs.globalGen = cpu.globalCodeGen;
  return true;
}

/**
 * The code of one member block: its instructions as templates or handler calls. Early exits
 * (`break R`) leave c.rip at the next instruction to run; a normal end leaves c.rip at the
 * block's successor, for the dispatch.
 */
function blockBody(block: Block, self: string, cpu: Cpu, constant: (v: unknown) => string): { code: string; end: BlockEnd } {
  const insns = block.insns;
  const n = insns.length;
  const { live, defer } = flagLiveness(insns, cpu);
  // The record of the last flag producer whose record is written on exits only (defer[k]).
  let deferred = '';
  const body: string[] = [];
  // Instructions retired since instructionCount was last written (register-only templates
  // cannot fault, so their count is added in one go before the next instruction that can).
  let pending = 0;
  const flushCount = (): void => {
    if (pending !== 0) { body.push(`c.instructionCount += ${pending};`); pending = 0; }
  };
  const ctx: TemplateContext = { cpu, constant, flagSrc: null };
  let end: BlockEnd = { kind: 'leave' };
  for (let k = 0; k < n; k++) {
    const i: DecodedInsn = insns[k]!;
    const last = k === n - 1;
    const t = templateFor(i, ctx, live[k]!);
    if (t !== null) {
      jitStats.templated++;
      if (t.mayThrow && !t.code.includes(PENDING_COUNT)) flushCount();
      if (t.needsRip) body.push(`c.rip = ${lit(i.next)};`);
      let code = t.code.split(PENDING_FLAGS).join(deferred);
      const at = code.indexOf(RECORD_START);
      if (at >= 0) {
        // Its own record: on the fast path, or (register operands, so its locals stay in scope)
        // deferred to the exits that follow.
        const to = code.indexOf(RECORD_END, at);
        const record = code.slice(at + RECORD_START.length, to);
        const moved = defer[k]! && !t.mayThrow;
        code = code.slice(0, at) + (moved ? '' : record) + code.slice(to + RECORD_END.length);
        deferred = moved ? record : '';
      } else if (t.flags === 'write' || t.flags === 'merge') {
        // A newer record (or none, when dead: then no exit comes before the next writer).
        deferred = '';
      }
      body.push(code.split(PENDING_COUNT).join(pending !== 0 ? `c.instructionCount += ${pending}; ` : ''));
      pending++;
      if (t.branch) {
        // Branch templates end the block and set c.rip themselves.
        flushCount();
        const targets = branchTargets(i);
        end = targets !== null ? { kind: 'static', targets } : { kind: 'dynamic' };
        break;
      }
      if (t.memAccess && !last) {
        flushCount();
        body.push(`if (c.blockExit || !${self}.valid) { ${deferred} xr = ${lit(i.next)}; break R; }`);
      }
      if (last) {
        flushCount();
        body.push(`c.rip = ${lit(i.next)};`);
        end = i.endsBlock ? { kind: 'leave' } : { kind: 'static', targets: [i.next] };
      }
      continue;
    }
    jitStats.calls++;
    const opKey = `${i.map}:${i.op.toString(16)}${i.modrm >= 0 ? `/${(i.modrm >> 3) & 7}` : ''} s${i.opSize}${i.hasMem ? ' m' : ''}`;
    untemplated.set(opKey, (untemplated.get(opKey) ?? 0) + 1);
    ctx.flagSrc = null;
    deferred = '';
    flushCount();
    const h = constant(i.exec);
    const ic = constant(i);
    body.push(`c.rip = ${lit(i.next)}; ${handlerCall(h, ic)} c.instructionCount++;`);
    if (!last) body.push(`if (c.rip !== ${lit(i.next)} || c.blockExit || !${self}.valid) break R;`);
    // A handler that ends its block (system instructions, indirect branches, STI/MOV SS with
    // their interrupt shadow) returns to the run loop; one at a length or page limit may go on.
    else end = i.endsBlock ? { kind: 'leave' } : { kind: 'static', targets: [i.next] };
  }
  flushCount();
  return { code: body.join('\n'), end };
}

/**
 * Dead-flag analysis: live[k] is false when the arithmetic flags instruction k writes are
 * overwritten by a later instruction of the block before anything can observe them. Anything
 * that calls a handler or reads the lazy flag record keeps them live; so does the block's end.
 * When only slow-path exits (a TLB miss before a memory access) could observe them, defer[k]:
 * the record is written on those exits instead of on the fast path. A Jcc/SETcc/CMOVcc/ADC/SBB whose condition or
 * carry is fused with the last flag producer (computed from its operand locals, templates.ts
 * condition()/carryIn()) does not read the record: it does not keep it live (mpihelp_submul_1's
 * loop wrote three 8-field records per iteration that only fused readers used).
 */
function flagLiveness(insns: readonly DecodedInsn[], cpu: Cpu): { live: boolean[]; defer: boolean[] } {
  const n = insns.length;
  const live = new Array<boolean>(n).fill(true);
  const defer = new Array<boolean>(n).fill(false);
  // Forward: which flag readers read the record, replaying compileRegion's flag-source tracking.
  let readsRecord = false;
  const scratch: TemplateContext = {
    cpu, flagSrc: null,
    constant: (v: unknown): string => { if (RECORD_READERS.has(v)) readsRecord = true; return 'k'; },
  };
  const templates: (Template | null)[] = [];
  const fused: boolean[] = [];
  const replaces: boolean[] = [];
  for (let k = 0; k < n; k++) {
    readsRecord = false;
    const before = scratch.flagSrc;
    const t = templateFor(insns[k]!, scratch, true);
    if (t === null) scratch.flagSrc = null;
    templates.push(t);
    fused.push(!readsRecord);
    replaces.push(scratch.flagSrc !== null && scratch.flagSrc !== before);
  }
  // Backward, two levels: `hard` when something in the region reads the record (an unfused
  // reader, a handler call, the block's end), `exit` when only a slow-path exit before the next
  // flag writer could let the interpreter see it.
  let hard = true; let exit = true;
  for (let k = n - 1; k >= 0; k--) {
    live[k] = hard || exit;
    defer[k] = !hard && exit;
    const t = templates[k]!;
    if (t === null) { hard = true; exit = true; continue; }
    if (t.flags === 'write') { hard = false; exit = false; }
    else if (t.flags === 'read') {
      // A fused reader: one that also writes the flags (ADC/SBB) overwrites them all; one that
      // does not (Jcc, SETcc, CMOVcc) is transparent.
      if (!fused[k]) hard = true;
      else if (replaces[k]) { hard = false; exit = false; }
    } else if (t.flags === 'merge') {
      // INC/DEC and rotates read the old record when they write their own, at once.
      hard = hard || exit;
    }
    // A slow path leaves before the instruction: the flags before it may be seen then.
    if (t.mayThrow) exit = true;
  }
  return { live, defer };
}

/** The Cpu's lazy flag fields and the region locals that hold them (compileRegion). */
const LAZY_LOCALS: Record<string, string> = {
  lazyOp: 'LOP', lazySize: 'LSZ', lazyDstLo: 'LDL', lazyDstHi: 'LDH', lazySrcLo: 'LSL', lazySrcHi: 'LSH',
  lazyResLo: 'LRL', lazyResHi: 'LRH', lazyFlags: 'LFL',
};
const LAZY_FIELD_WRITE = /\bc\.(lazyOp|lazySize|lazyDstLo|lazyDstHi|lazySrcLo|lazySrcHi|lazyResLo|lazyResHi|lazyFlags) = /g;

/** Functions through which templates read the lazy flag record (unfused conditions, carries). */
const RECORD_READERS = new Set<unknown>([testCondition, computeCF, computeArithFlags, setLazyIncDec]);

/** The generated source of a block (for debugging and tests). */
export function compiledSource(block: Block, cpu: Cpu): string {
  return compileBlock(block, cpu).toString();
}
