// Machine time for the KVM engine: the host's monotonic clock. Under KVM the guest's TSC, LAPIC
// timers and PIT run on real time in the kernel, so the userspace devices (RTC, ACPI PM timer,
// UART timing) must too. Timers fire from Node's event loop on the main thread, never inside a
// device access (the same guarantee MachineClock gives the soft engine).
//
// While the VM is paused (freeze), this clock stands still and no timer fires; on thaw the paused
// span is left out of nowNs(), and the pending timers are armed again for what was left of them.

import type { DeviceClock, TimerHandle } from '../devices/device.js';

interface HostTimer {
  deadlineNs: number;
  fn: () => void;
  timeout: ReturnType<typeof setTimeout> | undefined;
}

export class HostClock implements DeviceClock {
  private readonly startNs = process.hrtime.bigint();
  private readonly live = new Set<HostTimer>();
  private pausedNs = 0n;
  private frozenAtNs: bigint | undefined;

  nowNs(): number {
    const end = this.frozenAtNs ?? process.hrtime.bigint();
    return Number(end - this.startNs - this.pausedNs);
  }

  setTimer(deadlineNs: number, fn: () => void): TimerHandle {
    const t: HostTimer = { deadlineNs, fn, timeout: undefined };
    this.live.add(t);
    if (this.frozenAtNs === undefined) this.arm(t);
    return { cancel: () => { clearTimeout(t.timeout); this.live.delete(t); } };
  }

  /** The VM is paused: time stops and pending timers wait. */
  freeze(): void {
    if (this.frozenAtNs !== undefined) return;
    this.frozenAtNs = process.hrtime.bigint();
    for (const t of this.live) {
      clearTimeout(t.timeout);
      t.timeout = undefined;
    }
  }

  /** The VM resumes: time continues where it stopped. */
  thaw(): void {
    if (this.frozenAtNs === undefined) return;
    this.pausedNs += process.hrtime.bigint() - this.frozenAtNs;
    this.frozenAtNs = undefined;
    for (const t of this.live) this.arm(t);
  }

  /** Cancels every pending timer (machine teardown). */
  dispose(): void {
    for (const t of this.live) clearTimeout(t.timeout);
    this.live.clear();
  }

  private arm(t: HostTimer): void {
    const delayMs = Math.max(0, (t.deadlineNs - this.nowNs()) / 1e6);
    t.timeout = setTimeout(() => { this.live.delete(t); t.fn(); }, delayMs);
  }
}
