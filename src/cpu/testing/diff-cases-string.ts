// Differential cases for the string instructions MOVS/STOS/LODS/CMPS/SCAS (SDM Vol. 2B), with and
// without REP/REPE/REPNE, both directions (DF), every element size, 64- and 32-bit address size
// (67h: ECX/ESI/EDI are used and written back zero-extended). Counts stay small and the pointers
// stay inside a 4 KiB data page.

import { RAX, RCX, RDI, RSI, encode } from './diff-asm.js';
import { DATA_ADDRESS, DF, IF, randomFlags, setReg, baseInput, sizeMask, type CaseList } from './diff-case-kit.js';
import { SIZES } from './diff-cases-int.js';

const STRING_OPS = [
  ['movs', 0xa4, false], ['cmps', 0xa6, true], ['stos', 0xaa, false], ['lods', 0xac, false], ['scas', 0xae, true],
] as const;

const SRC_OFFSET = 0x600;
const DST_OFFSET = 0xa00;

export function addStringCases(list: CaseList): void {
  const rng = list.rng;
  for (const [mn, op, compares] of STRING_OPS) {
    const reps: [string, number[]][] = compares
      ? [['', []], ['repe ', [0xf3]], ['repne ', [0xf2]]]
      : [['', []], ['rep ', [0xf3]]];
    for (const size of SIZES) {
      for (const [repName, repPrefix] of reps) {
        for (const down of [false, true]) {
          for (const count of repPrefix.length ? [0, 1, 3, 7] : [rng.below(4)]) {
            for (const addr32 of repPrefix.length && count === 3 ? [false, true] : [false]) {
              const input = baseInput(rng);
              input.rflags = randomFlags(rng, down ? DF : 0) | IF;
              const data = rng.bytes(4096);
              const elems = 8;
              // Comparisons: make the source equal to the destination, or to the accumulator,
              // except at one random element, so REPE/REPNE stop at different places.
              const fill = rng.u64() & sizeMask(size);
              const first = down ? -elems + 1 : 0;
              const mismatch = rng.below(elems + 1);
              for (let e = 0; e < elems; e++) {
                const at = (first + e) * size;
                for (let b = 0; b < size; b++) {
                  const byte = Number((fill >> BigInt(8 * b)) & 0xffn);
                  if (mn === 'scas') data[DST_OFFSET + at + b] = e === mismatch ? byte ^ 0x5a : byte;
                  if (mn === 'cmps') {
                    data[SRC_OFFSET + at + b] = byte;
                    data[DST_OFFSET + at + b] = e === mismatch ? byte ^ 0xa5 : byte;
                  }
                }
              }
              if (mn === 'scas' && rng.below(2)) setReg(input.gpr, RAX, size, fill);
              const upper = addr32 ? (rng.u64() & 0xffffffff00000000n) : 0n;
              input.gpr[RSI] = upper | BigInt(DATA_ADDRESS + SRC_OFFSET);
              input.gpr[RDI] = upper | BigInt(DATA_ADDRESS + DST_OFFSET);
              input.gpr[RCX] = (addr32 ? upper : 0n) | BigInt(count);
              const prefixes = [...(addr32 ? [0x67] : []), ...repPrefix];
              const suffix = size === 1 ? 'b' : size === 2 ? 'w' : size === 4 ? 'd' : 'q';
              list.add({
                mnemonic: `${repName}${mn}`.replace('repne ', 'repne_').replace('repe ', 'repe_').replace('rep ', 'rep_'),
                form: `${addr32 ? 'addr32 ' : ''}${repName}${mn}${suffix} (${down ? 'DF=1' : 'DF=0'}, count ${count})`,
                code: encode({ prefixes, size, op: [op + (size === 1 ? 0 : 1)] }),
                input, data, shown: [RAX, RCX, RSI, RDI],
              });
            }
          }
        }
      }
    }
  }
}

/**
 * Long REP MOVS/STOS (where an engine takes bulk fast paths), including overlapping source and
 * destination: the architectural result is that of element-by-element copying in the DF
 * direction (SDM Vol. 2B MOVS), which differs from memmove when the regions overlap.
 */
export function addLongStringCases(list: CaseList): void {
  const rng = list.rng;
  for (const size of SIZES) {
    for (const down of [false, true]) {
      for (const overlap of [0, 1, -1, size, -size, 3, 64, -64, 1200]) {
        const count = 16 + rng.below(Math.floor(600 / size));
        const input = baseInput(rng);
        input.rflags = randomFlags(rng, down ? DF : 0) | IF;
        const src = 0x800 + rng.below(64);
        input.gpr[RSI] = BigInt(DATA_ADDRESS + src);
        input.gpr[RDI] = BigInt(DATA_ADDRESS + src + overlap);
        input.gpr[RCX] = BigInt(count);
        const suffix = size === 1 ? 'b' : size === 2 ? 'w' : size === 4 ? 'd' : 'q';
        list.add({
          mnemonic: 'rep_movs', form: `rep movs${suffix} (DF=${down ? 1 : 0}, count ${count}, dst = src${overlap >= 0 ? '+' : ''}${overlap})`,
          code: encode({ prefixes: [0xf3], size, op: [size === 1 ? 0xa4 : 0xa5] }),
          input, data: rng.bytes(4096), shown: [RCX, RSI, RDI],
        });
      }
      const input = baseInput(rng);
      input.rflags = randomFlags(rng, down ? DF : 0) | IF;
      input.gpr[RDI] = BigInt(DATA_ADDRESS + 0x800 + rng.below(16));
      input.gpr[RCX] = BigInt(16 + rng.below(Math.floor(1500 / size)));
      list.add({
        mnemonic: 'rep_stos', form: `rep stos (size ${size}, DF=${down ? 1 : 0}, count ${input.gpr[RCX]})`,
        code: encode({ prefixes: [0xf3], size, op: [size === 1 ? 0xaa : 0xab] }),
        input, data: rng.bytes(4096), shown: [RAX, RCX, RDI],
      });
    }
  }
}
