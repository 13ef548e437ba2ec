#!/usr/bin/env node
// Block benchmark (issue 4, section 7): O_DIRECT sequential read and write of 256 MiB and 4 KiB
// random reads in the guest, through virtio-blk on a raw image file, tshv's soft CPU against QEMU
// TCG (virtio-blk-pci, cache=writeback: both engines go through the host's page cache), same
// guest, kernel and command line, runs interleaved; plus the host itself on the same image file
// (O_DIRECT, the physical limit).
//
// Each phase runs once cold (the first time the guest runs that I/O path: both engines translate
// its code then) and then PASSES more times back to back (steady state: the throughput a workload
// that does I/O for longer than a fraction of a second sees, as fio's ramp_time excludes its
// start). Both figures are printed; the steady-state one is the throughput compared. One cold
// pass of QEMU's sequential read is ~0.15 s, most of it spent translating (tshv: tiering up to wasm).
//
// The guest program is bench/blk/blkbench.c, compiled statically on the host at bench time and
// carried into the guest on a second, read-only disk (vdb): busybox dd has iflag=direct but no
// random reads and no timing line. Each phase runs between two marker lines on the serial console;
// the figure compared is the HOST's wall time between them (tshv's guest clock is virtual); the
// program's own guest-clock time is printed too.
//
// usage: node bench/blk/bench.mjs [--runs N] [--memory MIB] [--dist DIR] [--no-build] [--only tshv|qemu]
//   TSHV_BENCH_PASSES=N: steady-state passes per phase after the cold one (default 3)
//   TSHV_BENCH_PHASES=seqread[,seqwrite][,randread]: only these phases (default all)

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildProject, defaultGuest, ensureQemu, guestProgram, hostContext, mean, median, parseBenchArgs, runInterleaved,
} from '../lib.mjs';

const DATA_MIB = 256;
/** Passes of each phase after its cold one (the steady-state figure is their mean). */
const PASSES = Number(process.env.TSHV_BENCH_PASSES ?? 3);
if (!Number.isInteger(PASSES) || PASSES < 1) throw new Error(`TSHV_BENCH_PASSES must be a positive integer, not "${process.env.TSHV_BENCH_PASSES}"`);
const RAND_COUNT = 4096;
const PHASES = [
  { name: 'seqread', args: `seqread /dev/vda ${DATA_MIB}`, bytes: DATA_MIB * 1024 * 1024 },
  { name: 'seqwrite', args: `seqwrite /dev/vda ${DATA_MIB}`, bytes: DATA_MIB * 1024 * 1024 },
  { name: 'randread', args: `randread /dev/vda ${DATA_MIB} ${RAND_COUNT}`, bytes: RAND_COUNT * 4096 },
];
{
  const only = (process.env.TSHV_BENCH_PHASES ?? '').split(',').filter((n) => n !== '');
  for (const n of only) {
    if (!PHASES.some((p) => p.name === n)) throw new Error(`TSHV_BENCH_PHASES: no phase "${n}" (seqread, seqwrite, randread)`);
  }
  if (only.length > 0) PHASES.splice(0, PHASES.length, ...PHASES.filter((p) => only.includes(p.name)));
}

const opts = parseBenchArgs('blk/bench', { runs: 1 });
if (opts.build) buildProject();
if (opts.only !== 'tshv') ensureQemu();
const guest = await defaultGuest(opts.dist);

// On a real disk, not a tmpfs: the host's O_DIRECT figures are the physical limit.
const { dir, binPath, binBytes, progImg } = guestProgram('blk', new URL('./blkbench.c', import.meta.url), 'blkbench');
// The data disk: written in full (no holes), so reads touch real blocks.
const dataImg = join(dir, 'data.img');
{
  const fd = openSync(dataImg, 'w');
  const chunk = randomBytes(1024 * 1024);
  for (let i = 0; i < DATA_MIB; i++) writeSync(fd, chunk);
  closeSync(fd);
}

console.log(`blk benchmark: O_DIRECT in the guest (${guest.version}, ${opts.memMib} MiB, 1 vCPU): ` +
  `${DATA_MIB} MiB sequential read and write in 1 MiB requests, ${RAND_COUNT} random 4 KiB reads; each phase once cold, then ${PASSES} times`);
console.log(hostContext());

/** MiB/s for the sequential phases, IOPS for the random one. */
function rate(phase, seconds) {
  return phase.name === 'randread' ? RAND_COUNT / seconds : phase.bytes / 1048576 / seconds;
}
function unit(phase) {
  return phase.name === 'randread' ? 'IOPS' : 'MiB/s';
}

// The host on the same file: the same program, and dd for the sequential read.
const host = {};
for (const phase of PHASES) {
  const r = spawnSync(binPath, phase.args.replace('/dev/vda', dataImg).split(' '), { encoding: 'utf8' });
  const m = /ns=(\d+)/.exec(r.stdout);
  host[phase.name] = m ? Number(m[1]) / 1e9 : NaN;
}
const hostDd = spawnSync('dd', [`if=${dataImg}`, 'of=/dev/null', 'bs=1M', 'iflag=direct'], { encoding: 'utf8' }).stderr.trim().split('\n').pop();
console.log(`host dd if=data.img of=/dev/null bs=1M iflag=direct: ${hostDd}`);

const append = `console=ttyS0 quiet tshv.run="head -c ${binBytes.length} /dev/vdb > /tmp/bb; chmod +x /tmp/bb; ` +
  PHASES.map((p) => `echo bench-begin-${p.name}; /tmp/bb ${p.args}; echo bench-warm-${p.name}; ` +
    `${Array(PASSES).fill(`/tmp/bb ${p.args}`).join('; ')}; echo bench-end-${p.name}`).join('; ') + '"';
const extraArgs = {
  tshv: ['--disk', dataImg, '--disk', `${progImg},ro`],
  qemu: ['-drive', `file=${dataImg},if=none,id=d0,format=raw,cache=writeback,aio=threads`, '-device', 'virtio-blk-pci,drive=d0',
    '-drive', `file=${progImg},if=none,id=d1,format=raw,readonly=on`, '-device', 'virtio-blk-pci,drive=d1'],
};

// Both engines open the image through the host's page cache (cache=writeback). The host's own
// O_DIRECT phases above drop the image from that cache, and the first engine's run then reads it
// back from the disk while the second finds it cached: each run starts with the image read
// through the cache, so that every run measures the VMM and not the host's disk.
function warmPageCache() {
  const fd = openSync(dataImg, 'r');
  const buf = Buffer.alloc(1024 * 1024);
  while (readSync(fd, buf) > 0);
  closeSync(fd);
}

const vmOptions = () => ({ dist: opts.dist, kernelPath: guest.kernelPath, initrdPath: guest.initrdPath, append, memMib: opts.memMib, extraArgs });
const { results, failures } = await runInterleaved(opts, vmOptions, async (vm, engine) => {
  const run = {};
  const line = (name) => `blkbench-start ${name}\\r?\\nblkbench ${name} bytes=(\\d+) ns=(\\d+)\\r?\\n`;
  for (const phase of PHASES) {
    const begin = await vm.waitFor(new RegExp(`\\nbench-begin-${phase.name}\\r?\\n`), opts.timeoutMs);
    const warm = await vm.waitFor(new RegExp(`\\n${line(phase.name)}bench-warm-${phase.name}\\r?\\n`), opts.timeoutMs);
    const end = await vm.waitFor(new RegExp(`\\n(${line(phase.name)}){${PASSES}}bench-end-${phase.name}\\r?\\n`), opts.timeoutMs);
    const coldS = (warm.atMs - begin.atMs) / 1000;
    const wallS = (end.atMs - warm.atMs) / 1000 / PASSES;
    // The pass without the program's start and exit, and the shell's: on tshv ~20 ms of a 256 MiB
    // read's ~130 ms (fork, exec, ~300 page faults), on QEMU ~6 ms (stop 25; bench/ops times those).
    const loops = vm.spansS(`blkbench-start ${phase.name}`, `blkbench ${phase.name} `, end.match.index, end.match.index + end.match[0].length);
    const loopS = mean(loops);
    // The program's own clock (guest time: on tshv virtual, ~1 ns per guest instruction while
    // the vCPU runs, so a measure of the guest's work rather than of the host's speed).
    const guestS = mean([...end.match[0].matchAll(/ns=(\d+)/g)].map((m) => Number(m[1]) / 1e9));
    run[phase.name] = { coldS, wallS, loopS, guestS, cpuS: (end.cpuS - warm.cpuS) / PASSES };
    console.log(`${engine.padEnd(4)} ${phase.name.padEnd(8)} cold ${coldS.toFixed(2)} s (${rate(phase, coldS).toFixed(1)} ${unit(phase)}), ` +
      `then ${wallS.toFixed(3)} s per pass (${rate(phase, wallS).toFixed(1)} ${unit(phase)}), ${run[phase.name].cpuS.toFixed(3)} s CPU per pass; ` +
      `I/O loop ${loopS.toFixed(3)} s (${rate(phase, loopS).toFixed(1)} ${unit(phase)}; each pass's, ms: ${loops.map((x) => (x * 1000).toFixed(0)).join(' ')}), ` +
      `guest clock ${(guestS * 1000).toFixed(1)} ms`);
  }
  await vm.waitExit(120_000).catch(() => {});
  return run;
}, warmPageCache);

console.log('');
console.log('phase     unit    host (O_DIRECT)     tshv     qemu   tshv/qemu   by VMM CPU time   cold: tshv     qemu   tshv/qemu   I/O loop: tshv     qemu   tshv/qemu');
for (const phase of PHASES) {
  const med = (engine, key) => median(results[engine].map((r) => r[phase.name][key]));
  const t = rate(phase, med('tshv', 'wallS'));
  const q = rate(phase, med('qemu', 'wallS'));
  const tc = rate(phase, med('tshv', 'coldS'));
  const qc = rate(phase, med('qemu', 'coldS'));
  const tl = rate(phase, med('tshv', 'loopS'));
  const ql = rate(phase, med('qemu', 'loopS'));
  const cpuRatio = med('qemu', 'cpuS') / med('tshv', 'cpuS');
  const fmt = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-').padStart(8);
  const ratio = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '-');
  console.log(`${phase.name.padEnd(8)}  ${unit(phase).padEnd(5)}  ${fmt(rate(phase, host[phase.name])).padStart(15)}  ${fmt(t)} ${fmt(q)}   ${ratio(t / q).padStart(9)}   ${ratio(cpuRatio).padStart(15)}   ${fmt(tc)} ${fmt(qc)}   ${ratio(tc / qc).padStart(9)}   ${fmt(tl).padStart(14)} ${fmt(ql)}   ${ratio(tl / ql).padStart(9)}`);
}
console.log(`(steady-state rates: the mean of ${PASSES} passes after the cold one, host wall time between the guest's markers, median of ${opts.runs} run(s);`);
console.log(' ratio > 1: tshv faster; target >= 1.0x. The CPU-time ratio compares the VMM processes\' CPU time (all threads) over the same passes:');
console.log(' less sensitive to the load. Cold: the first pass of each phase, translation included. I/O loop: the same passes from the');
console.log(' program\'s start line to its result line, without its start and exit.)');
process.exit(failures > 0 ? 1 : 0);
