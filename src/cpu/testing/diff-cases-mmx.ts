// Differential cases for MMX and the MMX forms of the SSE/SSE2 integer instructions (SDM Vol. 1
// ch. 9; mnemonics "mmx:..."). MM registers alias the x87 registers and are not part of the
// compared state, so each case loads its operands from the data page, operates, and stores the
// result back: movq mm1, [rbx]; movq mm2, [rbx+8]; OP mm1, mm2; movq [rbx+0x10], mm1; emms.

import { RAX, RBX, RCX, R9, encode } from './diff-asm.js';
import { DATA_ADDRESS, baseInput, type CaseList, type Rng } from './diff-case-kit.js';
import { MEM_BASE_OFFSET, putBytes } from './diff-cases-int.js';

/** 0F-map MMX opcodes (no prefix) taking mm, mm/m64. */
const MMX_OPS: [string, number][] = [
  ['paddb', 0xfc], ['paddw', 0xfd], ['paddd', 0xfe], ['paddq', 0xd4], ['psubb', 0xf8], ['psubw', 0xf9], ['psubd', 0xfa],
  ['psubq', 0xfb], ['paddsb', 0xec], ['paddsw', 0xed], ['paddusb', 0xdc], ['paddusw', 0xdd], ['psubsb', 0xe8], ['psubsw', 0xe9],
  ['psubusb', 0xd8], ['psubusw', 0xd9], ['pmullw', 0xd5], ['pmulhw', 0xe5], ['pmulhuw', 0xe4], ['pmuludq', 0xf4], ['pmaddwd', 0xf5],
  ['pand', 0xdb], ['pandn', 0xdf], ['por', 0xeb], ['pxor', 0xef], ['pcmpeqb', 0x74], ['pcmpeqw', 0x75], ['pcmpeqd', 0x76],
  ['pcmpgtb', 0x64], ['pcmpgtw', 0x65], ['pcmpgtd', 0x66], ['pminub', 0xda], ['pmaxub', 0xde], ['pminsw', 0xea], ['pmaxsw', 0xee],
  ['pavgb', 0xe0], ['pavgw', 0xe3], ['psadbw', 0xf6], ['packsswb', 0x63], ['packssdw', 0x6b], ['packuswb', 0x67],
  ['punpcklbw', 0x60], ['punpcklwd', 0x61], ['punpckldq', 0x62], ['punpckhbw', 0x68], ['punpckhwd', 0x69], ['punpckhdq', 0x6a],
  ['psllw', 0xf1], ['pslld', 0xf2], ['psllq', 0xf3], ['psrlw', 0xd1], ['psrld', 0xd2], ['psrlq', 0xd3], ['psraw', 0xe1], ['psrad', 0xe2],
];

// movq mm1, [rbx]; movq mm2, [rbx+8]
const LOAD = [0x0f, 0x6f, 0x0b, 0x0f, 0x6f, 0x53, 0x08];
// movq [rbx+0x10], mm1; emms
const STORE = [0x0f, 0x7f, 0x4b, 0x10, 0x0f, 0x77];

function mmxBytes(rng: Rng): bigint {
  let v = 0n;
  for (let k = 0; k < 8; k++) {
    const b = rng.below(4) === 0 ? rng.pick([0x00, 0x7f, 0x80, 0xff]) : rng.u32() & 0xff;
    v |= BigInt(b) << BigInt(8 * k);
  }
  return v;
}

export function addMmxCases(list: CaseList): void {
  const rng = list.rng;
  const add = (mn: string, form: string, op: number[], a: bigint, b: bigint, shown: number[] = [RBX]): void => {
    const input = baseInput(rng);
    const data = rng.bytes(512);
    input.gpr[RBX] = BigInt(DATA_ADDRESS + MEM_BASE_OFFSET);
    putBytes(data, MEM_BASE_OFFSET, a, 8);
    putBytes(data, MEM_BASE_OFFSET + 8, b, 8);
    list.add({ mnemonic: `mmx:${mn}`, form, code: Uint8Array.from([...LOAD, ...op, ...STORE]), input, data, shown });
  };
  for (const [mn, op] of MMX_OPS) {
    for (let k = 0; k < 6; k++) {
      // Shift counts come from the second operand: mostly small.
      const b = mn.startsWith('ps') && /^ps(ll|rl|ra)/.test(mn) && k < 4 ? BigInt(rng.below(70)) : mmxBytes(rng);
      add(mn, `${mn} mm1, mm2`, [0x0f, op, 0xca], mmxBytes(rng), b);
    }
  }
  // Shifts by immediate: 0F 71/72/73 /2 /4 /6 ib on mm1.
  for (const [mn, op, ext] of [['psrlw', 0x71, 2], ['psraw', 0x71, 4], ['psllw', 0x71, 6], ['psrld', 0x72, 2], ['psrad', 0x72, 4], ['pslld', 0x72, 6], ['psrlq', 0x73, 2], ['psllq', 0x73, 6]] as const) {
    for (const count of [0, 1, 7, 15, 16, 31, 33, 64]) add(mn, `${mn} mm1, ${count}`, [0x0f, op, 0xc0 | (ext << 3) | 1, count], mmxBytes(rng), 0n);
  }
  for (let k = 0; k < 4; k++) {
    add('pshufw', `pshufw mm1, mm2, imm`, [0x0f, 0x70, 0xca, rng.below(256)], mmxBytes(rng), mmxBytes(rng));
    add('pinsrw', 'pinsrw mm1, ecx, imm', [0x0f, 0xc4, 0xc9, k], mmxBytes(rng), 0n, [RBX, RCX]);
    // movd mm1, ecx / movq mm1, r9 (REX.W) replace the loaded value.
    add('movd', 'movd mm1, ecx', encodeArr({ op: [0x0f, 0x6e], reg: 1, rm: RCX }), mmxBytes(rng), 0n, [RBX, RCX]);
    add('movq', 'movq mm1, r9', encodeArr({ size: 8, op: [0x0f, 0x6e], reg: 1, rm: R9 }), mmxBytes(rng), 0n, [RBX, R9]);
    // Results in GPRs: pmovmskb, pextrw, movd r32, mm.
    add('pmovmskb', 'pmovmskb eax, mm2', [0x0f, 0xd7, 0xc2], 0n, mmxBytes(rng), [RBX, RAX]);
    add('pextrw', 'pextrw eax, mm2, imm', [0x0f, 0xc5, 0xc2, k], 0n, mmxBytes(rng), [RBX, RAX]);
    add('movd', 'movd eax, mm2', [0x0f, 0x7e, 0xd0], 0n, mmxBytes(rng), [RBX, RAX]);
  }
  // MMX <-> XMM moves and conversions (SDM Vol. 1 §11.6.13 / per instruction).
  for (let k = 0; k < 4; k++) {
    add('movq2dq', 'movq2dq xmm3, mm2', [0xf3, 0x0f, 0xd6, 0xda], 0n, mmxBytes(rng));
    add('movdq2q', 'movdq2q mm1, xmm4', [0xf2, 0x0f, 0xd6, 0xcc], 0n, 0n);
    add('cvtpi2ps', 'cvtpi2ps xmm5, mm2', [0x0f, 0x2a, 0xea], 0n, mmxBytes(rng));
    add('cvtpi2pd', 'cvtpi2pd xmm5, mm2', [0x66, 0x0f, 0x2a, 0xea], 0n, mmxBytes(rng));
    add('cvtps2pi', 'cvtps2pi mm1, xmm6', [0x0f, 0x2d, 0xce], 0n, 0n);
    add('cvttpd2pi', 'cvttpd2pi mm1, xmm6', [0x66, 0x0f, 0x2c, 0xce], 0n, 0n);
    add('movntq', 'movntq [rbx+0x18], mm2', [0x0f, 0xe7, 0x53, 0x18], 0n, mmxBytes(rng));
  }
  // The x87 view after MMX instructions: TOP = 0 (SDM Vol. 1 §9.5.1); without EMMS, FNSTENV shows
  // it. FIP/FOP/FDP are masked, and so is the full tag word, which FNSTENV derives from register
  // contents, stale ones included.

  for (let k = 0; k < 3; k++) {
    const input = baseInput(rng);
    const data = rng.bytes(512);
    input.gpr[RBX] = BigInt(DATA_ADDRESS + MEM_BASE_OFFSET);
    const dataMasks = new Map<number, number>();
    for (const b of [8, 9, ...Array.from({ length: 16 }, (_, i) => 12 + i)]) dataMasks.set(MEM_BASE_OFFSET + 0x40 + b, 0);
    list.add({
      mnemonic: 'mmx:state', form: 'fld1; movq mm1, [rbx]; paddb mm1, mm1; fnstenv [rbx+0x40]',
      code: Uint8Array.from([0xd9, 0xe8, 0x0f, 0x6f, 0x0b, 0x0f, 0xfc, 0xc9, 0xd9, 0x73, 0x40]), input, data, dataMasks, shown: [RBX],
    });
  }
}

function encodeArr(e: Parameters<typeof encode>[0]): number[] {
  return Array.from(encode(e));
}
