// What every device model sees of the machine: buses hand it offsets, not absolute addresses
// (shared/STYLE.md habit 6); interrupts are lines it drives; time comes from the machine clock.
// Devices never import the CPU engine, KVM or the VMM.

/** A port-I/O device; `offset` is relative to the base it was registered at. */
export interface PioDevice {
  pioRead(offset: number, size: 1 | 2 | 4): number;
  pioWrite(offset: number, size: 1 | 2 | 4, value: number): void;
}

/** An MMIO device; `offset` is relative to the base it was registered at. */
export interface MmioDevice {
  mmioRead(offset: number, size: 1 | 2 | 4): number;
  mmioWrite(offset: number, size: 1 | 2 | 4, value: number): void;
}

/** An interrupt input (PIC/IOAPIC pin, or a LAPIC LINT). Edge devices pulse: set(true) then set(false). */
export interface IrqLine {
  set(level: boolean): void;
}

/** Machine time and timers, in nanoseconds of guest time. */
export interface DeviceClock {
  nowNs(): number;
  /** Calls `fn` once guest time reaches `deadlineNs` (from the machine's run loop, never reentrantly). */
  setTimer(deadlineNs: number, fn: () => void): TimerHandle;
}
export interface TimerHandle {
  cancel(): void;
}

/**
 * Every stateful device persists through a plain, named, versioned state object
 * (shared/STYLE.md habit 2): `save()` returns it, `restore(state)` rebuilds from it.
 */
export interface Persistable<S extends { version: number }> {
  save(): S;
  restore(state: S): void;
}
