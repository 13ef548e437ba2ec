// The native side of the differential tests: compiles tests/cpu-diff/oracle.c with the machine's
// gcc into a temporary directory, feeds it the cases and parses the host CPU's results. The wire
// format is described at the top of oracle.c.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DiffCase } from './diff-case-kit.js';

const ORACLE_MAGIC = 0x46445354; // "TSDF"
const CASE_HEADER_BYTES = 24 + 16 * 8 + 16 * 16;
const RESULT_HEADER_BYTES = 16 + 16 * 8 + 16 * 16;
/** Oracle status bit meaning "ended with a CPU exception" (the vector is in the low byte). */
const STATUS_FAULT = 0x100;

export interface NativeResult {
  /** Set when the instruction raised a CPU exception natively (SIGFPE → #DE, and so on). */
  faultVector?: number;
  gpr: bigint[];
  rflags: number;
  xmm: bigint[];
  mxcsr: number;
  data: Uint8Array;
}

export interface Oracle {
  readonly binaryPath: string;
  run(cases: readonly DiffCase[], dataAddress: number): NativeResult[];
  /**
   * Why the oracle cannot set itself up on this machine (data page not mappable at
   * `dataAddress`, no RWX mapping below 4 GiB), or undefined when it can.
   */
  setupProblem(dataAddress: number): string | undefined;
  dispose(): void;
}

/** Finds tests/cpu-diff/oracle.c from the module location (dist/...) or the working directory. */
export function findOracleSource(): string | undefined {
  const starts = [dirname(fileURLToPath(import.meta.url)), process.cwd()];
  if (process.env['TSHV_ROOT']) starts.unshift(process.env['TSHV_ROOT']);
  for (const start of starts) {
    let dir = resolve(start);
    for (;;) {
      const candidate = join(dir, 'tests', 'cpu-diff', 'oracle.c');
      if (existsSync(candidate)) return candidate;
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return undefined;
}

/** Why the oracle cannot run on this machine, or undefined when it can. */
export function oracleUnavailableReason(): string | undefined {
  if (process.arch !== 'x64') return `the host CPU is ${process.arch}, not x86-64`;
  if (process.platform !== 'linux') return `the oracle needs Linux (mmap at a fixed address, signals), not ${process.platform}`;
  const gcc = spawnSync('gcc', ['--version'], { encoding: 'utf8' });
  if (gcc.error || gcc.status !== 0) return 'gcc is not installed (needed to build tests/cpu-diff/oracle.c)';
  if (!findOracleSource()) return 'tests/cpu-diff/oracle.c not found (set TSHV_ROOT to the repository root)';
  return undefined;
}

export function buildOracle(): Oracle {
  const source = findOracleSource();
  if (!source) throw new Error('Cannot build the CPU oracle: tests/cpu-diff/oracle.c not found');
  const dir = mkdtempSync(join(tmpdir(), 'tshv-cpu-diff-'));
  const binaryPath = join(dir, 'oracle');
  // -no-pie: the 32-bit compatibility-mode stubs address the oracle's state with 32-bit absolute
  // addresses, so the binary must sit below 4 GiB.
  const cc = spawnSync('gcc', ['-O1', '-no-pie', '-o', binaryPath, source], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`Cannot build the CPU oracle from ${source}: ${cc.error?.message ?? cc.stderr}`);
  }
  return {
    binaryPath,
    run: (cases, dataAddress) => runOracle(binaryPath, cases, dataAddress),
    setupProblem: (dataAddress) => {
      // Exit status 3 is the oracle's "cannot set up" (see main() in oracle.c).
      const proc = spawnSync(binaryPath, [], { input: encodeCases([], dataAddress) });
      if (proc.error) return `cannot execute ${binaryPath} (${proc.error.message}; is ${tmpdir()} mounted noexec? set TMPDIR)`;
      return proc.status === 3 ? proc.stderr.toString().trim() : undefined;
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function encodeCases(cases: readonly DiffCase[], dataAddress: number): Buffer {
  let total = 16;
  for (const c of cases) total += CASE_HEADER_BYTES + c.code.length + c.data.length;
  const buf = Buffer.alloc(total);
  buf.writeUInt32LE(ORACLE_MAGIC, 0);
  buf.writeUInt32LE(cases.length, 4);
  buf.writeBigUInt64LE(BigInt(dataAddress), 8);
  let at = 16;
  for (const c of cases) {
    buf.writeUInt32LE(c.code.length, at);
    buf.writeUInt32LE(c.data.length, at + 4);
    buf.writeUInt32LE(c.input.rflags >>> 0, at + 8);
    buf.writeUInt32LE(c.input.mxcsr >>> 0, at + 12);
    buf.writeUInt32LE(c.mode === 'protected32' ? 32 : c.mode === 'real16' ? 16 : 64, at + 16);
    buf.writeUInt32LE(0, at + 20);
    at += 24;
    for (let r = 0; r < 16; r++, at += 8) buf.writeBigUInt64LE(BigInt.asUintN(64, c.input.gpr[r] ?? 0n), at);
    for (let r = 0; r < 16; r++, at += 16) {
      const v = BigInt.asUintN(128, c.input.xmm[r] ?? 0n);
      buf.writeBigUInt64LE(v & 0xffffffffffffffffn, at);
      buf.writeBigUInt64LE(v >> 64n, at + 8);
    }
    buf.set(c.code, at);
    at += c.code.length;
    buf.set(c.data, at);
    at += c.data.length;
  }
  return buf;
}

function runOracle(binaryPath: string, cases: readonly DiffCase[], dataAddress: number): NativeResult[] {
  const input = encodeCases(cases, dataAddress);
  let expectedOut = 0;
  for (const c of cases) expectedOut += RESULT_HEADER_BYTES + c.data.length;
  const proc = spawnSync(binaryPath, [], { input, maxBuffer: expectedOut + (1 << 20) });
  if (proc.error) throw new Error(`CPU oracle failed to run: ${proc.error.message}`);
  if (proc.status !== 0) throw new Error(`CPU oracle exited with status ${proc.status ?? proc.signal}: ${proc.stderr.toString()}`);
  const out = proc.stdout;
  if (out.length !== expectedOut) throw new Error(`CPU oracle wrote ${out.length} bytes, expected ${expectedOut}`);
  const results: NativeResult[] = [];
  let at = 0;
  for (const c of cases) {
    const status = out.readUInt32LE(at);
    const mxcsr = out.readUInt32LE(at + 4);
    const rflags = Number(out.readBigUInt64LE(at + 8) & 0xffffffffn);
    at += 16;
    const gpr: bigint[] = [];
    for (let r = 0; r < 16; r++, at += 8) gpr.push(out.readBigUInt64LE(at));
    const xmm: bigint[] = [];
    for (let r = 0; r < 16; r++, at += 16) xmm.push(out.readBigUInt64LE(at) | (out.readBigUInt64LE(at + 8) << 64n));
    const data = new Uint8Array(out.subarray(at, at + c.data.length));
    at += c.data.length;
    const result: NativeResult = { gpr, rflags, xmm, mxcsr, data };
    if (status & STATUS_FAULT) result.faultVector = status & 0xff;
    results.push(result);
  }
  return results;
}
