// Differential cases for SSE/SSE2 (SDM Vol. 1 ch. 10-11, Vol. 2 per instruction): moves, packed
// integer arithmetic, shifts, pack/unpack, shuffles, PMOVMSKB, float arithmetic, comparisons,
// conversions under every MXCSR rounding mode, (U)COMISS/SD flags, MIN/MAX, SQRT.
//
// All MXCSR exceptions stay masked (the default 0x1f80), so results include the default QNaN and
// the integer indefinite value, and the sticky exception flags are compared too. RCPPS/RSQRTPS are
// left out: their approximations differ between CPU vendors.

import { RAX, RBX, RCX, RDX, R9, R11, concat, encode, memName, regName } from './diff-asm.js';
import { DATA_ADDRESS, MXCSR_DEFAULT, baseInput, type CaseList, type DiffInput, type Rng } from './diff-case-kit.js';
import { MEM_BASE_OFFSET, putBytes } from './diff-cases-int.js';

type Pfx = 0 | 0x66 | 0xf3 | 0xf2;

const F64_SPECIALS: bigint[] = [
  0x0000000000000000n, 0x8000000000000000n, 0x3ff0000000000000n, 0xbff0000000000000n, 0x3ff8000000000000n,
  0x4004000000000000n, 0xc004000000000000n, 0x3fb999999999999an, 0x4008000000000000n, 0x7fe1ccf385ebc8a0n,
  0x7fefffffffffffffn, 0x0010000000000000n, 0x0000000000000001n, 0x000fffffffffffffn, 0x7ff0000000000000n,
  0xfff0000000000000n, 0x7ff8000000000000n, 0x7ff8000000001234n, 0xfff8000000000000n, 0x7ff0000000000001n,
  0x41e0000000000000n, 0xc1e0000000000000n, 0x41dfffffffe00000n, 0x43e0000000000000n, 0xc3e0000000000000n,
  0x4340000000000001n, 0x41efffffffe00000n, 0x3fe0000000000000n, 0xbfe0000000000000n, 0x3ff0000000000001n,
];
const F32_SPECIALS: number[] = [
  0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x3fc00000, 0x40200000, 0xc0200000, 0x3dcccccd, 0x40400000,
  0x7f7fffff, 0x00800000, 0x00000001, 0x007fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0x7fc01234, 0xffc00000,
  0x7f800001, 0x4f000000, 0xcf000000, 0x4effffff, 0x5f000000, 0xdf000000, 0x3f000000, 0xbf000000, 0x3f800001,
  0x4b800001,
];

/** A random double that is an ordinary number of moderate size, as raw bits. */
function randomF64(rng: Rng): bigint {
  const exp = BigInt(1023 - 40 + rng.below(80));
  return (BigInt(rng.below(2)) << 63n) | (exp << 52n) | (rng.u64() & 0xfffffffffffffn);
}
function randomF32(rng: Rng): number {
  const exp = 127 - 20 + rng.below(40);
  return ((rng.below(2) << 31) | (exp << 23) | (rng.u32() & 0x7fffff)) >>> 0;
}

function f64Lanes(rng: Rng): bigint {
  const lane = (): bigint => (rng.below(2) ? rng.pick(F64_SPECIALS) : randomF64(rng));
  return (lane() << 64n) | lane();
}
function f32Lanes(rng: Rng): bigint {
  let v = 0n;
  for (let k = 0; k < 4; k++) v |= BigInt(rng.below(2) ? rng.pick(F32_SPECIALS) : randomF32(rng)) << BigInt(32 * k);
  return v;
}
/** 16 bytes, a quarter of them boundary bytes (00, 7F, 80, FF) to hit saturation and sign cases. */
function intLanes(rng: Rng): bigint {
  let v = 0n;
  for (let k = 0; k < 16; k++) {
    const b = rng.below(4) === 0 ? rng.pick([0x00, 0x7f, 0x80, 0xff]) : rng.u32() & 0xff;
    v |= BigInt(b) << BigInt(8 * k);
  }
  return v;
}

type Kind = 'int' | 'ps' | 'pd' | 'ss' | 'sd';
function lanesFor(rng: Rng, kind: Kind): bigint {
  return kind === 'int' ? intLanes(rng) : kind === 'ps' || kind === 'ss' ? f32Lanes(rng) : f64Lanes(rng);
}

interface XmmOp {
  mn: string;
  pfx: Pfx;
  op: number[];
  kind: Kind;
  /** Immediate byte values to try (shuffles, compares). */
  imms?: number[];
  /** Run under each MXCSR rounding mode. */
  rounding?: boolean;
}

const PACKED_INT: [string, number][] = [
  ['paddb', 0xfc], ['paddw', 0xfd], ['paddd', 0xfe], ['paddq', 0xd4], ['psubb', 0xf8], ['psubw', 0xf9],
  ['psubd', 0xfa], ['psubq', 0xfb], ['paddsb', 0xec], ['paddsw', 0xed], ['paddusb', 0xdc], ['paddusw', 0xdd],
  ['psubsb', 0xe8], ['psubsw', 0xe9], ['psubusb', 0xd8], ['psubusw', 0xd9], ['pmullw', 0xd5], ['pmulhw', 0xe5],
  ['pmulhuw', 0xe4], ['pmuludq', 0xf4], ['pmaddwd', 0xf5], ['pand', 0xdb], ['pandn', 0xdf], ['por', 0xeb],
  ['pxor', 0xef], ['pcmpeqb', 0x74], ['pcmpeqw', 0x75], ['pcmpeqd', 0x76], ['pcmpgtb', 0x64], ['pcmpgtw', 0x65],
  ['pcmpgtd', 0x66], ['pminub', 0xda], ['pmaxub', 0xde], ['pminsw', 0xea], ['pmaxsw', 0xee], ['pavgb', 0xe0],
  ['pavgw', 0xe3], ['psadbw', 0xf6], ['packsswb', 0x63], ['packssdw', 0x6b], ['packuswb', 0x67],
  ['punpcklbw', 0x60], ['punpcklwd', 0x61], ['punpckldq', 0x62], ['punpcklqdq', 0x6c], ['punpckhbw', 0x68],
  ['punpckhwd', 0x69], ['punpckhdq', 0x6a], ['punpckhqdq', 0x6d], ['psllw', 0xf1], ['pslld', 0xf2],
  ['psllq', 0xf3], ['psrlw', 0xd1], ['psrld', 0xd2], ['psrlq', 0xd3], ['psraw', 0xe1], ['psrad', 0xe2],
];

function xmmOps(): XmmOp[] {
  const ops: XmmOp[] = PACKED_INT.map(([mn, op]) => ({ mn, pfx: 0x66, op: [0x0f, op], kind: 'int' }));
  ops.push(
    { mn: 'pshufd', pfx: 0x66, op: [0x0f, 0x70], kind: 'int', imms: [0x1b, 0x00, 0xe4, 0x4e] },
    { mn: 'pshuflw', pfx: 0xf2, op: [0x0f, 0x70], kind: 'int', imms: [0x1b, 0xb1] },
    { mn: 'pshufhw', pfx: 0xf3, op: [0x0f, 0x70], kind: 'int', imms: [0x1b, 0xb1] },
    { mn: 'movdqa', pfx: 0x66, op: [0x0f, 0x6f], kind: 'int' },
    { mn: 'movdqu', pfx: 0xf3, op: [0x0f, 0x6f], kind: 'int' },
    { mn: 'movaps', pfx: 0, op: [0x0f, 0x28], kind: 'ps' },
    { mn: 'movups', pfx: 0, op: [0x0f, 0x10], kind: 'ps' },
    { mn: 'movapd', pfx: 0x66, op: [0x0f, 0x28], kind: 'pd' },
    { mn: 'movss', pfx: 0xf3, op: [0x0f, 0x10], kind: 'ss' },
    { mn: 'movsd', pfx: 0xf2, op: [0x0f, 0x10], kind: 'sd' },
    { mn: 'movq', pfx: 0xf3, op: [0x0f, 0x7e], kind: 'int' },
    { mn: 'unpcklps', pfx: 0, op: [0x0f, 0x14], kind: 'ps' },
    { mn: 'unpckhps', pfx: 0, op: [0x0f, 0x15], kind: 'ps' },
    { mn: 'unpcklpd', pfx: 0x66, op: [0x0f, 0x14], kind: 'pd' },
    { mn: 'unpckhpd', pfx: 0x66, op: [0x0f, 0x15], kind: 'pd' },
    { mn: 'shufps', pfx: 0, op: [0x0f, 0xc6], kind: 'ps', imms: [0x1b, 0x44, 0xe4, 0x00] },
    { mn: 'shufpd', pfx: 0x66, op: [0x0f, 0xc6], kind: 'pd', imms: [0, 1, 2, 3] },
    { mn: 'andps', pfx: 0, op: [0x0f, 0x54], kind: 'ps' },
    { mn: 'andnps', pfx: 0, op: [0x0f, 0x55], kind: 'ps' },
    { mn: 'orps', pfx: 0, op: [0x0f, 0x56], kind: 'ps' },
    { mn: 'xorps', pfx: 0, op: [0x0f, 0x57], kind: 'ps' },
    { mn: 'andpd', pfx: 0x66, op: [0x0f, 0x54], kind: 'pd' },
    { mn: 'andnpd', pfx: 0x66, op: [0x0f, 0x55], kind: 'pd' },
    { mn: 'orpd', pfx: 0x66, op: [0x0f, 0x56], kind: 'pd' },
    { mn: 'xorpd', pfx: 0x66, op: [0x0f, 0x57], kind: 'pd' },
    { mn: 'movupd', pfx: 0x66, op: [0x0f, 0x10], kind: 'pd' },
  );
  const fpArith: [string, number][] = [['add', 0x58], ['mul', 0x59], ['sub', 0x5c], ['min', 0x5d], ['div', 0x5e], ['max', 0x5f], ['sqrt', 0x51]];
  const fpKinds: [string, Pfx, Kind][] = [['ps', 0, 'ps'], ['pd', 0x66, 'pd'], ['ss', 0xf3, 'ss'], ['sd', 0xf2, 'sd']];
  for (const [base, op] of fpArith) {
    for (const [suffix, pfx, kind] of fpKinds) ops.push({ mn: base + suffix, pfx, op: [0x0f, op], kind, rounding: base !== 'min' && base !== 'max' });
  }
  for (const [suffix, pfx, kind] of fpKinds) ops.push({ mn: 'cmp' + suffix, pfx, op: [0x0f, 0xc2], kind, imms: [0, 1, 2, 3, 4, 5, 6, 7] });
  ops.push(
    { mn: 'ucomiss', pfx: 0, op: [0x0f, 0x2e], kind: 'ss' },
    { mn: 'comiss', pfx: 0, op: [0x0f, 0x2f], kind: 'ss' },
    { mn: 'ucomisd', pfx: 0x66, op: [0x0f, 0x2e], kind: 'sd' },
    { mn: 'comisd', pfx: 0x66, op: [0x0f, 0x2f], kind: 'sd' },
    { mn: 'cvtss2sd', pfx: 0xf3, op: [0x0f, 0x5a], kind: 'ss', rounding: true },
    { mn: 'cvtsd2ss', pfx: 0xf2, op: [0x0f, 0x5a], kind: 'sd', rounding: true },
    { mn: 'cvtps2pd', pfx: 0, op: [0x0f, 0x5a], kind: 'ps', rounding: true },
    { mn: 'cvtpd2ps', pfx: 0x66, op: [0x0f, 0x5a], kind: 'pd', rounding: true },
    { mn: 'cvtdq2ps', pfx: 0, op: [0x0f, 0x5b], kind: 'int', rounding: true },
    { mn: 'cvtps2dq', pfx: 0x66, op: [0x0f, 0x5b], kind: 'ps', rounding: true },
    { mn: 'cvttps2dq', pfx: 0xf3, op: [0x0f, 0x5b], kind: 'ps', rounding: true },
    { mn: 'cvtdq2pd', pfx: 0xf3, op: [0x0f, 0xe6], kind: 'int', rounding: true },
    { mn: 'cvttpd2dq', pfx: 0x66, op: [0x0f, 0xe6], kind: 'pd', rounding: true },
    { mn: 'cvtpd2dq', pfx: 0xf2, op: [0x0f, 0xe6], kind: 'pd', rounding: true },
  );
  return ops;
}

const XMM_PAIRS: [number, number][] = [[1, 2], [0, 7], [9, 3], [14, 15], [5, 5]];
const ROUNDING_MODES = [0, 1, 2, 3];
const MEM_DISPS_16 = [0, 0x10, 0x40, -0x40];

function mxcsrFor(rng: Rng, rounding: boolean, k: number): number {
  if (!rounding) return MXCSR_DEFAULT;
  const rc = ROUNDING_MODES[k % 4] ?? 0;
  // Now and then flush-to-zero and denormals-are-zero too.
  const ftzDaz = rng.below(8) === 0 ? 0x8040 : 0;
  return MXCSR_DEFAULT | (rc << 13) | ftzDaz;
}

function xmmRegRegCases(list: CaseList, o: XmmOp): void {
  const rng = list.rng;
  const imms = o.imms ?? [-1];
  const perImm = o.imms ? 3 : o.rounding ? 16 : 10;
  for (const imm of imms) {
    for (let k = 0; k < perImm; k++) {
      const [dst, src] = rng.pick(XMM_PAIRS);
      const input = baseInput(rng);
      input.xmm[dst] = lanesFor(rng, o.kind);
      input.xmm[src] = lanesFor(rng, o.kind);
      // Shift counts from a register: mostly small so that some lanes survive.
      if (o.mn.startsWith('ps') && o.kind === 'int' && rng.below(3) !== 0) input.xmm[src] = BigInt(rng.below(70));
      input.mxcsr = mxcsrFor(rng, o.rounding ?? false, k);
      list.add({
        mnemonic: o.mn, form: `${o.mn} xmm${dst}, xmm${src}${imm >= 0 ? `, 0x${imm.toString(16)}` : ''}${input.mxcsr !== MXCSR_DEFAULT ? ` (mxcsr ${input.mxcsr.toString(16)})` : ''}`,
        code: encode({ prefixes: o.pfx ? [o.pfx] : [], op: o.op, reg: dst, rm: src, ...(imm >= 0 ? { imm, immBytes: 1 as const } : {}) }),
        input, shown: [], shownXmm: [dst, src],
      });
    }
  }
}

/** Puts a 128-bit value into the data page at [rbx+disp] (RBX = data + MEM_BASE_OFFSET). */
function xmmMem(rng: Rng, input: DiffInput, data: Uint8Array, value: bigint): { base: number; disp: number } {
  const disp = rng.pick(MEM_DISPS_16);
  input.gpr[RBX] = BigInt(DATA_ADDRESS + MEM_BASE_OFFSET);
  putBytes(data, MEM_BASE_OFFSET + disp, value, 16);
  return { base: RBX, disp };
}

function xmmMemCases(list: CaseList, o: XmmOp): void {
  const rng = list.rng;
  for (let k = 0; k < 2; k++) {
    const input = baseInput(rng);
    const data = rng.bytes(512);
    const dst = rng.pick([1, 8, 12]);
    input.xmm[dst] = lanesFor(rng, o.kind);
    const m = xmmMem(rng, input, data, lanesFor(rng, o.kind));
    const imm = o.imms ? rng.pick(o.imms) : -1;
    list.add({
      mnemonic: o.mn, form: `${o.mn} xmm${dst}, ${memName(m)}`,
      code: encode({ prefixes: o.pfx ? [o.pfx] : [], op: o.op, reg: dst, rm: m, ...(imm >= 0 ? { imm, immBytes: 1 as const } : {}) }),
      input, data, shown: [RBX], shownXmm: [dst],
    });
  }
}

/** Stores, immediate shifts, GPR<->XMM moves, mask extraction and scalar conversions with GPRs. */
function specialCases(list: CaseList): void {
  const rng = list.rng;
  const stores: [string, Pfx, number[]][] = [
    ['movdqa', 0x66, [0x0f, 0x7f]], ['movdqu', 0xf3, [0x0f, 0x7f]], ['movaps', 0, [0x0f, 0x29]], ['movups', 0, [0x0f, 0x11]],
    ['movss', 0xf3, [0x0f, 0x11]], ['movsd', 0xf2, [0x0f, 0x11]], ['movq', 0x66, [0x0f, 0xd6]], ['movlps', 0, [0x0f, 0x13]],
    ['movhps', 0, [0x0f, 0x17]], ['movntdq', 0x66, [0x0f, 0xe7]], ['movlpd', 0x66, [0x0f, 0x13]], ['movhpd', 0x66, [0x0f, 0x17]],
  ];
  for (const [mn, pfx, op] of stores) {
    for (let k = 0; k < 2; k++) {
      const input = baseInput(rng);
      const data = rng.bytes(512);
      const m = xmmMem(rng, input, data, 0n);
      const src = rng.pick([2, 10]);
      list.add({
        mnemonic: mn, form: `${mn} ${memName(m)}, xmm${src}`,
        code: encode({ prefixes: pfx ? [pfx] : [], op, reg: src, rm: m }), input, data, shown: [RBX], shownXmm: [src],
      });
    }
  }
  const halfLoads: [string, Pfx, number[]][] = [['movlps', 0, [0x0f, 0x12]], ['movhps', 0, [0x0f, 0x16]], ['movlpd', 0x66, [0x0f, 0x12]], ['movhpd', 0x66, [0x0f, 0x16]]];
  for (const [mn, pfx, op] of halfLoads) {
    const input = baseInput(rng);
    const data = rng.bytes(512);
    const m = xmmMem(rng, input, data, rng.u64());
    list.add({ mnemonic: mn, form: `${mn} xmm4, ${memName(m)}`, code: encode({ prefixes: pfx ? [pfx] : [], op, reg: 4, rm: m }), input, data, shown: [RBX], shownXmm: [4] });
  }
  for (const [mn, op] of [['movhlps', 0x12], ['movlhps', 0x16]] as const) {
    for (const [dst, src] of XMM_PAIRS) {
      list.add({ mnemonic: mn, form: `${mn} xmm${dst}, xmm${src}`, code: encode({ op: [0x0f, op], reg: dst, rm: src }), input: baseInput(rng), shown: [], shownXmm: [dst, src] });
    }
  }
  // Shifts by immediate: 66 0F 71/72/73 /ext ib.
  const immShifts: [string, number, number][] = [
    ['psrlw', 0x71, 2], ['psraw', 0x71, 4], ['psllw', 0x71, 6], ['psrld', 0x72, 2], ['psrad', 0x72, 4], ['pslld', 0x72, 6],
    ['psrlq', 0x73, 2], ['psrldq', 0x73, 3], ['psllq', 0x73, 6], ['pslldq', 0x73, 7],
  ];
  for (const [mn, op, ext] of immShifts) {
    for (const count of [0, 1, 3, 7, 8, 15, 16, 31, 32, 63, 64, 200]) {
      const input = baseInput(rng);
      input.xmm[11] = intLanes(rng);
      list.add({ mnemonic: mn, form: `${mn} xmm11, ${count}`, code: encode({ prefixes: [0x66], op: [0x0f, op], reg: ext, rm: 11, imm: count, immBytes: 1 }), input, shown: [], shownXmm: [11] });
    }
  }
  // GPR <-> XMM.
  for (const size of [4, 8] as const) {
    for (let k = 0; k < 3; k++) {
      list.add({ mnemonic: size === 4 ? 'movd' : 'movq', form: `mov${size === 4 ? 'd' : 'q'} xmm3, ${regName(R9, size)}`, code: encode({ prefixes: [0x66], size, op: [0x0f, 0x6e], reg: 3, rm: R9 }), input: baseInput(rng), shown: [R9], shownXmm: [3] });
      list.add({ mnemonic: size === 4 ? 'movd' : 'movq', form: `mov${size === 4 ? 'd' : 'q'} ${regName(RCX, size)}, xmm13`, code: encode({ prefixes: [0x66], size, op: [0x0f, 0x7e], reg: 13, rm: RCX }), input: baseInput(rng), shown: [RCX], shownXmm: [13] });
    }
  }
  for (let k = 0; k < 6; k++) {
    const input = baseInput(rng);
    input.xmm[6] = intLanes(rng);
    list.add({ mnemonic: 'pmovmskb', form: 'pmovmskb edx, xmm6', code: encode({ prefixes: [0x66], op: [0x0f, 0xd7], reg: RDX, rm: 6 }), input, shown: [RDX], shownXmm: [6] });
    const input2 = baseInput(rng);
    input2.xmm[6] = f32Lanes(rng);
    list.add({ mnemonic: 'movmskps', form: 'movmskps eax, xmm6', code: encode({ op: [0x0f, 0x50], reg: RAX, rm: 6 }), input: input2, shown: [RAX], shownXmm: [6] });
    const input3 = baseInput(rng);
    input3.xmm[9] = f64Lanes(rng);
    list.add({ mnemonic: 'movmskpd', form: 'movmskpd r11d, xmm9', code: encode({ prefixes: [0x66], op: [0x0f, 0x50], reg: R11, rm: 9 }), input: input3, shown: [R11], shownXmm: [9] });
    const input4 = baseInput(rng);
    list.add({ mnemonic: 'pextrw', form: `pextrw ecx, xmm2, ${k}`, code: encode({ prefixes: [0x66], op: [0x0f, 0xc5], reg: RCX, rm: 2, imm: k + (k > 3 ? 4 : 0), immBytes: 1 }), input: input4, shown: [RCX], shownXmm: [2] });
    const input5 = baseInput(rng);
    list.add({ mnemonic: 'pinsrw', form: `pinsrw xmm2, ecx, ${k}`, code: encode({ prefixes: [0x66], op: [0x0f, 0xc4], reg: 2, rm: RCX, imm: k * 3, immBytes: 1 }), input: input5, shown: [RCX], shownXmm: [2] });
  }
  // Scalar conversions between XMM and GPRs, in every rounding mode.
  const intToFp: [string, number][] = [['cvtsi2ss', 0xf3], ['cvtsi2sd', 0xf2]];
  for (const [mn, pfx] of intToFp) {
    for (const size of [4, 8] as const) {
      for (let k = 0; k < 12; k++) {
        const input = baseInput(rng);
        const v = k < 4 ? [0n, 0xffffffffffffffffn, 0x7fffffffffffffffn, 0x8000000000000001n][k] ?? 0n : rng.u64() >> BigInt(rng.below(64));
        input.gpr[RDX] = v;
        input.mxcsr = mxcsrFor(rng, true, k);
        list.add({
          mnemonic: mn, form: `${mn} xmm5, ${regName(RDX, size)} (mxcsr ${input.mxcsr.toString(16)})`,
          code: encode({ prefixes: [pfx], size, op: [0x0f, 0x2a], reg: 5, rm: RDX }), input, shown: [RDX], shownXmm: [5],
        });
      }
    }
  }
  const fpToInt: [string, number, number, 'ss' | 'sd'][] = [
    ['cvtss2si', 0xf3, 0x2d, 'ss'], ['cvttss2si', 0xf3, 0x2c, 'ss'], ['cvtsd2si', 0xf2, 0x2d, 'sd'], ['cvttsd2si', 0xf2, 0x2c, 'sd'],
  ];
  for (const [mn, pfx, op, kind] of fpToInt) {
    for (const size of [4, 8] as const) {
      for (let k = 0; k < 16; k++) {
        const input = baseInput(rng);
        input.xmm[7] = lanesFor(rng, kind);
        input.mxcsr = mxcsrFor(rng, true, k);
        list.add({
          mnemonic: mn, form: `${mn} ${regName(R9, size)}, xmm7 (mxcsr ${input.mxcsr.toString(16)})`,
          code: encode({ prefixes: [pfx], size, op: [0x0f, op], reg: R9, rm: 7 }), input, shown: [R9], shownXmm: [7],
        });
      }
    }
  }
  // Memory forms of GPR-sized operands, non-temporal stores, MASKMOVDQU (stores to [RDI]).
  const memForms: [string, Pfx, number[], number, number][] = [
    ['movd', 0x66, [0x0f, 0x6e], 3, 4], ['movq', 0xf3, [0x0f, 0x7e], 3, 8], ['cvtsi2sd', 0xf2, [0x0f, 0x2a], 4, 4],
    ['cvtsi2ss', 0xf3, [0x0f, 0x2a], 4, 4], ['cvttsd2si', 0xf2, [0x0f, 0x2c], RDX, 8], ['pinsrw', 0x66, [0x0f, 0xc4], 5, 2],
    ['movnti', 0, [0x0f, 0xc3], RCX, 4], ['movntps', 0, [0x0f, 0x2b], 6, 16], ['movntpd', 0x66, [0x0f, 0x2b], 6, 16], ['movd', 0x66, [0x0f, 0x7e], 7, 4],
  ];
  for (const [mn, pfx, op, reg, bytes] of memForms) {
    for (let k = 0; k < 3; k++) {
      const input = baseInput(rng);
      const data = rng.bytes(512);
      const m = xmmMem(rng, input, data, bytes === 8 && mn === 'cvttsd2si' ? randomF64(rng) : (rng.u64() << 64n) | rng.u64());
      list.add({
        mnemonic: mn, form: `${mn} (memory form)`,
        code: encode({ prefixes: pfx ? [pfx] : [], ...(mn === 'cvttsd2si' ? { size: 8 as const } : {}), op, reg, rm: m, ...(mn === 'pinsrw' ? { imm: k * 3, immBytes: 1 as const } : {}) }),
        input, data, shown: [RBX, RCX, RDX], shownXmm: [reg],
      });
    }
  }
  for (let k = 0; k < 4; k++) {
    const input = baseInput(rng);
    input.gpr[7] = BigInt(DATA_ADDRESS + 0x100 + k * 3);
    input.xmm[2] = intLanes(rng);
    list.add({
      mnemonic: 'maskmovdqu', form: 'maskmovdqu xmm1, xmm2 ([rdi])', code: encode({ prefixes: [0x66], op: [0x0f, 0xf7], reg: 1, rm: 2 }),
      input, shown: [7], shownXmm: [1, 2],
    });
  }
  // LDMXCSR/STMXCSR round trip through the data page.
  for (const value of [0x1f80, 0x3f80, 0x5f80, 0x7f80, 0x9fc0, 0x1f81]) {
    const input = baseInput(rng);
    const data = rng.bytes(512);
    input.gpr[RBX] = BigInt(DATA_ADDRESS + MEM_BASE_OFFSET);
    putBytes(data, MEM_BASE_OFFSET, BigInt(value), 4);
    list.add({
      mnemonic: 'ldmxcsr', form: `ldmxcsr [rbx] (0x${value.toString(16)}); stmxcsr [rbx+4]`,
      code: concat(encode({ op: [0x0f, 0xae], reg: 2, rm: { base: RBX } }), encode({ op: [0x0f, 0xae], reg: 3, rm: { base: RBX, disp: 4 } })),
      input, data, shown: [RBX],
    });
  }
}

/**
 * NaN operands, systematically, for the scalar double and packed single arithmetic (SDM Vol. 1
 * §4.8.3.5 Table 4-7: SSE returns the first source NaN, quieted, else the second; MIN/MAX return
 * the second source when either is a NaN; an invalid operation gives the negative default QNaN).
 */
function nanCases(list: CaseList): void {
  const rng = list.rng;
  const d = [0x7ff8000000000000n, 0xfff8000000001234n, 0x7ff4000000000000n, 0xfff0000000000001n, 0x4008000000000000n, 0x7ff0000000000000n];
  const f = [0x7fc00000n, 0xffc01234n, 0x7fa00000n, 0xff800001n, 0x40400000n, 0x7f800000n];
  const sd: [string, number][] = [['addsd', 0x58], ['mulsd', 0x59], ['subsd', 0x5c], ['minsd', 0x5d], ['divsd', 0x5e], ['maxsd', 0x5f], ['sqrtsd', 0x51], ['cvtsd2ss', 0x5a]];
  const ps: [string, number][] = [['addps', 0x58], ['mulps', 0x59], ['subps', 0x5c], ['minps', 0x5d], ['divps', 0x5e], ['maxps', 0x5f], ['sqrtps', 0x51]];
  for (const [mn, op] of sd) {
    for (let k = 0; k < 8; k++) {
      const input = baseInput(rng);
      input.xmm[1] = (rng.u64() << 64n) | rng.pick(d);
      input.xmm[2] = (rng.u64() << 64n) | rng.pick(d);
      list.add({ mnemonic: mn, form: `${mn} xmm1, xmm2 (NaN operands)`, code: encode({ prefixes: [0xf2], op: [0x0f, op], reg: 1, rm: 2 }), input, shown: [], shownXmm: [1, 2] });
    }
  }
  for (const [mn, op] of ps) {
    for (let k = 0; k < 4; k++) {
      const input = baseInput(rng);
      let a = 0n;
      let b = 0n;
      for (let lane = 0; lane < 4; lane++) {
        a |= rng.pick(f) << BigInt(32 * lane);
        b |= rng.pick(f) << BigInt(32 * lane);
      }
      input.xmm[3] = a;
      input.xmm[4] = b;
      list.add({ mnemonic: mn, form: `${mn} xmm3, xmm4 (NaN operands)`, code: encode({ op: [0x0f, op], reg: 3, rm: 4 }), input, shown: [], shownXmm: [3, 4] });
    }
  }
  for (const [mn, pfx, op] of [['ucomisd', 0x66, 0x2e], ['comisd', 0x66, 0x2f]] as const) {
    for (const a of d.slice(0, 4)) {
      const input = baseInput(rng);
      input.xmm[0] = a;
      input.xmm[5] = rng.pick(d);
      list.add({ mnemonic: mn, form: `${mn} xmm0, xmm5 (NaN operands)`, code: encode({ prefixes: [pfx], op: [0x0f, op], reg: 0, rm: 5 }), input, shown: [], shownXmm: [0, 5] });
    }
  }
}

export function addSseCases(list: CaseList): void {
  for (const o of xmmOps()) {
    xmmRegRegCases(list, o);
    xmmMemCases(list, o);
  }
  specialCases(list);
  nanCases(list);
}
