// Shared pieces of the benchmarks: build, the QEMU peer, the default guest, a VM process whose
// console we watch (with the host time at which each pattern appeared), and statistics.
// Plain node, no build of its own: it imports the project's compiled output (dist/ by default).

import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export const ROOT = new URL('..', import.meta.url).pathname;
export const QEMU = '/usr/bin/qemu-system-x86_64';
export const READY_LINE = 'tshv-guest: ready';

/** Common options: --runs N, --memory MIB, --dist DIR (compiled output), --no-build, --flavour. */
export function parseBenchArgs(name, defaults) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: String(defaults.runs) },
      memory: { type: 'string', default: '512' },
      dist: { type: 'string', default: join(ROOT, 'dist') },
      'no-build': { type: 'boolean', default: false },
      'timeout-s': { type: 'string', default: '900' },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(`usage: node bench/${name}.mjs [--runs N] [--memory MIB] [--dist DIR] [--no-build] [--only tshv|qemu] [--timeout-s S]
  --runs N      runs per engine, interleaved tshv, qemu, tshv, qemu... (default ${defaults.runs})
  --memory MIB  guest RAM for both engines (default 512)
  --dist DIR    the project's compiled output to run tshv from (default dist/)
  --no-build    do not run the project build first (implied by --dist)
  --only E      run one engine only (no ratio)
  --timeout-s S give up on one run after S seconds (default 900)`);
    process.exit(0);
  }
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, not "${values.runs}"`);
  const memMib = Number(values.memory);
  if (!Number.isInteger(memMib) || memMib < 64) throw new Error(`--memory must be an integer >= 64, not "${values.memory}"`);
  const only = values.only;
  if (only !== undefined && only !== 'tshv' && only !== 'qemu') throw new Error(`--only must be tshv or qemu, not "${only}"`);
  const distGiven = process.argv.some((a) => a === '--dist' || a.startsWith('--dist='));
  return {
    runs, memMib, only,
    dist: resolve(values.dist),
    build: !values['no-build'] && !distGiven,
    timeoutMs: Number(values['timeout-s']) * 1000,
  };
}

/** The project build (tsc into dist/). Type errors elsewhere still emit JS: warn and go on. */
export function buildProject() {
  console.error('bench: building the project (tsc)...');
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) {
    if (!existsSync(join(ROOT, 'dist', 'bin', 'tshv.js'))) throw new Error('the project build failed');
    console.error('bench: warning: tsc reported errors; running the JavaScript it emitted anyway');
  }
}

/** Installs Debian's qemu-system-x86 when QEMU is missing (as root; otherwise says how). */
export function ensureQemu() {
  if (existsSync(QEMU)) return;
  if (process.getuid?.() !== 0) throw new Error(`${QEMU} is missing: run "apt-get install -y qemu-system-x86" as root`);
  console.error('bench: installing qemu-system-x86...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const r = spawnSync('apt-get', ['install', '-y', '-qq', 'qemu-system-x86'], { stdio: 'inherit', env });
  if (r.status !== 0 || !existsSync(QEMU)) throw new Error('could not install qemu-system-x86');
}

/** The default guest (kernel, initrd), built by the project's guest builder if needed. */
export async function defaultGuest(dist) {
  const { ensureDefaultGuest } = await import(pathToFileURL(join(dist, 'guest', 'build.js')).href);
  return await ensureDefaultGuest({ onProgress: (line) => console.error(`bench: ${line}`) });
}

/**
 * argv for one engine: same kernel, initrd, command line, memory and one CPU. `extraArgs` adds
 * devices per engine ({ tshv: ['--disk', ...], qemu: ['-drive', ...] }); `launcher` runs the
 * command through another (e.g. ['ip', 'netns', 'exec', NS]), which must exec it.
 */
export function vmCommand(engine, { dist, kernelPath, initrdPath, append: baseAppend, memMib, extraArgs, launcher }) {
  const extra = extraArgs?.[engine] ?? [];
  // TSHV_BENCH_APPEND: more kernel parameters for both engines (experiments, e.g. "spectre_v2=off"),
  // before the benchmark's own (its tshv.run="..." stays last).
  const more = process.env.TSHV_BENCH_APPEND ?? '';
  const append = more === '' ? baseAppend : `${more} ${baseAppend}`;
  let argv;
  if (engine === 'tshv') {
    // TSHV_BENCH_NODE_ARGS: node flags for the tshv process, e.g. "--cpu-prof --cpu-prof-dir=DIR".
    const nodeArgs = (process.env.TSHV_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
    // As the launcher and the daemon start a VMM (src/vmm/process-flags.ts): V8's worker threads
    // leave one core to the vCPU.
    if (!nodeArgs.some((a) => a.startsWith('--v8-pool-size'))) nodeArgs.unshift(`--v8-pool-size=${Math.min(4, Math.max(1, availableParallelism() - 1))}`);
    argv = [process.execPath, [...nodeArgs, join(dist, 'bin', 'tshv.js'), 'run', '--kernel', kernelPath, '--initrd', initrdPath,
      '--append', append, '--memory', String(memMib), '--cpus', '1', '--no-reboot', ...extra]];
  } else {
    // shared/reference/qemu-peer.md
    argv = [QEMU, ['-accel', 'tcg', '-cpu', 'qemu64', '-M', 'pc', '-m', String(memMib), '-smp', '1',
      '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot',
      '-kernel', kernelPath, '-initrd', initrdPath, '-append', append, ...extra]];
  }
  if (launcher === undefined || launcher.length === 0) return argv;
  return [launcher[0], [...launcher.slice(1), argv[0], ...argv[1]]];
}

/**
 * A VM process with its console on a pipe. `waitFor(re)` resolves with the match, the host time
 * (ms since spawn, performance.now()-based) of the chunk in which it completed, and the CPU time
 * the process had used by then (cpuS, seconds).
 */
export class VmProcess {
  constructor(engine, options) {
    const [cmd, args] = vmCommand(engine, options);
    this.engine = engine;
    this.output = '';
    this.exit = undefined;
    this.watchers = [];
    this.t0 = performance.now();
    /** Where each chunk of output ended (its length then) and when it came (atMsOf). */
    this.chunkEnds = [];
    this.chunkMs = [];
    this.child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const onData = (chunk) => {
      this.output += chunk.toString('latin1');
      this.chunkEnds.push(this.output.length);
      this.chunkMs.push(performance.now() - this.t0);
      this.check();
    };
    this.child.stdout.on('data', onData);
    this.child.stderr.on('data', onData);
    this.child.stdin.on('error', () => {});
    this.exited = new Promise((res) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal, atMs: performance.now() - this.t0 };
        this.check();
        res(this.exit);
      });
    });
  }

  waitFor(re, timeoutMs) {
    return new Promise((res, rej) => {
      const w = { re, res, rej };
      w.timer = setTimeout(() => {
        this.watchers = this.watchers.filter((x) => x !== w);
        rej(new Error(`${this.engine}: timed out after ${timeoutMs} ms waiting for ${re}; console tail:\n${this.output.slice(-1500)}`));
      }, timeoutMs);
      this.watchers.push(w);
      this.check();
    });
  }

  check() {
    const now = performance.now() - this.t0;
    for (const w of [...this.watchers]) {
      const m = w.re.exec(this.output);
      if (m) {
        clearTimeout(w.timer);
        this.watchers = this.watchers.filter((x) => x !== w);
        w.res({ match: m, atMs: now, cpuS: this.cpuSeconds() });
      } else if (this.exit) {
        clearTimeout(w.timer);
        this.watchers = this.watchers.filter((x) => x !== w);
        w.rej(new Error(`${this.engine} exited (${JSON.stringify(this.exit)}) before ${w.re}; console tail:\n${this.output.slice(-1500)}`));
      }
    }
  }

  /** Host time (ms since spawn) of the chunk that brought the output's character at `index`. */
  atMsOf(index) {
    let lo = 0, hi = this.chunkEnds.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.chunkEnds[mid] > index) hi = mid; else lo = mid + 1;
    }
    return this.chunkMs[lo] ?? NaN;
  }

  /**
   * The mean host time, in seconds, from each line starting with `startLine` to the next line
   * starting with `endLine`, among the lines of output[from, to), as their chunks came: a guest
   * program's own loop, timed without its start and exit. NaN when there is no such pair.
   */
  meanSpanS(startLine, endLine, from, to) {
    return mean(this.spansS(startLine, endLine, from, to));
  }

  /** Each span (s) from a line starting with `startLine` to the next starting with `endLine`, in output[from, to). */
  spansS(startLine, endLine, from, to) {
    const spans = [];
    let startAt = -1;
    for (let at = from; at < to;) {
      const nl = this.output.indexOf('\n', at);
      if (nl < 0 || nl >= to) break;
      const text = this.output.slice(at, nl);
      if (text.startsWith(startLine)) startAt = nl;
      else if (startAt >= 0 && text.startsWith(endLine)) { spans.push((this.atMsOf(nl) - this.atMsOf(startAt)) / 1000); startAt = -1; }
      at = nl + 1;
    }
    return spans;
  }

  async waitExit(timeoutMs) {
    let timer;
    const t = new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${this.engine}: still running after ${timeoutMs} ms`)), timeoutMs); });
    try {
      return await Promise.race([this.exited, t]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * CPU time (user + system, all threads) the process has used so far, in seconds, from
   * /proc/PID/stat (proc(5): utime and stime, fields 14 and 15, in clock ticks of 1/100 s on
   * Linux x86-64). Less sensitive to the machine's load than wall time. NaN when unavailable.
   */
  cpuSeconds() {
    try {
      const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields[0] is field 3 (state): utime is field 14, stime field 15.
      return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return NaN;
    }
  }

  kill() {
    if (!this.exit) this.child.kill('SIGKILL');
  }
}

/**
 * A scratch directory for a benchmark's files (removed at exit), on the host's disk (`$TMPDIR`,
 * else /var/tmp), not a tmpfs, and a guest program compiled statically from `source` (a URL) into
 * it, with the disk image that carries it into the guest (`prog.img`: the binary padded to whole
 * 4 KiB, as a disk is whole sectors). The guest copies `binBytes.length` bytes of that disk.
 */
export function guestProgram(tag, source, name) {
  const dir = mkdtempSync(join(process.env.TMPDIR ?? '/var/tmp', `tshv-bench-${tag}-`));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
  const binPath = join(dir, name);
  const cc = spawnSync('gcc', ['-static', '-O2', '-o', binPath, source.pathname], { stdio: 'inherit' });
  if (cc.status !== 0) throw new Error('gcc -static failed (needs gcc and the static glibc, libc6-dev)');
  const binBytes = readFileSync(binPath);
  const progImg = join(dir, 'prog.img');
  const fd = openSync(progImg, 'w');
  writeSync(fd, binBytes);
  ftruncateSync(fd, Math.ceil(binBytes.length / 4096) * 4096);
  closeSync(fd);
  return { dir, binPath, binBytes, progImg };
}

/** The mean of `xs`; NaN when there are none. */
export function mean(xs) {
  return xs.length > 0 ? xs.reduce((a, x) => a + x, 0) / xs.length : NaN;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 === 1 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

export function fmtS(ms) {
  return Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '-';
}

/**
 * Runs `measure(vm, engine)` once per scheduled run (engines interleaved, see schedule()), each on
 * a fresh VM made with `vmOptions(engine)`. A failed run is printed and counted; the VM is always
 * killed, also when the bench itself dies. Resolves with { results: { tshv: [...], qemu: [...] },
 * failures }, each result being what `measure` returned. `before(engine)`, if given, runs before
 * each VM starts (to put the host in the same state for every run).
 */
export async function runInterleaved(opts, vmOptions, measure, before) {
  const results = { tshv: [], qemu: [] };
  let failures = 0;
  let current;
  const killCurrent = () => current?.kill();
  process.on('exit', killCurrent);
  for (const engine of schedule(opts.runs, opts.only)) {
    before?.(engine);
    const vm = current = new VmProcess(engine, vmOptions(engine));
    try {
      results[engine].push(await measure(vm, engine));
    } catch (e) {
      failures++;
      console.log(`${engine.padEnd(4)} run failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      vm.kill();
      await vm.exited;
    }
  }
  process.off('exit', killCurrent);
  return { results, failures };
}

/** The engines to run, in interleaved order for `runs` rounds. */
export function schedule(runs, only) {
  const engines = only ? [only] : ['tshv', 'qemu'];
  const out = [];
  for (let i = 0; i < runs; i++) for (const e of engines) out.push(e);
  return out;
}

/** One line of machine context for the record (load matters: compare ratios, not times). */
export function hostContext() {
  const os = process.platform === 'linux' ? spawnSync('sh', ['-c', 'nproc; cat /proc/loadavg; grep -m1 "model name" /proc/cpuinfo'], { encoding: 'utf8' }).stdout.trim().split('\n') : [];
  return `${new Date().toISOString()} host: ${os[0] ?? '?'} CPUs, loadavg ${os[1]?.split(' ').slice(0, 3).join(' ') ?? '?'}, ${os[2]?.replace(/^model name\s*:\s*/, '') ?? ''}`;
}
