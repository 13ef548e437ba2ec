// Counters a local APIC keeps for the metrics endpoint (shared/STYLE.md: FooMetrics).

export interface LocalApicMetrics {
  /** Fixed/lowest-priority vectors set in IRR (IPIs, IOAPIC, MSI, LVT). */
  interruptsAccepted: number;
  /** Timer expiries, masked or not. */
  timerFires: number;
  /** IPIs sent through the ICR. */
  ipisSent: number;
}
