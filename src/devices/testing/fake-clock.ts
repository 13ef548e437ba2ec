// A deterministic DeviceClock for unit tests: guest time only moves when the test calls advance().
// Timers fire in deadline order (ties in creation order), with nowNs() equal to each timer's
// deadline while its callback runs, as the machine's run loop would.

import type { DeviceClock, TimerHandle } from '../device.js';

interface FakeTimer {
  deadlineNs: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export class FakeClock implements DeviceClock {
  private now = 0;
  private seq = 0;
  private timers: FakeTimer[] = [];
  /** How many timer callbacks have run (lets tests check that an idle device arms nothing). */
  firedCount = 0;

  constructor(startNs = 0) {
    this.now = startNs;
  }

  nowNs(): number {
    return this.now;
  }

  setTimer(deadlineNs: number, fn: () => void): TimerHandle {
    const timer: FakeTimer = { deadlineNs, seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Number of armed (not cancelled, not yet fired) timers. */
  pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by `ns`, firing every timer that falls due on the way. */
  advance(ns: number): void {
    this.advanceTo(this.now + ns);
  }

  advanceTo(targetNs: number): void {
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      let next: FakeTimer | undefined;
      for (const t of this.timers) {
        if (t.deadlineNs > targetNs) continue;
        if (next === undefined || t.deadlineNs < next.deadlineNs || (t.deadlineNs === next.deadlineNs && t.seq < next.seq)) {
          next = t;
        }
      }
      if (next === undefined) break;
      next.cancelled = true;
      if (next.deadlineNs > this.now) this.now = next.deadlineNs;
      this.firedCount++;
      next.fn();
    }
    if (targetNs > this.now) this.now = targetNs;
  }
}
