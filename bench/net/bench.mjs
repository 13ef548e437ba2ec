#!/usr/bin/env node
// Network benchmark (issue 4, section 7): guest↔host TCP throughput through virtio-net and a TAP,
// tshv's soft CPU against QEMU TCG (virtio-net-pci, userspace virtio: vhost=off), same guest,
// kernel and command line, runs interleaved. Everything happens inside a network namespace this
// script creates (and deletes, also on failure or Ctrl-C): a persistent TAP there, 10.254.79.1/24
// on the host side, the guest 10.254.79.2/24, the VMM started inside the namespace.
//
// The host side is a small node server in the namespace: port 5001 swallows what the guest sends
// (guest → host: busybox `dd if=/dev/zero | nc`), port 5002 sends TRANSFER_MIB to the guest
// (host → guest: `nc ... > /dev/null`). Figures are the server's own wall time per connection
// (accept to the peer's end of stream), i.e. host time on both engines.
//
// Each direction runs once cold (the first time the guest runs that network path: both engines
// translate its code then) and then PASSES more times (steady state, the throughput compared; see
// bench/blk/bench.mjs). Both figures are printed.
//
// usage: node bench/net/bench.mjs [--runs N] [--memory MIB] [--dist DIR] [--no-build] [--only tshv|qemu]   (as root)
//   TSHV_BENCH_PASSES=N: steady-state transfers per direction after the cold one (default 3)
//   TSHV_BENCH_DIRECTIONS=rx (or tx): one direction only (A/B runs of one phase)

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  buildProject, defaultGuest, ensureQemu, hostContext, median, parseBenchArgs, runInterleaved,
} from '../lib.mjs';

// Small on purpose: the guest's busybox nc copies in ~1 KiB writes, so the transfer is bound by
// the guest's CPU (every write a system call and a segment); on the soft CPU 64 MiB takes many minutes.
const TRANSFER_MIB = 8;
/** Transfers of each direction after its cold one (the steady-state figure is over them). */
const PASSES = Number(process.env.TSHV_BENCH_PASSES ?? 3);
if (!Number.isInteger(PASSES) || PASSES < 1) throw new Error(`TSHV_BENCH_PASSES must be a positive integer, not "${process.env.TSHV_BENCH_PASSES}"`);
/** tx: guest -> host, rx: host -> guest. */
const DIRECTIONS = (process.env.TSHV_BENCH_DIRECTIONS ?? 'tx,rx').split(',').filter((d) => d !== '');
if (DIRECTIONS.length === 0 || DIRECTIONS.some((d) => d !== 'tx' && d !== 'rx')) throw new Error(`TSHV_BENCH_DIRECTIONS must list tx and/or rx, not "${process.env.TSHV_BENCH_DIRECTIONS}"`);
const NS = `tshvbench${process.pid}`;
const TAP = 'tbtap0';
const HOST_IP = '10.254.79.1';
const GUEST_IP = '10.254.79.2';
const MAC = '52:54:00:12:34:57';

const opts = parseBenchArgs('net/bench', { runs: 1 });
if (process.getuid?.() !== 0) throw new Error('bench/net needs root (network namespace, TAP)');
if (!existsSync('/dev/net/tun')) throw new Error('no /dev/net/tun');
if (opts.build) buildProject();
if (opts.only !== 'tshv') ensureQemu();
const guest = await defaultGuest(opts.dist);

function sh(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim()}`);
}
const inNs = (...args) => sh('ip', ['netns', 'exec', NS, ...args]);

let server;
function cleanup() {
  server?.kill('SIGKILL');
  spawnSync('ip', ['netns', 'del', NS]);
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

sh('ip', ['netns', 'add', NS]);
inNs('ip', 'link', 'set', 'lo', 'up');
inNs('ip', 'tuntap', 'add', 'dev', TAP, 'mode', 'tap');
inNs('ip', 'addr', 'add', `${HOST_IP}/24`, 'dev', TAP);
inNs('ip', 'link', 'set', TAP, 'up');

// The host side: one line of JSON per finished transfer.
const serverScript = `
const net = require('net');
const total = ${TRANSFER_MIB} * 1048576;
const chunk = Buffer.alloc(1 << 20, 0x5a);
net.createServer((s) => {
  const t0 = performance.now(); let n = 0;
  s.on('data', (d) => { n += d.length; });
  s.on('end', () => { console.log(JSON.stringify({ dir: 'tx', bytes: n, ms: performance.now() - t0 })); s.end(); });
  s.on('error', () => {});
}).listen(5001, '${HOST_IP}');
net.createServer((s) => {
  const t0 = performance.now(); let sent = 0;
  s.on('error', () => {});
  const pump = () => { while (sent < total) { sent += chunk.length; if (!s.write(chunk)) { s.once('drain', pump); return; } } s.end(); };
  s.on('close', () => console.log(JSON.stringify({ dir: 'rx', bytes: sent, ms: performance.now() - t0 })));
  s.resume();
  pump();
}).listen(5002, '${HOST_IP}', () => console.log(JSON.stringify({ ready: true })));
`;
server = spawn('ip', ['netns', 'exec', NS, process.execPath, '-e', serverScript], { stdio: ['ignore', 'pipe', 'inherit'] });
const serverLines = [];
let serverWake;
let serverBuf = '';
server.stdout.on('data', (d) => {
  serverBuf += d.toString();
  let i;
  while ((i = serverBuf.indexOf('\n')) >= 0) {
    serverLines.push(JSON.parse(serverBuf.slice(0, i)));
    serverBuf = serverBuf.slice(i + 1);
    serverWake?.();
  }
});
async function nextServer(pred, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const i = serverLines.findIndex(pred);
    if (i >= 0) return serverLines.splice(i, 1)[0];
    if (Date.now() > deadline) throw new Error('timed out waiting for the host-side server');
    await new Promise((r) => { serverWake = r; setTimeout(r, 200); });
  }
}
await nextServer((l) => l.ready, 10_000);

console.log(`net benchmark: TCP over virtio-net + TAP in a namespace (${guest.version}, ${opts.memMib} MiB, 1 vCPU): ` +
  `${TRANSFER_MIB} MiB guest -> host (dd | nc) and host -> guest (nc > /dev/null), each once cold, then ${PASSES} times`);
console.log(hostContext());

const job = `ip addr add ${GUEST_IP}/24 dev eth0; ip link set eth0 up; ` +
  `until ping -c 1 -W 1 ${HOST_IP} >/dev/null; do sleep 1; done; ` +
  DIRECTIONS.map((dir) => `echo bench-begin-${dir}; ` + Array(PASSES + 1).fill(dir === 'tx'
    ? `dd if=/dev/zero bs=64k count=${TRANSFER_MIB * 16} 2>/dev/null | nc ${HOST_IP} 5001`
    : `nc ${HOST_IP} 5002 > /dev/null`).join('; ') + `; echo bench-end-${dir}`).join('; ');
const append = `console=ttyS0 quiet tshv.run="${job}"`;
const extraArgs = {
  tshv: ['--net', `tap=${TAP},mac=${MAC}`],
  qemu: ['-netdev', `tap,id=n0,ifname=${TAP},script=no,downscript=no,vhost=off`, '-device', `virtio-net-pci,netdev=n0,mac=${MAC}`],
};

const vmOptions = () => ({
  dist: opts.dist, kernelPath: guest.kernelPath, initrdPath: guest.initrdPath, append, memMib: opts.memMib, extraArgs,
  launcher: ['ip', 'netns', 'exec', NS],
});
const { results, failures } = await runInterleaved(opts, vmOptions, async (vm, engine) => {
  const run = {};
  for (const dir of DIRECTIONS) {
    const begin = await vm.waitFor(new RegExp(`\\nbench-begin-${dir}\\r?\\n`), opts.timeoutMs);
    const end = await vm.waitFor(new RegExp(`\\nbench-end-${dir}\\r?\\n`), opts.timeoutMs);
    const transfers = [];
    for (let k = 0; k <= PASSES; k++) {
      const s = await nextServer((l) => l.dir === dir, 30_000);
      if (s.bytes !== TRANSFER_MIB * 1048576) throw new Error(`${dir}: ${s.bytes} bytes moved, expected ${TRANSFER_MIB} MiB`);
      transfers.push(s.ms / 1000);
    }
    const steadyS = transfers.slice(1).reduce((a, b) => a + b, 0);
    run[dir] = { coldMibps: TRANSFER_MIB / transfers[0], mibps: PASSES * TRANSFER_MIB / steadyS, cpuS: end.cpuS - begin.cpuS, wallS: (end.atMs - begin.atMs) / 1000 };
    console.log(`${engine.padEnd(4)} ${dir === 'tx' ? 'guest->host' : 'host->guest'} cold ${run[dir].coldMibps.toFixed(1)} MiB/s (${transfers[0].toFixed(2)} s), ` +
      `then ${run[dir].mibps.toFixed(1)} MiB/s (${transfers.slice(1).map((t) => t.toFixed(2)).join(', ')} s; all ${PASSES + 1}: ` +
      `markers ${run[dir].wallS.toFixed(2)} s wall, ${run[dir].cpuS.toFixed(2)} s VMM CPU)`);
  }
  await vm.waitExit(120_000).catch(() => {});
  return run;
});

console.log('');
console.log('direction     tshv MiB/s   qemu MiB/s   tshv/qemu   by VMM CPU time   cold: tshv   qemu   tshv/qemu');
for (const dir of DIRECTIONS) {
  const med = (engine, key) => median(results[engine].map((r) => r[dir][key]));
  const t = med('tshv', 'mibps');
  const q = med('qemu', 'mibps');
  const cpuRatio = med('qemu', 'cpuS') / med('tshv', 'cpuS');
  const fmt = (x, w = 10) => (Number.isFinite(x) ? x.toFixed(1) : '-').padStart(w);
  const ratio = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '-');
  const tc = med('tshv', 'coldMibps');
  const qc = med('qemu', 'coldMibps');
  console.log(`${(dir === 'tx' ? 'guest->host' : 'host->guest').padEnd(12)}  ${fmt(t)}   ${fmt(q)}   ${ratio(t / q).padStart(9)}   ${ratio(cpuRatio).padStart(15)}   ${fmt(tc, 10)} ${fmt(qc, 6)}   ${ratio(tc / qc).padStart(9)}`);
}
console.log(`(steady state: ${PASSES} transfers after the cold one, the host-side server's time; median of ${opts.runs} run(s); ratio > 1: tshv faster;`);
console.log(' target >= 1.0x. The CPU-time ratio compares the VMM processes\' CPU time over all the transfers of a direction, cold one included.)');
process.exit(failures > 0 ? 1 : 0);
