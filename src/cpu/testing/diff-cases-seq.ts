// Differential cases made of short random instruction sequences (mnemonic "seq"). Single
// instructions start from materialized flags; sequences exercise the lazy-flags machinery of the
// soft CPU: flags produced by one instruction and consumed or partly preserved by the next (ADC
// after ADD, INC keeping CF, SETcc/CMOVcc/LAHF reading flags, RCL through CF, CMC...).
//
// Each step declares which flags it writes with defined values, which it leaves undefined (SDM
// Vol. 2 "Flags Affected") and which it reads. A step that would read an undefined flag is not
// chosen, and the final comparison covers only flags still defined at the end.

import { RAX, RBX, RCX, RDI, RDX, RSI, R8, R9, R10, encode, memName, regName, type MemOperand, type OpSize } from './diff-asm.js';
import { AF, ARITH, CF, DATA_ADDRESS, DF, IF, OF, PF, SF, ZF, baseInput, interestingValues, setReg, type CaseList, type Rng } from './diff-case-kit.js';
import { MEM_BASE_OFFSET } from './diff-cases-int.js';

interface Step {
  text: string;
  bytes: Uint8Array;
  /** Flags written with defined values. */
  writes: number;
  /** Flags left undefined. */
  undef: number;
  /** Flags read. */
  reads: number;
}

const POOL = [RAX, RCX, RDX, RBX, RSI, RDI, R8, R9];
/** Base register of memory steps (not in POOL, so it keeps pointing into the data page). */
const MEM_BASE = R10;
/** Flags each condition code reads (SDM Vol. 1 Appendix B). */
const COND_READS = [OF, OF, CF, CF, ZF, ZF, CF | ZF, CF | ZF, SF, SF, PF, PF, SF | OF, SF | OF, ZF | SF | OF, ZF | SF | OF];
const COND = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];

function randomStep(rng: Rng): Step {
  const size = rng.pick([1, 2, 4, 8] as const);
  const wide = size === 1 ? rng.pick([2, 4, 8] as const) : size;
  const a = rng.pick(POOL);
  const b = rng.pick(POOL);
  const byteRegs = size === 1;
  const n = (r: number, s: OpSize = size): string => regName(r, s);
  const m: MemOperand = { base: MEM_BASE, disp: rng.pick([0, 8, 0x10, 0x18, 0x20, 0x40]) };
  switch (rng.below(17)) {
    case 13: {
      const ops = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
      const k = rng.below(8);
      const logic = k === 1 || k === 4 || k === 6;
      const toMem = rng.below(2) === 0;
      return {
        text: toMem ? `${ops[k]} ${memName(m)}, ${n(b)}` : `${ops[k]} ${n(a)}, ${memName(m)}`,
        bytes: encode({ size, op: [k * 8 + (toMem ? 0 : 2) + (size === 1 ? 0 : 1)], reg: toMem ? b : a, rm: m, byteRegs }),
        writes: logic ? ARITH & ~AF : ARITH, undef: logic ? AF : 0, reads: k === 2 || k === 3 ? CF : 0,
      };
    }
    case 14: {
      const k = rng.below(4);
      const names = ['inc', 'dec', 'neg', 'not'];
      const exts = [0, 1, 3, 2];
      const op = k < 2 ? (size === 1 ? 0xfe : 0xff) : size === 1 ? 0xf6 : 0xf7;
      return {
        text: `${names[k]} ${memName(m)}`, bytes: encode({ size, op: [op], reg: exts[k] ?? 0, rm: m }),
        writes: k < 2 ? ARITH & ~CF : k === 2 ? ARITH : 0, undef: 0, reads: 0,
      };
    }
    case 15: {
      const k = rng.pick([0, 2, 4, 5, 7]);
      const names = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', '', 'sar'];
      const rotate = k < 4;
      return {
        text: `${names[k]} ${memName(m)}, 1`, bytes: encode({ size, op: [size === 1 ? 0xd0 : 0xd1], reg: k, rm: m }),
        writes: rotate ? CF | OF : ARITH & ~AF, undef: rotate ? 0 : AF, reads: k === 2 ? CF : 0,
      };
    }
    case 16: {
      const k = rng.below(4);
      const wbt = wide === 8 ? 8 : wide === 4 ? 4 : 2;
      return {
        text: `${['bt', 'bts', 'btr', 'btc'][k]} ${memName(m)}, imm8`, bytes: encode({ size: wbt, op: [0x0f, 0xba], reg: 4 + k, rm: m, imm: rng.below(256), immBytes: 1 }),
        writes: CF, undef: OF | SF | AF | PF, reads: 0,
      };
    }
    case 0: case 1: {
      const ops = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
      const k = rng.below(8);
      const logic = k === 1 || k === 4 || k === 6;
      return {
        text: `${ops[k]} ${n(a)}, ${n(b)}`, bytes: encode({ size, op: [k * 8 + (size === 1 ? 0 : 1)], reg: b, rm: a, byteRegs }),
        writes: logic ? ARITH & ~AF : ARITH, undef: logic ? AF : 0, reads: k === 2 || k === 3 ? CF : 0,
      };
    }
    case 2: {
      const k = rng.below(8);
      const ops = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
      const logic = k === 1 || k === 4 || k === 6;
      const imm = rng.pick([0, 1, 0x7f, 0x80, 0xff, rng.below(256)]);
      return {
        text: `${ops[k]} ${n(a)}, ${imm}`, bytes: encode({ size, op: [size === 1 ? 0x80 : 0x83], reg: k, rm: a, imm, immBytes: 1, byteRegs: byteRegs ? 'rm' : false }),
        writes: logic ? ARITH & ~AF : ARITH, undef: logic ? AF : 0, reads: k === 2 || k === 3 ? CF : 0,
      };
    }
    case 3: {
      const k = rng.below(4);
      const names = ['inc', 'dec', 'neg', 'not'];
      const exts = [0, 1, 3, 2];
      const op = k < 2 ? (size === 1 ? 0xfe : 0xff) : size === 1 ? 0xf6 : 0xf7;
      return {
        text: `${names[k]} ${n(a)}`, bytes: encode({ size, op: [op], reg: exts[k] ?? 0, rm: a, byteRegs: byteRegs ? 'rm' : false }),
        writes: k < 2 ? ARITH & ~CF : k === 2 ? ARITH : 0, undef: 0, reads: 0,
      };
    }
    case 4: {
      // Shifts and rotates by 1 or by an immediate in 2..width-1 (never 0, so flags change).
      const k = rng.pick([0, 1, 2, 3, 4, 5, 7]);
      const names = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', '', 'sar'];
      const by1 = rng.below(2) === 0;
      const count = by1 ? 1 : 2 + rng.below(size * 8 - 2);
      const rotate = k < 4;
      const writes = rotate ? (by1 ? CF | OF : CF) : by1 ? ARITH & ~AF : ARITH & ~AF & ~OF;
      const undef = rotate ? (by1 ? 0 : OF) : by1 ? AF : AF | OF;
      return {
        text: `${names[k]} ${n(a)}, ${count}`,
        bytes: by1 ? encode({ size, op: [size === 1 ? 0xd0 : 0xd1], reg: k, rm: a, byteRegs: byteRegs ? 'rm' : false })
          : encode({ size, op: [size === 1 ? 0xc0 : 0xc1], reg: k, rm: a, imm: count, immBytes: 1, byteRegs: byteRegs ? 'rm' : false }),
        writes, undef, reads: k === 2 || k === 3 ? CF : 0,
      };
    }
    case 5: {
      const k = rng.below(3);
      return { text: ['clc', 'stc', 'cmc'][k] ?? '', bytes: Uint8Array.of([0xf8, 0xf9, 0xf5][k] ?? 0x90), writes: CF, undef: 0, reads: k === 2 ? CF : 0 };
    }
    case 6: {
      const cc = rng.below(16);
      return { text: `set${COND[cc]} ${n(a, 1)}`, bytes: encode({ op: [0x0f, 0x90 + cc], reg: 0, rm: a, byteRegs: 'rm' }), writes: 0, undef: 0, reads: COND_READS[cc] ?? 0 };
    }
    case 7: {
      const cc = rng.below(16);
      return { text: `cmov${COND[cc]} ${n(a, wide)}, ${n(b, wide)}`, bytes: encode({ size: wide, op: [0x0f, 0x40 + cc], reg: a, rm: b }), writes: 0, undef: 0, reads: COND_READS[cc] ?? 0 };
    }
    case 8:
      return rng.below(2)
        ? { text: 'lahf', bytes: Uint8Array.of(0x9f), writes: 0, undef: 0, reads: SF | ZF | AF | PF | CF }
        : { text: 'sahf', bytes: Uint8Array.of(0x9e), writes: SF | ZF | AF | PF | CF, undef: 0, reads: 0 };
    case 9: {
      const wbt = wide === 8 ? 8 : wide === 4 ? 4 : 2;
      return {
        text: `bt ${n(a, wbt)}, ${n(b, wbt)}`, bytes: encode({ size: wbt, op: [0x0f, 0xa3], reg: b, rm: a }),
        writes: CF, undef: OF | SF | AF | PF, reads: 0,
      };
    }
    case 10:
      return {
        text: `imul ${n(a, wide)}, ${n(b, wide)}`, bytes: encode({ size: wide, op: [0x0f, 0xaf], reg: a, rm: b }),
        writes: CF | OF, undef: SF | ZF | AF | PF, reads: 0,
      };
    case 11: {
      const cc = rng.below(16);
      // Jcc over a 2-byte `mov al, 1` marker: the flags decide the path.
      return { text: `j${COND[cc]} +2; mov al, 1`, bytes: Uint8Array.of(0x70 + cc, 2, 0xb0, 0x01), writes: 0, undef: 0, reads: COND_READS[cc] ?? 0 };
    }
    default:
      return {
        text: `test ${n(a)}, ${n(b)}`, bytes: encode({ size, op: [size === 1 ? 0x84 : 0x85], reg: b, rm: a, byteRegs }),
        writes: ARITH & ~AF, undef: AF, reads: 0,
      };
  }
}

export function addSequenceCases(list: CaseList, count = 1000, longCount = 200): void {
  const rng = list.rng;
  for (let k = 0; k < count + longCount; k++) {
    const input = baseInput(rng);
    input.gpr[MEM_BASE] = BigInt(DATA_ADDRESS + MEM_BASE_OFFSET);
    for (const r of POOL) if (rng.below(2)) setReg(input.gpr, r, 8, rng.pick(interestingValues(rng, rng.pick([1, 2, 4, 8] as const))));
    input.rflags = (rng.u32() & ARITH) | 0x2 | IF;
    let defined = ARITH;
    const steps: Step[] = [];
    // Short sequences, then long ones (10-30 instructions, several blocks with the Jcc steps).
    const length = k < count ? 2 + rng.below(5) : 10 + rng.below(21);
    for (let tries = 0; steps.length < length && tries < 200; tries++) {
      const step = randomStep(rng);
      if ((step.reads & ~defined) !== 0) continue;
      defined = (defined | step.writes) & ~step.undef;
      steps.push(step);
    }
    // The marker of a Jcc must not be the last instruction's target outside the code: end with a NOP.
    const code = Uint8Array.from([...steps.flatMap((s) => Array.from(s.bytes)), 0x90]);
    list.add({ mnemonic: 'seq', form: steps.map((s) => s.text).join('; '), code, input, flagsMask: defined | DF, shown: [...POOL, MEM_BASE] });
  }
}
