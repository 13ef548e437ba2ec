#!/usr/bin/env node
// Per-mnemonic pass/fail table of the differential CPU tests (soft CPU vs the host CPU), for
// developers. Needs a build (npm run build) and gcc.
//
//   node scripts/cpu-diff-report.mjs [--dist DIR] [--filter REGEX] [--examples N] [--failing] [--known]
//
//   --dist DIR      compiled output to load (default: ./dist)
//   --filter REGEX  only mnemonics matching REGEX (e.g. '^(adc|sbb)$', 'cvt')
//   --examples N    failing cases printed per mnemonic (default 3; 0 for the bare table)
//   --failing       list only mnemonics with failures
//   --known         also print a KNOWN_FAILING set literal for src/cpu/testing/diff.test.ts

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const k = args.indexOf(name);
  return k >= 0 && k + 1 < args.length ? args[k + 1] : fallback;
};
const dist = resolve(opt('--dist', 'dist'));
const filter = opt('--filter', undefined);
const examples = Number(opt('--examples', '3'));
const failingOnly = args.includes('--failing');
const printKnown = args.includes('--known');

const load = (rel) => import(pathToFileURL(resolve(dist, rel)).href);
const runner = await load('cpu/testing/diff-runner.js');
const oracleMod = await load('cpu/testing/diff-oracle.js');

const why = oracleMod.oracleUnavailableReason();
if (why) {
  console.error(`cpu-diff-report: cannot run the native oracle: ${why}`);
  process.exit(2);
}
const runSnippet = await runner.loadRunSnippet();
if (!runSnippet) {
  console.error(`cpu-diff-report: ${dist}/cpu/testing/run-snippet.js not found (build the soft CPU first)`);
  process.exit(2);
}

const re = filter ? new RegExp(filter) : undefined;
const oracle = oracleMod.buildOracle();
const problem = oracle.setupProblem(0x10000);
if (problem) {
  oracle.dispose();
  console.error(`cpu-diff-report: the native oracle cannot run here: ${problem}`);
  process.exit(2);
}
const started = Date.now();
let run;
try {
  run = runner.runDiff(oracle, runSnippet, re ? (c) => re.test(c.mnemonic) : undefined);
} finally {
  oracle.dispose();
}
const summaries = failingOnly ? run.summaries.filter((s) => s.failures.length) : run.summaries;
console.log(runner.formatTable(summaries, examples));
console.log(`(${run.caseCount} cases in ${Date.now() - started} ms)`);
if (printKnown) {
  const failing = run.summaries.filter((s) => s.failures.length).map((s) => `'${s.mnemonic}'`);
  const body = failing.length ? `\n  ${failing.join(', ')},\n` : '';
  console.log(`\nexport const KNOWN_FAILING: ReadonlySet<string> = new Set<string>([${body}]);`);
}
