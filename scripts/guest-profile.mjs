#!/usr/bin/env node
// Guest-side profile of a boot on the soft engine: where the guest's instructions go until the
// readiness line (or any other console text), by kernel function, with counts of PAUSE, HLT, port
// I/O by port and MMIO by page. The VMM samples the RIP every N instructions (TSHV_PROFILE,
// src/vmm/guest-profiler.ts); this script runs the VM, maps the samples to symbols and prints tables.
//
// Symbols: Debian's linux-image package ships a stub System.map ("the real System.map is in the
// -dbg package"), so the symbols come from the guest itself: the first run boots the default guest
// once with `cat /proc/kallsyms` (kptr_restrict is 0 in the initramfs shell, root) and caches the
// text under $TSHV_HOME/profile/kallsyms-<release>.txt. The kernel is decompressed by the VMM,
// which does no KASLR, so text and module addresses are the same on every boot of the same guest.
//
// usage: node scripts/guest-profile.mjs [--dist DIR] [--append CMDLINE] [--cpus N] [--memory MIB]
//          [--every N] [--after TEXT] [--until TEXT] [--top N] [--kallsyms FILE] [--json OUT.json]
//          [--from IN.json] [--disk SPEC]... [--net SPEC]...
//   --dist      compiled tshv (default dist)
//   --append    kernel command line (default: the boot bench's)
//   --every     sampling period in instructions (default 4096)
//   --after     start sampling at this console text (default: at the first instruction), e.g. a
//               benchmark's begin marker; --until is then looked for after it
//   --until     stop at this console text (default: the readiness line)
//   --disk, --net  passed on to `tshv run --disk` / `--net` (repeatable)
//   --from      only analyse a profile JSON written before (TSHV_PROFILE=...)
//   --json      keep the raw profile JSON here
//   --stack N   also scan N stack words per sample for callers (approximate inclusive view)
//
// With the wasm tier, the report ends with where chains returned to the run loop (Cpu.chainStops),
// by kind and by place: a measure of the engine that repeats from run to run, where times on a
// shared host do not. Sample with --every 1000000 for it: each sample ends a chain too.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(import.meta.dirname, '..');
const BENCH_APPEND = 'console=ttyS0 quiet tshv.run="cat /proc/uptime"';

function parseArgs(argv) {
  const o = { dist: join(ROOT, 'dist'), append: BENCH_APPEND, cpus: 1, memory: 512, every: 4096, until: undefined, after: undefined, disks: [], nets: [], top: 40, kallsyms: undefined, json: undefined, from: undefined, stack: 0 };
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    const v = () => { const x = argv[++k]; if (x === undefined) throw new Error(`${a} needs a value`); return x; };
    switch (a) {
      case '--dist': o.dist = resolve(v()); break;
      case '--append': o.append = v(); break;
      case '--cpus': o.cpus = Number(v()); break;
      case '--memory': o.memory = Number(v()); break;
      case '--every': o.every = Number(v()); break;
      case '--until': o.until = v(); break;
      case '--after': o.after = v(); break;
      case '--disk': o.disks.push(v()); break;
      case '--net': o.nets.push(v()); break;
      case '--top': o.top = Number(v()); break;
      case '--kallsyms': o.kallsyms = resolve(v()); break;
      case '--json': o.json = resolve(v()); break;
      case '--from': o.from = resolve(v()); break;
      case '--stack': o.stack = Number(v()); break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  return o;
}

/** Runs tshv; resolves when `done(stdoutSoFar)` is true (then kills it) or when it exits. */
function runTshv(opts, guest, append, env, done) {
  const args = [join(opts.dist, 'bin', 'tshv.js'), 'run', '--kernel', guest.kernelPath, '--initrd', guest.initrdPath,
    '--append', append, '--memory', String(opts.memory), '--cpus', String(opts.cpus), '--no-reboot', ...opts.disks.flatMap((d) => ['--disk', d]), ...opts.nets.flatMap((n) => ['--net', n])];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const chunks = [];
  let text = '';
  let stderr = '';
  return new Promise((resolvePromise, reject) => {
    const timer = setInterval(() => { if (done(text)) child.kill('SIGTERM'); }, 200);
    child.stdout.on('data', (b) => { chunks.push(b); text += b.toString('latin1'); });
    child.stderr.on('data', (b) => { stderr += b.toString(); });
    child.on('error', reject);
    child.on('exit', () => { clearInterval(timer); resolvePromise({ stdout: Buffer.concat(chunks).toString('utf8'), stderr }); });
    const stop = () => child.kill('SIGTERM');
    process.once('SIGINT', stop);
  });
}

/** [{addr: bigint, name, module}] sorted by address, text symbols only. */
function parseKallsyms(text) {
  const syms = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-f]{16}) ([tTwW]) (\S+)(?:\s+\[(\S+)\])?$/.exec(line);
    if (m === null) continue;
    const addr = BigInt(`0x${m[1]}`);
    if (addr === 0n) continue;
    syms.push({ addr, name: m[3], module: m[4] });
  }
  syms.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
  return syms;
}

async function loadKallsyms(opts, guest) {
  if (opts.kallsyms !== undefined) return parseKallsyms(readFileSync(opts.kallsyms, 'utf8'));
  const dir = join(process.env.TSHV_HOME ?? join(homedir(), '.local', 'share', 'tshv'), 'profile');
  const cached = join(dir, `kallsyms-${guest.version}.txt`);
  if (!existsSync(cached)) {
    console.error(`guest-profile: no symbols cached for ${guest.version}; booting the guest once to read /proc/kallsyms (a few minutes)...`);
    const { stdout } = await runTshv(opts, guest, 'console=ttyS0 quiet tshv.run="cat /proc/kallsyms"', {}, (t) => t.includes('tshv-guest: exit status'));
    const lines = stdout.split(/\r?\n/).filter((l) => /^[0-9a-f]{16} \S /.test(l));
    if (lines.length < 1000) throw new Error('could not read /proc/kallsyms from the guest');
    mkdirSync(dir, { recursive: true });
    writeFileSync(cached, `${lines.join('\n')}\n`);
  }
  return parseKallsyms(readFileSync(cached, 'utf8'));
}

/** The last symbol at or below kernel address `rip` (a BigInt), or undefined. */
function symbolBelow(syms, rip) {
  let lo = 0; let hi = syms.length - 1; let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (syms[mid].addr <= rip) { best = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return best < 0 ? undefined : syms[best];
}

function symbolize(syms, ripHex) {
  const rip = BigInt(`0x${ripHex}`);
  if (rip < 0x800000000000n) return '[user]';
  const s = symbolBelow(syms, rip);
  if (s === undefined) return `[kernel ${ripHex}]`;
  return s.module !== undefined ? `${s.name} [${s.module}]` : s.name;
}

/** `name+0xoff` for a kernel address, `[user 0x...]` below the kernel's half. */
function symbolizeAt(syms, ripHex) {
  const rip = BigInt(`0x${ripHex}`);
  if (rip < 0x800000000000n) return `[user 0x${ripHex.replace(/^0+(?=.)/, '')}]`;
  const s = symbolBelow(syms, rip);
  if (s === undefined) return `[kernel ${ripHex}]`;
  return `${s.name}+0x${(rip - s.addr).toString(16)}${s.module !== undefined ? ` [${s.module}]` : ''}`;
}

// Functions whose instructions are the guest waiting for time to pass (delays, calibration).
const TIME_WAIT = /^(delay_tsc|delay_loop|delay_halt.*|__const_udelay|__udelay|__ndelay|native_io_delay|calibrate_delay.*|.*calibrate_tsc.*|pit_.*|mach_.*|tsc_read_refs|.*_calibrate_cpu|read_current_timer|get_cycles|acpi_pm_read.*|acpi_os_stall|msleep_busy)$/;

const pct = (n, total) => `${((100 * n) / total).toFixed(1)}%`.padStart(6);
const big = (n) => n.toLocaleString('en-US');

function report(profile, syms, top) {
  const total = Object.values(profile.ripWeights).reduce((a, b) => a + b, 0);
  const byFn = new Map();
  for (const [rip, w] of Object.entries(profile.ripWeights)) {
    const name = symbolize(syms, rip);
    byFn.set(name, (byFn.get(name) ?? 0) + w);
  }
  const fns = [...byFn].sort((a, b) => b[1] - a[1]);
  const from = profile.afterText !== undefined ? `from "${profile.afterText}" ` : '';
  console.log(`${from}until "${profile.untilText}"${profile.reachedUntil ? '' : ' (NOT reached: whole run)'}: ${big(profile.instructions)} instructions, ` +
    `guest time ${(profile.guestTimeNs / 1e9).toFixed(3)} s (of which ${(profile.idleSkippedNs / 1e9).toFixed(3)} s idle, skipped), ` +
    `sampled every ${profile.sampleEveryInsns} instructions (${big(total)} attributed)`);
  console.log(`PAUSE: ${big(profile.pauses)}   HLT (quanta ending idle): ${big(profile.halts)}`);
  console.log('');
  console.log(`top ${top} functions by instructions`);
  console.log('     instructions      %  function');
  for (const [name, w] of fns.slice(0, top)) console.log(`${big(w).padStart(17)} ${pct(w, total)}  ${name}`);
  const waits = fns.filter(([name]) => TIME_WAIT.test(name.split(' ')[0]));
  const waitTotal = waits.reduce((a, [, w]) => a + w, 0);
  if (Object.keys(profile.stackWeights ?? {}).length > 0) {
    // Heuristic: kernel text addresses found on the stack (return addresses, some stale words).
    const incl = new Map();
    for (const [addr, w] of Object.entries(profile.stackWeights)) {
      const name = symbolize(syms, addr);
      incl.set(name, (incl.get(name) ?? 0) + w);
    }
    console.log('');
    console.log(`top ${top} callers (stack scan, approximate: instructions run with the function on the stack)`);
    for (const [name, w] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${big(w).padStart(17)} ${pct(w, total)}  ${name}`);
  }
  console.log('');
  console.log(`waiting for time (delay and calibration functions): ${big(waitTotal)} instructions (${pct(waitTotal, total).trim()})`);
  for (const [name, w] of waits.slice(0, 15)) console.log(`${big(w).padStart(17)} ${pct(w, total)}  ${name}`);
  const table = (title, rec) => {
    console.log('');
    console.log(title);
    const rows = Object.entries(rec).sort((a, b) => b[1] - a[1]).slice(0, 25);
    for (const [k, n] of rows) console.log(`${big(n).padStart(12)}  ${k}`);
  };
  table('port I/O by port (r/w)', profile.pio);
  table('MMIO by 4 KiB page (r/w)', profile.mmio);
  const stops = Object.entries(profile.chainStops ?? {});
  if (stops.length > 0) {
    // Cpu.chainStops: "mid <rip> <map>:<opcode>" (before an instruction the chain could not run),
    // "end <rip>" (after a block whose next one it could not enter), "end <rip> budget", "helper
    // <rip>" (after an instruction a helper ran), "fault <rip> <map>:<opcode>".
    const all = stops.reduce((a, [, n]) => a + n, 0);
    const kinds = new Map();
    for (const [k, n] of stops) {
      const [kind, , what] = k.split(' ');
      const key = kind === 'mid' ? `before an instruction (opcode map:byte ${what})` : kind === 'helper' ? 'after an instruction a helper ran'
        : kind === 'fault' ? 'a fault in a helper' : what === 'budget' ? 'at a block end, quantum used up' : 'at a block end';
      kinds.set(key, (kinds.get(key) ?? 0) + n);
    }
    console.log('');
    console.log(`wasm chain stops (returns to the run loop): ${big(all)}, one per ${big(Math.round(profile.instructions / all))} instructions` +
      `${profile.sampleEveryInsns < 1e6 ? ` (each ${profile.sampleEveryInsns}-instruction sample ends a chain too: use --every 1000000)` : ''}`);
    for (const [k, n] of [...kinds].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`${big(n).padStart(12)} ${pct(n, all)}  ${k}`);
    console.log('');
    console.log('wasm chain stops by place');
    for (const [k, n] of stops.sort((a, b) => b[1] - a[1]).slice(0, top)) {
      const [kind, rip, what] = k.split(' ');
      console.log(`${big(n).padStart(12)} ${pct(n, all)}  ${kind} ${symbolizeAt(syms, rip.padStart(16, '0'))}${what !== undefined ? ` ${what}` : ''}`);
    }
  }
}

const opts = parseArgs(process.argv.slice(2));
let profile;
let guest;
const { ensureDefaultGuest } = await import(pathToFileURL(join(opts.dist, 'guest', 'build.js')).href);
guest = await ensureDefaultGuest({ onProgress: (line) => console.error(`guest-profile: ${line}`) });
if (opts.from !== undefined) {
  profile = JSON.parse(readFileSync(opts.from, 'utf8'));
} else {
  const tmp = mkdtempSync(join(tmpdir(), 'tshv-profile-'));
  try {
    const out = opts.json ?? join(tmp, 'profile.json');
    const env = { TSHV_PROFILE: out, TSHV_PROFILE_EVERY: String(opts.every), TSHV_STATS: '1', TSHV_PROFILE_STACK: String(opts.stack), ...(opts.until !== undefined ? { TSHV_PROFILE_UNTIL: opts.until } : {}),
      ...(opts.after !== undefined ? { TSHV_PROFILE_AFTER: opts.after } : {}) };
    const started = Date.now();
    const { stderr } = await runTshv(opts, guest, opts.append, env, () => existsSync(out));
    console.error(`guest-profile: run took ${((Date.now() - started) / 1000).toFixed(1)} s; ${stderr.trim().split('\n').filter((l) => l.includes('instructions')).join(' ')}`);
    profile = JSON.parse(readFileSync(out, 'utf8'));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
report(profile, await loadKallsyms(opts, guest), opts.top);
