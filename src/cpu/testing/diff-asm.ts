// A tiny x86-64 encoder for the differential tests: just enough to build the instruction forms the
// case generator needs (legacy prefixes, REX, ModRM/SIB with register or [base+index*scale+disp]
// operands, immediates). Encoding rules from the Intel SDM Vol. 2A §2.1-2.2 (instruction format,
// ModRM/SIB tables 2-2/2-3, REX prefix).

export const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7;
export const R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15;
/** Byte registers AH, CH, DH, BH: encoded as 4..7 without any REX prefix. */
export const AH = 16, CH = 17, DH = 18, BH = 19;

export type OpSize = 1 | 2 | 4 | 8;

/** A memory operand [base + index*scale + disp]; base -1 means no base (absolute disp32). */
export interface MemOperand {
  base: number;
  index?: number;
  scale?: 1 | 2 | 4 | 8;
  disp?: number;
}

export interface Encoding {
  /** Legacy / mandatory prefixes emitted before REX (e.g. 0x66, 0xf3, 0xf2, 0x67). */
  prefixes?: number[];
  /** Operand size: 2 adds 66h, 8 adds REX.W; 1 and 4 add nothing. */
  size?: OpSize;
  /** Opcode bytes (including 0F escapes). */
  op: number[];
  /** ModRM.reg: a register (0..15, or AH..BH for byte forms) or an opcode extension /digit. */
  reg?: number;
  /** ModRM.rm: a register number or a memory operand; omit for opcodes without ModRM. */
  rm?: number | MemOperand;
  /** Register encoded in the low 3 opcode bits (PUSH r, BSWAP r, MOV r, imm). */
  opReg?: number;
  /**
   * The reg/rm/opReg registers are byte registers (4..7 need a REX prefix to mean SPL..DIL);
   * 'rm' when ModRM.reg is an opcode extension and only rm/opReg name byte registers.
   */
  byteRegs?: boolean | 'rm';
  /** Immediate value and its width in bytes (little-endian, truncated). */
  imm?: bigint | number;
  immBytes?: 0 | 1 | 2 | 4 | 8;
}

const REG_NAMES64 = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
const REG_NAMES32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'r8d', 'r9d', 'r10d', 'r11d', 'r12d', 'r13d', 'r14d', 'r15d'];
const REG_NAMES16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di', 'r8w', 'r9w', 'r10w', 'r11w', 'r12w', 'r13w', 'r14w', 'r15w'];
const REG_NAMES8 = ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil', 'r8b', 'r9b', 'r10b', 'r11b', 'r12b', 'r13b', 'r14b', 'r15b', 'ah', 'ch', 'dh', 'bh'];

/** Assembly-style register name, for case descriptions. */
export function regName(reg: number, size: OpSize): string {
  const names = size === 8 ? REG_NAMES64 : size === 4 ? REG_NAMES32 : size === 2 ? REG_NAMES16 : REG_NAMES8;
  return names[reg] ?? `?${reg}`;
}

export function memName(m: MemOperand): string {
  const parts: string[] = [];
  if (m.base >= 0) parts.push(regName(m.base, 8));
  if (m.index !== undefined) parts.push(`${regName(m.index, 8)}*${m.scale ?? 1}`);
  const disp = m.disp ?? 0;
  if (disp !== 0 || parts.length === 0) parts.push(disp < 0 ? `-0x${(-disp).toString(16)}` : `0x${disp.toString(16)}`);
  return `[${parts.join('+').replace('+-', '-')}]`;
}

/** The 64-bit GPR that holds a byte register (AH..BH live in RAX..RBX). */
export function gprOf(reg: number): number {
  return reg >= AH ? reg - AH : reg;
}

export function encode(e: Encoding): Uint8Array {
  const out: number[] = [...(e.prefixes ?? [])];
  if (e.size === 2) out.push(0x66);
  let rex = e.size === 8 ? 0x48 : 0;
  let needRex = rex !== 0;
  let forbidRex = false;
  const noteByteReg = (r: number): void => {
    if (!e.byteRegs) return;
    if (r >= AH) forbidRex = true;
    else if (r >= 4 && r <= 7) needRex = true;
  };
  const low3 = (r: number): number => (r >= AH ? r - AH + 4 : r) & 7;

  let modrmBytes: number[] = [];
  if (e.rm !== undefined) {
    const reg = e.reg ?? 0;
    if (e.reg !== undefined && e.byteRegs !== 'rm') noteByteReg(reg);
    if (reg >= 8 && reg < AH) rex |= 0x44;
    if (typeof e.rm === 'number') {
      noteByteReg(e.rm);
      if (e.rm >= 8 && e.rm < AH) rex |= 0x41;
      modrmBytes = [0xc0 | (low3(reg) << 3) | low3(e.rm)];
    } else {
      const m = e.rm;
      const disp = m.disp ?? 0;
      const index = m.index;
      if (index !== undefined && index >= 8) rex |= 0x42;
      if (m.base >= 8) rex |= 0x41;
      if (index === RSP) throw new Error('RSP cannot be an index register');
      let mod: number;
      let dispBytes: number;
      if (m.base < 0) {
        mod = 0; dispBytes = 4;
      } else if (disp === 0 && (m.base & 7) !== RBP) {
        mod = 0; dispBytes = 0;
      } else if (disp >= -128 && disp <= 127) {
        mod = 1; dispBytes = 1;
      } else {
        mod = 2; dispBytes = 4;
      }
      const needSib = index !== undefined || m.base < 0 || (m.base & 7) === RSP;
      if (needSib) {
        const scaleBits = { 1: 0, 2: 1, 4: 2, 8: 3 }[m.scale ?? 1];
        const idx = index === undefined ? 4 : index & 7;
        const base = m.base < 0 ? 5 : m.base & 7;
        modrmBytes = [(mod << 6) | (low3(reg) << 3) | 4, (scaleBits << 6) | (idx << 3) | base];
      } else {
        modrmBytes = [(mod << 6) | (low3(reg) << 3) | (m.base & 7)];
      }
      for (let k = 0; k < dispBytes; k++) modrmBytes.push((disp >> (8 * k)) & 0xff);
    }
  }
  let op = [...e.op];
  if (e.opReg !== undefined) {
    noteByteReg(e.opReg);
    if (e.opReg >= 8 && e.opReg < AH) rex |= 0x41;
    const last = op.length - 1;
    op[last] = (op[last] ?? 0) | low3(e.opReg);
    op = [...op];
  }
  if (rex !== 0 || needRex) {
    if (forbidRex) throw new Error('AH..BH cannot be encoded with a REX prefix');
    out.push(rex | 0x40);
  }
  out.push(...op, ...modrmBytes);
  const immBytes = e.immBytes ?? 0;
  if (immBytes > 0) {
    let v = BigInt.asUintN(64, BigInt(e.imm ?? 0));
    for (let k = 0; k < immBytes; k++) {
      out.push(Number(v & 0xffn));
      v >>= 8n;
    }
  }
  return Uint8Array.from(out);
}

/** Concatenates instruction encodings into one snippet. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function hexBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}
