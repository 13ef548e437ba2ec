// Soft-CPU microbenchmark: busybox's sha256 block function (the compute bench's hot code) run by
// the CPU alone, no machine, with 4-level paging through the real Mmu. Prints M guest instr/s.
// usage: node bench/jit/sha256-loop.mjs [--dist DIR] [--busybox FILE] [--blocks N] [--reps R]
import { readFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, d) => { const k = args.indexOf(name); return k >= 0 ? args[k + 1] : d; };
const dist = resolve(opt('--dist', join(import.meta.dirname, '..', '..', 'dist')));
const bbPath = opt('--busybox', '/tmp/kcfg/bb/bin/busybox');
const nBlocks = Number(opt('--blocks', 20000));
const reps = Number(opt('--reps', 5));
const imp = (p) => import(pathToFileURL(join(dist, p)).href);
const { Cpu } = await imp('cpu/cpu.js');
const fx = await imp('cpu/testing/system-fixture.js');
const Seg = { FS: 4 };

const bb = readFileSync(bbPath);
const bus = new fx.RamBus(16 * 1024 * 1024);
// Load the ELF's PT_LOAD segments at their addresses (identity-mapped).
const phoff = Number(bb.readBigUInt64LE(0x20)); const phnum = bb.readUInt16LE(0x38);
for (let k = 0; k < phnum; k++) {
  const p = phoff + k * 56;
  if (bb.readUInt32LE(p) !== 1) continue;
  const off = Number(bb.readBigUInt64LE(p + 8)); const va = Number(bb.readBigUInt64LE(p + 16)); const fsz = Number(bb.readBigUInt64LE(p + 32));
  bus.ram.set(bb.subarray(off, off + fsz), va);
}
// Find sha256_process_block64 by its prologue bytes (push r15; mov rax,rdi; xor ecx,ecx; push r14).
const sig = Buffer.from("415748 89f8 31c9 4156 4155 4154 55 53 4881ec38010000".replace(/ /g, ""), "hex");
const fileOff = bb.indexOf(sig);
if (fileOff < 0) throw new Error('sha256 block function not found in busybox');
const fn = fileOff - 0x1000 + 0x401000;
const cr3 = fx.identityMap4Level(bus, 0x100000, 16);
const CTX = 0xa00000; const STACK = 0xb00000; const FSB = 0xb10000; const CODE = 0xa10000;
// Driver: mov rdi, CTX; call fn; dec r15; jnz driver; hlt
const code = [0x48, 0xbf, ...new Uint8Array(new BigUint64Array([BigInt(CTX)]).buffer), 0xe8, 0, 0, 0, 0, 0x49, 0xff, 0xcf, 0x75, 0, 0xf4];
const callAt = CODE + 10; const rel = fn - (callAt + 5);
new DataView(Uint8Array.from(code).buffer);
const dv = new DataView(bus.ram.buffer);
bus.ram.set(code, CODE);
dv.setInt32(callAt + 1 - 0 + 0 - CODE + CODE, rel, true);
bus.ram[CODE + 19] = (CODE - (CODE + 20)) & 0xff;
for (let k = 0; k < 64; k++) bus.ram[CTX + k] = k;
const irq = new fx.FakeIrq(); const clock = new fx.FakeClock();
const cpu = new Cpu(0, bus, irq, clock, { deliverEvent: null });
fx.standardGdt(bus, cpu);
fx.enterLong64(cpu, cr3);
cpu.seg[Seg.FS].base = FSB;
const results = [];
for (let r = 0; r < reps; r++) {
  cpu.gpr[30] = nBlocks; cpu.gpr[31] = 0; cpu.gpr[8] = STACK; cpu.gpr[9] = 0; cpu.rip = CODE; cpu.halted = false;
  const i0 = cpu.instructionCount; const t0 = process.hrtime.bigint();
  for (;;) { const e = cpu.run(100000); if (e.kind !== 'budget') { if (e.kind !== 'halt') throw new Error(JSON.stringify(e)); break; } }
  const s = Number(process.hrtime.bigint() - t0) / 1e9; const n = cpu.instructionCount - i0;
  results.push(n / s / 1e6);
  console.log(`rep ${r}: ${(n / 1e6).toFixed(1)} M instructions in ${s.toFixed(3)} s = ${(n / s / 1e6).toFixed(1)} M instr/s; state ${Array.from(bus.ram.subarray(CTX + 0x50, CTX + 0x58)).map((x) => x.toString(16)).join(' ')}`);
}
console.log(`best ${Math.max(...results).toFixed(1)} M instr/s`);
if (process.env.DEBUG) { console.log(Array.from(bus.ram.subarray(CTX, CTX + 0x80)).map((x) => x.toString(16)).join(' ')); console.log('rip', cpu.rip.toString(16), 'fn', fn.toString(16)); }
if (process.env.DUMP) {
  const { BlockCache } = await imp('cpu/block-cache.js');
  for (const rip of process.env.DUMP.split(',')) {
    const b = cpu.blocks.get(BlockCache.key(Number(rip), 64), Number(rip));
    console.log(`// block ${rip}: ${b?.insns.length} insns, exec ${b?.execCount}`);
    console.log(b?.compiled?.toString());
  }
}
