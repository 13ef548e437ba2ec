// The WebAssembly tier's translator: a decoded 64-bit block becomes one wasm function
// `(st: i32, ub: i32, budget: i32) -> i32` over the arena (arena.ts). `st` is the vCPU's slab, `ub` the TLB
// half of the current privilege level (TLB_SIZE at CPL 3, else 0).
//
// The function runs the block's leading instructions that it knows (the integer forms kernel and
// libc code run most, the set of jit/templates.ts widened to all operand sizes) and returns
// `(k << 2) | (k = block length) << 1 | flagsWritten`, k the number of instructions it completed. It stops before an
// instruction it does not know, or whose fast path does not apply at run time (an address that is
// not canonical, a TLB miss, a page boundary, a write to a page holding code, a branch target that
// is not canonical), with nothing of that instruction done: the run loop's interpreter runs the
// rest of the block from there, and faults happen there, precisely. Every exit stores RIP, and
// when an instruction of the block wrote the arithmetic flags, the last producer's operation,
// operands and result (SlabOffset.CC_OP..CC_R: the interpreter's lazy record, flags.ts).
//
// Flags inside the block are evaluated from the operands of the last flag producer (kept in
// locals), as jit/templates.ts fuses them; a block that reads flags before producing any
// computes the incoming six flags from the slab first (materializeBody, function 1 of its module). Semantics follow the interpreter handlers (ops-*.ts), which
// follow the SDM Vol. 2 pages of each instruction; the block JIT differential tests are the oracle.

import { Bytes, Op, I32, I64, F64, VOID } from './encoder.js';
import type { DecodedInsn } from '../decoder.js';
import { OpMap, Prefix, BASE_RIP } from '../insn.js';
import { ARITH_FLAGS, Flag, Seg } from '../state.js';
import { TLB_SIZE } from '../mmu.js';
import { HelperResult, SlabOffset } from './arena.js';
import type { Cpu } from '../cpu.js';
import type { Block } from '../block-cache.js';
import { LazyOp } from '../flags.js';
import { REP_BULK_BYTES } from '../ops-string.js';

export interface Translation {
  /** Local declarations and code of the function (without its size prefix): a view valid until the next translation. */
  body: Uint8Array;
  /**
   * Instructions of the block run as wasm code, up to the first one handed to the interpreter
   * (the function may stop earlier at run time). The block JIT leaves a block to this tier only
   * when that is all of it.
   */
  count: number;
  /** Most instructions one call runs (with a fall-through block appended: more than the block has). */
  maxCount: number;
  /** The blocks whose instructions the function also runs (their code must stay valid). */
  appended: Block[];
  /** The function reads the incoming flags: the run loop must store them before calling (SlabOffset.CC_OP). */
  needsFlagsIn: boolean;
  /** The function iterates the block (it, or the block appended, ends with a branch to its start). */
  selfLoop: boolean;
  /** Some instructions run through helper calls. */
  helpers: boolean;
  /**
   * Offsets in `body` of the `br_if` and `if` instructions that leave the function (exits): the
   * module marks them unlikely (branch hints), so the compiler lays their code out of line.
   */
  exitBranches: number[];
  /**
   * A block where the trace stopped because it loops back to itself (a walk from it closes): its
   * own function should be that loop, since chains enter it there (WasmTier.queue).
   */
  loopHead: Block | null;
  /**
   * The function's side exits at Jccs: where the path goes one way, the other way (`taken`: the
   * branch taken) leaves for `target`. The tier counts the chains that go on from the function
   * to each target (WasmTier.review) and translates a function anew the other way at a Jcc that
   * most of its passes leave by.
   */
  exits: SideExit[];
}

/** A side exit at the Jcc ending the block at `rip` (Translation.exits). */
export interface SideExit {
  rip: number;
  taken: boolean;
  target: number;
}

const ST = 0;
const UB = 1;
/** Function indices in a block module: the helper import (Cpu.wasmHelper), then materializeBody's. */
export const HELPER_FUNC = 0;
export const MATERIALIZE_FUNC = 1;
/** Instructions the caller allows (a self-loop block iterates while the next iteration fits). */
const BUDGET = 2;
const TWO32 = 4294967296;

/**
 * Most blocks appended after a block that does not loop (TSHV_WASM_TRACE). 6 since traces go
 * through calls (stop 18): block calls per sequential read -23 % against 4, and in one run each
 * (bench/blk, bench/net) sequential reads 0.44x -> 0.56x QEMU, writes 0.59x -> 0.71x, random reads
 * 1.16x -> 1.23x, TCP receive 0.37x -> 0.57x; boot wasm code +15 %, boot time within the noise
 * (+5 %, -8 % in two rounds of 3).
 */
const traceBlocks = (() => {
  const v = typeof process !== 'undefined' ? process.env['TSHV_WASM_TRACE'] : undefined;
  const n = v === undefined || v === '' ? 6 : Number(v);
  return Number.isInteger(n) && n >= 0 ? n : 6;
})();

/**
 * How a function goes on from one block into the next appended (Translator): a Jcc's way (true:
 * taken, false: not), a JMP, a CALL into its callee, a RET back into the caller whose CALL is in
 * the function.
 */
type Join = boolean | 'jmp' | 'call' | 'ret';

/** Most blocks appended in a loop back to the function's first block, through calls (TSHV_WASM_LOOP). */
const loopBlocks = (() => {
  const v = typeof process !== 'undefined' ? process.env['TSHV_WASM_LOOP'] : undefined;
  const n = v === undefined || v === '' ? 32 : Number(v);
  return Number.isInteger(n) && n >= 0 ? n : 32;
})();

const enum F { CF = 0, PF = 2, AF = 4, ZF = 6, SF = 7, OF = 11 }
const ALL_FLAGS = [F.CF, F.PF, F.AF, F.ZF, F.SF, F.OF];

type ArithOp = 'add' | 'adc' | 'sub' | 'sbb' | 'logic';
type FlagSrc =
  | { k: 'in' }
  | { k: 'arith'; op: ArithOp; size: number; d: number; s: number; r: number; cin: number }
  | { k: 'incdec'; dec: boolean; size: number; r: number; cf: number }
  | { k: 'word'; w: number };

/** A page-fold hash identical to mmu.ts tlbSlot(): ((lin >>> 12) ^ (lin >>> 24)) & (TLB_SIZE - 1). */
const TLB_MASK = TLB_SIZE - 1;

/** The direct target of a block's last instruction when it is a JMP or Jcc (rel8/rel32), else NaN. */
function branchTarget(i: DecodedInsn): number {
  const op = i.op;
  const direct = i.map === OpMap.Primary ? (op >= 0x70 && op <= 0x7f) || op === 0xe9 || op === 0xeb : i.map === OpMap.M0F && op >= 0x80 && op <= 0x8f;
  return direct ? i.next + (i.imm | 0) : NaN;
}

function mask(size: number): [number, number] {
  return size === 8 ? [0xffffffff, 0xffffffff] : size === 4 ? [0xffffffff, 0] : size === 2 ? [0xffff, 0] : [0xff, 0];
}

/**
 * Buffers every translation reuses (one translation at a time, on the run loop's thread): a
 * block's code and its finished body, copied out once. Fresh buffers per block, grown by
 * doubling, were a good part of translation's time and garbage.
 */
const codeScratch = new Bytes(16384);
const bodyScratch = new Bytes(16384);

class Translator {
  private readonly c = codeScratch;
  private readonly localTypes: number[] = [];
  private src: FlagSrc = { k: 'in' };
  private needsFlagsIn = false;
  private readonly flagsInLocal: number;
  /** Side exits at Jccs so far: the index of the block (0: the first), the way that leaves, and where to. */
  readonly exits: { part: number; taken: boolean; target: number }[] = [];
  /** The local of each cached guest register (-1: unused) and whether the block writes it. */
  private readonly regLocals: number[] = new Array<number>(16).fill(-1);
  /** Bit r: the block writes register r. */
  private written = 0;
  /**
   * How the function left: K (instructions done, at most 255) | S << 8 (the flag source the
   * epilogue materializes, 0: none). One constant per exit where two locals took two, and one
   * value less for every exit's edge into the epilogue to move into place.
   */
  private readonly exitCode: number;
  /**
   * The last exit set a flag source (S != 0): it branches to $flagged, one level out from
   * $exit0, where the exits that wrote no flags go. Those skip the epilogue's flag cases, so the
   * flag sources' locals are not live on their edges: they took a zeroing and three or four moves
   * on every exit before the function's first flag producer (most of a call's first exits).
   */
  private exitFlagged = false;
  /** Flag sources live at some exit (the epilogue's cases 1..n). */
  private sources: FlagSrc[] = [];
  /**
   * The current flag source's operands, copied here by each producer (produce()): the epilogue's
   * cases read these, not each source's own locals. When every case read its source's locals,
   * all of them stayed live to the end of the function: TurboFan spilled them as they were
   * computed and, in a loop, carried each through a phi at the back edge.
   */
  private readonly srcD: number;
  private readonly srcS: number;
  private readonly srcR: number;
  /** The current source's i32: ADC/SBB carry-in, INC/DEC's kept CF, or a flags word. */
  private readonly srcC: number;
  /**
   * The block ends with a branch to its own start (a self-loop): its body is wrapped in `loop`,
   * exits branch one level further out, and the branch loops inside the function.
   */
  private readonly selfLoop: boolean;
  /** Instructions done by earlier iterations (self-loop; i32 local). */
  private readonly base: number;
  /** Set when iterations wrote SlabOffset.FLAGS at the back edge (i32 local; exits before any producer then report flags). */
  private readonly loopFlags: number;
  /**
   * RIP for the run loop (i64 local; the epilogue stores it to SlabOffset.RIP as the f64 the run
   * loop reads): an exit in an appended block sets it, as the end of the function does. A local
   * rather than a store at every exit check, which TurboFan kept on the hot path (2-3 stores per
   * memory access in appended blocks); a local set before a branch to the epilogue becomes a move
   * on that edge. An i64: a kernel RIP's constant is a 7-byte move (a sign-extended imm32), an
   * f64's took 15 (a 64-bit move and a vmovq) on every exit. Exits in the first block leave it
   * stale: the run loop resumes those from LAST_DONE.
   */
  private readonly ripLocal: number;
  /** st + (ub << 4): the privilege level's half of the wasm TLB (i32 local, set in the prologue). */
  private readonly tlbBase: number;
  /** Some exit in the body happens before the iteration's first flag producer. */
  private exitBeforeProducer = false;
  /** What K and S hold at the current point of the code (-1: not set yet). */
  private curK = -1;
  private curS = -1;
  private k = 0;
  /** Offsets in the code of the branches that leave the function (Translation.exitBranches). */
  private readonly exitBranches: number[] = [];

  /**
   * `insns`: the block's instructions (the first `blockLength`), then maybe those of blocks
   * appended after it (see translateBlock): each appended block follows a Jcc or JMP that ends the
   * one before it, at index j of `joins` (true: the function goes on there when the Jcc is taken,
   * false: when it is not, the other way leaving; 'jmp': the JMP goes on there; 'call': the CALL
   * pushes and goes on into its callee; 'ret': the RET goes on into the caller when it pops the
   * address that caller's CALL pushed, else leaves). An exit in an appended block stores RIP and
   * reports the block complete (the run loop goes on at RIP). `helperOf` gets the index of the
   * block (0: the first) an instruction is of.
   */
  /** The i32 local holding the last helper call's HelperResult (-1: no helper call yet). */
  private helperRes = -1;
  /** Instructions translated to wasm code (not helper calls). */
  private native = 0;
  /** Index of the first instruction handed to a helper (-1: none). */
  private firstHelper = -1;

  constructor(private readonly cpu: Cpu, private readonly insns: readonly DecodedInsn[], private readonly ramBase: number, private readonly blockLength: number,
    private readonly joins: ReadonlyMap<number, Join>, private readonly helperOf: ((i: DecodedInsn, part: number) => number) | null, allowSelfLoop: boolean) {
    this.c.length = 0;
    this.flagsInLocal = this.local(I32);
    this.exitCode = this.local(I32);
    this.base = this.local(I32);
    this.loopFlags = this.local(I32);
    this.ripLocal = this.local(I64);
    this.tlbBase = this.local(I32);
    this.srcD = this.local(I64);
    this.srcS = this.local(I64);
    this.srcR = this.local(I64);
    this.srcC = this.local(I32);
    // A loop: the last instruction (the block's, or the appended block's) branches to the start.
    this.selfLoop = allowSelfLoop && branchTarget(insns[insns.length - 1]!) === insns[0]!.rip;
  }

  private local(type: number): number {
    this.localTypes.push(type);
    return 2 + this.localTypes.length; // after the three params
  }

  // ---- small emitters
  private get(l: number): void { this.c.u8(Op.local_get); this.c.u32(l); }
  private set(l: number): void { this.c.u8(Op.local_set); this.c.u32(l); }
  private i32c(v: number): void { this.c.u8(Op.i32_const); this.c.s32(v); }
  private i64c(lo: number, hi: number): void { this.c.u8(Op.i64_const); this.c.s64(lo, hi); }
  /** i64.const of a JS number that is an exact integer within ±2^63. */
  private i64n(v: number): void { this.i64c(v >>> 0, Math.floor(v / TWO32) | 0); }
  private mem(op: number, offset: number): void { this.c.u8(op); this.c.u8(0); this.c.u32(offset); }
  private st(): void { this.get(ST); }

  // Guest registers live in i64 locals for the whole function: loaded from the slab in the
  // prologue (every register the block uses), stored back in the epilogue (every register it
  // writes), which all exits go through. A register written only after an exit point is stored
  // back with the value it was loaded with.

  /** The local caching register r (allocated on first use). */
  private reg(r: number): number {
    let l = this.regLocals[r]!;
    if (l < 0) { l = this.tmp64(); this.regLocals[r] = l; }
    return l;
  }

  /** Pushes register `r` (size bytes, zero-extended to i64); AH..BH for size 1, r 4..7, no REX. */
  private regGet(size: number, r: number, rex: number): void {
    if (size === 1 && rex === 0 && r >= 4 && r < 8) {
      this.get(this.reg(r - 4)); this.i64c(8, 0); this.c.u8(Op.i64_shr_u); this.maskTo(1);
      return;
    }
    this.get(this.reg(r));
    this.maskTo(size);
  }

  /** Pushes register `r` (size bytes) sign-extended to i64. */
  private regGetSigned(size: number, r: number, rex: number): void {
    const t = this.tmp64();
    this.regGet(size, r, rex); this.set(t);
    this.sext(t, size);
  }

  /** Writes local `v` to register `r` (size bytes): a 32-bit write zero-extends, 8/16 merge. */
  private regSet(size: number, r: number, rex: number, v: number): void {
    const high = size === 1 && rex === 0 && r >= 4 && r < 8;
    const reg = high ? r - 4 : r;
    const l = this.reg(reg);
    this.written |= 1 << reg;
    if (size === 8) { this.get(v); this.set(l); return; }
    if (size === 4) { this.get(v); this.maskTo(4); this.set(l); return; }
    const [m] = mask(size);
    const shift = high ? 8 : 0;
    this.get(l); this.i64c(~(m << shift), -1); this.c.u8(Op.i64_and);
    this.get(v); this.maskTo(size);
    if (shift !== 0) { this.i64c(shift, 0); this.c.u8(Op.i64_shl); }
    this.c.u8(Op.i64_or); this.set(l);
  }

  private tmp64(): number { return this.local(I64); }
  private tmp32(): number { return this.local(I32); }

  /** Makes `s` the current flag source, its operands copied into the shared locals the epilogue reads. */
  private produce(s: FlagSrc): void {
    const copy = (from: number, to: number): void => { this.get(from); this.set(to); };
    if (s.k === 'word') copy(s.w, this.srcC);
    else if (s.k === 'incdec') { copy(s.r, this.srcR); copy(s.cf, this.srcC); }
    else if (s.k === 'arith') {
      copy(s.r, this.srcR);
      if (s.op !== 'logic') { copy(s.d, this.srcD); copy(s.s, this.srcS); }
      if (s.cin >= 0) copy(s.cin, this.srcC);
    }
    this.src = s;
  }

  /** Source `s` reading the shared locals (the epilogue's case for it). */
  private shared(s: FlagSrc): FlagSrc {
    if (s.k === 'word') return { k: 'word', w: this.srcC };
    if (s.k === 'incdec') return { ...s, r: this.srcR, cf: this.srcC };
    if (s.k === 'arith') return { ...s, d: this.srcD, s: this.srcS, r: this.srcR, cin: s.cin < 0 ? -1 : this.srcC };
    return s;
  }

  /** Masks the i64 on the stack to `size` bytes. */
  private maskTo(size: number): void {
    if (size === 8) return;
    const [lo] = mask(size);
    this.i64c(lo, 0); this.c.u8(Op.i64_and);
  }

  // ---- exits

  // Every exit goes to one epilogue (translate()): the body is
  // `block $done block $flagged block $exit0 ... end (br $done) end (flag cases) end (epilogue)`;
  // an exit sets K (instructions done) and S (which flag source the flag cases materialize into
  // SlabOffset.FLAGS; 0: none written), both in one local (exitCode), and branches to $exit0
  // (S = 0) or $flagged. Exits are emitted only at the top level of the body or directly inside
  // one `if`, so the branch depth is known (outBy). Keeping exits this small matters: with
  // thousands of warm blocks, code size is what the time goes to (cache and TLB misses).

  /**
   * Makes K and S right for an exit before instruction k (RIP is then the run loop's to set, from
   * k). The body is straight-line code at the level of $exit (exits are its only branches), so
   * the values the locals hold are known here: they are set only when they change.
   */
  private setExit(k: number): void {
    // In the appended block the run loop cannot resume by index: RIP goes with the exit.
    if (k >= this.blockLength && k < this.insns.length) this.setRip(this.insns[k]!.rip);
    this.setExitKS(k);
  }

  private setExitKS(k: number): void {
    let id = 0;
    if (this.src.k !== 'in') {
      id = this.sources.indexOf(this.src) + 1;
      if (id === 0) { this.sources.push(this.src); id = this.sources.length; }
    }
    if (this.curK !== k || this.curS !== id) { this.i32c(k | (id << 8)); this.set(this.exitCode); this.curK = k; this.curS = id; }
    this.exitFlagged = id !== 0;
    if (id === 0) this.exitBeforeProducer = true;
  }

  /** The index of the block (0: the first, then the appended ones) the current instruction is of. */
  private part(): number {
    let part = 0;
    for (const j of this.joins.keys()) if (this.k > j) part++;
    return part;
  }

  /** Exits before the current instruction when the i32 on the stack is not 0. */
  private exitIf(): void {
    this.setExit(this.k);
    this.leave(Op.br_if, this.outBy(0));
  }

  /** A branch (`br_if` to the epilogue, or the `if` around an exit) that leaves the function: a way runs rarely take (Translation.exitBranches). */
  private leave(op: Op.br_if | Op.if, immediate: number): void {
    this.exitBranches.push(this.c.length);
    this.c.op(op, immediate);
  }

  /** The depth of the last exit's target from the body's top level plus `nested` enclosing blocks. */
  private outBy(nested: number): number {
    return nested + (this.selfLoop ? 1 : 0) + (this.exitFlagged ? 1 : 0);
  }

  /**
   * The back edge of a self-loop, with the branch's condition (i32) on the stack: when taken and
   * another whole iteration fits in the budget, the next iteration starts (`br` to the loop);
   * otherwise the condition stays on the stack for the code that stores RIP.
   */
  private backEdge(): void {
    const n = this.insns.length;
    const taken = this.tmp32();
    this.c.op(Op.local_tee); this.c.u32(taken);
    this.get(this.base); this.i32c(2 * n); this.c.u8(Op.i32_add); this.get(BUDGET); this.c.u8(Op.i32_le_u); this.c.u8(Op.i32_and);
    this.c.op(Op.if, VOID);
    if (this.src.k !== 'in') {
      // The next iteration starts from the flags this one leaves: what it reads before its first
      // producer ('in'), and what an exit before that producer reports.
      if (this.needsFlagsIn) { this.flagsWord(); this.set(this.flagsInLocal); }
      if (this.exitBeforeProducer) {
        this.storeFlags();
        this.i32c(1); this.set(this.loopFlags);
      }
    }
    this.get(this.base); this.i32c(n); this.c.u8(Op.i32_add); this.set(this.base);
    this.c.op(Op.br, 1);
    this.c.u8(Op.end);
    this.get(taken);
  }

  /**
   * Instruction i, which no form here runs, handed to the interpreter (Cpu.wasmHelper, the
   * module's import, function 0): registers the block wrote and the six flags go to the slab
   * before, all registers and the flags come back after. The call ends the function before the
   * instruction when it faulted (flags as they were), after it when it left the chain (RIP is then
   * the run loop's, from the Cpu). Instructions that need a different decoding (#UD forms) are
   * not handed over: the function stops before them.
   */
  private helper(i: DecodedInsn): boolean {
    if (this.helperOf === null || i.exec !== this.cpu.table.get(i.map, i.op, i.mandatory)) return false;
    const id = this.helperOf(i, this.part());
    if (this.firstHelper < 0) this.firstHelper = this.k;
    // Every register gets a local (loaded in the prologue): the instruction may change any, and a
    // register first used after the call must not keep a value loaded before it.
    for (let r = 0; r < 16; r++) this.reg(r);
    this.storeWrittenRegs();
    this.st();
    if (this.src.k === 'in') { this.needsFlagsIn = true; this.get(this.flagsInLocal); } else this.flagsWord();
    this.mem(Op.i32_store, SlabOffset.FLAGS);
    if (this.helperRes < 0) this.helperRes = this.tmp32();
    this.i32c(id); this.c.op(Op.call, HELPER_FUNC); this.set(this.helperRes);
    for (let r = 0; r < 16; r++) { this.st(); this.mem(Op.i64_load, SlabOffset.GPR + 8 * r); this.set(this.regLocals[r]!); }
    this.get(this.helperRes); this.i32c(HelperResult.Fault); this.c.u8(Op.i32_eq); this.exitIf();
    const w = this.tmp32();
    this.st(); this.mem(Op.i32_load, SlabOffset.FLAGS); this.set(w);
    this.produce({ k: 'word', w });
    // SYSCALL and SYSRET may return Jump: the function ends as if run to its end, at the RIP the
    // helper stored (the chain goes on in the new mode). After Stop that RIP is unused.
    if (i.map === OpMap.M0F && (i.op === 0x05 || i.op === 0x07)) {
      this.st(); this.mem(Op.f64_load, SlabOffset.RIP); this.c.op(0xfc, 6 /* i64.trunc_sat_f64_s */); this.set(this.ripLocal);
    }
    this.get(this.helperRes); this.setExitKS(this.k + 1); this.leave(Op.br_if, this.outBy(0));
    return true;
  }

  // ---- flags

  /** Pushes flag f (0 or 1, i32) of the current flag source. */
  private flag(f: F): void {
    const s = this.src;
    if (s.k === 'in' || s.k === 'word') {
      let w: number;
      if (s.k === 'in') { this.needsFlagsIn = true; w = this.flagsInLocal; } else w = s.w;
      this.get(w);
      if (f !== 0) { this.i32c(f); this.c.u8(Op.i32_shr_u); }
      this.i32c(1); this.c.u8(Op.i32_and);
      return;
    }
    const size = s.size;
    const top = size * 8 - 1;
    const signOf = (l: number): void => { this.get(l); this.i64c(top, 0); this.c.u8(Op.i64_shr_u); this.c.u8(Op.i32_wrap_i64); this.i32c(1); this.c.u8(Op.i32_and); };
    switch (f) {
      case F.ZF: this.get(s.r); this.c.u8(Op.i64_eqz); return;
      case F.SF: signOf(s.r); return;
      case F.PF: this.get(s.r); this.c.u8(Op.i32_wrap_i64); this.i32c(0xff); this.c.u8(Op.i32_and); this.c.u8(Op.i32_popcnt); this.i32c(1); this.c.u8(Op.i32_and); this.c.u8(Op.i32_eqz); return;
      default: break;
    }
    if (s.k === 'incdec') {
      if (f === F.CF) { this.get(s.cf); return; }
      if (f === F.AF) { this.get(s.r); this.c.u8(Op.i32_wrap_i64); this.i32c(0xf); this.c.u8(Op.i32_and); if (s.dec) { this.i32c(0xf); this.c.u8(Op.i32_eq); } else this.c.u8(Op.i32_eqz); return; }
      // OF: INC gives the smallest negative number, DEC the largest positive one.
      this.get(s.r);
      if (s.dec) { const [lo, hi] = size === 8 ? [0xffffffff, 0x7fffffff] : [(2 ** top - 1) >>> 0, 0]; this.i64c(lo, hi); }
      else { const [lo, hi] = size === 8 ? [0, 0x80000000] : [(2 ** top) >>> 0, 0]; this.i64c(lo, hi | 0); }
      this.c.u8(Op.i64_eq);
      return;
    }
    if (s.op === 'logic') { this.i32c(0); return; }
    const sub = s.op === 'sub' || s.op === 'sbb';
    if (f === F.AF) {
      this.get(s.d); this.get(s.s); this.c.u8(Op.i64_xor); this.get(s.r); this.c.u8(Op.i64_xor);
      this.c.u8(Op.i32_wrap_i64); this.i32c(4); this.c.u8(Op.i32_shr_u); this.i32c(1); this.c.u8(Op.i32_and);
      return;
    }
    if (f === F.OF) {
      // add: (d ^ r) & (s ^ r); sub: (d ^ s) & (d ^ r); at the sign bit.
      if (sub) { this.get(s.d); this.get(s.s); this.c.u8(Op.i64_xor); this.get(s.d); this.get(s.r); this.c.u8(Op.i64_xor); }
      else { this.get(s.d); this.get(s.r); this.c.u8(Op.i64_xor); this.get(s.s); this.get(s.r); this.c.u8(Op.i64_xor); }
      this.c.u8(Op.i64_and); this.i64c(top, 0); this.c.u8(Op.i64_shr_u); this.c.u8(Op.i32_wrap_i64); this.i32c(1); this.c.u8(Op.i32_and);
      return;
    }
    // CF: add: r < d (r <= d with a carry-in); sub: d < s (d <= s with a borrow-in).
    const [a, b] = sub ? [s.d, s.s] : [s.r, s.d];
    if (s.cin < 0) { this.get(a); this.get(b); this.c.u8(Op.i64_lt_u); return; }
    this.get(a); this.get(b); this.c.u8(Op.i64_le_u);
    this.get(a); this.get(b); this.c.u8(Op.i64_lt_u);
    this.get(s.cin); this.c.u8(Op.select);
  }

  /** Pushes the six flags as an RFLAGS word (i32). */
  private flagsWord(): void {
    const s = this.src;
    if (s.k === 'word') { this.get(s.w); return; }
    let first = true;
    for (const f of ALL_FLAGS) {
      this.flag(f);
      if (f !== 0) { this.i32c(f); this.c.u8(Op.i32_shl); }
      if (!first) this.c.u8(Op.i32_or);
      first = false;
    }
  }

  /** Pushes condition cc (SDM Vol. 1 Table B-1) as 0/1. */
  private cond(cc: number): void {
    switch (cc >> 1) {
      case 0: this.flag(F.OF); break;
      case 1: this.flag(F.CF); break;
      case 2: this.flag(F.ZF); break;
      case 3: this.flag(F.CF); this.flag(F.ZF); this.c.u8(Op.i32_or); break;
      case 4: this.flag(F.SF); break;
      case 5: this.flag(F.PF); break;
      case 6: this.flag(F.SF); this.flag(F.OF); this.c.u8(Op.i32_xor); break;
      default: this.flag(F.ZF); this.flag(F.SF); this.flag(F.OF); this.c.u8(Op.i32_xor); this.c.u8(Op.i32_or); break;
    }
    if ((cc & 1) !== 0) this.c.u8(Op.i32_eqz);
  }

  /** CF of the current source into a new i32 local (ADC/SBB carry-in, INC/DEC's kept CF). */
  private cfLocal(): number {
    const l = this.tmp32();
    this.flag(F.CF); this.set(l);
    return l;
  }

  // ---- addresses and memory

  /**
   * Pushes i32 1 when the i64 local `l` is not canonical (bits 63..47 not all equal). Addresses
   * that go through tlb() need no such check: a tag is a canonical page base, so a non-canonical
   * address misses and the interpreter raises the fault.
   */
  private notCanonical(l: number): void {
    this.get(l); this.i64c(47, 0); this.c.u8(Op.i64_shr_s); this.i64c(1, 0); this.c.u8(Op.i64_add); this.i64c(1, 0); this.c.u8(Op.i64_gt_u);
  }

  /** The 64-bit effective address (no segment base) of i's memory operand into a new local, or -1 for forms left to the handler. */
  private effectiveAddress(i: DecodedInsn): number {
    const ea = this.tmp64();
    if (i.base === BASE_RIP) {
      this.i64n(i.next + i.disp);
      this.set(ea);
      return ea;
    }
    let terms = 0;
    if (i.base >= 0) { this.regGet(8, i.base, 1); terms++; }
    if (i.index >= 0) {
      this.regGet(8, i.index, 1);
      if (i.scale !== 1) { this.i64c(i.scale === 2 ? 1 : i.scale === 4 ? 2 : 3, 0); this.c.u8(Op.i64_shl); }
      if (terms++ > 0) this.c.u8(Op.i64_add);
    }
    if (i.disp !== 0 || terms === 0) {
      this.i64n(i.disp);
      if (terms++ > 0) this.c.u8(Op.i64_add);
    }
    this.set(ea);
    return ea;
  }

  private addressable(i: DecodedInsn): boolean {
    if (i.addrSize !== 8) return false;
    if (i.base === BASE_RIP) {
      if (i.index >= 0) return false;
      const a = i.next + i.disp;
      if (a < -0x800000000000 || a >= 0x800000000000) return false;
    }
    return true;
  }

  /** Linear address of i's memory operand into a new local (tlb() checks it is canonical). */
  private linear(i: DecodedInsn): number {
    const ea = this.effectiveAddress(i);
    if (i.seg < Seg.FS) return ea;
    // With FS/GS the offset itself must be canonical (Cpu.offset).
    this.notCanonical(ea); this.exitIf();
    const lin = this.tmp64();
    this.get(ea); this.st(); this.mem(Op.i64_load, i.seg === Seg.FS ? SlabOffset.FS_BASE : SlabOffset.GS_BASE);
    this.c.u8(Op.i64_add); this.set(lin);
    return lin;
  }

  /**
   * The wasm TLB entry of the canonical linear address `lin` into a new i32 local `e` (its slab
   * offset), lin's low 32 bits into `w`; pushes i32 1 when the entry is not for lin's page, or
   * (a write) the page is read-only.
   */
  private tlbEntry(lin: number, write: boolean, size = 1): { e: number; w: number } {
    const e = this.tmp32();
    const w = this.tmp32();
    // The slot's entry: tb + (tlbSlot(lin) << 4), tb the privilege level's TLB half (prologue).
    this.get(lin); this.c.u8(Op.i32_wrap_i64); this.set(w);
    // (slot << 4) as ((w >>> 8) ^ (w >>> 20)) & (TLB_MASK << 4): the shift folded into the others.
    this.get(w); this.i32c(8); this.c.u8(Op.i32_shr_u); this.get(w); this.i32c(20); this.c.u8(Op.i32_shr_u); this.c.u8(Op.i32_xor);
    this.i32c(TLB_MASK << 4); this.c.u8(Op.i32_and);
    this.get(this.tlbBase); this.c.u8(Op.i32_add); this.set(e);
    // The tag is the page base with bit 0 set when no wasm store may go there (not writable, or
    // decoded code there, whose blocks the interpreter's write path drops): a write needs it equal to the
    // page base, a read equal up to bit 0 ((tag ^ page) <= 1, unsigned). It is compared with the
    // page of the access's last byte: an access crossing into the next page misses, since that
    // page never has the first byte's slot (mmu.ts tlbSlot), so no separate crossing test.
    this.get(e); this.mem(Op.i64_load, SlabOffset.WTLB);
    this.get(lin); if (size > 1) { this.i64c(size - 1, 0); this.c.u8(Op.i64_add); } this.i64c(-4096, -1); this.c.u8(Op.i64_and);
    if (write) this.c.u8(Op.i64_ne);
    else { this.c.u8(Op.i64_xor); this.i64c(1, 0); this.c.u8(Op.i64_gt_u); }
    return { e, w };
  }

  /**
   * TLB hit check for an access of `size` bytes at the canonical linear address `lin` (reads
   * and/or writes); on a miss, a page crossing or a write to a code page, exits before the
   * instruction. Returns an i32 local with the access's wasm address minus ramBase.
   */
  private tlb(lin: number, size: number, read: boolean, write: boolean): number {
    if (!read && !write) throw new Error('tlb: an access reads or writes');
    const { e, w } = this.tlbEntry(lin, write, size);
    this.exitIf();
    const h = this.tmp32();
    this.ramIndex(e, w); this.set(h);
    return h;
  }

  /** Pushes the RAM index, modulo 2^32 (wasm32 addresses need no more), of the address with low half `w` in TLB entry `e`'s page. */
  private ramIndex(e: number, w: number): void {
    this.get(w); this.get(e); this.mem(Op.i32_load, SlabOffset.WTLB + 8); this.c.u8(Op.i32_add);
  }

  private load(size: number, h: number, signed = false): void {
    this.get(h);
    const op = size === 8 ? Op.i64_load : size === 4 ? (signed ? Op.i64_load32_s : Op.i64_load32_u)
      : size === 2 ? (signed ? Op.i64_load16_s : Op.i64_load16_u) : (signed ? Op.i64_load8_s : Op.i64_load8_u);
    this.mem(op, this.ramBase);
  }

  private store(size: number, h: number, v: number): void {
    this.get(h); this.get(v);
    this.mem(size === 8 ? Op.i64_store : size === 4 ? Op.i64_store32 : size === 2 ? Op.i64_store16 : Op.i64_store8, this.ramBase);
  }

  // ---- operands of ModRM forms

  /** Where an r/m operand lives: a register, or an access prepared by tlb(). */
  private rm(i: DecodedInsn, size: number, read: boolean, write: boolean): { reg: number } | { h: number } {
    if (!i.hasMem) return { reg: i.rm };
    const lin = this.linear(i);
    return { h: this.tlb(lin, size, read, write) };
  }

  private rmGet(i: DecodedInsn, o: { reg: number } | { h: number }, size: number): number {
    const v = this.tmp64();
    if ('reg' in o) this.regGet(size, o.reg, i.rex); else this.load(size, o.h);
    this.set(v);
    return v;
  }

  private rmSet(i: DecodedInsn, o: { reg: number } | { h: number }, size: number, v: number): void {
    if ('reg' in o) this.regSet(size, o.reg, i.rex, v); else this.store(size, o.h, v);
  }

  private immLocal(i: DecodedInsn, size: number): number {
    const v = this.tmp64();
    const [lo, hi] = mask(size);
    this.i64c((i.imm & lo) >>> 0, size === 8 ? i.immHi | 0 : hi);
    this.set(v);
    return v;
  }

  // ---- ALU

  /** r = d op s (masked), the new flag source; returns r. `cin` is the ADC/SBB carry local. */
  private alu(op: number, size: number, d: number, s: number): number {
    const r = this.tmp64();
    let kind: ArithOp;
    let cin = -1;
    if (op === 2 || op === 3) cin = this.cfLocal();
    this.get(d); this.get(s);
    switch (op) {
      case 0: kind = 'add'; this.c.u8(Op.i64_add); break;
      case 1: kind = 'logic'; this.c.u8(Op.i64_or); break;
      case 2: kind = 'adc'; this.c.u8(Op.i64_add); this.get(cin); this.c.u8(Op.i64_extend_i32_u); this.c.u8(Op.i64_add); break;
      case 3: kind = 'sbb'; this.c.u8(Op.i64_sub); this.get(cin); this.c.u8(Op.i64_extend_i32_u); this.c.u8(Op.i64_sub); break;
      case 4: kind = 'logic'; this.c.u8(Op.i64_and); break;
      case 6: kind = 'logic'; this.c.u8(Op.i64_xor); break;
      default: kind = 'sub'; this.c.u8(Op.i64_sub); break; // SUB, CMP
    }
    if (kind !== 'logic') this.maskTo(size);
    this.set(r);
    this.produce({ k: 'arith', op: kind, size, d, s, r, cin });
    return r;
  }

  /** ALU ops 0-7 on E/G/I operands: forms 'EG', 'GE', 'EI', 'AI' (TEST: op 4 without a write). */
  private aluForm(i: DecodedInsn, op: number, size: number, form: 'EG' | 'GE' | 'EI' | 'AI', test = false): boolean {
    const writes = op !== 7 && !test;
    if (form === 'GE') {
      const o = this.rm(i, size, true, false);
      const s = this.rmGet(i, o, size);
      const d = this.tmp64(); this.regGet(size, i.reg, i.rex); this.set(d);
      const r = this.alu(op, size, d, s);
      if (writes) this.regSet(size, i.reg, i.rex, r);
      return true;
    }
    if (form === 'AI') {
      const d = this.tmp64(); this.regGet(size, 0, i.rex); this.set(d);
      const s = this.immLocal(i, size);
      const r = this.alu(op, size, d, s);
      if (writes) this.regSet(size, 0, i.rex, r);
      return true;
    }
    const o = this.rm(i, size, true, writes);
    const d = this.rmGet(i, o, size);
    let s: number;
    if (form === 'EG') { s = this.tmp64(); this.regGet(size, i.reg, i.rex); this.set(s); } else s = this.immLocal(i, size);
    const r = this.alu(op, size, d, s);
    if (writes) this.rmSet(i, o, size, r);
    return true;
  }

  // ---- the instruction table

  private supported(i: DecodedInsn): boolean {
    const cpu = this.cpu;
    if (i.exec !== cpu.table.get(i.map, i.op, i.mandatory)) return false; // #UD forms and the like
    // LOCK: the vCPUs take turns on one thread, so a locked access is just the access. Only the
    // forms the SDM allows it on, with a memory destination (others are #UD: the interpreter's).
    if ((i.prefixes & Prefix.LOCK) !== 0 && !(i.hasMem && lockable(i))) return false;
    if (i.hasMem && !this.addressable(i)) return false;
    return true;
  }

  /** Emits instruction i; false (nothing emitted) when it is not a form this tier runs. */
  private insn(i: DecodedInsn): 'next' | 'branch' | false {
    if (!this.supported(i)) return false;
    const size = i.opSize;
    const op = i.op;
    const e = (i.modrm >> 3) & 7;
    if (i.map === OpMap.Primary) {
      if (op < 0x40 && (op & 7) <= 5) {
        const f = op & 7;
        const aop = op >> 3;
        return this.aluForm(i, aop, size, f <= 1 ? 'EG' : f <= 3 ? 'GE' : 'AI') && 'next';
      }
      if (op >= 0x80 && op <= 0x83 && op !== 0x82) return this.aluForm(i, e, size, 'EI') && 'next';
      if (op === 0x84 || op === 0x85) return this.aluForm(i, 4, size, 'EG', true) && 'next';
      if (op === 0xa8 || op === 0xa9) return this.aluForm(i, 4, size, 'AI', true) && 'next';
      if ((op === 0xf6 || op === 0xf7) && e <= 1) return this.aluForm(i, 4, size, 'EI', true) && 'next';
      if (op === 0xf7 && (e === 4 || e === 5) && (size === 4 || size === 8)) return this.mulWide(i, size, e === 5);
      if (op === 0xf7 && (e === 6 || e === 7) && (size === 4 || size === 8)) return this.divide(i, size, e === 7);
      if ((op === 0xf6 || op === 0xf7) && (e === 2 || e === 3)) {
        const o = this.rm(i, size, true, true);
        const v = this.rmGet(i, o, size);
        let r: number;
        if (e === 2) { r = this.tmp64(); this.get(v); this.i64c(-1, -1); this.c.u8(Op.i64_xor); this.maskTo(size); this.set(r); }
        else { const z = this.tmp64(); this.i64c(0, 0); this.set(z); r = this.alu(5, size, z, v); }
        this.rmSet(i, o, size, r);
        return 'next';
      }
      if ((op === 0xfe || op === 0xff) && e <= 1) {
        const o = this.rm(i, size, true, true);
        const v = this.rmGet(i, o, size);
        const cf = this.cfLocal();
        const r = this.tmp64();
        this.get(v); this.i64c(1, 0); this.c.u8(e === 1 ? Op.i64_sub : Op.i64_add); this.maskTo(size); this.set(r);
        this.produce({ k: 'incdec', dec: e === 1, size, r, cf });
        this.rmSet(i, o, size, r);
        return 'next';
      }
      if (op === 0xc0 || op === 0xc1 || op === 0xd0 || op === 0xd1) return this.shift(i, size, e, op >= 0xd0 ? 1 : i.imm & 0xff);
      if (op === 0x90 && i.rm === 0 && (i.prefixes & Prefix.REP) === 0) return 'next';
      if ((op === 0x69 || op === 0x6b) && size !== 1) {
        const o = this.rm(i, size, true, false);
        const s = this.rmGet(i, o, size);
        const r = this.imul(size, s, this.immLocal(i, size));
        this.regSet(size, i.reg, i.rex, r);
        return 'next';
      }
      if ((op === 0xd2 || op === 0xd3) && (size === 4 || size === 8)) return this.shift(i, size, e, -1);
      if (op === 0xfa || op === 0xfb) return this.cliSti(op === 0xfb);
      if (op === 0xfc || op === 0xfd) {
        // CLD, STD (SDM CLD, STD): DF in the slab's RFLAGS, where string ops read it at run time.
        // A helper call each before: CLD opens every interrupt and exception entry.
        this.st(); this.st(); this.mem(Op.i32_load, SlabOffset.REST);
        if (op === 0xfc) { this.i32c(~Flag.DF); this.c.u8(Op.i32_and); } else { this.i32c(Flag.DF); this.c.u8(Op.i32_or); }
        this.mem(Op.i32_store, SlabOffset.REST);
        return 'next';
      }
      if (op === 0x9c && size === 8) {
        // PUSHF (SDM PUSHF): RFLAGS with VM and RF clear, bit 1 set; no check in 64-bit mode.
        const v = this.tmp64();
        this.st(); this.mem(Op.i32_load, SlabOffset.REST); this.i32c(~(ARITH_FLAGS | Flag.VM | Flag.RF)); this.c.u8(Op.i32_and);
        this.flagsWord(); this.c.u8(Op.i32_or); this.i32c(2); this.c.u8(Op.i32_or);
        this.c.u8(Op.i64_extend_i32_u); this.set(v);
        this.push(v);
        return 'next';
      }
      if (op === 0xf5 || op === 0xf8 || op === 0xf9) {
        // CMC, CLC, STC: CF only (SDM Vol. 2).
        const w = this.tmp32();
        this.flagsWord();
        if (op === 0xf5) { this.i32c(1); this.c.u8(Op.i32_xor); } else { this.i32c(~1); this.c.u8(Op.i32_and); if (op === 0xf9) { this.i32c(1); this.c.u8(Op.i32_or); } }
        this.set(w);
        this.produce({ k: 'word', w });
        return 'next';
      }
      if (op === 0xff && (e === 2 || e === 4) && size === 8) {
        // CALL / JMP r/m64: a non-canonical target is #GP(0) before anything changes (the interpreter's).
        const o = this.rm(i, 8, true, false);
        const t = this.rmGet(i, o, 8);
        this.notCanonical(t); this.exitIf();
        if (e === 2) { const ret = this.tmp64(); this.i64n(i.next); this.set(ret); this.push(ret); }
        this.get(t); this.set(this.ripLocal);
        return 'branch';
      }
      // PUSH r/m64: the operand is read (its address from RSP before the push) first.
      if (op === 0xff && e === 6 && size === 8) {
        const o = this.rm(i, 8, true, false);
        const v = this.rmGet(i, o, 8);
        this.push(v);
        return 'next';
      }
      // LEAVE: RSP = RBP, then POP RBP; the read comes first, so a fault changes nothing.
      if (op === 0xc9 && size === 8) {
        const [v, ns] = this.stackRead(5);
        this.regSet(8, 4, 1, ns);
        this.regSet(8, 5, 1, v);
        return 'next';
      }
      // XCHG r/m, r (SDM XCHG; with memory it is locked, which one thread running the vCPUs in
      // turn gives anyway); a 32-bit register operand is zero-extended.
      if (op === 0x86 || op === 0x87) {
        const sz = op === 0x86 ? 1 : size;
        const o = this.rm(i, sz, true, true);
        const v = this.rmGet(i, o, sz);
        const g = this.tmp64(); this.regGet(sz, i.reg, i.rex); this.set(g);
        this.rmSet(i, o, sz, g);
        this.regSet(sz, i.reg, i.rex, v);
        return 'next';
      }
      // MOV
      if (op >= 0x88 && op <= 0x8b) {
        const toRm = op <= 0x89;
        const o = this.rm(i, size, !toRm, toRm);
        if (toRm) { const v = this.tmp64(); this.regGet(size, i.reg, i.rex); this.set(v); this.rmSet(i, o, size, v); }
        else { const v = this.rmGet(i, o, size); this.regSet(size, i.reg, i.rex, v); }
        return 'next';
      }
      if (op >= 0xb0 && op <= 0xbf) {
        const sz = op < 0xb8 ? 1 : size;
        const v = this.immLocal(i, sz);
        this.regSet(sz, i.rm, i.rex, v);
        return 'next';
      }
      if ((op === 0xc6 || op === 0xc7) && e === 0) {
        const o = this.rm(i, size, false, true);
        const v = this.immLocal(i, size);
        this.rmSet(i, o, size, v);
        return 'next';
      }
      if (op === 0x8d && i.hasMem && size !== 1) {
        const ea = this.effectiveAddress(i);
        if (size !== 8) { this.get(ea); this.maskTo(size); this.set(ea); }
        this.regSet(size, i.reg, i.rex, ea);
        return 'next';
      }
      if (op === 0x63 && size === 8) {
        const o = this.rm(i, 4, true, false);
        const v = this.tmp64();
        if ('reg' in o) this.regGetSigned(4, o.reg, i.rex); else this.load(4, o.h, true);
        this.set(v);
        this.regSet(8, i.reg, i.rex, v);
        return 'next';
      }
      if (op === 0x98 && size !== 2) {
        // CDQE (RAX = sign-extended EAX), CWDE (EAX = sign-extended AX)
        const v = this.tmp64();
        this.regGetSigned(size === 8 ? 4 : 2, 0, i.rex);
        this.maskTo(size); this.set(v);
        this.regSet(size, 0, i.rex, v);
        return 'next';
      }
      if (op === 0x99 && size !== 2) {
        // CQO / CDQ: rDX = the sign of rAX, repeated
        const v = this.tmp64();
        this.regGetSigned(size, 0, i.rex);
        this.i64c(63, 0); this.c.u8(Op.i64_shr_s); this.maskTo(size); this.set(v);
        this.regSet(size, 2, i.rex, v);
        return 'next';
      }
      if (op >= 0x70 && op <= 0x7f) return this.jcc(i, op & 15);
      if ((op === 0xe9 || op === 0xeb) && size === 8) {
        const target = i.next + (i.imm | 0);
        if (target < -0x800000000000 || target >= 0x800000000000) return false;
        if (this.joins.get(this.k) === 'jmp') return 'next'; // the target block follows
        if (this.selfLoop && this.k === this.insns.length - 1 && target === this.insns[0]!.rip) { this.i32c(1); this.backEdge(); this.c.u8(Op.drop); }
        this.setRip(target);
        return 'branch';
      }
      if (((op >= 0x50 && op <= 0x57) || op === 0x6a || op === 0x68) && size === 8) {
        let v: number;
        if (op <= 0x57) { v = this.tmp64(); this.regGet(8, i.rm, i.rex); this.set(v); } else v = this.immLocal(i, 8);
        this.push(v);
        return 'next';
      }
      if (op >= 0x58 && op <= 0x5f && size === 8) {
        const [v, ns] = this.stackRead(4);
        this.regSet(8, 4, 1, ns);
        this.regSet(8, i.rm, i.rex, v);
        return 'next';
      }
      if (op === 0xe8 && size === 8) {
        const target = i.next + (i.imm | 0);
        if (target < -0x800000000000 || target >= 0x800000000000) return false;
        const v = this.tmp64(); this.i64n(i.next); this.set(v);
        this.push(v);
        if (this.joins.get(this.k) === 'call') return 'next'; // the callee follows
        this.setRip(target);
        return 'branch';
      }
      if ((op === 0xa4 || op === 0xa5 || op === 0xaa || op === 0xab) && i.addrSize === 8 && (op >= 0xaa || i.seg < Seg.FS)) return this.stringOp(i, op <= 0xa5);
      if (op === 0xc3 && size === 8) {
        const [v, ns] = this.stackRead(4);
        // A non-canonical target is #GP(0) with rSP unchanged (SDM RET): the interpreter's.
        this.notCanonical(v); this.exitIf();
        this.regSet(8, 4, 1, ns);
        this.get(v); this.set(this.ripLocal);
        if (this.joins.get(this.k) !== 'ret') return 'branch';
        // A return into the caller appended after it: the code goes on there when the address
        // popped is the one its CALL pushed (the callee may have changed it: then it leaves, done).
        const curK = this.curK; const curS = this.curS;
        this.get(v); this.i64n(this.insns[this.k + 1]!.rip); this.c.u8(Op.i64_ne);
        this.leave(Op.if, VOID);
        this.setExitKS(this.k + 1);
        this.c.op(Op.br, this.outBy(1));
        this.c.u8(Op.end);
        this.curK = curK; this.curS = curS;
        return 'next';
      }
      return false;
    }
    if (i.map === OpMap.M0F) {
      if (op >= 0x80 && op <= 0x8f) return this.jcc(i, op & 15);
      if (op === 0x01 && i.modrm === 0xf8) {
        // SWAPGS (SDM SWAPGS): GS base <-> IA32_KERNEL_GS_BASE on the slab's copies; #GP at
        // CPL > 0 is the interpreter's. Twice per system call (two helper calls each before).
        this.st(); this.mem(Op.i32_load, SlabOffset.CPL); this.exitIf();
        const t = this.tmp64();
        this.st(); this.mem(Op.i64_load, SlabOffset.GS_BASE); this.set(t);
        this.st(); this.st(); this.mem(Op.i64_load, SlabOffset.KGS_BASE); this.mem(Op.i64_store, SlabOffset.GS_BASE);
        this.st(); this.get(t); this.mem(Op.i64_store, SlabOffset.KGS_BASE);
        this.st(); this.st(); this.mem(Op.i32_load, SlabOffset.GS_SWAPPED); this.i32c(1); this.c.u8(Op.i32_xor); this.mem(Op.i32_store, SlabOffset.GS_SWAPPED);
        return 'next';
      }
      if ((op === 0x05 || (op === 0x07 && i.opSize === 8)) && this.k === this.insns.length - 1) return this.fastSystemCall(i, op === 0x07);
      if (op === 0x20 && i.reg === 2) {
        // MOV r64, CR2 (SDM MOV—Move to/from Control Registers), from the slab's copy; #GP at
        // CPL > 0 is the interpreter's. A helper call each before: one per page fault.
        this.st(); this.mem(Op.i32_load, SlabOffset.CPL); this.exitIf();
        const v = this.tmp64();
        this.st(); this.mem(Op.i64_load, SlabOffset.CR2); this.set(v);
        this.regSet(8, (i.modrm & 7) | ((i.rex & 1) << 3), 1, v);
        return 'next';
      }
      if (op === 0x31 || (op === 0x01 && i.modrm === 0xf9)) return this.rdtsc(op !== 0x31);
      // Hint NOPs and prefetches (0F 18-1F, 0F 0D): no access, no fault (ops-misc.ts).
      if ((op >= 0x18 && op <= 0x1f) || op === 0x0d) return 'next';
      // LFENCE, MFENCE, SFENCE: ordering only; the vCPUs take turns on one thread.
      if (op === 0xae && i.modrm >= 0xe8 && i.mandatory === 0) return 'next';
      // XADD (SDM XADD): TEMP = SRC + DEST; SRC = DEST; DEST = TEMP, flags as ADD.
      if (op === 0xc0 || op === 0xc1) {
        const sz = op === 0xc0 ? 1 : size;
        const o = this.rm(i, sz, true, true);
        const d = this.rmGet(i, o, sz);
        const s = this.tmp64(); this.regGet(sz, i.reg, i.rex); this.set(s);
        const r = this.alu(0, sz, d, s);
        this.regSet(sz, i.reg, i.rex, d);
        this.rmSet(i, o, sz, r);
        return 'next';
      }
      if (op === 0xaf && size !== 1) {
        const o = this.rm(i, size, true, false);
        const s = this.rmGet(i, o, size);
        const d = this.tmp64(); this.regGet(size, i.reg, i.rex); this.set(d);
        const r = this.imul(size, d, s);
        this.regSet(size, i.reg, i.rex, r);
        return 'next';
      }
      if (op === 0xb1 && i.hasMem && (size === 4 || size === 8)) {
        // CMPXCHG m, r (ops-mov.ts): flags of CMP rAX, m; equal: m = r; else m is written back
        // unchanged and rAX = m (a 32-bit write zero-extends).
        const o = this.rm(i, size, true, true);
        const d = this.rmGet(i, o, size);
        const a = this.tmp64(); this.regGet(size, 0, 1); this.set(a);
        const src = this.tmp64(); this.regGet(size, i.reg, i.rex); this.set(src);
        this.alu(7, size, a, d);
        const eq = this.tmp32(); this.get(a); this.get(d); this.c.u8(Op.i64_eq); this.set(eq);
        const v = this.tmp64(); this.get(src); this.get(d); this.get(eq); this.c.u8(Op.select); this.set(v);
        this.rmSet(i, o, size, v);
        const rax = this.tmp64(); this.get(this.reg(0)); this.get(d); this.get(eq); this.c.u8(Op.select); this.set(rax);
        this.regSet(8, 0, 1, rax);
        return 'next';
      }
      if (op === 0xa4 || op === 0xa5 || op === 0xac || op === 0xad) return this.doubleShift(i, size, op <= 0xa5, (op & 1) === 0 ? i.imm & 0xff : -1);
      if ((op === 0xbc || op === 0xbd) && size !== 1) return this.bitScan(i, size, op === 0xbd);
      if (op === 0xc7 && i.hasMem && ((i.modrm >> 3) & 7) === 1 && size === 8) return this.cmpxchg16b(i);
      if (op >= 0xc8 && op <= 0xcf && (size === 4 || size === 8)) {
        const v = this.tmp64(); this.regGet(size, i.rm, i.rex); this.set(v);
        const r = this.tmp64();
        this.bswap(v, size); this.set(r);
        this.regSet(size, i.rm, i.rex, r);
        return 'next';
      }
      if (op === 0xba && e >= 4 && size !== 1) return this.bitTest(i, size, e - 4, i.imm & (size * 8 - 1));
      if ((op === 0xa3 || op === 0xab || op === 0xb3 || op === 0xbb) && size !== 1) return this.bitTest(i, size, (op >> 3) & 3, -1);
      if ((op === 0xb6 || op === 0xb7 || op === 0xbe || op === 0xbf) && size !== 1) {
        const from = op === 0xb6 || op === 0xbe ? 1 : 2;
        const signed = op >= 0xbe;
        const o = this.rm(i, from, true, false);
        const v = this.tmp64();
        if ('reg' in o) {
          if (signed) this.regGetSigned(from, o.reg, i.rex); else this.regGet(from, o.reg, i.rex);
        } else this.load(from, o.h, signed);
        this.maskTo(size); this.set(v);
        this.regSet(size, i.reg, i.rex, v);
        return 'next';
      }
      if (op >= 0x40 && op <= 0x4f && size !== 1) {
        // CMOVcc: the source is read whatever the condition; a 32-bit destination is zero-extended either way.
        const o = this.rm(i, size, true, false);
        const s = this.rmGet(i, o, size);
        const d = this.tmp64(); this.regGet(size, i.reg, i.rex); this.set(d);
        const v = this.tmp64();
        this.get(s); this.get(d); this.cond(op & 15); this.c.u8(Op.select); this.set(v);
        this.regSet(size, i.reg, i.rex, v);
        return 'next';
      }
      if (op >= 0x90 && op <= 0x9f) {
        const o = this.rm(i, 1, false, true);
        const v = this.tmp64();
        this.cond(op & 15); this.c.u8(Op.i64_extend_i32_u); this.set(v);
        this.rmSet(i, o, 1, v);
        return 'next';
      }
    }
    return false;
  }

  /**
   * MOVS and STOS with 64-bit addresses and no FS/GS source (SDM Vol. 2 "MOVS", "STOS", "REP"),
   * DF clear (else the interpreter's): page by page, each page's part one memory.copy or
   * memory.fill (a store loop when STOS's value is not one byte repeated), while both pages hit
   * the TLB. On a miss, a code page, an element across a page boundary, an overlap where a
   * forward copy differs from memmove, or REP_BULK_BYTES done (ops-string.ts yields there too),
   * it exits before the instruction with rCX, rSI and rDI counting the elements done: a REP
   * string instruction is restartable there, and the interpreter goes on. The kernel's memset and
   * copy_to_user run REP STOSQ, STOSB and MOVSB: a helper call each before (250 K per 8 MiB
   * received over TCP).
   */
  private stringOp(i: DecodedInsn, movs: boolean): 'next' {
    const size = i.opSize;
    const log = size === 8 ? 3 : size === 4 ? 2 : size === 2 ? 1 : 0;
    const rep = (i.prefixes & (Prefix.REP | Prefix.REPNE)) !== 0;
    this.st(); this.mem(Op.i32_load, SlabOffset.REST); this.i32c(Flag.DF); this.c.u8(Op.i32_and); this.exitIf();
    const rcx = this.reg(1); const rdi = this.reg(7); const rsi = this.reg(6);
    this.written |= (1 << 7) | (rep ? 1 << 1 : 0) | (movs ? 1 << 6 : 0);
    const stop = this.tmp32(); const total = this.tmp32(); const room = this.tmp32(); const cnt = this.tmp32(); const bytes = this.tmp32(); const hd = this.tmp32();
    this.i32c(0); this.set(stop); this.i32c(0); this.set(total);
    let v = -1; let splat = -1;
    if (!movs) {
      v = this.tmp64(); this.regGet(size, 0, 1); this.set(v);
      // memory.fill when every byte of the value is its low byte
      splat = this.tmp32();
      this.get(v); this.i64c(0xff, 0); this.c.u8(Op.i64_and); this.i64c(0x01010101, 0x01010101); this.c.u8(Op.i64_mul); this.maskTo(size);
      this.get(v); this.c.u8(Op.i64_eq); this.set(splat);
    }
    /** Inside the loop: stops (exit before the instruction) when the i32 on the stack is not 0. */
    const stopIf = (): void => { this.c.op(Op.if, VOID); this.i32c(1); this.set(stop); this.c.op(Op.br, 2); this.c.u8(Op.end); };
    const pageRoom = (w: number): void => { this.i32c(4096); this.get(w); this.i32c(0xfff); this.c.u8(Op.i32_and); this.c.u8(Op.i32_sub); };
    this.c.op(Op.block, VOID, Op.loop, VOID);
    if (rep) { this.get(rcx); this.c.u8(Op.i64_eqz); this.c.op(Op.br_if, 1); }
    this.get(total); this.i32c(REP_BULK_BYTES); this.c.u8(Op.i32_ge_u); stopIf();
    const d = this.tlbEntry(rdi, true); stopIf();
    pageRoom(d.w); this.set(room);
    let hs = -1;
    if (movs) {
      const s = this.tlbEntry(rsi, false); stopIf();
      const sroom = this.tmp32(); pageRoom(s.w); this.set(sroom);
      this.get(room); this.get(sroom); this.get(room); this.get(sroom); this.c.u8(Op.i32_lt_u); this.c.u8(Op.select); this.set(room);
      hs = this.tmp32(); this.ramIndex(s.e, s.w); this.set(hs);
    }
    this.get(room); this.i32c(log); this.c.u8(Op.i32_shr_u); this.set(cnt);
    if (rep) {
      this.get(rcx); this.get(cnt); this.c.u8(Op.i64_extend_i32_u); this.c.u8(Op.i64_lt_u);
      this.c.op(Op.if, VOID); this.get(rcx); this.c.u8(Op.i32_wrap_i64); this.set(cnt); this.c.u8(Op.end);
    } else {
      this.get(cnt); this.i32c(0); this.c.u8(Op.i32_ne); this.set(cnt);
    }
    this.get(cnt); this.c.u8(Op.i32_eqz); stopIf(); // the element crosses the page boundary
    this.get(cnt); this.i32c(log); this.c.u8(Op.i32_shl); this.set(bytes);
    this.ramIndex(d.e, d.w); this.set(hd);
    if (movs) {
      // A forward element copy differs from memmove when the destination starts inside the source.
      this.get(hd); this.get(hs); this.c.u8(Op.i32_gt_u); this.get(hd); this.get(hs); this.get(bytes); this.c.u8(Op.i32_add); this.c.u8(Op.i32_lt_u); this.c.u8(Op.i32_and); stopIf();
      this.get(hd); this.i32c(this.ramBase); this.c.u8(Op.i32_add); this.get(hs); this.i32c(this.ramBase); this.c.u8(Op.i32_add); this.get(bytes);
      this.c.op(0xfc); this.c.u32(10); this.c.op(0, 0); // memory.copy
    } else {
      this.get(splat);
      this.c.op(Op.if, VOID);
      this.get(hd); this.i32c(this.ramBase); this.c.u8(Op.i32_add); this.get(v); this.c.u8(Op.i32_wrap_i64); this.get(bytes);
      this.c.op(0xfc); this.c.u32(11); this.c.u8(0); // memory.fill
      this.c.u8(Op.else);
      const k = this.tmp32(); this.i32c(0); this.set(k);
      this.c.op(Op.loop, VOID);
      this.get(hd); this.get(k); this.c.u8(Op.i32_add); this.get(v);
      this.mem(size === 8 ? Op.i64_store : size === 4 ? Op.i64_store32 : size === 2 ? Op.i64_store16 : Op.i64_store8, this.ramBase);
      this.get(k); this.i32c(size); this.c.u8(Op.i32_add); this.c.op(Op.local_tee); this.c.u32(k); this.get(bytes); this.c.u8(Op.i32_lt_u); this.c.op(Op.br_if, 0);
      this.c.u8(Op.end);
      this.c.u8(Op.end);
    }
    const advance = (r: number): void => { this.get(r); this.get(bytes); this.c.u8(Op.i64_extend_i32_u); this.c.u8(Op.i64_add); this.set(r); };
    advance(rdi);
    if (movs) advance(rsi);
    this.get(total); this.get(bytes); this.c.u8(Op.i32_add); this.set(total);
    if (rep) { this.get(rcx); this.get(cnt); this.c.u8(Op.i64_extend_i32_u); this.c.u8(Op.i64_sub); this.set(rcx); this.c.op(Op.br, 0); }
    this.c.op(Op.end, Op.end);
    this.get(stop); this.exitIf();
    return 'next';
  }

  /**
   * RDTSC and RDTSCP (SDM RDTSC, RDTSCP): EDX:EAX = the TSC the run loop left in the slab
   * (SlabOffset.TSC), RDTSCP's ECX = IA32_TSC_AUX (SlabOffset.TSC_AUX); the interpreter's when
   * either is -1 (#GP under CR4.TSD, #UD for RDTSCP not announced). RDTSC once per system call
   * (the kernel's random stack offset), RDTSCP in read_tsc: a helper call each before.
   */
  private rdtsc(withAux: boolean): 'next' {
    const t = this.local(F64);
    this.st(); this.mem(Op.f64_load, SlabOffset.TSC); this.c.op(Op.local_tee); this.c.u32(t);
    this.c.op(Op.f64_const); this.c.f64(0); this.c.u8(Op.f64_lt);
    let aux = -1;
    if (withAux) {
      aux = this.local(F64);
      this.st(); this.mem(Op.f64_load, SlabOffset.TSC_AUX); this.c.op(Op.local_tee); this.c.u32(aux);
      this.c.op(Op.f64_const); this.c.f64(0); this.c.u8(Op.f64_lt); this.c.u8(Op.i32_or);
    }
    this.exitIf();
    const v = this.tmp64(); const hi = this.tmp64();
    this.get(t); this.c.u8(Op.i64_trunc_f64_s); this.set(v);
    this.get(v); this.i64c(32, 0); this.c.u8(Op.i64_shr_u); this.set(hi);
    this.regSet(4, 0, 1, v);
    this.regSet(4, 2, 1, hi);
    if (withAux) { const c = this.tmp64(); this.get(aux); this.c.u8(Op.i64_trunc_f64_s); this.set(c); this.regSet(4, 1, 1, c); }
    return 'next';
  }

  /**
   * BSF / BSR (0F BC / BD; with F3 too: TZCNT is not announced, so it runs as BSF), as ops-bit.ts
   * makeBitScan: a zero source sets ZF and PF, clears the other four flags and leaves the
   * destination as it was; otherwise all six are clear and the destination is the bit's index.
   */
  private bitScan(i: DecodedInsn, size: number, reverse: boolean): 'next' {
    const o = this.rm(i, size, true, false);
    const v = this.rmGet(i, o, size);
    const z = this.tmp32(); this.get(v); this.c.u8(Op.i64_eqz); this.set(z);
    const idx = this.tmp64();
    if (reverse) { this.i64c(63, 0); this.get(v); this.c.u8(Op.i64_clz); this.c.u8(Op.i64_sub); } else { this.get(v); this.c.u8(Op.i64_ctz); }
    this.set(idx);
    const before = this.tmp64(); this.get(this.reg(i.reg)); this.set(before);
    this.regSet(size, i.reg, i.rex, idx);
    const l = this.reg(i.reg);
    this.get(before); this.get(l); this.get(z); this.c.u8(Op.select); this.set(l);
    const w = this.tmp32(); this.get(z); this.i32c(Flag.ZF | Flag.PF); this.c.u8(Op.i32_mul); this.set(w);
    this.produce({ k: 'word', w });
    return 'next';
  }

  /**
   * LOCK CMPXCHG16B m128 (SDM CMPXCHG8B/CMPXCHG16B), as ops-mov.ts: RDX:RAX equal to the operand:
   * it becomes RCX:RBX, ZF set; else RDX:RAX = the operand, ZF clear (written back unchanged);
   * other flags kept. A misaligned operand (#GP) is the interpreter's. SLUB's lockless
   * allocation and free (~3 K per 256 MiB read).
   */
  private cmpxchg16b(i: DecodedInsn): 'next' {
    const lin = this.linear(i);
    this.get(lin); this.c.u8(Op.i32_wrap_i64); this.i32c(15); this.c.u8(Op.i32_and); this.exitIf();
    const h = this.tlb(lin, 16, true, true);
    const lo = this.tmp64(); const hi = this.tmp64();
    this.get(h); this.mem(Op.i64_load, this.ramBase); this.set(lo);
    this.get(h); this.mem(Op.i64_load, this.ramBase + 8); this.set(hi);
    const eq = this.tmp32();
    this.get(lo); this.get(this.reg(0)); this.c.u8(Op.i64_eq); this.get(hi); this.get(this.reg(2)); this.c.u8(Op.i64_eq); this.c.u8(Op.i32_and); this.set(eq);
    this.get(h); this.get(this.reg(3)); this.get(lo); this.get(eq); this.c.u8(Op.select); this.mem(Op.i64_store, this.ramBase);
    this.get(h); this.get(this.reg(1)); this.get(hi); this.get(eq); this.c.u8(Op.select); this.mem(Op.i64_store, this.ramBase + 8);
    const rax = this.tmp64(); this.get(this.reg(0)); this.get(lo); this.get(eq); this.c.u8(Op.select); this.set(rax);
    const rdx = this.tmp64(); this.get(this.reg(2)); this.get(hi); this.get(eq); this.c.u8(Op.select); this.set(rdx);
    this.regSet(8, 0, 1, rax);
    this.regSet(8, 2, 1, rdx);
    const w = this.tmp32();
    this.flagsWord(); this.i32c(~Flag.ZF); this.c.u8(Op.i32_and); this.get(eq); this.i32c(6); this.c.u8(Op.i32_shl); this.c.u8(Op.i32_or); this.set(w);
    this.produce({ k: 'word', w });
    return 'next';
  }

  /** Pushes the i64 local `l` sign-extended from `size` bytes. */
  private sext(l: number, size: number): void {
    this.get(l);
    if (size === 8) return;
    const sh = 64 - size * 8;
    this.i64c(sh, 0); this.c.u8(Op.i64_shl); this.i64c(sh, 0); this.c.u8(Op.i64_shr_s);
  }

  /**
   * IMUL's truncated product of d and s (size bytes) into a new local; flags as ops-muldiv.ts
   * mulFlags: CF = OF = the signed product does not fit, SF/ZF/PF of the result, AF 0.
   */
  private imul(size: number, d: number, s: number): number {
    const r = this.tmp64();
    const ovf = this.tmp32();
    if (size === 8) {
      this.get(d); this.get(s); this.c.u8(Op.i64_mul); this.set(r);
      // Overflow: s = -1 with d = INT64_MIN, or otherwise s != 0 and r / s != d (exact when it fits).
      this.get(s); this.i64c(-1, -1); this.c.u8(Op.i64_eq);
      this.c.op(Op.if, I32);
      this.get(d); this.i64c(0, 0x80000000 | 0); this.c.u8(Op.i64_eq);
      this.c.u8(Op.else);
      this.get(s); this.c.u8(Op.i64_eqz);
      this.c.op(Op.if, I32); this.i32c(0); this.c.u8(Op.else);
      this.get(r); this.get(s); this.c.u8(Op.i64_div_s); this.get(d); this.c.u8(Op.i64_ne);
      this.c.u8(Op.end);
      this.c.u8(Op.end);
      this.set(ovf);
    } else {
      const p = this.tmp64();
      this.sext(d, size); this.sext(s, size); this.c.u8(Op.i64_mul); this.set(p);
      this.get(p); this.maskTo(size); this.set(r);
      this.sext(r, size); this.get(p); this.c.u8(Op.i64_ne); this.set(ovf);
    }
    this.mulFlags(r, ovf, size);
    return r;
  }

  /**
   * MUL / IMUL r/m (F7 /4, /5) of 4 or 8 bytes: rDX:rAX = rAX * r/m (ops-muldiv.ts mulDivGroup);
   * CF = OF = the high half is not the extension of the low one, SF/ZF/PF of the low half.
   */
  /**
   * DIV/IDIV r/m32 and r/m64 (SDM Vol. 2 "DIV", "IDIV"): wasm divides when the dividend fits in
   * 64 bits (for r/m64: RDX is zero, or RAX's sign extension) and the quotient fits; otherwise,
   * and for #DE, the function stops before and the interpreter divides. The flags, undefined,
   * stay as they were (the interpreter's choice). The checks come before each division, which
   * would trap on a zero divisor or on -2^63 / -1.
   */
  private divide(i: DecodedInsn, size: number, signed: boolean): 'next' {
    const o = this.rm(i, size, true, false);
    const s = this.rmGet(i, o, size);
    const d = this.tmp64(); const n = this.tmp64(); const q = this.tmp64(); const r = this.tmp64();
    const MIN: [number, number] = [0, 0x80000000 | 0];
    if (signed) this.sext(s, size); else this.get(s);
    this.set(d);
    if (size === 8) {
      this.regGet(8, 0, i.rex); this.set(n);
      this.regGet(8, 2, i.rex);
      if (signed) { this.get(n); this.i64c(63, 0); this.c.u8(Op.i64_shr_s); } else this.i64c(0, 0);
      this.c.u8(Op.i64_ne);
    } else {
      this.regGet(4, 2, i.rex); this.i64c(32, 0); this.c.u8(Op.i64_shl); this.regGet(4, 0, i.rex); this.c.u8(Op.i64_or); this.set(n);
      this.i32c(0);
    }
    this.get(d); this.c.u8(Op.i64_eqz); this.c.u8(Op.i32_or);
    if (signed) {
      this.get(n); this.i64c(MIN[0], MIN[1]); this.c.u8(Op.i64_eq); this.get(d); this.i64c(-1, -1); this.c.u8(Op.i64_eq); this.c.u8(Op.i32_and);
      this.c.u8(Op.i32_or);
    }
    this.exitIf();
    this.get(n); this.get(d); this.c.u8(signed ? Op.i64_div_s : Op.i64_div_u); this.set(q);
    if (size === 4) {
      // The quotient must fit in 32 bits (#DE otherwise).
      if (signed) { this.sext(q, 4); this.get(q); this.c.u8(Op.i64_ne); } else { this.get(q); this.i64c(0xffffffff, 0); this.c.u8(Op.i64_gt_u); }
      this.exitIf();
    }
    this.get(n); this.get(d); this.c.u8(signed ? Op.i64_rem_s : Op.i64_rem_u); this.set(r);
    this.regSet(size, 0, i.rex, q);
    this.regSet(size, 2, i.rex, r);
    return 'next';
  }

  private mulWide(i: DecodedInsn, size: number, signed: boolean): 'next' {
    const o = this.rm(i, size, true, false);
    const s = this.rmGet(i, o, size);
    const a = this.tmp64(); this.regGet(size, 0, i.rex); this.set(a);
    const lo = this.tmp64(); const hi = this.tmp64(); const ovf = this.tmp32();
    if (size === 4) {
      const p = this.tmp64();
      if (signed) { this.sext(a, 4); this.sext(s, 4); } else { this.get(a); this.get(s); }
      this.c.u8(Op.i64_mul); this.set(p);
      this.get(p); this.maskTo(4); this.set(lo);
      this.get(p); this.i64c(32, 0); this.c.u8(Op.i64_shr_u); this.maskTo(4); this.set(hi);
      // Overflow: the product does not fit in 32 bits (as a signed or unsigned number).
      if (signed) { this.sext(lo, 4); this.get(p); this.c.u8(Op.i64_ne); } else { this.get(hi); this.i64c(0, 0); this.c.u8(Op.i64_ne); }
      this.set(ovf);
    } else {
      // 64 x 64 -> 128 from 32-bit halves (each partial product fits in 64 bits).
      const al = this.tmp64(); const ah = this.tmp64(); const bl = this.tmp64(); const bh = this.tmp64();
      const half = (v: number, high: boolean, out: number): void => {
        this.get(v);
        if (high) { this.i64c(32, 0); this.c.u8(Op.i64_shr_u); } else this.maskTo(4);
        this.set(out);
      };
      half(a, false, al); half(a, true, ah); half(s, false, bl); half(s, true, bh);
      const ll = this.tmp64(); const lh = this.tmp64(); const hl = this.tmp64(); const mid = this.tmp64();
      this.get(al); this.get(bl); this.c.u8(Op.i64_mul); this.set(ll);
      this.get(al); this.get(bh); this.c.u8(Op.i64_mul); this.set(lh);
      this.get(ah); this.get(bl); this.c.u8(Op.i64_mul); this.set(hl);
      // mid = (ll >> 32) + low32(lh) + low32(hl) (< 3 * 2^32)
      this.get(ll); this.i64c(32, 0); this.c.u8(Op.i64_shr_u);
      this.get(lh); this.maskTo(4); this.c.u8(Op.i64_add);
      this.get(hl); this.maskTo(4); this.c.u8(Op.i64_add); this.set(mid);
      this.get(a); this.get(s); this.c.u8(Op.i64_mul); this.set(lo);
      this.get(ah); this.get(bh); this.c.u8(Op.i64_mul);
      this.get(lh); this.i64c(32, 0); this.c.u8(Op.i64_shr_u); this.c.u8(Op.i64_add);
      this.get(hl); this.i64c(32, 0); this.c.u8(Op.i64_shr_u); this.c.u8(Op.i64_add);
      this.get(mid); this.i64c(32, 0); this.c.u8(Op.i64_shr_u); this.c.u8(Op.i64_add);
      this.set(hi);
      if (signed) {
        // The signed high half: subtract b when a < 0 and a when b < 0 (two's complement).
        this.get(hi);
        this.get(s); this.i64c(0, 0); this.get(a); this.i64c(0, 0); this.c.u8(Op.i64_lt_s); this.c.u8(Op.select); this.c.u8(Op.i64_sub);
        this.get(a); this.i64c(0, 0); this.get(s); this.i64c(0, 0); this.c.u8(Op.i64_lt_s); this.c.u8(Op.select); this.c.u8(Op.i64_sub);
        this.set(hi);
        this.get(hi); this.get(lo); this.i64c(63, 0); this.c.u8(Op.i64_shr_s); this.c.u8(Op.i64_ne);
      } else {
        this.get(hi); this.i64c(0, 0); this.c.u8(Op.i64_ne);
      }
      this.set(ovf);
    }
    this.mulFlags(lo, ovf, size);
    this.regSet(size, 0, i.rex, lo);
    this.regSet(size, 2, i.rex, hi);
    return 'next';
  }

  /** Pushes PF | ZF | SF of the i64 local `r` (a `size`-byte result) as an RFLAGS word (AF 0), as ops-shift.ts szp(). */
  private szpWord(r: number, size: number): void {
    this.get(r); this.c.u8(Op.i32_wrap_i64); this.i32c(0xff); this.c.u8(Op.i32_and); this.c.u8(Op.i32_popcnt); this.i32c(1); this.c.u8(Op.i32_and); this.c.u8(Op.i32_eqz); this.i32c(2); this.c.u8(Op.i32_shl);
    this.get(r); this.c.u8(Op.i64_eqz); this.i32c(6); this.c.u8(Op.i32_shl); this.c.u8(Op.i32_or);
    this.get(r); this.i64c(size * 8 - 1, 0); this.c.u8(Op.i64_shr_u); this.c.u8(Op.i32_wrap_i64); this.i32c(1); this.c.u8(Op.i32_and); this.i32c(7); this.c.u8(Op.i32_shl); this.c.u8(Op.i32_or);
  }

  /** The flag source becomes PF/ZF/SF of `r` with CF = OF = `ovf` (i32 0/1), as ops-muldiv.ts mulFlags(). */
  private mulFlags(r: number, ovf: number, size: number): void {
    const w = this.tmp32();
    this.szpWord(r, size);
    this.get(ovf); this.i32c(0x801); this.c.u8(Op.i32_mul); this.c.u8(Op.i32_or);
    this.set(w);
    this.produce({ k: 'word', w });
  }

  /** Pushes the byte-swapped i64 local `v` (size 4: the low 32 bits swapped, zero-extended). */
  private bswap(v: number, size: number): void {
    const n = size;
    // Sum of each byte moved to its mirrored position.
    for (let b = 0; b < n; b++) {
      this.get(v);
      const from = b * 8; const to = (n - 1 - b) * 8;
      if (from > to) { this.i64c(from - to, 0); this.c.u8(Op.i64_shr_u); } else if (to > from) { this.i64c(to - from, 0); this.c.u8(Op.i64_shl); }
      const m = to >= 32 ? [0, (0xff << (to - 32)) >>> 0] : [(0xff << to) >>> 0, 0];
      this.i64c(m[0]!, m[1]! | 0); this.c.u8(Op.i64_and);
      if (b > 0) this.c.u8(Op.i64_or);
    }
  }

  /**
   * BT/BTS/BTR/BTC (op 0-3) with an immediate bit (`bit` >= 0, reduced modulo the size) or, for
   * the register form without memory, the bit offset in i.reg modulo the size (`bit` -1).
   * CF = the bit, other flags unchanged (ops-bit.ts).
   */
  private bitTest(i: DecodedInsn, size: number, op: number, bit: number): 'next' {
    const b = this.tmp64();
    let o: { reg: number } | { h: number };
    if (bit < 0 && i.hasMem) {
      // A register offset addresses a bit string (SDM BT): the signed offset's whole operands
      // move the address (ops-bit.ts bitOp), its low bits pick the bit. The cpumask and page
      // flag operations of every context switch (~90 K per 8 MiB sent over TCP).
      const bits = size * 8;
      const off = this.tmp64(); this.regGetSigned(size, i.reg, i.rex); this.set(off);
      const lin = this.linear(i);
      const a = this.tmp64();
      this.get(lin); this.get(off); this.i64c(Math.log2(bits), 0); this.c.u8(Op.i64_shr_s); this.i64c(Math.log2(size), 0); this.c.u8(Op.i64_shl); this.c.u8(Op.i64_add); this.set(a);
      o = { h: this.tlb(a, size, true, op !== 0) };
      this.get(off); this.i64c(bits - 1, 0); this.c.u8(Op.i64_and);
    } else {
      o = this.rm(i, size, true, op !== 0);
      if (bit >= 0) this.i64c(bit, 0); else { this.regGet(size, i.reg, i.rex); this.i64c(size * 8 - 1, 0); this.c.u8(Op.i64_and); }
    }
    this.set(b);
    const v = this.rmGet(i, o, size);
    const w = this.tmp32();
    this.flagsWord(); this.i32c(~1); this.c.u8(Op.i32_and);
    this.get(v); this.get(b); this.c.u8(Op.i64_shr_u); this.c.u8(Op.i32_wrap_i64); this.i32c(1); this.c.u8(Op.i32_and); this.c.u8(Op.i32_or);
    this.set(w);
    this.produce({ k: 'word', w });
    if (op !== 0) {
      const r = this.tmp64();
      const one = (): void => { this.i64c(1, 0); this.get(b); this.c.u8(Op.i64_shl); };
      this.get(v);
      if (op === 1) { one(); this.c.u8(Op.i64_or); } else if (op === 2) { one(); this.i64c(-1, -1); this.c.u8(Op.i64_xor); this.c.u8(Op.i64_and); } else { one(); this.c.u8(Op.i64_xor); }
      this.set(r);
      this.rmSet(i, o, size, r);
    }
    return 'next';
  }

  /**
   * CLI / STI (SDM CLI, STI) where CPL <= IOPL (else the interpreter raises #GP). STI that sets
   * IF opens a one-instruction interrupt shadow, which matters only when an interrupt is pending
   * (SlabOffset.PENDING): then the function stops before STI and the interpreter runs it; else
   * IF is set and the code goes on (an interrupt a later helper raises stops the chain there).
   */
  private cliSti(sti: boolean): 'next' {
    const rest = this.tmp32();
    this.st(); this.mem(Op.i32_load, SlabOffset.REST); this.set(rest);
    this.get(rest); this.i32c(12); this.c.u8(Op.i32_shr_u); this.i32c(3); this.c.u8(Op.i32_and);
    this.st(); this.mem(Op.i32_load, SlabOffset.CPL); this.c.u8(Op.i32_lt_u);
    if (sti) {
      this.get(rest); this.i32c(Flag.IF); this.c.u8(Op.i32_and); this.c.u8(Op.i32_eqz);
      this.st(); this.mem(Op.i32_load, SlabOffset.PENDING); this.c.u8(Op.i32_and);
      this.c.u8(Op.i32_or);
    }
    this.exitIf();
    this.st(); this.get(rest); this.i32c(sti ? Flag.IF : ~Flag.IF); this.c.u8(sti ? Op.i32_or : Op.i32_and);
    this.mem(Op.i32_store, SlabOffset.REST);
    return 'next';
  }

  /**
   * SYSCALL, or SYSRET to 64-bit code (REX.W), between 64-bit code (SDM Vol. 2B SYSCALL, SYSRET),
   * as the interpreter runs them (system-ops.ts), when the run loop allowed it (SlabOffset.SYS_OK):
   * registers and RFLAGS here, the privilege level in the slab, and the chain goes on in the new
   * mode (MODE_SWITCH, as after a helper's HelperResult.Jump). The Cpu takes the segments and mode
   * after the chain (SYS_SWITCHED, Cpu.takeWasmSys). Otherwise, and for SYSRET's #GP (CPL > 0, RCX
   * not canonical) or a switch that leaves TF set, or IF set with an interrupt pending, the
   * function stops before it and the interpreter runs it. Each was a helper call before, its JS
   * ~21 % of a system call (stop 25).
   */
  private fastSystemCall(i: DecodedInsn, sysret: boolean): 'branch' {
    this.st(); this.mem(Op.i32_load, SlabOffset.SYS_OK); this.c.u8(Op.i32_eqz); this.exitIf();
    const rest = this.tmp32();
    const w = this.tmp32();
    let cpl: number, gen: number, globalGen: number, half: number;
    if (!sysret) {
      // RCX = the next RIP; R11 = RFLAGS without RF; RFLAGS &= ~(IA32_FMASK | RF) (SYS_CLEAR),
      // bit 1 kept. An FMASK that leaves IF set, with an interrupt pending: the run loop's.
      const rflags = this.tmp32();
      const keep = this.tmp32();
      this.st(); this.mem(Op.i32_load, SlabOffset.REST); this.flagsWord(); this.c.u8(Op.i32_or); this.set(rflags);
      this.st(); this.mem(Op.i32_load, SlabOffset.SYS_CLEAR); this.i32c(-1); this.c.u8(Op.i32_xor); this.set(keep);
      this.get(rflags); this.get(keep); this.c.u8(Op.i32_and); this.i32c(2); this.c.u8(Op.i32_or); this.set(rest);
      this.get(rest); this.i32c(9); this.c.u8(Op.i32_shr_u); this.st(); this.mem(Op.i32_load, SlabOffset.PENDING); this.c.u8(Op.i32_and); this.i32c(1); this.c.u8(Op.i32_and);
      this.exitIf();
      const rcx = this.tmp64(); this.i64n(i.next); this.set(rcx);
      const r11 = this.tmp64(); this.get(rflags); this.i32c(~Flag.RF); this.c.u8(Op.i32_and); this.c.u8(Op.i64_extend_i32_u); this.set(r11);
      this.regSet(8, 1, 1, rcx);
      this.regSet(8, 11, 1, r11);
      this.st(); this.get(rest); this.i32c(~ARITH_FLAGS); this.c.u8(Op.i32_and); this.mem(Op.i32_store, SlabOffset.REST);
      this.get(rest); this.i32c(ARITH_FLAGS); this.c.u8(Op.i32_and); this.set(w);
      this.st(); this.mem(Op.f64_load, SlabOffset.LSTAR); this.c.op(0xfc, 6 /* i64.trunc_sat_f64_s */); this.set(this.ripLocal);
      cpl = 0; gen = SlabOffset.SYS_GEN_K; globalGen = SlabOffset.SYS_GLOBAL_GEN_K; half = 0;
    } else {
      // #GP(0) at CPL > 0 and with RCX not canonical (Intel), before anything changes.
      this.st(); this.mem(Op.i32_load, SlabOffset.CPL); this.exitIf();
      const rcx = this.tmp64(); this.regGet(8, 1, 1); this.set(rcx);
      this.notCanonical(rcx); this.exitIf();
      // RFLAGS = (R11 & 3C7FD7H) | 2. TF set, or IF set with an interrupt pending: the run loop's
      // (a trap after it, or the interrupt before the next instruction).
      const f = this.tmp32();
      this.regGet(8, 11, 1); this.c.u8(Op.i32_wrap_i64); this.i32c(0x3c7fd7); this.c.u8(Op.i32_and); this.i32c(2); this.c.u8(Op.i32_or); this.set(f);
      this.get(f); this.i32c(Flag.TF); this.c.u8(Op.i32_and);
      this.get(f); this.i32c(9); this.c.u8(Op.i32_shr_u); this.st(); this.mem(Op.i32_load, SlabOffset.PENDING); this.c.u8(Op.i32_and); this.i32c(1); this.c.u8(Op.i32_and);
      this.c.u8(Op.i32_or); this.exitIf();
      this.st(); this.get(f); this.i32c(~ARITH_FLAGS); this.c.u8(Op.i32_and); this.mem(Op.i32_store, SlabOffset.REST);
      this.get(f); this.i32c(ARITH_FLAGS); this.c.u8(Op.i32_and); this.set(w);
      this.get(rcx); this.set(this.ripLocal);
      cpl = 3; gen = SlabOffset.SYS_GEN_U; globalGen = SlabOffset.SYS_GLOBAL_GEN_U; half = TLB_SIZE;
    }
    this.produce({ k: 'word', w });
    this.st(); this.i32c(cpl); this.mem(Op.i32_store, SlabOffset.CPL);
    this.st(); this.st(); this.mem(Op.i32_load, gen); this.mem(Op.i32_store, SlabOffset.MODE_GEN);
    this.st(); this.st(); this.mem(Op.i32_load, globalGen); this.mem(Op.i32_store, SlabOffset.MODE_GLOBAL_GEN);
    this.st(); this.i32c(half); this.mem(Op.i32_store, SlabOffset.MODE_HALF);
    this.st(); this.i32c(1); this.mem(Op.i32_store, SlabOffset.MODE_SWITCH);
    this.st(); this.i32c(1); this.mem(Op.i32_store, SlabOffset.SYS_SWITCHED);
    return 'branch';
  }

  private setRip(target: number): void {
    this.i64n(target); this.set(this.ripLocal);
  }

  /**
   * The qword at the address register `r` holds (RSP, or RBP for LEAVE) into a new local, and
   * that address + 8 into another; no register changes yet, so a fault or an exit after it
   * leaves the state as it was.
   */
  private stackRead(r: number): [number, number] {
    const a = this.tmp64(); this.regGet(8, r, 1); this.set(a);
    const h = this.tlb(a, 8, true, false);
    const v = this.tmp64(); this.load(8, h); this.set(v);
    const n = this.tmp64(); this.get(a); this.i64c(8, 0); this.c.u8(Op.i64_add); this.set(n);
    return [v, n];
  }

  private push(v: number): void {
    const a = this.tmp64(); this.regGet(8, 4, 1); this.i64c(8, 0); this.c.u8(Op.i64_sub); this.set(a);
    const h = this.tlb(a, 8, false, true);
    this.store(8, h, v);
    this.regSet(8, 4, 1, a);
  }

  private jcc(i: DecodedInsn, cc: number): 'branch' | 'next' | false {
    const target = i.next + (i.imm | 0);
    if (i.opSize !== 8 || target < -0x800000000000 || target >= 0x800000000000) return false;
    const join = this.joins.get(this.k);
    if (typeof join === 'boolean') {
      // The end of the block with a block appended: the branch's other way leaves (RIP = the
      // target, or the next instruction when the taken block is appended), its way goes on into
      // the appended instructions.
      const curK = this.curK; const curS = this.curS;
      this.cond(cc);
      if (join) this.c.u8(Op.i32_eqz);
      this.leave(Op.if, VOID);
      this.exits.push({ part: this.part(), taken: !join, target: join ? i.next : target });
      this.setRip(join ? i.next : target);
      this.setExitKS(this.k + 1);
      this.c.op(Op.br, this.outBy(1));
      this.c.u8(Op.end);
      // Only the path that left set K and S.
      this.curK = curK; this.curS = curS;
      return 'next';
    }
    this.cond(cc);
    if (this.selfLoop && this.k === this.insns.length - 1 && target === this.insns[0]!.rip) this.backEdge();
    this.c.op(Op.if, I64); this.i64n(target); this.c.u8(Op.else); this.i64n(i.next); this.c.u8(Op.end);
    this.set(this.ripLocal);
    return 'branch';
  }

  /**
   * ROL/ROR/SHL/SHR/SAR of a 32/64-bit operand by a constant, or by CL when `count` is -1
   * (ops-shift.ts): a masked count of 0 changes no flags (a 32-bit register is still
   * zero-extended).
   */
  private shift(i: DecodedInsn, size: number, kind: number, count: number): 'next' | false {
    if (kind === 2 || kind === 3) return false; // RCL/RCR
    const w64 = size === 8;
    const cmask = w64 ? 0x3f : 0x1f;
    const dynamic = count < 0;
    const c = count & cmask;
    // 8- and 16-bit operands: SHL/SHR/SAR by a constant below the width (the kernel's `shr al, 4`
    // and the like), where the 32-bit formulas hold on the narrow value, and ROL/ROR by any
    // constant (rotateNarrow); counts by CL and wider shifts are the interpreter's (ops-shift.ts
    // shift32).
    const narrow = size < 4;
    if (narrow && (dynamic || c === 0 || (kind >= 4 && c >= size * 8))) return false;
    const o = this.shiftOperand(i, size, dynamic, c);
    if (o === null) return false;
    if (o === 'done') return 'next';
    const v = this.rmGet(i, o, size);
    const bits = size * 8;
    const top = bits - 1;
    // The count: an i32 local (dynamic) or a constant.
    const cl = this.tmp32();
    if (dynamic) { this.regGet(1, 1, 1); this.c.u8(Op.i32_wrap_i64); this.i32c(cmask); this.c.u8(Op.i32_and); } else this.i32c(c);
    this.set(cl);
    const r = this.tmp64();
    const cf = this.tmp32();
    const of = this.tmp32();
    const val = (): void => { this.get(v); if (!w64) this.c.u8(Op.i32_wrap_i64); };
    /** Pushes the count (+ delta) as the shift operand type. */
    const cnt = (delta = 0, from = 0): void => {
      if (from !== 0) { this.i32c(from); this.get(cl); this.c.u8(Op.i32_sub); } else { this.get(cl); if (delta !== 0) { this.i32c(delta); this.c.u8(Op.i32_add); } }
      if (w64) this.c.u8(Op.i64_extend_i32_u);
    };
    const toI64 = (): void => { if (!w64) this.c.u8(Op.i64_extend_i32_u); };
    const bitAt = (l: number, b: number): void => { this.get(l); this.i64c(b, 0); this.c.u8(Op.i64_shr_u); this.c.u8(Op.i32_wrap_i64); this.i32c(1); this.c.u8(Op.i32_and); };
    /** Bit (count + delta) of the i64 local l, or bit (from - count). */
    const bitBy = (l: number, delta: number, from = 0): void => {
      this.get(l);
      if (from !== 0) { this.i32c(from); this.get(cl); this.c.u8(Op.i32_sub); } else { this.get(cl); if (delta !== 0) { this.i32c(delta); this.c.u8(Op.i32_add); } }
      this.c.u8(Op.i64_extend_i32_u); this.c.u8(Op.i64_shr_u); this.c.u8(Op.i32_wrap_i64); this.i32c(1); this.c.u8(Op.i32_and);
    };
    const O = w64
      ? { shl: Op.i64_shl, shr_u: Op.i64_shr_u, rotl: Op.i64_rotl, rotr: Op.i64_rotr }
      : { shl: Op.i32_shl, shr_u: Op.i32_shr_u, rotl: Op.i32_rotl, rotr: Op.i32_rotr };
    const sx = (): void => { if (narrow) { this.sext(v, size); return; } this.get(v); if (!w64) { this.c.u8(Op.i32_wrap_i64); this.c.u8(Op.i64_extend_i32_s); } };
    switch (kind) {
      case 0: if (narrow) this.rotateNarrow(v, r, size, c % bits, true); else { val(); cnt(); this.c.u8(O.rotl); toI64(); this.set(r); }
        bitAt(r, 0); this.set(cf); bitAt(r, top); this.get(cf); this.c.u8(Op.i32_xor); this.set(of); break;
      case 1: if (narrow) this.rotateNarrow(v, r, size, c % bits, false); else { val(); cnt(); this.c.u8(O.rotr); toI64(); this.set(r); }
        bitAt(r, top); this.set(cf); this.get(cf); bitAt(r, top - 1); this.c.u8(Op.i32_xor); this.set(of); break;
      case 4: case 6: val(); cnt(); this.c.u8(O.shl); toI64(); if (narrow) this.maskTo(size); this.set(r); bitBy(v, 0, bits); this.set(cf); bitAt(r, top); this.get(cf); this.c.u8(Op.i32_xor); this.set(of); break;
      case 5: val(); cnt(); this.c.u8(O.shr_u); toI64(); this.set(r); bitBy(v, -1); this.set(cf); bitAt(v, top); this.set(of); break;
      default: {
        sx(); this.get(cl); this.c.u8(Op.i64_extend_i32_u); this.c.u8(Op.i64_shr_s); this.maskTo(size); this.set(r);
        sx(); this.get(cl); this.i32c(-1); this.c.u8(Op.i32_add); this.c.u8(Op.i64_extend_i32_u); this.c.u8(Op.i64_shr_s); this.c.u8(Op.i32_wrap_i64); this.i32c(1); this.c.u8(Op.i32_and); this.set(cf);
        this.i32c(0); this.set(of);
        break;
      }
    }
    const w = this.tmp32();
    if (kind <= 1) {
      // Rotates change CF and OF only.
      this.flagsWord(); this.i32c(~0x801); this.c.u8(Op.i32_and);
    } else {
      this.szpWord(r, size);
    }
    this.get(cf); this.c.u8(Op.i32_or); this.get(of); this.i32c(11); this.c.u8(Op.i32_shl); this.c.u8(Op.i32_or);
    if (dynamic) {
      // A zero count keeps the flags and the value (the write still zero-extends a 32-bit register).
      this.flagsWord(); this.get(cl); this.c.op(Op.select);
      this.get(r); this.get(v); this.get(cl); this.c.u8(Op.select); this.set(r);
    }
    this.set(w);
    this.produce({ k: 'word', w });
    this.rmSet(i, o, size, r);
    return 'next';
  }

  /**
   * The r/m operand of a shift by the masked count `c` (or CL when `dynamic`): null for a
   * constant 0 with memory (the interpreter's), 'done' for a constant 0 (nothing changes but a
   * 32-bit register's zero extension), else where the operand is.
   */
  private shiftOperand(i: DecodedInsn, size: number, dynamic: boolean, c: number): { reg: number } | { h: number } | 'done' | null {
    if (!dynamic && c === 0 && i.hasMem) return null;
    const o = this.rm(i, size, true, true);
    if (!dynamic && c === 0) {
      if (size === 4) { const v = this.rmGet(i, o, 4); this.rmSet(i, o, 4, v); }
      return 'done';
    }
    return o;
  }

  /**
   * SHLD / SHRD r/m32 or r/m64 by a constant or CL (SDM SHLD, SHRD), as ops-shift.ts doubleShift
   * (whose BigInt arithmetic made each helper call slow: sched_clock's mul_u64_u32_shr runs SHRD
   * on every context switch): r = r/m shifted with the register's bits coming in; CF the last bit
   * out, OF the sign change, SF/ZF/PF of r, AF clear. A masked count of 0 changes no flags (a
   * 32-bit register is still zero-extended).
   */
  private doubleShift(i: DecodedInsn, size: number, left: boolean, count: number): 'next' | false {
    if (size !== 4 && size !== 8) return false;
    const bits = size * 8;
    const cmask = bits - 1;
    const dynamic = count < 0;
    const c = count & cmask;
    const o = this.shiftOperand(i, size, dynamic, c);
    if (o === null) return false;
    if (o === 'done') return 'next';
    const d = this.rmGet(i, o, size);
    const s = this.tmp64(); this.regGet(size, i.reg, i.rex); this.set(s);
    const cl = this.tmp64();
    if (dynamic) { this.regGet(1, 1, 1); this.i64c(cmask, 0); this.c.u8(Op.i64_and); } else this.i64c(c, 0);
    this.set(cl);
    const inv = this.tmp64(); this.i64c(bits, 0); this.get(cl); this.c.u8(Op.i64_sub); this.set(inv);
    const r = this.tmp64();
    this.get(d); this.get(cl); this.c.u8(left ? Op.i64_shl : Op.i64_shr_u);
    this.get(s); this.get(inv); this.c.u8(left ? Op.i64_shr_u : Op.i64_shl);
    this.c.u8(Op.i64_or); this.maskTo(size); this.set(r);
    const w = this.tmp32();
    this.szpWord(r, size);
    // CF: bit (bits - count) of d shifting left, bit (count - 1) shifting right
    this.get(d);
    if (left) this.get(inv); else { this.get(cl); this.i64c(1, 0); this.c.u8(Op.i64_sub); }
    this.c.u8(Op.i64_shr_u); this.c.u8(Op.i32_wrap_i64); this.i32c(1); this.c.u8(Op.i32_and); this.c.u8(Op.i32_or);
    this.get(r); this.get(d); this.c.u8(Op.i64_xor); this.i64c(bits - 1, 0); this.c.u8(Op.i64_shr_u); this.c.u8(Op.i32_wrap_i64); this.i32c(1); this.c.u8(Op.i32_and);
    this.i32c(11); this.c.u8(Op.i32_shl); this.c.u8(Op.i32_or);
    this.set(w);
    if (dynamic) {
      const nz = this.tmp32(); this.get(cl); this.c.u8(Op.i64_eqz); this.c.u8(Op.i32_eqz); this.set(nz);
      this.get(w); this.flagsWord(); this.get(nz); this.c.op(Op.select); this.set(w);
      this.get(r); this.get(d); this.get(nz); this.c.u8(Op.select); this.set(r);
    }
    this.produce({ k: 'word', w });
    this.rmSet(i, o, size, r);
    return 'next';
  }

  /**
   * r = v (size 1 or 2 bytes) rotated left or right by n (0 <= n < its width: the masked count
   * modulo the width, ops-shift.ts shift32), e.g. the `rol $8, %ax` of htons.
   */
  private rotateNarrow(v: number, r: number, size: number, n: number, left: boolean): void {
    this.get(v);
    if (n !== 0) {
      const bits = size * 8;
      this.i64c(left ? n : bits - n, 0); this.c.u8(Op.i64_shl);
      this.get(v); this.i64c(left ? bits - n : n, 0); this.c.u8(Op.i64_shr_u);
      this.c.u8(Op.i64_or); this.maskTo(size);
    }
    this.set(r);
  }

  /**
   * Stores the current flag source (not 'in') for the code that runs next: its lazy record
   * (SlabOffset.CC_OP..CC_R), or the FLAGS word with LazyOp.None.
   */
  private storeFlags(): void {
    const s = this.src;
    if (s.k === 'in') return;
    if (s.k === 'word') {
      this.st(); this.get(s.w); this.mem(Op.i32_store, SlabOffset.FLAGS);
      this.st(); this.i32c(LazyOp.None); this.mem(Op.i32_store, SlabOffset.CC_OP);
      return;
    }
    const sz = s.size << 8;
    this.st(); this.get(s.r); this.mem(Op.i64_store, SlabOffset.CC_R);
    if (s.k === 'incdec') {
      this.st(); this.i32c((s.dec ? LazyOp.Dec : LazyOp.Inc) | sz); this.mem(Op.i32_store, SlabOffset.CC_OP);
      this.st(); this.get(s.cf); this.mem(Op.i32_store, SlabOffset.FLAGS); // the kept CF (bit 0)
      return;
    }
    this.st();
    if (s.op === 'logic') {
      this.i32c(LazyOp.Logic | sz);
    } else {
      const add = s.op === 'add' || s.op === 'adc';
      const plain = (add ? LazyOp.Add : LazyOp.Sub) | sz;
      if (s.cin < 0) this.i32c(plain);
      else { this.i32c((add ? LazyOp.Adc1 : LazyOp.Sbb1) | sz); this.i32c(plain); this.get(s.cin); this.c.u8(Op.select); }
    }
    this.mem(Op.i32_store, SlabOffset.CC_OP);
    if (s.op === 'logic') return;
    this.st(); this.get(s.d); this.mem(Op.i64_store, SlabOffset.CC_D);
    this.st(); this.get(s.s); this.mem(Op.i64_store, SlabOffset.CC_S);
  }

  /** Stores the registers the function has written so far from their locals to the slab. */
  private storeWrittenRegs(): void {
    for (let r = 0; r < 16; r++) {
      if (((this.written >> r) & 1) !== 0) { this.st(); this.get(this.regLocals[r]!); this.mem(Op.i64_store, SlabOffset.GPR + 8 * r); }
    }
  }

  /** The flags of source S into the slab (a br_table over the sources; storeFlags): exits to $flagged only. */
  private flagCases(): void {
    const m = this.sources.length;
    if (m > 0) {
      this.c.op(Op.block, VOID); // $cases
      for (let j = 0; j <= m; j++) this.c.op(Op.block, VOID); // $b_m .. $b_0
      this.get(this.exitCode); this.i32c(8); this.c.u8(Op.i32_shr_u);
      this.c.u8(Op.br_table); this.c.u32(m + 1);
      for (let j = 0; j <= m; j++) this.c.u32(j);
      this.c.u32(0);
      this.c.u8(Op.end); // $b_0: no flags
      this.c.op(Op.br, m);
      for (let j = 1; j <= m; j++) {
        this.c.u8(Op.end); // $b_j
        this.src = this.shared(this.sources[j - 1]!);
        this.storeFlags();
        if (j < m) this.c.op(Op.br, m - j);
      }
      this.c.u8(Op.end); // $cases
    }
  }

  /** After $done: registers, RIP, LAST_DONE, and the result. */
  private epilogue(): void {
    this.storeWrittenRegs();
    this.st(); this.get(this.ripLocal); this.c.u8(Op.f64_convert_i64_s); this.mem(Op.f64_store, SlabOffset.RIP);
    // LAST_DONE = K (where the run loop resumes in this block); result
    // ((base + K) << 2) | (K === n) << 1 | flags written
    const k = this.tmp32();
    this.get(this.exitCode); this.i32c(0xff); this.c.u8(Op.i32_and); this.set(k);
    this.st(); this.get(k); this.mem(Op.i32_store, SlabOffset.LAST_DONE);
    this.get(k);
    if (this.selfLoop) { this.get(this.base); this.c.u8(Op.i32_add); }
    this.i32c(2); this.c.u8(Op.i32_shl);
    this.get(k); this.i32c(this.blockLength); this.c.u8(Op.i32_ge_u);
    // A helper that stopped the chain (Stop), or faulted in an appended block, ends it; Jump goes on.
    if (this.helperRes >= 0) { this.get(this.helperRes); this.i32c(3); this.c.u8(Op.i32_and); this.c.u8(Op.i32_eqz); this.c.u8(Op.i32_and); }
    this.i32c(1); this.c.u8(Op.i32_shl); this.c.u8(Op.i32_or);
    this.get(this.exitCode); this.i32c(0xff); this.c.u8(Op.i32_gt_u); this.c.u8(Op.i32_or);
    if (this.selfLoop) { this.get(this.loopFlags); this.c.u8(Op.i32_or); }
  }

  translate(): Translation | null {
    const n = this.insns.length;
    let k = 0;
    let branched = false;
    for (; k < n; k++) {
      this.k = k;
      const mark = this.c.length;
      const locals = this.localTypes.length;
      const src = this.src;
      const sources = this.sources.length;
      const curK = this.curK; const curS = this.curS;
      const written = this.written;
      const flagsIn = this.needsFlagsIn;
      const r = this.insn(this.insns[k]!);
      if (r === false) {
        // Forms decline before emitting anything; this undoes any that did not.
        this.c.length = mark; this.localTypes.length = locals; this.src = src; this.sources.length = sources;
        while (this.exitBranches.length > 0 && this.exitBranches[this.exitBranches.length - 1]! >= mark) this.exitBranches.pop();
        this.curK = curK; this.curS = curS;
        this.written = written;
        // Register locals made since the mark (local indices follow the three params) go too.
        for (let r = 0; r < 16; r++) if (this.regLocals[r]! >= 3 + locals) this.regLocals[r] = -1;
        this.needsFlagsIn = flagsIn;
        if (this.helper(this.insns[k]!)) continue;
        break;
      }
      this.native++;
      if (r === 'branch') { branched = true; k++; break; }
    }
    // A block of helper calls only is still worth a function when it covers the whole block:
    // chains then run through it (SYSCALL, SYSRET... blocks of the system call path) instead
    // of returning to the run loop on both sides of it.
    if (k === 0 || (this.native === 0 && k < n)) return null;
    // The way out after the last instruction: a branch stored RIP; a block that runs to its end
    // continues at the next instruction.
    if (!branched && k === n) this.setRip(this.insns[n - 1]!.next);
    this.setExit(k);
    if (this.exitFlagged) this.c.op(Op.br, this.outBy(0));
    if (this.selfLoop) this.c.u8(Op.end); // loop
    this.c.u8(Op.end); // $exit0
    this.c.op(Op.br, 1); // to $done, past the flags
    this.c.u8(Op.end); // $flagged
    this.flagCases();
    this.c.u8(Op.end); // $done
    this.epilogue();
    this.c.u8(Op.end);
    const out = bodyScratch;
    out.length = 0;
    // Local declarations: runs of one type.
    const types = this.localTypes;
    let runs = 0;
    for (let j = 0; j < types.length; j++) if (j === 0 || types[j] !== types[j - 1]) runs++;
    out.u32(runs);
    for (let j = 0; j < types.length;) {
      let e = j + 1;
      while (e < types.length && types[e] === types[j]) e++;
      out.u32(e - j); out.u8(types[j]!);
      j = e;
    }
    out.u8(Op.local_get); out.u32(ST); out.u8(Op.local_get); out.u32(UB); out.u8(Op.i32_const); out.u8(4); out.u8(Op.i32_shl); out.u8(Op.i32_add); out.u8(Op.local_set); out.u32(this.tlbBase);
    if (this.needsFlagsIn) { out.u8(Op.local_get); out.u32(ST); out.u8(Op.call); out.u32(MATERIALIZE_FUNC); out.u8(Op.local_set); out.u32(this.flagsInLocal); }
    for (let r = 0; r < 16; r++) {
      const l = this.regLocals[r]!;
      if (l >= 0) { out.u8(Op.local_get); out.u32(ST); out.u8(Op.i64_load); out.u8(3); out.u32(SlabOffset.GPR + 8 * r); out.u8(Op.local_set); out.u32(l); }
    }
    out.op(Op.block, VOID); // $done
    out.op(Op.block, VOID); // $flagged
    out.op(Op.block, VOID); // $exit0
    if (this.selfLoop) out.op(Op.loop, VOID);
    // Branch hint offsets count from the start of the body, its local declarations included.
    const at = out.length;
    out.bytes(this.c.view());
    return {
      body: out.view(), count: Math.min(this.firstHelper < 0 ? k : this.firstHelper, this.blockLength), maxCount: k, appended: [], loopHead: null, exits: [],
      needsFlagsIn: this.needsFlagsIn, selfLoop: this.selfLoop && k === this.insns.length, helpers: this.firstHelper >= 0,
      exitBranches: this.exitBranches.map((o) => at + o),
    };
  }
}

/**
 * Translates a 64-bit block; null when it starts with an instruction this tier neither runs nor
 * hands to a helper, or runs none of its instructions itself and stops before the end.
 * `ramBase` is where RAM index 0 sits in the arena. `weight` says how often a block ran: a
 * branch's appended way is the heavier one (the tier counts chain entries as well as the
 * interpreter's runs: WasmTier.blockWeight). `ways` overrides that at the Jccs it names (the RIP
 * of the block the Jcc ends -> true: the way taken), as the block's earlier functions showed
 * (WasmTier.review).
 */
export function translateBlock(cpu: Cpu, block: Block, ramBase: number, helperOf: ((i: DecodedInsn, owner: Block) => number) | null = null,
  weight: (b: Block) => number = (b) => b.execCount, ways?: ReadonlyMap<number, boolean>): Translation | null {
  const insns = block.insns;
  if (cpu.codeBits !== 64 || insns.length === 0) return null;
  // Blocks appended after this one, each following the branch, CALL or RET that ends the one
  // before: a loop of two or three blocks (Jcc only) or up to loopBlocks (through calls) back to
  // this block's start, iterated inside the function, else a trace of up to traceBlocks blocks.
  // Only blocks decoded already, in the same page (so the same
  // physical page whatever the mapping; blocks never cross pages) or on global kernel pages.
  // Traces cost translation and compile time at the start (a pinned boot: +2 % wall with 4
  // blocks, +9 % with 8, stop 14, before traces went through calls) and save dispatcher steps for
  // good (steady-state sequential reads -18 %, TCP receive -14 %, pinned pairs, 4 blocks);
  // measured on a single cold pass they lost (stop 14).
  const page = Math.floor(block.rip / 4096);
  const mem = cpu.mem;
  const kernelGlobal = block.rip < 0 && mem.codeIsGlobal?.(block.rip) === true;
  /** Code at `rip` may join this block's function: same page, or both on global kernel pages. */
  const joinable = (rip: number): boolean => Math.floor(rip / 4096) === page || (kernelGlobal && rip < 0 && mem.codeIsGlobal?.(rip) === true);
  // The walks below look up the same blocks many times (each CALL's callee is walked to its RET
  // at every step that considers it): each lookup translates the RIP and probes the block cache.
  const found = new Map<number, Block | null>();
  const lookup = (rip: number): Block | null => {
    let b = found.get(rip);
    if (b === undefined) { b = cpu.lookupBlock(rip); found.set(rip, b); }
    return b;
  };
  const toward = (b: Block, taken: boolean): Block | null => {
    const last = b.insns[b.insns.length - 1]!;
    if (!isJcc(last) || ways?.get(b.rip) === !taken) return null;
    const rip = taken ? branchTarget(last) : last.next;
    if (rip === last.next && taken) return null;
    if (Math.floor(rip / 4096) !== page || rip === b.rip) return null;
    const x = lookup(rip);
    return x !== null && x !== block && x !== b ? x : null;
  };
  /** The block a Jcc (its heavier way, the fall-through on a tie) or a direct JMP ending `b` goes on to, when decoded already and joinable. */
  const jumpStep = (b: Block): [Block, Join] | null => {
    const last = b.insns[b.insns.length - 1]!;
    if (isJcc(last)) {
      const rt = branchTarget(last);
      const taken = rt !== last.next && joinable(rt) ? lookup(rt) : null;
      const fall = joinable(last.next) ? lookup(last.next) : null;
      // A way the functions that ran showed (WasmTier.review): a block's weight counts every
      // way into it, so a join after a short if-then outweighs the then-block it follows.
      const forced = ways?.get(b.rip);
      if (forced === true && taken !== null) return [taken, true];
      if (forced === false && fall !== null) return [fall, false];
      if (fall !== null && (taken === null || weight(fall) >= weight(taken))) return [fall, false];
      return taken !== null ? [taken, true] : null;
    }
    if (last.map === OpMap.Primary && (last.op === 0xe9 || last.op === 0xeb) && last.opSize === 8) {
      const rt = branchTarget(last);
      const x = joinable(rt) ? lookup(rt) : null;
      return x !== null ? [x, 'jmp'] : null;
    }
    return null;
  };
  /** The callee of a direct CALL ending `b`, when decoded already and joinable (as the return address). */
  const calleeOf = (b: Block): Block | null => {
    const last = b.insns[b.insns.length - 1]!;
    if (last.map !== OpMap.Primary || last.op !== 0xe8 || last.opSize !== 8) return null;
    const rt = last.next + (last.imm | 0);
    return joinable(rt) && joinable(last.next) ? lookup(rt) : null;
  };
  /**
   * A callee starting with block `b` reaches its RET through at most `more` blocks after it
   * (following the calls it makes, which must return too). Remembered per callee: the walks ask
   * again at every step that comes to the CALL.
   */
  const returnsWithin = (b: Block, more: number): boolean => {
    const known = toReturn.get(b); // steps when found (>= 0), else -(the most steps that did not find it) - 1
    if (known !== undefined && (known >= 0 || -known - 1 >= more)) return known >= 0 && known <= more;
    const steps = stepsToReturn(b, more);
    toReturn.set(b, steps >= 0 ? steps : -more - 1);
    return steps >= 0;
  };
  const toReturn = new Map<Block, number>();
  /** The blocks after `b` before its callee's RET, when at most `more`; else -1. */
  const stepsToReturn = (b: Block, more: number): number => {
    const returns: number[] = [];
    for (let x: Block | null = b, steps = 0; x !== null && steps <= more; steps++) {
      const last = x.insns[x.insns.length - 1]!;
      if (isRet(last) && returns.length === 0) return steps;
      const callee = calleeOf(x);
      if (callee !== null) { returns.push(last.next); x = callee; }
      else if (isRet(last)) x = lookup(returns.pop()!);
      else x = jumpStep(x)?.[0] ?? null;
    }
    return -1;
  };
  const closes = (b: Block): boolean => branchTarget(b.insns[b.insns.length - 1]!) === block.rip;
  let path: Block[] = [];
  let kinds: Join[] = [];
  if (!closes(block)) {
    search: for (const d1 of [true, false]) {
      const x1 = toward(block, d1);
      if (x1 === null) continue;
      if (closes(x1)) { path = [x1]; kinds = [d1]; break; }
      for (const d2 of [true, false]) {
        const x2 = toward(x1, d2);
        if (x2 !== null && x2 !== block && closes(x2)) { path = [x1, x2]; kinds = [d1, d2]; break search; }
      }
    }
  }
  // A longer loop: the trace's walk (below) followed for up to loopBlocks blocks, through calls
  // and returns, back to this block by a backward branch with every call returned (the kernel's
  // per-page loops call small functions: gup's try_grab_folio, bio_iov_iter_get_pages's
  // __bio_try_merge_page, virtqueue_add_split's sg_next). The loop then iterates inside the
  // function, where each iteration was several dispatcher steps: the compute job (bench/compute)
  // took 3.50 s before, 2.74 s after; a loop calling a 5-instruction function, 31 ms -> 18 ms for
  // 12 M instructions (stop 19).
  let longLoop = false;
  let loopHead: Block | null = null;
  if (path.length === 0 && !closes(block)) {
    const w = walk(block, loopBlocks, true);
    if (w !== null) [path, kinds, longLoop] = [...w, true];
    else [path, kinds] = trace();
  }
  let t = translatePath(cpu, block, path, kinds, ramBase, helperOf);
  // A long loop that needs the interpreter does not iterate inside its function (below): it
  // gets the trace instead.
  if (t !== null && longLoop && !t.selfLoop) {
    [path, kinds] = trace();
    t = translatePath(cpu, block, path, kinds, ramBase, helperOf);
  }
  if (t !== null) t.loopHead = loopHead;
  return t;

  function trace(): [Block[], Join[]] {
    return walk(block, traceBlocks, false) ?? [[], []];
  }

  /**
   * Not a loop: a trace. Each block's successor is appended while it is decoded already and
   * joinable: a Jcc's way taken more often (`weight`; the fall-through on a tie), a direct JMP's
   * target (every kernel function returns through `jmp __x86_return_thunk`, the retbleed
   * mitigation: its RET is appended, saving a trip through the dispatcher per return), a direct
   * CALL's callee, and after a RET the caller whose CALL is in the trace (kernel loops call small
   * functions per item: sg_next, try_grab_folio, folio_mark_dirty). A trace stops before a
   * backward branch to a block a loop walk closes at (loopHead): chains then enter that loop's
   * own function there, which iterates (a trace through the head would run one iteration per
   * call). With `loop`, the walk from `head` succeeds only when it comes back to `head` through a
   * taken branch (the loop's back edge) with every CALL returned; null otherwise.
   */
  function walk(head: Block, limit: number, loop: boolean): [Block[], Join[]] | null {
    const path: Block[] = [];
    const kinds: Join[] = [];
    let cur = head;
    let n = head.insns.length;
    /** Return addresses of the CALLs appended, innermost last: a RET goes on to the caller. */
    const returns: number[] = [];
    while (path.length < limit) {
      const last = cur.insns[cur.insns.length - 1]!;
      let step = jumpStep(cur);
      const callee = step === null ? calleeOf(cur) : null;
      if (callee !== null) {
        // A callee only when its RET is reached within the trace, so the caller joins too: a
        // callee that does not return in the trace would be code copied for no trip saved (a
        // pinned boot took 5-15 % longer with every callee appended).
        if (returnsWithin(callee, limit - path.length - 2)) step = [callee, 'call'];
      } else if (step === null && isRet(last) && returns.length > 0) {
        const back = lookup(returns[returns.length - 1]!);
        if (back !== null) step = [back, 'ret'];
      }
      if (step === null) break;
      const [next, kind] = step;
      const backward = (kind === true || kind === 'jmp') && next.rip <= last.rip;
      if (next === head && loop && returns.length === 0 && backward) return [path, kinds];
      if (next === head || path.includes(next) || n + next.insns.length > 255) break;
      if (!loop && backward && head === block && walk(next, loopBlocks, true) !== null) { loopHead = next; break; }
      if (kind === 'call') returns.push(last.next);
      else if (kind === 'ret') returns.pop();
      path.push(next); kinds.push(kind);
      n += next.insns.length;
      cur = next;
    }
    return loop ? null : [path, kinds];
  }
}

/** Translates `block` with the blocks of `path` appended, joined as `kinds` says. */
function translatePath(cpu: Cpu, block: Block, path: Block[], kinds: Join[], ramBase: number, helperOf: ((i: DecodedInsn, owner: Block) => number) | null): Translation | null {
  const insns = block.insns;
  let all = insns;
  const joins = new Map<number, Join>();
  for (let j = 0; j < path.length; j++) {
    if (all.length + path[j]!.insns.length > 255) { path.length = j; break; }
    joins.set(all.length - 1, kinds[j]!);
    all = all.concat(path[j]!.insns);
  }
  const owners = [block, ...path];
  const helper = helperOf === null ? null : (i: DecodedInsn, part: number): number => helperOf(i, owners[part]!);
  let tr = new Translator(cpu, all, ramBase, insns.length, joins, helper, true);
  let t = tr.translate();
  // A loop that needs the interpreter does not iterate inside its function: each iteration goes
  // back through the dispatcher, which counts it toward the block JIT (which runs such loops
  // without helper calls: SSE copies, 8- and 16-bit shifts).
  if (t !== null && t.selfLoop && t.helpers) {
    tr = new Translator(cpu, all, ramBase, insns.length, joins, helper, false);
    t = tr.translate();
  }
  if (t === null) return null;
  if (t.maxCount > insns.length) t.appended = path;
  t.exits = tr.exits.map((e) => ({ rip: owners[e.part]!.rip, taken: e.taken, target: e.target }));
  return t;
}

/**
 * The instructions LOCK may prefix (SDM Vol. 2 "LOCK"): ADD, ADC, AND, BTC, BTR, BTS, CMPXCHG,
 * CMPXCHG8B/16B, DEC, INC, NEG, NOT, OR, SBB, SUB, XOR, XADD, XCHG, in their forms with a
 * read-modify-write destination (CMP, TEST and BT are not among them).
 */
function lockable(i: DecodedInsn): boolean {
  const op = i.op;
  const e = (i.modrm >> 3) & 7;
  if (i.map === OpMap.Primary) {
    if (op < 0x38 && (op & 7) <= 1) return true; // ALU r/m, reg (not CMP: 0x38..)
    if (op === 0x80 || op === 0x81 || op === 0x83) return e !== 7;
    if (op === 0x86 || op === 0x87) return true;
    if (op === 0xf6 || op === 0xf7) return e === 2 || e === 3;
    if (op === 0xfe || op === 0xff) return e <= 1;
    return false;
  }
  if (i.map === OpMap.M0F) {
    if (op === 0xb0 || op === 0xb1 || op === 0xc0 || op === 0xc1 || op === 0xab || op === 0xb3 || op === 0xbb) return true;
    if (op === 0xba) return e >= 5;
    if (op === 0xc7) return e === 1;
  }
  return false;
}

function isRet(i: DecodedInsn): boolean {
  return i.map === OpMap.Primary && i.op === 0xc3 && i.opSize === 8;
}

function isJcc(i: DecodedInsn): boolean {
  return i.map === OpMap.Primary ? i.op >= 0x70 && i.op <= 0x7f : i.map === OpMap.M0F && i.op >= 0x80 && i.op <= 0x8f;
}


/**
 * The body of `(st: i32) -> i32`, function MATERIALIZE_FUNC of every block module: the six flags
 * from the slab's lazy record (SlabOffset.CC_OP..CC_R), by the rules of flags.ts
 * computeArithFlags, for a block that reads flags before writing them.
 */
export function materializeBody(): Uint8Array {
  if (materialized !== null) return materialized;
  const b = new Bytes();
  const st = 0, cc = 1, op = 2, f = 3, r = 4, d = 5, s = 6, top = 7;
  b.u32(2); b.u32(3); b.u8(I32); b.u32(4); b.u8(I64);
  const get = (l: number): void => { b.u8(Op.local_get); b.u32(l); };
  const set = (l: number): void => { b.u8(Op.local_set); b.u32(l); };
  const i32c = (v: number): void => { b.u8(Op.i32_const); b.s32(v); };
  const i64c = (v: number): void => { b.u8(Op.i64_const); b.s64(v, 0); };
  const mem = (o: number, align: number, offset: number): void => { b.u8(o); b.u8(align); b.u32(offset); };
  /** Pushes (x >> top) & 1 as i32, x an i64 on the stack. */
  const signBit = (): void => { get(top); b.u8(Op.i64_shr_u); b.u8(Op.i32_wrap_i64); i32c(1); b.u8(Op.i32_and); };
  const orInto = (shift: number): void => { if (shift !== 0) { i32c(shift); b.u8(Op.i32_shl); } get(f); b.u8(Op.i32_or); set(f); };
  get(st); mem(Op.i32_load, 2, SlabOffset.CC_OP); set(cc);
  get(cc); i32c(0xff); b.u8(Op.i32_and); set(op);
  get(op); b.u8(Op.i32_eqz); b.op(Op.if, VOID); get(st); mem(Op.i32_load, 2, SlabOffset.FLAGS); b.u8(Op.return); b.u8(Op.end);
  get(st); mem(Op.i64_load, 3, SlabOffset.CC_R); set(r);
  get(st); mem(Op.i64_load, 3, SlabOffset.CC_D); set(d);
  get(st); mem(Op.i64_load, 3, SlabOffset.CC_S); set(s);
  get(cc); i32c(5); b.u8(Op.i32_shr_u); i32c(1); b.u8(Op.i32_sub); b.u8(Op.i64_extend_i32_u); set(top); // size * 8 - 1
  // PF, ZF, SF: every operation
  get(r); b.u8(Op.i32_wrap_i64); i32c(0xff); b.u8(Op.i32_and); b.u8(Op.i32_popcnt); i32c(1); b.u8(Op.i32_and); b.u8(Op.i32_eqz); i32c(2); b.u8(Op.i32_shl); set(f);
  get(r); b.u8(Op.i64_eqz); orInto(6);
  get(r); signBit(); orInto(7);
  get(op); i32c(LazyOp.Logic); b.u8(Op.i32_eq); b.op(Op.if, VOID); get(f); b.u8(Op.return); b.u8(Op.end);
  // INC/DEC: CF kept (FLAGS bit 0); OF at the smallest negative (INC) or largest positive (DEC) result
  get(op); i32c(LazyOp.Inc); b.u8(Op.i32_ge_u); b.op(Op.if, VOID);
  get(st); mem(Op.i32_load, 2, SlabOffset.FLAGS); i32c(1); b.u8(Op.i32_and); orInto(0);
  get(r); i64c(1); get(top); b.u8(Op.i64_shl);
  get(op); i32c(LazyOp.Dec); b.u8(Op.i32_eq); b.u8(Op.i64_extend_i32_u); b.u8(Op.i64_sub); b.u8(Op.i64_eq); orInto(11);
  get(r); b.u8(Op.i32_wrap_i64); i32c(0xf); b.u8(Op.i32_and); get(op); i32c(LazyOp.Dec); b.u8(Op.i32_eq); i32c(0xf); b.u8(Op.i32_mul); b.u8(Op.i32_eq); orInto(4);
  get(f); b.u8(Op.return);
  b.u8(Op.end);
  // ADD/ADC/SUB/SBB: AF from bit 4 of d ^ s ^ r
  get(d); get(s); b.u8(Op.i64_xor); get(r); b.u8(Op.i64_xor); b.u8(Op.i32_wrap_i64); i32c(0x10); b.u8(Op.i32_and); orInto(0);
  get(op); i32c(LazyOp.Adc1); b.u8(Op.i32_le_u); b.op(Op.if, VOID);
  // add: OF = (d ^ r) & (s ^ r) at the sign; CF = r < d (r <= d with a carry-in)
  get(d); get(r); b.u8(Op.i64_xor); get(s); get(r); b.u8(Op.i64_xor); b.u8(Op.i64_and); signBit(); orInto(11);
  get(r); get(d); b.u8(Op.i64_le_u); get(r); get(d); b.u8(Op.i64_lt_u); get(op); i32c(LazyOp.Adc1); b.u8(Op.i32_eq); b.u8(Op.select); orInto(0);
  get(f); b.u8(Op.return);
  b.u8(Op.end);
  // sub: OF = (d ^ s) & (d ^ r) at the sign; CF = d < s (d <= s with a borrow-in)
  get(d); get(s); b.u8(Op.i64_xor); get(d); get(r); b.u8(Op.i64_xor); b.u8(Op.i64_and); signBit(); orInto(11);
  get(d); get(s); b.u8(Op.i64_le_u); get(d); get(s); b.u8(Op.i64_lt_u); get(op); i32c(LazyOp.Sbb1); b.u8(Op.i32_eq); b.u8(Op.select); orInto(0);
  get(f);
  b.u8(Op.end);
  materialized = b.view().slice();
  return materialized;
}

let materialized: Uint8Array | null = null;
