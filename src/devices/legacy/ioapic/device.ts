// The I/O APIC (82093AA datasheet; the version 0x20 register set of ICH-era chipsets, which adds
// the directed EOI register at offset 0x40). 24 pins, each with a 64-bit redirection entry; an
// interrupt is sent to the local APICs as a message on the ApicBus. Level-triggered pins use the
// remote IRR handshake: set when the message is accepted, cleared by the local APIC's EOI
// broadcast (or an EOI register write) for the entry's vector.
//
// Inputs are logical: setIrq(pin, true) means "asserted". The polarity bit is stored for the guest
// but not applied, as our devices drive asserted/de-asserted rather than wire voltages.

import type { MmioDevice, Persistable } from '../../device.js';
import type { ApicBus, ApicMessage } from '../apic-bus/bus.js';
import type { IoapicState } from './persist.js';

export const IOAPIC_NUM_PINS = 24;
/** MMIO layout: index register, data window, EOI register (version 0x20). */
const IOREGSEL = 0x00;
const IOWIN = 0x10;
const IOAPIC_EOI = 0x40;
/** Indirect registers. */
const IOAPICID = 0x00;
const IOAPICVER = 0x01;
const IOAPICARB = 0x02;
const IOREDTBL_BASE = 0x10;
/** Version register: max redirection entry (23) in bits 23:16, version 0x20 in bits 7:0. */
const IOAPIC_VERSION = ((IOAPIC_NUM_PINS - 1) << 16) | 0x20;
/** Redirection entry low dword bits (82093AA §3.2.4). */
const RTE_VECTOR_MASK = 0xff;
const RTE_DELMOD_SHIFT = 8;
const RTE_DESTMOD_LOGICAL = 1 << 11;
const RTE_DELIVS = 1 << 12;
const RTE_REMOTE_IRR = 1 << 14;
const RTE_TRIGGER_LEVEL = 1 << 15;
const RTE_MASK = 1 << 16;
/** Bits the guest cannot write: delivery status and remote IRR. */
const RTE_READ_ONLY = RTE_DELIVS | RTE_REMOTE_IRR;
const RTE_DEST_SHIFT = 24;

export interface IoapicConfig {
  bus: ApicBus;
  /** IOAPIC ID (as in the MADT); defaults to 0. */
  id?: number;
}

export class Ioapic implements MmioDevice, Persistable<IoapicState> {
  private readonly bus: ApicBus;
  private id: number;
  private ioregsel = 0;
  private readonly low = new Uint32Array(IOAPIC_NUM_PINS);
  private readonly high = new Uint32Array(IOAPIC_NUM_PINS);
  private irr = 0;
  private lineLevels = 0;
  private readonly message: ApicMessage = {
    vector: 0,
    deliveryMode: 0,
    logical: false,
    destination: 0,
    levelTriggered: false,
    assert: true,
  };
  /** Interrupt messages sent (metrics). */
  deliveredCount = 0;

  constructor(config: IoapicConfig) {
    this.bus = config.bus;
    this.id = (config.id ?? 0) & 0xf;
    this.low.fill(RTE_MASK); // all pins masked at reset
    // The remote-IRR handshake: local APIC EOIs for level-triggered vectors come back here.
    this.bus.onEoi((vector) => this.eoi(vector));
  }

  /** Drives input `pin` (0..23). */
  setIrq(pin: number, level: boolean): void {
    if (pin < 0 || pin >= IOAPIC_NUM_PINS) return;
    const bit = 1 << pin;
    const was = (this.lineLevels & bit) !== 0;
    if (level) this.lineLevels |= bit;
    else this.lineLevels &= ~bit;
    const lo = this.low[pin] as number;
    if (lo & RTE_TRIGGER_LEVEL) {
      if (level) {
        this.irr |= bit;
        this.service(pin);
      } else {
        this.irr &= ~bit;
      }
    } else if (level && !was) {
      this.irr |= bit;
      this.service(pin);
    }
  }

  /** EOI for `vector`: clears remote IRR of level pins using it and re-delivers if still asserted. */
  eoi(vector: number): void {
    for (let pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
      const lo = this.low[pin] as number;
      if ((lo & RTE_VECTOR_MASK) !== vector || (lo & RTE_REMOTE_IRR) === 0) continue;
      this.low[pin] = lo & ~RTE_REMOTE_IRR;
      this.service(pin);
    }
  }

  /** Sends the pin's interrupt if it is pending, unmasked and (for level) not awaiting EOI. */
  private service(pin: number): void {
    const bit = 1 << pin;
    if ((this.irr & bit) === 0) return;
    const lo = this.low[pin] as number;
    if (lo & RTE_MASK) return;
    const level = (lo & RTE_TRIGGER_LEVEL) !== 0;
    if (level && lo & RTE_REMOTE_IRR) return;
    const m = this.message;
    m.vector = lo & RTE_VECTOR_MASK;
    m.deliveryMode = (lo >> RTE_DELMOD_SHIFT) & 7;
    m.logical = (lo & RTE_DESTMOD_LOGICAL) !== 0;
    m.destination = (this.high[pin] as number) >>> RTE_DEST_SHIFT;
    m.levelTriggered = level;
    m.assert = true;
    const accepted = this.bus.send(m);
    this.deliveredCount++;
    if (level) {
      // Remote IRR is set when a local APIC accepts the level interrupt (82093AA §3.2.4).
      if (accepted > 0) this.low[pin] = lo | RTE_REMOTE_IRR;
    } else {
      this.irr &= ~bit;
    }
  }

  private readRegister(index: number): number {
    switch (index) {
      case IOAPICID:
        return this.id << 24;
      case IOAPICVER:
        return IOAPIC_VERSION;
      case IOAPICARB:
        return this.id << 24;
      default: {
        const entry = index - IOREDTBL_BASE;
        if (entry < 0 || entry >= IOAPIC_NUM_PINS * 2) return 0xffff_ffff;
        const pin = entry >> 1;
        return (entry & 1 ? this.high[pin] : this.low[pin]) as number;
      }
    }
  }

  private writeRegister(index: number, value: number): void {
    if (index === IOAPICID) {
      this.id = (value >>> 24) & 0xf;
      return;
    }
    const entry = index - IOREDTBL_BASE;
    if (entry < 0 || entry >= IOAPIC_NUM_PINS * 2) return;
    const pin = entry >> 1;
    if (entry & 1) {
      this.high[pin] = value & 0xff00_0000;
      return;
    }
    const old = this.low[pin] as number;
    let lo = ((value & ~RTE_READ_ONLY) | (old & RTE_READ_ONLY)) >>> 0;
    const bit = 1 << pin;
    if ((lo & RTE_TRIGGER_LEVEL) === 0) {
      // Remote IRR is meaningless for edge pins; a pin switched to edge drops it.
      lo &= ~RTE_REMOTE_IRR;
    } else if ((this.lineLevels & bit) !== 0) {
      this.irr |= bit;
    } else {
      this.irr &= ~bit;
    }
    this.low[pin] = lo >>> 0;
    this.service(pin);
  }

  mmioRead(offset: number, size: 1 | 2 | 4): number {
    const aligned = offset & ~3;
    let value: number;
    if (aligned === IOREGSEL) value = this.ioregsel;
    else if (aligned === IOWIN) value = this.readRegister(this.ioregsel);
    else return size === 4 ? 0xffff_ffff : (1 << (size * 8)) - 1;
    const shift = (offset & 3) * 8;
    const v = value >>> shift;
    return size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1);
  }

  mmioWrite(offset: number, _size: 1 | 2 | 4, value: number): void {
    if (offset === IOREGSEL) this.ioregsel = value & 0xff;
    else if (offset === IOWIN) this.writeRegister(this.ioregsel, value >>> 0);
    else if (offset === IOAPIC_EOI) this.eoi(value & 0xff);
  }

  save(): IoapicState {
    return {
      version: 1,
      id: this.id,
      ioregsel: this.ioregsel,
      redirectionLow: Array.from(this.low),
      redirectionHigh: Array.from(this.high),
      irr: this.irr,
      lineLevels: this.lineLevels,
    };
  }

  restore(state: IoapicState): void {
    if (state.version !== 1) throw new Error(`Cannot restore the IOAPIC: state version ${String(state.version)} is not supported`);
    if (state.redirectionLow.length !== IOAPIC_NUM_PINS || state.redirectionHigh.length !== IOAPIC_NUM_PINS) {
      throw new Error(`Cannot restore the IOAPIC: expected ${String(IOAPIC_NUM_PINS)} redirection entries`);
    }
    this.id = state.id & 0xf;
    this.ioregsel = state.ioregsel & 0xff;
    this.low.set(state.redirectionLow);
    this.high.set(state.redirectionHigh);
    this.irr = state.irr;
    this.lineLevels = state.lineLevels;
  }

  /** The raw redirection entry of `pin` (tests, monitor). */
  redirectionEntry(pin: number): { low: number; high: number } {
    return { low: this.low[pin] ?? 0, high: this.high[pin] ?? 0 };
  }
}
