#!/usr/bin/env node
// Management API benchmark (issue 5, section 7), against a real `tshv daemon` in a temporary
// $TSHV_HOME (its guest/ is a link to the cached default guest):
// 1. latency of `GET /vms` (list) and `GET /vms/{vm}` (show) over the local Unix socket with 100
//    defined VMs: median and p95 of --requests sequential calls each, through the typed client;
// 2. create+start of a default-guest VM to the guest's readiness line through the API (create,
//    start, console WebSocket until `tshv-guest: ready` arrives) vs `tshv run` directly (spawn to
//    the readiness line on its stdout), interleaved; medians and the ratio (the daemon's overhead).
//
// usage: node bench/api/api.mjs [--runs N] [--requests N] [--memory MIB] [--dist DIR] [--no-build]

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { READY_LINE, ROOT, buildProject, defaultGuest, fmtS, hostContext, median } from '../lib.mjs';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    requests: { type: 'string', default: '200' },
    vms: { type: 'string', default: '100' },
    memory: { type: 'string', default: '512' },
    dist: { type: 'string', default: join(ROOT, 'dist') },
    'no-build': { type: 'boolean', default: false },
    'timeout-s': { type: 'string', default: '900' },
  },
});
const runs = Number(values.runs);
const requests = Number(values.requests);
const vmCount = Number(values.vms);
const memMib = Number(values.memory);
const dist = values.dist;
const timeoutMs = Number(values['timeout-s']) * 1000;
const distGiven = process.argv.some((a) => a === '--dist' || a.startsWith('--dist='));
if (!values['no-build'] && !distGiven) buildProject();

const tshvJs = join(dist, 'bin', 'tshv.js');
const { TshvClient } = await import(pathToFileURL(join(dist, 'client', 'client.js')).href);
const guest = await defaultGuest(dist);

function p95(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)];
}

const home = mkdtempSync(join(tmpdir(), 'tshv-bench-api-'));
const cachedGuest = join(process.env.TSHV_HOME ?? join(homedir(), '.local', 'share', 'tshv'), 'guest');
if (existsSync(cachedGuest)) symlinkSync(cachedGuest, join(home, 'guest'));
const env = { ...process.env, TSHV_HOME: home };

let daemonLog = '';
const daemon = spawn(process.execPath, [tshvJs, 'daemon', '--no-http'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
daemon.stderr.on('data', (d) => { daemonLog += d.toString(); });
const children = new Set([daemon]);
const cleanup = () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
};
process.on('exit', cleanup);

const client = TshvClient.local(home);
async function waitDaemon() {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await client.listVms();
    } catch (e) {
      if (Date.now() > deadline || daemon.exitCode !== null) throw new Error(`the daemon did not come up: ${e.message}\n${daemonLog}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function timeCalls(n, fn) {
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    ms.push(performance.now() - t0);
  }
  return ms;
}

/** CPU time (user + system) of a process so far, in seconds (proc(5) stat fields 14, 15; 100 Hz ticks). */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** create + start + console until the readiness line, through the API. */
async function apiBoot(name) {
  const t0 = performance.now();
  await client.createVm({ name, memoryMib: memMib });
  const tCreated = performance.now();
  const started = await client.startVm(name);
  const tStarted = performance.now();
  let out = '';
  let ws;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      ws = await client.attachConsole(name, (d) => { out += d.toString('latin1'); });
      break;
    } catch (e) {
      // 409 while the VMM is still starting: try again shortly.
      if (e.status !== 409 || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  await new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (out.includes(READY_LINE)) { clearInterval(t); resolve(); }
      else if (Date.now() > deadline) { clearInterval(t); reject(new Error(`no readiness line; console tail: ${out.slice(-500)}`)); }
    }, 5);
  });
  const ms = performance.now() - t0;
  const vm = started.pid !== undefined ? started : await client.getVm(name);
  const cpuS = cpuSeconds(vm.pid);
  ws.close();
  await client.deleteVm(name, true);
  return { ms, cpuS, createMs: tCreated - t0, startMs: tStarted - tCreated };
}

/** `tshv run` with the default guest, to its readiness line. */
function directBoot() {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [tshvJs, 'run', '--memory', String(memMib), '--no-reboot'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let done = false;
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('tshv run: timed out')); }, timeoutMs);
    const onData = (d) => {
      out += d.toString('latin1');
      if (out.includes(READY_LINE) && !done) {
        done = true;
        const ms = performance.now() - t0;
        const cpuS = cpuSeconds(child.pid);
        clearTimeout(timer);
        child.kill('SIGKILL');
        child.once('exit', () => { children.delete(child); resolve({ ms, cpuS }); });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.stdin.on('error', () => {});
  });
}

try {
  console.log(`api benchmark: ${guest.version}, ${memMib} MiB, 1 vCPU, ${vmCount} defined VMs, ${requests} requests per latency figure`);
  console.log(hostContext());
  await waitDaemon();
  for (let i = 0; i < vmCount; i++) await client.createVm({ name: `bench-${String(i).padStart(3, '0')}` });
  await timeCalls(20, () => client.listVms()); // warm-up
  const list = await timeCalls(requests, () => client.listVms());
  const show = await timeCalls(requests, (i) => client.getVm(`bench-${String(i % vmCount).padStart(3, '0')}`));
  console.log(`list (${vmCount} VMs): median ${median(list).toFixed(2)} ms, p95 ${p95(list).toFixed(2)} ms`);
  console.log(`show:           median ${median(show).toFixed(2)} ms, p95 ${p95(show).toFixed(2)} ms`);

  const api = [];
  const direct = [];
  for (let r = 0; r < runs; r++) {
    const a = await apiBoot(`boot-${r}`);
    api.push(a);
    console.log(`api    run ${r + 1}: create+start to ready ${fmtS(a.ms)} s wall, VMM CPU ${a.cpuS.toFixed(2)} s (create call ${a.createMs.toFixed(1)} ms, start call ${a.startMs.toFixed(0)} ms)`);
    const d = await directBoot();
    direct.push(d);
    console.log(`direct run ${r + 1}: tshv run to ready     ${fmtS(d.ms)} s wall, VMM CPU ${d.cpuS.toFixed(2)} s`);
  }
  const m = (xs, k) => median(xs.map((x) => x[k]));
  console.log('');
  console.log(`median API calls: create ${m(api, 'createMs').toFixed(1)} ms, start (spawn until the VMM answers) ${m(api, 'startMs').toFixed(0)} ms`);
  console.log(`median wall to ready: API ${fmtS(m(api, 'ms'))} s, tshv run ${fmtS(m(direct, 'ms'))} s, ratio ${(m(api, 'ms') / m(direct, 'ms')).toFixed(2)}x`);
  console.log(`median VMM CPU to ready: API ${m(api, 'cpuS').toFixed(2)} s, tshv run ${m(direct, 'cpuS').toFixed(2)} s, ratio ${(m(api, 'cpuS') / m(direct, 'cpuS')).toFixed(2)}x (less sensitive to load)`);
} finally {
  daemon.kill('SIGTERM');
  await new Promise((r) => { if (daemon.exitCode !== null) r(); else daemon.once('exit', r); });
  cleanup();
  rmSync(home, { recursive: true, force: true });
}
