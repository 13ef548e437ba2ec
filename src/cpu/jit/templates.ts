// Code templates of the block JIT (block-compiler.ts): JS source for the hottest 64-bit-mode
// instructions with their operands baked in. Each template must do exactly what the
// interpreter handler does (same registers, memory accesses in the same order, same lazy-flag
// record), so blocks give bit-identical results compiled or not.
//
// Generated code sees: `c` (the Cpu), `g` (c.gpr, whose constant-index accesses the region
// compiler turns into register locals) and constants made with ctx.constant(); it runs inside
// the region's `R:` loop. A template whose fast path does not apply at run time (an address
// outside the exact-arithmetic range, a non-canonical stack) leaves the region before the
// instruction (slowPath), before any state has changed, and the interpreter runs it.
//
// Only 64-bit code (CS.L = 1, 64-bit addressing) gets templates: blocks are keyed by code
// size, so a 64-bit block always runs in 64-bit mode, where segment limits do not apply and
// branch targets only need the canonical check (SDM Vol. 3A §3.3.7.1), done at compile time.

import type { Cpu } from '../cpu.js';
import type { DecodedInsn } from '../decoder.js';
import { OpMap, Prefix, BASE_RIP } from '../insn.js';
import { LazyOp, PARITY, computeArithFlags, computeCF, setLazyIncDec, testCondition } from '../flags.js';
import { Seg } from '../state.js';
import { TLB_SIZE } from '../mmu.js';
import { bswapTemplate, imulTemplate, mulWideTemplate } from './templates-mul.js';

export interface TemplateContext {
  cpu: Cpu;
  /** Makes a value available to the generated code; returns its identifier. */
  constant(v: unknown): string;
  /** The last flag-setting template whose operands are still in locals (for Jcc/SETcc/CMOVcc fusion). */
  flagSrc?: FlagSource | null;
}

/** Operand locals of a SUB/CMP or logic template, for evaluating conditions without lazy flags. */
export interface FlagSource {
  /**
   * incdec: only ZF and SF can be derived from the locals (CF/OF/AF come from the lazy record);
   * add/adc/sbb: CF, ZF and SF (adc/sbb with the carry-in local `cin`).
   */
  kind: 'sub' | 'logic' | 'incdec' | 'add' | 'adc' | 'sbb';
  size: 1 | 4 | 8;
  /** Locals: dst/src/result low halves (and high halves for size 8). */
  d: string; s: string; r: string; dh: string; sh: string; rh: string;
  /** Carry-in local (0 or 1) of an ADC/SBB source. */
  cin?: string;
}

export interface Template {
  code: string;
  /**
   * May fault or leave the region before it completes, when the interpreter runs it and may
   * fault (flags stay live before it; instructionCount must be exact before it unless its code
   * brings it up to date itself at PENDING_COUNT).
   */
  mayThrow: boolean;
  /**
   * Writes memory (a write may invalidate the region's code). Inline reads need no check: they
   * hit RAM through the TLB or leave the region.
   */
  memAccess: boolean;
  /** Needs cpu.rip = next before it runs (it may call the handler). */
  needsRip: boolean;
  /** Ends the block and sets cpu.rip itself. */
  branch: boolean;
  /**
   * Effect on the six arithmetic flags: none, all written without reading, read, or 'merge':
   * writes some and keeps the others (rotates, INC/DEC), which reads the old flags only when its
   * own result flags are live, so it is transparent to the dead-flag analysis.
   */
  flags: 'none' | 'write' | 'read' | 'merge';
}

const CANON = 0x800000000000;
const TWO32 = 4294967296;

/** Alu ops of the 00-3F rows (SDM Vol. 2 Table A-2): ADD OR ADC SBB AND SUB XOR CMP. */
const ALU_ADD = 0; const ALU_OR = 1; const ALU_ADC = 2; const ALU_SBB = 3; const ALU_AND = 4; const ALU_SUB = 5; const ALU_CMP = 7; // XOR (6) is the remaining logic op

let uid = 0;

function lit(n: number): string {
  return n < 0 ? `(${n})` : String(n);
}

function isCanonical(a: number): boolean {
  return a >= -CANON && a < CANON;
}

/**
 * JS statements computing the linear address of i's memory operand into `a<k>`, or null when
 * this form is left to the handler. `slow` is the statement to run when the fast computation
 * does not apply (it must not fall through to code using the address).
 */
function emitAddress(i: DecodedInsn, ctx: TemplateContext, v: string): { pre: string; cond: string } | null {
  if (i.addrSize !== 8) return null;
  if (i.base === BASE_RIP) {
    if (i.index >= 0) return null;
    const a = i.next + i.disp;
    if (!isCanonical(a)) return null;
    if (i.seg >= Seg.FS) return null;
    return { pre: `const ${v} = ${lit(a)};`, cond: 'true' };
  }
  const parts: string[] = [];
  const checks: string[] = [];
  if (i.base >= 0) {
    const k = i.base << 1;
    parts.push(`(g[${k + 1}] | 0) * ${TWO32} + g[${k}]`);
    checks.push(`g[${k + 1}]`);
  }
  if (i.index >= 0) {
    const k = i.index << 1;
    parts.push(`((g[${k + 1}] | 0) * ${TWO32} + g[${k}]) * ${i.scale}`);
    checks.push(`g[${k + 1}]`);
  }
  if (i.disp !== 0 || parts.length === 0) parts.push(lit(i.disp));
  // Each register term is exact when its high half is within ±2^20 (|value| < 2^52), and so is
  // the sum: then a canonical offset (checked by offset(), SDM §3.3.7.1) plus the FS/GS base,
  // again canonical, is the address. Anything else goes to the handler, which faults or folds.
  const conds = checks.map((h) => `((${h} + 0x100000) >>> 21) === 0`);
  if (i.seg >= Seg.FS) {
    conds.push(`o${v} >= ${-CANON}`, `o${v} < ${CANON}`, `${v} >= ${-CANON}`, `${v} < ${CANON}`);
    return { pre: `const o${v} = ${parts.join(' + ')}; const ${v} = o${v} + c.seg[${i.seg}].base;`, cond: conds.join(' && ') };
  }
  conds.push(`${v} >= ${-CANON}`, `${v} < ${CANON}`);
  return { pre: `const ${v} = ${parts.join(' + ')};`, cond: conds.join(' && ') };
}

/** Reads of a 4/8-byte register operand into locals `lo`/`hi`. */
function regRead(reg: number, size: number, lo: string, hi: string): string {
  const k = reg << 1;
  return size === 8 ? `const ${lo} = g[${k}], ${hi} = g[${k + 1}];` : `const ${lo} = g[${k}], ${hi} = 0;`;
}

function regWrite(reg: number, size: number, lo: string, hi: string): string {
  const k = reg << 1;
  return size === 8 ? `g[${k}] = ${lo}; g[${k + 1}] = ${hi};` : `g[${k}] = ${lo}; g[${k + 1}] = 0;`;
}

function memRead(size: number, a: string, lo: string, hi: string): string {
  return size === 8 ? `const ${lo} = c.mem.read64(${a}), ${hi} = c.mem.hi;` : `const ${lo} = c.mem.read32(${a}), ${hi} = 0;`;
}

function memWrite(size: number, a: string, lo: string, hi: string): string {
  return size === 8 ? `c.mem.write64(${a}, ${lo}, ${hi});` : `c.mem.write32(${a}, ${lo});`;
}

/** ALU computation on (d, dh) op (s, sh) into (r, rh) plus the lazy-flag record (when live). */
function aluCode(op: number, size: 4 | 8, n: string, live: boolean): { code: string; kind: 'sub' | 'logic' | 'add' | 'adc' | 'sbb' } {
  const d = `d${n}`; const s = `s${n}`; const dh = `dh${n}`; const sh = `sh${n}`; const r = `r${n}`; const rh = `rh${n}`;
  const cin = `cin${n}`;
  let code: string;
  let kind: 'sub' | 'logic' | 'add' | 'adc' | 'sbb';
  let lazy: string;
  if (op === ALU_ADC) {
    // alu()/alu64() with carry-in c: recorded as Adc1 when c = 1, else as Add.
    kind = 'adc';
    if (size === 8) code = `const t${n} = ${d} + ${s} + ${cin}; const ${r} = t${n} >>> 0; const ${rh} = (${dh} + ${sh} + (t${n} > 0xffffffff ? 1 : 0)) >>> 0;`;
    else code = `const ${r} = (${d} + ${s} + ${cin}) >>> 0; const ${rh} = 0;`;
    lazy = `c.lazyOp = ${cin} !== 0 ? ${LazyOp.Adc1} : ${LazyOp.Add};`;
  } else if (op === ALU_SBB) {
    kind = 'sbb';
    if (size === 8) code = `const t${n} = ${d} - ${s} - ${cin}; const ${r} = t${n} >>> 0; const ${rh} = (${dh} - ${sh} - (t${n} < 0 ? 1 : 0)) >>> 0;`;
    else code = `const ${r} = (${d} - ${s} - ${cin}) >>> 0; const ${rh} = 0;`;
    lazy = `c.lazyOp = ${cin} !== 0 ? ${LazyOp.Sbb1} : ${LazyOp.Sub};`;
  } else if (op === ALU_ADD) {
    kind = 'add';
    if (size === 8) code = `const t${n} = ${d} + ${s}; const ${r} = t${n} >>> 0; const ${rh} = (${dh} + ${sh} + (t${n} > 0xffffffff ? 1 : 0)) >>> 0;`;
    else code = `const ${r} = (${d} + ${s}) >>> 0; const ${rh} = 0;`;
    lazy = `c.lazyOp = ${LazyOp.Add};`;
  } else if (op === ALU_SUB || op === ALU_CMP) {
    kind = 'sub';
    if (size === 8) code = `const t${n} = ${d} - ${s}; const ${r} = t${n} >>> 0; const ${rh} = (${dh} - ${sh} - (t${n} < 0 ? 1 : 0)) >>> 0;`;
    else code = `const ${r} = (${d} - ${s}) >>> 0; const ${rh} = 0;`;
    lazy = `c.lazyOp = ${LazyOp.Sub};`;
  } else {
    kind = 'logic';
    const o = op === ALU_OR ? '|' : op === ALU_AND ? '&' : '^';
    code = `const ${r} = (${d} ${o} ${s}) >>> 0; const ${rh} = ${size === 8 ? `(${dh} ${o} ${sh}) >>> 0` : '0'};`;
    lazy = `c.lazyOp = ${LazyOp.Logic};`;
  }
  if (live) {
    // Same record as setLazy (size 4) / setLazy64 (size 8; logic ops record zero operands).
    lazy += ` c.lazySize = ${size};`;
    if (size === 8) {
      if (kind === 'logic') lazy += ` c.lazyDstLo = 0; c.lazyDstHi = 0; c.lazySrcLo = 0; c.lazySrcHi = 0;`;
      else lazy += ` c.lazyDstLo = ${d}; c.lazyDstHi = ${dh}; c.lazySrcLo = ${s}; c.lazySrcHi = ${sh};`;
      lazy += ` c.lazyResLo = ${r}; c.lazyResHi = ${rh};`;
    } else {
      lazy += ` c.lazyDstLo = ${d}; c.lazySrcLo = ${s}; c.lazyResLo = ${r};`;
    }
    code += ` ${RECORD_START}${lazy}${RECORD_END}`;
  }
  return { code, kind };
}

/** A JS boolean expression for condition cc (SDM Vol. 1 Table B-1), fused with the last flag setter when possible. */
function condition(cc: number, ctx: TemplateContext): string {
  const f = ctx.flagSrc ?? null;
  const neg = (cc & 1) !== 0;
  let e: string | null = null;
  if (f !== null) {
    const { d, s, r, dh, sh, rh } = f;
    const z = f.size === 8 ? `(${r} | ${rh}) === 0` : `${r} === 0`;
    const sign = f.size === 8 ? `(${rh} >>> 31) !== 0` : f.size === 4 ? `(${r} >>> 31) !== 0` : `(${r} & 0x80) !== 0`;
    // Signed views of size-4 and size-1 operands.
    const sd = f.size === 1 ? `((${d} << 24) >> 24)` : `(${d} | 0)`;
    const ss = f.size === 1 ? `((${s} << 24) >> 24)` : `(${s} | 0)`;
    const partial = f.kind === 'incdec' || f.kind === 'add' || f.kind === 'adc' || f.kind === 'sbb';
    switch (partial && (cc >> 1) !== 2 && (cc >> 1) !== 4 && ((cc >> 1) !== 1 || f.kind === 'incdec') ? -1 : cc >> 1) {
      case 1: e = f.kind === 'add' || f.kind === 'adc' || f.kind === 'sbb' ? carryOf(f) : f.kind === 'logic' ? 'false' : f.size === 8 ? `(${dh} !== ${sh} ? ${dh} < ${sh} : ${d} < ${s})` : `${d} < ${s}`; break;
      case 2: e = z; break;
      case 3: e = f.kind === 'logic' ? z : f.size === 8 ? `(${dh} !== ${sh} ? ${dh} < ${sh} : ${d} <= ${s})` : `${d} <= ${s}`; break;
      case 4: e = sign; break;
      case 6: e = f.kind === 'logic' ? sign : f.size === 8 ? `(${dh} !== ${sh} ? (${dh} | 0) < (${sh} | 0) : ${d} < ${s})` : `${sd} < ${ss}`; break;
      case 7: e = f.kind === 'logic' ? `(${z} || ${sign})` : f.size === 8 ? `(${dh} !== ${sh} ? (${dh} | 0) < (${sh} | 0) : ${d} <= ${s})` : `${sd} <= ${ss}`; break;
      default: e = null; // O, P: from the lazy record
    }
  }
  if (e === null) {
    const tc = ctx.constant(testCondition);
    return `${tc}(c, ${cc})`;
  }
  return neg ? `!(${e})` : `(${e})`;
}

/** CF after an ADD/ADC/SBB flag source, from its locals (unsigned compares on uint32 halves). */
function carryOf(f: FlagSource): string {
  const { d, s, r, dh, sh, rh } = f;
  const cin = f.cin ?? '0';
  if (f.kind === 'add') return f.size === 8 ? `(${rh} !== ${dh} ? ${rh} < ${dh} : ${r} < ${d})` : `${r} < ${d}`;
  if (f.kind === 'adc') {
    const low = `(${cin} !== 0 ? ${r} <= ${d} : ${r} < ${d})`;
    return f.size === 8 ? `(${rh} !== ${dh} ? ${rh} < ${dh} : ${low})` : low;
  }
  // SBB: borrow out of dst - src - cin.
  const low = `(${cin} !== 0 ? ${d} <= ${s} : ${d} < ${s})`;
  return f.size === 8 ? `(${dh} !== ${sh} ? ${dh} < ${sh} : ${low})` : low;
}

/** JS expression (0 or 1) for CF as an ADC/SBB carry-in: from the last flag source's locals when possible. */
function carryIn(ctx: TemplateContext): string {
  const f = ctx.flagSrc ?? null;
  if (f !== null && f.kind !== 'incdec') {
    const e = f.kind === 'logic' ? 'false' : f.kind === 'sub' ? (f.size === 8 ? `(${f.dh} !== ${f.sh} ? ${f.dh} < ${f.sh} : ${f.d} < ${f.s})` : `${f.d} < ${f.s}`) : carryOf(f);
    return `(${e} ? 1 : 0)`;
  }
  return `(${ctx.constant(computeCF)}(c) ? 1 : 0)`;
}

/**
 * Where a slow path must bring cpu.instructionCount up to date (the region compiler puts the
 * instructions retired since its last update there): inline memory accesses cannot fault, so
 * templates keep the count exact only on their way out.
 */
export const PENDING_COUNT = '/*PEND*/';

/**
 * When a template's fast path does not apply, the region (block-compiler.ts) ends before the
 * instruction, with c.rip at it (through the region's exit local `xr`) and nothing of it done:
 * the run loop's interpreter runs it.
 */
function slowPath(i: DecodedInsn): string {
  return `${PENDING_FLAGS}${PENDING_COUNT}xr = ${lit(i.rip)}; break R;`;
}

/**
 * Where a slow path must write a lazy flag record that the region compiler deferred: a producer
 * whose flags nothing reads in the region, but that the interpreter would see if the region left
 * before the next flag writer, records them only on the way out.
 */
export const PENDING_FLAGS = '/*PFLAGS*/';

/**
 * Around the lazy flag record of a register-operand ALU template (its locals are in the region's
 * scope, so the compiler may move the record to later exits; see PENDING_FLAGS).
 */
export const RECORD_START = '/*REC<*/';
export const RECORD_END = '/*REC>*/';

function t(code: string, o: Partial<Template> = {}): Template {
  return { code, mayThrow: false, memAccess: false, needsRip: false, branch: false, flags: 'none', ...o };
}

/**
 * The template for one instruction, or null (the compiler then calls its handler). `live` says
 * whether the arithmetic flags it writes may be read later (false: skip recording them).
 */
export function templateFor(i: DecodedInsn, ctx: TemplateContext, live: boolean): Template | null {
  const cpu = ctx.cpu;
  if (cpu.codeBits !== 64) return null;
  if (i.exec !== cpu.table.get(i.map, i.op, i.mandatory)) return null; // e.g. #UD forms
  if ((i.prefixes & Prefix.LOCK) !== 0) return null;
  const n = String(uid++);
  const size = i.opSize;
  const op = i.op;
  if (i.map === OpMap.Primary) {
    // ---- ALU r/m, reg / reg, r/m / rAX, imm (00-3D), group 1 (81, 83), TEST (85, A9)
    if (op < 0x40 && (op & 7) <= 5 && (op & 7) !== 2 && (op & 7) !== 4 && (size === 4 || size === 8)) {
      const aluOp = op >> 3;
      const form = op & 7; // 1: E,G  3: G,E  5: rAX,imm
      return aluTemplate(i, ctx, aluOp, size, form === 1 ? 'EG' : form === 3 ? 'GE' : 'AI', n, live);
    }
    if ((op === 0x81 || op === 0x83) && (size === 4 || size === 8)) {
      const aluOp = (i.modrm >> 3) & 7;
      return aluTemplate(i, ctx, aluOp, size, 'EI', n, live);
    }
    if (op === 0x85 && (size === 4 || size === 8)) return aluTemplate(i, ctx, ALU_AND, size, 'TEST', n, live);
    // TEST r/m, imm (F7 /0) and TEST rAX, imm (A9)
    if (((op === 0xf7 && ((i.modrm >> 3) & 7) === 0) || op === 0xa9) && (size === 4 || size === 8)) {
      return aluTemplate(i, ctx, ALU_AND, size, op === 0xa9 ? 'TAI' : 'TEI', n, live);
    }
    // NOT / NEG r32/r64 (F7 /2, /3)
    if (op === 0xf7 && !i.hasMem && (size === 4 || size === 8) && (((i.modrm >> 3) & 7) === 2 || ((i.modrm >> 3) & 7) === 3)) {
      const k = i.rm << 1;
      if (((i.modrm >> 3) & 7) === 2) return t(size === 8 ? `g[${k}] = ~g[${k}]; g[${k + 1}] = ~g[${k + 1}];` : `g[${k}] = ~g[${k}]; g[${k + 1}] = 0;`);
      // NEG: 0 - value, flags as SUB (alu/alu64 with a zero destination).
      const src = `const d${n} = 0, dh${n} = 0; ${regRead(i.rm, size, `s${n}`, `sh${n}`)}`;
      const { code } = aluCode(ALU_SUB, size, n, live);
      ctx.flagSrc = { kind: 'sub', size, d: `d${n}`, s: `s${n}`, r: `r${n}`, dh: `dh${n}`, sh: `sh${n}`, rh: `rh${n}` };
      return t(`${src} ${code} ${regWrite(i.rm, size, `r${n}`, `rh${n}`)}`, { flags: 'write' });
    }
    // ---- Byte forms: CMP r/m8, imm8 (80 /7), CMP AL, imm8 (3C), TEST r/m8, r8 (84), TEST r/m8, imm8 (F6 /0), MOV (88, 8A, C6 /0)
    if (size === 1 && (op === 0x80 || op === 0x3c || op === 0x84 || op === 0xf6 || op === 0x88 || op === 0x8a || op === 0xc6)) return byteTemplate(i, ctx, n, live);
    // ---- Shifts and rotates by a constant count (C1, D1), register operand
    if ((op === 0xc1 || op === 0xd1) && !i.hasMem && (size === 4 || size === 8)) {
      return shiftTemplate(i, ctx, size, (i.modrm >> 3) & 7, op === 0xd1 ? 1 : i.imm & 0xff, n, live);
    }
    // ---- INC/DEC r32/r64 (FF /0, FF /1): CF is kept, so it is read (setLazyIncDec)
    if (op === 0xff && !i.hasMem && ((i.modrm >> 3) & 7) <= 1 && (size === 4 || size === 8)) {
      const dec = ((i.modrm >> 3) & 7) === 1;
      const k = i.rm << 1;
      const lo = `v${n}`; const hi = `vh${n}`;
      ctx.flagSrc = { kind: 'incdec', size, d: '0', s: '0', r: lo, dh: '0', sh: '0', rh: hi };
      const calc = size === 8
        ? (dec ? `const ${lo} = (g[${k}] - 1) >>> 0; const ${hi} = g[${k}] === 0 ? (g[${k + 1}] - 1) >>> 0 : g[${k + 1}];`
          : `const ${lo} = (g[${k}] + 1) >>> 0; const ${hi} = ${lo} === 0 ? (g[${k + 1}] + 1) >>> 0 : g[${k + 1}];`)
        : `const ${lo} = (g[${k}] ${dec ? '-' : '+'} 1) >>> 0; const ${hi} = 0;`;
      const record = live ? ` ${ctx.constant(setLazyIncDec)}(c, ${dec ? LazyOp.Dec : LazyOp.Inc}, ${size}, ${lo}, ${hi});` : '';
      return t(`${calc}${record} g[${k}] = ${lo}; g[${k + 1}] = ${hi};`, { flags: 'merge' });
    }
    // ---- NOP (90 without REX.B; XCHG eAX, eAX does not zero-extend; F3 90 PAUSE goes to the handler)
    if (op === 0x90 && i.rm === 0 && (i.prefixes & Prefix.REP) === 0) return t('');
    // ---- MOV
    if ((op === 0x89 || op === 0x8b) && (size === 4 || size === 8)) return movTemplate(i, ctx, size, op === 0x89, n);
    if (op >= 0xb8 && op <= 0xbf && (size === 4 || size === 8)) {
      return t(regWrite(i.rm, size, lit(i.imm >>> 0), lit(size === 8 ? i.immHi >>> 0 : 0)));
    }
    if (op === 0xc7 && ((i.modrm >> 3) & 7) === 0 && (size === 4 || size === 8)) {
      const lo = lit(i.imm >>> 0); const hi = lit(size === 8 ? i.immHi >>> 0 : 0);
      if (!i.hasMem) return t(regWrite(i.rm, size, lo, hi));
      return memTemplate(i, ctx, n, memWrite(size, `a${n}`, lo, hi), 'none');
    }
    // ---- LEA (64-bit address size)
    if (op === 0x8d && i.hasMem && i.addrSize === 8 && (size === 4 || size === 8) && i.seg < Seg.FS) return leaTemplate(i, size, n);
    // ---- MOVSXD
    if (op === 0x63 && size === 8) {
      const k = i.reg << 1;
      const store = `g[${k}] = v${n}; g[${k + 1}] = (v${n} | 0) < 0 ? 0xffffffff : 0;`;
      if (!i.hasMem) return t(`const v${n} = g[${i.rm << 1}]; ${store}`);
      return memTemplate(i, ctx, n, `const v${n} = c.mem.read32(a${n}); ${store}`, 'none');
    }
    // ---- MUL / IMUL r/m64 (F7 /4, /5)
    if (op === 0xf7 && (((i.modrm >> 3) & 7) === 4 || ((i.modrm >> 3) & 7) === 5) && size === 8) {
      return mulWideTemplate(i, ctx, n, live, (body) => memTemplate(i, ctx, n, body, 'write'));
    }
    // ---- IMUL r, r/m, imm (69, 6B)
    if (op === 0x69 || op === 0x6b) return imulTemplate(i, ctx, n, live, (body) => memTemplate(i, ctx, n, body, 'write'));
    // ---- Jcc rel8, JMP rel
    if (op >= 0x70 && op <= 0x7f) return jccTemplate(i, ctx, op & 15);
    if ((op === 0xe9 || op === 0xeb) && size === 8) {
      const target = i.next + (i.imm | 0);
      if (!isCanonical(target)) return null;
      return t(`c.rip = ${lit(target)};`, { branch: true });
    }
    // ---- PUSH r64 / POP r64 / CALL rel32 / RET (stack size 8 in 64-bit mode)
    if (op >= 0x50 && op <= 0x57 && size === 8) {
      const k = i.rm << 1;
      return stackTemplate(i, ctx, n, -8, `c.mem.write64(a${n}, g[${k}], g[${k + 1}]);`, '');
    }
    if (op >= 0x58 && op <= 0x5f && size === 8) {
      const k = i.rm << 1;
      // The value is read before rSP moves; POP rSP then loads the popped value (SDM POP).
      return stackTemplate(i, ctx, n, 0, `const v${n} = c.mem.read64(a${n}), vh${n} = c.mem.hi;`, `g[${k}] = v${n}; g[${k + 1}] = vh${n};`, 8);
    }
    if (op === 0xe8 && size === 8) {
      const target = i.next + (i.imm | 0);
      if (!isCanonical(target)) return null;
      const r = i.next;
      const lo = r >>> 0; const hi = Math.floor(r / TWO32) >>> 0;
      const tp = stackTemplate(i, ctx, n, -8, `c.mem.write64(a${n}, ${lit(lo)}, ${lit(hi)});`, '');
      if (tp === null) return null;
      tp.code += ` c.rip = ${lit(target)};`;
      tp.branch = true;
      return tp;
    }
    if (op === 0xc3 && size === 8) {
      // RET: pop, canonical check of the target (#GP(0) with rSP unchanged; SDM RET).
      if (cpu.mem.tlb === undefined) return null;
      const m = inlineTlb(`const v${n} = c.mem.read64(sp${n}), vh${n} = c.mem.hi;`, `sp${n}`, n);
      const code = `{ const sp${n} = (g[9] | 0) * ${TWO32} + g[8]; ${m.pre}
if (sp${n} >= ${-CANON} && sp${n} < ${CANON - 8} && ((g[9] + 0x100000) >>> 21) === 0 && ${m.cond}) {
  ${m.body}
  const tg${n} = (vh${n} | 0) * ${TWO32} + v${n};
  if (tg${n} >= ${-CANON} && tg${n} < ${CANON}) { const ns${n} = sp${n} + 8; g[8] = ns${n} >>> 0; g[9] = Math.floor(ns${n} / ${TWO32}) >>> 0; c.rip = tg${n}; }
  else { ${slowPath(i)} }
} else { ${slowPath(i)} } }`;
      return t(code, { mayThrow: true, memAccess: m.writes, branch: true });
    }
  } else if (i.map === OpMap.M0F) {
    if (op >= 0x80 && op <= 0x8f) return jccTemplate(i, ctx, op & 15);
    // IMUL r, r/m (0F AF), BSWAP (0F C8+r)
    if (op === 0xaf) return imulTemplate(i, ctx, n, live, (body) => memTemplate(i, ctx, n, body, 'write'));
    if (op >= 0xc8 && op <= 0xcf) return bswapTemplate(i);
    // NOP r/m (0F 1F /0): no memory access
    if (op === 0x1f && ((i.modrm >> 3) & 7) === 0) return t('');
    // MOVZX r32/64, r/m8 / r/m16
    if ((op === 0xb6 || op === 0xb7) && (size === 4 || size === 8)) {
      const k = i.reg << 1;
      const store = `g[${k}] = v${n}; g[${k + 1}] = 0;`;
      if (!i.hasMem) {
        if (op === 0xb6 && i.rex === 0 && i.rm >= 4 && i.rm < 8) return t(`const v${n} = (g[${(i.rm - 4) << 1}] >>> 8) & 0xff; ${store}`);
        return t(`const v${n} = g[${i.rm << 1}] & ${op === 0xb6 ? '0xff' : '0xffff'}; ${store}`);
      }
      return memTemplate(i, ctx, n, `const v${n} = c.mem.${op === 0xb6 ? 'read8' : 'read16'}(a${n}); ${store}`, 'none');
    }
    // CMOVcc r, r/m (reg form; a 32-bit destination is zero-extended either way)
    if (op >= 0x40 && op <= 0x4f && !i.hasMem && (size === 4 || size === 8)) {
      const c = condition(op & 15, ctx);
      const dk = i.reg << 1; const sk = i.rm << 1;
      const code = size === 8
        ? `if (${c}) { g[${dk}] = g[${sk}]; g[${dk + 1}] = g[${sk + 1}]; }`
        : `if (${c}) g[${dk}] = g[${sk}]; g[${dk + 1}] = 0;`;
      return t(code, { flags: 'read' });
    }
    // SETcc r8 (not AH..BH)
    if (op >= 0x90 && op <= 0x9f && !i.hasMem && (i.rex !== 0 || i.rm < 4)) {
      const c = condition(op & 15, ctx);
      const k = i.rm << 1;
      return t(`g[${k}] = (g[${k}] & 0xffffff00) | (${c} ? 1 : 0);`, { flags: 'read' });
    }
  }
  return null;
}

function jccTemplate(i: DecodedInsn, ctx: TemplateContext, cc: number): Template | null {
  const target = i.next + (i.imm | 0);
  if (!isCanonical(target) || i.opSize !== 8) return null;
  const c = condition(cc, ctx);
  return t(`c.rip = ${c} ? ${lit(target)} : ${lit(i.next)};`, { branch: true, flags: 'read'});
}

/**
 * Memory accesses inline (LinearMemory.tlb): the `c.mem.readN(a)` / `c.mem.writeN(a, ...)` /
 * `c.mem.hi` calls of a template body, all on address `a`, become TLB hit-path accesses on the
 * region's locals (block-compiler.ts: TR, TW, AD, PP, CP, V, ub). Returns the slot statement,
 * the hit condition (every access of the body hits, so the whole instruction runs without a
 * miss, a fault or MMIO: MMIO pages are never in the TLB), and the rewritten body.
 */
// The memory calls templates write (one address per template, so the address is not checked).
const RE_READ64 = /c\.mem\.read64\((\w+)\), (\w+) = c\.mem\.hi/g;
const RE_READ = /c\.mem\.read(8|16|32)\((\w+)\)/g;
const RE_WRITE64 = /c\.mem\.write64\((\w+), ([^,]+), (.+?)\);/g;
const RE_WRITE = /c\.mem\.write(8|16|32)\((\w+), (.+?)\);/g;

function inlineTlb(body: string, a: string, n: string): { pre: string; cond: string; body: string; writes: boolean } {
  const sl = `sl${n}`;
  let maxSize = 1;
  let reads = false; let writes = false;
  const at = (off: number): string => (off === 0 ? `${a} + AD[${sl}]` : `${a} + AD[${sl}] + ${off}`);
  const codeCheck = `if (CP[PP[${sl}]] !== 0) c.mem.onCodeWrite(PP[${sl}] * 4096);`;
  let out = body.replace(RE_READ64, (_m, _a: string, hi: string) => {
    reads = true; maxSize = 8;
    return `V.getUint32(${at(0)}, true), ${hi} = V.getUint32(${at(4)}, true)`;
  });
  out = out.replace(RE_READ, (_m, bits: string) => {
    reads = true; maxSize = Math.max(maxSize, Number(bits) / 8);
    return bits === '8' ? `V.getUint8(${at(0)})` : `V.getUint${bits}(${at(0)}, true)`;
  });
  out = out.replace(RE_WRITE64, (_m, _a: string, lo: string, hi: string) => {
    writes = true; maxSize = 8;
    return `V.setUint32(${at(0)}, ${lo}, true); V.setUint32(${at(4)}, ${hi}, true); ${codeCheck}`;
  });
  out = out.replace(RE_WRITE, (_m, bits: string, _a: string, v: string) => {
    writes = true; maxSize = Math.max(maxSize, Number(bits) / 8);
    return bits === '8' ? `V.setUint8(${at(0)}, ${v}); ${codeCheck}` : `V.setUint${bits}(${at(0)}, ${v}, true); ${codeCheck}`;
  });
  if (/c\.mem\.(?:read|write|hi)/.test(out)) throw new Error(`jit: memory access not inlined: ${body}`);
  const base = `${a} - (${a} & 4095)`;
  const conds: string[] = [];
  if (maxSize > 1) conds.push(`(${a} & 4095) <= ${4096 - maxSize}`);
  if (reads) conds.push(`TR[${sl}] === ${base}`);
  if (writes) conds.push(`TW[${sl}] === ${base}`);
  return { pre: `const ${sl} = (((${a} >>> 12) ^ (${a} >>> 24)) & ${TLB_SIZE - 1}) | ub;`, cond: conds.join(' && '), body: out, writes };
}

/** Memory-operand template: computes a<n>, runs `body` on the fast path, else leaves the region. */
function memTemplate(i: DecodedInsn, ctx: TemplateContext, n: string, body: string, flags: Template['flags']): Template | null {
  if (ctx.cpu.mem.tlb === undefined) return null;
  const addr = emitAddress(i, ctx, `a${n}`);
  if (addr === null) return null;
  const m = inlineTlb(body, `a${n}`, n);
  const cond = addr.cond === 'true' ? m.cond : `${addr.cond} && ${m.cond}`;
  const code = `{ ${addr.pre} ${m.pre}\nif (${cond}) { ${m.body} } else { ${slowPath(i)} } }`;
  if (flags !== 'none') ctx.flagSrc = null;
  return t(code, { mayThrow: true, memAccess: m.writes, flags });
}

/**
 * PUSH/POP/CALL on the 64-bit stack: a<n> = rSP + delta, then `access`, then rSP += the push
 * or pop size, then `after`. A stack address outside the fast range leaves the region.
 */
function stackTemplate(i: DecodedInsn, ctx: TemplateContext, n: string, delta: number, access: string, after: string, popSize = 0): Template | null {
  if (ctx.cpu.mem.tlb === undefined) return null;
  const move = popSize !== 0 ? popSize : delta;
  const m = inlineTlb(access, `a${n}`, n);
  const code = `{ const sp${n} = (g[9] | 0) * ${TWO32} + g[8]; const a${n} = sp${n} + ${lit(delta)}; ${m.pre}
if (((g[9] + 0x100000) >>> 21) === 0 && a${n} >= ${-CANON} && a${n} < ${CANON - 8} && ${m.cond}) {
  ${m.body} const ns${n} = sp${n} + ${lit(move)}; g[8] = ns${n} >>> 0; g[9] = Math.floor(ns${n} / ${TWO32}) >>> 0; ${after}
} else { ${slowPath(i)} } }`;
  return t(code, { mayThrow: true, memAccess: m.writes });
}

function movTemplate(i: DecodedInsn, ctx: TemplateContext, size: 4 | 8, toRm: boolean, n: string): Template | null {
  if (!i.hasMem) {
    const d = toRm ? i.rm : i.reg; const s = toRm ? i.reg : i.rm;
    const dk = d << 1; const sk = s << 1;
    return t(size === 8 ? `g[${dk}] = g[${sk}]; g[${dk + 1}] = g[${sk + 1}];` : `g[${dk}] = g[${sk}]; g[${dk + 1}] = 0;`);
  }
  if (toRm) {
    const k = i.reg << 1;
    return memTemplate(i, ctx, n, memWrite(size, `a${n}`, `g[${k}]`, `g[${k + 1}]`), 'none');
  }
  return memTemplate(i, ctx, n, `${memRead(size, `a${n}`, `v${n}`, `vh${n}`)} ${regWrite(i.reg, size, `v${n}`, `vh${n}`)}`, 'none');
}

function leaTemplate(i: DecodedInsn, size: 4 | 8, n: string): Template {
  // rawOffset64: the 64-bit sum wraps modulo 2^64; computed on (lo, hi) halves.
  let lo = lit(i.disp >>> 0);
  let hi = lit(i.disp < 0 ? -1 : 0);
  if (i.base === BASE_RIP) {
    const a = i.next + i.disp;
    const alo = a >>> 0; const ahi = Math.floor(a / TWO32) | 0;
    return t(size === 8 ? `g[${i.reg << 1}] = ${alo}; g[${(i.reg << 1) + 1}] = ${ahi >>> 0};` : `g[${i.reg << 1}] = ${alo}; g[${(i.reg << 1) + 1}] = 0;`);
  }
  const terms: string[] = [];
  const hiTerms: string[] = [];
  if (i.base >= 0) { terms.push(`g[${i.base << 1}]`); hiTerms.push(`g[${(i.base << 1) + 1}]`); }
  if (i.index >= 0) {
    terms.push(i.scale === 1 ? `g[${i.index << 1}]` : `g[${i.index << 1}] * ${i.scale}`);
    hiTerms.push(i.scale === 1 ? `g[${(i.index << 1) + 1}]` : `Math.imul(g[${(i.index << 1) + 1}], ${i.scale})`);
  }
  const k = i.reg << 1;
  const tot = `t${n}`;
  lo = `const ${tot} = ${[...terms, lo].join(' + ')}; const l${n} = ${tot} >>> 0;`;
  if (size === 4) return t(`${lo} g[${k}] = l${n}; g[${k + 1}] = 0;`);
  hi = `const h${n} = (${[...hiTerms, hi].join(' + ')} + (${tot} - l${n}) / ${TWO32}) >>> 0;`;
  return t(`${lo} ${hi} g[${k}] = l${n}; g[${k + 1}] = h${n};`);
}

/** E/G/I: r/m, reg, immediate operands; A: rAX; TEST: TEST r/m, reg; TEI/TAI: TEST r/m or rAX, imm. */
type AluForm = 'EG' | 'GE' | 'AI' | 'EI' | 'TEST' | 'TEI' | 'TAI';

function aluTemplate(i: DecodedInsn, ctx: TemplateContext, aluOp: number, size: 4 | 8, form: AluForm, n: string, live: boolean): Template | null {
  const writes = aluOp !== ALU_CMP && form !== 'TEST' && form !== 'TEI' && form !== 'TAI';
  const d = `d${n}`; const dh = `dh${n}`; const s = `s${n}`; const sh = `sh${n}`;
  let src: string;
  if (form === 'EG' || form === 'TEST') src = regRead(i.reg, size, s, sh);
  else if (form === 'GE') src = i.hasMem ? memRead(size, `a${n}`, s, sh) : regRead(i.rm, size, s, sh);
  else src = `const ${s} = ${lit(i.imm >>> 0)}, ${sh} = ${lit(size === 8 ? i.immHi >>> 0 : 0)};`;
  const dstReg = form === 'GE' ? i.reg : form === 'AI' || form === 'TAI' ? 0 : i.rm;
  const dstMem = (form === 'EG' || form === 'EI' || form === 'TEST' || form === 'TEI') && i.hasMem;
  const dst = dstMem ? memRead(size, `a${n}`, d, dh) : regRead(dstReg, size, d, dh);
  const carry = aluOp === ALU_ADC || aluOp === ALU_SBB;
  // ADC/SBB read CF (before this template replaces the flag source).
  const cinCode = carry ? `const cin${n} = ${carryIn(ctx)};` : '';
  const { code: calc0, kind } = aluCode(aluOp, size, n, live);
  const calc = cinCode + ' ' + calc0;
  let store = '';
  if (writes) store = dstMem ? memWrite(size, `a${n}`, `r${n}`, `rh${n}`) : regWrite(dstReg, size, `r${n}`, `rh${n}`);
  // Operand order as the handler: the destination (r/m) is read first for E forms.
  const body = form === 'GE' ? `${src} ${dst} ${calc} ${store}` : `${dst} ${src} ${calc} ${store}`;
  if (!i.hasMem) {
    ctx.flagSrc = { kind, size, d, s, r: `r${n}`, dh, sh, rh: `rh${n}`, cin: `cin${n}` };
    return t(body, { flags: carry ? 'read' : 'write' });
  }
  ctx.flagSrc = null;
  return memTemplate(i, ctx, n, body, carry ? 'read' : 'write');
}

/** Byte register read (AH..BH without REX for 4..7), as Cpu.getReg(1, ...). */
function byteReg(reg: number, rex: number): string {
  if (rex === 0 && reg >= 4 && reg < 8) return `((g[${(reg - 4) << 1}] >>> 8) & 0xff)`;
  return `(g[${reg << 1}] & 0xff)`;
}

/** Byte register write, as Cpu.setReg(1, ...). */
function byteRegWrite(reg: number, rex: number, v: string): string {
  if (rex === 0 && reg >= 4 && reg < 8) { const k = (reg - 4) << 1; return `g[${k}] = (g[${k}] & 0xffff00ff) | ((${v} & 0xff) << 8);`; }
  const k = reg << 1;
  return `g[${k}] = (g[${k}] & 0xffffff00) | (${v} & 0xff);`;
}

/** CMP/TEST/MOV on bytes (the forms frequent in kernel code); others go to the handler. */
function byteTemplate(i: DecodedInsn, ctx: TemplateContext, n: string, live: boolean): Template | null {
  const op = i.op; const e = (i.modrm >> 3) & 7;
  const d = `d${n}`; const s = `s${n}`; const r = `r${n}`;
  const rmRead = (v: string): string => (i.hasMem ? `const ${v} = c.mem.read8(a${n});` : `const ${v} = ${byteReg(i.rm, i.rex)};`);
  let body: string;
  let kind: 'sub' | 'logic';
  if ((op === 0x80 && e === 7) || op === 0x3c) {
    kind = 'sub';
    const src = `const ${s} = ${i.imm & 0xff};`;
    body = `${op === 0x3c ? `const ${d} = g[0] & 0xff;` : rmRead(d)} ${src} const ${r} = (${d} - ${s}) & 0xff;`;
  } else if (op === 0x84 || (op === 0xf6 && e === 0)) {
    kind = 'logic';
    const src = op === 0x84 ? `const ${s} = ${byteReg(i.reg, i.rex)};` : `const ${s} = ${i.imm & 0xff};`;
    body = `${rmRead(d)} ${src} const ${r} = ${d} & ${s};`;
  } else if (op === 0x88 || op === 0x8a || (op === 0xc6 && e === 0)) {
    const v = op === 0xc6 ? String(i.imm & 0xff) : op === 0x88 ? byteReg(i.reg, i.rex) : `v${n}`;
    let code: string;
    if (op === 0x8a) code = `${rmRead(`v${n}`)} ${byteRegWrite(i.reg, i.rex, `v${n}`)}`;
    else if (i.hasMem) code = `c.mem.write8(a${n}, ${v});`;
    else code = byteRegWrite(i.rm, i.rex, v);
    if (!i.hasMem) return t(code);
    return memTemplate(i, ctx, n, code, 'none');
  } else {
    return null;
  }
  if (live) {
    // setLazy(op, 1, dst, src, res); TEST records zero operands (ops-alu.ts test()).
    body += ` ${RECORD_START}${kind === 'sub'
      ? `c.lazyOp = ${LazyOp.Sub}; c.lazySize = 1; c.lazyDstLo = ${d}; c.lazySrcLo = ${s}; c.lazyResLo = ${r};`
      : `c.lazyOp = ${LazyOp.Logic}; c.lazySize = 1; c.lazyDstLo = 0; c.lazySrcLo = 0; c.lazyResLo = ${r};`}${RECORD_END}`;
  }
  if (!i.hasMem) {
    ctx.flagSrc = { kind, size: 1, d, s, r, dh: '0', sh: '0', rh: '0' };
    return t(body, { flags: 'write' });
  }
  return memTemplate(i, ctx, n, body, 'write');
}

/**
 * SHL/SAL/SHR/SAR/ROL/ROR of a 32/64-bit register by a constant count (ops-shift.ts with the
 * count folded): a masked count of 0 changes no flags but still zero-extends a 32-bit register.
 */
function shiftTemplate(i: DecodedInsn, ctx: TemplateContext, size: 4 | 8, kind: number, count: number, n: string, live: boolean): Template | null {
  const c = count & (size === 8 ? 0x3f : 0x1f);
  const k = i.rm << 1;
  if (c === 0) return t(size === 4 ? `g[${k + 1}] = 0;` : '');
  if (kind === 2 || kind === 3) return null; // RCL/RCR
  const lo = `g[${k}]`; const hi = `g[${k + 1}]`;
  const rl = `rl${n}`; const rh = `rh${n}`; const cf = `cf${n}`; const of = `of${n}`;
  let calc: string;
  if (size === 4) {
    const v = `v${n}`;
    calc = `const ${v} = ${lo}; const ${rh} = 0;`;
    switch (kind) {
      case 0: calc += ` const ${rl} = ((${v} << ${c}) | (${v} >>> ${32 - c})) >>> 0; const ${cf} = ${rl} & 1; const ${of} = (${rl} >>> 31) ^ ${cf};`; break;
      case 1: calc += ` const ${rl} = ((${v} >>> ${c}) | (${v} << ${32 - c})) >>> 0; const ${cf} = ${rl} >>> 31; const ${of} = ${cf} ^ ((${rl} >>> 30) & 1);`; break;
      case 4: case 6: calc += ` const ${rl} = (${v} << ${c}) >>> 0; const ${cf} = (${v} >>> ${32 - c}) & 1; const ${of} = (${rl} >>> 31) ^ ${cf};`; break;
      case 5: calc += ` const ${rl} = ${v} >>> ${c}; const ${cf} = (${v} >>> ${c - 1}) & 1; const ${of} = ${v} >>> 31;`; break;
      default: calc += ` const ${rl} = ((${v} | 0) >> ${c}) >>> 0; const ${cf} = ((${v} | 0) >> ${c - 1}) & 1; const ${of} = 0;`; break;
    }
  } else {
    const a = `a${n}`; const b = `b${n}`;
    calc = `const ${a} = ${lo}, ${b} = ${hi};`;
    switch (kind) {
      case 0: case 1: {
        let m = kind === 0 ? c : 64 - c;
        let x = a; let y = b;
        if (m >= 32) { x = b; y = a; m -= 32; }
        calc += m === 0 ? ` const ${rl} = ${x}, ${rh} = ${y};`
          : ` const ${rl} = ((${x} << ${m}) | (${y} >>> ${32 - m})) >>> 0; const ${rh} = ((${y} << ${m}) | (${x} >>> ${32 - m})) >>> 0;`;
        calc += kind === 0 ? ` const ${cf} = ${rl} & 1; const ${of} = (${rh} >>> 31) ^ ${cf};`
          : ` const ${cf} = ${rh} >>> 31; const ${of} = ${cf} ^ ((${rh} >>> 30) & 1);`;
        break;
      }
      case 4: case 6:
        if (c >= 32) calc += ` const ${rh} = ${c === 32 ? a : `(${a} << ${c - 32}) >>> 0`}; const ${rl} = 0; const ${cf} = ${c === 32 ? `${b} & 1` : `(${a} >>> ${64 - c}) & 1`};`;
        else calc += ` const ${rh} = ((${b} << ${c}) | (${a} >>> ${32 - c})) >>> 0; const ${rl} = (${a} << ${c}) >>> 0; const ${cf} = (${b} >>> ${32 - c}) & 1;`;
        calc += ` const ${of} = (${rh} >>> 31) ^ ${cf};`;
        break;
      case 5:
        if (c >= 32) calc += ` const ${rl} = ${c === 32 ? b : `${b} >>> ${c - 32}`}; const ${rh} = 0; const ${cf} = ${c === 32 ? `${a} >>> 31` : `(${b} >>> ${c - 33}) & 1`};`;
        else calc += ` const ${rl} = ((${a} >>> ${c}) | (${b} << ${32 - c})) >>> 0; const ${rh} = ${b} >>> ${c}; const ${cf} = (${a} >>> ${c - 1}) & 1;`;
        calc += ` const ${of} = ${b} >>> 31;`;
        break;
      default:
        if (c >= 32) calc += ` const ${rl} = ((${b} | 0) >> ${c - 32}) >>> 0; const ${rh} = ((${b} | 0) >> 31) >>> 0; const ${cf} = ${c === 32 ? `${a} >>> 31` : `((${b} | 0) >> ${c - 33}) & 1`};`;
        else calc += ` const ${rl} = ((${a} >>> ${c}) | (${b} << ${32 - c})) >>> 0; const ${rh} = ((${b} | 0) >> ${c}) >>> 0; const ${cf} = (${a} >>> ${c - 1}) & 1;`;
        calc += ` const ${of} = 0;`;
        break;
    }
  }
  const store = ` ${lo} = ${rl}; ${hi} = ${rh};`;
  ctx.flagSrc = null;
  if (kind === 0 || kind === 1) {
    // Rotates change only CF and OF (setCfOf in ops-shift.ts): the other flags are read.
    if (!live) return t(calc + store, { flags: 'merge' });
    const caf = ctx.constant(computeArithFlags);
    return t(`${calc} c.lazyFlags = (${caf}(c) & ${~0x801}) | ${cf} | (${of} << 11); c.lazyOp = ${LazyOp.None};${store}`, { flags: 'merge' });
  }
  if (!live) return t(calc + store, { flags: 'write' });
  const par = ctx.constant(PARITY);
  const zf = size === 8 ? `(${rl} | ${rh}) === 0` : `${rl} === 0`;
  const sf = size === 8 ? `${rh} >>> 31` : `${rl} >>> 31`;
  const flags = `c.lazyFlags = ${par}[${rl} & 0xff] | (${zf} ? 0x40 : 0) | ((${sf}) << 7) | ${cf} | (${of} << 11); c.lazyOp = ${LazyOp.None};`;
  return t(`${calc} ${flags}${store}`, { flags: 'write' });
}
