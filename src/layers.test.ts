// Keeps shared/STYLE.md's layers true: a module imports only modules of its own rank or lower, and
// static imports form no cycle. Reads the TypeScript sources beside the compiled tests.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Folder (under src/, most specific first) → rank, from STYLE.md's table; `cpu` and `guest` are ours. */
const RANKS: readonly (readonly [string, number])[] = [
  ['api/schema', 2],
  ['api/openapi', 2],
  ['api/server', 8],
  ['devices/virtio/queue', 3],
  ['common', 0],
  ['sys', 1],
  ['kvm', 2], ['memory', 2], ['storage', 2], ['network', 2], ['snapshot', 2],
  // The soft CPU sits beside arch/x86: it executes the architecture, it knows no device or engine.
  ['arch', 3], ['cpu', 3], ['migration', 3], ['client', 3],
  // The default guest builder (Debian packages → initramfs) serves the CLI and the VMM's tests.
  ['guest', 3],
  ['devices', 4],
  ['vmm', 5],
  ['cli', 6], ['web', 6], ['cluster', 6],
  ['daemon', 7],
  ['bin', 9],
];

/** Extra rules of STYLE.md beyond ranks. */
const FORBIDDEN: readonly (readonly [string, string, string])[] = [
  ['devices', 'kvm', 'devices never import kvm: the engine boundary'],
  ['cpu', 'kvm', 'the soft CPU knows nothing of KVM'],
];

const here = dirname(fileURLToPath(import.meta.url));
// Compiled to dist/layers.test.js; the sources are in ../src.
const srcRoot = resolve(here, '..', 'src');

function folderOf(relPath: string): string {
  return relPath.split(sep).join('/');
}

function rankOf(relPath: string): number | undefined {
  const p = folderOf(relPath);
  for (const [folder, rank] of RANKS) {
    if (p === `${folder}.ts` || p.startsWith(`${folder}/`)) return rank;
  }
  return undefined;
}

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const isTest = (p: string): boolean => /\.test\.ts$/.test(p) || /(^|\/)testing\//.test(folderOf(p));

/** Static imports (import/export ... from '...'), not `import()`. Type-only imports count for
 *  layers (a type is a dependency too) but not for cycles (they vanish at run time). */
function staticImports(file: string, withTypeOnly = true): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  const re = /^\s*(?:import|export)\s([^;]*?)\sfrom\s+'(\.{1,2}\/[^']+)'/gms;
  for (const m of text.matchAll(re)) {
    const spec = m[2];
    if (spec === undefined) continue;
    if (!withTypeOnly && /^type\s/.test(m[1] ?? '')) continue;
    const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
    if (existsSync(target)) out.push(target);
  }
  return out;
}

const files = existsSync(srcRoot) ? walk(srcRoot, []) : [];

test('every source folder has a rank', { skip: files.length === 0 ? 'sources not found' : false }, () => {
  const unranked = files.map((f) => relative(srcRoot, f)).filter((f) => rankOf(f) === undefined && f !== 'layers.test.ts');
  assert.deepEqual(unranked, [], 'add the folder to RANKS here and to shared/STYLE.md');
});

test('no module imports a higher layer (tests and testing/ helpers excepted)', { skip: files.length === 0 ? 'sources not found' : false }, () => {
  const violations: string[] = [];
  for (const file of files) {
    if (isTest(file)) continue;
    const from = relative(srcRoot, file);
    const fromRank = rankOf(from);
    if (fromRank === undefined) continue;
    for (const target of staticImports(file)) {
      const to = relative(srcRoot, target);
      const toRank = rankOf(to);
      if (toRank !== undefined && toRank > fromRank) violations.push(`${from} (rank ${fromRank}) imports ${to} (rank ${toRank})`);
      for (const [a, b, why] of FORBIDDEN) {
        if (folderOf(from).startsWith(`${a}/`) && folderOf(to).startsWith(`${b}/`)) violations.push(`${from} imports ${to}: ${why}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});

test('static value imports form no cycle', { skip: files.length === 0 ? 'sources not found' : false }, () => {
  const graph = new Map<string, string[]>();
  for (const f of files) graph.set(f, staticImports(f, false));
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[] = [];
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'visiting');
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      const s = state.get(t);
      if (s === 'visiting') {
        const loop = stack.slice(stack.indexOf(t)).concat(t).map((p) => relative(srcRoot, p));
        cycles.push(loop.join(' → '));
      } else if (s === undefined) {
        visit(t);
      }
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});
