// The soft vCPU: architectural state (CpuState) plus the operand, memory, stack and flag helpers
// that instruction handlers use (the `Cpu` interface of insn.ts), and the run loop that replays
// decoded blocks, delivers faults and polls for interrupts (SDM Vol. 3A ch. 6).

import type { Cpu as CpuApi, Insn } from './insn.js';
import { BASE_RIP, OpMap } from './insn.js';
import type { CpuBus, GuestClock, InterruptController } from './bus.js';
import { CpuState, CpuMode, Cr0, Cr4, Efer, Flag, Seg, ARITH_FLAGS } from './state.js';
import { CpuFault, TripleFaultError, Vector, formatLinear } from './fault.js';
import { LazyOp, computeArithFlags, computeCF, getRflags as lazyGetRflags, setArithFlags } from './flags.js';
import { decode, type CodeFetcher, type DecodedInsn } from './decoder.js';
import { Block, BlockCache, MAX_BLOCK_INSNS } from './block-cache.js';
import type { LinearMemory } from './linear-memory.js';
import { sharedOpTable, type OpTableImpl } from './op-table.js';
import { Mmu } from './mmu.js';
import { tscNumber } from './msr.js';
import { deliverEvent } from './exceptions.js';
import { DEFAULT_CPUID_FEATURES, type CpuidConfig } from './cpuid.js';
import { jitThreshold, jitOptimizeAt, compileBlock, compilesToLoop, optimizeCompiled, reoptimizeCompiled, REOPTIMIZE_CHECK_EVERY } from './jit/block-compiler.js';
import { PAUSE_LOOP_EXIT_NS, PAUSE_STALL_NS } from './pause.js';
import { WasmState, wasmThreshold, type WasmTier } from './wasm/tier.js';
import { HelperResult, SlabOffset, type CpuSlab } from './wasm/arena.js';
import { TLB_SIZE } from './mmu.js';
import { takeFastSystemCallMode } from './system-ops.js';

/**
 * Numeric fields of the Cpu that take values outside V8's small-integer range (2^30): the
 * constructor stores a fraction in each first, so V8 keeps them as doubles from the start.
 * Counted up from a small integer, instructionCount changed representation after ~1.07 G
 * instructions (late in a Linux boot), which deprecated the Cpu's hidden class and deoptimized
 * every compiled region and handler that had seen only small integers (JIT region
 * deoptimizations per boot: 337 before these fields, 193 after).
 */
const DOUBLE_FIELDS = ['instructionCount', 'rip', 'lazyResLo', 'lazyResHi', 'lazySrcLo', 'lazySrcHi', 'lazyDstLo', 'lazyDstHi', 'lazyFlags',
  'cr0', 'cr2', 'cr3', 'lstar', 'cstar', 'kernelGsBase', 'sysenterEsp', 'sysenterEip', 'fpuLastIp', 'fpuLastDp',
  'hi', 'eaHi', 'stallNs', 'runStartStallNs', 'tscOffsetNumber', 'starHi'] as const;

/** Why `run()` returned. */
export type RunExit =
  | { kind: 'budget' }
  /** HLT with no interrupt to wake it (IF=0, or nothing pending). */
  | { kind: 'halt' }
  | { kind: 'triple-fault'; rip: number }
  /** The snippet runner's stop address was reached. */
  | { kind: 'stop' }
  /** A fault with no delivery wired (`deliverEvent` unset): RIP is at the faulting instruction. */
  | { kind: 'fault'; vector: number; errorCode: number }
  /** Waiting for INIT/SIPI (application processors). */
  | { kind: 'wait-for-sipi' }
  /** requestExit() was called (from a device callback or handler) since run() started. */
  | { kind: 'exit-request' }
  /** PAUSE with `pauseExits` on, or a PAUSE loop past the exit window (pause.ts): a spin-wait. */
  | { kind: 'pause' };

/** How an event enters the IDT (SDM Vol. 3A §6.4): affects the pushed RIP and the DPL check. */
export const enum EventKind { Exception = 0, External = 1, Software = 2, Nmi = 3 }

/**
 * Delivers an interrupt or exception through the IDT (helper B's exceptions.ts). Called with
 * cpu.rip at the instruction to return to. May throw CpuFault (fault while delivering) or
 * TripleFaultError.
 */
export type EventDelivery = (cpu: Cpu, vector: number, errorCode: number, kind: EventKind) => void;

export interface CpuOptions {
  /** Linear memory; default: helper B's Mmu with paging over `bus`. */
  mem?: LinearMemory;
  /** Event delivery; default: exceptions.ts. null: faults end run() with {kind:'fault'}. */
  deliverEvent?: EventDelivery | null;
  /** Opcode table; default: the shared table of op-table.ts. */
  table?: OpTableImpl;
  /**
   * Decoded blocks shared by the vCPUs of one machine (same thread), with `codePages` shared
   * too, so code one vCPU writes is dropped for all (Linux patches kernel text at run time
   * while other CPUs run). Default: a private cache and the Mmu's own codePages.
   */
  blocks?: BlockCache;
  /** One byte per 4 KiB page of RAM, shared with `blocks` (see LinearMemory.codePages). */
  codePages?: Uint8Array;
  /** CPUID identity/features (e.g. the vCPU count for topology leaves). */
  cpuidConfig?: CpuidConfig;
  /**
   * The machine's WebAssembly tier (wasm/tier.ts): the vCPU's GPRs and TLB then live in the
   * arena, and warm blocks run as wasm. With `mem` given, the caller must build it over `slab`'s
   * TLB arrays and the tier's codePages (testing/run-snippet.ts does).
   */
  wasm?: WasmTier | null;
}

/** Most instructions one wasm function runs per call (wasm/tier.ts Info.COUNT; translate.ts caps traces at it). */
const WASM_CALL_MAX = 255;

let codeGenCounter = 0;
function nextCodeGen(): number {
  return ++codeGenCounter;
}

export { REP_CHUNK } from './ops-string.js';

const TWO32 = 4294967296;

/** Stores the integer `v` (|v| < 2^53: a canonical address) as an i64 at words [k, k + 1] of `w`. */
function putI64(w: Int32Array, k: number, v: number): void {
  const hi = Math.floor(v / TWO32);
  w[k] = (v - hi * TWO32) | 0;
  w[k + 1] = hi | 0;
}
/** Calls of a compiled block with a wasm function after which the run loop weighs them (jitTrialOver). */
const JIT_TRIAL_CALLS = 512;
/** Instructions per call below which such a block goes back to the wasm tier. */
const JIT_MIN_INSNS_PER_CALL = 32;
/** Modes (mode, CPL, CS base and limit) whose code generations a vCPU keeps (Cpu.modeGens). */
const MODE_GENS_MAX = 64;

/** A mode's code generations (-1: none yet, or dropped). */
interface ModeGens { mode: number; cpl: number; csBase: number; csLimit: number; gen: number; globalGen: number }

/** New code generations for a mode whose ones a flush dropped (-1). */
function giveCodeGens(e: ModeGens): void {
  if (e.gen < 0) e.gen = nextCodeGen();
  if (e.globalGen < 0) e.globalGen = nextCodeGen();
}

/** DR6.BS: the #DB came from single-stepping (SDM Vol. 3A §17.2.3). */
const DR6_BS = 1 << 14;

export class Cpu extends CpuState implements CpuApi, CodeFetcher {
  hi = 0;
  /** High half (signed int32) of the last rawOffset64. */
  eaHi = 0;
  readonly bus: CpuBus;
  readonly irq: InterruptController;
  readonly clock: GuestClock;
  mem: LinearMemory;
  /** CPUID identity and features (cpuid.ts); its defaults when unset. */
  cpuidConfig?: CpuidConfig;
  /** Interrupt/exception delivery (helper B); null means faults end run() with kind 'fault'. */
  deliverEvent: EventDelivery | null = null;
  /** Instructions retired (a double from the start: DOUBLE_FIELDS). */
  instructionCount = 0;
  /** Code size of the current mode: 16, 32 or 64. */
  codeBits: 16 | 32 | 64 = 16;
  /** Stack address size: 2, 4 or 8 bytes. */
  stackSize: 2 | 4 | 8 = 2;
  /** Decoding stops before this RIP and run() returns {kind:'stop'} when it is reached (-1: off). */
  stopRip = -1;
  /** Set by handlers that changed the mode or state the current block was decoded for. */
  blockExit = false;
  /**
   * The block a compiled region ran last (jit/block-compiler.ts), for the run loop's links;
   * null after it was taken.
   */
  lastBlock: Block | null = null;
  /** The instruction whose handler a compiled region is calling (for locating its faults). */
  faultInsn: DecodedInsn | null = null;
  /** A helper call (wasmHelper) ended the wasm chain; what it threw, and the instruction that threw it. */
  private helperStop = false;
  private helperThrown: unknown = undefined;
  private helperInsn: DecodedInsn | null = null;
  private exitRequested = false;
  private pausePending = false;
  /**
   * When set, PAUSE (the spin-wait hint) ends run() with {kind:'pause'}, so that with several
   * vCPUs on one thread a spinning vCPU gives way to the one holding the lock (enable it for
   * SMP guests; a single vCPU gains nothing from it).
   */
  pauseExits = false;
  /** PAUSE instructions executed (the guest profiler's spin-wait count). */
  pauseCount = 0;
  /**
   * When set (the guest profiler, TSHV_PROFILE), every return of a wasm chain to the run loop is
   * counted here by where it stopped: "mid RIP map:op" before an instruction the chain could not
   * run (a TLB miss, MMIO, an instruction left to the interpreter), "end RIP" after a block
   * whose next one the chain could not find or enter ("end RIP budget": the quantum was used up),
   * "helper RIP" after an instruction a helper ran that stopped the chain (MOV to CR3, an I/O
   * port, HLT...), "fault RIP map:op" at one that faulted. Unlike the host's time, these counts
   * repeat from run to run.
   */
  chainStops: Map<string, number> | null = null;
  /** Guest ns stalled beyond the executed instructions (PAUSE, pause.ts); the clock adds them. */
  stallNs = 0;
  private runStartStallNs = 0;
  /**
   * Changes when translations or the mode change: block links made before are not followed.
   * Values come from one process-wide counter, so vCPUs sharing a BlockCache never follow each
   * other's links (their translations differ).
   */
  codeGen = nextCodeGen();
  /**
   * Like codeGen, but kept across CR3 writes (flushTlb(false)): links to blocks reached through a
   * global translation (Block.succ1Global) stay valid while it does. A CR3 load leaves global
   * TLB entries in place (SDM Vol. 3A §4.10.4.1), and Linux maps kernel text global, so a
   * context switch need not send kernel blocks back through blockAt.
   */
  globalCodeGen = nextCodeGen();
  /** Block lookups by address (no valid link applied), for tests and tuning. */
  codeLookups = 0;
  /**
   * Generations per mode (mode, CPL, CS base and limit), so that a return to a mode (SYSCALL/
   * SYSRET, interrupts from user space, IRET) finds its links valid again when no translation
   * changed meanwhile. A generation of -1 is dropped (translations changed): the mode gets a new
   * one when next entered. A short list searched by fields: a mode change is two per system call,
   * and a string key cost a number-to-string conversion, a concatenation and a hash each time.
   */
  private readonly modeGens: ModeGens[] = [];
  private modeNow: ModeGens = { mode: -1, cpl: 0, csBase: 0, csLimit: 0, gen: -1, globalGen: -1 };

  readonly table: OpTableImpl;
  readonly blocks: BlockCache;

  // Code-fetch page cache: linear page -> RAM offset of its first byte.
  private fetchPageLin = NaN;
  private fetchPageOff = -1;
  private fetchPagePa = 0;
  /** Physical pages touched while decoding the current block. */
  private decodePages: number[] = [];

  /** The WebAssembly tier and this vCPU's slab in its arena (null: no wasm tier). */
  readonly wasm: WasmTier | null;
  readonly slab: CpuSlab | null;
  /** Keeps the slab allocated while the Cpu lives (the arena frees it when this is collected). */
  private readonly slabOwner: object;
  /** Stops listening to the block cache's code page changes. */
  private readonly stopCodePages: () => void;

  /** Gives back the vCPU's slab in the wasm arena now; the Cpu must not run afterwards. */
  dispose(): void {
    this.slab?.release();
    this.stopCodePages();
  }

  constructor(cpuIndex: number, bus: CpuBus, irq: InterruptController, clock: GuestClock, options: CpuOptions = {}) {
    const slabOwner = {};
    const slab = options.wasm?.allocSlab(slabOwner) ?? null;
    super(cpuIndex, slab?.gpr);
    this.slabOwner = slabOwner;
    this.slab = slab;
    this.wasm = slab !== null ? options.wasm ?? null : null;
    for (const f of DOUBLE_FIELDS) { const v = this[f]; this[f] = 0.5; this[f] = v; }
    this.bus = bus;
    this.irq = irq;
    this.clock = clock;
    let mem = options.mem;
    if (mem === undefined) {
      mem = new Mmu(this, bus, slab ?? undefined);
    }
    this.mem = mem;
    this.table = options.table ?? sharedOpTable();
    this.blocks = options.blocks ?? new BlockCache();
    if (options.cpuidConfig !== undefined) this.cpuidConfig = options.cpuidConfig;
    if (options.codePages !== undefined) mem.codePages = options.codePages;
    if (this.wasm !== null) {
      const wasm = this.wasm;
      mem.codePages = wasm.codePages;
      this.blocks.onDrop = (b) => wasm.dropped(b);
    }
    this.deliverEvent = options.deliverEvent !== undefined ? options.deliverEvent : deliverEvent;
    mem.onCodeWrite = (pagePa: number) => this.invalidateCodePage(pagePa);
    // Pages becoming code on any vCPU sharing the cache: this vCPU's wasm stores must leave there.
    this.stopCodePages = this.blocks.listenCodePages((pn, code) => this.mem.codePageChanged?.(pn, code));
    this.updateMode();
  }

  // ---------------------------------------------------------------- registers
  getReg(size: 1 | 2 | 4, idx: number, rex: number): number {
    const g = this.gpr;
    if (size === 4) return g[idx << 1]!;
    if (size === 2) return g[idx << 1]! & 0xffff;
    if (rex === 0 && idx >= 4 && idx < 8) return (g[(idx - 4) << 1]! >>> 8) & 0xff;
    return g[idx << 1]! & 0xff;
  }

  setReg(size: 1 | 2 | 4, idx: number, value: number, rex: number): void {
    const g = this.gpr;
    if (size === 4) { g[idx << 1] = value; g[(idx << 1) + 1] = 0; return; }
    if (size === 2) { const k = idx << 1; g[k] = (g[k]! & 0xffff0000) | (value & 0xffff); return; }
    if (rex === 0 && idx >= 4 && idx < 8) { const k = (idx - 4) << 1; g[k] = (g[k]! & 0xffff00ff) | ((value & 0xff) << 8); return; }
    const k = idx << 1; g[k] = (g[k]! & 0xffffff00) | (value & 0xff);
  }

  getReg64(idx: number): number {
    this.hi = this.gpr[(idx << 1) + 1]!;
    return this.gpr[idx << 1]!;
  }

  setReg64(idx: number, lo: number, hi: number): void {
    this.gpr[idx << 1] = lo;
    this.gpr[(idx << 1) + 1] = hi;
  }

  /** Sets a register of any operand size (1/2/4 as setReg, 8 as setReg64 with hi). */
  setRegN(size: number, idx: number, lo: number, hi: number, rex: number): void {
    if (size === 8) { this.gpr[idx << 1] = lo; this.gpr[(idx << 1) + 1] = hi; }
    else this.setReg(size as 1 | 2 | 4, idx, lo, rex);
  }

  // ---------------------------------------------------------------- addressing
  /** Effective address (offset within the segment) of i's memory operand, before the segment base. */
  offset(i: Insn): number {
    const g = this.gpr;
    const base = i.base; const index = i.index;
    const as = i.addrSize;
    if (as === 8) {
      const lo = this.rawOffset64(i);
      const hi = this.eaHi;
      if (hi < -0x8000 || hi > 0x7fff) this.fault(i.seg === Seg.SS ? Vector.SS : Vector.GP, 0);
      return hi * TWO32 + lo;
    }
    let sum = i.disp;
    if (base >= 0) sum += base === BASE_RIP ? this.rip : g[base << 1]!;
    if (index >= 0) sum += g[index << 1]! * i.scale;
    return as === 4 ? sum >>> 0 : sum & 0xffff;
  }

  /**
   * 64-bit effective address without checks (LEA, and the first step of offset()): returns the
   * low 32 bits, with the high 32 bits as a signed int32 in `eaHi` (not `hi`, so computing an
   * address never clobbers a 64-bit value a handler read just before).
   */
  rawOffset64(i: Insn): number {
    const g = this.gpr;
    const base = i.base; const index = i.index;
    {
      let bLo = 0; let bHi = 0;
      if (base >= 0) {
        if (base === BASE_RIP) { const r = this.rip; bLo = r >>> 0; bHi = r === (r | 0) ? r >> 31 : Math.floor(r / TWO32) | 0; }
        else { bLo = g[base << 1]!; bHi = g[(base << 1) + 1]!; }
      }
      let iLo = 0; let iHi = 0;
      if (index >= 0) { iLo = g[index << 1]! * i.scale; iHi = Math.imul(g[(index << 1) + 1]!, i.scale); }
      const d = i.disp;
      let dLo: number; let dHi: number;
      if (d === (d | 0)) { dLo = d >>> 0; dHi = d >> 31; } else { dLo = d >>> 0; dHi = Math.floor(d / TWO32) | 0; }
      const total = bLo + iLo + dLo;
      const lo = total >>> 0;
      this.eaHi = (bHi + iHi + dHi + (total - lo) / TWO32) | 0;
      return lo;
    }
  }

  ea(i: Insn): number {
    if (i.addrSize === 8 && i.seg < Seg.FS && this.codeBits === 64) {
      // Fast path (64-bit addressing, no FS/GS base): with each register's high half within
      // ±2^20 every term is exact in a double and so is a sum that lands in the canonical range
      // (correct rounding), which then is the address (SDM Vol. 3A §3.3.7.1). Anything else
      // (huge registers, wrap-around, non-canonical: #GP/#SS) takes the general path below.
      const g = this.gpr; const base = i.base; const index = i.index;
      let a = i.disp;
      let ok = true;
      if (base >= 0) {
        if (base === BASE_RIP) a += this.rip;
        else { const h = g[(base << 1) + 1]!; ok = ((h + 0x100000) >>> 21) === 0; a += (h | 0) * TWO32 + g[base << 1]!; }
      }
      if (index >= 0) {
        const h = g[(index << 1) + 1]!;
        ok = ok && ((h + 0x100000) >>> 21) === 0;
        a += ((h | 0) * TWO32 + g[index << 1]!) * i.scale;
      }
      if (ok && a >= -0x800000000000 && a < 0x800000000000) return a;
    }
    const off = this.offset(i);
    const seg = i.seg;
    if (this.codeBits === 64) {
      if (seg < Seg.FS) return off;
      return this.canonical(off + this.seg[seg]!.base, seg);
    }
    return (this.seg[seg]!.base + off) >>> 0;
  }

  /** Wraps a 64-bit sum to canonical number form, or faults if it is not canonical. */
  canonical(addr: number, seg: number): number {
    if (addr >= 0x800000000000 || addr < -0x800000000000) {
      // Fold sums that wrapped past 2^64 (base near the top + offset) back into range.
      const wrapped = addr >= 0x800000000000 ? addr - 18446744073709551616 : addr + 18446744073709551616;
      if (wrapped >= 0x800000000000 || wrapped < -0x800000000000) this.fault(seg === Seg.SS ? Vector.SS : Vector.GP, 0);
      return wrapped;
    }
    return addr;
  }

  readRm(i: Insn, size: 1 | 2 | 4): number {
    if (!i.hasMem) return this.getReg(size, i.rm, i.rex);
    const lin = this.ea(i);
    return size === 4 ? this.mem.read32(lin) : size === 2 ? this.mem.read16(lin) : this.mem.read8(lin);
  }

  writeRm(i: Insn, size: 1 | 2 | 4, value: number): void {
    if (!i.hasMem) { this.setReg(size, i.rm, value, i.rex); return; }
    const lin = this.ea(i);
    if (size === 4) this.mem.write32(lin, value); else if (size === 2) this.mem.write16(lin, value); else this.mem.write8(lin, value);
  }

  readRm64(i: Insn): number {
    if (!i.hasMem) return this.getReg64(i.rm);
    const lo = this.mem.read64(this.ea(i));
    this.hi = this.mem.hi;
    return lo;
  }

  writeRm64(i: Insn, lo: number, hi: number): void {
    if (!i.hasMem) { this.setReg64(i.rm, lo, hi); return; }
    this.mem.write64(this.ea(i), lo, hi);
  }

  // ---------------------------------------------------------------- memory
  read8(lin: number): number { return this.mem.read8(lin); }
  read16(lin: number): number { return this.mem.read16(lin); }
  read32(lin: number): number { return this.mem.read32(lin); }
  read64(lin: number): number { const lo = this.mem.read64(lin); this.hi = this.mem.hi; return lo; }
  write8(lin: number, value: number): void { this.mem.write8(lin, value); }
  write16(lin: number, value: number): void { this.mem.write16(lin, value); }
  write32(lin: number, value: number): void { this.mem.write32(lin, value); }
  write64(lin: number, lo: number, hi: number): void { this.mem.write64(lin, lo, hi); }
  readSystem32(lin: number): number { return this.mem.readSystem32(lin); }
  readSystem64(lin: number): number { const lo = this.mem.readSystem64(lin); this.hi = this.mem.hi; return lo; }
  writeSystem32(lin: number, value: number): void { this.mem.writeSystem32(lin, value); }

  // ---------------------------------------------------------------- stack
  /** Linear address of SS:rSP + delta in the current stack size. */
  private stackLin(delta: number): number {
    const g = this.gpr;
    if (this.stackSize === 8) {
      const lo = g[8]!; const hi = g[9]! | 0;
      return this.canonical(hi * TWO32 + lo + delta, Seg.SS);
    }
    if (this.stackSize === 4) return (this.seg[Seg.SS]!.base + ((g[8]! + delta) >>> 0)) >>> 0;
    return (this.seg[Seg.SS]!.base + ((g[8]! + delta) & 0xffff)) >>> 0;
  }

  /** Adds delta to rSP in the current stack size. */
  adjustSp(delta: number): void {
    const g = this.gpr;
    if (this.stackSize === 8) {
      const total = g[8]! + delta;
      const lo = total >>> 0;
      g[9] = (g[9]! + Math.floor((total - lo) / TWO32)) | 0;
      g[8] = lo;
    } else if (this.stackSize === 4) g[8] = (g[8]! + delta) >>> 0;
    else g[8] = (g[8]! & 0xffff0000) | ((g[8]! + delta) & 0xffff);
  }

  push(size: 2 | 4 | 8, lo: number, hi: number): void {
    const lin = this.stackLin(-size);
    if (size === 8) this.mem.write64(lin, lo, hi);
    else if (size === 4) this.mem.write32(lin, lo);
    else this.mem.write16(lin, lo);
    this.adjustSp(-size);
  }

  pop(size: 2 | 4 | 8): number {
    const lin = this.stackLin(0);
    let v: number;
    if (size === 8) { v = this.mem.read64(lin); this.hi = this.mem.hi; }
    else if (size === 4) v = this.mem.read32(lin);
    else v = this.mem.read16(lin);
    this.adjustSp(size);
    return v;
  }

  /** Reads the stack at rSP + delta without popping (ENTER, RET imm, POP [rsp]). */
  peek(size: 2 | 4 | 8, delta: number): number {
    const lin = this.stackLin(delta);
    if (size === 8) { const v = this.mem.read64(lin); this.hi = this.mem.hi; return v; }
    return size === 4 ? this.mem.read32(lin) : this.mem.read16(lin);
  }

  // ---------------------------------------------------------------- flags
  getRflags(): number { return lazyGetRflags(this); }

  setRflags(value: number, mask: number): void {
    const arithMask = mask & ARITH_FLAGS;
    if (arithMask !== 0) {
      const cur = arithMask === ARITH_FLAGS ? 0 : computeArithFlags(this);
      setArithFlags(this, (cur & ~arithMask) | (value & arithMask));
    }
    const restMask = mask & ~ARITH_FLAGS;
    if (restMask !== 0) {
      const before = this.flagsRest;
      this.flagsRest = ((before & ~restMask) | (value & restMask) | 0x2) & ~ARITH_FLAGS;
      if (((before ^ this.flagsRest) & Flag.VM) !== 0) this.updateMode();
    }
  }

  getCF(): boolean { return computeCF(this); }

  // ---------------------------------------------------------------- control
  fault(vector: number, errorCode?: number): never {
    // CpuFault is deliberately not an Error (no stack capture on the hot fault path; fault.ts).
    // eslint-disable-next-line @typescript-eslint/only-throw-error
    throw new CpuFault(vector, errorCode ?? -1);
  }

  jump(target: number): void {
    if (this.codeBits === 64) {
      if (target >= 0x800000000000 || target < -0x800000000000) this.fault(Vector.GP, 0);
    } else if (this.mode !== CpuMode.Real && (target >>> 0) > this.seg[Seg.CS]!.limit) {
      this.fault(Vector.GP, 0);
    }
    this.rip = target;
  }

  updateMode(): void {
    const cs = this.seg[Seg.CS]!;
    let mode: CpuMode;
    if ((this.cr0 & Cr0.PE) === 0) mode = CpuMode.Real;
    else if ((this.flagsRest & Flag.VM) !== 0) mode = CpuMode.Virtual8086;
    else if ((this.efer & Efer.LMA) !== 0) {
      mode = (cs.attr & 0x2000) !== 0 ? CpuMode.Long64 : (cs.attr & 0x4000) !== 0 ? CpuMode.Compat32 : CpuMode.Compat16;
    } else mode = (cs.attr & 0x4000) !== 0 ? CpuMode.Protected32 : CpuMode.Protected16;
    this.mode = mode;
    this.codeBits = mode === CpuMode.Long64 ? 64 : mode === CpuMode.Protected32 || mode === CpuMode.Compat32 ? 32 : 16;
    this.cpl = mode === CpuMode.Real ? 0 : mode === CpuMode.Virtual8086 ? 3 : cs.selector & 3;
    this.updateStackSize();
    this.blockExit = true;
    const now = this.modeNow;
    if (now.mode !== mode || now.cpl !== this.cpl || now.csBase !== cs.base || now.csLimit !== cs.limit) {
      // Real-mode code can use many CS bases: past a bound the list starts over (new
      // generations are always safe: only links made under the old ones are lost).
      if (this.modeGens.length >= MODE_GENS_MAX && this.findModeGens(mode, this.cpl, cs.base, cs.limit) === undefined) this.modeGens.length = 0;
      this.modeNow = this.modeGensOf(mode, this.cpl, cs.base, cs.limit)!;
    }
    this.selectCodeGen();
    this.fetchPageLin = NaN;
  }

  private findModeGens(mode: CpuMode, cpl: number, csBase: number, csLimit: number): ModeGens | undefined {
    const list = this.modeGens;
    for (let k = 0; k < list.length; k++) {
      const x = list[k]!;
      if (x.mode === mode && x.cpl === cpl && x.csBase === csBase && x.csLimit === csLimit) return x;
    }
    return undefined;
  }

  /** The mode's entry in modeGens, added when missing (undefined when the list is full). */
  private modeGensOf(mode: CpuMode, cpl: number, csBase: number, csLimit: number): ModeGens | undefined {
    let e = this.findModeGens(mode, cpl, csBase, csLimit);
    if (e === undefined && this.modeGens.length < MODE_GENS_MAX) {
      e = { mode, cpl, csBase, csLimit, gen: -1, globalGen: -1 };
      this.modeGens.push(e);
    }
    return e;
  }

  /** codeGen and globalCodeGen of the current mode (new ones after a flush dropped them). */
  private selectCodeGen(): void {
    const e = this.modeNow;
    giveCodeGens(e);
    this.codeGen = e.gen;
    this.globalCodeGen = e.globalGen;
  }

  /** Translations changed: links made before are not followed (all = global ones neither). */
  private newCodeGen(all: boolean): void {
    for (const e of this.modeGens) {
      e.gen = -1;
      if (all) e.globalGen = -1;
    }
    this.modeNow.gen = -1;
    if (all) this.modeNow.globalGen = -1;
    this.selectCodeGen();
  }

  /** Recomputes the stack size after SS changed (MOV SS, POP SS, LSS, far transfers). */
  updateStackSize(): void {
    this.stackSize = this.mode === CpuMode.Long64 ? 8 : (this.seg[Seg.SS]!.attr & 0x4000) !== 0 ? 4 : 2;
  }

  flushTlb(all: boolean): void {
    this.mem.flushTlb(all);
    this.fetchPageLin = NaN;
    this.blockExit = true;
    this.newCodeGen(all);
  }

  invlpg(lin: number): void {
    const scope = this.mem.invlpgCodeScope?.(lin) ?? 'global';
    this.mem.invlpg(lin);
    this.fetchPageLin = NaN;
    this.blockExit = true;
    if (scope !== 'none') this.newCodeGen(scope === 'global');
  }

  /** Drops every decoded block (e.g. after a snapshot restore). */
  flushCode(): void {
    this.blocks.clear(this.mem.codePages);
    this.fetchPageLin = NaN;
    this.blockExit = true;
    this.newCodeGen(true);
  }

  /**
   * Drops decoded code in a physical range written behind the MMU's back (device DMA, loaders
   * writing bus.ram directly). The machine must call this for such writes (or flush all).
   */
  invalidatePhysRange(pa: number, bytes: number): void {
    const cp = this.mem.codePages;
    const first = Math.floor(pa / 4096); const last = Math.floor((pa + Math.max(bytes, 1) - 1) / 4096);
    for (let pn = first; pn <= last && pn < cp.length; pn++) {
      if (cp[pn] !== 0) this.blocks.invalidatePage(pn, cp);
    }
  }

  /** Called by the MMU when guest code writes to a physical page holding decoded blocks. */
  invalidateCodePage(pagePa: number): void {
    this.blocks.invalidatePage(Math.floor(pagePa / 4096), this.mem.codePages);
  }

  // ---------------------------------------------------------------- fetch and decode
  fetchCode8(lin: number): number {
    const page = Math.floor(lin / 4096);
    if (page !== this.fetchPageLin) {
      const pa = this.mem.translateCode(lin);
      const pagePa = pa - (pa % 4096);
      this.fetchPageLin = page;
      this.fetchPagePa = pagePa;
      this.fetchPageOff = this.bus.ramOffset(pagePa);
      if (this.decodePages.indexOf(pagePa / 4096) < 0) this.decodePages.push(pagePa / 4096);
    }
    const inPage = lin - page * 4096;
    if (this.fetchPageOff >= 0) return this.bus.ram[this.fetchPageOff + inPage]!;
    return this.bus.mmioRead(this.fetchPagePa + inPage, 1) & 0xff;
  }

  private codeLin(rip: number): number {
    return this.codeBits === 64 ? rip : (this.seg[Seg.CS]!.base + rip) >>> 0;
  }

  /**
   * The cached block at `rip` under the current translation and mode, or null (not decoded yet,
   * not executable, or its page is not mapped): for gathering JIT regions, never faults.
   */
  lookupBlock(rip: number): Block | null {
    let pa: number;
    // The MMU sets CR2 when it raises #PF; a lookup's fault is not the guest's (SDM Vol. 3A
    // §4.7: CR2 is loaded when a page fault is delivered), and one between a #PF's delivery and
    // the handler's read of CR2 made the kernel handle the fault at the wrong address (stop 27).
    const cr2 = this.cr2;
    try {
      pa = this.mem.translateCode(this.codeLin(rip));
    } catch {
      this.cr2 = cr2;
      return null;
    }
    const b = this.blocks.get(BlockCache.key(pa, this.codeBits), rip);
    return b !== undefined && b.valid ? b : null;
  }

  /** Finds or decodes the block at the current RIP. Throws CpuFault if its first fetch faults. */
  private blockAt(rip: number): Block {
    this.codeLookups++;
    const lin = this.codeLin(rip);
    const pa = this.mem.translateCode(lin);
    const key = BlockCache.key(pa, this.codeBits);
    const cached = this.blocks.get(key, rip);
    if (cached !== undefined) return cached;
    this.decodePages = [];
    this.fetchPageLin = NaN;
    const insns: DecodedInsn[] = [];
    const csBase = this.seg[Seg.CS]!.base;
    const pageEnd = lin - (lin % 4096) + 4096;
    let r = rip;
    let l = lin;
    const cacheable = this.bus.ramOffset(pa - (pa % 4096)) >= 0;
    const cr2 = this.cr2;
    for (;;) {
      let i: DecodedInsn;
      try {
        i = decode(this, this.table, r, csBase, this.codeBits);
      } catch (e) {
        if (insns.length === 0) throw e;
        // Decode it (and fault) when execution gets there: until then, CR2 is as it was (the
        // instructions before it may read it).
        this.cr2 = cr2;
        break;
      }
      insns.push(i);
      const len = i.length;
      r = this.codeBits === 64 ? r + len : this.codeBits === 32 ? (r + len) >>> 0 : (r + len) & 0xffff;
      i.next = r;
      l += len;
      if (i.endsBlock || insns.length >= MAX_BLOCK_INSNS || l >= pageEnd || r === this.stopRip) break;
    }
    const block = new Block(key, rip, insns);
    if (cacheable) this.blocks.add(block, this.decodePages, this.mem.codePages);
    return block;
  }

  // ---------------------------------------------------------------- run loop
  /**
   * Makes run() return {kind:'exit-request'} at the next block boundary (e.g. a device handler
   * called from an OUT wants the VMM loop to act before the budget is used up).
   */
  requestExit(): void {
    this.exitRequested = true;
    this.blockExit = true;
  }

  /** Set by SYSCALL and SYSRET: the run loop links the block they ended to the next one despite blockExit. */
  linkAcrossMode = false;

  /** PAUSE hint from the instruction handler (see pauseExits). */
  pauseHint(): void {
    this.pauseCount++;
    this.stallNs += PAUSE_STALL_NS;
    // Pause-loop exiting (pause.ts): after a window of spinning, even a lone vCPU leaves run().
    if (!this.pauseExits && this.stallNs - this.runStartStallNs < PAUSE_LOOP_EXIT_NS) return;
    this.pausePending = true;
    this.requestExit();
  }

  /** Runs one instruction. */
  step(): RunExit {
    return this.run(1);
  }

  /**
   * Runs up to `budget` instructions. With `finishBlocks` the last block runs to its end (at
   * most MAX_BLOCK_INSNS - 1 instructions more): the VMM's quanta end wherever the next timer
   * falls, and a quantum that stopped mid-block left a partly interpreted block and, the next
   * time, a new block decoded from that point (in straight-line code such as the kernel's
   * unrolled blake2s, a new series of blocks, each decoded and interpreted).
   */
  run(budget: number, finishBlocks = false): RunExit {
    const end = this.instructionCount + budget;
    this.runStartStallNs = this.stallNs;
    let prev: Block | null = null;
    while (this.instructionCount < end) {
      if (this.waitForSipi) {
        const v = this.irq.takeStartup();
        if (v < 0) return { kind: 'wait-for-sipi' };
        this.startup(v);
      }
      if (this.rip === this.stopRip) return { kind: 'stop' };
      if (this.exitRequested) {
        this.exitRequested = false;
        if (this.pausePending) { this.pausePending = false; return { kind: 'pause' }; }
        return { kind: 'exit-request' };
      }
      // Events between instructions (SDM Vol. 3A §6.9 priorities: NMI before INTR).
      if (!this.interruptShadow && this.deliverEvent !== null) {
        if (this.irq.takeNmi()) {
          prev = null;
          this.halted = false;
          const exit = this.deliver(Vector.NMI, -1, EventKind.Nmi);
          if (exit !== null) return exit;
        } else if ((this.flagsRest & Flag.IF) !== 0 && this.irq.hasInterrupt()) {
          prev = null;
          this.halted = false;
          const exit = this.deliver(this.irq.acknowledge(), -1, EventKind.External);
          if (exit !== null) return exit;
        }
      }
      if (this.halted) return { kind: 'halt' };
      // Follow the previous block's link when it still applies (same code generation, same RIP).
      let block: Block | null = null;
      const rip = this.rip;
      if (prev !== null) {
        if (prev.linkGen === this.codeGen) {
          const s1: Block | null = prev.succ1;
          if (s1 !== null && s1.rip === rip && s1.valid) block = s1;
          else {
            const s2: Block | null = prev.succ2;
            if (s2 !== null && s2.rip === rip && s2.valid) block = s2;
          }
        } else if (prev.linkGlobalGen === this.globalCodeGen) {
          // Only CR3 changed since the links were made: those through global pages still hold.
          const s1: Block | null = prev.succ1;
          if (s1 !== null && prev.succ1Global && s1.rip === rip && s1.valid) block = s1;
          else {
            const s2: Block | null = prev.succ2;
            if (s2 !== null && prev.succ2Global && s2.rip === rip && s2.valid) block = s2;
          }
        }
      }
      if (block === null) {
        try {
          block = this.blockAt(rip);
        } catch (e) {
          prev = null;
          const exit = this.handleThrown(e, null);
          if (exit !== null) return exit;
          continue;
        }
        if (prev !== null) {
          const global = this.mem.codeIsGlobal?.(this.codeLin(rip)) === true;
          if (prev.linkGen !== this.codeGen) {
            prev.linkGen = this.codeGen; prev.linkGlobalGen = this.globalCodeGen;
            prev.succ1 = block; prev.succ1Global = global; prev.succ2 = null; prev.succ2Global = false;
          } else {
            prev.succ2 = prev.succ1; prev.succ2Global = prev.succ1Global;
            prev.succ1 = block; prev.succ1Global = global;
          }
        }
      }
      if ((this.flagsRest & Flag.TF) !== 0) {
        // Single-step (SDM Vol. 3A §17.3.1.4): with TF set when an instruction starts, a #DB
        // trap follows it (DR6.BS), delivered with RIP at the next instruction.
        const before = this.instructionCount;
        const exit = this.runBlock(block, before + 1);
        if (exit !== null) return exit;
        prev = null;
        this.lastBlock = null;
        if (this.instructionCount === before + 1 && (this.flagsRest & Flag.TF) !== 0) {
          this.dr[6] = (this.dr[6]! | DR6_BS) >>> 0;
          const trap = this.deliver(Vector.DB, -1, EventKind.Exception);
          if (trap !== null) return trap;
        }
        continue;
      }
      const exit = this.runBlock(block, end, finishBlocks);
      if (exit !== null) return exit;
      const last = this.lastBlock;
      if (last !== null) this.lastBlock = null;
      // A mode switch ends the block (blockExit), but SYSCALL and SYSRET are plain control flow
      // into code of one mode: the link from their block (made under the new mode's generation,
      // checked as any) saves the block lookup on both sides of every system call.
      prev = this.blockExit && !this.linkAcrossMode ? null : last ?? block;
      this.linkAcrossMode = false;
    }
    return { kind: 'budget' };
  }

  /**
   * Executes (part of) one block; returns an exit when a fault could not be delivered. The block
   * stops at instruction count `end` unless `finish` (then it runs to its end, and a wasm chain
   * stops at the first block boundary at or past `end`).
   */
  private runBlock(block: Block, end: number, finish = false): RunExit | null {
    let i: DecodedInsn | null = null;
    const start = this.instructionCount;
    let compiled = false;
    try {
      let count = ++block.execCount;
      let insns = block.insns;
      this.blockExit = false;
      const wasm = this.wasm;
      if (wasm !== null && block.wasmIndex > 0) count = wasm.takeHits(block, this);
      // Block JIT (jit/block-compiler.ts): a hot block runs as one generated function when it
      // fits in the budget and no interrupt shadow is pending (compiled code tracks neither).
      // It keeps instructionCount exact at fault points, which locates the faulting insn.
      if (jitThreshold >= 0 && !this.interruptShadow && start + insns.length <= end) {
        let f = block.compiled;
        if (f === null && count > jitThreshold && !block.jitDeclined) {
          // Left to the wasm tier when it runs the whole block and the JIT would gain nothing:
          // straight-line code (chains call it without this loop's round trip), and a block that
          // loops to itself (wasm iterates it inside one function: mpihelp_submul_1 1,068 M
          // instr/s against the JIT's 591; boot 11.5 s -> 9.6 s).
          if (wasm !== null && block.wasmIndex > 0 && block.wasmMax >= insns.length && (block.wasmSelfLoop || !compilesToLoop(block, this))) {
            block.jitDeclined = true;
          } else {
            f = block.compiled = compileBlock(block, this);
            wasm?.retire(block); // chains stop there: the JIT runs it from now on
          }
        }
        if (f !== null) {
          if (count === jitOptimizeAt) optimizeCompiled(f);
          else if ((count & (REOPTIMIZE_CHECK_EVERY - 1)) === 0 && count > jitOptimizeAt) reoptimizeCompiled(block);
          compiled = true;
          f(this, block, end);
          if (wasm !== null && block.wasmIndex > 0) {
            block.jitInsns += this.instructionCount - start;
            if (++block.jitCalls === JIT_TRIAL_CALLS) this.jitTrialOver(block, wasm);
          }
          // A region leaves before an instruction whose fast path does not apply; when that is
          // its first, the interpreter below runs the block (progress is guaranteed).
          if (this.instructionCount !== start || this.rip !== block.rip || this.blockExit) return null;
          compiled = false;
          this.lastBlock = null;
        }
      }
      let n = insns.length;
      let k = 0;
      // WebAssembly tier (wasm/tier.ts): warm blocks below the JIT run as wasm, chained from
      // block to block inside wasm; a chain stops before an instruction wasm cannot run (the
      // loop below resumes there, in the chain's last block) and never inside one.
      if (wasm !== null && block.compiled === null && !this.interruptShadow && (this.flagsRest & Flag.TF) === 0) {
        const w = block.wasmIndex;
        if (w > 0) {
          if (start + block.wasmMax <= end || finish) {
            const slab = this.slab!;
            // With a stop RIP set (tests, debugging) nothing chains: the run loop checks it between blocks.
            const user = this.cpl === 3 ? 1 : 0;
            const generation = this.stopRip < 0 ? (this.codeGen * 2 + user) | 0 : -1;
            const globalGeneration = this.stopRip < 0 ? (this.globalCodeGen * 2 + user) | 0 : -1;
            wasm.remember(slab, block, generation, globalGeneration, this);
            this.putWasmFlags(slab);
            this.writeSegBases(slab);
            this.writeWasmTsc(slab);
            this.writeWasmSys(slab);
            const si = slab.i32;
            si[SlabOffset.REST >> 2] = this.flagsRest;
            si[SlabOffset.CPL >> 2] = this.cpl;
            si[SlabOffset.PENDING >> 2] = this.irq.hasInterrupt() ? 1 : 0;
            // With `finish` the chain goes on past `end` to a function boundary: the budget's slack
            // lets any function (at most WASM_CALL_MAX instructions) start while some is left.
            // Without it, each function that no longer fit ended the chain near a quantum's end,
            // and the run loop interpreted blocks and re-entered wasm until `end`.
            const budget = Math.min(end - start, 0x3fffffff) + (finish ? WASM_CALL_MAX : 0);
            const r = wasm.run(w, slab.base, this.cpl === 3 ? TLB_SIZE : 0, budget, 1, generation, jitThreshold < 0 ? 0x7fffffff : jitThreshold, globalGeneration, block.rip);
            this.flagsRest = si[SlabOffset.REST >> 2]!;
            if (si[SlabOffset.GS_SWAPPED >> 2] !== 0) this.takeSwapgs(slab);
            if (si[SlabOffset.SYS_SWITCHED >> 2] !== 0) this.takeWasmSys(slab);
            if ((r & 1) !== 0) this.takeWasmFlags(slab);
            this.instructionCount += r >>> 1;
            const last = slab.i32[SlabOffset.LAST_INDEX >> 2]!;
            if (last !== w) { block = wasm.blockAt(last); insns = block.insns; n = insns.length; this.lastBlock = block; }
            if (this.helperStop) {
              // RIP is where the helper's instruction left it, or that instruction faulted.
              this.helperStop = false;
              const e = this.helperThrown;
              if (this.chainStops !== null) this.countChainStop(e === undefined ? 'helper' : 'fault', this.helperInsn, end);
              if (e === undefined) return null;
              i = this.helperInsn; this.helperThrown = undefined; this.helperInsn = null;
              throw e; // eslint-disable-line @typescript-eslint/only-throw-error -- rethrown as caught (CpuFault and others)
            }
            k = slab.i32[SlabOffset.LAST_DONE >> 2]!;
            // A block that ran to its end stored RIP; one that stopped before instruction k did not.
            this.rip = k < n ? insns[k]!.rip : slab.f64[SlabOffset.RIP >> 3]!;
            if (this.chainStops !== null) this.countChainStop(k < n ? 'mid' : 'end', k < n ? insns[k]! : null, end);
            if (k >= n || (!finish && this.instructionCount >= end)) return null;
          }
        } else if (w === WasmState.NotYet && count >= wasmThreshold) {
          wasm.enqueue(block, this);
        } else if (w === WasmState.Queued) {
          wasm.waiting();
        }
      }
      // Instructions that set the interrupt shadow (STI, MOV/POP SS, LSS) end their block, so a
      // shadow can only be pending here, at the start: it lasts for the first instruction.
      let shadow = this.interruptShadow;
      // RIP is insns[k].rip here. The next RIP is summed from lengths rather than read from
      // i.next: a double field is a separate heap box, and in code run a few dozen times before
      // the wasm tier takes it, that box's cache miss was a third of the loop's time.
      const bits = this.codeBits;
      const wrap = bits === 64 ? Infinity : bits === 32 ? TWO32 : 0x10000;
      const stopAt = finish ? Infinity : end;
      let rip = this.rip;
      for (; k < n; k++) {
        i = insns[k]!;
        let next = rip + i.length;
        if (next >= wrap) next -= wrap;
        this.rip = next;
        i.exec(this, i);
        this.instructionCount++;
        if (shadow) { this.interruptShadow = false; shadow = false; }
        if (this.rip !== next || this.blockExit || !block.valid || this.instructionCount >= stopAt) break;
        rip = next;
      }
      return null;
    } catch (e) {
      this.blockExit = true;
      // A region has left c.rip at the faulting instruction.
      if (compiled) { i = this.faultInsn; this.faultInsn = null; this.lastBlock = null; }
      return this.handleThrown(e, i);
    }
  }

  /**
   * Counts a chain's return to the run loop (chainStops): before instruction `i` ('mid'), at a
   * block's end, after a helper call that stopped the chain (RIP where its instruction left it),
   * or at a helper's instruction that faulted (`i`).
   */
  private countChainStop(kind: 'mid' | 'end' | 'helper' | 'fault', i: DecodedInsn | null, end: number): void {
    const rip = BigInt.asUintN(64, BigInt(i !== null ? i.rip : this.rip)).toString(16);
    const key = i !== null ? `${kind} ${rip} ${i.map}:${i.op.toString(16)}` : kind === 'end' && this.instructionCount >= end ? `end ${rip} budget` : `${kind} ${rip}`;
    this.chainStops!.set(key, (this.chainStops!.get(key) ?? 0) + 1);
  }

  /** The flags a wasm chain left in the slab (SlabOffset.CC_OP...) become the lazy record. */
  private takeWasmFlags(slab: CpuSlab): void {
    const w = slab.i32;
    const cc = w[SlabOffset.CC_OP >> 2]!;
    const op = cc & 0xff;
    if (op === LazyOp.None) { this.lazyOp = LazyOp.None; this.lazyFlags = w[SlabOffset.FLAGS >> 2]!; return; }
    this.lazyOp = op; this.lazySize = cc >>> 8;
    const r = SlabOffset.CC_R >> 2;
    this.lazyResLo = w[r]! >>> 0; this.lazyResHi = w[r + 1]! >>> 0;
    if (op >= LazyOp.Logic) {
      this.lazyDstLo = 0; this.lazyDstHi = 0; this.lazySrcLo = 0; this.lazySrcHi = 0;
      if (op !== LazyOp.Logic) this.lazyFlags = w[SlabOffset.FLAGS >> 2]! & Flag.CF; // INC/DEC: the kept CF
    } else {
      const d = SlabOffset.CC_D >> 2; const s = SlabOffset.CC_S >> 2;
      this.lazyDstLo = w[d]! >>> 0; this.lazyDstHi = w[d + 1]! >>> 0; this.lazySrcLo = w[s]! >>> 0; this.lazySrcHi = w[s + 1]! >>> 0;
    }
  }

  /**
   * The interpreter's lazy flags record into the slab's (SlabOffset.CC_OP..CC_R, the same layout:
   * takeWasmFlags is the inverse), so that every block of a chain finds its incoming flags there
   * (a block reading them computes them in materializeBody). Copying the record costs a few
   * stores; computing the flags only for a first block that reads them left later such blocks
   * unable to join the chain (63 K chain returns per 8 MiB received over TCP).
   */
  private putWasmFlags(slab: CpuSlab): void {
    const w = slab.i32;
    const op = this.lazyOp;
    w[SlabOffset.CC_OP >> 2] = op | (this.lazySize << 8);
    w[SlabOffset.FLAGS >> 2] = this.lazyFlags;
    if (op === LazyOp.None) return;
    // Below 64 bits the interpreter leaves the high halves stale (flags.ts setLazy); the slab's
    // record holds whole 64-bit values, zero-extended.
    const wide = this.lazySize === 8;
    const r = SlabOffset.CC_R >> 2;
    w[r] = this.lazyResLo; w[r + 1] = wide ? this.lazyResHi : 0;
    if (op < LazyOp.Logic) {
      const d = SlabOffset.CC_D >> 2; const s = SlabOffset.CC_S >> 2;
      w[d] = this.lazyDstLo; w[d + 1] = wide ? this.lazyDstHi : 0; w[s] = this.lazySrcLo; w[s + 1] = wide ? this.lazySrcHi : 0;
    }
  }

  /** What RDTSC in wasm reads now (SlabOffset.TSC): msr.ts readTsc's value, or -1 for the interpreter. */
  private writeWasmTsc(slab: CpuSlab): void {
    const t = tscNumber(this);
    const fault = (this.cr4 & Cr4.TSD) !== 0 && this.cpl !== 0;
    const f = slab.f64;
    f[SlabOffset.TSC >> 3] = !fault && t >= 0 && t < 2 ** 53 ? t : -1;
    f[SlabOffset.TSC_AUX >> 3] = (this.cpuidConfig?.features ?? DEFAULT_CPUID_FEATURES).rdtscp ? this.tscAux >>> 0 : -1;
  }

  /** FS, GS and kernel GS bases (i64) where wasm code reads them (they change through instruction handlers and SWAPGS in wasm). */
  private writeSegBases(slab: CpuSlab): void {
    const w = slab.i32;
    putI64(w, SlabOffset.FS_BASE >> 2, this.seg[Seg.FS]!.base);
    putI64(w, SlabOffset.GS_BASE >> 2, this.seg[Seg.GS]!.base);
    putI64(w, SlabOffset.KGS_BASE >> 2, this.kernelGsBase);
  }

  /**
   * What SYSCALL and SYSRETQ in wasm read (SlabOffset.SYS_OK...): whether they may run there, and
   * the code generations of the two modes they switch between (as updateMode would select them;
   * a generation given now is as new as one given at the switch); and CR2 (SlabOffset.CR2: only
   * a fault's delivery, between chains, and MOV to CR2, a helper, change it).
   */
  private writeWasmSys(slab: CpuSlab): void {
    const w = slab.i32;
    // Not with CR4.TSD: RDTSC in wasm follows the CPL a chain started at. (TF is clear in chains.)
    let ok = this.stopRip < 0 && this.mode === CpuMode.Long64 && (this.efer & Efer.SCE) !== 0 && (this.cr4 & Cr4.TSD) === 0;
    if (ok) {
      const k = this.modeGensOf(CpuMode.Long64, 0, 0, 0xffffffff);
      const u = this.modeGensOf(CpuMode.Long64, 3, 0, 0xffffffff);
      if (k === undefined || u === undefined) ok = false;
      else {
        giveCodeGens(k);
        giveCodeGens(u);
        w[SlabOffset.SYS_GEN_K >> 2] = (k.gen * 2) | 0;
        w[SlabOffset.SYS_GLOBAL_GEN_K >> 2] = (k.globalGen * 2) | 0;
        w[SlabOffset.SYS_GEN_U >> 2] = (u.gen * 2 + 1) | 0;
        w[SlabOffset.SYS_GLOBAL_GEN_U >> 2] = (u.globalGen * 2 + 1) | 0;
      }
    }
    w[SlabOffset.SYS_OK >> 2] = ok ? 1 : 0;
    w[SlabOffset.SYS_CLEAR >> 2] = (this.sfmask | Flag.RF) & 0x3f7fd5;
    slab.f64[SlabOffset.LSTAR >> 3] = this.lstar;
    putI64(w, SlabOffset.CR2 >> 2, this.cr2);
  }

  /**
   * SYSCALL or SYSRETQ ran in wasm since the chain began (SlabOffset.SYS_SWITCHED): the Cpu takes
   * the segments and mode of the privilege level they left (registers and RFLAGS are the
   * slab's). The switch is plain control flow, as after those instructions in a helper call
   * (jumpAcrossMode): the block goes on, and the link from it holds.
   */
  private takeWasmSys(slab: CpuSlab): void {
    slab.i32[SlabOffset.SYS_SWITCHED >> 2] = 0;
    takeFastSystemCallMode(this, slab.i32[SlabOffset.CPL >> 2]!);
    this.blockExit = false;
    this.linkAcrossMode = true;
  }

  /** An odd number of SWAPGS ran in wasm since the bases were written (SlabOffset.GS_SWAPPED): swap the Cpu's. */
  private takeSwapgs(slab: CpuSlab): void {
    slab.i32[SlabOffset.GS_SWAPPED >> 2] = 0;
    const gs = this.seg[Seg.GS]!;
    const t = gs.base; gs.base = this.kernelGsBase; this.kernelGsBase = t;
  }

  /**
   * Runs instruction `i` of `owner` for a wasm function that does not translate it (translate.ts
   * helper calls): the function stored the registers and the six flags (SlabOffset.FLAGS) before
   * the call and reloads them after. The chain goes on after it unless the instruction branched,
   * ended its block, or changed what the run loop checks between blocks and chains rely on (code
   * generation, CPL, IF set or TF, an interrupt shadow, HLT, an exit request, an interrupt now
   * pending, its own block's code).
   */
  wasmHelper(i: DecodedInsn, owner: Block): HelperResult {
    const slab = this.slab!;
    this.lazyOp = 0;
    this.lazyFlags = slab.i32[SlabOffset.FLAGS >> 2]!;
    this.flagsRest = slab.i32[SlabOffset.REST >> 2]!;
    if (slab.i32[SlabOffset.GS_SWAPPED >> 2] !== 0) this.takeSwapgs(slab);
    if (slab.i32[SlabOffset.SYS_SWITCHED >> 2] !== 0) this.takeWasmSys(slab);
    const gen = this.codeGen, globalGen = this.globalCodeGen, cpl = this.cpl, rest = this.flagsRest;
    const next = i.next;
    this.rip = next;
    try {
      i.exec(this, i);
    } catch (e) {
      this.helperThrown = e; this.helperInsn = i; this.helperStop = true;
      return HelperResult.Fault;
    }
    slab.i32[SlabOffset.FLAGS >> 2] = computeArithFlags(this);
    slab.i32[SlabOffset.CC_OP >> 2] = LazyOp.None;
    this.writeSegBases(slab);
    this.writeWasmTsc(slab);
    // WRMSR (EFER, IA32_FMASK, IA32_LSTAR) and MOV to CR4 (TSD) or CR2 change what wasm reads.
    if (i.map === OpMap.M0F && (i.op === 0x30 || i.op === 0x22)) this.writeWasmSys(slab);
    const flags = this.flagsRest;
    const pending = this.irq.hasInterrupt();
    slab.i32[SlabOffset.REST >> 2] = flags;
    slab.i32[SlabOffset.PENDING >> 2] = pending ? 1 : 0;
    // STI that set IF, with no interrupt pending: the chain goes on (the spin_unlock_irqrestore of
    // every kernel lock, 90 K chain returns per 8 MiB received over TCP). The shadow it opened
    // only delays interrupts for one instruction, and none can arrive inside a chain: devices and
    // other vCPUs run between chains, and an instruction of this one that raises an interrupt
    // (a helper: APIC or device access) stops it when one is pending, IF set.
    if (this.interruptShadow && (flags & ~rest) === Flag.IF && (flags & Flag.TF) === 0 && !pending &&
        this.rip === next && !this.blockExit && !this.halted && !this.exitRequested) {
      this.interruptShadow = false;
      if (owner.valid && this.codeGen === gen && this.globalCodeGen === globalGen && this.cpl === cpl) return HelperResult.Continue;
    }
    if (this.rip !== next || this.blockExit || !owner.valid || this.codeGen !== gen || this.globalCodeGen !== globalGen || this.cpl !== cpl ||
        this.interruptShadow || this.halted || this.exitRequested || (flags & ~rest & (Flag.IF | Flag.TF)) !== 0 ||
        ((flags & Flag.IF) !== 0 && pending)) {
      if (i.map === OpMap.M0F && (i.op === 0x05 || i.op === 0x07) && this.jumpAcrossMode(slab, owner, flags, pending)) return HelperResult.Jump;
      this.helperStop = true;
      return HelperResult.Stop;
    }
    return HelperResult.Continue;
  }

  /**
   * The dispatcher found `rip` in the jump cache only for an older code generation (wasm/tier.ts):
   * the block there, looked up as the run loop would (the page tables now), goes into the jump
   * cache for this one and its table index is returned, so the chain goes on; 0 when it has no
   * function or chains must not go on (a stop RIP set, or the generation is not the Cpu's: the
   * run loop then takes over, as before). After a CR3 write no entry of user code is current:
   * guest → host TCP (busybox dd | nc, a context switch every few KiB) returned to the run loop
   * once for each user block reached again, ~200,000 of its ~300,000 chain stops per 8 MiB.
   */
  wasmLookup(rip: number, generation: number): number {
    const slab = this.slab!;
    if (this.stopRip >= 0) return 0;
    // A SYSCALL or SYSRET in the chain switched mode: the Cpu takes it as a helper call does.
    if (slab.i32[SlabOffset.SYS_SWITCHED >> 2] !== 0) {
      this.flagsRest = slab.i32[SlabOffset.REST >> 2]!;
      this.takeWasmSys(slab);
    }
    const user = this.cpl === 3 ? 1 : 0;
    if (generation !== ((this.codeGen * 2 + user) | 0)) return 0;
    const b = this.lookupBlock(rip);
    if (b === null || b.wasmIndex <= 0 || b.compiled !== null) return 0;
    this.wasm!.remember(slab, b, generation, (this.globalCodeGen * 2 + user) | 0, this);
    return b.wasmIndex;
  }

  /**
   * After SYSCALL or SYSRET in a helper call (the forms wasm does not run itself, as SYSRET to
   * 32-bit code: translate.ts fastSystemCall): whether the chain may go on at the new RIP in the
   * new mode (HelperResult.Jump), as the run loop would enter it, having written what the
   * dispatcher and the functions read of that mode. A system call otherwise took two returns to
   * the run loop, ~46,000 per 8 MiB received over TCP by busybox nc. Not when the new code is not
   * 64-bit (SYSRET to compatibility mode), TF is set, an interrupt can be taken now (IF set with
   * one pending: SYSRET restoring IF), or something else stops chains (a stop RIP, an exit
   * request, the block dropped).
   */
  private jumpAcrossMode(slab: CpuSlab, owner: Block, flags: number, pending: boolean): boolean {
    if (this.codeBits !== 64 || (flags & Flag.TF) !== 0 || ((flags & Flag.IF) !== 0 && pending) || this.stopRip >= 0 ||
        this.exitRequested || this.halted || this.interruptShadow || !owner.valid) return false;
    // The mode switch ended the block for the run loop (updateMode); the chain goes on instead.
    this.blockExit = false;
    this.linkAcrossMode = false;
    const user = this.cpl === 3 ? 1 : 0;
    const w = slab.i32;
    w[SlabOffset.CPL >> 2] = this.cpl;
    w[SlabOffset.MODE_GEN >> 2] = (this.codeGen * 2 + user) | 0;
    w[SlabOffset.MODE_GLOBAL_GEN >> 2] = (this.globalCodeGen * 2 + user) | 0;
    w[SlabOffset.MODE_HALF >> 2] = user === 1 ? TLB_SIZE : 0;
    w[SlabOffset.MODE_SWITCH >> 2] = 1;
    slab.f64[SlabOffset.RIP >> 3] = this.rip;
    return true;
  }

  /**
   * A compiled block that also has a whole-block wasm function ran JIT_TRIAL_CALLS times: when
   * its calls ran few instructions (its loop rarely loops), it goes back to the wasm tier, where
   * chains run it without the round trip through this loop that each compiled call costs.
   */
  private jitTrialOver(block: Block, wasm: WasmTier): void {
    if (block.jitInsns >= JIT_TRIAL_CALLS * JIT_MIN_INSNS_PER_CALL || block.wasmCount !== block.insns.length) return;
    block.compiled = null;
    block.jitDeclined = true;
    wasm.revive(block);
  }

  /** A fault restores RIP to the faulting instruction and is delivered; other errors propagate. */
  private handleThrown(e: unknown, i: DecodedInsn | null): RunExit | null {
    if (e instanceof CpuFault) {
      if (i !== null) this.rip = i.rip;
      return this.deliver(e.vector, e.errorCode, EventKind.Exception);
    }
    if (e instanceof TripleFaultError) return { kind: 'triple-fault', rip: this.rip };
    if (i !== null) this.rip = i.rip; // leave RIP at the instruction that failed, for diagnosis
    throw e;
  }

  /**
   * Delivers an event, escalating to #DF and triple fault per SDM Vol. 3A §6.15 Table 6-5 when
   * delivery itself faults. Returns an exit when the event cannot be delivered.
   */
  private deliver(vector: number, errorCode: number, kind: EventKind): RunExit | null {
    if (this.deliverEvent === null) return { kind: 'fault', vector, errorCode };
    let v = vector; let ec = errorCode; let k = kind;
    for (;;) {
      try {
        this.deliverEvent(this, v, ec, k);
        this.blockExit = true;
        return null;
      } catch (e) {
        if (e instanceof TripleFaultError) return { kind: 'triple-fault', rip: this.rip };
        if (!(e instanceof CpuFault)) throw e;
        const first = k === EventKind.Exception ? v : -1;
        if (first === Vector.DF) return { kind: 'triple-fault', rip: this.rip };
        const second = e.vector;
        const contributory = (x: number): boolean => x === 0 || (x >= 10 && x <= 13);
        const df = (contributory(first) && contributory(second)) || (first === Vector.PF && (contributory(second) || second === Vector.PF));
        if (df) { v = Vector.DF; ec = 0; }
        else { v = second; ec = e.errorCode; }
        k = EventKind.Exception;
      }
    }
  }

  /** SIPI: start in real mode at vector * 0x1000 (SDM Vol. 3A §8.4.4). */
  private startup(vector: number): void {
    this.waitForSipi = false;
    this.halted = false;
    const cs = this.seg[Seg.CS]!;
    cs.selector = (vector << 8) & 0xffff;
    cs.base = vector << 12;
    this.rip = 0;
    this.updateMode();
  }

  describe(): string {
    return `cpu${this.cpuIndex} rip=${formatLinear(this.rip)} mode=${this.mode} insns=${this.instructionCount}`;
  }
}
