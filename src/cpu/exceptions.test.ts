import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuMode, Cr0, Flag, Reg, Seg } from './state.js';
import { CpuFault, Vector } from './fault.js';
import { DeliveryKind, deliverEvent, getReg64Num, hasErrorCode, iret, setReg64Num } from './exceptions.js';
import {
  IDT_BASE, RamBus, SEL, TSS_BASE, TestCpu, enterLong64, identityMap4Level, idtGate32, idtGate64, segDescriptor, setSeg,
  standardGdt, GDT_BASE,
} from './testing/system-fixture.js';
import { EventKind } from './cpu.js';

const MiB = 1 << 20;

function fault(f: () => unknown): CpuFault {
  try { f(); } catch (e) { if (e instanceof CpuFault) return e; throw e; }
  assert.fail('expected a CpuFault');
}

function long64(): { bus: RamBus; cpu: TestCpu } {
  const bus = new RamBus(16 * MiB);
  const cpu = new TestCpu(bus);
  standardGdt(bus, cpu);
  enterLong64(cpu, identityMap4Level(bus, 0x800000, 16));
  cpu.idtr = { base: IDT_BASE, limit: 256 * 16 - 1 };
  cpu.tr = { selector: SEL.TSS, base: TSS_BASE, limit: 0x67, attr: 0x8b };
  bus.w64(TSS_BASE + 4, 0x200000, 0); // RSP0
  bus.w64(TSS_BASE + 0x24, 0x300000, 0); // IST1
  idtGate64(bus, Vector.PF, SEL.CODE64, 0x100000, 0xe, 0);
  idtGate64(bus, Vector.NMI, SEL.CODE64, 0x110000, 0xe, 0, 1);
  idtGate64(bus, 0x80, SEL.CODE64, 0x120000, 0xf, 3);
  idtGate64(bus, 0x81, SEL.CODE64, 0x130000, 0xe, 0);
  cpu.flagsRest = Flag.IF | 2;
  return { bus, cpu };
}

function toUser64(cpu: TestCpu): void {
  setSeg(cpu, Seg.CS, SEL.UCODE64, 0xa0fb);
  setSeg(cpu, Seg.SS, SEL.UDATA, 0xc0f3);
  cpu.updateMode();
}

void test('exceptions: delivery kinds match cpu.ts EventKind', () => {
  assert.equal(DeliveryKind.Exception, EventKind.Exception);
  assert.equal(DeliveryKind.External, EventKind.External);
  assert.equal(DeliveryKind.Software, EventKind.Software);
  assert.equal(DeliveryKind.Nmi, EventKind.Nmi);
  assert.ok(hasErrorCode(Vector.PF) && hasErrorCode(Vector.DF) && !hasErrorCode(Vector.UD) && !hasErrorCode(Vector.BP));
});

void test('exceptions long mode: #PF from CPL 3 switches to RSP0 with a null SS and pushes the full frame', () => {
  const { bus, cpu } = long64();
  toUser64(cpu);
  setReg64Num(cpu, Reg.RSP, 0x150008);
  cpu.rip = 0x401234;
  assert.equal(cpu.cpl, 3);
  deliverEvent(cpu, Vector.PF, 6, DeliveryKind.Exception);
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.mode, CpuMode.Long64);
  assert.equal(cpu.seg[Seg.CS]!.selector, SEL.CODE64);
  assert.equal(cpu.seg[Seg.SS]!.selector, 0);
  assert.equal(cpu.rip, 0x100000);
  assert.equal(getReg64Num(cpu, Reg.RSP), 0x200000 - 48);
  const frame = [0, 1, 2, 3, 4, 5].map((k) => bus.r64(0x200000 - 48 + k * 8));
  assert.deepEqual(frame, [6n, 0x401234n, BigInt(SEL.UCODE64), 0x202n, 0x150008n, BigInt(SEL.UDATA)]);
  assert.equal(cpu.flagsRest & Flag.IF, 0, 'interrupt gate clears IF');
});

void test('exceptions long mode: IRETQ returns to CPL 3 and restores RSP, SS, RFLAGS', () => {
  const { cpu } = long64();
  toUser64(cpu);
  setReg64Num(cpu, Reg.RSP, 0x150008);
  cpu.rip = 0x401234;
  deliverEvent(cpu, Vector.PF, 6, DeliveryKind.Exception);
  setReg64Num(cpu, Reg.RSP, getReg64Num(cpu, Reg.RSP) + 8); // handler pops the error code
  iret(cpu, 8);
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.rip, 0x401234);
  assert.equal(getReg64Num(cpu, Reg.RSP), 0x150008);
  assert.equal(cpu.seg[Seg.SS]!.selector, SEL.UDATA);
  assert.equal(cpu.seg[Seg.CS]!.selector, SEL.UCODE64);
  assert.equal(cpu.flagsRest & Flag.IF, Flag.IF);
  assert.equal(cpu.mode, CpuMode.Long64);
});

void test('exceptions long mode: same-privilege delivery aligns RSP to 16; trap gate keeps IF; kernel addresses', () => {
  const { bus, cpu } = long64();
  setReg64Num(cpu, Reg.RSP, 0x180008);
  cpu.rip = -0x7f000000 + 0x10; // 0xffffffff81000010
  deliverEvent(cpu, 0x80, -1, DeliveryKind.Software);
  assert.equal(getReg64Num(cpu, Reg.RSP), 0x180000 - 40);
  assert.equal(bus.r64(0x180000 - 40), 0xffffffff81000010n);
  assert.equal(bus.r64(0x180000 - 16), 0x180008n);
  assert.equal(cpu.flagsRest & Flag.IF, Flag.IF);
  iret(cpu, 8);
  assert.equal(cpu.rip, -0x7f000000 + 0x10);
  assert.equal(getReg64Num(cpu, Reg.RSP), 0x180008);
});

void test('exceptions long mode: IST stack for NMI', () => {
  const { cpu } = long64();
  setReg64Num(cpu, Reg.RSP, 0x180000);
  deliverEvent(cpu, Vector.NMI, -1, DeliveryKind.Nmi);
  assert.equal(getReg64Num(cpu, Reg.RSP), 0x300000 - 40);
  assert.equal(cpu.rip, 0x110000);
});

void test('exceptions long mode: gate checks (DPL for INT n, not-present, limit) give IDT error codes', () => {
  const { bus, cpu } = long64();
  toUser64(cpu);
  setReg64Num(cpu, Reg.RSP, 0x150000);
  let f = fault(() => deliverEvent(cpu, 0x81, -1, DeliveryKind.Software));
  assert.deepEqual([f.vector, f.errorCode], [Vector.GP, 0x81 * 8 + 2]);
  f = fault(() => deliverEvent(cpu, 0x90, -1, DeliveryKind.External)); // zero gate: type 0
  assert.deepEqual([f.vector, f.errorCode], [Vector.GP, 0x90 * 8 + 3]);
  idtGate64(bus, 0x91, SEL.CODE64, 0x1000, 0xe, 0);
  bus.w32(IDT_BASE + 0x91 * 16 + 4, bus.r32(IDT_BASE + 0x91 * 16 + 4) & ~0x8000);
  f = fault(() => deliverEvent(cpu, 0x91, -1, DeliveryKind.External));
  assert.deepEqual([f.vector, f.errorCode], [Vector.NP, 0x91 * 8 + 3]);
  cpu.idtr = { base: IDT_BASE, limit: 0x7f };
  f = fault(() => deliverEvent(cpu, Vector.PF, 0, DeliveryKind.Exception));
  assert.deepEqual([f.vector, f.errorCode], [Vector.GP, Vector.PF * 8 + 3]);
  // Nothing was changed by the failed deliveries.
  assert.equal(cpu.cpl, 3);
  assert.equal(getReg64Num(cpu, Reg.RSP), 0x150000);
});

void test('exceptions long mode: a fault writing the frame leaves the state untouched', () => {
  const { bus, cpu } = long64();
  toUser64(cpu);
  setReg64Num(cpu, Reg.RSP, 0x150000);
  bus.w64(TSS_BASE + 4, 0x2000000, 0); // RSP0 beyond the mapped 16 MiB
  const f = fault(() => deliverEvent(cpu, Vector.PF, 2, DeliveryKind.Exception));
  assert.equal(f.vector, Vector.PF);
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.seg[Seg.CS]!.selector, SEL.UCODE64);
  assert.equal(getReg64Num(cpu, Reg.RSP), 0x150000);
});

void test('exceptions long mode: IRETQ to compatibility mode (32-bit user code)', () => {
  const { bus, cpu } = long64();
  setReg64Num(cpu, Reg.RSP, 0x180000 - 40);
  const f = 0x180000 - 40;
  bus.w64(f, 0x8048000, 0); bus.w64(f + 8, SEL.UCODE32, 0); bus.w64(f + 16, 0x202, 0);
  bus.w64(f + 24, 0xbffff000, 0); bus.w64(f + 32, SEL.UDATA, 0);
  iret(cpu, 8);
  assert.equal(cpu.mode, CpuMode.Compat32);
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.rip, 0x8048000);
  assert.equal(getReg64Num(cpu, Reg.RSP), 0xbffff000);
});

void test('exceptions long mode: IRETQ checks the target code segment', () => {
  const { bus, cpu } = long64();
  const f = 0x180000 - 40;
  setReg64Num(cpu, Reg.RSP, f);
  bus.w64(f, 0x1000, 0); bus.w64(f + 8, SEL.DATA0, 0); bus.w64(f + 16, 0x2, 0);
  bus.w64(f + 24, 0x1000, 0); bus.w64(f + 32, 0, 0);
  const e = fault(() => iret(cpu, 8));
  assert.deepEqual([e.vector, e.errorCode], [Vector.GP, SEL.DATA0]);
  // Non-canonical RIP into 64-bit code.
  bus.w64(f, 0, 0x8000); bus.w64(f + 8, SEL.CODE64, 0);
  assert.deepEqual([fault(() => iret(cpu, 8)).vector], [Vector.GP]);
});

// ---- legacy protected mode ----

function protected32(): { bus: RamBus; cpu: TestCpu } {
  const bus = new RamBus(4 * MiB);
  const cpu = new TestCpu(bus);
  standardGdt(bus, cpu);
  cpu.cr0 = (Cr0.PE | Cr0.ET) >>> 0;
  setSeg(cpu, Seg.CS, SEL.CODE32, 0xc09b);
  setSeg(cpu, Seg.SS, SEL.DATA0, 0xc093);
  setSeg(cpu, Seg.DS, SEL.DATA0, 0xc093);
  cpu.updateMode();
  cpu.idtr = { base: IDT_BASE, limit: 256 * 8 - 1 };
  // A 32-bit TSS in place of the 64-bit one: ESP0 at 4, SS0 at 8.
  const [lo, hi] = segDescriptor(TSS_BASE, 0x67, 0x8b);
  bus.w64(GDT_BASE + SEL.TSS, lo, hi);
  cpu.tr = { selector: SEL.TSS, base: TSS_BASE, limit: 0x67, attr: 0x8b };
  bus.w32(TSS_BASE + 4, 0x90000);
  bus.w32(TSS_BASE + 8, SEL.DATA0);
  idtGate32(bus, 0x21, SEL.CODE32, 0x5000, 0xe, 0);
  idtGate32(bus, 0x80, SEL.CODE32, 0x6000, 0xf, 3);
  idtGate32(bus, Vector.GP, SEL.CODE32, 0x7000, 0xe, 0);
  cpu.flagsRest = Flag.IF | 2;
  return { bus, cpu };
}

void test('exceptions protected mode: same-privilege interrupt gate pushes EFLAGS, CS, EIP', () => {
  const { bus, cpu } = protected32();
  assert.equal(cpu.mode, CpuMode.Protected32);
  cpu.gpr[2 * Reg.RSP] = 0x80000;
  cpu.rip = 0x1234;
  deliverEvent(cpu, 0x21, -1, DeliveryKind.External);
  assert.equal(cpu.gpr[2 * Reg.RSP], 0x80000 - 12);
  assert.deepEqual([bus.r32(0x80000 - 12), bus.r32(0x80000 - 8), bus.r32(0x80000 - 4)], [0x1234, SEL.CODE32, 0x202]);
  assert.equal(cpu.rip, 0x5000);
  assert.equal(cpu.flagsRest & Flag.IF, 0);
  iret(cpu, 4);
  assert.equal(cpu.rip, 0x1234);
  assert.equal(cpu.gpr[2 * Reg.RSP], 0x80000);
  assert.equal(cpu.flagsRest & Flag.IF, Flag.IF);
});

void test('exceptions protected mode: INT 0x80 from CPL 3 switches to the TSS stack; IRET returns to ring 3', () => {
  const { bus, cpu } = protected32();
  setSeg(cpu, Seg.CS, SEL.UCODE32, 0xc0fb);
  setSeg(cpu, Seg.SS, SEL.UDATA, 0xc0f3);
  setSeg(cpu, Seg.DS, SEL.UDATA, 0xc0f3);
  cpu.updateMode();
  cpu.gpr[2 * Reg.RSP] = 0x70000;
  cpu.rip = 0x8048010;
  deliverEvent(cpu, 0x80, -1, DeliveryKind.Software);
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.seg[Seg.SS]!.selector, SEL.DATA0);
  assert.equal(cpu.gpr[2 * Reg.RSP], 0x90000 - 20);
  const f = 0x90000 - 20;
  assert.deepEqual([bus.r32(f), bus.r32(f + 4), bus.r32(f + 8), bus.r32(f + 12), bus.r32(f + 16)],
    [0x8048010, SEL.UCODE32, 0x202, 0x70000, SEL.UDATA]);
  assert.equal(cpu.flagsRest & Flag.IF, Flag.IF, 'trap gate');
  iret(cpu, 4);
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.gpr[2 * Reg.RSP], 0x70000);
  assert.equal(cpu.seg[Seg.SS]!.selector, SEL.UDATA);
  assert.equal(cpu.seg[Seg.DS]!.selector, SEL.UDATA);
});

void test('exceptions protected mode: #GP with an error code; IRET at CPL 3 cannot change IOPL or IF', () => {
  const { bus, cpu } = protected32();
  cpu.gpr[2 * Reg.RSP] = 0x80000;
  deliverEvent(cpu, Vector.GP, 0x18, DeliveryKind.Exception);
  assert.equal(bus.r32(0x80000 - 16), 0x18);
  // IRET at CPL 3 (same level) with a frame asking for IOPL 3 and IF=0.
  setSeg(cpu, Seg.CS, SEL.UCODE32, 0xc0fb);
  setSeg(cpu, Seg.SS, SEL.UDATA, 0xc0f3);
  cpu.updateMode();
  cpu.flagsRest = Flag.IF | 2;
  cpu.gpr[2 * Reg.RSP] = 0x60000;
  bus.w32(0x60000, 0x100); bus.w32(0x60004, SEL.UCODE32); bus.w32(0x60008, 0x3002 | Flag.DF);
  iret(cpu, 4);
  assert.equal(cpu.flagsRest & Flag.IOPL, 0);
  assert.equal(cpu.flagsRest & Flag.IF, Flag.IF);
  assert.equal(cpu.flagsRest & Flag.DF, Flag.DF);
});

// ---- real mode ----

void test('exceptions real mode: IVT delivery and IRET round trip', () => {
  const bus = new RamBus(2 * MiB);
  const cpu = new TestCpu(bus);
  cpu.idtr = { base: 0, limit: 0x3ff };
  bus.w32(8 * 4, (0x1234 << 16) | 0x5678);
  const ss = cpu.seg[Seg.SS]!; ss.selector = 0x2000; ss.base = 0x20000;
  const cs = cpu.seg[Seg.CS]!; cs.selector = 0x3000; cs.base = 0x30000;
  cpu.gpr[2 * Reg.RSP] = 0x100;
  cpu.rip = 0x10;
  cpu.flagsRest = Flag.IF | Flag.TF | 2;
  deliverEvent(cpu, 8, -1, DeliveryKind.External);
  assert.equal(cpu.gpr[2 * Reg.RSP], 0xfa);
  assert.deepEqual([bus.view.getUint16(0x200fa, true), bus.view.getUint16(0x200fc, true), bus.view.getUint16(0x200fe, true)], [0x10, 0x3000, 0x302]);
  assert.equal(cpu.seg[Seg.CS]!.base, 0x12340);
  assert.equal(cpu.rip, 0x5678);
  assert.equal(cpu.flagsRest & (Flag.IF | Flag.TF), 0);
  iret(cpu, 2);
  assert.equal(cpu.rip, 0x10);
  assert.equal(cpu.seg[Seg.CS]!.base, 0x30000);
  assert.equal(cpu.gpr[2 * Reg.RSP], 0x100);
  assert.equal(cpu.flagsRest & (Flag.IF | Flag.TF), Flag.IF | Flag.TF);
});
