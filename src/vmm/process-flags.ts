// Node flags for a VMM process (one per VM): set by whoever starts it (the `tshv` launcher, the
// daemon's supervisor, the test and benchmark harnesses), since Node reads them only at start.

import { availableParallelism } from 'node:os';

/**
 * V8's worker threads (--v8-pool-size, Node's default 4): the soft CPU's wasm tier-up (TurboFan)
 * and the GC's helpers run there, beside the vCPU on the main thread. Four of them on a 2-core
 * host took the main thread's core in turns: one left it free (a boot 6.12-6.35 s -> 5.62-5.74 s
 * wall, sequential reads' passes after the cold one ~10 % faster; bench/README, stop 24). So one
 * core is left to the vCPU: the host's cores less one, at least 1, at most Node's 4.
 */
export function v8PoolSize(cpus: number = availableParallelism()): number {
  return Math.min(4, Math.max(1, cpus - 1));
}

/** The Node flags a VMM process starts with (before the entry script). */
export function vmmNodeFlags(cpus?: number): string[] {
  return [`--v8-pool-size=${v8PoolSize(cpus)}`];
}
