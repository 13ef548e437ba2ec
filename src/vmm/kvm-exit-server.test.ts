// The exit protocol without KVM: worker threads stand in for vCPUs (testing/exit-client-worker.ts)
// and make device accesses through ExitClient; an ExitServer answers them on this thread.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { AccessSize } from '../devices/bus.js';
import { hostCpuCount, hostRunnableTasks, threadSchedstat } from '../sys/sched.js';
import { EPOCH_READS, ExitServer, PROBE_EVERY_MIN, PollTuner } from './kvm-exit-server.js';
import { BELL_WORDS, PROTOCOL_WORDS, RING_ENTRIES, W } from './kvm-vcpu-protocol.js';
import type { ExitClientScript } from './testing/exit-client-worker.js';

/** Ports that remember every value written, in order; a read returns the last one. */
class RecordingPorts {
  readonly written = new Map<number, number[]>();
  pioRead(port: number): number {
    const w = this.written.get(port);
    return w?.[w.length - 1] ?? 0;
  }
  pioWrite(port: number, _size: AccessSize, value: number): void {
    const w = this.written.get(port);
    if (w === undefined) this.written.set(port, [value]);
    else w.push(value);
  }
  mmioRead(): number { return 0xffffffff; }
  mmioWrite(): void { /* unassigned */ }
}

interface Run {
  server: ExitServer;
  ports: RecordingPorts;
  vcpus: Int32Array[];
  workers: Worker[];
}

function start(scripts: Omit<ExitClientScript, 'shared' | 'doorbell' | 'port'>[], polling: 'auto' | 'on' | 'off' = 'auto'): Run {
  const doorbell = new Int32Array(new SharedArrayBuffer(BELL_WORDS * 4));
  const vcpus = scripts.map(() => new Int32Array(new SharedArrayBuffer(PROTOCOL_WORDS * 4)));
  const ports = new RecordingPorts();
  const errors: unknown[] = [];
  const server = new ExitServer({ doorbell, vcpus, devices: ports, onDeviceError: (e) => errors.push(e), onServed: () => undefined, polling });
  const workers = scripts.map((s, i) => new Worker(new URL('./testing/exit-client-worker.js', import.meta.url), {
    workerData: { ...s, shared: vcpus[i]!.buffer, doorbell: doorbell.buffer, port: 0x100 + i } satisfies ExitClientScript,
  }));
  return { server, ports, vcpus, workers };
}

async function finish(r: Run): Promise<void> {
  await Promise.all(r.workers.map((w) => w.terminate()));
}

function assertInOrder(r: Run, count: number): void {
  r.vcpus.forEach((sh, i) => {
    const got = r.ports.written.get(0x100 + i) ?? [];
    assert.equal(got.length, count, `vCPU ${i}: every write applied once`);
    assert.ok(got.every((v, k) => v === k + 1), `vCPU ${i}: writes applied in the order they were made`);
    assert.equal(sh[W.OTHER_EXITS], 0, `vCPU ${i}: every read saw the vCPU's earlier writes`);
  });
}

test('three vCPUs post writes at once: none lost, none reordered, reads never overtake writes', async () => {
  const count = 20_000;
  const r = start([0, 1, 2].map((i) => ({ count, readEvery: 5 + i, gapUs: 0, idleMs: 0 })));
  try {
    await r.server.serve();
    assertInOrder(r, count);
    assert.equal(r.server.metrics.reads, r.vcpus.reduce((n, _sh, i) => n + Math.floor(count / (5 + i)), 0));
  } finally {
    await finish(r);
  }
});

test('a full ring: the vCPUs fall back to the round trip and wait until the server runs', async () => {
  const count = 3 * RING_ENTRIES;
  const r = start([{ count, readEvery: 0, gapUs: 0, idleMs: 0 }, { count, readEvery: 0, gapUs: 0, idleMs: 0 }]);
  try {
    // Nobody serves for a while: the ring fills, then each vCPU blocks on a synchronous write.
    await sleep(200);
    await r.server.serve();
    assertInOrder(r, count);
    assert.ok(r.server.metrics.reads >= 1, 'the fallback went through the round trip');
  } finally {
    await finish(r);
  }
});

for (const polling of ['auto', 'on'] as const) {
  test(`an idle vCPU after a burst of reads (polling ${polling}): the server stops polling and sleeps`, async (t) => {
    const idleMs = 400;
    const r = start([{ count: 5000, readEvery: 1, gapUs: 5, idleMs }], polling);
    try {
      const serving = r.server.serve();
      const sh = r.vcpus[0]!;
      while (Atomics.load(sh, W.KICKS) === 0) await sleep(5);
      // From here the "guest" does nothing: measure this thread's CPU time over most of the idle time.
      await sleep(20);
      const before = threadSchedstat() ?? { cpuNs: 0, runDelayNs: 0 };
      const cpu0 = process.cpuUsage();
      await sleep(idleMs / 2);
      const after = threadSchedstat() ?? { cpuNs: 0, runDelayNs: 0 };
      const cpu = process.cpuUsage(cpu0);
      await serving;
      // CPU time, not elapsed time: a spinning thread would use about idleMs / 2 of it.
      const usedMs = threadSchedstat() === undefined ? (cpu.user + cpu.system) / 1000 : (after.cpuNs - before.cpuNs) / 1e6;
      t.diagnostic(`${usedMs.toFixed(1)} ms of CPU in ${idleMs / 2} ms of idleness${r.server.describe(sh[W.READS_POLLED]!, sh[W.READS_SLEPT]!)}`);
      assert.ok(usedMs < idleMs / 20, `the server used ${usedMs.toFixed(1)} ms of CPU in ${idleMs / 2} ms of idleness`);
      assert.equal(sh[W.OTHER_EXITS], 0);
    } finally {
      await finish(r);
    }
  });
}

test('host scheduler figures: runnable tasks (this thread among them), CPUs, this thread\'s CPU time', () => {
  const runnable = hostRunnableTasks();
  if (runnable !== undefined) assert.ok(runnable >= 1);
  assert.ok(hostCpuCount() >= 1);
  const s = threadSchedstat();
  if (s !== undefined) {
    assert.ok(s.cpuNs > 0);
    assert.ok(s.runDelayNs >= 0);
  }
});

/** Feeds the tuner one epoch of reads, `msPerRead` apart in the way it is in; returns the flips. */
function epoch(t: PollTuner, clock: { ms: number }, msPerRead: (polling: boolean) => number): number {
  let flips = 0;
  for (let i = 0; i < EPOCH_READS - 1; i++) {
    const gap = msPerRead(t.polling);
    clock.ms += gap;
    if (t.onRead(clock.ms, gap)) flips++;
  }
  return flips;
}

test('poll tuner: keeps polling when a probe shows it faster, goes back when slower', () => {
  const clock = { ms: 0 };
  const fast = new PollTuner();
  fast.onRead(0, Infinity);
  // Epoch 1 measures sleeping and starts a probe; epoch 2 polls, faster: polling stays for the
  // next PROBE_EVERY_MIN - 1 epochs (then it probes sleeping again).
  for (let i = 0; i < PROBE_EVERY_MIN + 1; i++) epoch(fast, clock, (polling) => (polling ? 0.002 : 0.02));
  assert.equal(fast.polling, true, 'polling was 10x faster: it stays');
  assert.equal(fast.switches, 1);

  const slow = new PollTuner();
  slow.onRead(clock.ms, Infinity);
  let flips = 0;
  for (let i = 0; i < 40; i++) flips += epoch(slow, clock, (polling) => (polling ? 0.05 : 0.02));
  assert.equal(slow.polling, false, 'polling was slower: sleeping stays');
  assert.equal(slow.switches, 0);
  // Probes after epoch 1, then 8 and 16 epochs after each lost one (the interval doubles): 3 in 40.
  assert.equal(slow.probes, 3);
  assert.equal(flips, 2 * slow.probes);
});

test('poll tuner: an idle gap restarts the epoch instead of counting as a slow read', () => {
  const t = new PollTuner();
  const clock = { ms: 0 };
  t.onRead(0, Infinity);
  epoch(t, clock, () => 0.02);
  assert.equal(t.polling, true, 'a probe of polling has begun');
  clock.ms += 500;
  t.onRead(clock.ms, 500); // the guest idled in the middle of the probe
  epoch(t, clock, (polling) => (polling ? 0.002 : 0.02));
  assert.equal(t.polling, true, 'the probe judged only the burst');
});
