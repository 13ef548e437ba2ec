// The RunSnippet contract (snippet.ts) on the soft CPU: a RAM-only machine with no devices, the
// mode set up directly in CpuState, code at CODE_ADDRESS, run until RIP reaches the end of the
// code. Memory is flat (linear = physical, FlatMemory) so snippets do not depend on the MMU.
//
// Layout: RAM is SNIPPET_RAM_BYTES; data at options.dataAddress (default 0x10000); code at
// CODE_ADDRESS. In 'real16' mode DS/ES/SS/FS/GS have base dataAddress & ~0xf (selector
// dataAddress >> 4) so 16-bit offsets reach the data, and CS has base CODE_ADDRESS.

import type { RunSnippet, SnippetResult, SnippetState } from './snippet.js';
import type { CpuBus, GuestClock, InterruptController } from '../bus.js';
import { Cpu } from '../cpu.js';
import type { BlockCache } from '../block-cache.js';
import { Cr0, Cr4, Efer, Seg } from '../state.js';
import { FlatMemory } from './flat-memory.js';
import type { WasmTier } from '../wasm/tier.js';

export const SNIPPET_RAM_BYTES = 0x80000;
export const CODE_ADDRESS = 0x40000;
const DEFAULT_DATA_ADDRESS = 0x10000;
/** Instructions a snippet may run before it is declared stuck. */
export const SNIPPET_BUDGET = 5_000_000;

export function makeRamBus(ram: Uint8Array): CpuBus {
  return {
    ram,
    ramOffset: (pa) => (pa >= 0 && pa < ram.length ? pa : -1),
    mmioRead: (_pa, size) => (size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff),
    mmioWrite: () => {},
    pioRead: (_port, size) => (size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff),
    pioWrite: () => {},
  };
}

export const NO_INTERRUPTS: InterruptController = {
  hasInterrupt: () => false,
  acknowledge: () => 0,
  takeNmi: () => false,
  takeStartup: () => -1,
  setTpr: () => {},
  getTpr: () => 0,
};

export const FIXED_CLOCK: GuestClock = { nowNs: () => 0, tscHz: 1_000_000_000 };

/** Creates a soft CPU over a flat RAM array with no event delivery (faults end run()). */
export function makeTestCpu(ram: Uint8Array, shared?: { blocks: BlockCache; codePages: Uint8Array }, cpuIndex = 0, wasm: WasmTier | null = null): { cpu: Cpu; mem: FlatMemory } {
  const bus = makeRamBus(ram);
  const cpu = new Cpu(cpuIndex, bus, { ...NO_INTERRUPTS }, FIXED_CLOCK, { // own copy: tests may patch it
    mem: { hi: 0 } as unknown as FlatMemory, // replaced below (FlatMemory needs the state)
    deliverEvent: null,
    ...(shared !== undefined ? { blocks: shared.blocks } : {}),
    wasm,
  });
  // With the wasm tier (`ram` must then be wasm.ram): the TLB and code-page map in its arena.
  const mem = new FlatMemory(ram, cpu, cpu.slab ?? undefined);
  if (shared !== undefined) mem.codePages = shared.codePages;
  if (cpu.wasm !== null) mem.codePages = cpu.wasm.codePages;
  cpu.mem = mem;
  mem.onCodeWrite = (pagePa) => cpu.invalidateCodePage(pagePa);
  return { cpu, mem };
}

/** Puts the CPU in 64-bit mode, protected 32-bit or real mode with flat segments (CPL 0). */
export function setMode(cpu: Cpu, mode: 'long64' | 'protected32' | 'real16', codeAddress: number, dataAddress: number): void {
  const s = cpu.seg;
  if (mode === 'long64') {
    cpu.cr0 = Cr0.PE | Cr0.MP | Cr0.ET | Cr0.NE | Cr0.WP | Cr0.PG;
    cpu.cr4 = Cr4.PAE | Cr4.OSFXSR | Cr4.OSXMMEXCPT;
    cpu.efer = Efer.LME | Efer.LMA | Efer.SCE | Efer.NXE;
    Object.assign(s[Seg.CS]!, { selector: 0x08, base: 0, limit: 0xffffffff, attr: 0xa09b });
    for (const k of [Seg.ES, Seg.SS, Seg.DS, Seg.FS, Seg.GS]) Object.assign(s[k]!, { selector: 0x10, base: 0, limit: 0xffffffff, attr: 0xc093 });
    cpu.rip = codeAddress;
  } else if (mode === 'protected32') {
    cpu.cr0 = Cr0.PE | Cr0.MP | Cr0.ET | Cr0.NE;
    cpu.cr4 = Cr4.OSFXSR | Cr4.OSXMMEXCPT;
    cpu.efer = 0;
    Object.assign(s[Seg.CS]!, { selector: 0x08, base: 0, limit: 0xffffffff, attr: 0xc09b });
    for (const k of [Seg.ES, Seg.SS, Seg.DS, Seg.FS, Seg.GS]) Object.assign(s[k]!, { selector: 0x10, base: 0, limit: 0xffffffff, attr: 0xc093 });
    cpu.rip = codeAddress;
  } else {
    cpu.cr0 = Cr0.ET | Cr0.NE;
    cpu.cr4 = Cr4.OSFXSR | Cr4.OSXMMEXCPT;
    cpu.efer = 0;
    Object.assign(s[Seg.CS]!, { selector: codeAddress >>> 4, base: codeAddress & ~0xf, limit: 0xffff, attr: 0x9b });
    for (const k of [Seg.ES, Seg.SS, Seg.DS, Seg.FS, Seg.GS]) {
      Object.assign(s[k]!, { selector: dataAddress >>> 4, base: dataAddress & ~0xf, limit: 0xffff, attr: 0x93 });
    }
    cpu.rip = codeAddress & 0xf;
  }
  cpu.updateMode();
}

function loadState(cpu: Cpu, input: SnippetState): void {
  for (let r = 0; r < 16; r++) {
    const v = BigInt.asUintN(64, input.gpr[r] ?? 0n);
    cpu.gpr[2 * r] = Number(v & 0xffffffffn);
    cpu.gpr[2 * r + 1] = Number(v >> 32n);
  }
  cpu.setRflags(input.rflags, 0x3f7fd5);
  if (input.xmm !== undefined) {
    for (let r = 0; r < 16; r++) {
      const v = BigInt.asUintN(128, input.xmm[r] ?? 0n);
      for (let lane = 0; lane < 4; lane++) cpu.xmm[r * 4 + lane] = Number((v >> BigInt(32 * lane)) & 0xffffffffn);
    }
  }
  if (input.mxcsr !== undefined) cpu.mxcsr = input.mxcsr;
}

function saveState(cpu: Cpu): SnippetResult {
  const gpr: bigint[] = [];
  for (let r = 0; r < 16; r++) gpr.push((BigInt(cpu.gpr[2 * r + 1]!) << 32n) | BigInt(cpu.gpr[2 * r]!));
  const xmm: bigint[] = [];
  for (let r = 0; r < 16; r++) {
    let v = 0n;
    for (let lane = 3; lane >= 0; lane--) v = (v << 32n) | BigInt(cpu.xmm[r * 4 + lane]!);
    xmm.push(v);
  }
  return { gpr, rflags: cpu.getRflags(), xmm, mxcsr: cpu.mxcsr };
}

export const runSnippet: RunSnippet = (code, input, options = {}) => {
  const mode = options.mode ?? 'long64';
  const dataAddress = options.dataAddress ?? DEFAULT_DATA_ADDRESS;
  const ram = new Uint8Array(SNIPPET_RAM_BYTES);
  if (CODE_ADDRESS + code.length > ram.length) throw new Error(`Cannot run snippet: ${code.length} bytes of code do not fit`);
  ram.set(code, CODE_ADDRESS);
  const data = options.data;
  if (data !== undefined) {
    if (dataAddress + data.length > CODE_ADDRESS) throw new Error(`Cannot run snippet: data at 0x${dataAddress.toString(16)} overlaps the code`);
    ram.set(data, dataAddress);
  }
  const { cpu } = makeTestCpu(ram);
  setMode(cpu, mode, CODE_ADDRESS, dataAddress);
  loadState(cpu, input);
  cpu.stopRip = cpu.rip + code.length;
  const exit = cpu.run(SNIPPET_BUDGET);
  let result: SnippetResult;
  if (exit.kind === 'stop') result = saveState(cpu);
  else if (exit.kind === 'fault') result = { ...saveState(cpu), faultVector: exit.vector };
  else throw new Error(`Snippet did not reach its end: ${exit.kind} at RIP 0x${cpu.rip.toString(16)}`);
  if (data !== undefined) return { ...result, data: ram.slice(dataAddress, dataAddress + data.length) };
  return result;
};
