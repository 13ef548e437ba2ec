// Differential cases run with 16-bit default operand and address size (mnemonic suffix "/r16"):
// on the soft CPU in runSnippet's 'real16' mode (DS = ES = SS = the data page), natively in
// 16-bit protected mode with LDT segments based at the data page (oracle.c). This covers the
// decoder's 16-bit defaults: ModRM 16-bit addressing with real memory accesses and offset
// wrap-around, 66h/67h switching to 32 bits, 16-bit stack operations, string instructions on
// SI/DI/CX, LOOP/JCXZ on CX, rel16 branches. Pointers in registers are offsets in the data page.
// Flags are masked as in the 64-bit builders (see diff-cases-int.ts).

import { RAX, RBP, RBX, RCX, RDI, RDX, RSI, RSP } from './diff-asm.js';
import {
  AF, ALL_FLAGS, CF, DF, IF, OF, STACK_TOP, DATA_ADDRESS, ZF, baseInput, interestingValues, randomFlags, setReg,
  type CaseList, type DiffCase, type DiffInput, type Rng,
} from './diff-case-kit.js';
import { shiftFlagsMask } from './diff-cases-int.js';

const STACK_OFFSET = STACK_TOP - DATA_ADDRESS;

function r16Input(rng: Rng): DiffInput {
  const input = baseInput(rng);
  input.gpr = input.gpr.map((v) => v & 0xffffffffn);
  // Upper half of ESP clear: SS is a 16-bit segment, so only SP moves.
  input.gpr[RSP] = BigInt(STACK_OFFSET);
  return input;
}

type R16Case = Omit<DiffCase, 'data' | 'flagsMask' | 'mode'> & { data?: Uint8Array; flagsMask?: number };
function add16(list: CaseList, c: R16Case): void {
  list.add({ ...c, mnemonic: `${c.mnemonic}/r16`, mode: 'real16' });
}

/** 16-bit ModRM memory forms (SDM Vol. 2A Table 2-1), rm 0..7. */
const RM16 = ['bx+si', 'bx+di', 'bp+si', 'bp+di', 'si', 'di', 'bp', 'bx'];
const RM16_REGS: number[][] = [[RBX, RSI], [RBX, RDI], [RBP, RSI], [RBP, RDI], [RSI], [RDI], [RBP], [RBX]];

/** Loads and stores through every 16-bit addressing form, including offset wrap-around. */
function addressingCases(list: CaseList): void {
  const rng = list.rng;
  for (let mod = 0; mod < 3; mod++) {
    for (let rm = 0; rm < 8; rm++) {
      for (const wrap of [false, true]) {
        const input = r16Input(rng);
        const target = 0x100 + rng.below(0x600);
        const disp = mod === 0 ? (rm === 6 ? target : 0) : mod === 1 ? rng.below(256) - 128 : rng.below(0x10000);
        const regs = mod === 0 && rm === 6 ? [] : RM16_REGS[rm] ?? [];
        // Registers sum to (target - disp) mod 64 KiB; with `wrap` and two registers the sum
        // passes 0xffff, so the offset must wrap around (SDM Vol. 1 §3.3.6: 16-bit addresses).
        const need = (target - disp) & 0xffff;
        const [r0, r1] = regs;
        if (r0 !== undefined && r1 === undefined) setReg(input.gpr, r0, 2, BigInt(need));
        if (r0 !== undefined && r1 !== undefined) {
          const first = wrap && need < 0xffff ? need + 1 + rng.below(0xffff - need) : rng.below(need + 1);
          setReg(input.gpr, r0, 2, BigInt(first));
          setReg(input.gpr, r1, 2, BigInt((need - first) & 0xffff));
        }
        const dispBytes = mod === 1 ? [disp & 0xff] : mod === 2 || (mod === 0 && rm === 6) ? [disp & 0xff, (disp >> 8) & 0xff] : [];
        const store = rng.below(2) === 0;
        const form = mod === 0 && rm === 6 ? '[disp16]' : `[${RM16[rm]}${dispBytes.length ? `+disp${dispBytes.length * 8}` : ''}]`;
        add16(list, {
          mnemonic: 'addressing', form: `${store ? `mov ${form}, ax` : `add ax, ${form}`}${wrap ? ' (offset wraps)' : ''}`,
          code: Uint8Array.from([store ? 0x89 : 0x03, (mod << 6) | (RAX << 3) | rm, ...dispBytes]),
          input, data: rng.bytes(2048), shown: [RAX, RBX, RBP, RSI, RDI],
        });
      }
    }
  }
  // 32-bit addressing under 67h: [ebx+esi*4+disp8].
  for (let k = 0; k < 4; k++) {
    const input = r16Input(rng);
    input.gpr[RSI] = BigInt(rng.below(64));
    input.gpr[RBX] = BigInt(0x200 + rng.below(0x100));
    add16(list, { mnemonic: 'addressing', form: 'add eax, addr32 [ebx+esi*4+8]', code: Uint8Array.of(0x66, 0x67, 0x03, 0x44, 0xb3, 0x08), input, shown: [RAX, RBX, RSI] });
  }
}

function aluAndMiscCases(list: CaseList): void {
  const rng = list.rng;
  const one = (mn: string, form: string, bytes: number[], flagsMask = ALL_FLAGS, setup?: (i: DiffInput) => void, count = 4): void => {
    for (let k = 0; k < count; k++) {
      const input = r16Input(rng);
      setup?.(input);
      add16(list, { mnemonic: mn, form, code: Uint8Array.from(bytes), input, data: rng.bytes(2048), flagsMask, shown: [RAX, RCX, RDX, RBX, RSI, RDI] });
    }
  };
  const vals16 = interestingValues(rng, 2);
  const small = (r: number) => (i: DiffInput): void => { setReg(i.gpr, r, 2, rng.pick(vals16)); };
  const ops = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
  ops.forEach((mn, k) => {
    const mask = mn === 'or' || mn === 'and' || mn === 'xor' ? ALL_FLAGS & ~AF : ALL_FLAGS;
    one(mn, `${mn} cx, dx`, [k * 8 + 1, 0xd1], mask, small(RCX), 3);
    one(mn, `${mn} ecx, edx`, [0x66, k * 8 + 1, 0xd1], mask, undefined, 2);
    one(mn, `${mn} ah, bl`, [k * 8, 0xdc], mask, undefined, 2);
    one(mn, `${mn} ax, imm16`, [k * 8 + 5, rng.below(256), rng.below(256)], mask, small(RAX), 2);
    one(mn, `${mn} word [bx+2], simm8`, [0x83, 0x47 | (k << 3), 0x02, rng.below(256)], mask, (i) => { i.gpr[RBX] = 0x80n; }, 2);
  });
  for (const [mn, ext] of [['shl', 4], ['sar', 7], ['rol', 0], ['rcr', 3]] as const) {
    for (const count of [1, 3, 15, 17]) one(mn, `${mn} dx, ${count}`, [0xc1, 0xc0 | (ext << 3) | RDX, count], shiftFlagsMask(mn, 2, count), undefined, 2);
  }
  one('inc', 'inc si (short form)', [0x46]);
  one('dec', 'dec eax (66, short form)', [0x66, 0x48]);
  one('mul', 'mul cx', [0xf7, 0xe1], CF | OF | DF);
  one('imul', 'imul dx, cx, 0x1234', [0x69, 0xd1, 0x34, 0x12], CF | OF | DF);
  one('div', 'div cx', [0xf7, 0xf1], DF, (i) => { setReg(i.gpr, RDX, 2, BigInt(rng.below(0x100))); setReg(i.gpr, RCX, 2, BigInt(0x100 + rng.below(0xff00))); });
  one('movzx', 'movzx ax, bh', [0x0f, 0xb6, 0xc7]);
  one('movsx', 'movsx edx, cl', [0x66, 0x0f, 0xbe, 0xd1]);
  one('cbw', 'cbw', [0x98]);
  one('cwd', 'cwd', [0x99]);
  one('cwde', 'cwde', [0x66, 0x98]);
  one('xchg', 'xchg ax, si', [0x96]);
  one('bswap', 'bswap edi', [0x66, 0x0f, 0xcf]);
  one('lea', 'lea dx, [bp+di+0x1234]', [0x8d, 0x93, 0x34, 0x12]);
  one('lea', 'lea eax, addr32 [ebx+ecx*8]', [0x66, 0x67, 0x8d, 0x04, 0xcb]);
  one('xlat', 'xlatb', [0xd7], ALL_FLAGS, (i) => { i.gpr[RBX] = 0x100n; });
  one('bt', 'bt [bx], cx (bit offset in memory)', [0x0f, 0xa3, 0x0f], CF | ZF | DF, (i) => { i.gpr[RBX] = 0x400n; setReg(i.gpr, RCX, 2, BigInt(rng.below(0x4000) - 0x2000) & 0xffffn); });
  one('cmpxchg', 'cmpxchg [bx+si], dx', [0x0f, 0xb1, 0x10], ALL_FLAGS, (i) => { i.gpr[RBX] = 0x100n; i.gpr[RSI] = 0x20n; });
  one('setcc', 'setg al', [0x0f, 0x9f, 0xc0]);
  one('cmovcc', 'cmovs ax, [bx]', [0x0f, 0x48, 0x07], ALL_FLAGS, (i) => { i.gpr[RBX] = 0x100n; });
  one('lahf', 'lahf', [0x9f]);
  one('daa', 'daa', [0x27], ALL_FLAGS & ~OF);
  one('aam', 'aam 10', [0xd4, 0x0a], ALL_FLAGS & ~(OF | AF | CF));
  // Stack: 16-bit pushes/pops on SS:SP, and the 66h forms.
  one('push', 'push cx; push 0x1234; pop dx; pop si', [0x51, 0x68, 0x34, 0x12, 0x5a, 0x5e]);
  one('push', 'push ecx (66); pop edx', [0x66, 0x51, 0x66, 0x5a]);
  one('pusha', 'pusha; popa', [0x60, 0x61]);
  one('pusha', 'pusha', [0x60]);
  one('pushf', 'pushf; pop ax', [0x9c, 0x58]);
  one('popf', 'push ax; popf; pushf', [0x50, 0x9d, 0x9c], ALL_FLAGS, (i) => { setReg(i.gpr, RAX, 2, BigInt(randomFlags(rng, rng.below(2) ? DF : 0))); });
  one('enter', 'enter 4, 0; leave', [0xc8, 4, 0, 0, 0xc9], ALL_FLAGS, (i) => { i.gpr[RBP] = BigInt(STACK_OFFSET + 0x10); });
  one('push', 'push word [bx]; pop word [bx+2]', [0xff, 0x37, 0x8f, 0x47, 0x02], ALL_FLAGS, (i) => { i.gpr[RBX] = 0x100n; });
}

function stringAndBranchCases(list: CaseList): void {
  const rng = list.rng;
  const forms: [string, string, number[]][] = [
    ['rep_movs', 'rep movsb', [0xf3, 0xa4]], ['rep_movs', 'rep movsw', [0xf3, 0xa5]], ['rep_movs', 'rep movsd (66)', [0x66, 0xf3, 0xa5]],
    ['rep_stos', 'rep stosw', [0xf3, 0xab]], ['repe_cmps', 'repe cmpsb', [0xf3, 0xa6]], ['repne_scas', 'repne scasb', [0xf2, 0xae]],
    ['lods', 'lodsw', [0xad]], ['rep_movs', 'addr32 rep movsb (ESI/EDI/ECX)', [0x67, 0xf3, 0xa4]],
  ];
  for (const [mn, form, bytes] of forms) {
    for (const down of [false, true]) {
      for (let k = 0; k < 2; k++) {
        const input = r16Input(rng);
        const data = rng.bytes(4096);
        data.copyWithin(0x800 - 0x20, 0x400 - 0x20, 0x400 + 0x20);
        // Garbage above bit 15 of SI/DI/CX must be ignored with 16-bit addressing (and not with 67h).
        const upper = form.startsWith('addr32') ? 0n : BigInt(rng.u32() & 0xffff0000);
        input.gpr[RSI] = upper | 0x400n;
        input.gpr[RDI] = upper | 0x800n;
        input.gpr[RCX] = upper | BigInt(rng.below(8));
        input.rflags = randomFlags(rng, down ? DF : 0) | IF;
        add16(list, { mnemonic: mn, form: `${form} (DF=${down ? 1 : 0})`, code: Uint8Array.from(bytes), input, data, shown: [RAX, RCX, RSI, RDI] });
      }
    }
  }
  // LOOP / JCXZ on CX (ECX with 67h), Jcc rel16.
  for (const [mn, op] of [['loop', 0xe2], ['jcxz', 0xe3]] as const) {
    for (const cx of [0n, 1n, 2n, 0x10000n, 0x10001n]) {
      for (const addr32 of [false, true]) {
        const input = r16Input(rng);
        input.gpr[RCX] = cx;
        add16(list, {
          mnemonic: mn, form: `${addr32 ? 'addr32 ' : ''}${mn} (ecx=0x${cx.toString(16)})`,
          code: Uint8Array.from([...(addr32 ? [0x67] : []), op, 2, 0xb0, 0x01, 0x90]), input, shown: [RAX, RCX],
        });
      }
    }
  }
  for (let cc = 0; cc < 16; cc++) {
    const input = r16Input(rng);
    input.rflags = randomFlags(rng);
    add16(list, { mnemonic: 'jcc', form: `jcc rel16 (cc ${cc})`, code: Uint8Array.of(0x0f, 0x80 + cc, 2, 0, 0xb0, 0x01, 0x90), input, shown: [RAX] });
  }
  const input = r16Input(rng);
  add16(list, { mnemonic: 'jmp', form: 'jmp rel16', code: Uint8Array.of(0xe9, 2, 0, 0xb0, 0x01, 0x90), input, shown: [RAX] });
}

export function addReal16Cases(list: CaseList): void {
  addressingCases(list);
  aluAndMiscCases(list);
  stringAndBranchCases(list);
}
