// Runs the differential cases on both CPUs and compares: the host CPU through the native oracle
// (diff-oracle.ts), the soft CPU through the RunSnippet contract (snippet.ts). Shared by the test
// (diff.test.ts) and the developer report (scripts/cpu-diff-report.mjs).

import { regName, hexBytes } from './diff-asm.js';
import { DATA_ADDRESS, type DiffCase } from './diff-case-kit.js';
import { generateDiffCases } from './diff-cases.js';
import type { NativeResult, Oracle } from './diff-oracle.js';
import type { RunSnippet, SnippetResult } from './snippet.js';

export type SoftOutcome = { result: SnippetResult & { data?: Uint8Array }; error?: undefined } | { result?: undefined; error: string };

export interface CaseOutcome {
  diffCase: DiffCase;
  native: NativeResult;
  soft: SoftOutcome;
  /** Mismatch descriptions; empty when the soft CPU agrees with the host. */
  diffs: string[];
}

export interface MnemonicSummary {
  mnemonic: string;
  cases: number;
  failures: CaseOutcome[];
}

export interface DiffRun {
  /** Number of cases run. */
  caseCount: number;
  /** Cases that raised an exception natively (to check the generator's sanity). */
  nativeFaults: { mnemonic: string; form: string; vector: number }[];
  /** Per mnemonic, in first-seen order. */
  summaries: MnemonicSummary[];
  /** Why some cases did not run (e.g. no 32-bit compatibility mode on this kernel). */
  skipped?: string;
}

/**
 * Runs `nop` natively in a legacy mode: 32-bit code faults when the kernel lacks IA-32 emulation,
 * 16-bit code also needs modify_ldt(2).
 */
function legacyModeWorks(oracle: Oracle, mode: 'protected32' | 'real16'): boolean {
  const probe: DiffCase = {
    mnemonic: 'probe', form: 'nop', code: Uint8Array.of(0x90), data: new Uint8Array(16), flagsMask: 0, shown: [], mode,
    input: { gpr: new Array<bigint>(16).fill(0n), rflags: 0x202, xmm: new Array<bigint>(16).fill(0n), mxcsr: 0x1f80 },
  };
  return oracle.run([probe], DATA_ADDRESS)[0]?.faultVector === undefined;
}

const FLAG_NAMES: [number, string][] = [[0x1, 'CF'], [0x4, 'PF'], [0x10, 'AF'], [0x40, 'ZF'], [0x80, 'SF'], [0x400, 'DF'], [0x800, 'OF']];

export function flagNames(flags: number): string {
  const names = FLAG_NAMES.filter(([bit]) => flags & bit).map(([, n]) => n);
  return names.length ? names.join(',') : '-';
}

function hex(v: bigint | number): string {
  return '0x' + v.toString(16);
}

/** Loads the soft CPU's runSnippet if the CPU core provides it yet (src/cpu/testing/run-snippet.ts). */
export async function loadRunSnippet(): Promise<RunSnippet | undefined> {
  // A variable specifier keeps tsc from requiring the module at compile time.
  const specifier = './run-snippet.js';
  try {
    const mod = (await import(specifier)) as { runSnippet?: RunSnippet };
    return mod.runSnippet;
  } catch (err: unknown) {
    if (err instanceof Error && 'code' in err && err.code === 'ERR_MODULE_NOT_FOUND' && err.message.includes('run-snippet')) return undefined;
    throw err;
  }
}

export function runSoft(runSnippet: RunSnippet, c: DiffCase): SoftOutcome {
  try {
    const result = runSnippet(c.code, {
      gpr: c.input.gpr.map((v) => BigInt.asUintN(64, v)),
      rflags: c.input.rflags,
      xmm: c.input.xmm.map((v) => BigInt.asUintN(128, v)),
      mxcsr: c.input.mxcsr,
    }, { mode: c.mode ?? 'long64', data: c.data.slice(), dataAddress: DATA_ADDRESS });
    return { result };
  } catch (err: unknown) {
    const message = err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err);
    return { error: message.split('\n')[0] ?? message };
  }
}

export function compareCase(c: DiffCase, native: NativeResult, soft: SoftOutcome): string[] {
  if (soft.error !== undefined) return [`threw ${soft.error}`];
  const r = soft.result;
  if (native.faultVector !== r.faultVector) {
    return [`exception: want ${native.faultVector === undefined ? 'none' : `#${native.faultVector}`} got ${r.faultVector === undefined ? 'none' : `#${r.faultVector}`}`];
  }
  // Same exception (or none): the state must match too; after a fault it is the state at the
  // faulting instruction.
  const diffs: string[] = [];
  // In 32-bit mode only EAX..EDI exist (their upper halves are undefined after a mode switch).
  const modeMask = (i: number): bigint => (c.mode === undefined ? 0xffffffffffffffffn : i < 8 ? 0xffffffffn : 0n);
  for (let i = 0; i < 16; i++) {
    const mask = (c.gprMasks?.get(i) ?? 0xffffffffffffffffn) & modeMask(i);
    const want = native.gpr[i] ?? 0n;
    const got = BigInt.asUintN(64, r.gpr[i] ?? 0n);
    if (((want ^ got) & mask) !== 0n) diffs.push(`${regName(i, 8)}: want ${hex(want)} got ${hex(got)}`);
  }
  const wantFlags = native.rflags & c.flagsMask;
  const gotFlags = r.rflags & c.flagsMask;
  if (wantFlags !== gotFlags) diffs.push(`flags[${flagNames(c.flagsMask)}]: want ${flagNames(wantFlags)} got ${flagNames(gotFlags)}`);
  for (let i = 0; i < 16; i++) {
    const want = native.xmm[i] ?? 0n;
    const got = BigInt.asUintN(128, r.xmm?.[i] ?? 0n);
    if (want !== got) diffs.push(`xmm${i}: want ${hex(want)} got ${hex(got)}`);
  }
  const gotMxcsr = r.mxcsr ?? 0x1f80;
  if ((native.mxcsr & 0xffff) !== (gotMxcsr & 0xffff)) diffs.push(`mxcsr: want ${hex(native.mxcsr)} got ${hex(gotMxcsr)}`);
  const gotData = r.data;
  if (!gotData) diffs.push('data page not returned');
  else {
    let first = -1;
    let last = -1;
    for (let k = 0; k < native.data.length; k++) {
      if ((((native.data[k] ?? 0) ^ (gotData[k] ?? 0)) & (c.dataMasks?.get(k) ?? 0xff)) !== 0) {
        if (first < 0) first = k;
        last = k;
      }
    }
    if (first >= 0) {
      const end = Math.min(last + 1, first + 16);
      diffs.push(`mem[${hex(DATA_ADDRESS + first)}..]: want ${hexBytes(native.data.subarray(first, end))} got ${hexBytes(gotData.subarray(first, end))}`);
    }
  }
  return diffs;
}

/** One line describing a failing case: instruction, bytes, inputs, mismatches. */
export function formatFailure(o: CaseOutcome): string {
  const c = o.diffCase;
  const regs = [...new Set(c.shown)].map((r) => `${regName(r, 8)}=${hex(BigInt.asUintN(64, c.input.gpr[r] ?? 0n))}`);
  const xmms = (c.shownXmm ?? []).map((r) => `xmm${r}=${hex(BigInt.asUintN(128, c.input.xmm[r] ?? 0n))}`);
  const inputs = [...regs, ...xmms, `flags=${flagNames(c.input.rflags)}`].join(' ');
  return `${c.form} [${hexBytes(c.code)}] in{${inputs}} => ${o.diffs.join('; ')}`;
}

/** Runs the cases (all, or those `filter` keeps) natively and on the soft CPU. */
export function runDiff(oracle: Oracle, runSnippet: RunSnippet, filter?: (c: DiffCase) => boolean): DiffRun {
  const all = generateDiffCases();
  let cases = filter ? all.filter(filter) : all;
  const skippedModes: string[] = [];
  for (const [mode, why] of [['protected32', 'no IA-32 emulation'], ['real16', 'no 16-bit LDT segments']] as const) {
    if (cases.some((c) => c.mode === mode) && !legacyModeWorks(oracle, mode)) {
      const before = cases.length;
      cases = cases.filter((c) => c.mode !== mode);
      skippedModes.push(`${before - cases.length} ${mode} cases skipped (${why} on this kernel)`);
    }
  }
  const skipped = skippedModes.length ? skippedModes.join('; ') : undefined;
  const native = oracle.run(cases, DATA_ADDRESS);
  // Only failures are kept, to hold little memory across thousands of cases.
  const nativeFaults: DiffRun['nativeFaults'] = [];
  const byMnemonic = new Map<string, MnemonicSummary>();
  cases.forEach((c, k) => {
    const n = native[k];
    if (!n) throw new Error(`CPU oracle returned no result for case ${k}`);
    const soft = runSoft(runSnippet, c);
    const o: CaseOutcome = { diffCase: c, native: n, soft, diffs: compareCase(c, n, soft) };
    if (n.faultVector !== undefined) nativeFaults.push({ mnemonic: c.mnemonic, form: c.form, vector: n.faultVector });
    let s = byMnemonic.get(c.mnemonic);
    if (!s) {
      s = { mnemonic: c.mnemonic, cases: 0, failures: [] };
      byMnemonic.set(c.mnemonic, s);
    }
    s.cases++;
    if (o.diffs.length) s.failures.push(o);
  });
  return { caseCount: cases.length, nativeFaults, summaries: [...byMnemonic.values()], ...(skipped ? { skipped } : {}) };
}

/** A per-mnemonic pass/fail table for developers. */
export function formatTable(summaries: readonly MnemonicSummary[], examplesPerMnemonic = 1): string {
  const width = Math.max(8, ...summaries.map((s) => s.mnemonic.length));
  const lines = [`${'mnemonic'.padEnd(width)}  cases   pass   fail`];
  let cases = 0;
  let failed = 0;
  for (const s of summaries) {
    cases += s.cases;
    failed += s.failures.length;
    lines.push(`${s.mnemonic.padEnd(width)}  ${String(s.cases).padStart(5)}  ${String(s.cases - s.failures.length).padStart(5)}  ${String(s.failures.length).padStart(5)}${s.failures.length ? '  FAIL' : ''}`);
    for (const f of s.failures.slice(0, examplesPerMnemonic)) lines.push(`    ${formatFailure(f)}`);
  }
  const failing = summaries.filter((s) => s.failures.length).length;
  lines.push(`total: ${cases} cases, ${cases - failed} pass, ${failed} fail; ${summaries.length} mnemonics, ${failing} failing`);
  return lines.join('\n');
}
