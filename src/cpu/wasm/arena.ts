// The WebAssembly tier's memory: one WebAssembly.Memory per process (wasm32, 4 GiB) holding all
// that generated wasm code touches, so that it reaches it with plain loads and stores:
// - per-vCPU slabs (SlabOffset): the GPRs (CpuState.gpr is a view of them), the soft TLB's hit
//   arrays (mmu.ts) and a few words exchanged with the run loop;
// - each machine's code-page map (codePages, for self-modifying code detection);
// - guest RAM: the machine's memfd mapped MAP_SHARED | MAP_FIXED over a range of the memory, so
//   the same pages are seen by the VMM's own mapping (devices, KVM, snapshots) and by wasm code.
//   Unit tests take RAM from the arena directly.
// Nothing here grows the memory: growing would detach the ArrayBuffer under every view.

import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE, mmapOver } from '../../sys/libc.js';
import { TLB_SIZE } from '../mmu.js';

const WASM_PAGE_BYTES = 65536;
/** The whole wasm32 address space. */
export const ARENA_PAGES = 65536;
/** Slabs and code-page maps below this offset, RAM ranges above it. */
const STATE_LIMIT = 512 * 1024 * 1024;
/** RAM ranges are aligned to host huge pages (2 MiB), so MAP_FIXED may use them. */
const RAM_ALIGN = 2 * 1024 * 1024;

/** Byte offsets within a vCPU's slab (all state the generated code reaches through `st`). */
export const enum SlabOffset {
  /** 16 GPRs as (lo, hi) u32 pairs: i64 little-endian, state.ts order. */
  GPR = 0,
  /** f64: RIP after the wasm code ran (canonical number form, state.ts). */
  RIP = 128,
  /**
   * i32: the six arithmetic flags: on entry, written by the run loop when the block reads them;
   * on exit, when a block wrote them (exit code bit 0). One word, so that in a chain what one
   * block leaves is what the next reads.
   */
  FLAGS = 136,
  /**
   * i64: FS and GS bases, written by the run loop before each call into wasm. Integers, not f64:
   * a per-CPU access then adds a plain load, where a conversion (and its trap check) sat on the
   * address's dependency chain.
   */
  FS_BASE = 144,
  GS_BASE = 152,
  /** i32: where a chain of blocks stopped: the table index of its last block, instructions done in it. */
  LAST_INDEX = 160,
  LAST_DONE = 164,
  /**
   * The arithmetic flags a block left, lazily (as the interpreter's lazy record, flags.ts):
   * i32 LazyOp | operand size << 8, then the i64 operands and result, masked to the size. With
   * LazyOp.None the flags are the FLAGS word; after INC/DEC, FLAGS holds the kept CF. A block
   * stores these few words at its exit instead of computing six flags that the next block
   * nearly always overwrites unread; one that reads them first computes them (translate.ts
   * materializeBody).
   */
  CC_OP = 168,
  CC_D = 176,
  CC_S = 184,
  CC_R = 192,
  /**
   * i32: RFLAGS other than the six arithmetic flags (the Cpu's flagsRest: IF, DF, IOPL...), the
   * CPL, and whether an interrupt is pending at the interrupt controller (1/0). The run loop
   * writes all three before a chain and takes REST back after it; a helper call takes REST back
   * before its instruction and writes REST and PENDING after it. Nothing else can make an
   * interrupt pending during a chain (devices and other vCPUs run between chains), so PENDING
   * stays true to the controller: CLI, STI and PUSHF run in wasm (translate.ts).
   */
  REST = 200,
  CPL = 204,
  PENDING = 208,
  /**
   * f64: what RDTSC reads (translate.ts), -1 when the interpreter must run it (CR4.TSD at CPL > 0,
   * or a value beyond 2^53). The run loop writes it before a chain and a helper call after its
   * instruction: the TSC the interpreter would read there, whose instruction count is the one the
   * chain started at (the run loop adds a chain's instructions after it) and whose stall time
   * only helpers (PAUSE) change.
   */
  TSC = 216,
  /**
   * i64: IA32_KERNEL_GS_BASE beside GS_BASE, for SWAPGS in wasm, which swaps the two and flips
   * GS_SWAPPED (i32, 1/0): the run loop after a chain, and a helper call before its instruction,
   * swap the Cpu's bases when it is set (a system call's two SWAPGS leave it clear). Written with
   * the bases before a chain and after a helper call.
   */
  KGS_BASE = 224,
  GS_SWAPPED = 232,
  /** f64: what RDTSCP puts in ECX (IA32_TSC_AUX), -1 when RDTSCP is #UD (not announced); written with TSC. */
  TSC_AUX = 240,
  /**
   * i32: set by a helper call whose instruction switched mode and lets the chain go on
   * (HelperResult.Jump: SYSCALL and SYSRET between 64-bit code), or by SYSCALL and SYSRETQ run in
   * wasm (SYS_OK below): the dispatcher then takes the
   * new mode's code generations and TLB half from the next three words, and clears it.
   */
  MODE_SWITCH = 248,
  MODE_GEN = 252,
  MODE_GLOBAL_GEN = 256,
  MODE_HALF = 260,
  /**
   * SYSCALL and SYSRETQ in wasm (translate.ts fastSystemCall), written by the run loop before a
   * chain (Cpu.writeWasmSys): SYS_OK (i32) 1 when they may run there (EFER.SCE, IA32_FMASK clears
   * the six flags, TF and IF, CR4.TSD clear, no stop RIP), else they stop the function before
   * them; SYS_CLEAR (i32) the RFLAGS bits SYSCALL clears; LSTAR (f64) its target; the code
   * generations of 64-bit code at CPL 0 and CPL 3 (for MODE_GEN, MODE_GLOBAL_GEN); SYS_SWITCHED
   * (i32) set by either, so that the run loop after the chain, or a helper call before its
   * instruction, gives the Cpu the segments and mode of SlabOffset.CPL (Cpu.takeWasmSys).
   */
  SYS_OK = 264,
  SYS_CLEAR = 268,
  LSTAR = 272,
  SYS_GEN_K = 280,
  SYS_GLOBAL_GEN_K = 284,
  SYS_GEN_U = 288,
  SYS_GLOBAL_GEN_U = 292,
  SYS_SWITCHED = 296,
  /** i64: CR2, for MOV r64, CR2 in wasm (every page fault's handler reads it); written with SYS_OK. */
  CR2 = 304,
  TAG_R = 1024,
  TAG_W = TAG_R + 2 * TLB_SIZE * 8,
  ADDEND = TAG_W + 2 * TLB_SIZE * 8,
  PPN = ADDEND + 2 * TLB_SIZE * 8,
  /**
   * The TLB as wasm code reads it (mmu.ts writes it with the arrays above): 16 bytes per slot,
   * so that an access touches one cache line, not one per array (tag, addend, PPN: the
   * separate arrays had wasm blocks waiting on two or three L1 misses per guest access).
   * i64 tag: the page base as an integer, bit 0 set when wasm code may not store there (the
   * page is not writable, or holds decoded code: Mmu.codePageChanged) (-1: no page); i32 addend
   * modulo 2^32 (wasm32 addresses need only the low half); i32 PPN.
   */
  WTLB = PPN + 2 * TLB_SIZE * 4,
  /**
   * The jump cache: JUMP_ENTRIES entries of 16 bytes (RIP f64, table index i32, code generation
   * and TLB half i32), at a slot hashed from the RIP (wasm/tier.ts jumpSlot).
   * The generation is the Cpu's codeGen, or its globalCodeGen for code on global pages (kernel
   * text), which CR3 writes keep.
   */
  JUMP = WTLB + 2 * TLB_SIZE * 16,
  BYTES = JUMP + (1 << 16) * 16,
}

/**
 * What a helper call (an instruction a wasm function hands to the interpreter, Cpu.wasmHelper)
 * returns: go on with the next instruction; stop after it (RIP is where it left it: it branched,
 * or changed what chains depend on); stop before it (it faulted: the run loop delivers that); or
 * end the function after it with the chain going on at SlabOffset.RIP in the mode it switched to
 * (SlabOffset.MODE_SWITCH). Continue and Jump are the results with bits 0 and 1 clear.
 */
export const enum HelperResult { Continue = 0, Stop = 1, Fault = 2, Jump = 4 }

export const JUMP_BITS = 16;
export const JUMP_ENTRIES = 1 << JUMP_BITS;

/** One vCPU's slab: views of its parts. */
export interface CpuSlab {
  readonly base: number;
  readonly gpr: Uint32Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly tagR: Float64Array;
  readonly tagW: Float64Array;
  readonly addend: Float64Array;
  readonly ppn: Int32Array;
  /** The wasm TLB (SlabOffset.WTLB): four i32 per slot (tag low, tag high, addend, PPN). */
  readonly wasmTlb: Int32Array;
  /** The jump cache as f64 (RIP at 2 * slot) and i32 (index at 4 * slot + 2, generation at + 3). */
  readonly jumpF64: Float64Array;
  readonly jumpI32: Int32Array;
  /** Gives the slab back now (its vCPU is gone); otherwise it goes when the owner is collected. */
  release(): void;
}

export class WasmArena {
  readonly memory: WebAssembly.Memory;
  private readonly buffer: ArrayBuffer;
  /** Free ranges [offset, bytes] of each region, sorted by offset. */
  private readonly freeState: [number, number][];
  private readonly freeRam: [number, number][];
  /** Releases the ranges of collected owners (tests make many CPUs and never dispose them). */
  private readonly registry = new FinalizationRegistry<() => void>((release) => release());

  /** `pages` of 64 KiB in all, the first `stateBytes` for slabs and code-page maps (tests make small ones). */
  constructor(pages = ARENA_PAGES, stateBytes = STATE_LIMIT) {
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    this.buffer = this.memory.buffer;
    this.freeState = [[WASM_PAGE_BYTES, stateBytes - WASM_PAGE_BYTES]];
    this.freeRam = [[stateBytes, pages * WASM_PAGE_BYTES - stateBytes]];
  }

  /** Bytes of the arena as a Uint8Array (no copy). */
  bytes(offset: number, length: number): Uint8Array {
    return new Uint8Array(this.buffer, offset, length);
  }

  /** A vCPU slab (zeroed), released when `owner` is collected; null when the arena is full. */
  allocSlab(owner: object): CpuSlab | null {
    const base = this.alloc(this.freeState, SlabOffset.BYTES, 64);
    if (base < 0) return null;
    this.bytes(base, SlabOffset.BYTES).fill(0);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.registry.unregister(token);
      this.release(this.freeState, base, SlabOffset.BYTES);
    };
    const token = {};
    this.registry.register(owner, release, token);
    const b = this.buffer;
    return {
      release,
      base,
      gpr: new Uint32Array(b, base + SlabOffset.GPR, 32),
      // The words before the TLB (SlabOffset up to TAG_R): a write past a view is silently dropped.
      i32: new Int32Array(b, base, SlabOffset.TAG_R / 4),
      f64: new Float64Array(b, base, SlabOffset.TAG_R / 8),
      tagR: new Float64Array(b, base + SlabOffset.TAG_R, 2 * TLB_SIZE),
      tagW: new Float64Array(b, base + SlabOffset.TAG_W, 2 * TLB_SIZE),
      addend: new Float64Array(b, base + SlabOffset.ADDEND, 2 * TLB_SIZE),
      ppn: new Int32Array(b, base + SlabOffset.PPN, 2 * TLB_SIZE),
      wasmTlb: new Int32Array(b, base + SlabOffset.WTLB, 8 * TLB_SIZE),
      jumpF64: new Float64Array(b, base + SlabOffset.JUMP, 2 * JUMP_ENTRIES),
      jumpI32: new Int32Array(b, base + SlabOffset.JUMP, 4 * JUMP_ENTRIES),
    };
  }

  /** Zeroed bytes in the state region (code-page maps), released with `owner`; -1 when full. */
  allocState(owner: object, length: number): number {
    const off = this.alloc(this.freeState, length, 64);
    if (off < 0) return -1;
    this.bytes(off, length).fill(0);
    this.registry.register(owner, () => this.release(this.freeState, off, length));
    return off;
  }

  /**
   * A RAM range of `length` bytes: with `memfd`, that file mapped over it (MAP_SHARED); without,
   * zeroed anonymous memory. Released (back to anonymous zero pages) by `release` or when `owner`
   * is collected. -1 when no range is free.
   */
  allocRam(owner: object, length: number, memfd = -1): { offset: number; release: () => void } | null {
    const size = Math.ceil(length / RAM_ALIGN) * RAM_ALIGN;
    const off = this.alloc(this.freeRam, size, RAM_ALIGN);
    if (off < 0) return null;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      // Anonymous zero pages again: a later owner must not see this one's data.
      mmapOver(this.bytes(off, size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
      this.release(this.freeRam, off, size);
    };
    try {
      if (memfd >= 0) mmapOver(this.bytes(off, length), PROT_READ | PROT_WRITE, MAP_SHARED, memfd);
      else mmapOver(this.bytes(off, size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
    } catch (e) {
      this.release(this.freeRam, off, size);
      throw e;
    }
    this.registry.register(owner, release);
    return { offset: off, release };
  }

  private alloc(list: [number, number][], length: number, align: number): number {
    for (let k = 0; k < list.length; k++) {
      const r = list[k]!;
      const start = Math.ceil(r[0] / align) * align;
      const end = r[0] + r[1];
      if (start + length > end) continue;
      const rest: [number, number][] = [];
      if (start > r[0]) rest.push([r[0], start - r[0]]);
      if (start + length < end) rest.push([start + length, end - start - length]);
      list.splice(k, 1, ...rest);
      return start;
    }
    return -1;
  }

  private release(list: [number, number][], offset: number, length: number): void {
    let k = 0;
    while (k < list.length && list[k]![0] < offset) k++;
    list.splice(k, 0, [offset, length]);
    // Merge with the neighbours.
    if (k + 1 < list.length && offset + length === list[k + 1]![0]) { list[k]![1] += list[k + 1]![1]; list.splice(k + 1, 1); }
    if (k > 0 && list[k - 1]![0] + list[k - 1]![1] === offset) { list[k - 1]![1] += list[k]![1]; list.splice(k, 1); }
  }
}

let arena: WasmArena | null | undefined;

/** The process's arena, made on first use; null where the host refuses a 4 GiB wasm memory. */
export function wasmArena(): WasmArena | null {
  if (arena === undefined) {
    try {
      arena = new WasmArena();
    } catch {
      arena = null;
    }
  }
  return arena;
}
