// Design probe (no tshv code involved): what a call into a wasm function costs as the code that
// the calls run through grows past the CPU's caches, and whether it matters how the functions are
// spread over modules. The wasm tier's steady state looks like this: a sequential read enters
// ~1,100 functions per request (~1.5 KB of TurboFan code each) through the dispatcher's one
// `call_indirect`, and V8 gives every module of 64 functions its own code reservation.
//
// N functions of R dependent 8-byte loads each (plus a compare-and-return every third load, as the
// TLB checks' side exits; R = 80 is ~1.7 KB of TurboFan code, the tier's mean) sit in modules of
// PER functions, all in one table. A dispatcher loop in its own module calls them through the
// table in a random order that visits each function once per round (so each call's target is
// unpredictable, as at the dispatcher's call site). Printed: ns per call after TurboFan compiled
// everything (--no-liftoff), median and minimum of the timed rounds.
//
// usage: node --no-liftoff bench/jit/code-footprint.mjs [N,N...] [PER,PER...] [R]
//   PER "all" puts all N functions in one module. Defaults: 256,1024,4096  64,all  80.
// Figures in bench/README.md (stop 23).

const args = process.argv.slice(2);
const sizes = (args[0] ?? '256,1024,4096').split(',').map(Number);
const pers = (args[1] ?? '64,all').split(',');
const R = Number(args[2] ?? 80);
const ROUNDS = 15;

const u = (n) => { const o = []; do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; o.push(b); } while (n); return o; };
const s = (n) => { const o = []; for (;;) { const b = n & 0x7f; n >>= 7; if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) { o.push(b); return o; } o.push(b | 0x80); } };
const str = (t) => [...u(t.length), ...Buffer.from(t)];
const sec = (id, body) => [id, ...u(body.length), ...body];
const vec = (items) => [...u(items.length), ...items.flat()];
const I32 = 0x7f, I64 = 0x7e;
const HEADER = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
const TYPES = sec(1, vec([[0x60, 1, I32, 1, I32]])); // (i32) -> i32
const MEMORY = [...str('e'), ...str('m'), 2, 0, ...u(256)];
const ORDER = 65536; // byte offset of the call order in memory

/** A module of `count` functions named f0.., each R loads from its own 2 KiB of memory. */
function blockModule(count, first) {
  const bodies = [];
  for (let k = 0; k < count; k++) {
    const code = [1, 1, I64]; // one i64 local: the sum
    const base = ((first + k) * 264) % 60000;
    for (let r = 0; r < R; r++) {
      code.push(0x20, 1, 0x20, 0, 0x29, 3, ...u(base + (r * 8) % 2048), 0x7c, 0x21, 1); // acc += i64.load(p + off)
      if (r % 3 === 0) code.push(0x20, 1, 0x42, ...s(-7), 0x51, 0x04, 0x40, 0x41, ...s(-1), 0x0f, 0x0b); // if acc == -7: return -1
    }
    code.push(0x20, 1, 0xa7, 0x0b); // return (i32) acc
    bodies.push([...u(code.length), ...code]);
  }
  return new Uint8Array([...HEADER, ...TYPES, ...sec(2, vec([MEMORY])), ...sec(3, vec(bodies.map(() => u(0)))),
    ...sec(7, vec(bodies.map((_, k) => [...str('f' + k), 0, ...u(k)]))), ...sec(10, vec(bodies))]);
}

/** run(calls): calls the table's functions in the order stored at ORDER, round after round. */
function dispatcherModule(n) {
  const body = [2, 1, I32, 1, I32, // locals: i (bytes into the order), acc
    0x03, 0x40,
    0x20, 2, 0x20, 1, 0x28, 2, ...u(ORDER), 0x11, 0, 0, // acc' = table[order[i]](acc)
    0x20, 2, 0x6a, 0x21, 2, // acc += acc'
    0x20, 1, 0x41, 4, 0x6a, 0x41, ...s(n * 4), 0x70, 0x21, 1, // i = (i + 4) mod 4n
    0x20, 0, 0x41, 1, 0x6b, 0x22, 0, 0x0d, 0, // while (--calls)
    0x0b, 0x20, 2, 0x0b];
  const imports = sec(2, vec([MEMORY, [...str('e'), ...str('t'), 1, 0x70, 0, ...u(n)]]));
  return new Uint8Array([...HEADER, ...TYPES, ...imports, ...sec(3, vec([u(0)])), ...sec(7, vec([[...str('run'), 0, 0]])),
    ...sec(10, vec([[...u(body.length), ...body]]))]);
}

/** The functions in modules of `per`, their table, and a dispatcher over them: run(calls). */
function build(n, per) {
  const m = new WebAssembly.Memory({ initial: 256 });
  const t = new WebAssembly.Table({ initial: n, element: 'anyfunc' });
  for (let placed = 0; placed < n;) {
    const count = Math.min(per, n - placed);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(blockModule(count, placed)), { e: { m } });
    for (let k = 0; k < count; k++) t.set(placed + k, inst.exports['f' + k]);
    placed += count;
  }
  const order = new Uint32Array(m.buffer, ORDER, n);
  for (let i = 0; i < n; i++) order[i] = i;
  let x = 12345;
  for (let i = n - 1; i > 0; i--) { x = (x * 1103515245 + 12345) >>> 0; const j = x % (i + 1); [order[i], order[j]] = [order[j], order[i]]; }
  return new WebAssembly.Instance(new WebAssembly.Module(dispatcherModule(n)), { e: { m, t } }).exports.run;
}

if (!process.execArgv.includes('--no-liftoff')) console.log('(run with node --no-liftoff: otherwise some functions may still be Liftoff code)');
console.log(`code-footprint: ${R} loads per function; ns per call, median (min) of ${ROUNDS} rounds, the layouts' rounds alternating`);
for (const n of sizes) {
  // Every layout built and warmed first, then timed in alternate rounds: the machine's speed
  // drifts by tens of percent within minutes, and alternation gives each layout the same drift.
  const runs = pers.map((p) => build(n, p === 'all' ? n : Number(p)));
  for (const run of runs) for (let w = 0; w < 30; w++) run(n * 20);
  await new Promise((r) => setTimeout(r, 300));
  const ns = runs.map(() => []);
  for (let k = 0; k < ROUNDS; k++) {
    runs.forEach((run, j) => {
      const t0 = process.hrtime.bigint();
      run(n * 10);
      ns[j].push(Number(process.hrtime.bigint() - t0) / (n * 10));
    });
  }
  const row = pers.map((p, j) => {
    const v = ns[j].sort((a, b) => a - b);
    return `${p === 'all' ? 'one module' : `${p} per module`}: ${v[ROUNDS >> 1].toFixed(1)} (${v[0].toFixed(1)})`;
  });
  console.log(`N=${String(n).padStart(5)}  ${row.join('   ')}`);
}
