#!/usr/bin/env node
// How steady this host's CPU is: two fixed loops, each run for 10 ms windows (one window every
// 50 ms, so they take ~20 % of one core and can run beside a benchmark), and the spread of their
// speed. On the shared machine of stop 27, idle, the register-only loop stayed within a few percent
// (median 97 % of its fastest window) while the loop of scattered loads and stores swung (p10 52 %,
// median 77 %), in stretches of seconds; so did the soft CPU's guest instructions per second
// while receiving (~210 M and ~150 M in one run's fast and slow transfers, same code, same work).
// A benchmark's phases and runs land in fast or slow stretches: A/B figures need many alternate
// runs. Run this before (or beside) a benchmark to see how far its figures can be trusted.
//
// usage: node bench/host-speed.mjs [--seconds S] [--trace]   (--trace: one line per window)

import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, trace: { type: 'boolean', default: false } } });
const seconds = Number(values.seconds);
if (!(seconds > 0)) throw new Error(`--seconds must be a positive number, not "${values.seconds}"`);

const WINDOW_MS = 10;
const EVERY_MS = 100;

/** 1 MiB of 32-bit words: the memory loop's reads and writes stay in the CPU's caches, as most of an emulator's do. */
const words = new Int32Array(1 << 18);

/**
 * Iterations (1,000 steps each) within one window of a fixed loop: `alu` a multiply-add chain in
 * registers; `memory` read-modify-writes of scattered words (emulated code is mostly loads and
 * stores: the two loops swing differently on a shared host).
 */
function window(kind) {
  const end = performance.now() + WINDOW_MS;
  let x = 1;
  let n = 0;
  while (performance.now() < end) {
    if (kind === 'alu') {
      for (let i = 0; i < 1000; i++) x = (Math.imul(x, 1664525) + 1013904223) | 0;
    } else {
      for (let i = 0; i < 1000; i++) {
        x = (Math.imul(x, 1664525) + 1013904223) | 0;
        const k = x >>> 14;
        words[k] = (words[k] + i) | 0;
      }
    }
    n++;
  }
  if (x === 0.5) console.log(x); // keeps the loop's result alive
  return n;
}

const rates = { alu: [], memory: [] };
const start = performance.now();
while (performance.now() - start < seconds * 1000) {
  for (const kind of ['alu', 'memory']) {
    const n = window(kind);
    rates[kind].push(n);
    if (values.trace) console.log(`${((performance.now() - start) / 1000).toFixed(2)} s  ${kind} ${n}`);
    await new Promise((r) => setTimeout(r, EVERY_MS / 2 - WINDOW_MS));
  }
}
for (const kind of ['alu', 'memory']) {
  const sorted = [...rates[kind]].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const top = sorted[sorted.length - 1];
  const pct = (v) => `${Math.round((100 * v) / top)} %`;
  console.log(`${kind.padEnd(6)} loop, ${sorted.length} windows of ${WINDOW_MS} ms, speed relative to its fastest window: ` +
    `min ${pct(sorted[0])}, p10 ${pct(at(0.1))}, median ${pct(at(0.5))}, p90 ${pct(at(0.9))}`);
}
