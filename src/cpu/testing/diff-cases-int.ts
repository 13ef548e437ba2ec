// Differential cases for the integer ALU: ADD..CMP in every form, INC/DEC/NEG/NOT/TEST,
// MUL/IMUL/DIV/IDIV, shifts and rotates, SHLD/SHRD.
//
// Flags the SDM leaves undefined are masked per instruction (SDM Vol. 2 "Flags Affected" of each
// instruction, summarised in Vol. 1 Appendix A, Table A-2):
// - AND/OR/XOR/TEST: AF undefined.
// - MUL/IMUL: SF, ZF, AF, PF undefined (only CF and OF are defined).
// - DIV/IDIV: CF, OF, SF, ZF, AF, PF all undefined.
// - SHL/SHR/SAR: AF undefined when count != 0; OF defined only for a masked count of 1; CF
//   undefined for SHL/SHR when the count is >= the operand width. Count 0: no flag changes.
// - ROL/ROR/RCL/RCR: only CF and OF change; OF defined only for a masked count of 1.
// - SHLD/SHRD: like shifts; for 16-bit operands a count > 16 leaves result and flags undefined.

import { AH, BH, CH, R9, R14, RAX, RBP, RBX, RCX, RDI, RDX, RSI, encode, memName, regName, type MemOperand, type OpSize } from './diff-asm.js';
import {
  AF, ALL_FLAGS, CF, DATA_ADDRESS, DF, OF, baseInput, interestingValues, randomFlags, setReg, sizeMask,
  type CaseList, type DiffInput, type Rng,
} from './diff-case-kit.js';

export const SIZES: readonly OpSize[] = [1, 2, 4, 8];
const ALU_OPS = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'] as const;
const LOGIC_OPS = new Set<string>(['or', 'and', 'xor']);

/** Register pairs (dst, src) per size: low registers, REX-only registers and, for bytes, AH..BH. */
export function regPairs(size: OpSize): [number, number][] {
  if (size === 1) return [[RCX, RDX], [AH, BH], [RSI, RDI], [R9, RAX], [CH, RBX]];
  return [[RCX, RDX], [R9, RAX], [RAX, R14], [RBP, RSI]];
}

/** Base register for memory operands and where it points. */
export const MEM_BASE_REG = RBX;
export const MEM_BASE_OFFSET = 0x80;
const MEM_DISPS = [0, 0x10, -0x20, 0x78, 0x100];

/** Chooses a [rbx+disp] operand, points RBX at the data page and stores `value` there. */
export function memOperand(rng: Rng, input: DiffInput, data: Uint8Array, size: OpSize, value: bigint): MemOperand {
  const disp = rng.pick(MEM_DISPS);
  input.gpr[MEM_BASE_REG] = BigInt(DATA_ADDRESS + MEM_BASE_OFFSET);
  putBytes(data, MEM_BASE_OFFSET + disp, value, size);
  return { base: MEM_BASE_REG, disp };
}

export function putBytes(data: Uint8Array, offset: number, value: bigint, size: number): void {
  let v = value;
  for (let k = 0; k < size; k++) {
    data[offset + k] = Number(v & 0xffn);
    v >>= 8n;
  }
}

function immBytesFor(size: OpSize): 1 | 2 | 4 {
  return size === 1 ? 1 : size === 2 ? 2 : 4;
}

/** Pairs of operand values: all pairs of the boundary values plus random pairs. */
function valuePairs(rng: Rng, size: OpSize, exhaustive: number, randomPairs: number): [bigint, bigint][] {
  const vals = interestingValues(rng, size);
  const out: [bigint, bigint][] = [];
  for (let i = 0; i < exhaustive; i++) {
    for (let j = 0; j < exhaustive; j++) out.push([vals[i] ?? 0n, vals[j] ?? 0n]);
  }
  for (let k = 0; k < randomPairs; k++) out.push([rng.pick(vals), rng.pick(vals)]);
  return out;
}

function aluCases(list: CaseList): void {
  const rng = list.rng;
  ALU_OPS.forEach((mn, opIdx) => {
    const flagsMask = LOGIC_OPS.has(mn) ? ALL_FLAGS & ~AF : ALL_FLAGS;
    const carryIn = mn === 'adc' || mn === 'sbb';
    for (const size of SIZES) {
      const w = size === 1 ? 0 : 1;
      const pairs = regPairs(size);
      // r/m, reg with register operands: exhaustive over boundary values.
      for (const [a, b] of valuePairs(rng, size, 6, 10)) {
        for (const cf of carryIn ? [0, CF] : [rng.u32() & CF]) {
          const [dst, src] = rng.pick(pairs);
          const input = baseInput(rng);
          setReg(input.gpr, dst, size, a);
          setReg(input.gpr, src, size, b);
          input.rflags = (randomFlags(rng) & ~CF) | cf;
          list.add({
            mnemonic: mn, form: `${mn} ${regName(dst, size)}, ${regName(src, size)}`,
            code: encode({ size, op: [opIdx * 8 + w], reg: src, rm: dst, byteRegs: size === 1 }),
            input, flagsMask, shown: [dst, src].map((r) => (r >= AH ? r - AH : r)),
          });
        }
      }
      // Same register twice (xor eax, eax; sbb eax, eax; ...).
      for (const v of [0n, 1n, sizeMask(size), rng.u64() & sizeMask(size)]) {
        const r = rng.pick(pairs)[0];
        const input = baseInput(rng);
        setReg(input.gpr, r, size, v);
        list.add({
          mnemonic: mn, form: `${mn} ${regName(r, size)}, ${regName(r, size)}`,
          code: encode({ size, op: [opIdx * 8 + w], reg: r, rm: r, byteRegs: size === 1 }),
          input, flagsMask, shown: [r >= AH ? r - AH : r],
        });
      }
      for (const [a, b] of valuePairs(rng, size, 0, 10)) {
        const [dst, src] = rng.pick(pairs);
        const input = baseInput(rng);
        const data = rng.bytes(512);
        const shown = [dst >= AH ? dst - AH : dst, RBX];
        // reg, [mem]
        setReg(input.gpr, dst, size, a);
        const m1 = memOperand(rng, input, data, size, b);
        list.add({
          mnemonic: mn, form: `${mn} ${regName(dst, size)}, ${memName(m1)}`,
          code: encode({ size, op: [opIdx * 8 + 2 + w], reg: dst, rm: m1, byteRegs: size === 1 }),
          input, data, flagsMask, shown,
        });
        // [mem], reg
        const input2 = baseInput(rng);
        const data2 = rng.bytes(512);
        setReg(input2.gpr, src, size, b);
        const m2 = memOperand(rng, input2, data2, size, a);
        list.add({
          mnemonic: mn, form: `${mn} ${memName(m2)}, ${regName(src, size)}`,
          code: encode({ size, op: [opIdx * 8 + w], reg: src, rm: m2, byteRegs: size === 1 }),
          input: input2, data: data2, flagsMask, shown: [src >= AH ? src - AH : src, RBX],
        });
        // AL/AX/EAX/RAX, imm
        const input3 = baseInput(rng);
        setReg(input3.gpr, RAX, size, a);
        list.add({
          mnemonic: mn, form: `${mn} ${regName(RAX, size)}, imm`,
          code: encode({ size, op: [opIdx * 8 + 4 + w], imm: b, immBytes: immBytesFor(size) }),
          input: input3, flagsMask, shown: [RAX],
        });
        // 80/81 /op r/m, imm (register form, and memory form for every other pair)
        const input4 = baseInput(rng);
        const data4 = rng.bytes(512);
        let rm: number | MemOperand = dst;
        if (rng.below(2) === 0) rm = memOperand(rng, input4, data4, size, a);
        else setReg(input4.gpr, dst, size, a);
        list.add({
          mnemonic: mn, form: `${mn} ${typeof rm === 'number' ? regName(rm, size) : memName(rm)}, imm${size === 1 ? 8 : size === 2 ? 16 : 32}`,
          code: encode({ size, op: [size === 1 ? 0x80 : 0x81], reg: opIdx, rm, imm: b, immBytes: immBytesFor(size), byteRegs: size === 1 ? 'rm' : false }),
          input: input4, data: data4, flagsMask, shown,
        });
        // 83 /op r/m, imm8 sign-extended
        if (size !== 1) {
          const input5 = baseInput(rng);
          setReg(input5.gpr, dst, size, a);
          list.add({
            mnemonic: mn, form: `${mn} ${regName(dst, size)}, simm8`,
            code: encode({ size, op: [0x83], reg: opIdx, rm: dst, imm: b & 0xffn, immBytes: 1 }),
            input: input5, flagsMask, shown: [dst],
          });
        }
      }
    }
  });
}

/** One-operand group-3/group-4/5 instructions: INC, DEC, NEG, NOT (register and memory). */
function unaryCases(list: CaseList): void {
  const rng = list.rng;
  const ops: { mn: string; op8: number; op: number; ext: number }[] = [
    { mn: 'inc', op8: 0xfe, op: 0xff, ext: 0 },
    { mn: 'dec', op8: 0xfe, op: 0xff, ext: 1 },
    { mn: 'not', op8: 0xf6, op: 0xf7, ext: 2 },
    { mn: 'neg', op8: 0xf6, op: 0xf7, ext: 3 },
  ];
  for (const { mn, op8, op, ext } of ops) {
    for (const size of SIZES) {
      for (const v of interestingValues(rng, size)) {
        const [dst] = rng.pick(regPairs(size));
        const input = baseInput(rng);
        setReg(input.gpr, dst, size, v);
        list.add({
          mnemonic: mn, form: `${mn} ${regName(dst, size)}`,
          code: encode({ size, op: [size === 1 ? op8 : op], reg: ext, rm: dst, byteRegs: size === 1 ? 'rm' : false }),
          input, shown: [dst >= AH ? dst - AH : dst],
        });
      }
      for (let k = 0; k < 3; k++) {
        const input = baseInput(rng);
        const data = rng.bytes(512);
        const m = memOperand(rng, input, data, size, rng.pick(interestingValues(rng, size)));
        list.add({
          mnemonic: mn, form: `${mn} ${memName(m)}`,
          code: encode({ size, op: [size === 1 ? op8 : op], reg: ext, rm: m }),
          input, data, shown: [RBX],
        });
      }
    }
  }
}

function testCases(list: CaseList): void {
  const rng = list.rng;
  const flagsMask = ALL_FLAGS & ~AF;
  for (const size of SIZES) {
    const w = size === 1 ? 0 : 1;
    for (const [a, b] of valuePairs(rng, size, 4, 8)) {
      const [dst, src] = rng.pick(regPairs(size));
      const input = baseInput(rng);
      setReg(input.gpr, dst, size, a);
      setReg(input.gpr, src, size, b);
      list.add({
        mnemonic: 'test', form: `test ${regName(dst, size)}, ${regName(src, size)}`,
        code: encode({ size, op: [0x84 + w], reg: src, rm: dst, byteRegs: size === 1 }),
        input, flagsMask, shown: [dst, src].map((r) => (r >= AH ? r - AH : r)),
      });
      const input2 = baseInput(rng);
      setReg(input2.gpr, RAX, size, a);
      list.add({
        mnemonic: 'test', form: `test ${regName(RAX, size)}, imm`,
        code: encode({ size, op: [0xa8 + w], imm: b, immBytes: immBytesFor(size) }),
        input: input2, flagsMask, shown: [RAX],
      });
      const input3 = baseInput(rng);
      const data3 = rng.bytes(512);
      const m = memOperand(rng, input3, data3, size, a);
      list.add({
        mnemonic: 'test', form: `test ${memName(m)}, imm`,
        code: encode({ size, op: [0xf6 + w], reg: 0, rm: m, imm: b, immBytes: immBytesFor(size) }),
        input: input3, data: data3, flagsMask, shown: [RBX],
      });
    }
  }
}

function mulDivCases(list: CaseList): void {
  const rng = list.rng;
  const mulMask = CF | OF | DF;
  for (const size of SIZES) {
    const w = size === 1 ? 0 : 1;
    const src = size === 1 ? RBX : RCX;
    const mask = sizeMask(size);
    for (const [mn, ext] of [['mul', 4], ['imul', 5]] as const) {
      for (const [a, b] of valuePairs(rng, size, 5, 12)) {
        const input = baseInput(rng);
        setReg(input.gpr, RAX, size, a);
        setReg(input.gpr, src, size, b);
        list.add({
          mnemonic: mn, form: `${mn} ${regName(src, size)}`,
          code: encode({ size, op: [0xf6 + w], reg: ext, rm: src }),
          input, flagsMask: mulMask, shown: [RAX, RDX, src],
        });
      }
    }
    for (const [mn, ext] of [['div', 6], ['idiv', 7]] as const) {
      const vals = interestingValues(rng, size);
      for (let k = 0; k < 24; k++) {
        const input = baseInput(rng);
        const divisor = k < vals.length ? (vals[k] ?? 1n) : rng.pick(vals) | 1n;
        const lo = rng.pick(vals);
        // High half of the dividend: zero, the sign extension of the low half, something below
        // the divisor (no overflow for DIV), or random (usually #DE).
        const choice = k % 4;
        const signExt = (lo >> BigInt(size * 8 - 1)) & 1n ? mask : 0n;
        const hi = choice === 0 ? 0n : choice === 1 ? signExt : choice === 2 ? (divisor > 1n ? (rng.u64() & mask) % divisor : 0n) : rng.u64() & mask;
        if (size === 1) setReg(input.gpr, RAX, 2, (hi << 8n) | lo);
        else {
          setReg(input.gpr, RAX, size, lo);
          setReg(input.gpr, RDX, size, hi);
        }
        setReg(input.gpr, src, size, divisor);
        list.add({
          mnemonic: mn, form: `${mn} ${regName(src, size)}`,
          code: encode({ size, op: [0xf6 + w], reg: ext, rm: src }),
          input, flagsMask: DF, shown: [RAX, RDX, src],
        });
      }
    }
  }
  // DIV/IDIV boundaries: the largest quotient that fits, the smallest that does not (#DE), and
  // IDIV's asymmetric range (SDM Vol. 2A IDIV: quotient -2^(n-1) fits, +2^(n-1) does not).
  for (const size of SIZES) {
    const w = size === 1 ? 0 : 1;
    const mask = sizeMask(size);
    const bits = BigInt(size * 8);
    const sign = 1n << (bits - 1n);
    const boundaries: [string, number, bigint, bigint, bigint][] = [
      ['div', 6, 6n, mask, 7n], ['div', 6, 7n, 0n, 7n], ['div', 6, mask - 1n, mask, mask], ['div', 6, 0n, mask, 1n],
      // IDIV: -2^(2n-1) / -1 and -2^(n-1)... as (hi, lo) two's complement pairs.
      ['idiv', 7, mask, sign, mask], ['idiv', 7, mask, sign, 1n], ['idiv', 7, 0n, sign - 1n, 1n], ['idiv', 7, 0n, sign, 1n],
      ['idiv', 7, sign, 0n, mask], ['idiv', 7, mask, 0n, 2n], ['idiv', 7, mask, 1n, 2n], ['idiv', 7, 0n, sign, mask],
    ];
    for (const [mn, ext, hi, lo, divisor] of boundaries) {
      const input = baseInput(rng);
      if (size === 1) setReg(input.gpr, RAX, 2, ((hi & mask) << 8n) | (lo & mask));
      else {
        setReg(input.gpr, RAX, size, lo);
        setReg(input.gpr, RDX, size, hi);
      }
      setReg(input.gpr, RCX, size, divisor);
      list.add({
        mnemonic: mn, form: `${mn} ${regName(RCX, size)} (boundary)`,
        code: encode({ size, op: [0xf6 + w], reg: ext, rm: RCX }),
        input, flagsMask: DF, shown: [RAX, RDX, RCX],
      });
    }
  }
  // IMUL r, r/m (0F AF) and IMUL r, r/m, imm (69 / 6B).
  for (const size of [2, 4, 8] as const) {
    for (const [a, b] of valuePairs(rng, size, 5, 10)) {
      const input = baseInput(rng);
      setReg(input.gpr, RDX, size, a);
      setReg(input.gpr, RSI, size, b);
      list.add({
        mnemonic: 'imul', form: `imul ${regName(RDX, size)}, ${regName(RSI, size)}`,
        code: encode({ size, op: [0x0f, 0xaf], reg: RDX, rm: RSI }),
        input, flagsMask: mulMask, shown: [RDX, RSI],
      });
      const input2 = baseInput(rng);
      setReg(input2.gpr, RSI, size, a);
      list.add({
        mnemonic: 'imul', form: `imul ${regName(RDI, size)}, ${regName(RSI, size)}, imm${size === 2 ? 16 : 32}`,
        code: encode({ size, op: [0x69], reg: RDI, rm: RSI, imm: b, immBytes: size === 2 ? 2 : 4 }),
        input: input2, flagsMask: mulMask, shown: [RDI, RSI],
      });
      const input3 = baseInput(rng);
      const data3 = rng.bytes(512);
      const m = memOperand(rng, input3, data3, size, a);
      list.add({
        mnemonic: 'imul', form: `imul ${regName(R9, size)}, ${memName(m)}, simm8`,
        code: encode({ size, op: [0x6b], reg: R9, rm: m, imm: b & 0xffn, immBytes: 1 }),
        input: input3, data: data3, flagsMask: mulMask, shown: [R9, RBX],
      });
    }
  }
}

const SHIFT_OPS = [['rol', 0], ['ror', 1], ['rcl', 2], ['rcr', 3], ['shl', 4], ['shr', 5], ['sar', 7]] as const;
const SHIFT_COUNTS = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 0xff];

/** Compared flags for a shift/rotate by `count` (see the file comment). */
export function shiftFlagsMask(mn: string, size: OpSize, count: number): number {
  const masked = count & (size === 8 ? 63 : 31);
  if (masked === 0) return ALL_FLAGS;
  let mask = ALL_FLAGS;
  if (mn === 'shl' || mn === 'shr' || mn === 'sar') {
    mask &= ~AF;
    if ((mn === 'shl' || mn === 'shr') && masked >= size * 8) mask &= ~CF;
  }
  if (masked !== 1) mask &= ~OF;
  return mask;
}

function shiftCases(list: CaseList): void {
  const rng = list.rng;
  for (const [mn, ext] of SHIFT_OPS) {
    for (const size of SIZES) {
      const w = size === 1 ? 0 : 1;
      const vals = interestingValues(rng, size);
      const pairs = regPairs(size);
      for (const count of SHIFT_COUNTS) {
        for (let k = 0; k < 2; k++) {
          // By CL.
          const dst = rng.pick(pairs)[0];
          const input = baseInput(rng);
          setReg(input.gpr, dst === RCX || dst === CH ? RDX : dst, size, rng.pick(vals));
          const d = dst === RCX || dst === CH ? RDX : dst;
          setReg(input.gpr, RCX, 1, BigInt(count));
          list.add({
            mnemonic: mn, form: `${mn} ${regName(d, size)}, cl`,
            code: encode({ size, op: [0xd2 + w], reg: ext, rm: d, byteRegs: size === 1 ? 'rm' : false }),
            input, flagsMask: shiftFlagsMask(mn, size, count), shown: [d >= AH ? d - AH : d, RCX],
          });
        }
        // By imm8.
        const input = baseInput(rng);
        setReg(input.gpr, RSI, size, rng.pick(vals));
        list.add({
          mnemonic: mn, form: `${mn} ${regName(RSI, size)}, ${count}`,
          code: encode({ size, op: [0xc0 + w], reg: ext, rm: RSI, imm: count, immBytes: 1, byteRegs: size === 1 ? 'rm' : false }),
          input, flagsMask: shiftFlagsMask(mn, size, count), shown: [RSI],
        });
      }
      // By CL on a memory operand.
      for (const count of [1, 3, rng.below(64)]) {
        const input = baseInput(rng);
        const data = rng.bytes(512);
        const m = memOperand(rng, input, data, size, rng.pick(vals));
        setReg(input.gpr, RCX, 1, BigInt(count));
        list.add({
          mnemonic: mn, form: `${mn} ${memName(m)}, cl`,
          code: encode({ size, op: [0xd2 + w], reg: ext, rm: m }),
          input, data, flagsMask: shiftFlagsMask(mn, size, count), shown: [RBX, RCX],
        });
      }
      // By 1 (D0/D1), register and memory.
      for (const v of vals) {
        const input = baseInput(rng);
        const data = rng.bytes(512);
        let rm: number | MemOperand = RDI;
        if (rng.below(3) === 0) rm = memOperand(rng, input, data, size, v);
        else setReg(input.gpr, RDI, size, v);
        list.add({
          mnemonic: mn, form: `${mn} ${typeof rm === 'number' ? regName(rm, size) : memName(rm)}, 1`,
          code: encode({ size, op: [0xd0 + w], reg: ext, rm, byteRegs: size === 1 ? 'rm' : false }),
          input, data, flagsMask: shiftFlagsMask(mn, size, 1), shown: [RDI, RBX],
        });
      }
    }
  }
}

function doubleShiftCases(list: CaseList): void {
  const rng = list.rng;
  for (const [mn, opImm, opCl] of [['shld', 0xa4, 0xa5], ['shrd', 0xac, 0xad]] as const) {
    for (const size of [2, 4, 8] as const) {
      const vals = interestingValues(rng, size);
      for (const count of [...SHIFT_COUNTS, 4, 12, 24, 40, 48]) {
        const masked = count & (size === 8 ? 63 : 31);
        const undefinedResult = size === 2 && masked > 16;
        const flagsMask = undefinedResult ? DF : masked === 0 ? ALL_FLAGS : masked === 1 ? ALL_FLAGS & ~AF : ALL_FLAGS & ~AF & ~OF;
        for (const byCl of [false, true]) {
          const input = baseInput(rng);
          setReg(input.gpr, RDX, size, rng.pick(vals));
          setReg(input.gpr, RBX, size, rng.pick(vals));
          if (byCl) setReg(input.gpr, RCX, 1, BigInt(count));
          const gprMasks = undefinedResult ? new Map([[RDX, ~0xffffn & 0xffffffffffffffffn]]) : undefined;
          list.add({
            mnemonic: mn, form: `${mn} ${regName(RDX, size)}, ${regName(RBX, size)}, ${byCl ? 'cl' : count}`,
            code: byCl ? encode({ size, op: [0x0f, opCl], reg: RBX, rm: RDX })
              : encode({ size, op: [0x0f, opImm], reg: RBX, rm: RDX, imm: count, immBytes: 1 }),
            input, flagsMask, ...(gprMasks ? { gprMasks } : {}), shown: [RDX, RBX, RCX],
          });
        }
      }
    }
  }
}

export function addIntegerAluCases(list: CaseList): void {
  aluCases(list);
  unaryCases(list);
  testCases(list);
  mulDivCases(list);
  shiftCases(list);
  doubleShiftCases(list);
}
