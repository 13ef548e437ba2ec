// Differential cases for memory addressing (mnemonic "addressing"): loads and read-modify-write
// stores through every ModRM/SIB shape (SDM Vol. 2A §2.1.5 Tables 2-2, 2-3): any base register
// including RSP/RBP/R12/R13, index with scale 1-8 and negative values, no base, disp8/disp32, and
// 32-bit address size (67h), where the effective address wraps to 32 bits and garbage in the
// upper halves of base and index must be ignored.

import { RAX, RBX, RCX, RSP, encode, memName, type MemOperand } from './diff-asm.js';
import { DATA_ADDRESS, baseInput, type CaseList } from './diff-case-kit.js';

const U64 = 0xffffffffffffffffn;

export function addAddressingCases(list: CaseList): void {
  const rng = list.rng;
  for (let k = 0; k < 160; k++) {
    const addr32 = k % 4 === 3;
    const hasBase = k % 8 !== 5;
    const hasIndex = rng.below(3) !== 0;
    const base = hasBase ? rng.below(16) : -1;
    let index: number | undefined;
    if (hasIndex) {
      do index = rng.below(16); while (index === RSP || index === base);
    }
    const scale = rng.pick([1, 2, 4, 8] as const);
    const disp = rng.pick([0, 0, 8, -8, 0x7f, -0x80, 0x100, -0x104, hasBase ? 0x1234 : DATA_ADDRESS + 0x100]);
    const target = BigInt(DATA_ADDRESS + 0x100 + rng.below(0x80) * 4);
    const input = baseInput(rng);
    // Index: a small signed value (as a 64-bit two's complement), or garbage above bit 31 in addr32 mode.
    const indexValue = BigInt(rng.below(33) - 16);
    if (index !== undefined) input.gpr[index] = BigInt.asUintN(64, indexValue);
    const scaled = index !== undefined ? indexValue * BigInt(scale) : 0n;
    if (base >= 0) input.gpr[base] = BigInt.asUintN(64, target - scaled - BigInt(disp));
    if (addr32) {
      for (const r of [base, index]) {
        if (r !== undefined && r >= 0) input.gpr[r] = ((rng.u64() << 32n) & U64) | ((input.gpr[r] ?? 0n) & 0xffffffffn);
      }
    }
    const mem: MemOperand = index !== undefined ? { base, index, scale, disp } : { base, disp };
    if (base < 0) {
      // No base: the displacement must bring the address to the target by itself.
      mem.disp = Number(target - scaled);
    }
    const data = rng.bytes(1024);
    const prefixes = addr32 ? [0x67] : [];
    const dst = [RAX, RCX, RBX].find((r) => r !== base && r !== index) ?? RAX;
    const load = rng.below(2) === 0;
    list.add({
      mnemonic: 'addressing', form: `${load ? 'mov' : 'add'} ${load ? `r64, ${addr32 ? 'addr32 ' : ''}${memName(mem)}` : `${addr32 ? 'addr32 ' : ''}${memName(mem)}, r64`}`,
      code: encode({ prefixes, size: 8, op: [load ? 0x8b : 0x01], reg: dst, rm: mem }),
      input, data, shown: [...(base >= 0 ? [base] : []), ...(index !== undefined ? [index] : []), dst],
    });
  }
}
