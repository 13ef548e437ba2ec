// Architectural state of one soft vCPU (Intel SDM Vol. 1 ch. 3, Vol. 3A ch. 2).
//
// Conventions shared by every file of the CPU engine:
// - 64-bit quantities are split in two uint32 halves (lo, hi): JS numbers are exact only to 2^53.
// - GPR i lives in gpr[2*i] (low 32 bits) and gpr[2*i+1] (high 32 bits), i in 0..15 (Reg).
// - Linear addresses are JS numbers. In 64-bit mode they hold the canonical value sign-extended
//   (0xffffffff81000000 is -0x7f000000), which a double holds exactly because |addr| < 2^47;
//   elsewhere they are 0..2^32-1. `lin >>> 0` gives the low 32 bits either way.
// - Physical addresses are plain non-negative numbers (< 2^52).
// - RIP is stored as a linear-style number in the same canonical form (`rip`), plus CS base
//   is applied separately by the fetcher (CS base is 0 in 64-bit mode).

export const enum Reg {
  RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7,
  R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15,
}

/** Segment register numbers in the order of the ModRM reg field for MOV Sreg (SDM Vol. 2 Table 3-?). */
export const enum Seg { ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5 }

/** RFLAGS bits (SDM Vol. 1 §3.4.3). */
export const enum Flag {
  CF = 1 << 0, PF = 1 << 2, AF = 1 << 4, ZF = 1 << 6, SF = 1 << 7, TF = 1 << 8, IF = 1 << 9,
  DF = 1 << 10, OF = 1 << 11, IOPL = 3 << 12, NT = 1 << 14, RF = 1 << 16, VM = 1 << 17,
  AC = 1 << 18, VIF = 1 << 19, VIP = 1 << 20, ID = 1 << 21,
}
/** The six arithmetic status flags, the ones computed lazily. */
export const ARITH_FLAGS = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF;

export const enum Cr0 { PE = 1 << 0, MP = 1 << 1, EM = 1 << 2, TS = 1 << 3, ET = 1 << 4, NE = 1 << 5, WP = 1 << 16, AM = 1 << 18, NW = 1 << 29, CD = 1 << 30, PG = 1 << 31 }
export const enum Cr4 { VME = 1 << 0, PVI = 1 << 1, TSD = 1 << 2, DE = 1 << 3, PSE = 1 << 4, PAE = 1 << 5, MCE = 1 << 6, PGE = 1 << 7, PCE = 1 << 8, OSFXSR = 1 << 9, OSXMMEXCPT = 1 << 10, UMIP = 1 << 11, LA57 = 1 << 12, FSGSBASE = 1 << 16, PCIDE = 1 << 17, OSXSAVE = 1 << 18, SMEP = 1 << 20, SMAP = 1 << 21 }
export const enum Efer { SCE = 1 << 0, LME = 1 << 8, LMA = 1 << 10, NXE = 1 << 11 }

/** The execution mode, derived from CR0.PE, EFLAGS.VM, EFER.LMA and CS.L/CS.D. */
export const enum CpuMode { Real = 0, Protected16 = 1, Protected32 = 2, Compat16 = 3, Compat32 = 4, Long64 = 5, Virtual8086 = 6 }

/**
 * Hidden part of a segment register (SDM Vol. 3A §3.4.3): base, limit, attributes.
 * `attr` holds descriptor bits 40..47 in its low byte (type, S, DPL, P) and bits 52..55
 * (AVL, L, D/B, G) in bits 12..15, the layout VMX and KVM use for segment access rights.
 */
export interface SegmentCache {
  selector: number;
  /** Linear base; in 64-bit mode FS/GS bases may be any canonical value. */
  base: number;
  /** Byte-granular limit (G already applied), 0..0xffffffff. */
  limit: number;
  attr: number;
}

export function makeSegment(selector: number, base: number, limit: number, attr: number): SegmentCache {
  return { selector, base, limit, attr };
}

/** Descriptor table register (GDTR/IDTR). */
export interface TableRegister { base: number; limit: number }

export class CpuState {
  /**
   * 16 GPRs as (lo, hi) uint32 pairs: gpr[2*i], gpr[2*i+1]. With the WebAssembly tier, a view
   * of the vCPU's slab in the wasm arena (wasm/arena.ts).
   */
  readonly gpr: Uint32Array;
  /** Address of the next instruction to execute (canonical linear form, before CS base). */
  rip = 0;

  /**
   * RFLAGS minus the lazily computed arithmetic flags. The flags module owns the lazy part
   * (lazyOp and operands below) and `getRflags()/setRflags()` combine both.
   */
  flagsRest = 0x2;
  lazyOp = 0;
  lazySize = 0;
  lazyResLo = 0;
  lazyResHi = 0;
  lazySrcLo = 0;
  lazySrcHi = 0;
  lazyDstLo = 0;
  lazyDstHi = 0;
  /** Arithmetic flags when lazyOp says they are materialized. */
  lazyFlags = 0;

  readonly seg: SegmentCache[] = [
    makeSegment(0, 0, 0xffff, 0x93), makeSegment(0xf000, 0xffff0000, 0xffff, 0x9b),
    makeSegment(0, 0, 0xffff, 0x93), makeSegment(0, 0, 0xffff, 0x93),
    makeSegment(0, 0, 0xffff, 0x93), makeSegment(0, 0, 0xffff, 0x93),
  ];
  ldtr: SegmentCache = makeSegment(0, 0, 0xffff, 0x82);
  tr: SegmentCache = makeSegment(0, 0, 0xffff, 0x8b);
  gdtr: TableRegister = { base: 0, limit: 0xffff };
  idtr: TableRegister = { base: 0, limit: 0xffff };

  cr0 = 0x60000010;
  /** CR2 holds a linear address (canonical number form). */
  cr2 = 0;
  /** CR3 physical base of the top paging structure, plus PCD/PWT bits; a number < 2^52. */
  cr3 = 0;
  cr4 = 0;
  cr8 = 0;
  efer = 0;
  /** DR0..DR7 (DR4/5 alias 6/7); kept for MOV DR, not acted on. */
  readonly dr = [0, 0, 0, 0, 0xffff0ff0, 0x400, 0xffff0ff0, 0x400];

  /** Current mode, recomputed whenever CR0, EFER, EFLAGS.VM or CS changes (updateMode()). */
  mode: CpuMode = CpuMode.Real;
  /** Current privilege level (CS.RPL / SS.DPL), cached. */
  cpl = 0;

  // MSRs Linux touches (SDM Vol. 4). 64-bit values as numbers where they are addresses
  // (canonical form), bigint where they are arbitrary 64-bit data.
  private starValue = 0n;
  /** IA32_STAR bits 63:32 as a number: the selector bases SYSCALL and SYSRET take, without BigInt. */
  starHi = 0;
  get star(): bigint { return this.starValue; }
  set star(v: bigint) { this.starValue = v; this.starHi = Number((v >> 32n) & 0xffffffffn); }
  lstar = 0;
  cstar = 0;
  sfmask = 0;
  kernelGsBase = 0;
  sysenterCs = 0;
  sysenterEsp = 0;
  sysenterEip = 0;
  pat = 0x0007040600070406n;
  tscAux = 0;
  miscEnable = 1n;
  apicBase = 0xfee00900n; // BSP flag set for vCPU 0 by the machine; APIC enabled at 0xfee00000
  tscDeadline = 0n;
  /** MSRs we accept and remember without acting on them (MTRRs, etc.). */
  readonly otherMsrs = new Map<number, bigint>();

  // SSE state (SDM Vol. 1 ch. 10-11): 16 XMM registers as 4 uint32 lanes each.
  readonly xmm = new Uint32Array(16 * 4);
  mxcsr = 0x1f80;

  // x87 state (SDM Vol. 1 ch. 8). Values held as doubles (64-bit mantissa precision is not
  // modelled); FXSAVE converts to and from the 80-bit format.
  readonly fpr = new Float64Array(8);
  fpuTop = 0;
  fpuControl = 0x037f;
  fpuStatus = 0;
  /** Abridged tag: bit i set when physical register i is valid (FXSAVE format). */
  fpuTagValid = 0;
  fpuLastOpcode = 0;
  fpuLastIp = 0;
  fpuLastDp = 0;

  /** Interrupt shadow after STI / MOV SS / POP SS: one instruction with interrupts blocked. */
  interruptShadow = false;
  /** Halted by HLT until an interrupt (or NMI/INIT/SIPI) arrives. */
  halted = false;
  /** Non-BSP vCPUs wait for INIT-SIPI-SIPI (SDM Vol. 3A §8.4). */
  waitForSipi = false;

  private tscOffsetValue = 0n;
  /** tscOffset as a number, for RDTSC without BigInt (msr.ts readTsc, the wasm tier's copy). */
  tscOffsetNumber = 0;
  /** Time stamp counter offset: TSC = clock ticks + tscOffset. */
  get tscOffset(): bigint { return this.tscOffsetValue; }
  set tscOffset(v: bigint) { this.tscOffsetValue = v; this.tscOffsetNumber = Number(v); }

  readonly cpuIndex: number;
  constructor(cpuIndex: number, gpr?: Uint32Array) {
    this.cpuIndex = cpuIndex;
    this.gpr = gpr ?? new Uint32Array(32);
  }
}
