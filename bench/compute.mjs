#!/usr/bin/env node
// Compute benchmark (issue 2, section 7): a CPU-bound job inside the guest,
// `dd if=/dev/zero bs=1M count=64 | sha256sum`, on tshv's soft CPU and on QEMU TCG, runs
// interleaved, medians and the ratio tshv/qemu; the checksum must equal the host's.
//
// The job runs from the guest's test hook (tshv.run="..."), which prints a marker line before and
// after it, then the guest powers off. The figure compared is the HOST's wall time between the
// two markers as they arrive on the serial console (serial latency is microseconds; the job takes
// seconds). The guest's own /proc/uptime difference is printed too, for information only: on tshv
// the guest clock is virtual (1 ns per executed instruction, skipping idle time), so there it
// measures instructions, not seconds.
//
// usage: node bench/compute.mjs [--runs N] [--memory MIB] [--dist DIR] [--no-build] [--only tshv|qemu]

import { createHash } from 'node:crypto';
import {
  buildProject, defaultGuest, ensureQemu, fmtS, hostContext, median, parseBenchArgs, runInterleaved,
} from './lib.mjs';

const JOB_MIB = 64;
const opts = parseBenchArgs('compute', { runs: 3 });
if (opts.build) buildProject();
if (opts.only !== 'tshv') ensureQemu();
const guest = await defaultGuest(opts.dist);
const expected = createHash('sha256').update(Buffer.alloc(JOB_MIB * 1024 * 1024)).digest('hex');
// The hook's value sits in double quotes on the kernel command line, so the job has none; the
// regular expressions below anchor each marker at a line start, which the command line itself
// (were the kernel to print it) does not match.
const job = `read u0 x < /proc/uptime; echo bench-begin; dd if=/dev/zero bs=1M count=${JOB_MIB} 2>/dev/null | sha256sum; echo bench-end; read u1 x < /proc/uptime; echo bench-uptime $u0 $u1`;
const append = `console=ttyS0 quiet tshv.run="${job}"`;
console.log(`compute benchmark: dd if=/dev/zero bs=1M count=${JOB_MIB} | sha256sum in the guest (${guest.version}, ${opts.memMib} MiB, 1 vCPU)`);
console.log(hostContext());

const vmOptions = () => ({ dist: opts.dist, kernelPath: guest.kernelPath, initrdPath: guest.initrdPath, append, memMib: opts.memMib });
const { results, failures } = await runInterleaved(opts, vmOptions, async (vm, engine) => {
  const begin = await vm.waitFor(/\nbench-begin\r?\n/, opts.timeoutMs);
  const end = await vm.waitFor(/\n([0-9a-f]{64}) +-\r?\nbench-end\r?\n/, opts.timeoutMs);
  const up = await vm.waitFor(/\nbench-uptime (\d+\.\d+) (\d+\.\d+)\r?\n/, 60_000);
  const digest = end.match[1];
  const wallMs = end.atMs - begin.atMs;
  const cpuS = end.cpuS - begin.cpuS;
  const guestS = Number(up.match[2]) - Number(up.match[1]);
  if (digest !== expected) throw new Error(`wrong checksum ${digest}, the host's is ${expected}`);
  console.log(`${engine.padEnd(4)}: job took ${fmtS(wallMs)} s wall, ${cpuS.toFixed(2)} s CPU (guest clock ${guestS.toFixed(2)} s), checksum ok`);
  await vm.waitExit(120_000).catch(() => {});
  return { wallMs, cpuS, guestS };
});

const med = (engine) => median(results[engine].map((r) => r.wallMs));
console.log('');
const medCpu = (engine) => median(results[engine].map((r) => r.cpuS));
console.log('engine  runs  median job wall time (s)  median job CPU time (s)  median guest clock (s)');
for (const engine of ['tshv', 'qemu']) {
  if (results[engine].length === 0) continue;
  console.log(`${engine.padEnd(6)}  ${String(results[engine].length).padStart(4)}  ${fmtS(med(engine)).padStart(24)}  ${medCpu(engine).toFixed(2).padStart(23)}  ${median(results[engine].map((r) => r.guestS)).toFixed(2).padStart(22)}`);
}
if (results.tshv.length > 0 && results.qemu.length > 0) {
  console.log(`ratio tshv/qemu (median job wall time): ${(med('tshv') / med('qemu')).toFixed(2)}x   (target: <= 3x)`);
  console.log(`ratio tshv/qemu (median job CPU time, less sensitive to load): ${(medCpu('tshv') / medCpu('qemu')).toFixed(2)}x`);
}
process.exit(failures > 0 ? 1 : 0);
