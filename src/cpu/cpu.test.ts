import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSnippet, makeTestCpu, setMode, CODE_ADDRESS } from './testing/run-snippet.js';
import { EventKind, REP_CHUNK, type Cpu } from './cpu.js';
import { BlockCache } from './block-cache.js';
import { Flag } from './state.js';
import { PAUSE_LOOP_EXIT_NS, PAUSE_STALL_NS } from './pause.js';

const zero = (): bigint[] => Array<bigint>(16).fill(0n);
const withRegs = (regs: Record<number, bigint>): bigint[] => { const g = zero(); for (const [k, v] of Object.entries(regs)) g[Number(k)] = v; return g; };
const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RSI = 6, RDI = 7;

void test('a counting loop (mov/xor/add/loop)', () => {
  // mov ecx, 10; xor eax, eax; l: add eax, ecx; loop l
  const r = runSnippet(Uint8Array.from([0xb9, 10, 0, 0, 0, 0x31, 0xc0, 0x01, 0xc8, 0xe2, 0xfc]), { gpr: zero(), rflags: 2 });
  assert.equal(r.gpr[RAX], 55n);
  assert.equal(r.gpr[RCX], 0n);
});

void test('call and ret through the stack', () => {
  // call f; mov ebx, 1; jmp end; f: mov eax, 7; ret; end:
  const code = [0xe8, 7, 0, 0, 0, 0xbb, 1, 0, 0, 0, 0xeb, 6, 0xb8, 7, 0, 0, 0, 0xc3];
  const r = runSnippet(Uint8Array.from(code), { gpr: withRegs({ [RSP]: 0x10100n }), rflags: 2 }, { data: new Uint8Array(0x200) });
  assert.equal(r.gpr[RAX], 7n);
  assert.equal(r.gpr[RBX], 1n);
  assert.equal(r.gpr[RSP], 0x10100n);
  assert.deepEqual([...(r.data ?? []).slice(0xf8, 0x100)], [0x05, 0, 4, 0, 0, 0, 0, 0], 'return address 0x40005 was pushed');
});

void test('rep movsb / rep stosq / repne scasb', () => {
  const data = new Uint8Array(0x400);
  for (let k = 0; k < 0x100; k++) data[k] = k;
  // rep movsb (rsi=0x10000 -> rdi=0x10100, rcx=0x100); mov rdi,0x10200; mov rcx,4; mov rax,-1; rep stosq
  // mov rdi, 0x10000; mov rcx, 0x100; mov al, 0x42; repne scasb
  const code = [
    0xf3, 0xa4,
    0x48, 0xc7, 0xc7, 0x00, 0x02, 0x01, 0x00, 0x48, 0xc7, 0xc1, 4, 0, 0, 0, 0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, 0xf3, 0x48, 0xab,
    0x48, 0xc7, 0xc7, 0x00, 0x00, 0x01, 0x00, 0x48, 0xc7, 0xc1, 0x00, 0x01, 0, 0, 0xb0, 0x42, 0xf2, 0xae,
  ];
  const r = runSnippet(Uint8Array.from(code), { gpr: withRegs({ [RSI]: 0x10000n, [RDI]: 0x10100n, [RCX]: 0x100n }), rflags: 2 }, { data });
  const out = r.data!;
  for (let k = 0; k < 0x100; k++) assert.equal(out[0x100 + k], k);
  for (let k = 0; k < 32; k++) assert.equal(out[0x200 + k], 0xff);
  assert.equal(r.gpr[RDI], 0x10043n, 'scasb stopped after the 0x42 byte');
  assert.equal(r.gpr[RCX], 0x100n - 0x43n);
  assert.ok(r.rflags & Flag.ZF);
});

void test('a long REP loop yields and resumes at the same instruction', () => {
  const ram = new Uint8Array(0x80000);
  const { cpu } = makeTestCpu(ram);
  setMode(cpu, 'long64', CODE_ADDRESS, 0x10000);
  ram.set([0xfd, 0xf3, 0xaa], CODE_ADDRESS); // std; rep stosb (DF=1: element by element)
  const n = REP_CHUNK * 2 + 5;
  cpu.gpr[2 * RCX] = n; cpu.gpr[2 * RDI] = 0x30000; cpu.gpr[2 * RAX] = 0x5a;
  cpu.stopRip = CODE_ADDRESS + 3;
  assert.equal(cpu.run(2).kind, 'budget');
  assert.equal(cpu.rip, CODE_ADDRESS + 1, 'still at the REP instruction');
  assert.equal(cpu.gpr[2 * RCX], n - REP_CHUNK);
  assert.equal(cpu.run(100).kind, 'stop');
  assert.equal(cpu.gpr[2 * RCX], 0);
  assert.equal(ram[0x30000 - n + 1], 0x5a);
  assert.equal(ram[0x30000 - n], 0);
});

void test('self-modifying code: a write into a cached block drops it', () => {
  const ram = new Uint8Array(0x80000);
  const { cpu } = makeTestCpu(ram);
  setMode(cpu, 'long64', CODE_ADDRESS, 0x10000);
  // l: mov eax, 1 ; mov byte [rip - 10], 2 (patches the immediate of the first mov) ; dec ecx ; jnz l
  const code = [0xb8, 1, 0, 0, 0, 0xc6, 0x05, 0xf5, 0xff, 0xff, 0xff, 0x02, 0xff, 0xc9, 0x75, 0xf0];
  ram.set(code, CODE_ADDRESS);
  cpu.gpr[2 * RCX] = 2;
  cpu.stopRip = CODE_ADDRESS + code.length;
  assert.equal(cpu.run(100).kind, 'stop');
  assert.equal(ram[CODE_ADDRESS + 1], 2);
  assert.equal(cpu.gpr[2 * RAX], 2, 'second pass ran the patched instruction');
  assert.ok(cpu.blocks.invalidations >= 1);
});

void test('blocks are decoded once and replayed', () => {
  const ram = new Uint8Array(0x80000);
  const { cpu } = makeTestCpu(ram);
  setMode(cpu, 'long64', CODE_ADDRESS, 0x10000);
  // l: add eax, 1; cmp eax, 1000; jne l
  ram.set([0x83, 0xc0, 0x01, 0x3d, 0xe8, 0x03, 0, 0, 0x75, 0xf6], CODE_ADDRESS);
  cpu.stopRip = CODE_ADDRESS + 10;
  assert.equal(cpu.run(10_000).kind, 'stop');
  assert.equal(cpu.gpr[0], 1000);
  assert.equal(cpu.instructionCount, 3000);
  assert.equal(cpu.blocks.size, 1);
});

void test('faults end the run with the vector when no delivery is wired', () => {
  assert.equal(runSnippet(Uint8Array.from([0x31, 0xc9, 0xf7, 0xf1]), { gpr: zero(), rflags: 2 }).faultVector, 0); // div ecx=0
  assert.equal(runSnippet(Uint8Array.from([0x0f, 0x0b]), { gpr: zero(), rflags: 2 }).faultVector, 6); // ud2
  assert.equal(runSnippet(Uint8Array.from([0x8b, 0x03]), { gpr: withRegs({ [RBX]: 0x7000000n }), rflags: 2 }).faultVector, 14); // unmapped
  const r = runSnippet(Uint8Array.from([0x48, 0x8b, 0x03]), { gpr: withRegs({ [RBX]: 0x0000800000000000n }), rflags: 2 }); // non-canonical
  assert.equal(r.faultVector, 13);
});

void test('protected32 and real16 modes', () => {
  // push 0x12345678; pop eax; movzx ecx, ax
  let r = runSnippet(Uint8Array.from([0x68, 0x78, 0x56, 0x34, 0x12, 0x58, 0x0f, 0xb7, 0xc8]), { gpr: withRegs({ [RSP]: 0x10100n }), rflags: 2 }, { mode: 'protected32', data: new Uint8Array(0x200) });
  assert.equal(r.gpr[RAX], 0x12345678n);
  assert.equal(r.gpr[RCX], 0x5678n);
  // real16: mov ax, 0x1234; mov [0x10], ax; mov bx, [0x10]; inc bx; push bx; pop dx
  const code16 = [0xb8, 0x34, 0x12, 0xa3, 0x10, 0x00, 0x8b, 0x1e, 0x10, 0x00, 0x43, 0x53, 0x5a];
  r = runSnippet(Uint8Array.from(code16), { gpr: withRegs({ [RSP]: 0x100n }), rflags: 2 }, { mode: 'real16', data: new Uint8Array(0x200) });
  assert.equal(r.gpr[RBX], 0x1235n);
  assert.equal(r.gpr[RDX], 0x1235n);
  assert.equal(r.data![0x10], 0x34);
});

void test('external interrupts are delivered between blocks when IF=1', () => {
  const ram = new Uint8Array(0x80000);
  const { cpu } = makeTestCpu(ram);
  setMode(cpu, 'long64', CODE_ADDRESS, 0x10000);
  ram.set([0xff, 0xc0, 0xeb, 0xfc], CODE_ADDRESS); // l: inc eax; jmp l
  let pending = true;
  const delivered: [number, number][] = [];
  Object.assign(cpu.irq, { hasInterrupt: () => pending, acknowledge: () => { pending = false; return 0x30; } });
  cpu.deliverEvent = (c: Cpu, vector: number, _ec: number, kind: EventKind) => { delivered.push([vector, kind]); c.rip = CODE_ADDRESS; };
  assert.equal(cpu.run(10).kind, 'budget');
  assert.deepEqual(delivered, [], 'IF=0: nothing delivered');
  cpu.setRflags(Flag.IF, Flag.IF);
  cpu.run(10);
  assert.deepEqual(delivered, [[0x30, EventKind.External]]);
});

void test('TF: a #DB trap follows each instruction, with RIP at the next one', () => {
  const ram = new Uint8Array(0x80000);
  const { cpu } = makeTestCpu(ram);
  setMode(cpu, 'long64', CODE_ADDRESS, 0x10000);
  ram.set([0x90, 0x90, 0x90], CODE_ADDRESS);
  const traps: number[] = [];
  cpu.deliverEvent = (c: Cpu, vector: number) => { traps.push(vector, c.rip - CODE_ADDRESS); };
  cpu.setRflags(Flag.TF, Flag.TF);
  cpu.stopRip = CODE_ADDRESS + 3;
  assert.equal(cpu.run(100).kind, 'stop');
  assert.deepEqual(traps, [1, 1, 1, 2, 1, 3]);
  assert.ok(cpu.dr[6]! & 0x4000);
});

void test('vCPUs sharing a block cache see each other\'s code writes; DMA writes are dropped on request', () => {
  const ram = new Uint8Array(0x80000);
  const shared = { blocks: new BlockCache(), codePages: new Uint8Array(ram.length / 4096) };
  const a = makeTestCpu(ram, shared, 0).cpu;
  const b = makeTestCpu(ram, shared, 1).cpu;
  for (const c of [a, b]) setMode(c, 'long64', CODE_ADDRESS, 0x10000);
  ram.set([0xb8, 1, 0, 0, 0], CODE_ADDRESS); // mov eax, 1
  a.stopRip = CODE_ADDRESS + 5;
  assert.equal(a.run(10).kind, 'stop'); assert.equal(a.gpr[0], 1);
  // CPU b patches the immediate: mov byte [CODE_ADDRESS+1], 2
  ram.set([0xc6, 0x04, 0x25, 0x01, 0x00, 0x04, 0x00, 0x02], 0x50000);
  b.rip = 0x50000; b.stopRip = 0x50008;
  assert.equal(b.run(10).kind, 'stop');
  a.rip = CODE_ADDRESS;
  assert.equal(a.run(10).kind, 'stop'); assert.equal(a.gpr[0], 2, 'a ran the patched code');
  // A device writes RAM directly: the machine reports it.
  ram[CODE_ADDRESS + 1] = 3;
  a.invalidatePhysRange(CODE_ADDRESS, 5);
  a.rip = CODE_ADDRESS;
  assert.equal(a.run(10).kind, 'stop'); assert.equal(a.gpr[0], 3);
});

void test('16-bit code: [bp+si] addressing, CX loops, 16-bit call/ret, pusha/popa, rep movsw', () => {
  const data = new Uint8Array(0x400);
  data.set([0x11, 0x22, 0x33, 0x44], 0x20);
  const code = [
    0xbd, 0x10, 0x00, // mov bp, 0x10
    0xbe, 0x10, 0x00, // mov si, 0x10
    0x8b, 0x02, // mov ax, [bp+si]  (SS base = data)
    0xb9, 0x03, 0x00, // mov cx, 3
    0x31, 0xdb, // xor bx, bx
    0x43, 0xe2, 0xfd, // l: inc bx; loop l
    0xe8, 0x02, 0x00, // call f
    0xeb, 0x03, // jmp over
    0x42, // f: inc dx
    0xc3, // ret
    0x90, // (skipped by jmp: 3 bytes = inc dx; ret; nop)
    0x60, 0x31, 0xff, 0x61, // pusha; xor di, di; popa (restores di)
    0xbe, 0x20, 0x00, 0xbf, 0x40, 0x00, 0xb9, 0x02, 0x00, 0xf3, 0xa5, // mov si,0x20; mov di,0x40; mov cx,2; rep movsw
  ];
  const r = runSnippet(Uint8Array.from(code), { gpr: withRegs({ [RSP]: 0x200n, [RDI]: 0x77n }), rflags: 2 }, { mode: 'real16', data });
  assert.equal(r.gpr[RAX], 0x2211n);
  assert.equal(r.gpr[RBX], 3n);
  assert.equal(r.gpr[RCX], 0n);
  assert.equal(r.gpr[RDX], 1n);
  assert.equal(r.gpr[RSP], 0x200n);
  assert.equal(r.gpr[RDI], 0x44n);
  assert.deepEqual([...r.data!.slice(0x40, 0x44)], [0x11, 0x22, 0x33, 0x44]);
});

void test('32-bit code: enter/leave frames, sign-extending imul, cdq/idiv', () => {
  const code = [
    0x55, 0x89, 0xe5, // push ebp; mov ebp, esp
    0xc8, 0x08, 0x00, 0x00, // enter 8, 0
    0xc7, 0x45, 0xfc, 0xfb, 0xff, 0xff, 0xff, // mov dword [ebp-4], -5
    0x6b, 0x45, 0xfc, 0x07, // imul eax, [ebp-4], 7
    0x99, // cdq
    0xb9, 0x03, 0x00, 0x00, 0x00, // mov ecx, 3
    0xf7, 0xf9, // idiv ecx
    0xc9, 0xc9, // leave; leave
  ];
  const r = runSnippet(Uint8Array.from(code), { gpr: withRegs({ [RSP]: 0x10100n, 5: 0x1234n }), rflags: 2 }, { mode: 'protected32', data: new Uint8Array(0x200) });
  assert.equal(r.gpr[RAX], 0xfffffff5n, '-35 / 3 = -11');
  assert.equal(r.gpr[RDX], 0xfffffffen, 'remainder -2');
  assert.equal(r.gpr[RSP], 0x10100n);
  assert.equal(r.gpr[5], 0x1234n);
});

void test('requestExit stops run() at the next block boundary', () => {
  const ram = new Uint8Array(0x80000);
  const { cpu } = makeTestCpu(ram);
  setMode(cpu, 'long64', CODE_ADDRESS, 0x10000);
  ram.set([0xff, 0xc0, 0xeb, 0xfc], CODE_ADDRESS); // l: inc eax; jmp l
  cpu.requestExit();
  assert.equal(cpu.run(1000).kind, 'exit-request');
  assert.equal(cpu.instructionCount, 0);
  assert.equal(cpu.run(1000).kind, 'budget');
  assert.equal(cpu.gpr[0], 500);
});

void test('legacy-only BOUND raises #BR out of range', () => {
  const data = new Uint8Array(0x200);
  data.set([0x0a, 0, 0, 0, 0x14, 0, 0, 0], 0x100); // bounds [10, 20]
  const code = (idx: number): Uint8Array => Uint8Array.from([0xb8, idx, 0, 0, 0, 0x62, 0x05, 0x00, 0x01, 0x01, 0x00]); // mov eax, idx; bound eax, [0x10100]
  assert.equal(runSnippet(code(15), { gpr: zero(), rflags: 2 }, { mode: 'protected32', data }).faultVector, undefined);
  assert.equal(runSnippet(code(21), { gpr: zero(), rflags: 2 }, { mode: 'protected32', data }).faultVector, 5);
  assert.equal(runSnippet(code(15), { gpr: zero(), rflags: 2 }, { data }).faultVector, 6, '#UD in 64-bit mode');
});

void test('an instruction straddling a page boundary runs, and a write to its second page drops its block', () => {
  const ram = new Uint8Array(0x80000);
  const { cpu } = makeTestCpu(ram);
  setMode(cpu, 'long64', CODE_ADDRESS, 0x10000);
  const start = CODE_ADDRESS + 0x1000 - 3;
  ram.set([0xb8, 1, 0, 0, 0], start); // mov eax, 1 (bytes 3..4 on the next page)
  cpu.rip = start; cpu.stopRip = start + 5;
  assert.equal(cpu.run(10).kind, 'stop');
  assert.equal(cpu.gpr[0], 1);
  // Patch the immediate's high byte, on the second page, through the CPU: mov byte [start+4], 1
  const patch = [0xc6, 0x04, 0x25, (start + 4) & 0xff, ((start + 4) >> 8) & 0xff, (start + 4) >> 16, 0, 0x01];
  ram.set(patch, 0x50000);
  cpu.rip = 0x50000; cpu.stopRip = 0x50000 + patch.length;
  assert.equal(cpu.run(10).kind, 'stop');
  cpu.rip = start; cpu.stopRip = start + 5;
  assert.equal(cpu.run(10).kind, 'stop');
  assert.equal(cpu.gpr[0], 0x01000001);
});

void test('an application processor waits for SIPI, then starts in real mode at vector * 4 KiB', () => {
  const ram = new Uint8Array(0x80000);
  const { cpu } = makeTestCpu(ram);
  cpu.waitForSipi = true;
  let sipi = -1;
  Object.assign(cpu.irq, { takeStartup: () => { const v = sipi; sipi = -1; return v; } });
  assert.equal(cpu.run(10).kind, 'wait-for-sipi');
  ram.set([0xb8, 0x34, 0x12, 0x8c, 0xcb], 0x9000); // mov ax, 0x1234; mov bx, cs (system op)
  sipi = 0x09;
  cpu.stopRip = 3;
  assert.equal(cpu.run(10).kind, 'stop');
  assert.equal(cpu.gpr[0]! & 0xffff, 0x1234);
  assert.equal(cpu.seg[1]!.base, 0x9000);
  assert.equal(cpu.seg[1]!.selector, 0x0900);
});

void test('PAUSE ends run() with {kind:"pause"} only when pauseExits is on', () => {
  const ram = new Uint8Array(0x80000);
  const { cpu } = makeTestCpu(ram);
  setMode(cpu, 'long64', CODE_ADDRESS, 0x10000);
  ram.set([0xff, 0xc0, 0xf3, 0x90, 0xeb, 0xfa], CODE_ADDRESS); // l: inc eax; pause; jmp l
  assert.equal(cpu.run(30).kind, 'budget');
  assert.equal(cpu.gpr[0], 10);
  cpu.pauseExits = true;
  assert.equal(cpu.run(30).kind, 'pause');
  assert.equal(cpu.gpr[0], 11);
  assert.equal(cpu.rip, CODE_ADDRESS + 4, 'stopped after the PAUSE');
});

void test('each PAUSE stalls guest time; a PAUSE loop leaves run() after the pause-loop window', () => {
  const ram = new Uint8Array(0x80000);
  const { cpu } = makeTestCpu(ram);
  setMode(cpu, 'long64', CODE_ADDRESS, 0x10000);
  ram.set([0xff, 0xc0, 0xf3, 0x90, 0xeb, 0xfa], CODE_ADDRESS); // l: inc eax; pause; jmp l
  const pausesToExit = Math.ceil(PAUSE_LOOP_EXIT_NS / PAUSE_STALL_NS);
  assert.equal(cpu.run(1_000_000).kind, 'pause');
  assert.equal(cpu.pauseCount, pausesToExit);
  assert.equal(cpu.stallNs, pausesToExit * PAUSE_STALL_NS);
  assert.equal(cpu.instructionCount, 3 * pausesToExit - 1, 'stopped right after the PAUSE that crossed the window');
  // The window counts per run(): the next run spins as long again.
  assert.equal(cpu.run(1_000_000).kind, 'pause');
  assert.equal(cpu.pauseCount, 2 * pausesToExit);
});

void test('run(budget, finishBlocks) ends at a block boundary', () => {
  const ram = new Uint8Array(0x80000);
  const { cpu } = makeTestCpu(ram);
  setMode(cpu, 'long64', CODE_ADDRESS, 0x10000);
  const code = [...Array<number>(10).fill(0).flatMap(() => [0xff, 0xc0]), 0xf4];
  ram.set(code, CODE_ADDRESS);
  cpu.run(3, true);
  assert.equal(cpu.instructionCount, 11, 'the block ran to its end, the HLT included');
  assert.ok(cpu.halted);
  assert.equal(cpu.gpr[0], 10);
});

void test('CMPXCHG16B (announced in CPUID): a misaligned operand is #GP(0), a register operand #UD', () => {
  // lock cmpxchg16b [rbx] with rbx 8 bytes off a 16-byte boundary
  const code = Uint8Array.from([0xf0, 0x48, 0x0f, 0xc7, 0x0b]);
  assert.equal(runSnippet(code, { gpr: withRegs({ [RBX]: 0x10008n }), rflags: 2 }).faultVector, 13);
  assert.equal(runSnippet(Uint8Array.from([0x48, 0x0f, 0xc7, 0xc9]), { gpr: zero(), rflags: 2 }).faultVector, 6); // cmpxchg16b rcx
});
