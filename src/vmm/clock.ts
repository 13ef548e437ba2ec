// Machine time for the soft engine: a virtual clock (issue 2: "RDTSC tied to a virtual clock").
// Guest time advances with the instructions the vCPUs execute (nsPerInstruction each, a 1 GHz
// machine at one instruction per cycle by default), plus the time a vCPU stalls in PAUSE
// (cpu/pause.ts), and jumps to the next timer deadline when every vCPU is halted. TSC, PIT, PM timer, RTC and LAPIC timers all read this one clock, so they agree
// with each other however fast or slow the emulation runs: no lost ticks, no "TSC unstable"
// verdicts from the kernel's clocksource watchdog. When the guest is idle and virtual time is
// ahead of the host's, the run loop sleeps so that an idle guest does not race ahead of real time
// (`sleep 1` in the guest takes a second). Device timers fire from the run loop between CPU
// quanta, never reentrantly from inside a device access.

import type { DeviceClock, TimerHandle } from '../devices/device.js';

/** What the clock needs to know of the vCPU executing right now. */
export interface InstructionCounter {
  instructionCount: number;
  /**
   * Guest ns the vCPU has stalled beyond its instructions, a running total (a PAUSE stalls,
   * cpu/pause.ts); moves guest time like instructions do.
   */
  stallNs: number;
}

interface Timer extends TimerHandle {
  deadlineNs: number;
  fn: () => void;
  seq: number;
  active: boolean;
}

export class MachineClock implements DeviceClock {
  /** TSC frequency reported to the guest; 1 GHz keeps TSC <-> ns conversion exact and cheap. */
  readonly tscHz = 1_000_000_000;
  /** Guest nanoseconds one executed instruction stands for. */
  readonly nsPerInstruction: number;
  /** Virtual time at the start of the current quantum. */
  private baseNs = 0;
  private running: InstructionCounter | null = null;
  private runningStartCount = 0;
  private runningStartStallNs = 0;
  private readonly hostStartNs: bigint;
  /** Host time spent paused (freezeHostTime .. thawHostTime), and the start of the current pause. */
  private hostPausedNs = 0n;
  private hostFrozenAtNs: bigint | undefined;
  /** Pending timers, a binary min-heap on (deadlineNs, seq). */
  private heap: Timer[] = [];
  private seq = 0;

  constructor(nsPerInstruction = 1) {
    this.nsPerInstruction = nsPerInstruction;
    this.hostStartNs = process.hrtime.bigint();
  }

  /** Guest time: the quantum's start plus what the running vCPU has executed since. */
  nowNs(): number {
    const r = this.running;
    if (r === null) return this.baseNs;
    return this.baseNs + (r.instructionCount - this.runningStartCount) * this.nsPerInstruction +
      (r.stallNs - this.runningStartStallNs);
  }

  /** Host nanoseconds since the machine was created, paused time left out (for pacing an idle guest). */
  hostNowNs(): number {
    const end = this.hostFrozenAtNs ?? process.hrtime.bigint();
    return Number(end - this.hostStartNs - this.hostPausedNs);
  }

  /**
   * The VM is paused: host time stops counting for the guest, so that after resume an idle guest
   * is not paced to catch up with the pause (guest time does not jump; control pause/resume).
   */
  freezeHostTime(): void {
    this.hostFrozenAtNs ??= process.hrtime.bigint();
  }

  thawHostTime(): void {
    if (this.hostFrozenAtNs === undefined) return;
    this.hostPausedNs += process.hrtime.bigint() - this.hostFrozenAtNs;
    this.hostFrozenAtNs = undefined;
  }

  /** A vCPU starts its quantum: its instructions now move guest time. */
  beginQuantum(cpu: InstructionCounter): void {
    this.running = cpu;
    this.runningStartCount = cpu.instructionCount;
    this.runningStartStallNs = cpu.stallNs;
  }

  /**
   * The vCPU's quantum ended: its stalls are added to guest time here; returns how many
   * instructions it executed (the caller advances time by those).
   */
  endQuantum(): number {
    const r = this.running;
    this.running = null;
    if (r === null) return 0;
    this.baseNs += r.stallNs - this.runningStartStallNs;
    return r.instructionCount - this.runningStartCount;
  }

  /** Moves guest time forward (never back). */
  advanceTo(ns: number): void {
    if (ns > this.baseNs) this.baseNs = ns;
  }

  advanceBy(ns: number): void {
    this.baseNs += ns;
  }

  setTimer(deadlineNs: number, fn: () => void): TimerHandle {
    const t: Timer = {
      deadlineNs, fn, seq: this.seq++, active: true,
      cancel: () => { t.active = false; },
    };
    this.push(t);
    return t;
  }

  /** Deadline of the earliest live timer, or Infinity. */
  nextDeadlineNs(): number {
    while (this.heap.length > 0 && !this.heap[0]!.active) this.popMin();
    return this.heap.length > 0 ? this.heap[0]!.deadlineNs : Infinity;
  }

  /** Runs every timer whose deadline has passed (in guest time); returns how many ran. */
  runDue(): number {
    let ran = 0;
    const now = this.nowNs();
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.deadlineNs > now) break;
      this.popMin();
      if (!top.active) continue;
      top.active = false;
      top.fn();
      ran++;
    }
    return ran;
  }

  private less(a: Timer, b: Timer): boolean {
    return a.deadlineNs < b.deadlineNs || (a.deadlineNs === b.deadlineNs && a.seq < b.seq);
  }

  private push(t: Timer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private popMin(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
