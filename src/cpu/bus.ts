// What the soft CPU needs from the machine it sits in. The machine (src/vmm) implements this;
// the CPU engine knows nothing of devices.

/** Physical memory and port space as the CPU sees them. */
export interface CpuBus {
  /**
   * Guest RAM as one byte array. `ramOffset(pa)` maps a guest physical address to an index in
   * it, or -1 when `pa` is not RAM (MMIO, PCI hole, past the end). RAM above 4 GiB (after the
   * 32-bit PCI hole) maps past the low part.
   */
  readonly ram: Uint8Array;
  ramOffset(pa: number): number;
  /** MMIO access to a non-RAM physical address; unclaimed reads return all ones. size: 1, 2, 4. */
  mmioRead(pa: number, size: 1 | 2 | 4): number;
  mmioWrite(pa: number, size: 1 | 2 | 4, value: number): void;
  /** Port I/O. Unclaimed reads return all ones. */
  pioRead(port: number, size: 1 | 2 | 4): number;
  pioWrite(port: number, size: 1 | 2 | 4, value: number): void;
}

/**
 * The vCPU's local interrupt controller as the CPU sees it (the local APIC, with the PIC behind
 * LINT0 in virtual-wire mode). The CPU polls between instructions.
 */
export interface InterruptController {
  /** A maskable interrupt is pending and deliverable (priority permitting). Cheap: called often. */
  hasInterrupt(): boolean;
  /** Accept the highest-priority pending interrupt and return its vector (INTA cycle). */
  acknowledge(): number;
  /** NMI pending (LINT1/NMI IPI); cleared by taking it. */
  takeNmi(): boolean;
  /** Sent INIT / SIPI for application processors: returns the SIPI vector, or -1. */
  takeStartup(): number;
  /** The CPU writes CR8 / reads TPR through this (SDM Vol. 3A §10.8.6). */
  setTpr(cr8: number): void;
  getTpr(): number;
  /** x2APIC / APIC MSR access (0x800-0x8ff, TSC deadline 0x6e0); false when not handled. */
  readMsr?(msr: number): bigint | undefined;
  writeMsr?(msr: number, value: bigint): boolean;
}

/** Time as the guest sees it. */
export interface GuestClock {
  /** Nanoseconds since the machine was created; monotonic. */
  nowNs(): number;
  /** TSC ticks per second reported to the guest (CPUID leaf 0x15 / MSR-free calibration). */
  readonly tscHz: number;
}
