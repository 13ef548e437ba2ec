// The APIC bus: carries interrupt messages from the IOAPIC, MSI writes and IPIs to the local
// APICs, and EOI broadcasts back to the IOAPIC. Destination decoding follows SDM Vol. 3A §10.6.2
// (physical: 8-bit APIC ID, 0xFF broadcast; logical: flat or cluster model per each target's
// DFR/LDR) and §10.11 for the MSI address/data format. On xAPIC systems these are messages on
// the system bus; here they are method calls, synchronous and in the caller's thread.

/** Delivery modes (ICR, IOAPIC redirection entries and MSI data bits 10:8), SDM Vol. 3A §10.6.1. */
export const APIC_DM_FIXED = 0;
export const APIC_DM_LOWEST = 1;
export const APIC_DM_SMI = 2;
export const APIC_DM_NMI = 4;
export const APIC_DM_INIT = 5;
export const APIC_DM_STARTUP = 6;
export const APIC_DM_EXTINT = 7;

/** ICR destination shorthands (bits 19:18). */
export const APIC_DEST_NO_SHORTHAND = 0;
export const APIC_DEST_SELF = 1;
export const APIC_DEST_ALL_INCLUDING_SELF = 2;
export const APIC_DEST_ALL_EXCLUDING_SELF = 3;

/** Physical destination 0xFF addresses every local APIC (xAPIC). */
export const APIC_BROADCAST_ID = 0xff;

/** MSI address: 0xFEEx_xxxx, destination ID in bits 19:12, RH bit 3, DM bit 2 (SDM §10.11.1). */
const MSI_ADDRESS_BASE_MASK = 0xfff0_0000;
const MSI_ADDRESS_BASE = 0xfee0_0000;
const MSI_ADDRESS_DEST_SHIFT = 12;
const MSI_ADDRESS_DM_LOGICAL = 0x4;
/** MSI data: vector bits 7:0, delivery mode 10:8, level bit 14, trigger mode bit 15 (SDM §10.11.2). */
const MSI_DATA_LEVEL_ASSERT = 0x4000;
const MSI_DATA_TRIGGER_LEVEL = 0x8000;

/**
 * One interrupt message. Senders may reuse one object; receivers must copy what they keep.
 */
export interface ApicMessage {
  vector: number;
  deliveryMode: number;
  /** Logical destination mode (true) or physical (false). */
  logical: boolean;
  destination: number;
  levelTriggered: boolean;
  /** Level: assert (true) or de-assert (false); only INIT de-assert uses false. */
  assert: boolean;
}

/** What the bus needs from a local APIC. */
export interface ApicBusTarget {
  readonly apicId: number;
  /** Whether `destination` selects this APIC in logical mode (its DFR model and LDR). */
  matchesLogical(destination: number): boolean;
  /** Arbitration priority for lowest-priority delivery (SDM §10.8.3.1 APR). */
  arbitrationPriority(): number;
  accept(message: ApicMessage): void;
}

export class ApicBus {
  private targets: ApicBusTarget[] = [];
  private readonly eoiListeners: ((vector: number) => void)[] = [];
  private readonly msiMessage: ApicMessage = {
    vector: 0,
    deliveryMode: 0,
    logical: false,
    destination: 0,
    levelTriggered: false,
    assert: true,
  };
  /** Messages delivered (metrics). */
  messageCount = 0;

  attach(target: ApicBusTarget): void {
    if (this.targets.some((t) => t.apicId === target.apicId)) {
      throw new Error(`Cannot attach local APIC ${String(target.apicId)}: an APIC with that ID is already on the bus`);
    }
    this.targets = [...this.targets, target].sort((a, b) => a.apicId - b.apicId);
  }

  detach(target: ApicBusTarget): void {
    this.targets = this.targets.filter((t) => t !== target);
  }

  /** Subscribes to EOI broadcasts (the IOAPIC's remote-IRR handshake). */
  onEoi(listener: (vector: number) => void): void {
    this.eoiListeners.push(listener);
  }

  broadcastEoi(vector: number): void {
    for (const listener of this.eoiListeners) listener(vector);
  }

  private matches(t: ApicBusTarget, m: ApicMessage): boolean {
    if (m.logical) return t.matchesLogical(m.destination);
    return m.destination === APIC_BROADCAST_ID || m.destination === t.apicId;
  }

  /**
   * Delivers `message` to the APICs it addresses. `shorthand` and `sourceId` come from an ICR
   * write (IPIs); the IOAPIC and MSI use no shorthand. Returns how many APICs accepted it.
   */
  send(message: ApicMessage, shorthand = APIC_DEST_NO_SHORTHAND, sourceId = -1): number {
    const targets = this.targets;
    let delivered = 0;
    if (shorthand !== APIC_DEST_NO_SHORTHAND) {
      for (const t of targets) {
        const self = t.apicId === sourceId;
        if (shorthand === APIC_DEST_SELF ? !self : shorthand === APIC_DEST_ALL_EXCLUDING_SELF && self) continue;
        t.accept(message);
        delivered++;
      }
      this.messageCount += delivered;
      return delivered;
    }
    if (message.deliveryMode === APIC_DM_LOWEST) {
      // Lowest priority: the matching APIC with the lowest arbitration priority, ties to the
      // lowest APIC ID (SDM §10.6.2.4 leaves the tie-break to the platform).
      let best: ApicBusTarget | undefined;
      let bestPriority = 0x100;
      for (const t of targets) {
        if (!this.matches(t, message)) continue;
        const p = t.arbitrationPriority();
        if (p < bestPriority) {
          best = t;
          bestPriority = p;
        }
      }
      if (best === undefined) return 0;
      best.accept(message);
      this.messageCount++;
      return 1;
    }
    for (const t of targets) {
      if (!this.matches(t, message)) continue;
      t.accept(message);
      delivered++;
    }
    this.messageCount += delivered;
    return delivered;
  }

  /**
   * An MSI write (a DWORD to 0xFEEx_xxxx) decoded per SDM Vol. 3A §10.11 and delivered.
   * Returns false when `address` is not in the MSI range.
   */
  deliverMsi(address: number, data: number): boolean {
    if ((address & MSI_ADDRESS_BASE_MASK) >>> 0 !== MSI_ADDRESS_BASE) return false;
    const m = this.msiMessage;
    m.destination = (address >>> MSI_ADDRESS_DEST_SHIFT) & 0xff;
    m.logical = (address & MSI_ADDRESS_DM_LOGICAL) !== 0;
    m.vector = data & 0xff;
    m.deliveryMode = (data >> 8) & 7;
    m.levelTriggered = (data & MSI_DATA_TRIGGER_LEVEL) !== 0;
    // Edge MSIs always assert; the level bit only matters for level-triggered ones.
    m.assert = !m.levelTriggered || (data & MSI_DATA_LEVEL_ASSERT) !== 0;
    this.send(m);
    return true;
  }
}
