// Soft-CPU microbenchmark: the interpreter's cost per block as the code's working set grows.
// NB distinct three-instruction blocks (a load from the stack, an add, a jump to the next block)
// run in a loop, below the JIT's threshold, by the CPU alone (no machine). A boot executes
// ~100,000 distinct instructions in ~20,000 warm blocks; on the nested host this was measured on
// (2026-11-26), 500 blocks ran at ~15 M blocks/s, 5,000 at ~10 M and 50,000 at ~2 M: the first
// load from each decoded instruction object then costs ~500 ns (cache and TLB misses). No peer.
// With --wasm the blocks run in the WebAssembly tier (src/cpu/wasm/), chained inside wasm.
// usage: node bench/jit/dispatch.mjs [--dist DIR] [--blocks N] [--reps R] [--wasm]
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runToHalt } from './drive.mjs';

const args = process.argv.slice(2);
const opt = (name, d) => { const k = args.indexOf(name); return k >= 0 ? args[k + 1] : d; };
const dist = resolve(opt('--dist', join(import.meta.dirname, '..', '..', 'dist')));
const reps = Number(opt('--reps', 4));
const sizes = opt('--blocks', '500,5000,50000').split(',').map(Number);
const imp = (p) => import(pathToFileURL(join(dist, p)).href);
const { Cpu } = await imp('cpu/cpu.js');
const { setJitThreshold } = await imp('cpu/jit/block-compiler.js');
const fx = await imp('cpu/testing/system-fixture.js');
const { WasmTier } = await imp('cpu/wasm/tier.js');
const wasm = args.includes('--wasm');
setJitThreshold(-1); // the interpreter alone
const CODE = 0x400000; const STACK = 0x300000; const INSNS_PER_RUN = 6_000_000;
for (const nb of sizes) {
  const ramBytes = 32 * 1024 * 1024;
  const tier = wasm ? WasmTier.create(ramBytes, ramBytes / 4096) : null;
  if (wasm && tier === null) throw new Error('no WebAssembly tier here');
  const bus = new fx.RamBus(ramBytes, tier?.ram);
  const cr3 = fx.identityMap4Level(bus, 0x100000, 32);
  const code = [];
  // mov rcx, [rsp+8]; add rax, rcx; jmp +0 (to the next block)
  for (let k = 0; k < nb; k++) code.push(0x48, 0x8b, 0x4c, 0x24, 0x08, 0x48, 0x01, 0xc8, 0xeb, 0x00);
  code.push(0x49, 0xff, 0xcf, 0x0f, 0x85, 0, 0, 0, 0, 0xf4); // dec r15; jnz CODE; hlt
  bus.ram.set(code, CODE);
  const end = CODE + code.length - 1;
  new DataView(bus.ram.buffer, bus.ram.byteOffset).setInt32(end - 4, CODE - end, true);
  const cpu = new Cpu(0, bus, new fx.FakeIrq(), new fx.FakeClock(), { deliverEvent: null, wasm: tier });
  fx.standardGdt(bus, cpu);
  fx.enterLong64(cpu, cr3);
  const iters = Math.max(1, Math.round(INSNS_PER_RUN / (3 * nb)));
  let best = 0;
  for (let r = 0; r < reps; r++) {
    const { insns, seconds } = runToHalt(cpu, CODE, STACK, iters);
    best = Math.max(best, insns / 3 / seconds / 1e6);
  }
  console.log(`${String(nb).padStart(6)} blocks: best of ${reps}: ${best.toFixed(1)} M blocks/s (${(1000 / best).toFixed(0)} ns per block)`);
}
