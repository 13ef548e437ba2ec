// Block links across CR3 writes (cpu.ts globalCodeGen): a link to a block reached through a
// global page survives a CR3 load; one through a non-global page is looked up again, under the
// new page tables.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cpu } from './cpu.js';
import { Cr4 } from './state.js';
import { makeRamBus, NO_INTERRUPTS, FIXED_CLOCK, setMode } from './testing/run-snippet.js';

const PTE_P_RW = 3;
const PTE_G = 0x100;
const ROOT_A = 0x1000;
const ROOT_B = 0xa000;

function put64(view: DataView, at: number, lo: number): void {
  view.setUint32(at, lo >>> 0, true); view.setUint32(at + 4, 0, true);
}

/**
 * Two 4-level page tables over the first 2 MiB in 4 KiB pages, identical except that linear
 * 0x10000 maps to physical 0x10000 under A and 0x11000 under B (non-global). The loop's own page
 * (0x7000) is global when `globalText`.
 */
function machine(globalText: boolean): { cpu: Cpu; ram: Uint8Array } {
  const ram = new Uint8Array(0x200000);
  const view = new DataView(ram.buffer);
  for (const [root, pt, page10] of [[ROOT_A, 0x4000, 0x10000], [ROOT_B, 0xd000, 0x11000]] as const) {
    put64(view, root, (root + 0x1000) | PTE_P_RW);
    put64(view, root + 0x1000, (root + 0x2000) | PTE_P_RW);
    put64(view, root + 0x2000, pt | PTE_P_RW);
    for (let i = 0; i < 512; i++) {
      const pa = i === 0x10 ? page10 : i * 0x1000;
      put64(view, pt + i * 8, pa | PTE_P_RW | (i === 7 && globalText ? PTE_G : 0));
    }
  }
  // 0x7000: jmp 0x10000
  ram.set([0xe9, 0xfb, 0x8f, 0x00, 0x00], 0x7000);
  // linear 0x10000: mov eax, 1 (under A) / mov eax, 2 (under B); jmp 0x7100
  ram.set([0xb8, 0x01, 0, 0, 0, 0xe9, 0xf6, 0x70, 0xff, 0xff], 0x10000);
  ram.set([0xb8, 0x02, 0, 0, 0, 0xe9, 0xf6, 0x70, 0xff, 0xff], 0x11000);
  // 0x7100: add ebx, eax; mov cr3, rsi; xchg rdi, rsi; dec edx; jnz 0x7000
  ram.set([0x01, 0xc3, 0x0f, 0x22, 0xde, 0x48, 0x87, 0xf7, 0xff, 0xca, 0x0f, 0x85, 0xf0, 0xfe, 0xff, 0xff], 0x7100);
  const cpu = new Cpu(0, makeRamBus(ram), NO_INTERRUPTS, FIXED_CLOCK);
  setMode(cpu, 'long64', 0x7000, 0x10000);
  cpu.cr4 |= Cr4.PGE;
  cpu.cr3 = ROOT_A;
  cpu.flushTlb(true);
  cpu.gpr[2 * 6] = ROOT_B; // rsi: the next CR3
  cpu.gpr[2 * 7] = ROOT_A; // rdi: the one after
  cpu.stopRip = 0x7110;
  return { cpu, ram };
}

function runLoop(globalText: boolean, iterations: number): Cpu {
  const { cpu } = machine(globalText);
  cpu.gpr[2 * 2] = iterations;
  // Small budgets: run() starts without a previous block, so links also have to hold between runs.
  for (let k = 0; k < 10_000 && cpu.rip !== 0x7110; k++) {
    const exit = cpu.run(7);
    assert.ok(exit.kind === 'budget' || exit.kind === 'stop', `unexpected exit ${exit.kind}`);
  }
  assert.equal(cpu.rip, 0x7110);
  return cpu;
}

void test('block links: a CR3 write re-resolves links into non-global pages', () => {
  for (const globalText of [false, true]) {
    const cpu = runLoop(globalText, 40);
    // 20 iterations under A (eax = 1) and 20 under B (eax = 2).
    assert.equal(cpu.gpr[2 * 3], 20 * 1 + 20 * 2, `globalText=${globalText}`);
  }
});

void test('block links: links into global pages survive CR3 writes (fewer lookups)', () => {
  const nonGlobal = runLoop(false, 200).codeLookups;
  const global = runLoop(true, 200).codeLookups;
  assert.ok(global < nonGlobal, `lookups with global text ${global} < without ${nonGlobal}`);
});
