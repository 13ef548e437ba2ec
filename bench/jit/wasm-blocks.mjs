// Design probe for a WebAssembly tier (no tshv code involved): the blocks of bench/jit/dispatch.mjs
// ("mov rcx,[rsp+8]; add rax,rcx; jmp next") written by hand as wasm functions, one per block, in
// modules of PER blocks, the way a wasm translator would emit them: guest RAM, registers, the lazy
// flag record, the instruction count and the soft TLB (tag and addend arrays, same slot hash as
// the Mmu) all in one WebAssembly.Memory; the load goes through the TLB (a miss would return to
// the interpreter); each block function returns the table index of its successor and a driver
// loop in wasm chains them with call_indirect, never returning to JS. Compare its blocks/s with
// dispatch.mjs at the same sizes. Figures of 2026-11-26 in bench/README.md ("A wasm tier").
// The byte encoder here is naive (arrays and spreads): its own time is printed apart.
// usage: node bench/jit/wasm-blocks.mjs [500,5000,50000]      (PER=500 blocks per module)
//        node --liftoff-only bench/jit/wasm-blocks.mjs       (no TurboFan tier-up)
const leb = (n) => { const o = []; do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; o.push(b); } while (n); return o; };
const sleb = (v) => { let n = BigInt(v); const o = []; for (;;) { const b = Number(n & 0x7fn); n >>= 7n; if ((n === 0n && (b & 0x40) === 0) || (n === -1n && (b & 0x40) !== 0)) { o.push(b); return o; } o.push(b | 0x80); } };
const sec = (id, body) => [id, ...leb(body.length), ...body];
const str = (t) => [t.length, ...Buffer.from(t)];
const vec = (items) => [...leb(items.length), ...items.flat()];
const I32 = 0x7f, I64 = 0x7e;
const op = { block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, br_if: 0x0d, ret: 0x0f, call_indirect: 0x11,
  lget: 0x20, lset: 0x21, ltee: 0x22, i32load: 0x28, i64load: 0x29, i32store: 0x36, i64store: 0x37,
  i32c: 0x41, i64c: 0x42, i32eqz: 0x45, i32eq: 0x46, i32ne: 0x47, i64eq: 0x51, i64ne: 0x52, i32ltS: 0x48, i32gtS: 0x4a,
  i32add: 0x6a, i32sub: 0x6b, i32and: 0x71, i32shl: 0x74, i64add: 0x7c, i64sub: 0x7d, i64and: 0x83, i64xor: 0x85, i64shrU: 0x88, i32wrap: 0xa7, i64extU: 0xad };
const PAGES = 1024; // 64 MiB
const RAM = 0, STATE = 32 << 20, TLB_TAG = STATE + 4096, TLB_ADD = TLB_TAG + 4096 * 8;
const R = (n) => STATE + 8 * n; const LAZY = STATE + 256, ICOUNT = STATE + 320;
const memImport = [...str('m'), ...str('mem'), 2, 1, ...leb(PAGES), ...leb(PAGES)];
function blockBody(nextIndex) {
  // locals: 0 a(i64) 1 slot(i32) 2 v(i64) 3 rax(i64)
  const b = [];
  const e = (...x) => b.push(...x);
  // a = rsp + 8
  e(op.i32c, ...sleb(R(4)), op.i64load, 3, 0, op.i64c, ...sleb(8), op.i64add, op.lset, 0);
  // slot = ((a >> 12) ^ (a >> 24)) & 4095
  e(op.lget, 0, op.i64c, 12, op.i64shrU, op.lget, 0, op.i64c, 24, op.i64shrU, op.i64xor, op.i32wrap, op.i32c, ...sleb(4095), op.i32and, op.i32c, 3, op.i32shl, op.lset, 1);
  // if (tag[slot] != a & ~4095 || (a & 4095) > 4088) return -2 (slow path: the JS interpreter)
  e(op.lget, 1, op.i64load, 3, ...leb(TLB_TAG), op.lget, 0, op.i64c, ...sleb(-4096), op.i64and, op.i64ne,
    op.lget, 0, op.i32wrap, op.i32c, ...sleb(4095), op.i32and, op.i32c, ...sleb(4088), op.i32gtS, 0x72 /* i32.or */, op.if, 0x40, op.i32c, ...sleb(-2), op.ret, op.end);
  // v = load64(a + addend[slot])
  e(op.lget, 0, op.lget, 1, op.i64load, 3, ...leb(TLB_ADD), op.i64add, op.i32wrap, op.i64load, 3, 0, op.lset, 2);
  // rcx = v
  e(op.i32c, ...sleb(R(1)), op.lget, 2, op.i64store, 3, 0);
  // rax = rax + v; lazy flags: op, dst, src, res
  e(op.i32c, ...sleb(LAZY + 8), op.i32c, ...sleb(R(0)), op.i64load, 3, 0, op.ltee, 3, op.i64store, 3, 0);
  e(op.i32c, ...sleb(LAZY + 16), op.lget, 2, op.i64store, 3, 0);
  e(op.lget, 3, op.lget, 2, op.i64add, op.lset, 3);
  e(op.i32c, ...sleb(R(0)), op.lget, 3, op.i64store, 3, 0);
  e(op.i32c, ...sleb(LAZY + 24), op.lget, 3, op.i64store, 3, 0);
  e(op.i32c, ...sleb(LAZY), op.i64c, 1, op.i64store, 3, 0);
  // icount += 3
  e(op.i32c, ...sleb(ICOUNT), op.i32c, ...sleb(ICOUNT), op.i64load, 3, 0, op.i64c, 3, op.i64add, op.i64store, 3, 0);
  e(op.i32c, ...sleb(nextIndex), op.end);
  const locals = vec([[1, I64], [1, I32], [2, I64]]);
  const body = [...locals, ...b];
  return [...leb(body.length), ...body];
}
function blocksModule(first, count, total) {
  const type = sec(1, vec([[0x60, 0, 1, I32]]));
  const imports = sec(2, vec([memImport, [...str('m'), ...str('t'), 1, 0x70, 0, ...leb(total + 1)]]));
  const funcs = sec(3, vec(Array.from({ length: count }, () => [0])));
  const elems = sec(9, vec([[0, op.i32c, ...sleb(first), op.end, ...vec(Array.from({ length: count }, (_, k) => leb(k)))]]));
  const code = sec(10, vec(Array.from({ length: count }, (_, k) => blockBody((first + k + 1) % total))));
  return new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, ...type, ...imports, ...funcs, ...elems, ...code]);
}
// driver: run(idx, budget) -> idx; loops call_indirect while idx >= 0 and budget > 0
function driverModule(total) {
  const type = sec(1, vec([[0x60, 0, 1, I32], [0x60, 2, I32, I32, 1, I32]]));
  const imports = sec(2, vec([memImport, [...str('m'), ...str('t'), 1, 0x70, 0, ...leb(total + 1)]]));
  const funcs = sec(3, vec([[1]]));
  const exps = sec(7, vec([[...str('run'), 0, 0]]));
  const body = [0, op.loop, 0x40,
    op.lget, 0, op.call_indirect, 0, 0, op.lset, 0,
    op.lget, 1, op.i32c, 1, op.i32sub, op.ltee, 1, op.i32c, 0, op.i32gtS,
    op.lget, 0, op.i32c, 0, 0x4e /* i32.ge_s */, 0x71 /* and */, op.br_if, 0,
    op.end, op.lget, 0, op.end];
  const code = sec(10, vec([[...leb(body.length), ...body]]));
  return new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, ...type, ...imports, ...funcs, ...exps, ...code]);
}
const mem = new WebAssembly.Memory({ initial: PAGES, maximum: PAGES });
const dv = new DataView(mem.buffer);
{
  // Guest RAM must stay a memfd (KVM slots, snapshots, balloon): map one over the wasm memory's
  // RAM range (MAP_SHARED | MAP_FIXED) and check that wasm code sees writes made through another
  // mapping of the same memfd.
  const { default: koffi } = await import('koffi');
  const libc = koffi.load('libc.so.6');
  const memfdCreate = libc.func('int memfd_create(const char *name, unsigned int flags)');
  const ftruncate = libc.func('int ftruncate(int fd, int64_t length)');
  const mmapAt = libc.func('void *mmap(_Inout_ uint8_t *addr, size_t length, int prot, int flags, int fd, int64_t offset)');
  const mmapAny = libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)');
  const RAM_BYTES = STATE - RAM;
  const fd = memfdCreate('wasm-probe', 0); ftruncate(fd, RAM_BYTES);
  mmapAt(new Uint8Array(mem.buffer, RAM, RAM_BYTES), RAM_BYTES, 3 /* RW */, 0x11 /* MAP_SHARED | MAP_FIXED */, fd, 0);
  const other = new Uint8Array(koffi.view(mmapAny(null, RAM_BYTES, 3, 1 /* MAP_SHARED */, fd, 0), RAM_BYTES));
  other[0x1234] = 0x5a;
  if (new Uint8Array(mem.buffer)[0x1234] !== 0x5a) throw new Error('the memfd mapped over the wasm memory is not what wasm sees');
  console.log('guest RAM: a memfd mapped over the wasm memory (MAP_FIXED), coherent with another mapping of it');
}
// identity "TLB": the page of the stack maps to RAM offset 0x300000 (addend = RAM - lin = 0)
const STACK = 0x300000;
for (let p = 0; p < 4096; p++) dv.setBigInt64(TLB_TAG + 8 * p, -1n, true);
const slot = (((STACK + 8) >>> 12) ^ ((STACK + 8) >>> 24)) & 4095;
dv.setBigInt64(TLB_TAG + 8 * slot, BigInt(STACK), true); dv.setBigInt64(TLB_ADD + 8 * slot, 0n, true);
dv.setBigInt64(R(4), BigInt(STACK), true); dv.setBigInt64(STACK + 8, 5n, true);
for (const total of (process.argv[2] ?? '500,5000,50000').split(',').map(Number)) {
  const table = new WebAssembly.Table({ initial: total + 1, element: 'anyfunc' });
  const per = Number(process.env.PER ?? 500);
  const tb = performance.now(); let bytes = 0; const mods = [];
  for (let first = 0; first < total; first += per) { const m = blocksModule(first, Math.min(per, total - first), total); bytes += m.length; mods.push(m); }
  const t0 = performance.now();
  for (const m of mods) new WebAssembly.Instance(new WebAssembly.Module(m), { m: { mem, t: table } });
  const t1 = performance.now();
  console.log(`  (building the bytes in JS: ${((t0 - tb) / total * 1000).toFixed(1)} us/block)`);
  const drv = new WebAssembly.Instance(new WebAssembly.Module(driverModule(total)), { m: { mem, t: table } });
  dv.setBigInt64(R(0), 0n, true); dv.setBigInt64(ICOUNT, 0n, true);
  const blocks = Math.max(total * 4, 6_000_000);
  { const s = performance.now(); drv.exports.run(0, total); console.log(`  first pass over all blocks (lazy Liftoff compile): ${((performance.now() - s) / total * 1000).toFixed(1)} us/block`); }
  let best = 0;
  for (let r = 0; r < 4; r++) {
    const s = performance.now(); drv.exports.run(0, blocks); const el = performance.now() - s;
    best = Math.max(best, blocks / el / 1000);
  }
  console.log(`${String(total).padStart(6)} blocks: compile ${((t1 - t0) / total * 1000).toFixed(1)} us/block (${(bytes / total).toFixed(0)} B wasm each); best ${best.toFixed(1)} M blocks/s; rax ${dv.getBigInt64(R(0), true)} icount ${dv.getBigInt64(ICOUNT, true)}`);
}
