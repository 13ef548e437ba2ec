// Shared pieces of the differential-test case builders (diff-cases-*.ts): the case type, a
// fixed-seed PRNG, operand value sets and register helpers.

import { AH, type OpSize } from './diff-asm.js';

/** Where the data page sits, for the soft CPU and the native oracle alike (snippet.ts default). */
export const DATA_ADDRESS = 0x10000;
export const DEFAULT_DATA_BYTES = 512;
/** Initial RSP for every case: inside the data page, so PUSH/POP/PUSHF/POPF land there. */
export const STACK_TOP = DATA_ADDRESS + 0x1c0;

/** RFLAGS bits (SDM Vol. 1 §3.4.3). */
export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, IF = 0x200, DF = 0x400, OF = 0x800;
export const ARITH = CF | PF | AF | ZF | SF | OF;
/** Flags a case compares by default: the status flags and DF. */
export const ALL_FLAGS = ARITH | DF;

export const MXCSR_DEFAULT = 0x1f80;

export interface DiffInput {
  /** RAX..R15, unsigned 64-bit. */
  gpr: bigint[];
  /** RFLAGS: bit 1 and IF always set (the oracle runs at CPL 3 where IF=1), plus status flags/DF. */
  rflags: number;
  /** XMM0..XMM15, unsigned 128-bit. */
  xmm: bigint[];
  mxcsr: number;
}

export interface DiffCase {
  /** Grouping key for reports and KNOWN_FAILING, e.g. 'adc', 'shld', 'cvtsd2si'. */
  mnemonic: string;
  /** The instruction in assembly syntax, e.g. 'adc r64, [rbx+0x10]'. */
  form: string;
  code: Uint8Array;
  input: DiffInput;
  /** Initial contents of the data page at DATA_ADDRESS. */
  data: Uint8Array;
  /** RFLAGS bits to compare: the ones the SDM defines for this instruction and these inputs. */
  flagsMask: number;
  /** Per-GPR masks of the bits to compare (absent = all 64 bits). */
  gprMasks?: Map<number, bigint>;
  /** Per-byte masks of the data page bits to compare, by offset (absent = all bits). */
  dataMasks?: Map<number, number>;
  /** Registers worth showing in a failure report (the operands). */
  shown: number[];
  /** XMM registers worth showing in a failure report. */
  shownXmm?: number[];
  /**
   * Execution mode; absent = 64-bit mode. 'protected32' runs natively in 32-bit compatibility
   * mode, 'real16' in 16-bit protected mode with segment bases equal to the soft CPU's real-mode
   * ones (DS = ES = SS = the data page): only the low 32 bits of EAX..EDI are compared.
   */
  mode?: 'protected32' | 'real16';
}

/** Deterministic 32-bit PRNG (mulberry32); fast and good enough for operand values. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
  /** Integer in [0, n). */
  below(n: number): number {
    return this.u32() % n;
  }
  pick<T>(items: readonly T[]): T {
    const v = items[this.below(items.length)];
    if (v === undefined) throw new Error('pick from an empty list');
    return v;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let k = 0; k < n; k += 4) {
      const v = this.u32();
      out[k] = v & 0xff;
      out[k + 1] = (v >>> 8) & 0xff;
      out[k + 2] = (v >>> 16) & 0xff;
      out[k + 3] = v >>> 24;
    }
    return out;
  }
}

export function sizeMask(size: OpSize): bigint {
  return (1n << BigInt(size * 8)) - 1n;
}

/** Boundary values for an operand size plus two random ones. */
export function interestingValues(rng: Rng, size: OpSize): bigint[] {
  const mask = sizeMask(size);
  const signBit = 1n << BigInt(size * 8 - 1);
  return [0n, 1n, 2n, signBit - 1n, signBit, mask, signBit + 1n, mask - 1n, rng.u64() & mask, rng.u64() & mask];
}

/** Writes `value` into register `reg` (AH..BH allowed) of `gpr`, keeping the other bits. */
export function setReg(gpr: bigint[], reg: number, size: OpSize, value: bigint): void {
  const mask = sizeMask(size);
  if (reg >= AH) {
    const r = reg - AH;
    gpr[r] = ((gpr[r] ?? 0n) & ~0xff00n) | ((value & 0xffn) << 8n);
    return;
  }
  gpr[reg] = ((gpr[reg] ?? 0n) & ~mask) | (value & mask);
}

/** Random status flags plus the always-set bits; `extra` is ORed in (e.g. DF). */
export function randomFlags(rng: Rng, extra = 0): number {
  return (rng.u32() & ARITH) | 0x2 | IF | extra;
}

export const FLAG_SETS: readonly number[] = [0, CF, ZF, SF, OF, PF, AF, CF | ZF, SF | OF, ARITH, ZF | SF, CF | OF | PF];

/** A fresh input: every GPR garbage (so that partial-register writes are checked), RSP in the data page. */
export function baseInput(rng: Rng): DiffInput {
  const gpr: bigint[] = [];
  for (let r = 0; r < 16; r++) gpr.push(rng.u64());
  gpr[4] = BigInt(STACK_TOP);
  const xmm: bigint[] = [];
  for (let r = 0; r < 16; r++) xmm.push((rng.u64() << 64n) | rng.u64());
  return { gpr, rflags: randomFlags(rng), xmm, mxcsr: MXCSR_DEFAULT };
}

export class CaseList {
  readonly cases: DiffCase[] = [];
  readonly rng: Rng;
  constructor(seed: number) {
    this.rng = new Rng(seed);
  }
  add(c: Omit<DiffCase, 'data' | 'flagsMask'> & { data?: Uint8Array; flagsMask?: number }): void {
    this.cases.push({
      ...c,
      data: c.data ?? this.rng.bytes(DEFAULT_DATA_BYTES),
      flagsMask: c.flagsMask ?? ALL_FLAGS,
    });
  }
}

