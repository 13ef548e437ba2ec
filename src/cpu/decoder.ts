// x86 instruction decoder for 16-, 32- and 64-bit code (SDM Vol. 2 ch. 2 "Instruction Format",
// Appendix A "Opcode Map"). Turns bytes into an Insn once; the block cache keeps the result.
//
// Immediates (Insn.imm/immHi) are sign-extended to 64 bits, with these exceptions, zero-extended:
// every imm8 of the 0F, 0F 38 and 0F 3A maps; the imm8 of INT n (CD), IN/OUT (E4-E7) and AAM/AAD;
// the imm16 of RET n / RETF n (C2/CA) and ENTER (C8, whose imm8 goes to imm2). Handlers of other
// opcodes that want an unsigned byte use `imm & 0xff`.
//
// Opcodes that encode a register in their low three bits (50+r, 58+r, 90+r, B0+r, B8+r, 0F C8+r,
// and 40+r INC/DEC outside 64-bit mode) have it, with REX.B folded in, in Insn.rm.

import { type Insn, type OpHandler, OpMap, Prefix, BASE_RIP, NO_REG } from './insn.js';
import { CpuFault, Vector, UnimplementedInstructionError } from './fault.js';
import { Seg } from './state.js';

// ---- Opcode attributes (SDM Vol. 2 Appendix A.2 abbreviations in comments) ----
const M = 1; // ModRM follows
const B = 2; // byte operand size
const IB = 1 << 2; // imm8, sign-extended
const IW = 2 << 2; // imm16, zero-extended
const IZ = 3 << 2; // imm16/32 by operand size (32 sign-extended for 64-bit operand)
const IV = 4 << 2; // imm16/32/64 by operand size (MOV r, imm)
const MOFFS = 5 << 2; // address-size offset
const FAR = 6 << 2; // ptr16:16/32
const ENTER = 7 << 2; // imm16, imm8
const IBU = 8 << 2; // imm8, zero-extended
const IMM_MASK = 15 << 2;
const D64 = 1 << 6; // default 64-bit operand size in 64-bit mode
const F64 = 1 << 7; // forced 64-bit operand size in 64-bit mode
const I64 = 1 << 8; // invalid in 64-bit mode
const LK = 1 << 9; // LOCK allowed with a memory destination
const UD = 1 << 10; // always invalid
const GRP = 1 << 11; // attributes depend on ModRM.reg (handled in code)
const CRM = 1 << 12; // MOV CR/DR: ModRM.mod treated as 11b

const PRIMARY = new Uint16Array(256);
const MAP0F = new Uint16Array(256);

function fill(t: Uint16Array, from: number, to: number, a: number): void {
  for (let k = from; k <= to; k++) t[k] = a;
}

(function buildTables(): void {
  const p = PRIMARY;
  for (let base = 0; base < 0x40; base += 8) {
    const lock = base === 0x38 ? 0 : LK;
    p[base] = M | B | lock; p[base + 1] = M | lock; p[base + 2] = M | B; p[base + 3] = M;
    p[base + 4] = B | IB; p[base + 5] = IZ;
  }
  p[0x06] = I64; p[0x07] = I64; p[0x0e] = I64; p[0x16] = I64; p[0x17] = I64; p[0x1e] = I64; p[0x1f] = I64;
  p[0x27] = I64; p[0x2f] = I64; p[0x37] = I64; p[0x3f] = I64;
  fill(p, 0x40, 0x4f, 0); // INC/DEC (REX in 64-bit mode, consumed as a prefix)
  fill(p, 0x50, 0x5f, D64);
  p[0x60] = I64; p[0x61] = I64; p[0x62] = M | I64; p[0x63] = M;
  p[0x68] = IZ | D64; p[0x69] = M | IZ; p[0x6a] = IB | D64; p[0x6b] = M | IB;
  p[0x6c] = B; p[0x6d] = 0; p[0x6e] = B; p[0x6f] = 0;
  fill(p, 0x70, 0x7f, IB | F64);
  p[0x80] = M | B | IB | GRP; p[0x81] = M | IZ | GRP; p[0x82] = M | B | IB | I64 | GRP; p[0x83] = M | IB | GRP;
  p[0x84] = M | B; p[0x85] = M; p[0x86] = M | B | LK; p[0x87] = M | LK;
  p[0x88] = M | B; p[0x89] = M; p[0x8a] = M | B; p[0x8b] = M; p[0x8c] = M; p[0x8d] = M; p[0x8e] = M; p[0x8f] = M | D64;
  fill(p, 0x90, 0x97, 0);
  p[0x98] = 0; p[0x99] = 0; p[0x9a] = FAR | I64; p[0x9b] = 0; p[0x9c] = D64; p[0x9d] = D64; p[0x9e] = 0; p[0x9f] = 0;
  p[0xa0] = B | MOFFS; p[0xa1] = MOFFS; p[0xa2] = B | MOFFS; p[0xa3] = MOFFS;
  p[0xa4] = B; p[0xa5] = 0; p[0xa6] = B; p[0xa7] = 0; p[0xa8] = B | IB; p[0xa9] = IZ;
  p[0xaa] = B; p[0xab] = 0; p[0xac] = B; p[0xad] = 0; p[0xae] = B; p[0xaf] = 0;
  fill(p, 0xb0, 0xb7, B | IB); fill(p, 0xb8, 0xbf, IV);
  p[0xc0] = M | B | IBU; p[0xc1] = M | IBU; p[0xc2] = IW | F64; p[0xc3] = F64;
  p[0xc4] = M; p[0xc5] = M; p[0xc6] = M | B | IB; p[0xc7] = M | IZ;
  p[0xc8] = ENTER | D64; p[0xc9] = D64; p[0xca] = IW; p[0xcb] = 0; p[0xcc] = 0; p[0xcd] = IBU; p[0xce] = I64; p[0xcf] = 0;
  p[0xd0] = M | B; p[0xd1] = M; p[0xd2] = M | B; p[0xd3] = M; p[0xd4] = IBU | I64; p[0xd5] = IBU | I64; p[0xd6] = I64; p[0xd7] = B;
  fill(p, 0xd8, 0xdf, M);
  fill(p, 0xe0, 0xe3, IB | F64);
  p[0xe4] = B | IBU; p[0xe5] = IBU; p[0xe6] = B | IBU; p[0xe7] = IBU;
  p[0xe8] = IZ | F64; p[0xe9] = IZ | F64; p[0xea] = FAR | I64; p[0xeb] = IB | F64;
  p[0xec] = B; p[0xed] = 0; p[0xee] = B; p[0xef] = 0;
  p[0xf1] = 0; p[0xf4] = 0; p[0xf5] = 0; p[0xf6] = M | B | GRP; p[0xf7] = M | GRP;
  fill(p, 0xf8, 0xfd, 0); p[0xfe] = M | B | GRP; p[0xff] = M | GRP;

  const q = MAP0F;
  fill(q, 0x00, 0xff, M); // most of the two-byte map has a ModRM byte
  q[0x04] = UD; q[0x05] = 0; q[0x06] = 0; q[0x07] = 0; q[0x08] = 0; q[0x09] = 0; q[0x0a] = UD; q[0x0b] = 0;
  q[0x0c] = UD; q[0x0e] = 0; q[0x0f] = UD;
  fill(q, 0x20, 0x23, M | CRM); q[0x24] = UD; q[0x25] = UD; q[0x26] = UD; q[0x27] = UD;
  fill(q, 0x30, 0x37, 0); q[0x36] = UD;
  fill(q, 0x70, 0x73, M | IBU); q[0x77] = 0;
  fill(q, 0x80, 0x8f, IZ | F64);
  fill(q, 0x90, 0x9f, M | B);
  q[0xa0] = D64; q[0xa1] = D64; q[0xa2] = 0; q[0xa4] = M | IBU; q[0xa6] = UD; q[0xa7] = UD; q[0xa8] = D64; q[0xa9] = D64; q[0xaa] = 0;
  q[0xab] = M | LK; q[0xac] = M | IBU; q[0xb3] = M | LK; q[0xbb] = M | LK;
  q[0xb0] = M | B | LK; q[0xb1] = M | LK; q[0xba] = M | IBU | GRP;
  q[0xc0] = M | B | LK; q[0xc1] = M | LK; q[0xc2] = M | IBU; q[0xc4] = M | IBU; q[0xc5] = M | IBU; q[0xc6] = M | IBU; q[0xc7] = M | GRP;
  fill(q, 0xc8, 0xcf, 0);
})();

/** Reads code bytes at linear addresses (CS base already applied). */
export interface CodeFetcher {
  /** One byte of code at linear address `lin`, with execute permission; throws CpuFault. */
  fetchCode8(lin: number): number;
}

/** Looks up the handler for (map, opcode, mandatory prefix); undefined when not implemented. */
export interface HandlerLookup {
  get(map: OpMap, op: number, mandatory: number): OpHandler | undefined;
}

/** An Insn with every field present from construction (one hidden class for all). */
export class DecodedInsn implements Insn {
  // Field order is memory order: what the run loop and handlers read comes first, near the
  // object's header, so that an instruction not run for a while costs one or two cache misses.
  exec: OpHandler = invalidOpcode;
  length = 0; opSize: 1 | 2 | 4 | 8 = 4; hasMem = false; reg = -1; rm = -1;
  base = NO_REG; index = NO_REG; scale: 1 | 2 | 4 | 8 = 1; addrSize: 2 | 4 | 8 = 4; seg = Seg.DS;
  disp = 0; imm = 0; immHi = 0;
  rip = 0; map: OpMap = OpMap.Primary; op = 0; prefixes = 0; rex = 0;
  mandatory: 0 | 1 | 2 | 3 = 0; modrm = -1; mod = -1; imm2 = 0;
  /** True when the instruction always ends a basic block (branches, system instructions). */
  endsBlock = false;
  /** RIP of the following instruction (wrapped to the code size), set by the block builder. */
  next = 0;
}

/**
 * V8 keeps a field that ever held a non-integer number (a RIP or an immediate of 2^31 or more)
 * as a pointer to a separate heap box in every instance, even when the value is a small
 * integer: one more object and cache miss per field and instruction (DecodedInsn was 288 bytes
 * with four boxes). Storing a non-number once, here, before any instruction is decoded, makes
 * these fields "tagged": small integers (most immediates, and the kernel's RIPs, which are
 * negative int32 values) then live in the object itself, and only large values are boxed.
 */
export function untypeNumberFields<T extends object>(o: T, names: readonly (keyof T)[]): void {
  const w = o as Record<keyof T, unknown>;
  for (const n of names) { const v = w[n]; w[n] = undefined; w[n] = v; }
}

export const invalidOpcode: OpHandler = (cpu) => cpu.fault(Vector.UD);

untypeNumberFields(new DecodedInsn(), ['rip', 'next', 'imm', 'immHi', 'disp']);

/** #GP(0) for an instruction longer than 15 bytes (SDM Vol. 2 §2.3.11). */
const tooLong: OpHandler = (cpu) => cpu.fault(Vector.GP, 0);

/** Opcodes after which the block ends even when they do not change RIP (mode or state changes). */
function endsBlockPrimary(op: number): boolean {
  return (op >= 0x70 && op <= 0x7f) || (op >= 0xc2 && op <= 0xc3) || (op >= 0xca && op <= 0xcf) ||
    (op >= 0xe0 && op <= 0xe3) || (op >= 0xe8 && op <= 0xeb) || op === 0x9a || op === 0xff || op === 0xf4 ||
    op === 0xfa || op === 0xfb || op === 0x9d || op === 0x8e || op === 0x17 || op === 0x1f || op === 0x07 ||
    op === 0xc4 || op === 0xc5 || op === 0xf1 || op === 0xd8 || op === 0xdf;
}

function endsBlock0F(op: number): boolean {
  return (op >= 0x80 && op <= 0x8f) || op <= 0x09 || (op >= 0x20 && op <= 0x23) || op === 0x30 ||
    op === 0x34 || op === 0x35 || op === 0xa1 || op === 0xa9 || op === 0xb2 || op === 0xb4 || op === 0xb5 ||
    op === 0xae || op === 0x0b || op === 0xa2;
}

/**
 * Decodes one instruction at linear address `csBase + rip`.
 * codeBits: 16, 32 or 64 (CS.D / CS.L and mode). Throws CpuFault when fetching faults; invalid
 * encodings produce an Insn whose exec raises #UD (so that they fault only when executed).
 */
export function decode(f: CodeFetcher, table: HandlerLookup, rip: number, csBase: number, codeBits: 16 | 32 | 64): DecodedInsn {
  const i = new DecodedInsn();
  i.rip = rip;
  const start = codeBits === 64 ? rip : (csBase + rip) >>> 0;
  let pos = 0;
  const next = (): number => {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- CpuFault is not an Error (fault.ts)
    if (pos >= 15) throw LENGTH_FAULT;
    const lin = codeBits === 64 ? start + pos : (start + pos) >>> 0;
    pos++;
    return f.fetchCode8(lin);
  };
  try {
    decodeInto(i, next, table, codeBits);
  } catch (e) {
    if (e !== LENGTH_FAULT) throw e;
    i.length = 15;
    i.exec = tooLong;
    i.endsBlock = true;
    return i;
  }
  i.length = pos;
  return i;
}

const LENGTH_FAULT = new CpuFault(Vector.GP, 0);

function decodeInto(i: DecodedInsn, next: () => number, table: HandlerLookup, codeBits: 16 | 32 | 64): void {
  let prefixes = 0;
  let segOverride = -1;
  let lastRep = 0; // 2 = F3, 3 = F2
  let rex = 0;
  let b: number;
  // Legacy prefixes in any order and number; a REX prefix counts only right before the opcode.
  for (;;) {
    b = next();
    switch (b) {
      case 0xf0: prefixes |= Prefix.LOCK; rex = 0; continue;
      case 0xf3: prefixes |= Prefix.REP; lastRep = 2; rex = 0; continue;
      case 0xf2: prefixes |= Prefix.REPNE; lastRep = 3; rex = 0; continue;
      case 0x66: prefixes |= Prefix.OPSIZE; rex = 0; continue;
      case 0x67: prefixes |= Prefix.ADDRSIZE; rex = 0; continue;
      case 0x26: segOverride = Seg.ES; prefixes |= Prefix.SEG; rex = 0; continue;
      case 0x2e: segOverride = Seg.CS; prefixes |= Prefix.SEG; rex = 0; continue;
      case 0x36: segOverride = Seg.SS; prefixes |= Prefix.SEG; rex = 0; continue;
      case 0x3e: segOverride = Seg.DS; prefixes |= Prefix.SEG; rex = 0; continue;
      case 0x64: segOverride = Seg.FS; prefixes |= Prefix.SEG; rex = 0; continue;
      case 0x65: segOverride = Seg.GS; prefixes |= Prefix.SEG; rex = 0; continue;
      default:
        if (codeBits === 64 && (b & 0xf0) === 0x40) { rex = b; continue; }
    }
    break;
  }
  if (rex !== 0) prefixes |= Prefix.REX;
  i.prefixes = prefixes;
  i.rex = rex;
  i.mandatory = lastRep !== 0 ? (lastRep as 2 | 3) : (prefixes & Prefix.OPSIZE) !== 0 ? 1 : 0;

  let map = OpMap.Primary;
  let attr: number;
  if (b === 0x0f) {
    b = next();
    if (b === 0x38) { map = OpMap.M0F38; b = next(); attr = M; }
    else if (b === 0x3a) { map = OpMap.M0F3A; b = next(); attr = M | IBU; }
    else { map = OpMap.M0F; attr = MAP0F[b]!; }
  } else {
    attr = PRIMARY[b]!;
  }
  i.map = map;
  i.op = b;

  const is64 = codeBits === 64;
  const rexW = (rex & 8) !== 0;
  // Operand size (SDM Vol. 1 §3.6, Vol. 2 §2.2.1.2).
  let opSize: 1 | 2 | 4 | 8;
  if (attr & B) opSize = 1;
  else if (is64) {
    if (rexW) opSize = 8;
    else if (attr & F64) opSize = 8;
    else if (prefixes & Prefix.OPSIZE) opSize = 2;
    else opSize = attr & D64 ? 8 : 4;
  } else {
    const def32 = codeBits === 32;
    opSize = ((prefixes & Prefix.OPSIZE) !== 0) !== def32 ? 4 : 2;
  }
  let addrSize: 2 | 4 | 8;
  if (is64) addrSize = prefixes & Prefix.ADDRSIZE ? 4 : 8;
  else addrSize = ((prefixes & Prefix.ADDRSIZE) !== 0) !== (codeBits === 32) ? 4 : 2;
  i.addrSize = addrSize;

  let invalid = (attr & UD) !== 0 || (is64 && (attr & I64) !== 0);
  // VEX (C4/C5) and EVEX (62) in 64-bit mode: no AVX is announced, so #UD. In legacy modes these
  // are LES/LDS/BOUND when ModRM.mod != 3.
  if (map === OpMap.Primary && is64 && (b === 0xc4 || b === 0xc5)) invalid = true;

  if (map === OpMap.Primary && ((b >= 0x50 && b <= 0x5f) || (b >= 0x90 && b <= 0x97) || b >= 0xb0 && b <= 0xbf)) {
    i.rm = (b & 7) | ((rex & 1) << 3);
  } else if (map === OpMap.Primary && b >= 0x40 && b <= 0x4f) {
    i.rm = b & 7;
  } else if (map === OpMap.M0F && b >= 0xc8 && b <= 0xcf) {
    i.rm = (b & 7) | ((rex & 1) << 3);
  }

  let seg = segOverride >= 0 ? segOverride : Seg.DS;
  if (attr & M) {
    const modrm = next();
    i.modrm = modrm;
    let mod = modrm >> 6;
    const reg = ((modrm >> 3) & 7) | ((rex & 4) << 1);
    let rm = modrm & 7;
    if (attr & CRM) mod = 3;
    i.mod = mod;
    i.reg = reg;
    if (mod === 3) {
      i.rm = rm | ((rex & 1) << 3);
    } else {
      i.hasMem = true;
      if (addrSize === 2) {
        // 16-bit forms (SDM Vol. 2 Table 2-1).
        const bases = RM16_BASE; const idxs = RM16_INDEX;
        if (mod === 0 && rm === 6) { i.base = NO_REG; i.disp = next() | (next() << 8); i.disp = (i.disp << 16) >> 16; }
        else {
          i.base = bases[rm]!; i.index = idxs[rm]!;
          if (mod === 1) i.disp = (next() << 24) >> 24;
          else if (mod === 2) { const d = next() | (next() << 8); i.disp = (d << 16) >> 16; }
          if (segOverride < 0 && (rm === 2 || rm === 3 || rm === 6)) seg = Seg.SS;
        }
      } else {
        // 32/64-bit forms (SDM Vol. 2 Tables 2-2, 2-3).
        let baseReg: number;
        if (rm === 4) {
          const sib = next();
          const ss = sib >> 6;
          const idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
          i.index = idx === 4 ? NO_REG : idx;
          i.scale = (1 << ss) as 1 | 2 | 4 | 8;
          const sbase = sib & 7;
          if (sbase === 5 && mod === 0) { baseReg = NO_REG; i.disp = readDisp32(next); }
          else baseReg = sbase | ((rex & 1) << 3);
        } else if (rm === 5 && mod === 0) {
          baseReg = is64 ? BASE_RIP : NO_REG;
          i.disp = readDisp32(next);
        } else {
          baseReg = rm | ((rex & 1) << 3);
        }
        i.base = baseReg;
        if (mod === 1) i.disp = (next() << 24) >> 24;
        else if (mod === 2) i.disp = readDisp32(next);
        if (segOverride < 0 && (baseReg === 4 || baseReg === 5)) seg = Seg.SS;
      }
      rm = rm | ((rex & 1) << 3);
      i.rm = rm;
    }
    if (attr & GRP) {
      const r = (modrm >> 3) & 7;
      if (map === OpMap.Primary) {
        if (b === 0xf6 || b === 0xf7) {
          if (r < 2) attr |= b === 0xf6 ? IB : IZ;
          else if (r === 2 || r === 3) attr |= LK;
        } else if (b === 0xfe) {
          if (r < 2) attr |= LK; else invalid = true;
        } else if (b === 0xff) {
          if (r < 2) attr |= LK;
          else if (is64 && (r === 2 || r === 4)) opSize = 8;
          else if (is64 && r === 6 && !rexW) opSize = prefixes & Prefix.OPSIZE ? 2 : 8;
          else if (r === 7) invalid = true;
          if ((r === 3 || r === 5) && mod === 3) invalid = true;
        } else if (b >= 0x80 && b <= 0x83) {
          if (r !== 7) attr |= LK;
        }
      } else if (b === 0xba) {
        if (r < 4) invalid = true; else if (r > 4) attr |= LK;
      } else if (b === 0xc7) {
        if (r === 1 && mod !== 3) attr |= LK;
      }
    }
  }
  if (i.hasMem === false && (attr & IMM_MASK) === MOFFS) {
    i.hasMem = true;
    i.base = NO_REG;
    if (addrSize === 2) i.disp = next() | (next() << 8);
    else if (addrSize === 4) i.disp = readDisp32(next) >>> 0;
    else {
      const lo = readDisp32(next) >>> 0; const hi = readDisp32(next);
      i.disp = hi * 4294967296 + lo;
    }
  }
  i.seg = seg;
  i.opSize = opSize;

  // Immediates.
  switch (attr & IMM_MASK) {
    case IB: {
      const v = (next() << 24) >> 24;
      if (map === OpMap.Primary) { i.imm = v >>> 0; i.immHi = (v >> 31) >>> 0; }
      else i.imm = v & 0xff;
      break;
    }
    case IBU: i.imm = next(); break;
    case IW: i.imm = next() | (next() << 8); break;
    case IZ:
      if (opSize === 2) { const v = ((next() | (next() << 8)) << 16) >> 16; i.imm = v >>> 0; i.immHi = (v >> 31) >>> 0; }
      else { const v = readDisp32(next); i.imm = v >>> 0; i.immHi = (v >> 31) >>> 0; }
      break;
    case IV:
      if (opSize === 2) i.imm = next() | (next() << 8);
      else if (opSize === 4) i.imm = readDisp32(next) >>> 0;
      else { i.imm = readDisp32(next) >>> 0; i.immHi = readDisp32(next) >>> 0; }
      break;
    case FAR:
      if (opSize === 2) i.imm = next() | (next() << 8);
      else i.imm = readDisp32(next) >>> 0;
      i.imm2 = next() | (next() << 8);
      break;
    case ENTER:
      i.imm = next() | (next() << 8);
      i.imm2 = next();
      break;
    default:
      break;
  }

  if (!invalid && (prefixes & Prefix.LOCK) !== 0 && ((attr & LK) === 0 || !i.hasMem)) invalid = true;

  if (invalid) { i.exec = invalidOpcode; i.endsBlock = true; return; }
  const h = table.get(map, b, i.mandatory);
  if (h === undefined) {
    i.exec = unimplemented(map, b, i);
    i.endsBlock = true;
    return;
  }
  i.exec = h;
  i.endsBlock = map === OpMap.Primary ? endsBlockPrimary(b) : map === OpMap.M0F ? endsBlock0F(b) : false;
  // FF /0 /1 /6 (INC, DEC, PUSH r/m) do not branch: only CALL/JMP (/2../5) end the block. In
  // 64-bit mode every INC/DEC is FF, so loops ending in DEC + Jcc stay one block.
  if (map === OpMap.Primary && b === 0xff) { const e = (i.modrm >> 3) & 7; if (e <= 1 || e === 6) i.endsBlock = false; }
}

function readDisp32(next: () => number): number {
  return next() | (next() << 8) | (next() << 16) | (next() << 24);
}

// 16-bit ModRM rm: 0 BX+SI, 1 BX+DI, 2 BP+SI, 3 BP+DI, 4 SI, 5 DI, 6 BP, 7 BX.
const RM16_BASE = [3, 3, 5, 5, 6, 7, 5, 3];
const RM16_INDEX = [6, 7, 6, 7, NO_REG, NO_REG, NO_REG, NO_REG];

function unimplemented(map: OpMap, op: number, i: DecodedInsn): OpHandler {
  const bytes = map === OpMap.Primary ? [op] : map === OpMap.M0F ? [0x0f, op] : [0x0f, map === OpMap.M0F38 ? 0x38 : 0x3a, op];
  if (i.modrm >= 0) bytes.push(i.modrm);
  const what = `map ${map} opcode 0x${op.toString(16)}${i.modrm >= 0 ? ` /${(i.modrm >> 3) & 7}` : ''} prefixes 0x${i.prefixes.toString(16)}`;
  return () => { throw new UnimplementedInstructionError(Uint8Array.from(bytes), i.rip, what); };
}
