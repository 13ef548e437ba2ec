// Differential cases for control flow and the decoder:
// - near branches that stay inside the snippet: Jcc rel8/rel32, JMP rel8/rel32, LOOP/LOOPE/LOOPNE,
//   JRCXZ/JECXZ. Each branch, when taken, skips a `mov al, 1` marker, so AL (and RCX for LOOP)
//   shows whether it was taken; the snippet always runs on to its end. CALL is left out: the
//   pushed return address depends on where the code sits;
// - encodings that must fault (#UD, #GP), prefix corner cases and a prefix fuzzer;
// - self-modifying code and RIP-relative operands.

import { RAX, RCX } from './diff-asm.js';
import { CF, FLAG_SETS, IF, OF, PF, SF, ZF, baseInput, setReg, type CaseList, type DiffCase } from './diff-case-kit.js';

const COND = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
/** `mov al, 1`: the marker a taken branch skips (a NOP after it keeps the target inside the code). */
const MARKER = [0xb0, 0x01];

function conditionFlags(): number[] {
  const out = [...FLAG_SETS];
  for (let bits = 0; bits < 32; bits += 3) {
    out.push((bits & 1 ? CF : 0) | (bits & 2 ? ZF : 0) | (bits & 4 ? SF : 0) | (bits & 8 ? OF : 0) | (bits & 16 ? PF : 0));
  }
  return out;
}

export function addControlFlowCases(list: CaseList, mode?: 'protected32'): void {
  const rng = list.rng;
  const suffix = mode ? '/p32' : '';
  const modeField = mode ? { mode } : {};
  const flags = conditionFlags();
  for (let cc = 0; cc < 16; cc++) {
    for (const f of mode ? flags.filter((_, k) => k % 2 === 0) : flags) {
      const input = baseInput(rng);
      if (mode) input.gpr = input.gpr.map((v) => v & 0xffffffffn);
      input.rflags = f | 0x2 | IF;
      setReg(input.gpr, RAX, 1, 0n);
      const rel32 = rng.below(3) === 0;
      const branch = rel32 ? [0x0f, 0x80 + cc, MARKER.length, 0, 0, 0] : [0x70 + cc, MARKER.length];
      list.add({
        mnemonic: 'jcc' + suffix, form: `j${COND[cc]} ${rel32 ? 'rel32' : 'rel8'} over mov al, 1`,
        code: Uint8Array.from([...branch, ...MARKER, 0x90]), input, shown: [RAX], ...modeField,
      });
    }
  }
  for (const [form, branch] of [['jmp rel8', [0xeb, MARKER.length]], ['jmp rel32', [0xe9, MARKER.length, 0, 0, 0]]] as [string, number[]][]) {
    const input = baseInput(rng);
    if (mode) input.gpr = input.gpr.map((v) => v & 0xffffffffn);
    list.add({ mnemonic: 'jmp' + suffix, form, code: Uint8Array.from([...branch, ...MARKER, 0x90]), input, shown: [RAX], ...modeField });
  }
  // LOOP family and JrCXZ; with and without the address-size prefix (ECX / CX in 32-bit mode).
  const loops: [string, number][] = [['loopne', 0xe0], ['loope', 0xe1], ['loop', 0xe2], [mode ? 'jecxz' : 'jrcxz', 0xe3]];
  for (const [mn, op] of loops) {
    for (const count of [0n, 1n, 2n, 0x100000000n, 0x100000001n, 0x10000n, 0x10001n, 0xffffffffffffffffn]) {
      for (const addrPrefix of [false, true]) {
        for (const zf of mn === 'loop' || op === 0xe3 ? [0] : [0, ZF]) {
          const input = baseInput(rng);
          if (mode) input.gpr = input.gpr.map((v) => v & 0xffffffffn);
          input.gpr[RCX] = mode ? count & 0xffffffffn : count;
          input.rflags = (rng.u32() & (CF | SF | OF | PF)) | zf | 0x2 | IF;
          const name = addrPrefix ? (mode ? `addr16 ${mn}` : `addr32 ${mn}`) : mn;
          list.add({
            mnemonic: mn + suffix, form: `${name} (rcx=0x${count.toString(16)}${zf ? ', ZF=1' : ''})`,
            code: Uint8Array.from([...(addrPrefix ? [0x67] : []), op, MARKER.length, ...MARKER, 0x90]),
            input, shown: [RAX, RCX], ...modeField,
          });
        }
      }
    }
  }
}

/**
 * Encodings that must raise an exception: UD2, LOCK where it is not allowed (SDM Vol. 2A LOCK:
 * only memory-destination forms of the listed instructions), opcodes invalid in 64-bit mode
 * (SDM Vol. 2 Appendix A, "i64"), register forms of memory-only instructions, and an instruction
 * longer than 15 bytes (#GP, SDM Vol. 2A §2.3.11). Mnemonic "invalid"; only the vector is compared.
 */
export function addInvalidEncodingCases(list: CaseList): void {
  const rng = list.rng;
  const forms: [string, number[]][] = [
    ['ud2', [0x0f, 0x0b]], ['lock add ecx, edx', [0xf0, 0x01, 0xd1]], ['lock nop', [0xf0, 0x90]],
    ['lock mov [rbx], eax', [0xf0, 0x89, 0x03]], ['lock inc eax', [0xf0, 0xff, 0xc0]],
    ['push es (i64)', [0x06]], ['pop es (i64)', [0x07]], ['push cs (i64)', [0x0e]], ['push ss (i64)', [0x16]],
    ['push ds (i64)', [0x1e]], ['daa (i64)', [0x27]], ['das (i64)', [0x2f]], ['aaa (i64)', [0x37]], ['aas (i64)', [0x3f]],
    ['pusha (i64)', [0x60]], ['popa (i64)', [0x61]], ['aam (i64)', [0xd4, 0x0a]], ['aad (i64)', [0xd5, 0x0a]],
    ['salc (i64)', [0xd6]], ['add al, imm8 via 82 (i64)', [0x82, 0xc0, 0x01]], ['into (i64)', [0xce]],
    ['call far (i64)', [0x9a, 0, 0, 0, 0, 0x08, 0]], ['jmp far (i64)', [0xea, 0, 0, 0, 0, 0x08, 0]],
    ['lea eax, eax', [0x8d, 0xc0]], ['cmpxchg8b eax', [0x0f, 0xc7, 0xc8]], ['mov cs, eax', [0x8e, 0xc8]],
    ['16-byte instruction', [...new Array<number>(15).fill(0x66), 0x90]],
    // Legacy SSE 16-byte memory operands must be aligned (SDM Vol. 1 §11.6.5): #GP otherwise.
    ['movaps xmm0, [rbx+8] (misaligned)', [0x0f, 0x28, 0x43, 0x08]], ['movdqa [rbx+4], xmm1 (misaligned)', [0x66, 0x0f, 0x7f, 0x4b, 0x04]],
    ['paddd xmm2, [rbx+1] (misaligned)', [0x66, 0x0f, 0xfe, 0x53, 0x01]], ['addpd xmm3, [rbx+8] (misaligned)', [0x66, 0x0f, 0x58, 0x5b, 0x08]],
  ];
  for (const [form, bytes] of forms) {
    const input = baseInput(rng);
    input.gpr[3] = BigInt(0x10080);
    list.add({ mnemonic: 'invalid', form, code: Uint8Array.from(bytes), input, shown: [] });
  }
  // Unaligned forms that are allowed.
  for (const [form, bytes] of [
    ['movups xmm0, [rbx+8]', [0x0f, 0x10, 0x43, 0x08]], ['movdqu [rbx+3], xmm1', [0xf3, 0x0f, 0x7f, 0x4b, 0x03]],
    ['movsd xmm2, [rbx+1]', [0xf2, 0x0f, 0x10, 0x53, 0x01]], ['addsd xmm3, [rbx+5]', [0xf2, 0x0f, 0x58, 0x5b, 0x05]],
  ] as [string, number[]][]) {
    const input = baseInput(rng);
    input.gpr[3] = BigInt(0x10080);
    list.add({ mnemonic: 'sse-unaligned', form, code: Uint8Array.from(bytes), input, shown: [3] });
  }
  // The longest valid instruction: 14 prefixes + NOP.
  list.add({ mnemonic: 'nop', form: '15-byte nop', code: Uint8Array.from([...new Array<number>(14).fill(0x66), 0x90]), input: baseInput(rng), shown: [] });
}

/**
 * Decoder corner cases with prefixes (SDM Vol. 2A §2.1.1, §2.2.1): segment overrides other than
 * FS/GS are ignored in 64-bit mode; a REX prefix that is not immediately before the opcode is
 * ignored; redundant and repeated prefixes; F2/F3 on instructions that do not use them.
 */
export function addPrefixCases(list: CaseList): void {
  const rng = list.rng;
  const forms: [string, number[]][] = [
    ['es mov eax, [rbx]', [0x26, 0x8b, 0x03]], ['cs mov eax, [rbx]', [0x2e, 0x8b, 0x03]], ['ss mov eax, [rbx]', [0x36, 0x8b, 0x03]],
    ['ds add [rbx+8], ecx', [0x3e, 0x01, 0x4b, 0x08]], ['rex.w 66 add ecx, edx (REX ignored)', [0x48, 0x66, 0x01, 0xd1]],
    ['rex.b 2e add ecx, edx (REX ignored)', [0x41, 0x2e, 0x01, 0xd1]], ['66 66 add cx, dx', [0x66, 0x66, 0x01, 0xd1]],
    ['66 rex.w add rcx, rdx (REX.W wins)', [0x66, 0x48, 0x01, 0xd1]], ['rex rex.w add (last REX counts)', [0x41, 0x48, 0x01, 0xd1]],
    ['f3 add ecx, edx', [0xf3, 0x01, 0xd1]], ['f2 66 add cx, dx', [0xf2, 0x66, 0x01, 0xd1]], ['67 lea eax, [rbx+rcx]', [0x67, 0x8d, 0x04, 0x0b]],
    ['67 mov eax, [ebx]', [0x67, 0x8b, 0x03]], ['rex mov sil, 1', [0x40, 0xc6, 0xc6, 0x01]], ['mov dh, 1 (no REX)', [0xc6, 0xc6, 0x01]],
    ['40 add ah->spl', [0x40, 0x00, 0xe4]], ['66 f3 movs with rep and opsize', [0x66, 0xf3, 0xa5]],
    // 90 is NOP even though it encodes xchg eax, eax (which would zero-extend RAX); 87 C0 is a
    // real xchg eax, eax; 41 90 is xchg r8d, eax (SDM Vol. 2B NOP/XCHG).
    ['90 (nop, RAX kept)', [0x90]], ['87 c0 (xchg eax, eax zero-extends)', [0x87, 0xc0]], ['41 90 (xchg r8d, eax)', [0x41, 0x90]],
    ['48 90 (xchg rax, rax)', [0x48, 0x90]], ['63 c1 (movsxd eax, ecx without REX.W)', [0x63, 0xc1]],
  ];
  for (const [form, bytes] of forms) {
    for (let k = 0; k < 3; k++) {
      const input = baseInput(rng);
      input.gpr[3] = BigInt(0x10080);
      input.gpr[6] = BigInt(0x10100);
      input.gpr[7] = BigInt(0x10140);
      input.gpr[1] = BigInt(k);
      list.add({ mnemonic: 'prefixes', form, code: Uint8Array.from(bytes), input, shown: [0, 1, 2, 3, 6, 7] });
    }
  }
}

/**
 * Self-modifying code and RIP-relative operands, which are position-independent and so give the
 * same result natively and on the soft CPU: a store that rewrites the next instruction must take
 * effect (SDM Vol. 3A §11.6), also when the rewritten code sits in an already decoded loop body.
 */
export function addSelfModifyingCases(list: CaseList): void {
  const rng = list.rng;
  for (let k = 0; k < 4; k++) {
    const v = rng.below(256);
    // mov byte [rip+1], v; mov al, 0   -> the store rewrites the immediate of `mov al`.
    list.add({
      mnemonic: 'smc', form: `mov byte [rip+1], ${v}; mov al, 0`,
      code: Uint8Array.from([0xc6, 0x05, 1, 0, 0, 0, v, 0xb0, 0x00]), input: baseInput(rng), shown: [RAX],
    });
  }
  for (let k = 0; k < 4; k++) {
    // mov ecx, n; L: add eax, 1; mov byte [rip-8], 5; loop L   -> 1 + 5*(n-1) added to EAX.
    const n = 2 + k;
    list.add({
      mnemonic: 'smc', form: `loop of ${n} rewriting its own add immediate`,
      code: Uint8Array.from([0xb9, n, 0, 0, 0, 0x83, 0xc0, 0x01, 0xc6, 0x05, 0xf8, 0xff, 0xff, 0xff, 0x05, 0xe2, 0xf4]),
      input: baseInput(rng), shown: [RAX, RCX],
    });
  }
  // mov dword [rip+0], 0x90c0ff48; nop x4   -> the NOPs become `inc rax; nop`.
  list.add({
    mnemonic: 'smc', form: 'mov dword [rip+0], inc rax; nop; (4 nops rewritten)',
    code: Uint8Array.from([0xc7, 0x05, 0, 0, 0, 0, 0x48, 0xff, 0xc0, 0x90, 0x90, 0x90, 0x90, 0x90]), input: baseInput(rng), shown: [RAX],
  });
  for (let k = 0; k < 3; k++) {
    // mov eax, [rip+2]; jmp +4; dd imm; nop   -> a constant read from the code stream.
    const imm = rng.u32();
    list.add({
      mnemonic: 'rip-relative', form: 'mov eax, [rip+2]; jmp over a dword',
      code: Uint8Array.from([0x8b, 0x05, 2, 0, 0, 0, 0xeb, 4, imm & 0xff, (imm >>> 8) & 0xff, (imm >>> 16) & 0xff, imm >>> 24, 0x90]),
      input: baseInput(rng), shown: [RAX],
    });
    // add qword [rip+2], rcx... would write the code; instead cmp with a RIP-relative operand.
    list.add({
      mnemonic: 'rip-relative', form: 'cmp ecx, [rip+2]; jmp over a dword',
      code: Uint8Array.from([0x3b, 0x0d, 2, 0, 0, 0, 0xeb, 4, imm & 0xff, (imm >>> 8) & 0xff, (imm >>> 16) & 0xff, imm >>> 24, 0x90]),
      input: baseInput(rng), shown: [RCX],
    });
  }
}

const FUZZ_MNEMONICS = new Set([
  'add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp', 'inc', 'dec', 'not', 'neg', 'test', 'mul', 'imul', 'div', 'idiv',
  'rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sar', 'mov', 'movsx', 'movzx', 'bt', 'bts', 'setcc', 'cmovcc', 'lea',
]);
const LEGACY_PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]);

/**
 * Variants of 64-bit single-instruction cases with extra prefixes that must not change their
 * meaning (SDM Vol. 2A §2.1.1): ES/CS/SS/DS overrides (ignored in 64-bit mode), and F2/F3 on
 * one-byte-map instructions that are neither string instructions nor NOP/PAUSE (ignored; without
 * LOCK they are not even HLE hints). Prefixes go first, so a REX prefix stays last.
 */
export function prefixFuzzCases(list: CaseList, cases: readonly DiffCase[], count = 600): void {
  const rng = list.rng;
  const pool = cases.filter((c) => c.mode === undefined && FUZZ_MNEMONICS.has(c.mnemonic));
  for (let k = 0; k < count && pool.length; k++) {
    const c = rng.pick(pool);
    let at = 0;
    while (at < c.code.length && LEGACY_PREFIXES.has(c.code[at] ?? 0)) at++;
    if ((c.code[at] ?? 0) >= 0x40 && (c.code[at] ?? 0) <= 0x4f) at++;
    const oneByteMap = c.code[at] !== 0x0f;
    const choices = oneByteMap ? [0x26, 0x2e, 0x36, 0x3e, 0xf2, 0xf3] : [0x26, 0x2e, 0x36, 0x3e];
    const extra = Array.from({ length: 1 + rng.below(3) }, () => rng.pick(choices));
    if (extra.length + c.code.length > 15) continue;
    list.add({
      ...c, mnemonic: 'prefix-fuzz', form: `${extra.map((p) => p.toString(16)).join(' ')} + ${c.form}`,
      code: Uint8Array.from([...extra, ...c.code]), data: c.data,
    });
  }
}
