// The contract between the decoder and the instruction handlers of the soft CPU.
//
// The decoder (decoder.ts) turns bytes into an Insn once; the block cache keeps Insns and replays
// them, so handlers must not keep state in an Insn. A handler implements the semantics of one
// opcode (or opcode group) against the `Cpu` interface below; handlers live in files by area
// (integer ALU, system, SSE, x87) and register themselves in the opcode table through the
// explicit `register*Ops(table)` calls made by the table builder (no self-registration).

import type { CpuState } from './state.js';

/** Opcode maps (SDM Vol. 2 Appendix A): one-byte, 0F, 0F 38, 0F 3A. */
export const enum OpMap { Primary = 0, M0F = 1, M0F38 = 2, M0F3A = 3 }

/** Prefix bits in Insn.prefixes. */
export const enum Prefix {
  LOCK = 1 << 0, REP = 1 << 1 /* F3 */, REPNE = 1 << 2 /* F2 */, OPSIZE = 1 << 3 /* 66 */,
  ADDRSIZE = 1 << 4 /* 67 */, SEG = 1 << 5, REX = 1 << 6,
}

/** Value of Insn.base for RIP-relative addressing, and "none" for base/index. */
export const BASE_RIP = 16;
export const NO_REG = -1;

export interface Insn {
  /** Linear address of the first byte (canonical form, before CS base; see state.ts). */
  rip: number;
  /** Length in bytes (1..15). */
  length: number;
  map: OpMap;
  /** Opcode byte within its map. */
  op: number;
  prefixes: number;
  /** REX byte (0x40..0x4f) or 0. */
  rex: number;
  /**
   * Mandatory-prefix selector for SSE opcodes: 0 none, 1 = 66, 2 = F3, 3 = F2 (the last of
   * F2/F3 wins; 66 counts only when neither is present), as in the SDM opcode tables.
   */
  mandatory: 0 | 1 | 2 | 3;
  /** Effective operand size in bytes: 1 for byte forms, else 2, 4 or 8. */
  opSize: 1 | 2 | 4 | 8;
  /** Effective address size in bytes. */
  addrSize: 2 | 4 | 8;
  /** Segment of the memory operand after overrides and the SS default for rBP/rSP bases. */
  seg: number;
  /** ModRM fields, with REX.R folded into reg and REX.B into rm (for register operands). -1 when absent. */
  modrm: number;
  mod: number;
  reg: number;
  rm: number;
  /** Memory operand present (ModRM with mod != 3, or moffs forms). */
  hasMem: boolean;
  /** Base register 0..15, BASE_RIP, or NO_REG. */
  base: number;
  /** Index register 0..15 or NO_REG. */
  index: number;
  scale: 1 | 2 | 4 | 8;
  /** Displacement, sign-extended, as a JS number. */
  disp: number;
  /** Immediate: low 32 bits as a uint32 after the opcode's sign- or zero-extension rule. */
  imm: number;
  /** High 32 bits of the immediate (sign extension, or MOV r64, imm64). */
  immHi: number;
  /** Second immediate (ENTER's nesting level, far pointer selector). */
  imm2: number;
  /** The semantics. */
  exec: OpHandler;
}

export type OpHandler = (cpu: Cpu, i: Insn) => void;

/**
 * What instruction handlers may use. Implemented by the Cpu class (cpu.ts). Memory accessors
 * take linear addresses (segment base already added, see state.ts), walk the page tables and
 * throw CpuFault on a fault; 64-bit values come back as the low half with the high half in `hi`.
 */
export interface Cpu extends CpuState {
  /** Scratch: the high 32 bits of the last 64-bit read (read64, readRm64, getReg64). */
  hi: number;

  // Registers. size 1 with idx 4..7 and no REX means AH, CH, DH, BH.
  getReg(size: 1 | 2 | 4, idx: number, rex: number): number;
  setReg(size: 1 | 2 | 4, idx: number, value: number, rex: number): void;
  getReg64(idx: number): number;
  setReg64(idx: number, lo: number, hi: number): void;

  // Operands of the current instruction.
  /** Linear address of i's memory operand: segment base + effective address, checked. */
  ea(i: Insn): number;
  readRm(i: Insn, size: 1 | 2 | 4): number;
  writeRm(i: Insn, size: 1 | 2 | 4, value: number): void;
  readRm64(i: Insn): number;
  writeRm64(i: Insn, lo: number, hi: number): void;

  // Linear memory, data accesses at the current privilege level.
  read8(lin: number): number;
  read16(lin: number): number;
  read32(lin: number): number;
  read64(lin: number): number;
  write8(lin: number, value: number): void;
  write16(lin: number, value: number): void;
  write32(lin: number, value: number): void;
  write64(lin: number, lo: number, hi: number): void;
  /** Supervisor-mode access regardless of CPL (descriptor tables, IDT, TSS). */
  readSystem32(lin: number): number;
  readSystem64(lin: number): number;
  writeSystem32(lin: number, value: number): void;

  // Stack, in the current stack size (SS.B / 64-bit mode).
  push(size: 2 | 4 | 8, lo: number, hi: number): void;
  /** Pops; 64-bit high half in `hi`. */
  pop(size: 2 | 4 | 8): number;

  // Flags.
  getRflags(): number;
  /** Writes the bits in `mask` (arithmetic flags included). */
  setRflags(value: number, mask: number): void;
  getCF(): boolean;

  /** Throws a CpuFault. */
  fault(vector: number, errorCode?: number): never;
  /** Jump within the current code segment (checks limit / canonical form). */
  jump(target: number): void;
  /** Recompute mode/CPL after CR0, EFER, CS or EFLAGS.VM changed; flush what depends on it. */
  updateMode(): void;
  /** Flush the TLB (all = also global pages) or one page. */
  flushTlb(all: boolean): void;
  invlpg(lin: number): void;
  /** Ports. */
  readonly bus: import('./bus.js').CpuBus;
}

/**
 * The opcode table as handler files see it. Operand formats (ModRM present, immediate sizes)
 * are the decoder's business, from the SDM opcode maps; a handler file only says which handler
 * runs for (map, opcode, mandatory prefix).
 */
export interface OpTable {
  /**
   * mandatory: -1 registers the handler for every prefix combination (ordinary opcodes);
   * 0..3 registers it for one mandatory prefix (SSE forms: none, 66, F3, F2).
   */
  set(map: OpMap, op: number, mandatory: -1 | 0 | 1 | 2 | 3, handler: OpHandler): void;
}
