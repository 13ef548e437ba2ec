// The Motorola MC146818A real-time clock and CMOS RAM behind ports 0x70 (index, bit 7 = NMI
// disable) and 0x71 (data), as on every PC. Register behaviour follows the MC146818A datasheet
// ("Address Map", "Register A"..."Register D", "Interrupts"); the CMOS RAM layout past 0x0f is the
// IBM AT convention plus the bytes SeaBIOS/QEMU use for large memory (0x5b-0x5d) and CPU count (0x5f).
//
// Time is the host wall clock at machine creation advanced by guest time (DeviceClock), not by
// host time: a paused or slow guest sees its clock flow at its own pace, as under any emulator.
// The registers are computed on read from that time, so nothing ticks while nobody looks; timers
// are armed only for the interrupts the guest enabled (periodic, update-ended, alarm).

import type { DeviceClock, IrqLine, PioDevice, Persistable, TimerHandle } from '../../device.js';
import { decodeField, decodeHour, encodeField, encodeHour, fieldsFromMs, msFromFields, type RtcTimeFields } from './calendar.js';
import { checkRtcState, type RtcState } from './persist.js';

/** Ports decoded: 0x70 index, 0x71 data. */
export const RTC_IO_LENGTH = 2;

// Register indices (MC146818A address map; 0x32 century is the IBM AT convention, named by the
// ACPI FADT CENTURY field).
export const RTC_SECONDS = 0x00;
export const RTC_SECONDS_ALARM = 0x01;
export const RTC_MINUTES = 0x02;
export const RTC_MINUTES_ALARM = 0x03;
export const RTC_HOURS = 0x04;
export const RTC_HOURS_ALARM = 0x05;
export const RTC_DAY_OF_WEEK = 0x06;
export const RTC_DAY_OF_MONTH = 0x07;
export const RTC_MONTH = 0x08;
export const RTC_YEAR = 0x09;
export const RTC_REG_A = 0x0a;
export const RTC_REG_B = 0x0b;
export const RTC_REG_C = 0x0c;
export const RTC_REG_D = 0x0d;
export const RTC_CENTURY = 0x32;

// Register A.
export const RTC_UIP = 0x80;
const RTC_DIV_MASK = 0x70;
/** DV2-0 = 010: 32.768 kHz time base, divider running. */
export const RTC_REF_CLCK_32KHZ = 0x20;
const RTC_RATE_MASK = 0x0f;
// Register B.
export const RTC_SET = 0x80;
export const RTC_PIE = 0x40;
export const RTC_AIE = 0x20;
export const RTC_UIE = 0x10;
export const RTC_SQWE = 0x08;
export const RTC_DM_BINARY = 0x04;
export const RTC_24H = 0x02;
export const RTC_DST_EN = 0x01;
// Register C.
export const RTC_IRQF = 0x80;
export const RTC_PF = 0x40;
export const RTC_AF = 0x20;
export const RTC_UF = 0x10;
// Register D.
export const RTC_VRT = 0x80;

// CMOS RAM bytes (IBM AT layout; 0x5b-0x5f as SeaBIOS reads them).
export const CMOS_EQUIPMENT = 0x14;
export const CMOS_BASE_MEM_LO = 0x15;
export const CMOS_EXT_MEM_LO = 0x17; // KiB above 1 MiB, copy of 0x30/0x31
export const CMOS_CHECKSUM_HI = 0x2e; // sum of 0x10-0x2d, big-endian
export const CMOS_EXT_MEM_ACTUAL_LO = 0x30;
export const CMOS_MEM_ABOVE_16M_LO = 0x34; // 64 KiB units above 16 MiB, below 4 GiB
export const CMOS_MEM_ABOVE_4G_LO = 0x5b; // 64 KiB units above 4 GiB, 3 bytes
export const CMOS_CPU_COUNT_MINUS_1 = 0x5f;

/** UIP is high for this long before each update (datasheet, "Update Cycle"). */
const UIP_LEAD_NS = 244_000;
const NS_PER_SEC = 1_000_000_000;
/** One cycle of the 32.768 kHz time base, ns (exact in binary floating point). */
const TIME_BASE_PERIOD_NS = NS_PER_SEC / 32768;
const KIB = 1024;
const MIB = 1024 * KIB;

export interface RtcConfig {
  /** The RTC interrupt output (ISA IRQ 8). */
  irq: IrqLine;
  clock: DeviceClock;
  /** Wall-clock time shown at creation, ms since the Unix epoch (UTC). Default: the host's `Date.now()`. */
  startTimeMs?: number;
  /** Guest RAM below 4 GiB, bytes (for the CMOS memory-size bytes). */
  memBelow4GiBBytes: number;
  /** Guest RAM mapped above 4 GiB, bytes. */
  memAbove4GiBBytes?: number;
  cpuCount?: number;
}

/** Periodic interrupt period for register A rate bits (datasheet Table 5, 32.768 kHz time base), or 0 for none. */
export function periodicPeriodNs(rate: number): number {
  if (rate === 0) return 0;
  // Rates 1 and 2 repeat the periods of rates 8 and 9 (the prescaler taps wrap).
  const k = rate <= 2 ? rate + 7 : rate;
  return (1 << (k - 1)) * TIME_BASE_PERIOD_NS;
}

export class CmosRtc implements PioDevice, Persistable<RtcState> {
  private readonly irq: IrqLine;
  private readonly clock: DeviceClock;
  private readonly ram = new Uint8Array(128);
  private index = 0;
  private nmiDisabled = false;
  private regA = RTC_REF_CLCK_32KHZ | 0x06; // 1024 Hz rate, as the BIOS leaves it
  private regB = RTC_24H;
  private regC = 0;
  /** Wall time (ms) at guest time `baseNs`, while the divider runs. */
  private baseMs: number;
  private baseNs: number;
  /** The divider chain is held in reset: time stands still at `haltedMs`. */
  private halted = false;
  private haltedMs = 0;
  /** Fields written while SET = 1 (the update cycle is inhibited), else null. */
  private setFields: RtcTimeFields | null = null;
  private irqLevel = false;
  private periodicTimer: TimerHandle | undefined;
  private periodicDeadlineNs = 0;
  private secondTimer: TimerHandle | undefined;

  constructor(config: RtcConfig) {
    this.irq = config.irq;
    this.clock = config.clock;
    this.baseMs = config.startTimeMs ?? Date.now();
    this.baseNs = config.clock.nowNs();
    this.initRam(config.memBelow4GiBBytes, config.memAbove4GiBBytes ?? 0, config.cpuCount ?? 1);
  }

  private initRam(lowBytes: number, highBytes: number, cpuCount: number): void {
    const put16 = (at: number, v: number): void => {
      this.ram[at] = v & 0xff;
      this.ram[at + 1] = (v >> 8) & 0xff;
    };
    this.ram[CMOS_EQUIPMENT] = 0x02; // math coprocessor present
    put16(CMOS_BASE_MEM_LO, 640); // KiB of conventional memory
    const extKib = Math.min(0xffff, Math.max(0, Math.floor((lowBytes - MIB) / KIB)));
    put16(CMOS_EXT_MEM_LO, extKib);
    put16(CMOS_EXT_MEM_ACTUAL_LO, extKib);
    put16(CMOS_MEM_ABOVE_16M_LO, Math.min(0xffff, Math.max(0, Math.floor((lowBytes - 16 * MIB) / (64 * KIB)))));
    const above4g = Math.min(0xff_ffff, Math.floor(highBytes / (64 * KIB)));
    this.ram[CMOS_MEM_ABOVE_4G_LO] = above4g & 0xff;
    this.ram[CMOS_MEM_ABOVE_4G_LO + 1] = (above4g >> 8) & 0xff;
    this.ram[CMOS_MEM_ABOVE_4G_LO + 2] = (above4g >> 16) & 0xff;
    this.ram[CMOS_CPU_COUNT_MINUS_1] = Math.max(0, cpuCount - 1) & 0xff;
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += this.ram[i] ?? 0;
    this.ram[CMOS_CHECKSUM_HI] = (sum >> 8) & 0xff;
    this.ram[CMOS_CHECKSUM_HI + 1] = sum & 0xff;
  }

  /** Port 0x70 bit 7 as last written: the machine may consult it before delivering an NMI. */
  get nmiMasked(): boolean {
    return this.nmiDisabled;
  }

  /** The wall-clock time the RTC currently shows, ms since the epoch (for tests and `info`). */
  nowMs(): number {
    if (this.halted) return this.haltedMs;
    return this.baseMs + (this.clock.nowNs() - this.baseNs) / 1e6;
  }

  /**
   * Machine reset: the RESET pin clears the interrupt enables and flags (datasheet, "RESET");
   * time and CMOS RAM are battery-backed and survive.
   */
  reset(): void {
    this.regB &= ~(RTC_PIE | RTC_AIE | RTC_UIE | RTC_SQWE);
    this.regC = 0;
    this.updateIrq();
    this.armTimers();
  }

  // ---- guest side ----

  pioRead(offset: number, size: 1 | 2 | 4): number {
    // The index register is write-only on PC chipsets; reads float.
    const v = offset === 1 ? this.readRegister(this.index) : 0xff;
    return size === 1 ? v : (v | (size === 2 ? 0xff00 : 0xffff_ff00)) >>> 0;
  }

  pioWrite(offset: number, _size: 1 | 2 | 4, value: number): void {
    if (offset === 0) {
      this.index = value & 0x7f;
      this.nmiDisabled = (value & 0x80) !== 0;
    } else if (offset === 1) {
      this.writeRegister(this.index, value & 0xff);
    }
  }

  private get binary(): boolean {
    return (this.regB & RTC_DM_BINARY) !== 0;
  }
  private get h24(): boolean {
    return (this.regB & RTC_24H) !== 0;
  }

  private currentFields(): RtcTimeFields {
    return this.setFields !== null ? { ...this.setFields } : fieldsFromMs(this.nowMs());
  }

  readRegister(reg: number): number {
    switch (reg) {
      case RTC_SECONDS:
      case RTC_MINUTES:
      case RTC_HOURS:
      case RTC_DAY_OF_WEEK:
      case RTC_DAY_OF_MONTH:
      case RTC_MONTH:
      case RTC_YEAR:
      case RTC_CENTURY:
        return this.encodeTimeRegister(reg, this.currentFields());
      case RTC_REG_A:
        return this.regA | (this.updateInProgress() ? RTC_UIP : 0);
      case RTC_REG_B:
        return this.regB;
      case RTC_REG_C: {
        // Reading C clears every flag and releases the IRQ output (datasheet, "Register C").
        const v = this.regC;
        this.regC = 0;
        this.updateIrq();
        return v;
      }
      case RTC_REG_D:
        return RTC_VRT; // the battery is fine
      default:
        return this.ram[reg & 0x7f] ?? 0xff;
    }
  }

  private encodeTimeRegister(reg: number, f: RtcTimeFields): number {
    const bin = this.binary;
    switch (reg) {
      case RTC_SECONDS:
        return encodeField(f.second, bin);
      case RTC_MINUTES:
        return encodeField(f.minute, bin);
      case RTC_HOURS:
        return encodeHour(f.hour, bin, this.h24);
      case RTC_DAY_OF_WEEK:
        return encodeField(f.dayOfWeek, bin);
      case RTC_DAY_OF_MONTH:
        return encodeField(f.dayOfMonth, bin);
      case RTC_MONTH:
        return encodeField(f.month, bin);
      case RTC_YEAR:
        return encodeField(f.year % 100, bin);
      default:
        return encodeField(Math.floor(f.year / 100), bin);
    }
  }

  writeRegister(reg: number, value: number): void {
    switch (reg) {
      case RTC_SECONDS:
      case RTC_MINUTES:
      case RTC_HOURS:
      case RTC_DAY_OF_WEEK:
      case RTC_DAY_OF_MONTH:
      case RTC_MONTH:
      case RTC_YEAR:
      case RTC_CENTURY:
        this.writeTimeRegister(reg, value);
        return;
      case RTC_REG_A:
        this.writeRegA(value);
        return;
      case RTC_REG_B:
        this.writeRegB(value);
        return;
      case RTC_REG_C:
      case RTC_REG_D:
        return; // read-only
      default:
        this.ram[reg & 0x7f] = value;
    }
  }

  private writeTimeRegister(reg: number, value: number): void {
    const f = this.currentFields();
    const bin = this.binary;
    switch (reg) {
      case RTC_SECONDS:
        f.second = decodeField(value, bin);
        break;
      case RTC_MINUTES:
        f.minute = decodeField(value, bin);
        break;
      case RTC_HOURS:
        f.hour = decodeHour(value, bin, this.h24);
        break;
      case RTC_DAY_OF_WEEK:
        // Derived from the date here; a stored weekday that disagrees with it serves no one.
        return;
      case RTC_DAY_OF_MONTH:
        f.dayOfMonth = decodeField(value, bin);
        break;
      case RTC_MONTH:
        f.month = decodeField(value, bin);
        break;
      case RTC_YEAR:
        f.year = Math.floor(f.year / 100) * 100 + decodeField(value, bin);
        break;
      default:
        f.year = decodeField(value, bin) * 100 + (f.year % 100);
    }
    if (this.setFields !== null) {
      this.setFields = f;
    } else {
      // Without SET the update cycle would carry on from the new value: keep the sub-second phase.
      const now = this.nowMs();
      this.setTimeMs(msFromFields(f) + (now - Math.floor(now / 1000) * 1000));
    }
  }

  private setTimeMs(ms: number): void {
    if (this.halted) {
      this.haltedMs = ms;
    } else {
      this.baseMs = ms;
      this.baseNs = this.clock.nowNs();
    }
    this.armTimers();
  }

  private writeRegA(value: number): void {
    const wasRunning = this.running;
    this.regA = value & ~RTC_UIP;
    const running = this.running;
    if (wasRunning && !running) {
      this.haltedMs = this.nowMs();
      this.halted = true;
    } else if (!wasRunning && running) {
      // Leaving divider reset, the first update comes 500 ms later (datasheet, "Divider Reset").
      this.halted = false;
      this.baseMs = Math.floor(this.haltedMs / 1000) * 1000 + 500;
      this.baseNs = this.clock.nowNs();
    }
    this.armTimers();
  }

  private writeRegB(value: number): void {
    const old = this.regB;
    let v = value;
    if (v & RTC_SET && !(old & RTC_SET)) {
      // SET freezes the user-visible registers and clears UIE (datasheet, "Register B").
      this.setFields = fieldsFromMs(this.nowMs());
      v &= ~RTC_UIE;
    } else if (!(v & RTC_SET) && old & RTC_SET && this.setFields !== null) {
      // Releasing SET starts the clock from what was written, at the start of that second.
      const f = this.setFields;
      this.setFields = null;
      this.regB = v;
      this.setTimeMs(msFromFields(f));
    }
    this.regB = v;
    this.recomputeIrqf();
    this.armTimers();
  }

  private get running(): boolean {
    return (this.regA & RTC_DIV_MASK) === RTC_REF_CLCK_32KHZ;
  }

  /** UIP: high during the 244 µs before each once-a-second update, never while SET or the divider is held. */
  private updateInProgress(): boolean {
    if (!this.running || this.regB & RTC_SET) return false;
    const elapsedNs = this.clock.nowNs() - this.baseNs;
    const phaseNs = ((this.baseMs % 1000) * 1e6 + elapsedNs) % NS_PER_SEC;
    return phaseNs >= NS_PER_SEC - UIP_LEAD_NS;
  }

  /** IRQF is the OR of each flag with its enable (datasheet, "Register C"). */
  private recomputeIrqf(): void {
    const flags = this.regC & (RTC_PF | RTC_AF | RTC_UF);
    // Register B's PIE/AIE/UIE (bits 6-4) line up with register C's PF/AF/UF.
    const enabled = this.regB & (RTC_PIE | RTC_AIE | RTC_UIE);
    this.regC = flags | (flags & enabled ? RTC_IRQF : 0);
    this.updateIrq();
  }

  private updateIrq(): void {
    const level = (this.regC & RTC_IRQF) !== 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.set(level);
    }
  }

  // ---- timers: armed only for interrupts the guest enabled ----

  private armTimers(): void {
    this.armPeriodic();
    this.armSecond();
  }

  private armPeriodic(): void {
    const period = periodicPeriodNs(this.regA & RTC_RATE_MASK);
    const want = this.running && this.regB & RTC_PIE && period > 0;
    if (!want) {
      this.periodicTimer?.cancel();
      this.periodicTimer = undefined;
      return;
    }
    this.periodicTimer?.cancel();
    this.periodicDeadlineNs = this.clock.nowNs() + period;
    this.periodicTimer = this.clock.setTimer(this.periodicDeadlineNs, this.onPeriodic);
  }

  private readonly onPeriodic = (): void => {
    const period = periodicPeriodNs(this.regA & RTC_RATE_MASK);
    this.regC |= RTC_PF;
    this.recomputeIrqf();
    if (period === 0) return;
    // Next tick from the previous deadline, so the rate does not drift with run-loop latency;
    // skip ticks the run loop missed instead of firing them in a burst.
    const now = this.clock.nowNs();
    let next = this.periodicDeadlineNs + period;
    if (next <= now) next = now + period - ((now - this.periodicDeadlineNs) % period);
    this.periodicDeadlineNs = next;
    this.periodicTimer = this.clock.setTimer(next, this.onPeriodic);
  };

  private armSecond(): void {
    this.secondTimer?.cancel();
    this.secondTimer = undefined;
    const want = this.running && !(this.regB & RTC_SET) && this.regB & (RTC_UIE | RTC_AIE);
    if (!want) return;
    const ms = this.nowMs();
    const toNextMs = Math.floor(ms / 1000) * 1000 + 1000 - ms;
    this.secondTimer = this.clock.setTimer(this.clock.nowNs() + Math.max(1, Math.ceil(toNextMs * 1e6)), this.onSecond);
  }

  private readonly onSecond = (): void => {
    this.regC |= RTC_UF;
    if (this.alarmMatches(fieldsFromMs(this.nowMs() + 0.5))) this.regC |= RTC_AF;
    this.recomputeIrqf();
    this.armSecond();
  };

  /** Alarm bytes match the time; a byte with both top bits set matches anything (datasheet, "Alarm"). */
  private alarmMatches(f: RtcTimeFields): boolean {
    const bin = this.binary;
    const dontCare = (v: number): boolean => (v & 0xc0) === 0xc0;
    const s = this.ram[RTC_SECONDS_ALARM] ?? 0;
    const m = this.ram[RTC_MINUTES_ALARM] ?? 0;
    const h = this.ram[RTC_HOURS_ALARM] ?? 0;
    return (
      (dontCare(s) || decodeField(s, bin) === f.second) &&
      (dontCare(m) || decodeField(m, bin) === f.minute) &&
      (dontCare(h) || decodeHour(h, bin, this.h24) === f.hour)
    );
  }

  // ---- persistence ----

  save(): RtcState {
    return {
      version: 1,
      index: this.index,
      nmiDisabled: this.nmiDisabled,
      ram: Array.from(this.ram),
      regA: this.regA,
      regB: this.regB,
      regC: this.regC,
      timeMs: this.nowMs(),
      halted: this.halted,
      setFields: this.setFields === null ? null : { ...this.setFields },
    };
  }

  restore(state: RtcState): void {
    checkRtcState(state);
    this.index = state.index & 0x7f;
    this.nmiDisabled = state.nmiDisabled;
    this.ram.set(state.ram);
    this.regA = state.regA & ~RTC_UIP;
    this.regB = state.regB & 0xff;
    this.regC = state.regC & 0xf0;
    this.halted = state.halted;
    if (state.halted) {
      this.haltedMs = state.timeMs;
    } else {
      this.baseMs = state.timeMs;
      this.baseNs = this.clock.nowNs();
    }
    this.setFields = state.setFields === null ? null : { ...state.setFields };
    this.irqLevel = (this.regC & RTC_IRQF) !== 0;
    this.irq.set(this.irqLevel);
    this.armTimers();
  }

  /** Stops the device's timers (machine teardown). */
  dispose(): void {
    this.periodicTimer?.cancel();
    this.secondTimer?.cancel();
    this.periodicTimer = undefined;
    this.secondTimer = undefined;
  }
}
