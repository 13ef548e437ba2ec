// End-to-end through the default wiring: helper B's Mmu (4-level paging) and IDT delivery.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cpu } from './cpu.js';
import { makeRamBus, NO_INTERRUPTS, FIXED_CLOCK, setMode } from './testing/run-snippet.js';

function put64(ram: Uint8Array, at: number, lo: number, hi: number): void {
  const v = new DataView(ram.buffer);
  v.setUint32(at, lo >>> 0, true); v.setUint32(at + 4, hi >>> 0, true);
}

function machine(): { cpu: Cpu; ram: Uint8Array } {
  const ram = new Uint8Array(0x200000);
  // Identity map of the first 2 MiB: PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 (one 2 MiB page).
  put64(ram, 0x1000, 0x2003, 0); put64(ram, 0x2000, 0x3003, 0); put64(ram, 0x3000, 0x83, 0);
  // GDT at 0x4000: null, 64-bit code (0x08), data (0x10).
  put64(ram, 0x4008, 0x0000ffff, 0x00af9a00); put64(ram, 0x4010, 0x0000ffff, 0x00cf9200);
  // IDT at 0x5000: vector 0 (#DE) and 14 (#PF) -> interrupt gates to 0x6000 / 0x6100.
  for (const [vec, handler] of [[0, 0x6000], [14, 0x6100]] as const) {
    put64(ram, 0x5000 + vec * 16, (0x08 << 16) | (handler & 0xffff), (handler & 0xffff0000) | 0x8e00);
    put64(ram, 0x5000 + vec * 16 + 8, 0, 0);
  }
  const cpu = new Cpu(0, makeRamBus(ram), NO_INTERRUPTS, FIXED_CLOCK);
  setMode(cpu, 'long64', 0x7000, 0x10000);
  cpu.cr3 = 0x1000;
  cpu.gdtr = { base: 0x4000, limit: 0x17 };
  cpu.idtr = { base: 0x5000, limit: 0xfff };
  cpu.flushTlb(true);
  cpu.gpr[2 * 4] = 0x8000;
  return { cpu, ram };
}

void test('with paging and IDT delivery: #DE reaches its handler with the faulting RIP pushed', () => {
  const { cpu, ram } = machine();
  ram.set([0xb8, 0x05, 0, 0, 0, 0x31, 0xc9, 0xf7, 0xf1], 0x7000); // mov eax,5; xor ecx,ecx; div ecx
  ram.set([0xbb, 0x77, 0, 0, 0], 0x6000); // mov ebx, 0x77
  cpu.stopRip = 0x6005;
  assert.equal(cpu.run(100).kind, 'stop');
  assert.equal(cpu.gpr[2 * 3], 0x77);
  const view = new DataView(ram.buffer);
  assert.equal(cpu.gpr[2 * 4], 0x8000 - 40, 'SS, RSP, RFLAGS, CS, RIP pushed');
  assert.equal(view.getUint32(0x8000 - 40, true), 0x7007, 'RIP of the DIV');
});

void test('with paging: an access past the mapping page-faults with CR2 set', () => {
  const { cpu, ram } = machine();
  ram.set([0x8b, 0x04, 0x25, 0x00, 0x00, 0x40, 0x00], 0x7000); // mov eax, [0x400000]
  ram.set([0xbb, 0x0e, 0, 0, 0], 0x6100);
  cpu.stopRip = 0x6105;
  assert.equal(cpu.run(100).kind, 'stop');
  assert.equal(cpu.cr2, 0x400000);
  assert.equal(cpu.gpr[2 * 3], 14);
});

// Looking up or decoding code where nothing is mapped is not a fault the guest sees, so it must
// not change CR2: a wasm review translated a block anew (its trace looked up an address the
// current process does not map) between a #PF's delivery and the kernel's read of CR2, and the
// kernel handled the fault at that address, killing the process (bench/ops, stop 26).
void test('with paging: lookups and decodes that fault where nothing is mapped leave CR2 alone', () => {
  const { cpu, ram } = machine();
  cpu.cr2 = 0x1234;
  assert.equal(cpu.lookupBlock(0x400000), null);
  assert.equal(cpu.cr2, 0x1234, 'after a lookup');
  // nop x6; then mov eax, 0x77 across the end of the mapping (0x200000): the block is decoded up
  // to it, and the fetch fault comes when it runs.
  ram.set([0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xb8, 0x77], 0x1ffff8);
  ram.set([0xbb, 0x0e, 0, 0, 0], 0x6100);
  cpu.rip = 0x1ffff8;
  assert.equal(cpu.run(1).kind, 'budget');
  assert.equal(cpu.rip, 0x1ffff9);
  assert.equal(cpu.cr2, 0x1234, 'after the decode, before the instruction whose fetch faults');
  cpu.stopRip = 0x6105;
  assert.equal(cpu.run(100).kind, 'stop');
  assert.equal(cpu.cr2, 0x200000, 'the fetch fault set it');
});

void test('with paging: bulk REP STOSQ/MOVSB across pages, and code writes through the Mmu drop blocks', () => {
  const { cpu, ram } = machine();
  // mov rdi, 0x20ff8; mov ecx, 0x400; mov rax, -1; rep stosq (crosses 0x21000)
  // mov rsi, 0x20ff8; mov rdi, 0x30ffc; mov ecx, 0x2000; rep movsb
  ram.set([0x48, 0xc7, 0xc7, 0xf8, 0x0f, 0x02, 0x00, 0xb9, 0x00, 0x04, 0, 0, 0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, 0xf3, 0x48, 0xab,
    0x48, 0xc7, 0xc6, 0xf8, 0x0f, 0x02, 0x00, 0x48, 0xc7, 0xc7, 0xfc, 0x0f, 0x03, 0x00, 0xb9, 0x00, 0x20, 0, 0, 0xf3, 0xa4], 0x7000);
  cpu.stopRip = 0x7000 + 43;
  assert.equal(cpu.run(1000).kind, 'stop');
  assert.equal(ram[0x20ff7], 0); assert.equal(ram[0x20ff8], 0xff); assert.equal(ram[0x22ff7], 0xff); assert.equal(ram[0x22ff8], 0);
  assert.equal(ram[0x30ffb], 0); assert.equal(ram[0x30ffc], 0xff); assert.equal(ram[0x32ffb], 0xff); assert.equal(ram[0x32ffc], 0);
  assert.ok(cpu.instructionCount < 20, 'the REP instructions ran in bulk');

  // Self-modifying code through the Mmu's write path.
  ram.set([0xb8, 1, 0, 0, 0, 0xc6, 0x05, 0xf5, 0xff, 0xff, 0xff, 0x02, 0xff, 0xc9, 0x75, 0xf0], 0x9000);
  cpu.rip = 0x9000; cpu.gpr[2] = 2; cpu.stopRip = 0x9010;
  assert.equal(cpu.run(100).kind, 'stop');
  assert.equal(cpu.gpr[0], 2);
});

void test('with paging: code remapped and INVLPG-ed runs anew (links to it are dropped), an INVLPG of a data region keeps going', () => {
  const { cpu, ram } = machine();
  // lin 0x400000 (its own 4 MiB region) -> PT 0x9000 -> pa 0x10000 (mov eax, 1; ret)
  put64(ram, 0x3000 + 2 * 8, 0x9003, 0); put64(ram, 0x9000, 0x10003, 0);
  ram.set([0xb8, 1, 0, 0, 0, 0xc3], 0x10000);
  ram.set([0xb8, 2, 0, 0, 0, 0xc3], 0x11000);
  const code = [
    0x48, 0xc7, 0xc3, 0x00, 0x00, 0x40, 0x00, // mov rbx, 0x400000
    0xb9, 0x02, 0x00, 0x00, 0x00, // mov ecx, 2
    0xeb, 0x00, // jmp loop (so that the loop starts a block)
    // loop: the same CALL block twice, so its link to the callee is what the second pass checks
    0xff, 0xd3, // call rbx
    0x89, 0xfe, // mov esi, edi
    0x89, 0xc7, // mov edi, eax
    0x0f, 0x01, 0x3c, 0x25, 0x00, 0x00, 0x80, 0x00, // invlpg [0x800000] (no code in its region)
    0xc7, 0x04, 0x25, 0x00, 0x90, 0x00, 0x00, 0x03, 0x10, 0x01, 0x00, // mov dword [0x9000], 0x11003
    0x0f, 0x01, 0x3c, 0x25, 0x00, 0x00, 0x40, 0x00, // invlpg [0x400000]
    0xff, 0xc9, // dec ecx
    0x75, 0xdb, // jnz loop
  ];
  ram.set(code, 0x7000);
  cpu.gpr[2 * 4] = 0x20000; // the stack off the code's page (a write there drops its blocks)
  cpu.stopRip = 0x7000 + code.length;
  assert.equal(cpu.run(1000).kind, 'stop');
  assert.equal(cpu.gpr[2 * 6], 1, 'the old mapping before');
  assert.equal(cpu.gpr[2 * 7], 2, 'the new mapping after INVLPG');
});
