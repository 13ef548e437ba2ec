// Differential cases for the other integer instructions: bit tests and scans, BSWAP, MOVZX/MOVSX,
// CMOVcc/SETcc, XADD/CMPXCHG, LEA, sign extensions, MOV/XCHG, PUSH/POP/ENTER/LEAVE, XLAT, NOP
// forms, flag instructions. String instructions are in diff-cases-string.ts.
//
// Undefined flags (SDM Vol. 2 "Flags Affected"):
// - BT/BTS/BTR/BTC: CF defined, ZF unaffected (Intel), OF/SF/AF/PF undefined.
// - BSF/BSR: ZF defined, all others undefined. With a zero source the destination is "undefined"
//   on Intel and "unchanged" on AMD; Intel hardware leaves it unchanged except that a 32-bit
//   destination gets its upper half cleared, so only the operand-size bits are compared then.
// - XADD/CMPXCHG: flags as ADD/CMP. CMPXCHG8B: only ZF changes.
// - REP BSF (F3 0F BC) is TZCNT on hosts with BMI1: only nonzero sources, flags masked.

import { AH, BH, DH, R8, R9, R10, R12, R13, R15, RAX, RBP, RBX, RCX, RDI, RDX, RSI, RSP, encode, memName, regName, type MemOperand, type OpSize } from './diff-asm.js';
import {
  ALL_FLAGS, ARITH, CF, DATA_ADDRESS, DF, FLAG_SETS, IF, OF, PF, SF, STACK_TOP, ZF, baseInput, interestingValues,
  Rng, randomFlags, setReg, sizeMask, type CaseList,
} from './diff-case-kit.js';
import { MEM_BASE_OFFSET, SIZES, memOperand, putBytes, regPairs } from './diff-cases-int.js';
import { addLongStringCases, addStringCases } from './diff-cases-string.js';

const BT_OPS = [['bt', 0xa3, 4], ['bts', 0xab, 5], ['btr', 0xb3, 6], ['btc', 0xbb, 7]] as const;
const BT_FLAGS = CF | ZF | DF;

function bitTestCases(list: CaseList): void {
  const rng = list.rng;
  for (const [mn, opReg, ext] of BT_OPS) {
    for (const size of [2, 4, 8] as const) {
      const bits = size * 8;
      const offsets = [0, 1, bits - 1, bits, bits + 3, 2 * bits - 1, 255, rng.below(1 << 16)];
      for (const off of offsets) {
        // Register base, bit offset in a register (taken modulo the width).
        const input = baseInput(rng);
        setReg(input.gpr, RSI, size, BigInt(off));
        list.add({
          mnemonic: mn, form: `${mn} ${regName(RDX, size)}, ${regName(RSI, size)}`,
          code: encode({ size, op: [0x0f, opReg], reg: RSI, rm: RDX }),
          input, flagsMask: BT_FLAGS, shown: [RDX, RSI],
        });
        // Immediate bit offset (taken modulo the width).
        const input2 = baseInput(rng);
        list.add({
          mnemonic: mn, form: `${mn} ${regName(RDI, size)}, ${off & 0xff}`,
          code: encode({ size, op: [0x0f, 0xba], reg: ext, rm: RDI, imm: off & 0xff, immBytes: 1 }),
          input: input2, flagsMask: BT_FLAGS, shown: [RDI],
        });
      }
      // Memory base with a register bit offset: the offset is signed and selects any bit
      // around the operand (SDM Vol. 2A BT "bit base addressing"); keep it inside the page.
      for (const off of [0, 5, bits + 1, -1, -bits - 7, 1000, -1000, 8000, -8000, rng.below(14000) - 7000]) {
        const input = baseInput(rng);
        const data = rng.bytes(4096);
        input.gpr[RBX] = BigInt(DATA_ADDRESS + 2048);
        setReg(input.gpr, RCX, size, BigInt.asUintN(size * 8, BigInt(off)));
        list.add({
          mnemonic: mn, form: `${mn} [rbx], ${regName(RCX, size)}`,
          code: encode({ size, op: [0x0f, opReg], reg: RCX, rm: { base: RBX } }),
          input, data, flagsMask: BT_FLAGS, shown: [RBX, RCX],
        });
      }
      const input = baseInput(rng);
      const data = rng.bytes(512);
      const m = memOperand(rng, input, data, size, rng.u64());
      list.add({
        mnemonic: mn, form: `${mn} ${memName(m)}, imm8`,
        code: encode({ size, op: [0x0f, 0xba], reg: ext, rm: m, imm: rng.below(256), immBytes: 1 }),
        input, data, flagsMask: BT_FLAGS, shown: [RBX],
      });
    }
  }
}

function bitScanCases(list: CaseList): void {
  const rng = list.rng;
  for (const [mn, op] of [['bsf', 0xbc], ['bsr', 0xbd]] as const) {
    for (const size of [2, 4, 8] as const) {
      const vals = [...interestingValues(rng, size), 0n, 0x100n, rng.u64() & sizeMask(size) & ~0xffn];
      for (const v of vals) {
        const input = baseInput(rng);
        setReg(input.gpr, RSI, size, v);
        const gprMasks = v === 0n && size !== 8 ? new Map([[RDI, sizeMask(size)]]) : undefined;
        list.add({
          mnemonic: mn, form: `${mn} ${regName(RDI, size)}, ${regName(RSI, size)}`,
          code: encode({ size, op: [0x0f, op], reg: RDI, rm: RSI }),
          input, flagsMask: ZF | DF, ...(gprMasks ? { gprMasks } : {}), shown: [RDI, RSI],
        });
      }
    }
  }
  // F3 0F BC (REP BSF) is TZCNT on CPUs with BMI1 and BSF elsewhere; the Linux kernel emits it
  // on purpose for nonzero inputs, where both give the same index (flags differ: masked).
  for (const size of [4, 8] as const) {
    for (let k = 0; k < 8; k++) {
      const input = baseInput(rng);
      setReg(input.gpr, RSI, size, (rng.u64() & sizeMask(size)) << BigInt(rng.below(size * 8)) & sizeMask(size) | (k === 0 ? 1n << BigInt(size * 8 - 1) : 0n) || 1n);
      list.add({
        mnemonic: 'rep_bsf', form: `rep bsf ${regName(RDI, size)}, ${regName(RSI, size)} (tzcnt encoding, nonzero source)`,
        code: encode({ prefixes: [0xf3], size, op: [0x0f, 0xbc], reg: RDI, rm: RSI }),
        input, flagsMask: DF, shown: [RDI, RSI],
      });
    }
  }
  for (const size of [4, 8] as const) {
    for (const reg of [RAX, RDX, R9, R15]) {
      const input = baseInput(rng);
      list.add({
        mnemonic: 'bswap', form: `bswap ${regName(reg, size)}`,
        code: encode({ size, op: [0x0f, 0xc8], opReg: reg }),
        input, shown: [reg],
      });
    }
  }
}

function moveExtendCases(list: CaseList): void {
  const rng = list.rng;
  const forms: { mn: string; op: number[]; src: OpSize; dsts: OpSize[] }[] = [
    { mn: 'movzx', op: [0x0f, 0xb6], src: 1, dsts: [2, 4, 8] },
    { mn: 'movzx', op: [0x0f, 0xb7], src: 2, dsts: [4, 8] },
    { mn: 'movsx', op: [0x0f, 0xbe], src: 1, dsts: [2, 4, 8] },
    { mn: 'movsx', op: [0x0f, 0xbf], src: 2, dsts: [4, 8] },
    { mn: 'movsxd', op: [0x63], src: 4, dsts: [8] },
  ];
  for (const f of forms) {
    for (const dstSize of f.dsts) {
      for (const v of interestingValues(rng, f.src).slice(0, 8)) {
        const srcs = f.src === 1 ? (dstSize === 8 ? [RCX, RSI, R10] : [RCX, AH, RSI, R10]) : [RCX, RSI, R10];
        const src = rng.pick(srcs);
        const dst = src === AH ? RDX : rng.pick([RDX, R8, RBP]);
        const input = baseInput(rng);
        setReg(input.gpr, src, f.src, v);
        list.add({
          mnemonic: f.mn, form: `${f.mn} ${regName(dst, dstSize)}, ${regName(src, f.src)}`,
          code: encode({ size: dstSize, op: f.op, reg: dst, rm: src, byteRegs: f.src === 1 }),
          input, shown: [dst, src >= AH ? src - AH : src],
        });
      }
      const input = baseInput(rng);
      const data = rng.bytes(512);
      const m = memOperand(rng, input, data, f.src, rng.u64());
      list.add({
        mnemonic: f.mn, form: `${f.mn} ${regName(RDI, dstSize)}, ${memName(m)}`,
        code: encode({ size: dstSize, op: f.op, reg: RDI, rm: m }),
        input, data, shown: [RDI, RBX],
      });
    }
  }
}

/** Flag inputs that together exercise every condition code both ways. */
function conditionFlagInputs(): number[] {
  const out: number[] = [...FLAG_SETS];
  for (let bits = 1; bits < 32; bits += 3) {
    out.push((bits & 1 ? CF : 0) | (bits & 2 ? ZF : 0) | (bits & 4 ? SF : 0) | (bits & 8 ? OF : 0) | (bits & 16 ? PF : 0));
  }
  return out;
}
const COND_NAMES = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];

function conditionalCases(list: CaseList): void {
  const rng = list.rng;
  const flagInputs = conditionFlagInputs();
  for (let cc = 0; cc < 16; cc++) {
    for (const flags of flagInputs) {
      const input = baseInput(rng);
      input.rflags = flags | 0x2 | IF;
      const dst = rng.pick([RAX, AH, RSI, R12, BH]);
      list.add({
        mnemonic: 'setcc', form: `set${COND_NAMES[cc]} ${regName(dst, 1)}`,
        code: encode({ op: [0x0f, 0x90 + cc], reg: 0, rm: dst, byteRegs: 'rm' }),
        input, shown: [dst >= AH ? dst - AH : dst],
      });
    }
    for (const flags of flagInputs.filter((_, k) => k % 2 === 0)) {
      const size = rng.pick([2, 4, 8] as const);
      const input = baseInput(rng);
      input.rflags = flags | 0x2 | IF;
      list.add({
        mnemonic: 'cmovcc', form: `cmov${COND_NAMES[cc]} ${regName(RDX, size)}, ${regName(R9, size)}`,
        code: encode({ size, op: [0x0f, 0x40 + cc], reg: RDX, rm: R9 }),
        input, shown: [RDX, R9],
      });
    }
    const input = baseInput(rng);
    const data = rng.bytes(512);
    const m = memOperand(rng, input, data, 4, rng.u64());
    list.add({
      mnemonic: 'cmovcc', form: `cmov${COND_NAMES[cc]} ecx, ${memName(m)}`,
      code: encode({ size: 4, op: [0x0f, 0x40 + cc], reg: RCX, rm: m }),
      input, data, shown: [RCX, RBX],
    });
  }
}

function exchangeCases(list: CaseList): void {
  const rng = list.rng;
  for (const size of SIZES) {
    const w = size === 1 ? 0 : 1;
    const vals = interestingValues(rng, size);
    for (let k = 0; k < 10; k++) {
      const [dst, src] = rng.pick(regPairs(size));
      const a = rng.pick(vals);
      const b = rng.pick(vals);
      const input = baseInput(rng);
      setReg(input.gpr, dst, size, a);
      setReg(input.gpr, src, size, b);
      list.add({
        mnemonic: 'xadd', form: `xadd ${regName(dst, size)}, ${regName(src, size)}`,
        code: encode({ size, op: [0x0f, 0xc0 + w], reg: src, rm: dst, byteRegs: size === 1 }),
        input, shown: [dst, src].map((r) => (r >= AH ? r - AH : r)),
      });
      const input2 = baseInput(rng);
      const data2 = rng.bytes(512);
      setReg(input2.gpr, RSI, size, b);
      const m = memOperand(rng, input2, data2, size, a);
      list.add({
        mnemonic: 'xadd', form: `lock xadd ${memName(m)}, ${regName(RSI, size)}`,
        code: encode({ prefixes: k % 2 ? [0xf0] : [], size, op: [0x0f, 0xc0 + w], reg: RSI, rm: m, byteRegs: size === 1 }),
        input: input2, data: data2, shown: [RSI, RBX],
      });
      // CMPXCHG: equal (store) or not equal (load into the accumulator).
      const equal = k % 2 === 0;
      const input3 = baseInput(rng);
      const dst3 = size === 1 ? RCX : R10;
      setReg(input3.gpr, dst3, size, a);
      setReg(input3.gpr, RAX, size, equal ? a : b);
      setReg(input3.gpr, RDX, size, rng.pick(vals));
      // Comparison fails with a 32-bit register destination: Intel writes the old value back
      // (SDM Vol. 2A CMPXCHG: DEST <- TEMP, which zero-extends), AMD does not write it (APM
      // Vol. 3), so the upper half of the destination is vendor-specific.
      const gprMasks = !equal && size === 4 ? new Map([[dst3, 0xffffffffn]]) : undefined;
      list.add({
        mnemonic: 'cmpxchg', form: `cmpxchg ${regName(dst3, size)}, ${regName(RDX, size)}`,
        code: encode({ size, op: [0x0f, 0xb0 + w], reg: RDX, rm: dst3 }),
        input: input3, ...(gprMasks ? { gprMasks } : {}), shown: [RAX, dst3, RDX],
      });
      const input4 = baseInput(rng);
      const data4 = rng.bytes(512);
      setReg(input4.gpr, RAX, size, equal ? a : b);
      const m4 = memOperand(rng, input4, data4, size, a);
      list.add({
        mnemonic: 'cmpxchg', form: `lock cmpxchg ${memName(m4)}, ${regName(RDI, size)}`,
        code: encode({ prefixes: [0xf0], size, op: [0x0f, 0xb0 + w], reg: RDI, rm: m4 }),
        input: input4, data: data4, shown: [RAX, RDI, RBX],
      });
      // The accumulator as the destination of CMPXCHG, and XADD of a register with itself.
      const input7 = baseInput(rng);
      setReg(input7.gpr, RCX, size, b);
      list.add({
        mnemonic: 'cmpxchg', form: `cmpxchg ${regName(RAX, size)}, ${regName(RCX, size)}`,
        code: encode({ size, op: [0x0f, 0xb0 + w], reg: RCX, rm: RAX }),
        input: input7, shown: [RAX, RCX],
      });
      const input8 = baseInput(rng);
      list.add({
        mnemonic: 'xadd', form: `xadd ${regName(RDX, size)}, ${regName(RDX, size)}`,
        code: encode({ size, op: [0x0f, 0xc0 + w], reg: RDX, rm: RDX }),
        input: input8, shown: [RDX],
      });
      // XCHG with memory (implicitly locked).
      const input9 = baseInput(rng);
      const data9 = rng.bytes(512);
      const m9 = memOperand(rng, input9, data9, size, a);
      list.add({
        mnemonic: 'xchg', form: `xchg ${memName(m9)}, ${regName(RSI, size)}`,
        code: encode({ size, op: [0x86 + w], reg: RSI, rm: m9, byteRegs: size === 1 }),
        input: input9, data: data9, shown: [RSI, RBX],
      });
      // XCHG r, r/m and the short 90+r form.
      const input5 = baseInput(rng);
      list.add({
        mnemonic: 'xchg', form: `xchg ${regName(dst, size)}, ${regName(src, size)}`,
        code: encode({ size, op: [0x86 + w], reg: src, rm: dst, byteRegs: size === 1 }),
        input: input5, shown: [dst, src].map((r) => (r >= AH ? r - AH : r)),
      });
      if (size !== 1) {
        const input6 = baseInput(rng);
        const r = rng.pick([RCX, RDI, R9, R13]);
        list.add({
          mnemonic: 'xchg', form: `xchg ${regName(RAX, size)}, ${regName(r, size)}`,
          code: encode({ size, op: [0x90], opReg: r }),
          input: input6, shown: [RAX, r],
        });
      }
    }
  }
  // CMPXCHG16B (REX.W), whose operand [rbx+0x40] is 16-byte aligned. Its own random stream, so
  // that the cases after it stay the ones they were.
  const r16 = new Rng(0xc16b);
  for (let k = 0; k < 12; k++) {
    const input = baseInput(r16);
    const data = r16.bytes(512);
    const lo = r16.u64();
    const hi = r16.u64();
    const disp = 0x40;
    input.gpr[RBX] = BigInt(DATA_ADDRESS + MEM_BASE_OFFSET);
    putBytes(data, MEM_BASE_OFFSET + disp, lo, 8);
    putBytes(data, MEM_BASE_OFFSET + disp + 8, hi, 8);
    if (k % 2 === 0) {
      input.gpr[RAX] = lo;
      input.gpr[RDX] = k % 4 === 0 ? hi : hi ^ (1n << 63n);
    }
    list.add({
      mnemonic: 'cmpxchg16b', form: `${k % 3 ? 'lock ' : ''}cmpxchg16b [rbx+0x40]`,
      code: encode({ size: 8, prefixes: k % 3 ? [0xf0] : [], op: [0x0f, 0xc7], reg: 1, rm: { base: RBX, disp } }),
      input, data, flagsMask: ALL_FLAGS, shown: [RAX, RDX, RCX, RBX],
    });
  }
  // CMPXCHG8B
  for (let k = 0; k < 12; k++) {
    const input = baseInput(rng);
    const data = rng.bytes(512);
    const lo = rng.u64() & 0xffffffffn;
    const hi = rng.u64() & 0xffffffffn;
    const disp = 0x40;
    input.gpr[RBX] = BigInt(DATA_ADDRESS + MEM_BASE_OFFSET);
    putBytes(data, MEM_BASE_OFFSET + disp, lo, 4);
    putBytes(data, MEM_BASE_OFFSET + disp + 4, hi, 4);
    if (k % 2 === 0) {
      setReg(input.gpr, RAX, 4, lo);
      setReg(input.gpr, RDX, 4, k % 4 === 0 ? hi : hi ^ 1n);
    }
    // RBX is the base register here, so the new value comes from ECX:EBX with EBX = address.
    list.add({
      mnemonic: 'cmpxchg8b', form: `${k % 3 ? 'lock ' : ''}cmpxchg8b [rbx+0x40]`,
      code: encode({ prefixes: k % 3 ? [0xf0] : [], op: [0x0f, 0xc7], reg: 1, rm: { base: RBX, disp } }),
      input, data, flagsMask: ALL_FLAGS, shown: [RAX, RDX, RCX, RBX],
    });
  }
}

function leaCases(list: CaseList): void {
  const rng = list.rng;
  const mems: MemOperand[] = [
    { base: RAX }, { base: RBP }, { base: RSP }, { base: R12 }, { base: R13 }, { base: RCX, disp: 0x7f },
    { base: RDX, disp: -0x80 }, { base: RSI, disp: 0x12345678 }, { base: RDI, disp: -0x7654321 },
    { base: RBX, index: RCX, scale: 1 }, { base: RBX, index: RSI, scale: 2, disp: 8 },
    { base: RBP, index: R9, scale: 4, disp: -3 }, { base: R15, index: RDI, scale: 8, disp: 0x1000 },
    { base: -1, index: RDX, scale: 4, disp: 0x100 }, { base: -1, disp: 0x7ffffff0 }, { base: RSP, index: RBP, scale: 1 },
    { base: R13, index: R13, scale: 8, disp: 0 },
  ];
  for (const m of mems) {
    for (const [size, prefixes] of [[8, []], [4, []], [2, []], [8, [0x67]], [4, [0x67]]] as [OpSize, number[]][]) {
      const input = baseInput(rng);
      list.add({
        mnemonic: 'lea', form: `lea ${regName(R8, size)}, ${prefixes.length ? 'addr32 ' : ''}${memName(m)}`,
        code: encode({ prefixes, size, op: [0x8d], reg: R8, rm: m }),
        input, shown: [R8, ...(m.base >= 0 ? [m.base] : []), ...(m.index !== undefined ? [m.index] : [])],
      });
    }
  }
}

function signExtendCases(list: CaseList): void {
  const rng = list.rng;
  const forms: [string, OpSize, number][] = [
    ['cbw', 2, 0x98], ['cwde', 4, 0x98], ['cdqe', 8, 0x98], ['cwd', 2, 0x99], ['cdq', 4, 0x99], ['cqo', 8, 0x99],
  ];
  for (const [mn, size, op] of forms) {
    for (const v of interestingValues(rng, 8)) {
      const input = baseInput(rng);
      input.gpr[RAX] = v;
      list.add({ mnemonic: mn, form: mn, code: encode({ size, op: [op] }), input, shown: [RAX, RDX] });
    }
  }
}

function flagInstructionCases(list: CaseList): void {
  const rng = list.rng;
  for (const flags of [...FLAG_SETS, ARITH | DF]) {
    const input = baseInput(rng);
    input.rflags = flags | 0x2 | IF;
    list.add({ mnemonic: 'lahf', form: 'lahf', code: encode({ op: [0x9f] }), input, shown: [RAX] });
    const input2 = baseInput(rng);
    list.add({ mnemonic: 'sahf', form: 'sahf', code: encode({ op: [0x9e] }), input: input2, shown: [RAX] });
    for (const [mn, op] of [['clc', 0xf8], ['stc', 0xf9], ['cmc', 0xf5], ['cld', 0xfc], ['std', 0xfd]] as const) {
      const input3 = baseInput(rng);
      input3.rflags = flags | 0x2 | IF | (rng.below(2) ? DF : 0);
      list.add({ mnemonic: mn, form: mn, code: encode({ op: [op] }), input: input3, shown: [] });
    }
    // PUSHF: the pushed image has IF=1 on both sides (CPL 3 natively, IF set in the input).
    const input4 = baseInput(rng);
    input4.rflags = flags | 0x2 | IF;
    list.add({ mnemonic: 'pushf', form: 'pushfq', code: encode({ op: [0x9c] }), input: input4, shown: [RSP] });
    const input5 = baseInput(rng);
    list.add({ mnemonic: 'pushf', form: 'pushfw', code: encode({ size: 2, op: [0x9c] }), input: input5, shown: [RSP] });
    // POPF of an image with IF=1, IOPL=0 and no TF/AC: the bits user mode may change, so the
    // result is the same at CPL 3 (native) and CPL 0 (soft CPU).
    const input6 = baseInput(rng);
    const data6 = rng.bytes(512);
    const image = BigInt(randomFlags(rng, rng.below(2) ? DF : 0));
    putBytes(data6, STACK_TOP - DATA_ADDRESS, image, 8);
    list.add({
      mnemonic: 'popf', form: 'popfq; pushfq', code: encode({ op: [0x9d, 0x9c] }), input: input6, data: data6, shown: [RSP],
    });
  }
}

function movAndStackCases(list: CaseList): void {
  const rng = list.rng;
  for (const size of SIZES) {
    const w = size === 1 ? 0 : 1;
    for (let k = 0; k < 4; k++) {
      const [dst, src] = rng.pick(regPairs(size));
      const input = baseInput(rng);
      list.add({
        mnemonic: 'mov', form: `mov ${regName(dst, size)}, ${regName(src, size)}`,
        code: encode({ size, op: [0x88 + w], reg: src, rm: dst, byteRegs: size === 1 }),
        input, shown: [dst, src].map((r) => (r >= AH ? r - AH : r)),
      });
      const input2 = baseInput(rng);
      const data2 = rng.bytes(512);
      const m = memOperand(rng, input2, data2, size, rng.u64());
      list.add({
        mnemonic: 'mov', form: `mov ${regName(src, size)}, ${memName(m)}`,
        code: encode({ size, op: [0x8a + w], reg: src, rm: m, byteRegs: size === 1 }),
        input: input2, data: data2, shown: [src >= AH ? src - AH : src, RBX],
      });
      const input3 = baseInput(rng);
      const data3 = rng.bytes(512);
      const m3 = memOperand(rng, input3, data3, size, 0n);
      list.add({
        mnemonic: 'mov', form: `mov ${memName(m3)}, ${regName(dst, size)}`,
        code: encode({ size, op: [0x88 + w], reg: dst, rm: m3, byteRegs: size === 1 }),
        input: input3, data: data3, shown: [dst >= AH ? dst - AH : dst, RBX],
      });
      const input4 = baseInput(rng);
      const data4 = rng.bytes(512);
      const m4 = memOperand(rng, input4, data4, size, 0n);
      list.add({
        mnemonic: 'mov', form: `mov ${memName(m4)}, imm`,
        code: encode({ size, op: [0xc6 + w], reg: 0, rm: m4, imm: rng.u64(), immBytes: size === 1 ? 1 : size === 2 ? 2 : 4 }),
        input: input4, data: data4, shown: [RBX],
      });
      const input5 = baseInput(rng);
      const r5 = rng.pick(size === 1 ? [RAX, DH, R9, RDI] : [RAX, R9, RDI]);
      list.add({
        mnemonic: 'mov', form: `mov ${regName(r5, size)}, imm${size * 8}`,
        code: encode({ size, op: [size === 1 ? 0xb0 : 0xb8], opReg: r5, imm: rng.u64(), immBytes: size, byteRegs: size === 1 }),
        input: input5, shown: [r5 >= AH ? r5 - AH : r5],
      });
      // MOV with a 64-bit absolute address (moffs, A0-A3): the data page is at the same address natively.
      const input6 = baseInput(rng);
      list.add({
        mnemonic: 'mov', form: `mov ${regName(RAX, size)}, [moffs64]`,
        code: encode({ size, op: [0xa0 + w], imm: DATA_ADDRESS + 0x30 + k, immBytes: 8 }),
        input: input6, shown: [RAX],
      });
      const input7 = baseInput(rng);
      list.add({
        mnemonic: 'mov', form: `mov [moffs64], ${regName(RAX, size)}`,
        code: encode({ size, op: [0xa2 + w], imm: DATA_ADDRESS + 0x50 + k, immBytes: 8 }),
        input: input7, shown: [RAX],
      });
    }
  }
  // PUSH/POP register, memory and immediate forms on the stack in the data page.
  for (const r of [RAX, RBX, RSP, RBP, R8, R15]) {
    for (const size of [2, 8] as const) {
      const input = baseInput(rng);
      list.add({ mnemonic: 'push', form: `push ${regName(r, size)}`, code: encode({ ...(size === 2 ? { size: 2 as const } : {}), op: [0x50], opReg: r }), input, shown: [r, RSP] });
      const input2 = baseInput(rng);
      list.add({ mnemonic: 'pop', form: `pop ${regName(r, size)}`, code: encode({ ...(size === 2 ? { size: 2 as const } : {}), op: [0x58], opReg: r }), input: input2, shown: [r, RSP] });
    }
  }
  for (const [form, bytes] of [
    ['push imm8', encode({ op: [0x6a], imm: 0x80, immBytes: 1 })],
    ['push imm32', encode({ op: [0x68], imm: 0x87654321, immBytes: 4 })],
    ['push imm16', encode({ size: 2, op: [0x68], imm: 0x8765, immBytes: 2 })],
    ['push [rbx+0x10]', encode({ op: [0xff], reg: 6, rm: { base: RBX, disp: 0x10 } })],
    ['pop [rbx+0x10]', encode({ op: [0x8f], reg: 0, rm: { base: RBX, disp: 0x10 } })],
    ['push [rsp+8]', encode({ op: [0xff], reg: 6, rm: { base: RSP, disp: 8 } })],
    ['pop [rsp]', encode({ op: [0x8f], reg: 0, rm: { base: RSP } })],
  ] as [string, Uint8Array][]) {
    const input = baseInput(rng);
    input.gpr[RBX] = BigInt(DATA_ADDRESS + MEM_BASE_OFFSET);
    list.add({ mnemonic: form.split(' ')[0] ?? form, form, code: bytes, input, shown: [RSP, RBX] });
  }
  const input = baseInput(rng);
  input.gpr[RBP] = BigInt(STACK_TOP + 0x20);
  list.add({ mnemonic: 'leave', form: 'leave', code: encode({ op: [0xc9] }), input, shown: [RSP, RBP] });
  for (const [size, level] of [[0x10, 0], [0x18, 1], [0, 2]] as const) {
    const inputE = baseInput(rng);
    inputE.gpr[RBP] = BigInt(STACK_TOP + 0x40);
    list.add({
      mnemonic: 'enter', form: `enter 0x${size.toString(16)}, ${level}`,
      code: new Uint8Array([0xc8, size & 0xff, size >> 8, level]), input: inputE, shown: [RSP, RBP],
    });
  }
  // XLAT: AL = [RBX + AL].
  for (let k = 0; k < 3; k++) {
    const inputX = baseInput(rng);
    inputX.gpr[RBX] = BigInt(DATA_ADDRESS + MEM_BASE_OFFSET);
    list.add({ mnemonic: 'xlat', form: 'xlatb', code: encode({ size: 8, op: [0xd7] }), input: inputX, shown: [RAX, RBX] });
  }
  // NOP forms: multi-byte NOP, 66 NOP, PAUSE, hint NOPs; all must leave everything unchanged.
  for (const [form, bytes] of [
    ['nop', [0x90]], ['xchg ax, ax', [0x66, 0x90]], ['pause', [0xf3, 0x90]], ['nop dword [rax]', [0x0f, 0x1f, 0x00]],
    ['nop word [rax+rax+0]', [0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00]], ['nop [rax+rax+0x0]', [0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0]],
    ['prefetcht0 [rbx]', [0x0f, 0x18, 0x0b]], ['endbr64', [0xf3, 0x0f, 0x1e, 0xfa]], ['lfence', [0x0f, 0xae, 0xe8]],
    ['mfence', [0x0f, 0xae, 0xf0]], ['sfence', [0x0f, 0xae, 0xf8]], ['clflush [rbx]', [0x0f, 0xae, 0x3b]],
    ['prefetchw [rbx]', [0x0f, 0x0d, 0x0b]], ['prefetchnta [rbx]', [0x0f, 0x18, 0x03]],
  ] as [string, number[]][]) {
    const inputN = baseInput(rng);
    inputN.gpr[RBX] = BigInt(DATA_ADDRESS + MEM_BASE_OFFSET);
    list.add({ mnemonic: 'nop', form, code: Uint8Array.from(bytes), input: inputN, shown: [] });
  }
  // Flags must be untouched by moves: one case with all flags set and a MOV.
  const input2 = baseInput(rng);
  input2.rflags = ALL_FLAGS | 0x2 | IF;
  list.add({ mnemonic: 'mov', form: 'mov rcx, rdx (flags preserved)', code: encode({ size: 8, op: [0x89], reg: RDX, rm: RCX }), input: input2, shown: [] });
}

export function addMiscIntegerCases(list: CaseList): void {
  bitTestCases(list);
  bitScanCases(list);
  moveExtendCases(list);
  conditionalCases(list);
  exchangeCases(list);
  leaCases(list);
  signExtendCases(list);
  flagInstructionCases(list);
  movAndStackCases(list);
  addStringCases(list);
  addLongStringCases(list);
}
