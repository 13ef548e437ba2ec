import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decode, type CodeFetcher } from './decoder.js';
import { sharedOpTable } from './op-table.js';
import { BASE_RIP, NO_REG, OpMap, Prefix } from './insn.js';
import { Seg } from './state.js';
import { CpuFault, UnimplementedInstructionError } from './fault.js';
import type { Cpu } from './cpu.js';

function bytesAt(bytes: number[], base = 0x1000): CodeFetcher {
  return { fetchCode8: (lin: number) => bytes[lin - base] ?? 0x90 };
}

function dec(bytes: number[], bits: 16 | 32 | 64 = 64) {
  return decode(bytesAt(bytes), sharedOpTable(), 0x1000, 0, bits);
}

void test('decodes lengths and operand sizes of common 64-bit forms', () => {
  const cases: [number[], number, number][] = [
    [[0x48, 0x89, 0xe5], 3, 8], // mov rbp, rsp
    [[0x89, 0xc0], 2, 4], // mov eax, eax
    [[0x66, 0x89, 0xc0], 3, 2], // mov ax, ax
    [[0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8], 10, 8], // movabs rax, imm64
    [[0xb8, 1, 2, 3, 4], 5, 4], // mov eax, imm32
    [[0x66, 0xb8, 1, 2], 4, 2], // mov ax, imm16
    [[0x50], 1, 8], // push rax (default 64-bit)
    [[0x66, 0x50], 2, 2], // push ax
    [[0x41, 0x5f], 2, 8], // pop r15
    [[0xe8, 0, 0, 0, 0], 5, 8], // call rel32
    [[0x66, 0xe8, 0, 0, 0, 0], 6, 8], // call rel32 ignores 66 (Intel)
    [[0x0f, 0x84, 0, 0, 0, 0], 6, 8], // je rel32
    [[0x0f, 0x1f, 0x44, 0x00, 0x00], 5, 4], // nopl 0(rax,rax,1)
    [[0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0], 10, 2], // nopw cs:0(rax,rax,1)
    [[0xf3, 0x0f, 0x1e, 0xfa], 4, 4], // endbr64
    [[0x48, 0x81, 0xec, 0x00, 0x01, 0x00, 0x00], 7, 8], // sub rsp, 0x100
    [[0x48, 0x83, 0xec, 0x08], 4, 8], // sub rsp, 8
    [[0x66, 0x81, 0xc3, 0x34, 0x12], 5, 2], // add bx, 0x1234
    [[0xf6, 0xc3, 0x01], 3, 1], // test bl, 1
    [[0xf7, 0xc3, 1, 0, 0, 0], 6, 4], // test ebx, 1
    [[0xf7, 0xe3], 2, 4], // mul ebx (no immediate)
    [[0xa1, 1, 2, 3, 4, 5, 6, 7, 8], 9, 4], // mov eax, moffs64
    [[0x67, 0xa1, 1, 2, 3, 4], 6, 4], // mov eax, moffs32
    [[0xff, 0xd0], 2, 8], // call rax
    [[0xff, 0x24, 0xc5, 0, 0, 0, 0], 7, 8], // jmp [rax*8+disp32]
    [[0xc8, 0x10, 0x00, 0x01], 4, 8], // enter 16, 1
    [[0xc2, 0x08, 0x00], 3, 8], // ret 8
    [[0x0f, 0xba, 0xe8, 0x05], 4, 4], // bts eax, 5
    [[0x48, 0x0f, 0xa4, 0xc2, 0x03], 5, 8], // shld rdx, rax, 3
  ];
  for (const [b, len, size] of cases) {
    const i = dec(b);
    assert.equal(i.length, len, `length of ${Buffer.from(b).toString('hex')}`);
    assert.equal(i.opSize, size, `operand size of ${Buffer.from(b).toString('hex')}`);
  }
});

void test('decodes SIB with no base, RIP-relative and REX-extended registers', () => {
  let i = dec([0x8b, 0x04, 0x25, 0x78, 0x56, 0x34, 0x12]); // mov eax, [0x12345678]
  assert.equal(i.base, NO_REG); assert.equal(i.index, NO_REG); assert.equal(i.disp, 0x12345678);
  i = dec([0x48, 0x8b, 0x05, 0xf0, 0xff, 0xff, 0xff]); // mov rax, [rip-16]
  assert.equal(i.base, BASE_RIP); assert.equal(i.disp, -16); assert.equal(i.length, 7);
  i = dec([0x4b, 0x8b, 0x44, 0xe5, 0x08]); // mov rax, [r13+r12*8+8]
  assert.equal(i.base, 13); assert.equal(i.index, 12); assert.equal(i.scale, 8); assert.equal(i.disp, 8);
  assert.equal(i.seg, Seg.DS, 'r13 base does not default to SS');
  i = dec([0x8b, 0x45, 0xfc]); // mov eax, [rbp-4]
  assert.equal(i.base, 5); assert.equal(i.seg, Seg.SS);
  i = dec([0x8b, 0x04, 0x24]); // mov eax, [rsp]
  assert.equal(i.base, 4); assert.equal(i.index, NO_REG); assert.equal(i.seg, Seg.SS);
  i = dec([0x42, 0x8b, 0x04, 0x25, 0, 0, 0, 0]); // mov eax, [r12*1] (REX.X makes index 12 real)
  assert.equal(i.index, 12); assert.equal(i.base, NO_REG);
  i = dec([0x44, 0x8b, 0xc1]); // mov r8d, ecx
  assert.equal(i.reg, 8); assert.equal(i.rm, 1); assert.equal(i.hasMem, false);
  i = dec([0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0]); // mov rax, fs:0x28
  assert.equal(i.seg, Seg.FS); assert.ok(i.prefixes & Prefix.SEG);
});

void test('decodes 16-bit addressing forms', () => {
  let i = dec([0x8b, 0x00], 16); // mov ax, [bx+si]
  assert.equal(i.base, 3); assert.equal(i.index, 6); assert.equal(i.opSize, 2); assert.equal(i.addrSize, 2);
  i = dec([0x8b, 0x46, 0xfe], 16); // mov ax, [bp-2]
  assert.equal(i.base, 5); assert.equal(i.disp, -2); assert.equal(i.seg, Seg.SS);
  i = dec([0x8b, 0x06, 0x34, 0x12], 16); // mov ax, [0x1234]
  assert.equal(i.base, NO_REG); assert.equal(i.disp, 0x1234); assert.equal(i.length, 4);
  i = dec([0x66, 0x67, 0x8b, 0x04, 0x24], 16); // mov eax, [esp]
  assert.equal(i.opSize, 4); assert.equal(i.addrSize, 4); assert.equal(i.base, 4); assert.equal(i.length, 5);
  i = dec([0x40], 16); // inc ax
  assert.equal(i.rm, 0); assert.equal(i.length, 1);
});

void test('prefixes: repeated, REX only right before the opcode, mandatory prefix selection', () => {
  let i = dec([0x66, 0x66, 0x66, 0x90]);
  assert.equal(i.length, 4); assert.equal(i.opSize, 2);
  i = dec([0x48, 0x66, 0x89, 0xc0]); // REX followed by a legacy prefix is ignored
  assert.equal(i.rex, 0); assert.equal(i.opSize, 2);
  i = dec([0xf2, 0xf3, 0x0f, 0x10, 0xc1]);
  assert.equal(i.mandatory, 2);
  i = dec([0xf3, 0xf2, 0x0f, 0x10, 0xc1]);
  assert.equal(i.mandatory, 3);
  i = dec([0x66, 0x0f, 0x6f, 0xc1]);
  assert.equal(i.mandatory, 1); assert.equal(i.map, OpMap.M0F);
});

void test('invalid encodings fault when executed: LOCK misuse, 64-bit-invalid opcodes, over-long instructions', () => {
  const runs = (b: number[], bits: 16 | 32 | 64 = 64): number => {
    const i = dec(b, bits);
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- CpuFault is not an Error (fault.ts)
    try { i.exec({ fault: (v: number) => { throw new CpuFault(v); } } as unknown as Cpu, i); } catch (e) {
      if (e instanceof CpuFault) return e.vector;
      throw e;
    }
    return -1;
  };
  assert.equal(runs([0xf0, 0x01, 0xc0]), 6); // lock add eax, eax (register destination)
  assert.equal(runs([0xf0, 0x89, 0x00]), 6); // lock mov: not lockable
  assert.equal(runs([0x06]), 6); // push es in 64-bit mode
  assert.equal(runs([0x60]), 6); // pusha in 64-bit mode
  assert.equal(runs([0x0f, 0x0b]), 6); // ud2
  assert.equal(runs(Array(15).fill(0x66).concat([0x90])), 13); // 16 bytes: #GP
  const lockOk = dec([0xf0, 0x0f, 0xb1, 0x0a]); // lock cmpxchg [rdx], ecx
  assert.notEqual(lockOk.exec.name, 'invalidOpcode');
});

void test('an unimplemented opcode raises UnimplementedInstructionError naming the bytes', () => {
  const i = dec([0x0f, 0x38, 0xc8, 0xc1]); // SHA1NEXTE: a 0F38 opcode nobody implements
  assert.throws(() => i.exec({} as Cpu, i), (e: unknown) => e instanceof UnimplementedInstructionError && /0f 38 c8/.test(e.message));
});
