#!/usr/bin/env node
// Boot benchmark (issue 2, section 7): wall time from process start to the default guest's
// readiness line, tshv's soft CPU vs QEMU TCG (shared/reference/qemu-peer.md), same kernel,
// initrd, command line and memory, one vCPU; runs interleaved (tshv, qemu, tshv, qemu...) so a
// change in the machine's load hits both; medians and the ratio tshv/qemu at the end.
//
// The command line is `console=ttyS0 quiet` plus the guest's test hook tshv.run="cat /proc/uptime":
// the guest prints its own uptime right after the readiness line (tshv's guest clock is virtual,
// 1 ns per instruction, so on tshv it counts instructions rather than seconds); the VM is killed
// as soon as that line is read.
//
// usage: node bench/boot.mjs [--runs N] [--memory MIB] [--dist DIR] [--no-build] [--only tshv|qemu]

import {
  READY_LINE, buildProject, defaultGuest, ensureQemu, fmtS, hostContext, median, parseBenchArgs, runInterleaved,
} from './lib.mjs';

const opts = parseBenchArgs('boot', { runs: 3 });
if (opts.build) buildProject();
if (opts.only !== 'tshv') ensureQemu();
const guest = await defaultGuest(opts.dist);
const append = 'console=ttyS0 quiet tshv.run="cat /proc/uptime"';
console.log(`boot benchmark: ${guest.version}, ${opts.memMib} MiB, 1 vCPU, cmdline ${append}`);
console.log(hostContext());

const vmOptions = () => ({ dist: opts.dist, kernelPath: guest.kernelPath, initrdPath: guest.initrdPath, append, memMib: opts.memMib });
const { results, failures } = await runInterleaved(opts, vmOptions, async (vm, engine) => {
  const ready = await vm.waitFor(new RegExp(READY_LINE), opts.timeoutMs);
  const up = await vm.waitFor(/tshv-guest: ready\r?\n(?:[^\n]*\n)*?(\d+\.\d+) \d+\.\d+\r?\n/, 60_000);
  const guestUptimeS = Number(up.match[1]);
  console.log(`${engine.padEnd(4)}: ready after ${fmtS(ready.atMs)} s wall, ${ready.cpuS.toFixed(2)} s CPU (guest uptime ${guestUptimeS.toFixed(2)} s)`);
  return { readyMs: ready.atMs, cpuS: ready.cpuS, guestUptimeS };
});

const med = (engine) => median(results[engine].map((r) => r.readyMs));
const medUp = (engine) => median(results[engine].map((r) => r.guestUptimeS));
console.log('');
const medCpu = (engine) => median(results[engine].map((r) => r.cpuS));
console.log('engine  runs  median wall to ready (s)  median CPU to ready (s)  median guest uptime at ready (s)');
for (const engine of ['tshv', 'qemu']) {
  if (results[engine].length === 0) continue;
  console.log(`${engine.padEnd(6)}  ${String(results[engine].length).padStart(4)}  ${fmtS(med(engine)).padStart(25)}  ${medCpu(engine).toFixed(2).padStart(23)}  ${medUp(engine).toFixed(2).padStart(32)}`);
}
if (results.tshv.length > 0 && results.qemu.length > 0) {
  console.log(`ratio tshv/qemu (median wall to ready): ${(med('tshv') / med('qemu')).toFixed(2)}x   (target: <= 3x)`);
  console.log(`ratio tshv/qemu (median CPU time to ready, less sensitive to load): ${(medCpu('tshv') / medCpu('qemu')).toFixed(2)}x`);
}
process.exit(failures > 0 ? 1 : 0);
