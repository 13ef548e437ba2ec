#!/usr/bin/env node
// Compares two builds of tshv on one I/O phase (issue 4's benchmarks), as bench/ab-pinned.sh does
// for whole boots: both builds run at the same time, each pinned to one core (swapped every
// round), and the figure is the host time between two console markers around the phase, so that
// boot time and machine noise mostly cancel out of each pair's difference.
//
//   node bench/ab-phase.mjs ROUNDS PHASE DIST_A DIST_B      (as root for rx/tx)
//   PHASE: seqread | seqwrite (4 x 256 MiB O_DIRECT), randread (4,096 x 4 KiB),
//          rx | tx (4 x 8 MiB over TCP through a TAP in a network namespace made per run)
//   DIST: a tsc output directory (npx tsc -p . --outDir DIST); NODE_ARGS_A / NODE_ARGS_B add
//   node flags to one side. TSHV_AB_WARMUP=N runs the phase's command N times before the first
//   marker: the pair then compares the steady state (what bench/blk and bench/net compare) rather
//   than the cold pass, where translation dominates.
//
// The disk phases use bench/blk's guest program (compiled here with gcc -static) and a data image
// of random bytes on the host's disk; the network phases a host-side server in the namespace, as
// bench/net does. Needs taskset (util-linux).

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

const [roundsArg, phase, distA, distB] = process.argv.slice(2);
const PHASES = ['seqread', 'seqwrite', 'randread', 'rx', 'tx'];
if (!roundsArg || !PHASES.includes(phase) || !distA || !distB) {
  console.error(`usage: node bench/ab-phase.mjs ROUNDS ${PHASES.join('|')} DIST_A DIST_B`);
  process.exit(2);
}
const rounds = Number(roundsArg);
const warmup = Number(process.env.TSHV_AB_WARMUP ?? 0);
if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`TSHV_AB_WARMUP must be a whole number, not "${process.env.TSHV_AB_WARMUP}"`);
/** `cmd` run `warmup` times (a prefix of the job, before the first marker). */
const warm = (cmd) => Array(warmup).fill(`${cmd}; `).join('');
const net = phase === 'rx' || phase === 'tx';
if (net && process.getuid?.() !== 0) throw new Error('the rx/tx phases need root (network namespace, TAP)');

const dir = mkdtempSync(join(process.env.TMPDIR ?? '/var/tmp', 'tshv-ab-phase-'));
const namespaces = new Set();
const cleanup = () => {
  for (const ns of namespaces) spawnSync('ip', ['netns', 'del', ns]);
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

let job;
let diskArgs = [];
if (!net) {
  const bin = join(dir, 'blkbench');
  const cc = spawnSync('gcc', ['-static', '-O2', '-o', bin, new URL('./blk/blkbench.c', import.meta.url).pathname], { stdio: 'inherit' });
  if (cc.status !== 0) throw new Error('gcc -static failed (needs gcc and the static glibc, libc6-dev)');
  const bytes = readFileSync(bin);
  const prog = join(dir, 'prog.img');
  let fd = openSync(prog, 'w'); writeSync(fd, bytes); ftruncateSync(fd, Math.ceil(bytes.length / 4096) * 4096); closeSync(fd);
  const data = join(dir, 'data.img');
  fd = openSync(data, 'w');
  const chunk = randomBytes(1 << 20);
  for (let i = 0; i < 256; i++) writeSync(fd, chunk);
  closeSync(fd);
  diskArgs = ['--disk', data, '--disk', `${prog},ro`];
  const one = phase === 'randread' ? '/tmp/bb randread /dev/vda 256 4096' : `/tmp/bb ${phase} /dev/vda 256`;
  const run = phase === 'randread' ? one : `for i in 1 2 3 4; do ${one}; done`;
  job = `head -c ${bytes.length} /dev/vdb > /tmp/bb; chmod +x /tmp/bb; ${warm(one)}echo phase-begin; ${run}; echo phase-end; poweroff -f`;
} else {
  const x = phase === 'rx' ? 'nc 10.254.79.1 5002 > /dev/null' : 'dd if=/dev/zero bs=64k count=128 2>/dev/null | nc 10.254.79.1 5001';
  job = 'ip addr add 10.254.79.2/24 dev eth0; ip link set eth0 up; until ping -c 1 -W 1 10.254.79.1 >/dev/null; do sleep 1; done; ' +
    `${warm(x)}echo phase-begin; for i in 1 2 3 4; do ${x}; done; echo phase-end; poweroff -f`;
}

const SERVER = `
const net = require('net'); const total = 8 * 1048576; const chunk = Buffer.alloc(1 << 20, 0x5a);
net.createServer((s) => { s.on('data', () => {}); s.on('end', () => s.end()); s.on('error', () => {}); }).listen(5001, '10.254.79.1');
net.createServer((s) => { let sent = 0; s.on('error', () => {});
  const pump = () => { while (sent < total) { sent += chunk.length; if (!s.write(chunk)) { s.once('drain', pump); return; } } s.end(); };
  s.resume(); pump(); }).listen(5002, '10.254.79.1', () => console.log('ready'));`;

/** A namespace with a TAP at 10.254.79.1 and the server; returns [namespace, server process]. */
async function netSide(tag) {
  const ns = `tshvab${process.pid}${tag}`;
  const sh = (...a) => { const r = spawnSync('ip', a, { encoding: 'utf8' }); if (r.status !== 0) throw new Error(`ip ${a.join(' ')}: ${r.stderr}`); };
  sh('netns', 'add', ns); namespaces.add(ns);
  sh('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
  sh('netns', 'exec', ns, 'ip', 'tuntap', 'add', 'dev', 'abtap0', 'mode', 'tap');
  sh('netns', 'exec', ns, 'ip', 'addr', 'add', '10.254.79.1/24', 'dev', 'abtap0');
  sh('netns', 'exec', ns, 'ip', 'link', 'set', 'abtap0', 'up');
  const server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r) => server.stdout.once('data', r));
  return [ns, server];
}

/** Runs one build pinned to `cpu`; resolves to the seconds between the phase markers. */
async function once(dist, nodeArgs, cpu, tag) {
  let ns; let server;
  if (net) [ns, server] = await netSide(tag);
  const args = [...nodeArgs, join(resolve(dist), 'bin', 'tshv.js'), 'run', '--no-reboot', '--append', `console=ttyS0 quiet tshv.run="${job}"`,
    ...diskArgs, ...(net ? ['--net', 'tap=abtap0,mac=52:54:00:12:34:57'] : [])];
  const cmd = net ? ['ip', ['netns', 'exec', ns, 'taskset', '-c', String(cpu), process.execPath, ...args]] : ['taskset', ['-c', String(cpu), process.execPath, ...args]];
  const child = spawn(cmd[0], cmd[1], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = ''; let begin = 0; let seconds = NaN;
  child.stdout.on('data', (d) => {
    out = (out + d.toString('latin1')).slice(-4096);
    // The echo's output line, not the command line that contains the word.
    if (begin === 0 && /phase-begin\r?\n/.test(out)) { begin = performance.now(); out = ''; }
    if (begin !== 0 && Number.isNaN(seconds) && /phase-end\r?\n/.test(out)) seconds = (performance.now() - begin) / 1000;
  });
  await new Promise((r) => child.on('exit', r));
  server?.kill('SIGKILL');
  if (ns !== undefined) { spawnSync('ip', ['netns', 'del', ns]); namespaces.delete(ns); }
  return seconds;
}

const flags = (s) => (s ?? '').split(' ').filter(Boolean);
let sumA = 0; let sumB = 0;
for (let r = 1; r <= rounds; r++) {
  const [ca, cb] = r % 2 === 1 ? [0, 1] : [1, 0];
  const [a, b] = await Promise.all([once(distA, flags(process.env.NODE_ARGS_A), ca, 'a'), once(distB, flags(process.env.NODE_ARGS_B), cb, 'b')]);
  sumA += a; sumB += b;
  console.log(`round ${r}: A ${a.toFixed(3)} s  B ${b.toFixed(3)} s  B-A ${(b - a >= 0 ? '+' : '')}${(b - a).toFixed(3)} s`);
}
const d = (sumB - sumA) / rounds;
console.log(`${phase}, mean of ${rounds}: A ${(sumA / rounds).toFixed(3)} s  B ${(sumB / rounds).toFixed(3)} s  B-A ${d >= 0 ? '+' : ''}${d.toFixed(3)} s`);
