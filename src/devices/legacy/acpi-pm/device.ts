// The ACPI fixed-hardware register blocks (ACPI 6.5 §4.8 "ACPI Hardware Specification"): the
// PM1a event block (PM1_STS + PM1_EN), the PM1a control block (PM1_CNT), the power management
// timer and the GPE0 block, all in one port range starting at ACPI_PM_BASE so the machine wires
// one device. The FADT (src/arch/x86/acpi) must describe exactly these addresses and widths:
// the timer is 24 bits, so the FADT's TMR_VAL_EXT flag stays clear (ACPI_PM_TIMER_VAL_EXT).
//
// The SCI is level-triggered (the MADT overrides IRQ 9 to level): the line is high while any
// enabled status bit is set, and drops when OSPM clears the status with a write of 1.

import {
  ACPI_GPE0,
  ACPI_GPE0_LEN,
  ACPI_PM1A_CNT,
  ACPI_PM1A_EVT,
  ACPI_PM_BASE,
  ACPI_PM_TMR,
  ACPI_S5_SLP_TYP,
} from '../../../arch/x86/layout.js';
import type { DeviceClock, IrqLine, PioDevice, Persistable, TimerHandle } from '../../device.js';
import { checkAcpiPmState, type AcpiPmState } from './persist.js';

/** Bytes from ACPI_PM_BASE to the end of GPE0: register the device with this length. */
export const ACPI_PM_IO_LENGTH = ACPI_GPE0 + ACPI_GPE0_LEN - ACPI_PM_BASE;

/** Our PM timer is 24 bits wide: the FADT's TMR_VAL_EXT flag (ACPI 6.5 Table 5.10, bit 8) must be clear. */
export const ACPI_PM_TIMER_VAL_EXT = false;
/** The PM timer runs at 3.579545 MHz (ACPI 6.5 §4.8.2.1). */
export const PM_TIMER_FREQUENCY_HZ = 3_579_545;

// Offsets within our range.
const PM1_STS = ACPI_PM1A_EVT - ACPI_PM_BASE; // 16 bits
const PM1_EN = PM1_STS + 2; // 16 bits (ACPI 6.5 §4.8.3.1: enable follows status, each half the block)
const PM1_CNT = ACPI_PM1A_CNT - ACPI_PM_BASE; // 16 bits
const PM_TMR = ACPI_PM_TMR - ACPI_PM_BASE; // 32-bit port, 24 bits of count
const GPE0_STS = ACPI_GPE0 - ACPI_PM_BASE; // ACPI_GPE0_LEN / 2 bytes
const GPE0_EN = GPE0_STS + ACPI_GPE0_LEN / 2;

// PM1 status bits (ACPI 6.5 Table 4.16).
export const TMR_STS = 1 << 0;
export const BM_STS = 1 << 4;
export const GBL_STS = 1 << 5;
export const PWRBTN_STS = 1 << 8;
export const SLPBTN_STS = 1 << 9;
export const RTC_STS = 1 << 10;
export const PCIEXP_WAKE_STS = 1 << 14;
export const WAK_STS = 1 << 15;
// PM1 enable bits (ACPI 6.5 Table 4.17).
export const TMR_EN = 1 << 0;
export const GBL_EN = 1 << 5;
export const PWRBTN_EN = 1 << 8;
export const SLPBTN_EN = 1 << 9;
export const RTC_EN = 1 << 10;
const PM1_EN_MASK = TMR_EN | GBL_EN | PWRBTN_EN | SLPBTN_EN | RTC_EN | (1 << 14);
/** Status bits that raise the SCI when their enable is set (same bit positions). */
const PM1_SCI_SOURCES = TMR_STS | GBL_STS | PWRBTN_STS | SLPBTN_STS | RTC_STS;
// PM1 control bits (ACPI 6.5 Table 4.18).
export const SCI_EN = 1 << 0;
export const BM_RLD = 1 << 1;
export const GBL_RLS = 1 << 2;
export const SLP_TYP_SHIFT = 10;
export const SLP_TYP_MASK = 7 << SLP_TYP_SHIFT;
export const SLP_EN = 1 << 13;

const TIMER_MSB_PERIOD_TICKS = 1 << 23; // TMR_STS: bit 23 of the count toggled (§4.8.3.3)
const TIMER_MASK = 0xff_ffff;

export interface AcpiPmConfig {
  /** The SCI (ACPI_SCI_IRQ), level-triggered. */
  sci: IrqLine;
  clock: DeviceClock;
  /** OSPM wrote SLP_TYP = S5 with SLP_EN: the guest asks to power off. */
  onPowerOff?: () => void;
  /** OSPM asked for a sleep state we do not implement (S1-S4); we wake at once (WAK_STS). */
  onSleep?: (slpTyp: number) => void;
}

/** PM timer ticks at `ns`, exact for any `ns` a machine reaches (no 2^53 overflow in the product). */
export function pmTimerTicksAt(ns: number): number {
  const sec = Math.floor(ns / 1e9);
  const rem = ns - sec * 1e9;
  return sec * PM_TIMER_FREQUENCY_HZ + Math.floor((rem * PM_TIMER_FREQUENCY_HZ) / 1e9);
}

/** The first guest time at which the tick count reaches `ticks`. */
function nsAtTicks(ticks: number): number {
  const sec = Math.floor(ticks / PM_TIMER_FREQUENCY_HZ);
  const rem = ticks - sec * PM_TIMER_FREQUENCY_HZ;
  return sec * 1e9 + Math.ceil((rem * 1e9) / PM_TIMER_FREQUENCY_HZ);
}

export class AcpiPm implements PioDevice, Persistable<AcpiPmState> {
  private readonly sci: IrqLine;
  private readonly clock: DeviceClock;
  private readonly onPowerOff: (() => void) | undefined;
  private readonly onSleep: ((slpTyp: number) => void) | undefined;
  private pm1Sts = 0;
  private pm1En = 0;
  private pm1Cnt = SCI_EN;
  private gpeSts = 0;
  private gpeEn = 0;
  /** Added to the clock's tick count: keeps the timer continuous across save/restore. */
  private tickOffset = 0;
  /** Value of floor(ticks / 2^23) when TMR_STS was last cleared. */
  private tmrAckPeriod = 0;
  private sciLevel = false;
  private tmrTimer: TimerHandle | undefined;

  constructor(config: AcpiPmConfig) {
    this.sci = config.sci;
    this.clock = config.clock;
    this.onPowerOff = config.onPowerOff;
    this.onSleep = config.onSleep;
    this.tickOffset = -pmTimerTicksAt(config.clock.nowNs());
  }

  /** Machine reset: everything back to power-on values except the free-running timer. */
  reset(): void {
    this.pm1Sts = 0;
    this.pm1En = 0;
    this.pm1Cnt = SCI_EN;
    this.gpeSts = 0;
    this.gpeEn = 0;
    this.tmrAckPeriod = Math.floor(this.ticks() / TIMER_MSB_PERIOD_TICKS);
    this.armTmrTimer();
    this.updateSci();
  }

  // ---- management plane ----

  /** A power-button press: PWRBTN_STS, and an SCI if OSPM enabled PWRBTN_EN (ACPI 6.5 §4.8.2.2.1). */
  pressPowerButton(): void {
    this.pm1Sts |= PWRBTN_STS;
    this.updateSci();
  }

  /** Sets a general-purpose event status bit (hotplug and other platform events). */
  raiseGpe(bit: number): void {
    this.gpeSts = (this.gpeSts | (1 << bit)) >>> 0;
    this.updateSci();
  }

  /** The 24-bit PM timer value now. */
  timerValue(): number {
    return this.ticks() % (TIMER_MASK + 1);
  }

  private ticks(): number {
    return pmTimerTicksAt(this.clock.nowNs()) + this.tickOffset;
  }

  // ---- guest side ----

  pioRead(offset: number, size: 1 | 2 | 4): number {
    if (offset >= PM_TMR && offset < PM_TMR + 4) {
      // The hot one: Linux's acpi_pm clocksource and its TSC calibration read it in loops.
      const v = this.timerValue() >>> ((offset - PM_TMR) * 8);
      return size === 4 ? v >>> 0 : v & (size === 2 ? 0xffff : 0xff);
    }
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.readByte(offset + i) << (8 * i);
    return v >>> 0;
  }

  pioWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    for (let i = 0; i < size; i++) this.writeByte(offset + i, (value >>> (8 * i)) & 0xff);
    this.updateSci();
  }

  private pm1Status(): number {
    let sts = this.pm1Sts;
    if (Math.floor(this.ticks() / TIMER_MSB_PERIOD_TICKS) !== this.tmrAckPeriod) sts |= TMR_STS;
    return sts;
  }

  private readByte(offset: number): number {
    switch (offset) {
      case PM1_STS:
        return this.pm1Status() & 0xff;
      case PM1_STS + 1:
        return this.pm1Sts >> 8;
      case PM1_EN:
        return this.pm1En & 0xff;
      case PM1_EN + 1:
        return this.pm1En >> 8;
      case PM1_CNT:
        return this.pm1Cnt & 0xff;
      case PM1_CNT + 1:
        return (this.pm1Cnt >> 8) & ~(SLP_EN >> 8); // SLP_EN is write-only, reads 0
    }
    if (offset >= GPE0_STS && offset < GPE0_EN) return (this.gpeSts >>> (8 * (offset - GPE0_STS))) & 0xff;
    if (offset >= GPE0_EN && offset < GPE0_EN + ACPI_GPE0_LEN / 2) return (this.gpeEn >>> (8 * (offset - GPE0_EN))) & 0xff;
    return 0; // reserved bytes inside the range
  }

  private writeByte(offset: number, b: number): void {
    switch (offset) {
      case PM1_STS:
        if (b & TMR_STS) {
          this.tmrAckPeriod = Math.floor(this.ticks() / TIMER_MSB_PERIOD_TICKS);
          this.armTmrTimer();
        }
        this.pm1Sts &= ~b; // write 1 to clear (§4.8.3.1.1)
        return;
      case PM1_STS + 1:
        this.pm1Sts &= ~(b << 8);
        return;
      case PM1_EN:
      case PM1_EN + 1: {
        const shift = 8 * (offset - PM1_EN);
        this.pm1En = ((this.pm1En & ~(0xff << shift)) | (b << shift)) & PM1_EN_MASK;
        this.armTmrTimer();
        return;
      }
      case PM1_CNT:
        // SCI_EN stays set: with SMI_CMD = 0 there is no legacy mode to return to (§4.8.3.2.1).
        this.pm1Cnt = (this.pm1Cnt & 0xff00) | (b & (BM_RLD | GBL_RLS)) | SCI_EN;
        return;
      case PM1_CNT + 1: {
        const hi = b << 8;
        this.pm1Cnt = (this.pm1Cnt & 0xff) | (hi & SLP_TYP_MASK);
        if (hi & SLP_EN) this.sleep((hi & SLP_TYP_MASK) >> SLP_TYP_SHIFT);
        return;
      }
    }
    if (offset >= GPE0_STS && offset < GPE0_EN) {
      this.gpeSts = (this.gpeSts & ~(b << (8 * (offset - GPE0_STS)))) >>> 0;
    } else if (offset >= GPE0_EN && offset < GPE0_EN + ACPI_GPE0_LEN / 2) {
      const shift = 8 * (offset - GPE0_EN);
      this.gpeEn = ((this.gpeEn & ~(0xff << shift)) | (b << shift)) >>> 0;
    }
  }

  /** SLP_EN written (ACPI 6.5 §4.8.3.2.1, §16.1): S5 powers off; other states wake at once. */
  private sleep(slpTyp: number): void {
    if (slpTyp === ACPI_S5_SLP_TYP) {
      this.onPowerOff?.();
      return;
    }
    this.onSleep?.(slpTyp);
    // OSPM polls WAK_STS after entering S1-S3: report the wake so it never spins forever.
    this.pm1Sts |= WAK_STS;
  }

  private updateSci(): void {
    const level =
      (this.pm1Cnt & SCI_EN) !== 0 && ((this.pm1Status() & this.pm1En & PM1_SCI_SOURCES) !== 0 || (this.gpeSts & this.gpeEn) !== 0);
    if (level !== this.sciLevel) {
      this.sciLevel = level;
      this.sci.set(level);
    }
  }

  /** While TMR_EN is set, a timer raises the SCI when bit 23 of the count next toggles. */
  private armTmrTimer(): void {
    this.tmrTimer?.cancel();
    this.tmrTimer = undefined;
    if (!(this.pm1En & TMR_EN)) return;
    const nextTicks = (this.tmrAckPeriod + 1) * TIMER_MSB_PERIOD_TICKS - this.tickOffset;
    const deadline = Math.max(this.clock.nowNs(), nsAtTicks(nextTicks));
    this.tmrTimer = this.clock.setTimer(deadline, () => {
      this.tmrTimer = undefined;
      this.updateSci();
    });
  }

  // ---- persistence ----

  save(): AcpiPmState {
    const ticks = this.ticks();
    return {
      version: 1,
      pm1Sts: this.pm1Sts,
      pm1En: this.pm1En,
      pm1Cnt: this.pm1Cnt,
      gpeSts: this.gpeSts,
      gpeEn: this.gpeEn,
      timerTicks: ticks,
      tmrAckPeriod: this.tmrAckPeriod,
    };
  }

  restore(state: AcpiPmState): void {
    checkAcpiPmState(state);
    this.pm1Sts = state.pm1Sts & 0xffff;
    this.pm1En = state.pm1En & PM1_EN_MASK;
    this.pm1Cnt = (state.pm1Cnt & 0xffff & ~SLP_EN) | SCI_EN;
    this.gpeSts = state.gpeSts >>> 0;
    this.gpeEn = state.gpeEn >>> 0;
    this.tickOffset = state.timerTicks - pmTimerTicksAt(this.clock.nowNs());
    this.tmrAckPeriod = state.tmrAckPeriod;
    this.armTmrTimer();
    this.sciLevel = (this.pm1Status() & this.pm1En & PM1_SCI_SOURCES) !== 0 || (this.gpeSts & this.gpeEn) !== 0;
    this.sci.set(this.sciLevel);
  }

  dispose(): void {
    this.tmrTimer?.cancel();
    this.tmrTimer = undefined;
  }
}
