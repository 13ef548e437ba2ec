// Differential cases for the x87 FPU (SDM Vol. 1 ch. 8, Vol. 2 per instruction) and FXSAVE/FXRSTOR.
// Both CPUs start each case from the FNINIT state; results are stored to the data page (FSTP m64/
// m80, FISTP, FNSTSW, FXSAVE) and compared there. Mnemonics carry an "x87:" prefix.
//
// Layout around RBX = data + 0x80: [rbx] operand a (m64, or m32/m80 for conversions),
// [rbx+8] operand b, [rbx+0x10] m64 result, [rbx+0x18] status word, [rbx+0x20] m80 result,
// [rbx+0x30] integer result, [rbx+0x40] control word for FLDCW.
//
// Precision: mnemonics without a suffix run with the precision control at double (PC=10b), so a
// double-based FPU model can match them bit for bit; ".ext" mnemonics use the default extended
// precision and store 80-bit results, so they need a 64-bit-mantissa model; "x87:pc-single" checks
// single-precision control.
//
// Undefined bits (SDM Vol. 2 "FPU Flags Affected"): C0, C2 and C3 after arithmetic, loads and
// stores; C1 is defined (round-up indicator). Transcendental instructions are left out: their
// accuracy differs between CPU generations. FXSAVE: FIP/FDP/FOP (bytes 6..23) depend on code
// addresses and on the vendor (AMD saves them only with an exception pending), and the upper half
// of MXCSR_MASK is vendor-specific (AMD's MM bit).

import { RBX } from './diff-asm.js';
import { DATA_ADDRESS, Rng, baseInput, type CaseList } from './diff-case-kit.js';
import { MEM_BASE_OFFSET, putBytes } from './diff-cases-int.js';

const F64: bigint[] = [
  0x0000000000000000n, 0x8000000000000000n, 0x3ff0000000000000n, 0xbff0000000000000n, 0x4000000000000000n,
  0x3fd5555555555555n, 0x400921fb54442d18n, 0x7fefffffffffffffn, 0x0010000000000000n, 0x0000000000000001n,
  0x7ff0000000000000n, 0xfff0000000000000n, 0x7ff8000000000000n, 0x7ff4000000000000n, 0x41dfffffffc00000n,
  0x43e0000000000000n, 0xc3e0000000000000n, 0x3fe0000000000000n, 0x3ff8000000000000n, 0x4004000000000000n,
];
const SW = 0x18;
const OPS = 0x00;
/** Status word bits C0, C2, C3 (SDM Vol. 1 §8.1.3). */
const FSW_C0_C2_C3 = (1 << 8) | (1 << 10) | (1 << 14);

function randomF64(rng: Rng): bigint {
  const exp = BigInt(1023 - 30 + rng.below(60));
  return (BigInt(rng.below(2)) << 63n) | (exp << 52n) | (rng.u64() & 0xfffffffffffffn);
}
function pickF64(rng: Rng): bigint {
  return rng.below(2) ? rng.pick(F64) : randomF64(rng);
}

/** Control words: every rounding mode (RC, bits 10-11) at double precision (PC = 10b). */
const CONTROL_WORDS = [0x027f, 0x067f, 0x0a7f, 0x0e7f];
/** Every rounding mode at extended precision (PC = 11b, the FNINIT default). */
const EXT_WORDS = [0x037f, 0x077f, 0x0b7f, 0x0f7f];

/** Data masks that ignore C0/C2/C3 of a stored status word at `offset` (from data start). */
function swMask(offset: number, ignore = FSW_C0_C2_C3): Map<number, number> {
  return new Map([[offset, ~ignore & 0xff], [offset + 1, (~ignore >> 8) & 0xff]]);
}

function x87Input(rng: Rng, a: bigint, b: bigint, cw: number): { input: ReturnType<typeof baseInput>; data: Uint8Array } {
  const input = baseInput(rng);
  const data = rng.bytes(1024);
  input.gpr[RBX] = BigInt(DATA_ADDRESS + MEM_BASE_OFFSET);
  putBytes(data, MEM_BASE_OFFSET + OPS, a, 8);
  putBytes(data, MEM_BASE_OFFSET + 8, b, 8);
  putBytes(data, MEM_BASE_OFFSET + 0x40, BigInt(cw), 2);
  return { input, data };
}

// Common encodings with [rbx+disp8] operands.
const FLDCW = [0xd9, 0x6b, 0x40];
const FLD_A = [0xdd, 0x03];
const FLD_B = [0xdd, 0x43, 0x08];
const FSTP_R64 = [0xdd, 0x5b, 0x10];
const FSTP_R80 = [0xdb, 0x7b, 0x20];
const FNSTSW = [0xdd, 0x7b, SW];

/** A double (raw bits, not denormal) as the 80-bit extended format: exact. */
function f64ToF80(bits: bigint): { mantissa: bigint; signExp: number } {
  const sign = Number(bits >> 63n) << 15;
  const exp = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & 0xfffffffffffffn;
  if (exp === 0) return { mantissa: 0n, signExp: sign };
  if (exp === 0x7ff) return { mantissa: (1n << 63n) | (frac << 11n), signExp: sign | 0x7fff };
  return { mantissa: (1n << 63n) | (frac << 11n), signExp: sign | (exp - 1023 + 16383) };
}

/**
 * FXRSTOR of a prepared image, then FXSAVE elsewhere (SDM Vol. 2A FXSAVE Table 3-53): checks the
 * image layout, TOP-relative register order, the abridged tag byte and XMM/MXCSR loading.
 */
function fxrstorCases(list: CaseList): void {
  const rng = list.rng;
  for (let k = 0; k < 8; k++) {
    const input = baseInput(rng);
    const data = rng.bytes(2048);
    const img = MEM_BASE_OFFSET;
    const out = MEM_BASE_OFFSET + 0x200;
    input.gpr[RBX] = BigInt(DATA_ADDRESS + MEM_BASE_OFFSET);
    putBytes(data, img, BigInt(rng.pick([...CONTROL_WORDS, ...EXT_WORDS])), 2);
    // FSW: exception flags, SF, C0-C3 and TOP random; ES and B clear (no pending exception).
    putBytes(data, img + 2, BigInt(rng.u32() & 0x7f7f), 2);
    data[img + 4] = rng.u32() & 0xff;
    data[img + 5] = 0;
    putBytes(data, img + 24, BigInt(0x1f80 | (rng.u32() & 0x603f)), 4);
    for (let st = 0; st < 8; st++) {
      const v = f64ToF80(rng.below(4) ? randomF64(rng) : rng.pick(F64.filter((b) => (b & 0x7ff0000000000000n) !== 0n || b === 0n || b === 0x8000000000000000n)));
      putBytes(data, img + 32 + 16 * st, v.mantissa, 8);
      putBytes(data, img + 32 + 16 * st + 8, BigInt(v.signExp), 2);
    }
    const dataMasks = new Map<number, number>();
    for (const base of [out]) {
      for (let b = 6; b < 24; b++) dataMasks.set(base + b, 0);
      dataMasks.set(base + 30, 0);
      dataMasks.set(base + 31, 0);
      for (let st = 0; st < 8; st++) for (let b = 10; b < 16; b++) dataMasks.set(base + 32 + 16 * st + b, 0);
      for (let b = 416; b < 464; b++) dataMasks.set(base + b, 0);
    }
    // Odd cases use the REX.W forms (FXSAVE64/FXRSTOR64: 64-bit FIP/FDP, masked anyway).
    const w = k % 2 ? [0x48] : [];
    list.add({
      mnemonic: 'x87:fxrstor', form: `fxrstor${w.length ? '64' : ''} [rbx]; fxsave${w.length ? '64' : ''} [rbx+0x200]`,
      code: Uint8Array.from([...w, 0x0f, 0xae, 0x0b, ...w, 0x0f, 0xae, 0x83, 0x00, 0x02, 0x00, 0x00]),
      input, data, dataMasks, shown: [RBX],
    });
  }
}

export function addX87Cases(list: CaseList): void {
  fxrstorCases(list);
  const rng = list.rng;
  const swAt = MEM_BASE_OFFSET + SW;
  const add = (mn: string, form: string, bytes: number[], a: bigint, b: bigint, cw: number, dataMasks = swMask(swAt)): void => {
    const { input, data } = x87Input(rng, a, b, cw);
    list.add({ mnemonic: `x87:${mn}`, form: `${form} (cw ${cw.toString(16)})`, code: Uint8Array.from([...FLDCW, ...bytes]), input, data, dataMasks, shown: [] });
  };
  // Arithmetic with a memory operand: ST0 = a OP b.
  const memOps: [string, number][] = [['fadd', 0], ['fmul', 1], ['fsub', 4], ['fsubr', 5], ['fdiv', 6], ['fdivr', 7]];
  for (const [mn, ext] of memOps) {
    for (let k = 0; k < 16; k++) {
      add(mn, `fld a; ${mn} qword [b]; fstp m64; fnstsw`, [...FLD_A, 0xdc, 0x43 | (ext << 3), 0x08, ...FSTP_R64, ...FNSTSW], pickF64(rng), pickF64(rng), CONTROL_WORDS[k % 4] ?? 0x027f);
    }
    for (let k = 0; k < 8; k++) {
      add(`${mn}.ext`, `fld a; ${mn} qword [b]; fstp m80; fnstsw`, [...FLD_A, 0xdc, 0x43 | (ext << 3), 0x08, ...FSTP_R80, ...FNSTSW], pickF64(rng), pickF64(rng), EXT_WORDS[k % 4] ?? 0x037f);
    }
    add('pc-single', `fld a; ${mn} qword [b]; fstp m64 (PC=single)`, [...FLD_A, 0xdc, 0x43 | (ext << 3), 0x08, ...FSTP_R64, ...FNSTSW], randomF64(rng), randomF64(rng), 0x007f);
  }
  // A NaN in ST(0) and a denormal memory operand: IE (SNaN) or nothing (QNaN), no DE; a number
  // and a denormal: DE. Their own random stream, so that the cases after them stay the same.
  const nanRng = new Rng(0xde);
  const specials: [bigint, bigint][] = [
    [0x7ff4000000000000n, 0x0000000000000001n], [0x7ff8000000000000n, 0x800fffffffffffffn],
    [0x3ff0000000000000n, 0x0000000000000001n], [0x0000000000000003n, 0x7ff4000000000000n],
  ];
  for (const [mn, ext] of memOps) {
    for (const [a, b] of specials) {
      const { input, data } = x87Input(nanRng, a, b, 0x027f);
      list.add({
        mnemonic: `x87:${mn}.nan-denormal`, form: `fld a; ${mn} qword [b]; fstp m64; fnstsw (a ${a.toString(16)}, b ${b.toString(16)})`,
        code: Uint8Array.from([...FLDCW, ...FLD_A, 0xdc, 0x43 | (ext << 3), 0x08, ...FSTP_R64, ...FNSTSW]), input, data, dataMasks: swMask(swAt), shown: [],
      });
    }
  }
  // Register forms with pop (DE /r): ST1 = ST1 OP ST0, then pop.
  const popOps: [string, number][] = [['faddp', 0xc1], ['fmulp', 0xc9], ['fsubp', 0xe9], ['fsubrp', 0xe1], ['fdivp', 0xf9], ['fdivrp', 0xf1]];
  for (const [mn, modrm] of popOps) {
    for (let k = 0; k < 8; k++) {
      add(mn, `fld a; fld b; ${mn}; fstp m64`, [...FLD_A, ...FLD_B, 0xde, modrm, ...FSTP_R64, ...FNSTSW], pickF64(rng), pickF64(rng), rng.pick(CONTROL_WORDS));
    }
  }
  // One-operand instructions on ST0.
  const unary: [string, number[]][] = [['fsqrt', [0xd9, 0xfa]], ['fabs', [0xd9, 0xe1]], ['fchs', [0xd9, 0xe0]], ['frndint', [0xd9, 0xfc]]];
  for (const [mn, op] of unary) {
    for (let k = 0; k < 12; k++) {
      add(mn, `fld a; ${mn}; fstp m64`, [...FLD_A, ...op, ...FSTP_R64, ...FNSTSW], pickF64(rng), 0n, rng.pick(CONTROL_WORDS));
    }
  }
  for (let k = 0; k < 8; k++) {
    add('fsqrt.ext', 'fld a; fsqrt; fstp m80', [...FLD_A, 0xd9, 0xfa, ...FSTP_R80, ...FNSTSW], pickF64(rng), 0n, rng.pick(EXT_WORDS));
  }
  // FSCALE, FPREM, FPREM1, FXTRACT: two results or quotient bits in C0/C1/C3 (defined there).
  for (let k = 0; k < 10; k++) {
    const small = BigInt(0x4000000000000000n + BigInt(rng.below(8)) * 0x0010000000000000n);
    add('fscale', 'fld b; fld a; fscale; fstp m80; fstp st0', [...FLD_B, ...FLD_A, 0xd9, 0xfd, ...FSTP_R80, 0xdd, 0xd8, ...FNSTSW], pickF64(rng), rng.below(2) ? small : pickF64(rng), 0x027f);
    add('fprem', 'fld b; fld a; fprem; fstp m80; fstp st0', [...FLD_B, ...FLD_A, 0xd9, 0xf8, ...FSTP_R80, 0xdd, 0xd8, ...FNSTSW], randomF64(rng), randomF64(rng), 0x037f, swMask(swAt, 0));
    add('fprem1', 'fld b; fld a; fprem1; fstp m80; fstp st0', [...FLD_B, ...FLD_A, 0xd9, 0xf5, ...FSTP_R80, 0xdd, 0xd8, ...FNSTSW], randomF64(rng), randomF64(rng), 0x037f, swMask(swAt, 0));
    add('fxtract', 'fld a; fxtract; fstp m80; fstp m64', [...FLD_A, 0xd9, 0xf4, ...FSTP_R80, ...FSTP_R64, ...FNSTSW], pickF64(rng), 0n, 0x037f);
  }
  // Comparisons: FCOMI/FUCOMI set ZF/PF/CF (compared as EFLAGS); FCOM/FTST/FXAM set C0-C3.
  for (let k = 0; k < 16; k++) {
    const a = pickF64(rng);
    const b = rng.below(3) ? pickF64(rng) : a;
    add('fcomi', 'fld b; fld a; fcomi st1; fstp st0; fstp st0', [...FLD_B, ...FLD_A, 0xdb, 0xf1, 0xdd, 0xd8, 0xdd, 0xd8, ...FNSTSW], a, b, 0x037f, swMask(swAt, 0));
    add('fucomip', 'fld b; fld a; fucomip st1; fstp st0', [...FLD_B, ...FLD_A, 0xdf, 0xe9, 0xdd, 0xd8, ...FNSTSW], a, b, 0x037f, swMask(swAt, 0));
    add('fcom', 'fld a; fcom qword [b]; fnstsw; fstp st0', [...FLD_A, 0xdc, 0x53, 0x08, ...FNSTSW, 0xdd, 0xd8], a, b, 0x037f, swMask(swAt, 0));
    add('ftst', 'fld a; ftst; fnstsw', [...FLD_A, 0xd9, 0xe4, ...FNSTSW], a, b, 0x037f, swMask(swAt, 0));
    add('fxam', 'fld a; fxam; fnstsw', [...FLD_A, 0xd9, 0xe5, ...FNSTSW], a, b, 0x037f, swMask(swAt, 0));
  }
  // FXAM of an empty register (after FNINIT): C1 takes the sign of the stale register contents.
  add('fxam', 'fxam (empty); fnstsw', [0xd9, 0xe5, ...FNSTSW], 0n, 0n, 0x037f, swMask(swAt, 1 << 9));
  // Integer loads and stores under every rounding mode, with out-of-range values (integer indefinite).
  for (let k = 0; k < 24; k++) {
    const cw = CONTROL_WORDS[k % 4] ?? 0x027f;
    const a = rng.below(3) ? randomF64(rng) : rng.pick(F64);
    add('fistp', 'fld a; fistp dword [r]; fnstsw', [...FLD_A, 0xdb, 0x5b, 0x30, ...FNSTSW], a, 0n, cw);
    add('fistp', 'fld a; fistp qword [r]', [...FLD_A, 0xdf, 0x7b, 0x30, ...FNSTSW], a, 0n, cw);
    add('fistp', 'fld a; fistp word [r]', [...FLD_A, 0xdf, 0x5b, 0x30, ...FNSTSW], a, 0n, cw);
    add('fild', 'fild qword [a]; fstp m64', [0xdf, 0x2b, ...FSTP_R64, ...FNSTSW], rng.u64() >> BigInt(rng.below(64)), 0n, cw);
    add('fild', 'fild dword [a]; fstp m80', [0xdb, 0x03, ...FSTP_R80, ...FNSTSW], rng.u64(), 0n, cw);
    add('fild', 'fild word [a]; fistp dword [r]', [0xdf, 0x03, 0xdb, 0x5b, 0x30, ...FNSTSW], rng.u64(), 0n, cw);
  }
  // Format conversions: m64 -> m32 and m80 -> m64 round per RC and PC; m32 -> m80 is exact.
  for (let k = 0; k < 24; k++) {
    const cw = rng.pick(CONTROL_WORDS);
    add('fst', 'fld a; fstp dword [r]', [...FLD_A, 0xd9, 0x5b, 0x10, ...FNSTSW], pickF64(rng), 0n, cw);
    add('fld', 'fld dword [a]; fstp m80', [0xd9, 0x03, ...FSTP_R80, ...FNSTSW], BigInt(rng.u32()), 0n, cw);
    // An 80-bit value with the explicit integer bit set (a normal number), rounded to m64.
    const m80lo = rng.u64() | 0x8000000000000000n;
    const m80hi = BigInt(0x3fff - 40 + rng.below(80)) | (BigInt(rng.below(2)) << 15n);
    const { input, data } = x87Input(rng, m80lo, m80hi, cw);
    list.add({
      mnemonic: 'x87:fld', form: `fld tword [a]; fstp m64 (cw ${cw.toString(16)})`, code: Uint8Array.from([...FLDCW, 0xdb, 0x2b, ...FSTP_R64, ...FNSTSW]),
      input, data, dataMasks: swMask(swAt), shown: [],
    });
  }
  // Constants, rounded per RC (SDM Vol. 1 §8.3.8), stored in full.
  const constants: [string, number][] = [['fld1', 0xe8], ['fldl2t', 0xe9], ['fldl2e', 0xea], ['fldpi', 0xeb], ['fldlg2', 0xec], ['fldln2', 0xed], ['fldz', 0xee]];
  for (const [mn, op] of constants) {
    for (const cw of EXT_WORDS) add(mn === 'fld1' || mn === 'fldz' ? mn : `${mn}.ext`, `${mn}; fstp m80`, [0xd9, op, ...FSTP_R80, ...FNSTSW], 0n, 0n, cw);
  }
  // Stack manipulation, FCMOVcc (flags from the input), control/status word stores.
  for (let k = 0; k < 8; k++) {
    add('fxch', 'fld a; fld b; fxch; fstp m64; fstp m80', [...FLD_A, ...FLD_B, 0xd9, 0xc9, ...FSTP_R64, ...FSTP_R80, ...FNSTSW], pickF64(rng), pickF64(rng), 0x037f);
    add('fld', 'fld a; fld b; fld st1; fstp m64; fstp st0; fstp st0', [...FLD_A, ...FLD_B, 0xd9, 0xc1, ...FSTP_R64, 0xdd, 0xd8, 0xdd, 0xd8, ...FNSTSW], pickF64(rng), pickF64(rng), 0x037f);
    for (const [mn, modrm] of [['fcmovb', 0xc1], ['fcmove', 0xc9], ['fcmovbe', 0xd1], ['fcmovu', 0xd9]] as const) {
      add(mn, `fld b; fld a; ${mn} st0, st1; fstp m64; fstp st0`, [...FLD_B, ...FLD_A, 0xda, modrm, ...FSTP_R64, 0xdd, 0xd8, ...FNSTSW], pickF64(rng), pickF64(rng), 0x037f);
    }
    add('fnstcw', 'fldcw; fnstcw [r]; fnstsw ax', [0xd9, 0x7b, 0x30, 0xdf, 0xe0], 0n, 0n, rng.pick(CONTROL_WORDS));
    add('fincstp', 'fld a; fincstp; fnstsw; fdecstp; fstp m64', [...FLD_A, 0xd9, 0xf7, ...FNSTSW, 0xd9, 0xf6, ...FSTP_R64], pickF64(rng), 0n, 0x037f, swMask(swAt, 0));
    add('ffree', 'fld a; fld b; ffree st0; fincstp; fstp m64', [...FLD_A, ...FLD_B, 0xdd, 0xc0, 0xd9, 0xf7, ...FSTP_R64, ...FNSTSW], pickF64(rng), pickF64(rng), 0x037f, swMask(swAt, 0));
    // Stack underflow (pop of an empty register): invalid operation with SF set, QNaN indefinite stored.
    add('fstp', 'fstp m64 (empty st0); fnstsw', [...FSTP_R64, ...FNSTSW], 0n, 0n, 0x037f);
  }
  // FNCLEX after a division by zero, FWAIT, EMMS (tags all empty), FBSTP (packed BCD store).
  for (let k = 0; k < 4; k++) {
    add('fnclex', 'fld1; fdiv qword [zero]; fnclex; fnstsw', [0xd9, 0xe8, 0xdc, 0x73, 0x08, 0xdb, 0xe2, ...FNSTSW], 0n, 0n, 0x037f, swMask(swAt, 0));
    add('fwait', 'fld a; fwait; fstp m64', [...FLD_A, 0x9b, ...FSTP_R64, ...FNSTSW], pickF64(rng), 0n, 0x027f);
    // FNSTENV's FIP/FOP/FDP (bytes 12..27) depend on code addresses; TOP after EMMS is 0 on AMD
    // and unchanged per the SDM, so FSW bits 11-13 are masked.
    const envMasks = new Map(Array.from({ length: 16 }, (_, b) => [MEM_BASE_OFFSET + 0x30 + 12 + b, 0] as [number, number]));
    envMasks.set(MEM_BASE_OFFSET + 0x30 + 5, ~0x38 & 0xff);
    add('emms', 'fld a; fld b; emms; fnstenv [r]', [...FLD_A, ...FLD_B, 0x0f, 0x77, 0xd9, 0x73, 0x30], pickF64(rng), pickF64(rng), 0x037f, envMasks);
    const value = BigInt(rng.below(2) ? rng.below(100000) : rng.below(1 << 30)) * (rng.below(2) ? 1n : -1n);
    add('fbstp', 'fild qword [a]; fbstp [r]', [0xdf, 0x2b, 0xdf, 0x73, 0x30, ...FNSTSW], BigInt.asUintN(64, value), 0n, rng.pick(EXT_WORDS));
  }
  // NaN operands, systematically (SDM Vol. 1 §4.8.3.5 and Table 8-10: an SNaN is quieted, of two
  // NaNs the one with the larger significand wins, a NaN operand beats the invalid-operation QNaN).
  const nans = [0x7ff8000000000000n, 0xfff8000000001234n, 0x7ff4000000000000n, 0xfff0000000000001n];
  const normal = 0x4008000000000000n;
  for (const [mn, ext] of memOps) {
    for (const [a, b] of [[nans[0], normal], [normal, nans[1]], [nans[2], normal], [normal, nans[3]], [nans[1], nans[2]], [nans[3], nans[0]]] as [bigint, bigint][]) {
      add(mn, `fld a; ${mn} qword [b]; fstp m80 (NaN operands)`, [...FLD_A, 0xdc, 0x43 | (ext << 3), 0x08, ...FSTP_R80, ...FNSTSW], a, b, 0x037f);
    }
  }
  for (const nan of nans) {
    add('fsqrt', 'fld a; fsqrt; fstp m80 (NaN)', [...FLD_A, 0xd9, 0xfa, ...FSTP_R80, ...FNSTSW], nan, 0n, 0x037f);
    add('frndint', 'fld a; frndint; fstp m80 (NaN)', [...FLD_A, 0xd9, 0xfc, ...FSTP_R80, ...FNSTSW], nan, 0n, 0x037f);
    add('fscale', 'fld b; fld a; fscale; fstp m80; fstp m80 (NaN)', [...FLD_B, ...FLD_A, 0xd9, 0xfd, ...FSTP_R80, ...FSTP_R80, ...FNSTSW], nan, normal, 0x037f);
    add('fscale', 'fld b; fld a; fscale; fstp m80; fstp st0 (NaN scale)', [...FLD_B, ...FLD_A, 0xd9, 0xfd, ...FSTP_R80, 0xdd, 0xd8, ...FNSTSW], normal, nan, 0x037f);
    add('fxtract', 'fld a; fxtract; fstp m80; fstp m64 (NaN)', [...FLD_A, 0xd9, 0xf4, ...FSTP_R80, ...FSTP_R64, ...FNSTSW], nan, 0n, 0x037f);
    add('fprem', 'fld b; fld a; fprem; fstp m80; fstp st0 (NaN)', [...FLD_B, ...FLD_A, 0xd9, 0xf8, ...FSTP_R80, 0xdd, 0xd8, ...FNSTSW], nan, normal, 0x037f);
    add('fst', 'fld a; fstp dword [r] (NaN)', [...FLD_A, 0xd9, 0x5b, 0x10, ...FNSTSW], nan, 0n, 0x037f);
    add('fistp', 'fld a; fistp dword [r] (NaN)', [...FLD_A, 0xdb, 0x5b, 0x30, ...FNSTSW], nan, 0n, 0x037f);
  }
  // FXSAVE after some x87 work: the 512-byte image, minus FIP/FDP/FOP and MXCSR_MASK's upper half.
  for (let k = 0; k < 6; k++) {
    const { input, data } = x87Input(rng, pickF64(rng), pickF64(rng), rng.pick(CONTROL_WORDS));
    const dataMasks = new Map<number, number>();
    for (let b = 6; b < 24; b++) dataMasks.set(MEM_BASE_OFFSET + b, 0);
    dataMasks.set(MEM_BASE_OFFSET + 30, 0);
    dataMasks.set(MEM_BASE_OFFSET + 31, 0);
    // Empty registers hold stale contents natively (FNINIT only tags them empty); the 6 bytes
    // after each 80-bit register are reserved.
    const used = k % 2 ? 3 : 2;
    for (let st = 0; st < 8; st++) {
      for (let b = st < used ? 10 : 0; b < 16; b++) dataMasks.set(MEM_BASE_OFFSET + 32 + 16 * st + b, 0);
    }
    // fldcw; fld a; fld b; [fld1]; fxsave [rbx]
    const code = [...FLDCW, ...FLD_A, ...FLD_B, ...(k % 2 ? [0xd9, 0xe8] : []), 0x0f, 0xae, 0x03];
    list.add({ mnemonic: 'x87:fxsave', form: `fld a; fld b${k % 2 ? '; fld1' : ''}; fxsave [rbx]`, code: Uint8Array.from(code), input, data, dataMasks, shown: [] });
  }
}
