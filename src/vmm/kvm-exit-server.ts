// The main thread's side of kvm-vcpu-protocol.ts: applies the vCPUs' posted writes in order and
// answers their reads against the device buses, until every vCPU has stopped. It knows nothing of
// KVM: the engine hands it the shared words and the buses.
//
// How it waits, cheapest first for the vCPU:
//   polling   (when it pays, see below) after a read, it spins on the doorbell for a while (the
//             poll window): the next read of a burst is then answered within microseconds and
//             neither side makes a system call. The window adapts as KVM's halt polling does
//             (Documentation/virt/kvm/halt-polling.rst): it grows when a read comes soon after a
//             sleep began (a longer poll would have caught it) and shrinks when reads come later
//             than POLL_MAX_MS or not at all, so rare reads and an idle guest cost no spinning.
//   short     during a burst of exits it sleeps BURST_WAIT_MS at a time; reads wake it, posted
//   sleeps    writes accumulate (or wake it when the ring is half full).
//   idle      with nothing to do it awaits the doorbell through the event loop (Atomics.waitAsync).
// Every BURST_MS of serving, the event loop gets a turn (timers, console input, control).
//
// Polling pays only while both threads have a CPU each. When the host's CPUs are contended, a
// spinning thread takes the CPU its partner needs, and a thread preempted mid-exchange leaves the
// other spinning for nothing (measured on a loaded 2-CPU host: spin-spin ping-pong has a median of
// 0.4 µs but a mean of 60-650 µs from multi-millisecond stalls, futex-futex a mean of 11 µs). So
// the server samples how many tasks are runnable on the host (/proc/loadavg) and polls only while
// that leaves a CPU for each of its threads. (Its own run delay is no good measure here: in a VM,
// waking a thread on an idle vCPU counts as run delay too, so sleeping would look contended.)
// Even uncontended, polling can lose: on a nested kvm_pvm host a thread spinning on the other CPU
// makes each of the vCPU thread's exits ~60% slower (14-18 → 24-28 µs, measured; hyperthread
// siblings would behave alike). So within an uncontended host, a tuner measures: during read bursts it
// times epochs of EPOCH_READS reads, and now and then runs one epoch the other way (polling or
// not) and keeps that way if it was faster by PROBE_GAIN. A probe that loses costs an epoch in
// the slow way, so the epochs between probes double after each lost probe (PROBE_EVERY_MIN up to
// PROBE_EVERY_MAX).

import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { AccessSize } from '../devices/bus.js';
import { hostCpuCount, hostRunnableTasks } from '../sys/sched.js';
import {
  BELL_POLL, BELL_SEQ, BELL_WAITING, KIND_MMIO_READ, KIND_MMIO_WRITE, KIND_PIO_READ, KIND_PIO_WRITE, MAIN_BUSY, MAIN_POLLING, MAIN_SLEEPS,
  MAIN_SLEEPS_FOR_REQUESTS, REQ_DONE, REQ_PENDING, RING_BASE, RING_ENTRIES, RING_ENTRY_WORDS, RING_HEAD, RING_TAIL, STATE_STOPPED, W,
} from './kvm-vcpu-protocol.js';

/** How long the main thread serves a burst of exits before the event loop gets its turn. */
export const BURST_MS = 2;
/** One short sleep during a burst (posted writes do not end it; reads do). */
export const BURST_WAIT_MS = 1;
/** The poll window: it starts at POLL_START_MS, doubles up to POLL_MAX_MS, halves on a miss. */
export const POLL_START_MS = 0.05;
export const POLL_MAX_MS = 0.2;
/** Poll period while a posted write is reserved but not yet published (its vCPU was preempted). */
const UNPUBLISHED_WAIT_MS = 0.01;
const POLL_CLOCK_MASK = 15;
/**
 * How often the host's runnable tasks are counted, how much each sample weighs in the average, and
 * the average excess of runnable tasks over CPUs that stops polling, and that lets it start again.
 */
export const CONTENTION_SAMPLE_MS = 50;
const CONTENTION_SAMPLE_WEIGHT = 0.25;
export const CONTENTION_STOP_POLLING = 0.5;
export const CONTENTION_RESUME_POLLING = 0.25;
export const EPOCH_READS = 256;
export const PROBE_EVERY_MIN = 4;
export const PROBE_EVERY_MAX = 256;
export const PROBE_GAIN = 0.9;

/** Chooses between polling and sleeping by timing read bursts both ways (see above). */
export class PollTuner {
  /** Whether polling is the way chosen, or the way being tried in a probe. */
  polling = false;
  private probing = false;
  private epochStartMs = 0;
  private epochReads = 0;
  private probeEvery = PROBE_EVERY_MIN;
  private epochsSinceProbe = PROBE_EVERY_MIN - 1; // the first epoch after the first one is a probe
  private baselineMsPerRead = Infinity;
  probes = 0;
  switches = 0;

  /** A read was served at nowMs; `gapMs` since the one before. Returns true when `polling` changed. */
  onRead(nowMs: number, gapMs: number): boolean {
    // An idle gap is no part of a burst: start the epoch again.
    if (this.epochReads === 0 || gapMs > BURST_MS) {
      this.epochStartMs = nowMs;
      this.epochReads = 1;
      return false;
    }
    if (++this.epochReads < EPOCH_READS) return false;
    const msPerRead = (nowMs - this.epochStartMs) / (this.epochReads - 1);
    this.epochStartMs = nowMs;
    this.epochReads = 1;
    if (this.probing) {
      this.probing = false;
      if (msPerRead < this.baselineMsPerRead * PROBE_GAIN) {
        this.switches++;
        this.baselineMsPerRead = msPerRead;
        this.probeEvery = PROBE_EVERY_MIN;
        return false; // the probed way stays
      }
      this.probeEvery = Math.min(this.probeEvery * 2, PROBE_EVERY_MAX);
      this.polling = !this.polling;
      return true;
    }
    this.baselineMsPerRead = msPerRead;
    if (++this.epochsSinceProbe < this.probeEvery) return false;
    this.epochsSinceProbe = 0;
    this.probing = true;
    this.probes++;
    this.polling = !this.polling;
    return true;
  }
}

// Atomics.waitAsync is in Node 20 (V8) but not in this project's TypeScript lib target.
type WaitAsyncResult = { async: false; value: string } | { async: true; value: Promise<string> };
const atomicsWithWaitAsync = Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): WaitAsyncResult };

/** What the server drives: the machine's device buses (offsets and sizes as the buses take them). */
export interface ExitDevices {
  pioRead(port: number, size: AccessSize): number;
  pioWrite(port: number, size: AccessSize, value: number): void;
  mmioRead(addr: number, size: AccessSize): number;
  mmioWrite(addr: number, size: AccessSize, value: number): void;
}

export interface ExitServerOptions {
  doorbell: Int32Array;
  /** Each vCPU's protocol words (W.*). */
  vcpus: readonly Int32Array[];
  devices: ExitDevices;
  /** A device threw: the engine stops the machine with this message. */
  onDeviceError: (e: unknown) => void;
  /** Devices ran: the engine flushes their batched output once per turn of the event loop. */
  onServed: () => void;
  /** 'auto' (default): poll where it pays (see above); 'on' / 'off' force it (tests, measurements). */
  polling?: 'auto' | 'on' | 'off';
}

/** How the server spent its time (for stats and tests). */
export interface ExitServerMetrics {
  reads: number;
  writes: number;
  /** Polls that saw a read come, and polls that ended in nothing. */
  pollHits: number;
  pollMisses: number;
  /** Wake-ups from a short or idle sleep. */
  sleeps: number;
  pollWindowMs: number;
  /** Whether polling is on (off while the host's CPUs are contended), and runnable tasks per CPU on average. */
  polling: boolean;
  runnablePerCpu: number;
}

export class ExitServer {
  private readonly bell: Int32Array;
  private readonly vcpus: readonly Int32Array[];
  private readonly devices: ExitDevices;
  private readonly onDeviceError: (e: unknown) => void;
  private readonly onServed: () => void;
  private pollWindowMs = 0;
  private polling = false;
  private uncontended = true;
  readonly tuner = new PollTuner();
  private readonly pollingPolicy: 'auto' | 'on' | 'off';
  private nextSampleMs = 0;
  private runnableAvg: number | undefined;
  private readonly cpus = hostCpuCount();
  readonly metrics: ExitServerMetrics = {
    reads: 0, writes: 0, pollHits: 0, pollMisses: 0, sleeps: 0, pollWindowMs: 0, polling: false, runnablePerCpu: 0,
  };

  constructor(o: ExitServerOptions) {
    this.bell = o.doorbell;
    this.vcpus = o.vcpus;
    this.devices = o.devices;
    this.onDeviceError = o.onDeviceError;
    this.onServed = o.onServed;
    this.pollingPolicy = o.polling ?? 'auto';
  }

  /** Serves until every vCPU's STATE is STATE_STOPPED. */
  async serve(): Promise<void> {
    const bell = this.bell;
    const m = this.metrics;
    let sliceStartMs = performance.now();
    let lastReadMs = -Infinity;
    let polled = false; // this pass follows a poll that saw the doorbell ring
    this.setPolling(this.polling);
    this.sampleContention(sliceStartMs);
    Atomics.store(bell, BELL_WAITING, this.activeState());
    for (;;) {
      const seq = Atomics.load(bell, BELL_SEQ);
      const writes = this.drainPostedWrites(false);
      let reads = 0;
      let stopped = 0;
      for (const sh of this.vcpus) {
        if (Atomics.load(sh, W.REQ) === REQ_PENDING) {
          this.serveRequest(sh);
          reads++;
        } else if (Atomics.load(sh, W.STATE) === STATE_STOPPED) {
          stopped++;
        }
      }
      if (stopped === this.vcpus.length) {
        this.drainPostedWrites(false);
        Atomics.store(bell, BELL_WAITING, MAIN_BUSY);
        return;
      }
      let now = performance.now();
      if (reads > 0) {
        // After a sleep: a read that came within POLL_MAX_MS of the last one would have been
        // caught by a longer poll; one that came later says reads are rare: poll less.
        if (!polled) {
          if (now - lastReadMs <= POLL_MAX_MS) this.growPollWindow();
          else this.shrinkPollWindow();
        }
        if (this.pollingPolicy === 'auto' && this.uncontended && this.tuner.onRead(now, now - lastReadMs)) {
          this.setPolling(this.tuner.polling);
          Atomics.store(bell, BELL_WAITING, this.activeState());
        }
        lastReadMs = now;
      }
      polled = false;

      if (now - sliceStartMs >= BURST_MS) {
        Atomics.store(bell, BELL_WAITING, MAIN_BUSY);
        await yieldToEventLoop();
        sliceStartMs = performance.now();
        this.sampleContention(sliceStartMs);
        Atomics.store(bell, BELL_WAITING, this.activeState());
        continue;
      }

      const pollUntilMs = lastReadMs + this.pollWindowMs;
      if (this.polling && now < pollUntilMs) {
        if (this.pollDoorbell(seq, pollUntilMs)) {
          m.pollHits++;
          polled = true;
          continue;
        }
        m.pollMisses++;
        now = performance.now();
      }

      m.sleeps++;
      if (reads + writes > 0 || now - lastReadMs <= POLL_MAX_MS) {
        // A burst: sleep briefly; posted writes accumulate meanwhile.
        Atomics.store(bell, BELL_WAITING, MAIN_SLEEPS_FOR_REQUESTS);
        if (Atomics.wait(bell, BELL_SEQ, seq, BURST_WAIT_MS) === 'timed-out') this.shrinkPollWindow();
        Atomics.store(bell, BELL_WAITING, this.activeState());
        continue;
      }
      // Idle. A worker that queued a write before it could see MAIN_SLEEPS did not ring: look.
      Atomics.store(bell, BELL_WAITING, MAIN_SLEEPS);
      if (Atomics.load(bell, RING_HEAD) === Atomics.load(bell, RING_TAIL)) {
        const w = atomicsWithWaitAsync.waitAsync(bell, BELL_SEQ, seq);
        if (w.async) await w.value;
        sliceStartMs = performance.now();
        this.sampleContention(sliceStartMs);
      } else {
        // A write is being queued (its vCPU may have been preempted mid-way): look again shortly.
        Atomics.wait(bell, BELL_SEQ, seq, UNPUBLISHED_WAIT_MS);
      }
      Atomics.store(bell, BELL_WAITING, this.activeState());
    }
  }

  /** For stats(): how reads were answered (the workers count polled and slept replies). */
  describe(readsPolled: number, readsSlept: number): string {
    const m = this.metrics;
    return `; reads: ${readsPolled} answered while polling, ${readsSlept} after a sleep; main thread: ${m.pollHits} poll hits, ` +
      `${m.pollMisses} misses, ${m.sleeps} sleeps, poll window ${(m.pollWindowMs * 1000).toFixed(0)} µs, ` +
      `polling ${m.polling ? 'on' : 'off'} (${m.runnablePerCpu.toFixed(1)} runnable tasks per host CPU; ` +
      `${this.tuner.probes} probes, ${this.tuner.switches} switches)`;
  }

  /** What the workers see while this thread is awake: a polling server is answered by polling. */
  private activeState(): number {
    return this.polling ? MAIN_POLLING : MAIN_BUSY;
  }

  /** Turns polling off while more tasks want to run than the host has CPUs, back on when fewer do. */
  private sampleContention(nowMs: number): void {
    if (this.pollingPolicy !== 'auto') {
      if (this.polling !== (this.pollingPolicy === 'on')) this.setPolling(this.pollingPolicy === 'on');
      return;
    }
    if (nowMs < this.nextSampleMs) return;
    this.nextSampleMs = nowMs + CONTENTION_SAMPLE_MS;
    const runnable = hostRunnableTasks();
    if (runnable === undefined) return;
    const avg = this.runnableAvg === undefined ? runnable : this.runnableAvg + (runnable - this.runnableAvg) * CONTENTION_SAMPLE_WEIGHT;
    this.runnableAvg = avg;
    this.metrics.runnablePerCpu = avg / this.cpus;
    const excess = avg - this.cpus;
    if (this.uncontended && excess > CONTENTION_STOP_POLLING) this.uncontended = false;
    else if (!this.uncontended && excess < CONTENTION_RESUME_POLLING) this.uncontended = true;
    this.setPolling(this.uncontended && this.tuner.polling);
  }

  private setPolling(on: boolean): void {
    this.polling = on;
    this.metrics.polling = on;
    Atomics.store(this.bell, BELL_POLL, on ? 1 : 0);
  }

  /** Spins until BELL_SEQ moves from `seq` (true) or until `untilMs` (false). */
  private pollDoorbell(seq: number, untilMs: number): boolean {
    const bell = this.bell;
    for (let i = 0; ; i++) {
      if (Atomics.load(bell, BELL_SEQ) !== seq) return true;
      if ((i & POLL_CLOCK_MASK) === POLL_CLOCK_MASK && performance.now() >= untilMs) return false;
    }
  }

  private growPollWindow(): void {
    this.pollWindowMs = this.pollWindowMs === 0 ? POLL_START_MS : Math.min(this.pollWindowMs * 2, POLL_MAX_MS);
    this.metrics.pollWindowMs = this.pollWindowMs;
  }

  private shrinkPollWindow(): void {
    const half = this.pollWindowMs / 2;
    this.pollWindowMs = half < POLL_START_MS ? 0 : half;
    this.metrics.pollWindowMs = this.pollWindowMs;
  }

  /**
   * Applies the queued writes in order; returns how many. With `all`, waits for slots reserved but
   * not yet published (their vCPU is a few stores away from publishing), so that every write made
   * before now is applied; otherwise stops at the first such slot.
   */
  drainPostedWrites(all: boolean): number {
    const bell = this.bell;
    let tail = bell[RING_TAIL]!;
    const head = Atomics.load(bell, RING_HEAD);
    let n = 0;
    while (tail !== head) {
      const o = RING_BASE + (tail & (RING_ENTRIES - 1)) * RING_ENTRY_WORDS;
      const published = (tail + 1) | 0;
      let marker = Atomics.load(bell, o);
      if (marker !== published) {
        if (!all) break;
        while (marker !== published) {
          Atomics.wait(bell, o, marker, UNPUBLISHED_WAIT_MS);
          marker = Atomics.load(bell, o);
        }
      }
      const meta = bell[o + 1]!;
      const addr = (bell[o + 2]! >>> 0) + (meta >>> 8) * 0x1_0000_0000;
      const size = ((meta >> 4) & 0xf) as AccessSize;
      const value = bell[o + 3]! >>> 0;
      try {
        if ((meta & 0xf) === KIND_PIO_WRITE) this.devices.pioWrite(addr, size, value);
        else this.devices.mmioWrite(addr, size, value);
      } catch (e) {
        this.onDeviceError(e);
      }
      tail = (tail + 1) | 0;
      n++;
    }
    if (n > 0) {
      Atomics.store(bell, RING_TAIL, tail);
      this.metrics.writes += n;
      this.onServed();
    }
    return n;
  }

  private serveRequest(sh: Int32Array): void {
    // Every write made before this read first (a nearly full ring falls back to this path too).
    this.drainPostedWrites(true);
    const kind = sh[W.KIND]!;
    const addr = (sh[W.ADDR_LO]! >>> 0) + (sh[W.ADDR_HI]! >>> 0) * 0x1_0000_0000;
    const size = sh[W.SIZE]! as AccessSize;
    try {
      if (kind === KIND_PIO_READ) sh[W.DATA_LO] = this.devices.pioRead(addr, size);
      else if (kind === KIND_MMIO_READ) sh[W.DATA_LO] = this.devices.mmioRead(addr, size);
      else if (kind === KIND_PIO_WRITE) this.devices.pioWrite(addr, size, sh[W.DATA_LO]! >>> 0);
      else if (kind === KIND_MMIO_WRITE) this.devices.mmioWrite(addr, size, sh[W.DATA_LO]! >>> 0);
    } catch (e) {
      this.onDeviceError(e);
    }
    Atomics.store(sh, W.REQ, REQ_DONE);
    Atomics.notify(sh, W.REQ);
    this.metrics.reads++;
    this.onServed();
  }
}
