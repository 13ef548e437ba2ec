// Soft-CPU microbenchmark: busybox's sha256 block function (the compute bench's hot code, the
// guest's own busybox from the default guest's initramfs) run by the CPU alone, no machine, with
// 4-level paging through the real Mmu. Prints guest instructions per second of host time; the
// first repetitions include the JIT's compile time. No peer: this is for tuning the soft CPU.
// usage: node bench/jit/sha256-loop.mjs [--dist DIR] [--busybox FILE] [--blocks N] [--reps R]
//   DUMP=0x57a953 node bench/jit/sha256-loop.mjs   also prints the compiled region at that RIP
import { readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runToHalt } from './drive.mjs';

const args = process.argv.slice(2);
const opt = (name, d) => { const k = args.indexOf(name); return k >= 0 ? args[k + 1] : d; };
const dist = resolve(opt('--dist', join(import.meta.dirname, '..', '..', 'dist')));
const bbPath = opt('--busybox', undefined);
const nBlocks = Number(opt('--blocks', 20000));
const reps = Number(opt('--reps', 5));
const imp = (p) => import(pathToFileURL(join(dist, p)).href);
const { Cpu } = await imp('cpu/cpu.js');
const fx = await imp('cpu/testing/system-fixture.js');
const Seg = { FS: 4 };

/** bin/busybox from the default guest's initrd (an uncompressed newc cpio, src/guest/build.ts). */
function busyboxFromInitrd() {
  const home = process.env.TSHV_HOME ?? join(homedir(), '.local', 'share', 'tshv');
  const dir = join(home, 'guest');
  const variant = readdirSync(dir).find((d) => d.startsWith('cloud-'));
  if (variant === undefined) throw new Error(`no default guest under ${dir}: run ./tshv guest build first`);
  const cpio = readFileSync(join(dir, variant, 'initrd.img'));
  for (let off = 0; off + 110 <= cpio.length;) {
    if (cpio.toString('latin1', off, off + 6) !== '070701') throw new Error('initrd is not an uncompressed newc cpio');
    const field = (k) => parseInt(cpio.toString('latin1', off + 6 + 8 * k, off + 14 + 8 * k), 16);
    const fileSize = field(6); const nameSize = field(11);
    const name = cpio.toString('latin1', off + 110, off + 110 + nameSize - 1);
    const data = (off + 110 + nameSize + 3) & ~3;
    if (name === 'bin/busybox') return cpio.subarray(data, data + fileSize);
    if (name === 'TRAILER!!!') break;
    off = (data + fileSize + 3) & ~3;
  }
  throw new Error('bin/busybox not found in the initrd');
}
const bb = bbPath !== undefined ? readFileSync(bbPath) : busyboxFromInitrd();
// --wasm: the WebAssembly tier runs the blocks below the JIT threshold (with TSHV_JIT=0, all of them).
const { WasmTier } = await import(pathToFileURL(join(dist, 'cpu/wasm/tier.js')).href);
const tier = args.includes('--wasm') ? WasmTier.create(16 * 1024 * 1024, 4096) : null;
const bus = new fx.RamBus(16 * 1024 * 1024, tier?.ram);
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
const dv = new DataView(bus.ram.buffer, bus.ram.byteOffset);
bus.ram.set(code, CODE);
dv.setInt32(callAt + 1, rel, true);
bus.ram[CODE + 19] = (CODE - (CODE + 20)) & 0xff;
for (let k = 0; k < 64; k++) bus.ram[CTX + k] = k;
const irq = new fx.FakeIrq(); const clock = new fx.FakeClock();
const cpu = new Cpu(0, bus, irq, clock, { deliverEvent: null, wasm: tier });
fx.standardGdt(bus, cpu);
fx.enterLong64(cpu, cr3);
cpu.seg[Seg.FS].base = FSB;
const results = [];
for (let r = 0; r < reps; r++) {
  const { insns: n, seconds: s } = runToHalt(cpu, CODE, STACK, nBlocks);
  results.push(n / s / 1e6);
  console.log(`rep ${r}: ${(n / 1e6).toFixed(1)} M instructions in ${s.toFixed(3)} s = ${(n / s / 1e6).toFixed(1)} M instr/s; state ${Array.from(bus.ram.subarray(CTX + 0x50, CTX + 0x58)).map((x) => x.toString(16)).join(' ')}`);
}
console.log(`best ${Math.max(...results).toFixed(1)} M instr/s`);
if (process.env.DUMP) {
  const { BlockCache } = await imp('cpu/block-cache.js');
  for (const rip of process.env.DUMP.split(',')) {
    const b = cpu.blocks.get(BlockCache.key(Number(rip), 64), Number(rip));
    console.log(`// block ${rip}: ${b?.insns.length} insns, exec ${b?.execCount}`);
    console.log(b?.compiled?.toString());
  }
}
