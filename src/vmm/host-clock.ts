// Machine time for the KVM engine: the host's monotonic clock. Under KVM the guest's TSC, LAPIC
// timers and PIT run on real time in the kernel, so the userspace devices (RTC, ACPI PM timer,
// UART timing) must too. Timers fire from Node's event loop on the main thread, never inside a
// device access (the same guarantee MachineClock gives the soft engine).

import type { DeviceClock, TimerHandle } from '../devices/device.js';

export class HostClock implements DeviceClock {
  private readonly startNs = process.hrtime.bigint();
  private readonly live = new Set<ReturnType<typeof setTimeout>>();

  nowNs(): number {
    return Number(process.hrtime.bigint() - this.startNs);
  }

  setTimer(deadlineNs: number, fn: () => void): TimerHandle {
    const delayMs = Math.max(0, (deadlineNs - this.nowNs()) / 1e6);
    const t = setTimeout(() => { this.live.delete(t); fn(); }, delayMs);
    this.live.add(t);
    return { cancel: () => { clearTimeout(t); this.live.delete(t); } };
  }

  /** Cancels every pending timer (machine teardown). */
  dispose(): void {
    for (const t of this.live) clearTimeout(t);
    this.live.clear();
  }
}
