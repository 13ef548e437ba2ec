// Block JIT: turns a hot decoded block into one JavaScript function (built with `new Function`),
// the way a threaded-code translator does. The generated function replays the block's
// instructions with their operands baked in as constants:
// - instructions with a template (templates.ts) become straight-line JS on `cpu.gpr` and the
//   lazy-flag fields, with no handler call and no Insn access;
// - the others call their interpreter handler through a per-instruction constant
//   (`h3(c, i3)`), a monomorphic call site V8 can inline, instead of the interpreter loop's
//   megamorphic `i.exec(cpu, i)`.
//
// Contract with Cpu.runBlock (cpu.ts), which calls a compiled block only when the whole block
// fits in the instruction budget and no interrupt shadow is pending:
// - cpu.instructionCount is exact before every instruction that may throw or call out, so after
//   a CpuFault the faulting instruction is insns[instructionCount - countAtEntry];
// - cpu.rip is the next instruction's address before every handler call (what handlers expect)
//   and when the function returns;
// - after an instruction that may end the block early (handler calls: RIP change, blockExit;
//   memory writes: a write into this block's page invalidates it, an MMIO access may request an
//   exit) the same checks as the interpreter loop run and the function returns.

import { setFlagsFromString } from 'node:v8';
import type { Block } from '../block-cache.js';
import type { Cpu } from '../cpu.js';
import type { DecodedInsn } from '../decoder.js';
import { templateFor, type TemplateContext } from './templates.js';

/** A compiled block: runs the block from its first instruction on `cpu`. */
export type CompiledBlock = (cpu: Cpu, block: Block) => void;

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

/**
 * `%OptimizeFunctionOnNextCall` through V8's natives syntax (enabled for code compiled after the
 * flag is set, i.e. only our generated functions use it); a no-op where it is unavailable
 * (TSHV_JIT_FORCE_OPT=0 too). By default the optimization runs on V8's background compiler
 * thread ("concurrent"): TurboFan takes milliseconds per block, several seconds of a 30 s
 * boot on the vCPU thread; the block keeps running unoptimized for the few calls until the code
 * is installed. TSHV_JIT_FORCE_OPT=sync optimizes on the vCPU thread, before the next call.
 */
const optimizeOnNextCall: (f: CompiledBlock) => void = ((): ((f: CompiledBlock) => void) => {
  const mode = env['TSHV_JIT_FORCE_OPT'];
  if (mode === '0') return () => {};
  try {
    setFlagsFromString('--allow-natives-syntax');
    const call = mode === 'sync' ? '%OptimizeFunctionOnNextCall(f);' : '%OptimizeFunctionOnNextCall(f, "concurrent");';
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    return new Function('f', call) as (f: CompiledBlock) => void;
  } catch {
    return () => {};
  }
})();

/** Asks V8 to optimize a compiled block on its next call (see jitOptimizeAt). */
export function optimizeCompiled(f: CompiledBlock): void {
  jitStats.optimized++;
  optimizeOnNextCall(f);
}

function parseCount(s: string | undefined, fallback: number): number {
  if (s === undefined || s === '') return fallback;
  const n = Number(s);
  return Number.isInteger(n) && n >= 0 ? n : fallback;
}

/** Statistics for TSHV_STATS and tests. */
export const jitStats = { compiled: 0, templated: 0, calls: 0, optimized: 0, compileMs: 0 };

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
 * Compiles `block` to a function. Never throws for an instruction it does not know: such
 * instructions call their handler.
 */
export function compileBlock(block: Block, cpu: Cpu): CompiledBlock {
  const t0 = performance.now();
  const f = compileBlockSource(block, cpu);
  jitStats.compileMs += performance.now() - t0;
  return f;
}

function compileBlockSource(block: Block, cpu: Cpu): CompiledBlock {
  const insns = block.insns;
  const n = insns.length;
  const live = flagLiveness(insns, cpu);
  const names: string[] = [];
  const values: unknown[] = [];
  const body: string[] = [];
  // Instructions retired since instructionCount was last written (register-only templates
  // cannot fault, so their count is added in one go before the next instruction that can).
  let pending = 0;
  const flushCount = (): void => {
    if (pending !== 0) { body.push(`c.instructionCount += ${pending};`); pending = 0; }
  };
  const ctx: TemplateContext = {
    cpu,
    constant: (v: unknown): string => { const id = `k${names.length}`; names.push(id); values.push(v); return id; },
    flagSrc: null,
  };
  for (let k = 0; k < n; k++) {
    const i: DecodedInsn = insns[k]!;
    const last = k === n - 1;
    const t = templateFor(i, ctx, live[k]!);
    if (t !== null) {
      jitStats.templated++;
      if (t.mayThrow) flushCount();
      if (t.needsRip) body.push(`c.rip = ${lit(i.next)};`);
      body.push(t.code);
      pending++;
      if (t.branch) {
        // Branch templates end the block and set c.rip themselves.
        flushCount();
        body.push('return;');
        break;
      }
      if (t.memAccess && !last) {
        flushCount();
        body.push(`if (c.blockExit || !B.valid) { c.rip = ${lit(i.next)}; return; }`);
      }
      if (last) { flushCount(); body.push(`c.rip = ${lit(i.next)};`); }
      continue;
    }
    jitStats.calls++;
    const opKey = `${i.map}:${i.op.toString(16)}${i.modrm >= 0 ? `/${(i.modrm >> 3) & 7}` : ''} s${i.opSize}${i.hasMem ? ' m' : ''}`;
    untemplated.set(opKey, (untemplated.get(opKey) ?? 0) + 1);
    ctx.flagSrc = null;
    flushCount();
    const h = ctx.constant(i.exec);
    const ic = ctx.constant(i);
    body.push(`c.rip = ${lit(i.next)}; ${h}(c, ${ic}); c.instructionCount++;`);
    if (!last) body.push(`if (c.rip !== ${lit(i.next)} || c.blockExit || !B.valid) return;`);
  }
  flushCount();
  const src = `"use strict";\nreturn function jitBlock(c, B) {\nconst g = c.gpr;\n${body.join('\n')}\n};`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const factory = new Function(...names, src) as (...args: unknown[]) => CompiledBlock;
  jitStats.compiled++;
  return factory(...values);
}

/**
 * Dead-flag analysis: live[k] is false when the arithmetic flags instruction k writes are
 * overwritten by a later instruction of the block before anything can observe them. Anything
 * that may fault (an exception handler sees RFLAGS), calls a handler or reads flags keeps them
 * live; so does the block's end.
 */
function flagLiveness(insns: readonly DecodedInsn[], cpu: Cpu): boolean[] {
  const n = insns.length;
  const live = new Array<boolean>(n).fill(true);
  const scratch: TemplateContext = { cpu, constant: () => 'k', flagSrc: null };
  let liveAfter = true;
  for (let k = n - 1; k >= 0; k--) {
    live[k] = liveAfter;
    const t = templateFor(insns[k]!, scratch, true);
    if (t === null || t.mayThrow || t.flags === 'read') liveAfter = true;
    else if (t.flags === 'write') liveAfter = false;
    // 'none' and 'merge' leave liveness as it is after them.
  }
  return live;
}

/** The generated source of a block (for debugging and tests). */
export function compiledSource(block: Block, cpu: Cpu): string {
  return compileBlock(block, cpu).toString();
}
