// Machine time for the soft engine: guest time follows the host's monotonic clock (as QEMU's TCG
// does without icount), and device timers fire from the run loop between CPU slices, never
// reentrantly from inside a device access.

import type { DeviceClock, TimerHandle } from '../devices/device.js';

interface Timer extends TimerHandle {
  deadlineNs: number;
  fn: () => void;
  seq: number;
  active: boolean;
}

export class MachineClock implements DeviceClock {
  /** TSC frequency reported to the guest; 1 GHz keeps TSC <-> ns conversion exact and cheap. */
  readonly tscHz = 1_000_000_000;
  private readonly startNs: bigint;
  /** Pending timers, a binary min-heap on (deadlineNs, seq). */
  private heap: Timer[] = [];
  private seq = 0;
  /** Time frozen while the machine is paused. */
  private pausedAtNs = -1;
  private pausedTotalNs = 0;

  constructor() {
    this.startNs = process.hrtime.bigint();
  }

  nowNs(): number {
    if (this.pausedAtNs >= 0) return this.pausedAtNs;
    return Number(process.hrtime.bigint() - this.startNs) - this.pausedTotalNs;
  }

  pause(): void {
    if (this.pausedAtNs < 0) this.pausedAtNs = this.nowNs();
  }

  resume(): void {
    if (this.pausedAtNs < 0) return;
    const real = Number(process.hrtime.bigint() - this.startNs);
    this.pausedTotalNs = real - this.pausedAtNs;
    this.pausedAtNs = -1;
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

  /** Runs every timer whose deadline has passed; returns how many ran. */
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
