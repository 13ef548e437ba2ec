// Soft-CPU microbenchmark: the guest kernel's own mpihelp_submul_1 (lib/crypto/mpi), the RSA inner
// loop of the crypto self-tests that are a third of a boot's instructions, taken from the default
// guest's kernel (the vmlinux inside its bzImage) and run by the CPU alone: no machine, 4-level
// paging through the real MMU. Prints guest instructions per second of host time per repetition;
// the first repetitions include compile time and V8's re-optimizations (this bench showed a
// deoptimized region running at 170-260 M instr/s for 3 s, then 500). No peer: for tuning.
// usage: node bench/jit/mpi-loop.mjs [--dist DIR] [--limbs N] [--calls N] [--reps R]
//   DUMP=1 node bench/jit/mpi-loop.mjs   also prints the compiled region of the loop
import { readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runToHalt } from './drive.mjs';

const args = process.argv.slice(2);
const opt = (name, d) => { const k = args.indexOf(name); return k >= 0 ? args[k + 1] : d; };
const dist = resolve(opt('--dist', join(import.meta.dirname, '..', '..', 'dist')));
const limbs = Number(opt('--limbs', 32));
const calls = Number(opt('--calls', 200000));
const reps = Number(opt('--reps', 5));
const imp = (p) => import(pathToFileURL(join(dist, p)).href);
const { Cpu } = await imp('cpu/cpu.js');
const fx = await imp('cpu/testing/system-fixture.js');
const { parseBzImage } = await imp('arch/x86/boot/bzimage.js');
const { decompressBzImagePayload } = await imp('arch/x86/boot/payload.js');
const { BlockCache } = await imp('cpu/block-cache.js');

const home = process.env.TSHV_HOME ?? join(homedir(), '.local', 'share', 'tshv');
const variant = readdirSync(join(home, 'guest')).find((d) => d.startsWith('cloud-'));
if (variant === undefined) throw new Error(`no default guest under ${home}/guest: run ./tshv guest build first`);
const vmlinux = decompressBzImagePayload(parseBzImage(readFileSync(join(home, 'guest', variant, 'vmlinuz'))));
if (vmlinux === undefined) throw new Error('cannot decompress the kernel payload');
const elf = Buffer.from(vmlinux.buffer, vmlinux.byteOffset, vmlinux.byteLength);
// mpihelp_submul_1 as GCC 12 built it for Debian's 6.1 kernel: found by its first instructions
// after the ftrace call (neg edx; mov r10,rcx; push r14; mov r11,rdi; movslq rax,edx; push r13;
// shr r10,32); it ends with a jmp to the return thunk, replaced by RET here.
const sig = Buffer.from('f7da4989ca41564989fb4863c2415549c1ea20', 'hex');
const at = elf.indexOf(sig);
if (at < 5 || elf[at - 5] !== 0xe8) throw new Error('mpihelp_submul_1 not found in this kernel');
const fn = Buffer.from(elf.subarray(at - 5, at - 5 + 0xcb));
fn.set([0x0f, 0x1f, 0x44, 0x00, 0x00], 0); // the __fentry__ call, as ftrace leaves it: a NOP
if (fn[0xc6] !== 0xe9) throw new Error('unexpected end of mpihelp_submul_1');
fn[0xc6] = 0xc3;

// --wasm: the WebAssembly tier runs the blocks below the JIT threshold (with TSHV_JIT=0, all of them).
const { WasmTier } = await import(pathToFileURL(join(dist, 'cpu/wasm/tier.js')).href);
const tier = args.includes('--wasm') ? WasmTier.create(16 * 1024 * 1024, 4096) : null;
const bus = new fx.RamBus(16 * 1024 * 1024, tier?.ram);
const cr3 = fx.identityMap4Level(bus, 0x100000, 16);
const FN = 0xa20000; const RES = 0xa00000; const S1 = 0xa08000; const STACK = 0xb00000; const CODE = 0xa10000;
const LOOP = FN + 0x36; // the loop's head (one 38-instruction block)
bus.ram.set(fn, FN);
const imm64 = (v) => [...new Uint8Array(new BigUint64Array([BigInt(v)]).buffer)];
// Driver: mov rdi, RES; mov rsi, S1; mov edx, limbs; mov rcx, limb; call FN; dec r15; jnz driver; hlt
const code = [0x48, 0xbf, ...imm64(RES), 0x48, 0xbe, ...imm64(S1), 0xba, ...new Uint8Array(new Uint32Array([limbs]).buffer), 0x48, 0xb9, ...imm64(0x9e3779b97f4a7c15n)];
const callAt = code.length; code.push(0xe8, 0, 0, 0, 0); const after = code.length;
code.push(0x49, 0xff, 0xcf, 0x75, (-(code.length + 5)) & 0xff, 0xf4);
bus.ram.set(code, CODE);
new DataView(bus.ram.buffer, bus.ram.byteOffset).setInt32(CODE + callAt + 1, FN - (CODE + after), true);
for (let k = 0; k < limbs * 8; k++) { bus.ram[RES + k] = (k * 37) & 0xff; bus.ram[S1 + k] = (k * 91 + 5) & 0xff; }
const cpu = new Cpu(0, bus, new fx.FakeIrq(), new fx.FakeClock(), { deliverEvent: null, wasm: tier });
fx.standardGdt(bus, cpu);
fx.enterLong64(cpu, cr3);
const results = [];
for (let r = 0; r < reps; r++) {
  const { insns: n, seconds: s } = runToHalt(cpu, CODE, STACK, calls);
  results.push(n / s / 1e6);
  console.log(`rep ${r}: ${(n / 1e6).toFixed(1)} M instructions in ${s.toFixed(3)} s = ${(n / s / 1e6).toFixed(1)} M instr/s; borrow ${cpu.gpr[0].toString(16)}`);
}
console.log(`best ${Math.max(...results).toFixed(1)} M instr/s`);
if (process.env.DUMP) console.log(cpu.blocks.get(BlockCache.key(LOOP, 64), LOOP)?.compiled?.toString());
