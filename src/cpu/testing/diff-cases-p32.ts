// Differential cases run in 32-bit mode (natively: Linux's 32-bit compatibility-mode code
// segment; on the soft CPU: runSnippet's 'protected32' mode). They check the legacy-mode decoder
// (one-byte INC/DEC, 32-bit stack defaults, PUSHA/POPA, 16-bit addressing under 67h) and the
// instructions that exist only outside 64-bit mode (DAA/DAS/AAA/AAS/AAM/AAD), plus a sample of
// ordinary instructions. Mnemonics carry a "/p32" suffix.
//
// Undefined flags (SDM Vol. 2A): DAA/DAS: OF. AAA/AAS: OF, SF, ZF, PF. AAM/AAD: OF, AF, CF.
// Logic ops: AF. Shifts: as in diff-cases-int.ts. MUL: SF, ZF, AF, PF. DIV: all.

import { AH, BH, CH, DH, RAX, RBP, RBX, RCX, RDI, RDX, RSI, RSP, encode, memName, regName, type MemOperand, type OpSize } from './diff-asm.js';
import {
  AF, ALL_FLAGS, CF, DATA_ADDRESS, DF, IF, OF, PF, SF, STACK_TOP, ZF, baseInput, interestingValues, randomFlags, setReg,
  type CaseList, type DiffCase, type DiffInput, type Rng,
} from './diff-case-kit.js';
import { addControlFlowCases } from './diff-cases-control.js';
import { MEM_BASE_OFFSET, memOperand, shiftFlagsMask } from './diff-cases-int.js';

const ALU_OPS = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];

function p32Input(rng: Rng): DiffInput {
  const input = baseInput(rng);
  input.gpr = input.gpr.map((v) => v & 0xffffffffn);
  input.gpr[RSP] = BigInt(STACK_TOP);
  return input;
}

type P32Case = Omit<DiffCase, 'data' | 'flagsMask' | 'mode' | 'mnemonic'> & { mnemonic: string; data?: Uint8Array; flagsMask?: number };
function add32(list: CaseList, c: P32Case): void {
  list.add({ ...c, mnemonic: `${c.mnemonic}/p32`, mode: 'protected32' });
}

function pairs32(size: OpSize): [number, number][] {
  return size === 1 ? [[RCX, RDX], [AH, BH], [RBX, CH], [DH, RAX]] : [[RCX, RDX], [RAX, RSI], [RBP, RDI]];
}

function aluCases(list: CaseList): void {
  const rng = list.rng;
  ALU_OPS.forEach((mn, opIdx) => {
    for (const size of [1, 2, 4] as const) {
      const vals = interestingValues(rng, size);
      for (let k = 0; k < 8; k++) {
        const [dst, src] = rng.pick(pairs32(size));
        const input = p32Input(rng);
        setReg(input.gpr, dst, size, rng.pick(vals));
        setReg(input.gpr, src, size, rng.pick(vals));
        const flagsMask = mn === 'or' || mn === 'and' || mn === 'xor' ? ALL_FLAGS & ~AF : ALL_FLAGS;
        if (k < 6) {
          add32(list, {
            mnemonic: mn, form: `${mn} ${regName(dst, size)}, ${regName(src, size)}`,
            code: encode({ size, op: [opIdx * 8 + (size === 1 ? 0 : 1)], reg: src, rm: dst, byteRegs: size === 1 }),
            input, flagsMask, shown: [dst, src].map((r) => (r >= AH ? r - AH : r)),
          });
        } else {
          const data = rng.bytes(512);
          const m = memOperand(rng, input, data, size, rng.pick(vals));
          add32(list, {
            mnemonic: mn, form: `${mn} ${regName(dst, size)}, ${memName(m)}`,
            code: encode({ size, op: [opIdx * 8 + 2 + (size === 1 ? 0 : 1)], reg: dst, rm: m, byteRegs: size === 1 }),
            input, data, flagsMask, shown: [dst >= AH ? dst - AH : dst, RBX],
          });
        }
      }
    }
  });
}

function incDecShortCases(list: CaseList): void {
  const rng = list.rng;
  for (const [mn, base] of [['inc', 0x40], ['dec', 0x48]] as const) {
    for (let r = 0; r < 8; r++) {
      for (const size of [2, 4] as const) {
        const vals = interestingValues(rng, size);
        for (const v of [rng.pick(vals), rng.pick(vals)]) {
          const input = p32Input(rng);
          setReg(input.gpr, r, size, v);
          add32(list, { mnemonic: mn, form: `${mn} ${regName(r, size)} (short form)`, code: encode({ size, op: [base + r] }), input, shown: [r] });
        }
      }
    }
  }
}

function stackCases(list: CaseList): void {
  const rng = list.rng;
  for (let r = 0; r < 8; r++) {
    for (const size of [2, 4] as const) {
      const prefix = size === 2 ? [0x66] : [];
      add32(list, { mnemonic: 'push', form: `push ${regName(r, size)}`, code: Uint8Array.from([...prefix, 0x50 + r]), input: p32Input(rng), shown: [r, RSP] });
      add32(list, { mnemonic: 'pop', form: `pop ${regName(r, size)}`, code: Uint8Array.from([...prefix, 0x58 + r]), input: p32Input(rng), shown: [r, RSP] });
    }
  }
  const forms: [string, string, number[]][] = [
    ['push', 'push imm8', [0x6a, 0xf0]], ['push', 'push imm32', [0x68, 0x78, 0x56, 0x34, 0x12]], ['push', 'push imm16', [0x66, 0x68, 0x34, 0x12]],
    ['pusha', 'pushad', [0x60]], ['pusha', 'pushaw', [0x66, 0x60]], ['popa', 'popad', [0x61]], ['popa', 'popaw', [0x66, 0x61]],
    ['pushf', 'pushfd', [0x9c]], ['pushf', 'pushfw', [0x66, 0x9c]], ['leave', 'leave', [0xc9]], ['enter', 'enter 8, 1', [0xc8, 8, 0, 1]],
  ];
  for (const [mn, form, bytes] of forms) {
    for (let k = 0; k < 3; k++) {
      const input = p32Input(rng);
      input.gpr[RBP] = BigInt(STACK_TOP + 0x20);
      add32(list, { mnemonic: mn, form, code: Uint8Array.from(bytes), input, shown: [RSP, RBP] });
    }
  }
  for (let k = 0; k < 6; k++) {
    const input = p32Input(rng);
    const data = rng.bytes(512);
    const image = randomFlags(rng, rng.below(2) ? DF : 0);
    for (let b = 0; b < 4; b++) data[STACK_TOP - DATA_ADDRESS + b] = (image >>> (8 * b)) & 0xff;
    add32(list, { mnemonic: 'popf', form: 'popfd; pushfd', code: Uint8Array.from([0x9d, 0x9c]), input, data, shown: [RSP] });
  }
}

function bcdCases(list: CaseList): void {
  const rng = list.rng;
  const alValues = [0x00, 0x09, 0x0a, 0x0f, 0x10, 0x19, 0x1a, 0x3f, 0x79, 0x7a, 0x80, 0x90, 0x99, 0x9a, 0x9f, 0xa0, 0xf9, 0xfa, 0xff];
  const ops: [string, number, number][] = [
    ['daa', 0x27, ALL_FLAGS & ~OF], ['das', 0x2f, ALL_FLAGS & ~OF], ['aaa', 0x37, AF | CF | DF], ['aas', 0x3f, AF | CF | DF],
  ];
  for (const [mn, op, flagsMask] of ops) {
    for (const al of [...alValues, rng.below(256), rng.below(256)]) {
      for (const f of [0, AF, CF, AF | CF]) {
        const input = p32Input(rng);
        setReg(input.gpr, RAX, 1, BigInt(al));
        input.rflags = (randomFlags(rng) & ~(AF | CF)) | f;
        // AAA/AAS adjust AX as a whole on some CPUs (AX +/- 106h: AMD, older Intel SDM) and AL
        // and AH separately on others, which differ in AH when AL+6 carries or AL-6 borrows.
        const vendorAh = (mn === 'aaa' && al >= 0xfa) || (mn === 'aas' && al < 6);
        const gprMasks = vendorAh ? new Map([[RAX, 0xffff00ffn]]) : undefined;
        add32(list, { mnemonic: mn, form: mn, code: Uint8Array.from([op]), input, flagsMask, ...(gprMasks ? { gprMasks } : {}), shown: [RAX] });
      }
    }
  }
  for (const [mn, op] of [['aam', 0xd4], ['aad', 0xd5]] as const) {
    for (const base of [10, 16, 7, 255, 0]) {
      for (let k = 0; k < 8; k++) {
        const input = p32Input(rng);
        setReg(input.gpr, RAX, 2, BigInt(k === 0 ? 0xffff : rng.below(0x10000)));
        add32(list, { mnemonic: mn, form: `${mn} ${base}`, code: Uint8Array.from([op, base]), input, flagsMask: SF | ZF | PF | DF, shown: [RAX] });
      }
    }
  }
}

/** LEA with 16-bit addressing (67h in 32-bit mode): SDM Vol. 2A Table 2-1. */
function addr16Cases(list: CaseList): void {
  const rng = list.rng;
  const names = ['bx+si', 'bx+di', 'bp+si', 'bp+di', 'si', 'di', 'bp', 'bx'];
  for (let mod = 0; mod < 3; mod++) {
    for (let rm = 0; rm < 8; rm++) {
      for (const size of [2, 4] as const) {
        const disp = mod === 1 ? [rng.below(256)] : mod === 2 || rm === 6 ? [rng.below(256), rng.below(256)] : [];
        const form = mod === 0 && rm === 6 ? `[disp16]` : `[${names[rm]}${disp.length ? '+disp' + disp.length * 8 : ''}]`;
        add32(list, {
          mnemonic: 'lea16', form: `lea ${regName(RDX, size)}, addr16 ${form}`,
          code: Uint8Array.from([0x67, ...(size === 2 ? [0x66] : []), 0x8d, (mod << 6) | (RDX << 3) | rm, ...disp]),
          input: p32Input(rng), shown: [RDX, RBX, RBP, RSI, RDI],
        });
      }
    }
  }
  const mems: MemOperand[] = [
    { base: RAX }, { base: RBP, disp: 4 }, { base: RSP }, { base: RCX, index: RDX, scale: 4, disp: -8 }, { base: -1, index: RSI, scale: 8, disp: 0x1000 },
    { base: RBX, index: RBP, scale: 2, disp: 0x12345678 },
  ];
  for (const m of mems) {
    add32(list, { mnemonic: 'lea', form: `lea edi, ${memName(m)}`, code: encode({ op: [0x8d], reg: RDI, rm: m }), input: p32Input(rng), shown: [RDI] });
  }
}

/** A sample of ordinary instructions, to check the 32-bit decoder paths. */
function sampleCases(list: CaseList): void {
  const rng = list.rng;
  const one = (mn: string, form: string, bytes: Uint8Array, flagsMask = ALL_FLAGS, setup?: (i: DiffInput) => void, data?: Uint8Array): void => {
    for (let k = 0; k < 4; k++) {
      const input = p32Input(rng);
      setup?.(input);
      add32(list, { mnemonic: mn, form, code: bytes, input, flagsMask, shown: [RAX, RCX, RDX, RBX, RSI, RDI], ...(data ? { data } : {}) });
    }
  };
  const cl = (i: DiffInput): void => setReg(i.gpr, RCX, 1, BigInt(rng.pick([0, 1, 5, 31, 32, 33])));
  for (const [mn, ext] of [['shl', 4], ['sar', 7], ['rcr', 3], ['rol', 0]] as const) {
    for (const count of [1, 4, 17]) {
      one(mn, `${mn} edx, ${count}`, encode({ op: [0xc1], reg: ext, rm: RDX, imm: count, immBytes: 1 }), shiftFlagsMask(mn, 4, count));
    }
    // By CL: the count varies per case, so only flags defined for every count are compared.
    one(mn, `${mn} ax, cl`, encode({ size: 2, op: [0xd3], reg: ext, rm: RAX }), mn === 'shl' || mn === 'sar' ? SF | ZF | PF | DF : DF, cl);
  }
  one('mul', 'mul ecx', encode({ op: [0xf7], reg: 4, rm: RCX }), CF | OF | DF);
  one('imul', 'imul edx, ecx, 0x1234', encode({ op: [0x69], reg: RDX, rm: RCX, imm: 0x1234, immBytes: 4 }), CF | OF | DF);
  one('div', 'div cl', encode({ op: [0xf6], reg: 6, rm: RCX }), DF, (i) => setReg(i.gpr, RCX, 1, BigInt(rng.below(255) + 1)));
  one('movzx', 'movzx eax, bh', encode({ op: [0x0f, 0xb6], reg: RAX, rm: BH, byteRegs: true }));
  one('movsx', 'movsx edx, cx', encode({ op: [0x0f, 0xbf], reg: RDX, rm: RCX }));
  one('bswap', 'bswap esi', encode({ op: [0x0f, 0xc8], opReg: RSI }));
  one('xchg', 'xchg eax, edi', encode({ op: [0x90], opReg: RDI }));
  one('cwde', 'cwde', Uint8Array.from([0x98]));
  one('cdq', 'cdq', Uint8Array.from([0x99]));
  one('cbw', 'cbw', Uint8Array.from([0x66, 0x98]));
  one('lahf', 'lahf', Uint8Array.from([0x9f]));
  one('sahf', 'sahf', Uint8Array.from([0x9e]));
  one('setcc', 'setl cl', encode({ op: [0x0f, 0x9c], reg: 0, rm: RCX, byteRegs: 'rm' }));
  one('cmovcc', 'cmovbe eax, edx', encode({ op: [0x0f, 0x46], reg: RAX, rm: RDX }));
  one('bt', 'bt ecx, edx', encode({ op: [0x0f, 0xa3], reg: RDX, rm: RCX }), CF | ZF | DF);
  one('bsr', 'bsr eax, esi', encode({ op: [0x0f, 0xbd], reg: RAX, rm: RSI }), ZF | DF, (i) => { i.gpr[RSI] = (i.gpr[RSI] ?? 0n) | 1n; });
  one('xadd', 'xadd [ebx], ecx', encode({ op: [0x0f, 0xc1], reg: RCX, rm: { base: RBX } }), ALL_FLAGS, (i) => { i.gpr[RBX] = BigInt(DATA_ADDRESS + MEM_BASE_OFFSET); });
  one('cmpxchg8b', 'cmpxchg8b [ebx]', encode({ op: [0x0f, 0xc7], reg: 1, rm: { base: RBX } }), ALL_FLAGS, (i) => { i.gpr[RBX] = BigInt(DATA_ADDRESS + MEM_BASE_OFFSET); });
  one('mov', 'mov eax, [moffs32]', Uint8Array.from([0xa1, 0x40, 0x00, 0x01, 0x00]));
  one('mov', 'mov [ebx+0x10], dh', encode({ op: [0x88], reg: DH, rm: { base: RBX, disp: 0x10 }, byteRegs: true }), ALL_FLAGS, (i) => { i.gpr[RBX] = BigInt(DATA_ADDRESS + MEM_BASE_OFFSET); });
  // String instructions with ESI/EDI in the data page.
  for (const [mn, form, bytes] of [
    ['rep_movs', 'rep movsd', [0xf3, 0xa5]], ['rep_stos', 'rep stosb', [0xf3, 0xaa]], ['repe_cmps', 'repe cmpsb', [0xf3, 0xa6]],
    ['repne_scas', 'repne scasw', [0x66, 0xf2, 0xaf]], ['lods', 'lodsd', [0xad]],
  ] as [string, string, number[]][]) {
    for (const down of [false, true]) {
      const input = p32Input(rng);
      input.gpr[RSI] = BigInt(DATA_ADDRESS + 0x100);
      input.gpr[RDI] = BigInt(DATA_ADDRESS + 0x180);
      input.gpr[RCX] = BigInt(rng.below(6));
      input.rflags = randomFlags(rng, down ? DF : 0) | IF;
      const data = rng.bytes(512);
      data.copyWithin(0x180 - 0x10, 0x100 - 0x10, 0x100 + 0x10);
      add32(list, { mnemonic: mn, form: `${form} (DF=${down ? 1 : 0})`, code: Uint8Array.from(bytes), input, data, shown: [RAX, RCX, RSI, RDI] });
    }
  }
  // A little SSE in 32-bit mode (XMM0..7).
  one('paddd', 'paddd xmm1, xmm2', encode({ prefixes: [0x66], op: [0x0f, 0xfe], reg: 1, rm: 2 }));
  one('movd', 'movd xmm0, eax', encode({ prefixes: [0x66], op: [0x0f, 0x6e], reg: 0, rm: RAX }));
  one('cvtsi2sd', 'cvtsi2sd xmm3, edx', encode({ prefixes: [0xf2], op: [0x0f, 0x2a], reg: 3, rm: RDX }));
  one('movdqu', 'movdqu xmm7, [ebx]', encode({ prefixes: [0xf3], op: [0x0f, 0x6f], reg: 7, rm: { base: RBX } }), ALL_FLAGS, (i) => { i.gpr[RBX] = BigInt(DATA_ADDRESS + MEM_BASE_OFFSET); });
}

export function addProtected32Cases(list: CaseList): void {
  aluCases(list);
  incDecShortCases(list);
  stackCases(list);
  bcdCases(list);
  addr16Cases(list);
  sampleCases(list);
  addControlFlowCases(list, 'protected32');
}
