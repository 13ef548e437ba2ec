// A stand-in for a vCPU worker in the exit protocol's tests (kvm-exit-server.test.ts): instead of KVM_RUN
// exits, it makes a scripted series of device accesses through ExitClient, as a guest would.

import { workerData } from 'node:worker_threads';
import { ExitClient } from '../kvm-exit-client.js';
import { BELL_SEQ, KIND_PIO_READ, KIND_PIO_WRITE, STATE_RUNNING, STATE_STOPPED, W } from '../kvm-vcpu-protocol.js';

export interface ExitClientScript {
  shared: SharedArrayBuffer;
  doorbell: SharedArrayBuffer;
  /** This "vCPU"'s port: it writes i there, then (when readEvery > 0) reads it back every readEvery writes. */
  port: number;
  count: number;
  readEvery: number;
  /** Busy time between two accesses, as a guest's work between exits (µs). */
  gapUs: number;
  /** After the accesses: W.KICKS is set to 1, then the "vCPU" idles this long before it stops. */
  idleMs: number;
}

const d = workerData as ExitClientScript;
const sh = new Int32Array(d.shared);
const bell = new Int32Array(d.doorbell);
const client = new ExitClient(sh, bell);
Atomics.store(sh, W.STATE, STATE_RUNNING);
let mismatches = 0;
for (let i = 1; i <= d.count; i++) {
  if (d.gapUs > 0) {
    const until = performance.now() + d.gapUs / 1000;
    while (performance.now() < until) { /* the guest computes */ }
  }
  client.postWrite(KIND_PIO_WRITE, d.port, 4, i);
  // The device answers a read with the last value written to the port: a posted write is
  // applied before a later read of the same vCPU.
  if (d.readEvery > 0 && i % d.readEvery === 0 && client.request(KIND_PIO_READ, d.port, 4, 0) !== i) mismatches++;
}
sh[W.OTHER_EXITS] = mismatches;
Atomics.store(sh, W.KICKS, 1);
if (d.idleMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, d.idleMs);
Atomics.store(sh, W.STATE, STATE_STOPPED);
Atomics.add(bell, BELL_SEQ, 1);
Atomics.notify(bell, BELL_SEQ);
