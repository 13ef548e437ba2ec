import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Insn, type OpHandler, OpMap, Prefix } from './insn.js';
import { CpuMode, Cr0, Cr4, Efer, Flag, Reg, Seg } from './state.js';
import { CpuFault, Vector } from './fault.js';
import { registerSystemOps } from './system-ops.js';
import { getReg64Num, setReg64Num } from './exceptions.js';
import { DecodedInsn } from './decoder.js';
import {
  GDT_BASE, IDT_BASE, RamBus, SEL, TSS_BASE, TestCpu, enterLong64, identityMap4Level, setSeg, standardGdt,
} from './testing/system-fixture.js';

const MiB = 1 << 20;

const table = new Map<number, OpHandler>();
registerSystemOps({ set: (map, op, _m, h) => { table.set(map * 256 + op, h); } });

function insn(map: OpMap, op: number, fields: Partial<Insn> = {}): Insn {
  const i = new DecodedInsn();
  i.map = map; i.op = op;
  Object.assign(i, fields);
  if (i.modrm >= 0) {
    i.mod = i.modrm >> 6;
    if (fields.reg === undefined) i.reg = ((i.modrm >> 3) & 7) | ((i.rex & 4) << 1);
    if (fields.rm === undefined) i.rm = (i.modrm & 7) | ((i.rex & 1) << 3);
    i.hasMem = i.mod !== 3;
  }
  return i;
}

function exec(cpu: TestCpu, i: Insn): void {
  const h = table.get(i.map * 256 + i.op);
  assert.ok(h, `handler for ${i.map}:${i.op.toString(16)}`);
  h(cpu, i);
}

function fault(f: () => unknown): CpuFault {
  try { f(); } catch (e) { if (e instanceof CpuFault) return e; throw e; }
  assert.fail('expected a CpuFault');
}

function long64(): { bus: RamBus; cpu: TestCpu } {
  const bus = new RamBus(16 * MiB);
  const cpu = new TestCpu(bus);
  standardGdt(bus, cpu);
  enterLong64(cpu, identityMap4Level(bus, 0x800000, 16));
  return { bus, cpu };
}

const M0F = OpMap.M0F;
const P = OpMap.Primary;

function setRax(cpu: TestCpu, lo: number, hi = 0): void { cpu.setReg64(Reg.RAX, lo, hi); }

// ---- control registers and the switch to long mode ----

void test('system-ops: MOV CR0/CR4/EFER enter long mode (LMA), far JMP to a 64-bit code segment', () => {
  const bus = new RamBus(16 * MiB);
  const cpu = new TestCpu(bus);
  standardGdt(bus, cpu);
  identityMap4Level(bus, 0x800000, 16);
  // Protected mode, 32-bit code.
  cpu.cr0 = (Cr0.PE | Cr0.ET) >>> 0;
  setSeg(cpu, Seg.CS, SEL.CODE32, 0xc09b);
  setSeg(cpu, Seg.SS, SEL.DATA0, 0xc093);
  cpu.updateMode();
  assert.equal(cpu.mode, CpuMode.Protected32);
  // mov cr4, eax (PAE)
  setRax(cpu, Cr4.PAE);
  exec(cpu, insn(M0F, 0x22, { modrm: 0xe0 }));
  // wrmsr EFER.LME
  cpu.setReg(4, Reg.RCX, 0xc0000080, 0); setRax(cpu, Efer.LME); cpu.setReg(4, Reg.RDX, 0, 0);
  exec(cpu, insn(M0F, 0x30));
  // mov cr3, eax
  setRax(cpu, 0x800000);
  exec(cpu, insn(M0F, 0x22, { modrm: 0xd8 }));
  assert.equal(cpu.cr3, 0x800000);
  // mov cr0, eax with PG
  setRax(cpu, (Cr0.PE | Cr0.PG | Cr0.ET) >>> 0);
  exec(cpu, insn(M0F, 0x22, { modrm: 0xc0 }));
  assert.equal(cpu.efer & Efer.LMA, Efer.LMA);
  assert.equal(cpu.mode, CpuMode.Compat32);
  // jmp far 0x08:0x100000
  exec(cpu, insn(P, 0xea, { imm: 0x100000, imm2: SEL.CODE64, opSize: 4 }));
  assert.equal(cpu.mode, CpuMode.Long64);
  assert.equal(cpu.rip, 0x100000);
  // Accessed bit set in the GDT.
  assert.equal(bus.r32(GDT_BASE + SEL.CODE64 + 4) & 0x100, 0x100);
  // mov rax, cr0 reads back; mov rbx, cr3.
  exec(cpu, insn(M0F, 0x20, { modrm: 0xc3, rex: 0x48 }));
  assert.equal(cpu.gpr[2 * Reg.RBX], (Cr0.PE | Cr0.PG | Cr0.ET) >>> 0);
});

void test('system-ops: CR checks: PG without PE, unsupported CR4 bits, clearing PAE in long mode, LME with paging on', () => {
  const { cpu } = long64();
  setRax(cpu, Cr0.PG >>> 0);
  assert.equal(fault(() => exec(cpu, insn(M0F, 0x22, { modrm: 0xc0 }))).vector, Vector.GP);
  setRax(cpu, Cr4.PAE | Cr4.OSXSAVE);
  assert.equal(fault(() => exec(cpu, insn(M0F, 0x22, { modrm: 0xe0 }))).vector, Vector.GP);
  setRax(cpu, 0);
  assert.equal(fault(() => exec(cpu, insn(M0F, 0x22, { modrm: 0xe0 }))).vector, Vector.GP);
  cpu.setReg(4, Reg.RCX, 0xc0000080, 0); setRax(cpu, Efer.NXE); cpu.setReg(4, Reg.RDX, 0, 0);
  assert.equal(fault(() => exec(cpu, insn(M0F, 0x30))).vector, Vector.GP);
  // CR3 high reserved bits.
  setRax(cpu, 0x1000, 0x100);
  assert.equal(fault(() => exec(cpu, insn(M0F, 0x22, { modrm: 0xd8, rex: 0x48 }))).vector, Vector.GP);
  // MOV to CR8 goes to the interrupt controller's TPR.
  setRax(cpu, 5);
  exec(cpu, insn(M0F, 0x22, { modrm: 0xc0, reg: 8, rex: 0x44 }));
  assert.equal(cpu.irq.tpr, 5);
  // Privileged: CPL 3 gets #GP(0).
  setSeg(cpu, Seg.CS, SEL.UCODE64, 0xa0fb); cpu.updateMode();
  assert.deepEqual([fault(() => exec(cpu, insn(M0F, 0x20, { modrm: 0xc0 }))).errorCode], [0]);
});

void test('system-ops: CR3 writes flush non-global TLB entries; CR4.PGE changes flush all', () => {
  const { cpu } = long64();
  const before = cpu.flushes;
  setRax(cpu, 0x800000);
  exec(cpu, insn(M0F, 0x22, { modrm: 0xd8, rex: 0x48 }));
  setRax(cpu, Cr4.PAE);
  exec(cpu, insn(M0F, 0x22, { modrm: 0xe0, rex: 0x48 }));
  assert.equal(cpu.flushes, before + 2);
});

// ---- descriptor tables ----

void test('system-ops: LGDT/LIDT/SGDT/SIDT with 64-bit bases; SMSW; LTR marks the TSS busy', () => {
  const { bus, cpu } = long64();
  bus.view.setUint16(0x5000, 0x7f, true);
  bus.w64(0x5002, 0x81000000, 0xffffffff);
  cpu.eaValue = 0x5000;
  exec(cpu, insn(M0F, 0x01, { modrm: 0x18, opSize: 4 })); // LIDT
  assert.deepEqual(cpu.idtr, { limit: 0x7f, base: -0x7f000000 });
  cpu.eaValue = 0x6000;
  exec(cpu, insn(M0F, 0x01, { modrm: 0x08, opSize: 4 })); // SIDT
  assert.equal(bus.view.getUint16(0x6000, true), 0x7f);
  assert.equal(bus.r64(0x6002), 0xffffffff81000000n);
  cpu.eaValue = 0x7000;
  exec(cpu, insn(M0F, 0x01, { modrm: 0x00, opSize: 4 })); // SGDT
  assert.equal(bus.view.getUint16(0x7000, true), cpu.gdtr.limit);
  assert.equal(bus.r64(0x7002), BigInt(GDT_BASE));
  cpu.setReg(4, Reg.RAX, SEL.TSS, 0);
  exec(cpu, insn(M0F, 0x00, { modrm: 0xd8 })); // LTR ax
  assert.equal(cpu.tr.base, TSS_BASE);
  assert.equal(cpu.tr.attr & 0xf, 0xb);
  assert.equal((bus.r32(GDT_BASE + SEL.TSS + 4) >>> 8) & 0xf, 0xb);
  // LTR of a busy TSS faults.
  assert.deepEqual([fault(() => exec(cpu, insn(M0F, 0x00, { modrm: 0xd8 }))).errorCode], [SEL.TSS]);
  exec(cpu, insn(M0F, 0x00, { modrm: 0xcb, opSize: 4 })); // STR ebx
  assert.equal(cpu.gpr[2 * Reg.RBX], SEL.TSS);
  exec(cpu, insn(M0F, 0x01, { modrm: 0xe1, opSize: 4 })); // SMSW ecx
  assert.equal(cpu.gpr[2 * Reg.RCX], cpu.cr0 >>> 0);
});

void test('system-ops: INVLPG drops the translation', () => {
  const { bus, cpu } = long64();
  bus.w32(0x123000, 1);
  assert.equal(cpu.read32(0x123000), 1);
  bus.w64(0x802000 + 0, (0x200000) | 0x87, 0); // remap the first 2 MiB page to pa 0x200000
  bus.w32(0x323000, 2);
  assert.equal(cpu.read32(0x123000), 1);
  cpu.eaValue = 0x123000;
  exec(cpu, insn(M0F, 0x01, { modrm: 0x38 }));
  assert.equal(cpu.read32(0x123000), 2);
});

void test('system-ops: LAR, LSL, VERR, VERW', () => {
  const { cpu } = long64();
  cpu.setReg(4, Reg.RAX, SEL.DATA0, 0);
  exec(cpu, insn(M0F, 0x02, { modrm: 0xd8, opSize: 4 })); // lar ebx, ax
  assert.equal(cpu.flagsRest & Flag.ZF, Flag.ZF);
  assert.equal(cpu.gpr[2 * Reg.RBX], 0x00cf9300 & 0x00f0ff00 | 0x100);
  exec(cpu, insn(M0F, 0x03, { modrm: 0xd8, opSize: 4 })); // lsl ebx, ax
  assert.equal(cpu.gpr[2 * Reg.RBX], 0xffffffff);
  cpu.setReg(4, Reg.RAX, 0x1f8, 0); // beyond the GDT limit
  exec(cpu, insn(M0F, 0x03, { modrm: 0xd8, opSize: 4 }));
  assert.equal(cpu.flagsRest & Flag.ZF, 0);
  cpu.setReg(4, Reg.RAX, SEL.CODE64, 0);
  exec(cpu, insn(M0F, 0x00, { modrm: 0xe8 })); // verw ax: code is not writable
  assert.equal(cpu.flagsRest & Flag.ZF, 0);
  exec(cpu, insn(M0F, 0x00, { modrm: 0xe0 })); // verr ax: readable code
  assert.equal(cpu.flagsRest & Flag.ZF, Flag.ZF);
});

// ---- MSRs, SYSCALL/SYSRET, SWAPGS ----

function wrmsr(cpu: TestCpu, msr: number, v: bigint): void {
  cpu.setReg(4, Reg.RCX, msr, 0);
  cpu.setReg(4, Reg.RAX, Number(v & 0xffffffffn), 0);
  cpu.setReg(4, Reg.RDX, Number(v >> 32n), 0);
  exec(cpu, insn(M0F, 0x30));
}

function rdmsr(cpu: TestCpu, msr: number): bigint {
  cpu.setReg(4, Reg.RCX, msr, 0);
  exec(cpu, insn(M0F, 0x32));
  return (BigInt(cpu.gpr[2 * Reg.RDX]!) << 32n) | BigInt(cpu.gpr[2 * Reg.RAX]!);
}

void test('system-ops: SYSCALL and SYSRET round trip (Linux STAR layout)', () => {
  const { cpu } = long64();
  wrmsr(cpu, 0xc0000081, (0x23n << 48n) | (0x10n << 32n)); // STAR: kernel CS 0x10? Linux: __KERNEL_CS=0x10
  wrmsr(cpu, 0xc0000082, 0xffffffff81a00000n);
  wrmsr(cpu, 0xc0000084, 0x47700n); // TF DF IF IOPL AC NT
  // Go to user mode via SYSRET first.
  cpu.setReg64(Reg.RCX, 0x400000, 0);
  cpu.setReg64(Reg.R11, 0x202 | Flag.DF, 0);
  exec(cpu, insn(M0F, 0x07, { opSize: 8, rex: 0x48 }));
  assert.equal(cpu.mode, CpuMode.Long64);
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.seg[Seg.CS]!.selector, 0x33);
  assert.equal(cpu.seg[Seg.SS]!.selector, 0x2b);
  assert.equal(cpu.rip, 0x400000);
  assert.equal(cpu.flagsRest & (Flag.IF | Flag.DF), Flag.IF | Flag.DF);
  // SYSCALL from user mode.
  cpu.rip = 0x400010;
  exec(cpu, insn(M0F, 0x05));
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.seg[Seg.CS]!.selector, 0x10);
  assert.equal(cpu.seg[Seg.SS]!.selector, 0x18);
  assert.equal(cpu.rip, -0x7e600000);
  assert.equal(getReg64Num(cpu, Reg.RCX), 0x400010);
  assert.equal(cpu.gpr[2 * Reg.R11], 0x202 | Flag.DF);
  assert.equal(cpu.flagsRest & (Flag.IF | Flag.DF), 0, 'SFMASK applied');
  // SYSRET to compatibility mode (no REX.W).
  cpu.setReg64(Reg.RCX, 0x8048000, 0);
  exec(cpu, insn(M0F, 0x07, { opSize: 4 }));
  assert.equal(cpu.mode, CpuMode.Compat32);
  assert.equal(cpu.seg[Seg.CS]!.selector, 0x23);
  // SYSCALL is #UD outside 64-bit mode on Intel; SYSRET at CPL 3 is #UD there too.
  assert.equal(fault(() => exec(cpu, insn(M0F, 0x05))).vector, Vector.UD);
});

void test('system-ops: SYSRET to a non-canonical RCX is #GP(0)', () => {
  const { cpu } = long64();
  cpu.setReg64(Reg.RCX, 0, 0x8000);
  assert.deepEqual([fault(() => exec(cpu, insn(M0F, 0x07, { opSize: 8 }))).errorCode], [0]);
});

void test('system-ops: SWAPGS exchanges GS.base and KERNEL_GS_BASE', () => {
  const { cpu } = long64();
  wrmsr(cpu, 0xc0000101, 0x1000n);
  wrmsr(cpu, 0xc0000102, 0xffff888000000000n);
  exec(cpu, insn(M0F, 0x01, { modrm: 0xf8 }));
  assert.equal(cpu.seg[Seg.GS]!.base, -0x778000000000);
  assert.equal(rdmsr(cpu, 0xc0000102), 0x1000n);
});

void test('system-ops: RDTSC follows the guest clock; IA32_TSC writes adjust the offset; RDTSCP gives TSC_AUX', () => {
  const { cpu } = long64();
  cpu.clock.ns = 1_000_000; // 1 ms at 2 GHz = 2,000,000 ticks
  exec(cpu, insn(M0F, 0x31));
  assert.equal(cpu.gpr[2 * Reg.RAX], 2_000_000);
  assert.equal(cpu.gpr[2 * Reg.RDX], 0);
  wrmsr(cpu, 0x10, 0x100000000n);
  cpu.clock.ns += 500; // 1000 ticks later
  exec(cpu, insn(M0F, 0x31));
  assert.equal(cpu.gpr[2 * Reg.RDX], 1);
  assert.equal(cpu.gpr[2 * Reg.RAX], 1000);
  wrmsr(cpu, 0xc0000103, 3n);
  exec(cpu, insn(M0F, 0x01, { modrm: 0xf9 }));
  assert.equal(cpu.gpr[2 * Reg.RCX], 3);
});

void test('system-ops: CPUID through the instruction', () => {
  const { cpu } = long64();
  setRax(cpu, 0);
  exec(cpu, insn(M0F, 0xa2));
  const vendor = [Reg.RBX, Reg.RDX, Reg.RCX].map((r) => {
    const v = cpu.gpr[2 * r]!;
    return String.fromCharCode(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
  }).join('');
  assert.equal(vendor, 'GenuineIntel');
});

// ---- INT n, HLT, CLI/STI ----

void test('system-ops: INT3 and INT n deliver through the IDT with the next RIP', () => {
  const { bus, cpu } = long64();
  cpu.idtr = { base: IDT_BASE, limit: 0xfff };
  const gate = (v: number, off: number, dpl: number): void => {
    bus.w32(IDT_BASE + v * 16, (SEL.CODE64 << 16) | (off & 0xffff));
    bus.w32(IDT_BASE + v * 16 + 4, (off & 0xffff0000) | 0x8000 | (dpl << 13) | (0xe << 8));
  };
  gate(3, 0x3000, 3);
  gate(0x40, 0x4000, 0);
  setReg64Num(cpu, Reg.RSP, 0x100000);
  cpu.rip = 0x1001; // already past the CC byte
  exec(cpu, insn(P, 0xcc));
  assert.equal(cpu.rip, 0x3000);
  assert.equal(bus.r64(0x100000 - 40), 0x1001n);
  exec(cpu, insn(P, 0xcd, { imm: 0x40 }));
  assert.equal(cpu.rip, 0x4000);
});

void test('system-ops: HLT, CLI/STI with IOPL checks and the STI interrupt shadow', () => {
  const { cpu } = long64();
  cpu.flagsRest = 2;
  exec(cpu, insn(P, 0xfb));
  assert.equal(cpu.flagsRest & Flag.IF, Flag.IF);
  assert.equal(cpu.interruptShadow, true);
  cpu.interruptShadow = false;
  exec(cpu, insn(P, 0xfb));
  assert.equal(cpu.interruptShadow, false, 'no shadow when IF was already set');
  exec(cpu, insn(P, 0xfa));
  assert.equal(cpu.flagsRest & Flag.IF, 0);
  exec(cpu, insn(P, 0xf4));
  assert.equal(cpu.halted, true);
  setSeg(cpu, Seg.CS, SEL.UCODE64, 0xa0fb); cpu.updateMode();
  assert.equal(fault(() => exec(cpu, insn(P, 0xfa))).vector, Vector.GP);
  assert.equal(fault(() => exec(cpu, insn(P, 0xf4))).vector, Vector.GP);
  cpu.flagsRest |= Flag.IOPL;
  exec(cpu, insn(P, 0xfb));
  assert.equal(cpu.flagsRest & Flag.IF, Flag.IF);
});

// ---- I/O ----

void test('system-ops: IN/OUT by immediate and DX; CPL 3 needs IOPL or the TSS bitmap', () => {
  const { bus, cpu } = long64();
  cpu.setReg(4, Reg.RAX, 0x41, 0);
  exec(cpu, insn(P, 0xe6, { imm: 0x80 }));
  cpu.setReg(4, Reg.RDX, 0x3f8, 0);
  exec(cpu, insn(P, 0xee));
  bus.pioValue = 0x12345678;
  exec(cpu, insn(P, 0xed, { opSize: 2 }));
  assert.equal(cpu.gpr[2 * Reg.RAX]! & 0xffff, 0x5678);
  exec(cpu, insn(P, 0xe5, { imm: 0x71, opSize: 4 }));
  assert.equal(cpu.gpr[2 * Reg.RAX], 0x12345678);
  assert.deepEqual(bus.pioLog.map((e) => [e.port, e.size, e.write]), [[0x80, 1, true], [0x3f8, 1, true], [0x3f8, 2, false], [0x71, 4, false]]);
  // User mode: denied without a TSS bitmap...
  setSeg(cpu, Seg.CS, SEL.UCODE64, 0xa0fb); cpu.updateMode();
  cpu.tr = { selector: SEL.TSS, base: TSS_BASE, limit: 0x67, attr: 0x8b };
  assert.equal(fault(() => exec(cpu, insn(P, 0xee))).vector, Vector.GP);
  // ...allowed by a bitmap with port 0x3f8's bit clear (map at 0x68, all other bits set).
  cpu.tr.limit = 0x68 + 0x2000;
  bus.view.setUint16(TSS_BASE + 102, 0x68, true);
  for (let k = 0; k < 0x2000; k++) bus.ram[TSS_BASE + 0x68 + k] = 0xff;
  bus.ram[TSS_BASE + 0x68 + (0x3f8 >> 3)] = 0xfe;
  exec(cpu, insn(P, 0xee));
  cpu.setReg(4, Reg.RDX, 0x3f9, 0);
  assert.equal(fault(() => exec(cpu, insn(P, 0xee))).vector, Vector.GP);
});

void test('system-ops: REP INSW / OUTSB move data and count down RCX', () => {
  const { bus, cpu } = long64();
  bus.pioValue = 0xbeef;
  cpu.setReg(4, Reg.RDX, 0x1f0, 0);
  cpu.setReg64(Reg.RDI, 0x9000, 0);
  cpu.setReg64(Reg.RCX, 4, 0);
  exec(cpu, insn(P, 0x6d, { opSize: 2, addrSize: 8, prefixes: Prefix.REP }));
  assert.equal(getReg64Num(cpu, Reg.RCX), 0);
  assert.equal(getReg64Num(cpu, Reg.RDI), 0x9008);
  assert.equal(bus.r32(0x9004), 0xbeefbeef);
  bus.ram.set([1, 2, 3], 0xa000);
  cpu.setReg64(Reg.RSI, 0xa000, 0);
  cpu.setReg64(Reg.RCX, 3, 0);
  cpu.setReg(4, Reg.RDX, 0x3f8, 0);
  bus.pioLog.length = 0;
  exec(cpu, insn(P, 0x6e, { addrSize: 8, prefixes: Prefix.REP, seg: Seg.DS }));
  assert.deepEqual(bus.pioLog.map((e) => e.value), [1, 2, 3]);
});

// ---- segment registers and far transfers ----

void test('system-ops: MOV Sreg loads with checks; POP SS sets the interrupt shadow; PUSH FS', () => {
  const { cpu } = long64();
  cpu.setReg(4, Reg.RAX, SEL.DATA0, 0);
  exec(cpu, insn(P, 0x8e, { modrm: 0xd8 })); // mov ds, ax
  assert.equal(cpu.seg[Seg.DS]!.selector, SEL.DATA0);
  assert.equal(cpu.seg[Seg.DS]!.attr & 0xff, 0x93);
  cpu.setReg(4, Reg.RAX, SEL.CODE64, 0);
  assert.deepEqual([fault(() => exec(cpu, insn(P, 0x8e, { modrm: 0xd0 }))).errorCode], [SEL.CODE64]); // mov ss, code
  assert.equal(fault(() => exec(cpu, insn(P, 0x8e, { modrm: 0xc8 }))).vector, Vector.UD); // mov cs
  cpu.setReg(4, Reg.RAX, 0, 0);
  exec(cpu, insn(P, 0x8e, { modrm: 0xd0 })); // null SS at CPL 0 in 64-bit mode is fine
  assert.equal(cpu.interruptShadow, true);
  exec(cpu, insn(P, 0x8c, { modrm: 0xdb, opSize: 4 })); // mov ebx, ds
  assert.equal(cpu.gpr[2 * Reg.RBX], SEL.DATA0);
  setReg64Num(cpu, Reg.RSP, 0x100000);
  cpu.seg[Seg.FS]!.selector = 0;
  exec(cpu, insn(M0F, 0xa0, { opSize: 8 }));
  assert.equal(getReg64Num(cpu, Reg.RSP), 0x100000 - 8);
  // POP GS with a bad selector restores RSP.
  cpu.write64(0x100000 - 8, SEL.TSS, 0); // a system descriptor
  cpu.gpr[2 * Reg.RAX] = 0;
  const e = fault(() => exec(cpu, insn(M0F, 0xa9, { opSize: 8 })));
  assert.equal(e.vector, Vector.GP);
  assert.equal(getReg64Num(cpu, Reg.RSP), 0x100000 - 8);
});

void test('system-ops: far CALL / RETF (lretq) in 64-bit mode', () => {
  const { bus, cpu } = long64();
  setReg64Num(cpu, Reg.RSP, 0x100000);
  bus.w64(0x7000, 0x222000, 0);
  bus.view.setUint16(0x7008, SEL.CODE64, true);
  cpu.eaValue = 0x7000;
  cpu.rip = 0x111111;
  exec(cpu, insn(P, 0xff, { modrm: 0x18, opSize: 8, rex: 0x48 })); // call far [m16:64]
  assert.equal(cpu.rip, 0x222000);
  assert.equal(bus.r64(0x100000 - 16), 0x111111n);
  assert.equal(bus.r64(0x100000 - 8), BigInt(SEL.CODE64));
  exec(cpu, insn(P, 0xcb, { opSize: 8 })); // lretq
  assert.equal(cpu.rip, 0x111111);
  assert.equal(getReg64Num(cpu, Reg.RSP), 0x100000);
  // A far JMP to a data segment faults with the selector and changes nothing.
  bus.view.setUint16(0x7008, SEL.DATA0, true);
  const e = fault(() => exec(cpu, insn(P, 0xff, { modrm: 0x28, opSize: 8 })));
  assert.deepEqual([e.vector, e.errorCode], [Vector.GP, SEL.DATA0]);
  assert.equal(cpu.seg[Seg.CS]!.selector, SEL.CODE64);
});

void test('system-ops: real mode far JMP, MOV Sreg and LDS', () => {
  const bus = new RamBus(2 * MiB);
  const cpu = new TestCpu(bus);
  exec(cpu, insn(P, 0xea, { imm: 0x100, imm2: 0x2000, opSize: 2 }));
  assert.equal(cpu.seg[Seg.CS]!.base, 0x20000);
  assert.equal(cpu.rip, 0x100);
  bus.view.setUint16(0x500, 0x1234, true);
  bus.view.setUint16(0x502, 0x5000, true);
  cpu.eaValue = 0x500;
  exec(cpu, insn(P, 0xc5, { modrm: 0x36, opSize: 2 })); // lds si, [..]
  assert.equal(cpu.seg[Seg.DS]!.base, 0x50000);
  assert.equal(cpu.gpr[2 * Reg.RSI]! & 0xffff, 0x1234);
});
