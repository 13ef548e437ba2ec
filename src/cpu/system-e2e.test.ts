// End-to-end tests of the system side through the real Cpu (cpu.ts): the run loop, the Mmu,
// exception delivery with #DF / triple-fault escalation, SYSCALL/SYSRET and port I/O.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cpu } from './cpu.js';
import { Mmu } from './mmu.js';
import { CpuMode, Reg, Seg } from './state.js';
import { Vector } from './fault.js';
import type { SystemCpu } from './segments.js';
import { getReg64Num, setReg64Num } from './exceptions.js';
import {
  FakeClock, FakeIrq, IDT_BASE, RamBus, SEL, TSS_BASE, enterLong64, identityMap4Level, idtGate64, standardGdt,
} from './testing/system-fixture.js';

const MiB = 1 << 20;

function machine(): { bus: RamBus; cpu: Cpu } {
  const bus = new RamBus(16 * MiB);
  const cpu = new Cpu(0, bus, new FakeIrq(), new FakeClock());
  // The real Cpu is a SystemCpu (compile-time check) and uses this helper's Mmu by default.
  const sys: SystemCpu = cpu;
  assert.ok(sys.mem instanceof Mmu);
  standardGdt(bus, cpu);
  enterLong64(cpu, identityMap4Level(bus, 0x800000, 16));
  cpu.idtr = { base: IDT_BASE, limit: 256 * 16 - 1 };
  cpu.tr = { selector: SEL.TSS, base: TSS_BASE, limit: 0x67, attr: 0x8b };
  bus.w64(TSS_BASE + 4, 0x180000, 0); // RSP0
  bus.w64(TSS_BASE + 0x24, 0x1c0000, 0); // IST1
  setReg64Num(cpu, Reg.RSP, 0x170000);
  return { bus, cpu };
}

function load(bus: RamBus, at: number, bytes: number[]): void {
  bus.ram.set(bytes, at);
}

void test('system e2e: a #PF handler maps the page, INVLPGs and IRETQs; the load is retried', () => {
  const { bus, cpu } = machine();
  idtGate64(bus, Vector.PF, SEL.CODE64, 0x110000, 0xe, 0);
  load(bus, 0x100000, [0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x01, 0xf4]); // mov rax,[0x1000000]; hlt
  load(bus, 0x110000, [
    0x0f, 0x20, 0xd3, // mov rbx, cr2
    0x48, 0xc7, 0x04, 0x25, 0x40, 0x20, 0x80, 0x00, 0x87, 0x00, 0x20, 0x00, // mov qword [0x802040], 0x200087
    0x0f, 0x01, 0x3c, 0x25, 0x00, 0x00, 0x00, 0x01, // invlpg [0x1000000]
    0x48, 0x83, 0xc4, 0x08, // add rsp, 8
    0x48, 0xcf, // iretq
  ]);
  bus.w64(0x200000, 0x55667788, 0x11223344);
  cpu.rip = 0x100000;
  const exit = cpu.run(100);
  assert.equal(exit.kind, 'halt');
  assert.equal(getReg64Num(cpu, Reg.RBX), 0x1000000, 'CR2');
  assert.equal(cpu.gpr[2 * Reg.RAX], 0x55667788);
  assert.equal(cpu.gpr[2 * Reg.RAX + 1], 0x11223344);
  assert.equal(getReg64Num(cpu, Reg.RSP), 0x170000);
});

void test('system e2e: WRMSR STAR/LSTAR, SYSRETQ to ring 3, SYSCALL back', () => {
  const { bus, cpu } = machine();
  load(bus, 0x100000, [
    0xb9, 0x81, 0x00, 0x00, 0xc0, // mov ecx, 0xc0000081 (STAR)
    0x31, 0xc0, // xor eax, eax
    0xba, 0x08, 0x00, 0x20, 0x00, // mov edx, 0x00200008
    0x0f, 0x30, // wrmsr
    0xb9, 0x82, 0x00, 0x00, 0xc0, // mov ecx, 0xc0000082 (LSTAR)
    0xb8, 0x00, 0x00, 0x13, 0x00, // mov eax, 0x130000
    0x31, 0xd2, // xor edx, edx
    0x0f, 0x30, // wrmsr
    0xb9, 0x00, 0x00, 0x12, 0x00, // mov ecx, 0x120000
    0x41, 0xbb, 0x02, 0x02, 0x00, 0x00, // mov r11d, 0x202
    0x48, 0x0f, 0x07, // sysretq
  ]);
  load(bus, 0x120000, [0x0f, 0x05]); // syscall
  load(bus, 0x130000, [0xf4]); // hlt
  cpu.rip = 0x100000;
  const exit = cpu.run(100);
  assert.equal(exit.kind, 'halt');
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.seg[Seg.CS]!.selector, SEL.CODE64);
  assert.equal(getReg64Num(cpu, Reg.RCX), 0x120002);
  assert.equal(cpu.gpr[2 * Reg.R11], 0x202);
});

void test('system e2e: INT3 through a DPL-3 gate and IRETQ continue after the breakpoint', () => {
  const { bus, cpu } = machine();
  idtGate64(bus, Vector.BP, SEL.CODE64, 0x110000, 0xe, 3);
  load(bus, 0x100000, [0xcc, 0xb8, 0x07, 0x00, 0x00, 0x00, 0xf4]); // int3; mov eax, 7; hlt
  load(bus, 0x110000, [0xbb, 0x05, 0x00, 0x00, 0x00, 0x48, 0xcf]); // mov ebx, 5; iretq
  cpu.rip = 0x100000;
  assert.equal(cpu.run(100).kind, 'halt');
  assert.equal(cpu.gpr[2 * Reg.RAX], 7);
  assert.equal(cpu.gpr[2 * Reg.RBX], 5);
});

void test('system e2e: a #PF whose gate is missing escalates to #DF (IST stack, error code 0)', () => {
  const { bus, cpu } = machine();
  idtGate64(bus, Vector.DF, SEL.CODE64, 0x140000, 0xe, 0, 1);
  load(bus, 0x100000, [0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x01]); // mov rax,[0x1000000]
  load(bus, 0x140000, [0xf4]);
  cpu.rip = 0x100000;
  assert.equal(cpu.run(100).kind, 'halt');
  assert.equal(cpu.rip, 0x140001);
  assert.equal(getReg64Num(cpu, Reg.RSP), 0x1c0000 - 48);
  assert.equal(bus.r64(0x1c0000 - 48), 0n, '#DF error code');
  assert.equal(bus.r64(0x1c0000 - 40), 0x100000n, 'RIP of the faulting instruction');
});

void test('system e2e: no usable IDT at all is a triple fault', () => {
  const { bus, cpu } = machine();
  cpu.idtr = { base: IDT_BASE, limit: 0 };
  load(bus, 0x100000, [0x0f, 0x0b]); // ud2
  cpu.rip = 0x100000;
  assert.equal(cpu.run(100).kind, 'triple-fault');
});

void test('system e2e: far return to compatibility mode and port output from 32-bit code', () => {
  const { bus, cpu } = machine();
  load(bus, 0x100000, [
    0x6a, SEL.CODE32, // push 0x18
    0x68, 0x00, 0x00, 0x11, 0x00, // push 0x110000
    0x48, 0xcb, // retfq
  ]);
  load(bus, 0x110000, [0xb0, 0x41, 0xe6, 0xe9, 0xf4]); // mov al, 'A'; out 0xe9, al; hlt
  cpu.rip = 0x100000;
  assert.equal(cpu.run(100).kind, 'halt');
  assert.equal(cpu.mode, CpuMode.Compat32);
  assert.deepEqual(bus.pioLog.map((e) => [e.port, e.value, e.write]), [[0xe9, 0x41, true]]);
});

void test('system e2e: self-modifying code through the Mmu drops the stale block (codePages / onCodeWrite)', () => {
  const { bus, cpu } = machine();
  load(bus, 0x100000, [
    0xb8, 0x01, 0x00, 0x00, 0x00, // loop: mov eax, 1   (its imm32 gets patched)
    0xff, 0xc1, // inc ecx
    0x83, 0xf9, 0x02, // cmp ecx, 2
    0x74, 0x0a, // je done
    0xc6, 0x04, 0x25, 0x01, 0x00, 0x10, 0x00, 0x05, // mov byte [0x100001], 5
    0xeb, 0xea, // jmp loop
    0xf4, // done: hlt
  ]);
  cpu.rip = 0x100000;
  assert.equal(cpu.run(100).kind, 'halt');
  assert.equal(cpu.gpr[2 * Reg.RCX], 2);
  assert.equal(cpu.gpr[2 * Reg.RAX], 5, 'the second pass ran the patched instruction');
});
