#!/usr/bin/env node
// Guest operations benchmark: the operating-system work between a workload's own instructions,
// which the I/O benchmarks pay on every request and pass, timed one kind at a time. tshv's soft
// CPU against QEMU TCG, same guest, kernel and command line, runs interleaved (bench/README.md):
//   fault    anonymous page faults (a page of a fresh mapping written, the fault handler, the
//            page zeroed, the return; the unmap at the end freeing them)
//   syscall  getppid(): SYSCALL, the kernel's entry and exit, SYSRET
//   spawn    fork, exec of a static program that exits at once, wait: a shell command's cost
//            (bench/blk runs its program once per pass, bench/net runs nc once per transfer)
//
// The guest program is bench/ops/opsbench.c, compiled statically on the host and carried into the
// guest on a read-only disk. It prints a line before its loop and one after; the figure is the
// HOST's wall time between the two (tshv's guest clock is virtual), divided by the operations.
// Each kind runs once cold and then PASSES times; the steady state is the mean of those.
//
// usage: node bench/ops/bench.mjs [--runs N] [--memory MIB] [--dist DIR] [--no-build] [--only tshv|qemu]
//   TSHV_BENCH_PASSES=N: passes per kind after the cold one (default 3)

import {
  buildProject, defaultGuest, ensureQemu, guestProgram, hostContext, median, parseBenchArgs, runInterleaved,
} from '../lib.mjs';

const PASSES = Number(process.env.TSHV_BENCH_PASSES ?? 3);
if (!Number.isInteger(PASSES) || PASSES < 1) throw new Error(`TSHV_BENCH_PASSES must be a positive integer, not "${process.env.TSHV_BENCH_PASSES}"`);
/** Each kind sized to ~0.1-0.3 s per pass on tshv here. */
const KINDS = [
  { name: 'fault', arg: 64, what: 'page faults (64 MiB)' },
  { name: 'syscall', arg: 100_000, what: 'getppid() calls' },
  { name: 'spawn', arg: 50, what: 'fork + exec + exit + wait' },
];

const opts = parseBenchArgs('ops/bench', { runs: 1 });
if (opts.build) buildProject();
if (opts.only !== 'tshv') ensureQemu();
const guest = await defaultGuest(opts.dist);

const { binBytes, progImg } = guestProgram('ops', new URL('./opsbench.c', import.meta.url), 'opsbench');

console.log(`ops benchmark: ${KINDS.map((k) => `${k.arg} ${k.what}`).join(', ')} in the guest ` +
  `(${guest.version}, ${opts.memMib} MiB, 1 vCPU); each kind once cold, then ${PASSES} times`);
console.log(hostContext());

const run = (k) => `/tmp/ob ${k.name} ${k.arg}`;
const append = `console=ttyS0 quiet tshv.run="head -c ${binBytes.length} /dev/vda > /tmp/ob; chmod +x /tmp/ob; ` +
  KINDS.map((k) => `echo bench-begin-${k.name}; ${run(k)}; echo bench-warm-${k.name}; ` +
    `${Array(PASSES).fill(run(k)).join('; ')}; echo bench-end-${k.name}`).join('; ') + '"';
const extraArgs = {
  tshv: ['--disk', `${progImg},ro`],
  qemu: ['-drive', `file=${progImg},if=none,id=d0,format=raw,readonly=on`, '-device', 'virtio-blk-pci,drive=d0'],
};

const vmOptions = () => ({ dist: opts.dist, kernelPath: guest.kernelPath, initrdPath: guest.initrdPath, append, memMib: opts.memMib, extraArgs });
const { results, failures } = await runInterleaved(opts, vmOptions, async (vm, engine) => {
  const out = {};
  for (const k of KINDS) {
    const pass = `opsbench-start ${k.name}\\r?\\nopsbench ${k.name} count=(\\d+)\\r?\\n`;
    const warm = await vm.waitFor(new RegExp(`\\n${pass}bench-warm-${k.name}\\r?\\n`), opts.timeoutMs);
    const end = await vm.waitFor(new RegExp(`\\nbench-warm-${k.name}\\r?\\n(${pass}){${PASSES}}bench-end-${k.name}\\r?\\n`), opts.timeoutMs);
    const count = Number(end.match[2]);
    const span = (m) => vm.meanSpanS(`opsbench-start ${k.name}`, `opsbench ${k.name} `, m.index, m.index + m[0].length);
    const coldUs = span(warm.match) / count * 1e6;
    const us = span(end.match) / count * 1e6;
    out[k.name] = { coldUs, us };
    console.log(`${engine.padEnd(4)} ${k.name.padEnd(8)} ${count} per pass: cold ${coldUs.toFixed(2)} us each, then ${us.toFixed(2)} us each`);
  }
  await vm.waitExit(120_000).catch(() => {});
  return out;
});

console.log('');
console.log('kind      tshv us   qemu us   tshv/qemu   cold: tshv us   qemu us   tshv/qemu');
for (const k of KINDS) {
  const med = (engine, key) => median(results[engine].map((r) => r[k.name][key]));
  const fmt = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-').padStart(9);
  const ratio = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '-').padStart(9);
  const t = med('tshv', 'us'), q = med('qemu', 'us'), tc = med('tshv', 'coldUs'), qc = med('qemu', 'coldUs');
  console.log(`${k.name.padEnd(8)} ${fmt(t)} ${fmt(q)}   ${ratio(q / t)}   ${fmt(tc).padStart(13)} ${fmt(qc)}   ${ratio(qc / tc)}`);
}
console.log(`(host wall time per operation: the mean of ${PASSES} passes after the cold one, median of ${opts.runs} run(s);`);
console.log(' ratio > 1: tshv faster.)');
process.exit(failures > 0 ? 1 : 0);
