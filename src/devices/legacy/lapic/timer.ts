// The local APIC timer (SDM Vol. 3A §10.5.4): a 32-bit down-counter at the bus clock divided per
// the divide configuration register, in one-shot, periodic or TSC-deadline mode. Like the PIT it
// is not stepped: it keeps the guest time the count started at and arms one DeviceClock timer for
// the next expiry, computed from that start so periodic expiries do not drift.

import type { DeviceClock, TimerHandle } from '../../device.js';
import { APIC_TIMER_PERIODIC, APIC_TIMER_TSC_DEADLINE, LAPIC_TIMER_HZ } from './registers.js';

/** Periodic expiries closer than this are spaced out, so a guest cannot flood the run loop. */
const MIN_PERIOD_NS = 1000;

export interface ApicTimerState {
  mode: number;
  divideConfig: number;
  initialCount: number;
  startNs: number;
  /** Next expiry index: period k ends at startNs + k * period (one-shot: 2 = already fired). */
  periodIndex: number;
  armed: boolean;
  /** IA32_TSC_DEADLINE as a decimal string (bigint is not JSON). */
  tscDeadline: string;
}

export class ApicTimer {
  private mode = 0;
  private divideConfig = 0;
  private initialCount = 0;
  private startNs = 0;
  private periodIndex = 1;
  private handle: TimerHandle | undefined;
  private tscDeadline = 0n;
  // Bound once: TSC-deadline writes are frequent (every tick in NO_HZ oneshot mode).
  private readonly onCountdownFn = (): void => this.onCountdownExpired();
  private readonly onDeadlineFn = (): void => this.onDeadline();

  constructor(
    private readonly clock: DeviceClock,
    private readonly tscToNs: (tsc: bigint) => number,
    private readonly nowTsc: () => bigint,
    /** Called at each expiry; the LAPIC checks the LVT mask and raises the vector. */
    private readonly fire: () => void,
  ) {}

  reset(): void {
    this.stop();
    this.mode = 0;
    this.divideConfig = 0;
    this.initialCount = 0;
    this.periodIndex = 1;
    this.tscDeadline = 0n;
  }

  private stop(): void {
    this.handle?.cancel();
    this.handle = undefined;
  }

  /** Nanoseconds per count at the current divide configuration. */
  private nsPerCount(): number {
    const v = ((this.divideConfig & 8) >> 1) | (this.divideConfig & 3);
    const divisor = v === 7 ? 1 : 2 << v;
    return (divisor * 1e9) / LAPIC_TIMER_HZ;
  }

  /** The LVT timer mode bits changed: changing the mode disarms the timer (SDM §10.5.4.1). */
  setMode(mode: number): void {
    if (mode === this.mode) return;
    this.mode = mode;
    this.stop();
    this.initialCount = 0;
    this.tscDeadline = 0n;
  }

  get initial(): number {
    return this.initialCount;
  }

  get divide(): number {
    return this.divideConfig;
  }

  currentCount(): number {
    if (this.initialCount === 0 || this.mode === APIC_TIMER_TSC_DEADLINE) return 0;
    const elapsed = Math.floor((this.clock.nowNs() - this.startNs) / this.nsPerCount());
    if (this.mode === APIC_TIMER_PERIODIC) return this.initialCount - (elapsed % this.initialCount);
    return Math.max(0, this.initialCount - elapsed);
  }

  writeInitialCount(count: number): void {
    // In TSC-deadline mode writes to the initial count are ignored (SDM §10.5.4.1).
    if (this.mode === APIC_TIMER_TSC_DEADLINE) return;
    this.initialCount = count >>> 0;
    this.startNs = this.clock.nowNs();
    this.periodIndex = 1;
    this.armCountdown();
  }

  writeDivideConfig(value: number): void {
    const running = this.initialCount !== 0 && this.mode !== APIC_TIMER_TSC_DEADLINE && (this.mode === APIC_TIMER_PERIODIC || this.periodIndex === 1);
    const countsDone = running ? this.initialCount - this.currentCount() : 0;
    this.divideConfig = value & 0xb;
    if (!running) return;
    // Keep the count where it is and continue at the new rate.
    this.startNs = this.clock.nowNs() - countsDone * this.nsPerCount();
    this.periodIndex = 1;
    this.armCountdown();
  }

  private armCountdown(): void {
    this.stop();
    if (this.initialCount === 0 || this.mode === APIC_TIMER_TSC_DEADLINE) return;
    if (this.mode !== APIC_TIMER_PERIODIC && this.periodIndex > 1) return; // one-shot already fired
    const periodNs = this.initialCount * this.nsPerCount();
    this.handle = this.clock.setTimer(this.startNs + this.periodIndex * periodNs, this.onCountdownFn);
  }

  private onCountdownExpired(): void {
    this.handle = undefined;
    this.fire();
    if (this.mode !== APIC_TIMER_PERIODIC) {
      this.periodIndex = 2;
      return;
    }
    const periodNs = this.initialCount * this.nsPerCount();
    const now = this.clock.nowNs();
    if (periodNs < MIN_PERIOD_NS) {
      this.startNs = now;
      this.periodIndex = 1;
      this.handle = this.clock.setTimer(now + MIN_PERIOD_NS, this.onCountdownFn);
      return;
    }
    // Periods the run loop missed collapse into the one IRR bit anyway: skip to the next one.
    this.periodIndex = Math.max(this.periodIndex + 1, Math.floor((now - this.startNs) / periodNs) + 1);
    this.armCountdown();
  }

  /** IA32_TSC_DEADLINE reads: zero outside TSC-deadline mode and after expiry (SDM §10.5.4.1). */
  readDeadline(): bigint {
    return this.mode === APIC_TIMER_TSC_DEADLINE ? this.tscDeadline : 0n;
  }

  writeDeadline(value: bigint): void {
    if (this.mode !== APIC_TIMER_TSC_DEADLINE) return; // ignored in other modes
    this.armDeadline(value);
  }

  private armDeadline(value: bigint): void {
    this.stop();
    this.tscDeadline = value;
    if (value === 0n) return; // writing zero disarms
    if (value <= this.nowTsc()) {
      this.onDeadline();
      return;
    }
    this.handle = this.clock.setTimer(this.tscToNs(value), this.onDeadlineFn);
  }

  private onDeadline(): void {
    this.handle = undefined;
    this.tscDeadline = 0n;
    this.fire();
  }

  save(): ApicTimerState {
    return {
      mode: this.mode,
      divideConfig: this.divideConfig,
      initialCount: this.initialCount,
      startNs: this.startNs,
      periodIndex: this.periodIndex,
      armed: this.handle !== undefined,
      tscDeadline: this.tscDeadline.toString(),
    };
  }

  restore(s: ApicTimerState): void {
    this.stop();
    this.mode = s.mode;
    this.divideConfig = s.divideConfig;
    this.initialCount = s.initialCount;
    this.startNs = s.startNs;
    this.periodIndex = s.periodIndex;
    this.tscDeadline = BigInt(s.tscDeadline);
    if (!s.armed) return;
    if (this.mode === APIC_TIMER_TSC_DEADLINE) this.armDeadline(this.tscDeadline);
    else this.armCountdown();
  }
}
