// The 8254 programmable interval timer (ports 0x40-0x43) and system control port B (0x61) whose
// bit 0 gates channel 2 and bit 5 reads channel 2's OUT, as Linux's PIT TSC calibration uses
// (arch/x86/kernel/tsc.c: pit_calibrate_tsc, quick_pit_calibrate). Counter behaviour follows the
// Intel 8254 datasheet (modes 0-5, counter latch, read-back command, status byte).
//
// The counters are not stepped: each one keeps the guest time its count was loaded at, and every
// read derives the count and OUT from DeviceClock.nowNs(). Only channel 0 arms a timer, and only
// for the next rising edge of OUT, so an idle or stopped PIT costs nothing.

import type { DeviceClock, IrqLine, Persistable, PioDevice, TimerHandle } from '../../device.js';
import type { PitState } from './persist.js';

/** The 8254 input clock on the PC: 14.31818 MHz / 12. */
export const PIT_CLOCK_HZ = 1_193_182;
const NS_PER_SECOND = 1e9;

/** Control word (port 0x43) fields, 8254 datasheet "Control Word Format". */
const CW_SC_SHIFT = 6;
const CW_RW_SHIFT = 4;
const CW_M_SHIFT = 1;
const CW_BCD = 0x01;
const SC_READ_BACK = 3;
/** Read-back command: bit 5 = /COUNT, bit 4 = /STATUS, bits 3-1 = counters 2, 1, 0. */
const RB_NOT_COUNT = 0x20;
const RB_NOT_STATUS = 0x10;
/** Status byte: bit 7 OUT, bit 6 NULL COUNT, bits 5-0 as programmed. */
const STATUS_OUT = 0x80;
const STATUS_NULL_COUNT = 0x40;
/** Port 0x61 bits (PC/AT system control port B). */
const PORTB_GATE2 = 0x01;
const PORTB_SPEAKER = 0x02;
const PORTB_REFRESH = 0x10;
const PORTB_OUT2 = 0x20;

function ticksFromNs(ns: number): number {
  return Math.floor((ns * PIT_CLOCK_HZ) / NS_PER_SECOND);
}
function nsFromTicks(ticks: number): number {
  return Math.ceil((ticks * NS_PER_SECOND) / PIT_CLOCK_HZ);
}
function fromBcd(v: number): number {
  return ((v >> 12) & 0xf) * 1000 + ((v >> 8) & 0xf) * 100 + ((v >> 4) & 0xf) * 10 + (v & 0xf);
}
function toBcd(v: number): number {
  return ((Math.floor(v / 1000) % 10) << 12) | ((Math.floor(v / 100) % 10) << 8) | ((Math.floor(v / 10) % 10) << 4) | (v % 10);
}

class PitChannel {
  mode = 0;
  rwMode = 3;
  bcd = false;
  reload = 0;
  armed = false;
  running = false;
  baseTicks = 0;
  startNs = 0;
  gate: boolean;
  nullCount = true;
  latchedCount = -1;
  latchedHighNext = false;
  latchedStatus = -1;
  readHighNext = false;
  writeHighNext = false;
  writeLowByte = 0;
  nextEvent = 1;

  constructor(gate: boolean) {
    this.gate = gate;
  }

  elapsedTicks(nowNs: number): number {
    return this.running ? this.baseTicks + ticksFromNs(nowNs - this.startNs) : this.baseTicks;
  }

  /** The counting element's value at `t` ticks after load, in binary. */
  countAt(t: number): number {
    const n = this.reload;
    if (!this.armed || n === 0) return this.reload & 0xffff;
    switch (this.mode) {
      case 2:
        return n - (t % n);
      case 3: {
        const high = Math.ceil(n / 2);
        const p = t % n;
        // Mode 3 decrements by two; an odd count spends one extra clock in the high half.
        return p < high ? (n - 2 * p) & ~1 : n - 2 * (p - high);
      }
      default: {
        const modulus = this.bcd ? 10000 : 65536;
        return (((n - t) % modulus) + modulus) % modulus;
      }
    }
  }

  outAt(t: number): boolean {
    const n = this.reload;
    if (!this.armed || n === 0) return this.mode !== 0;
    switch (this.mode) {
      case 0:
      case 1:
        return t >= n;
      case 2:
        return t % n !== n - 1;
      case 3:
        return t % n < Math.ceil(n / 2);
      default: // 4, 5: one clock low at terminal count
        return t !== n;
    }
  }

  controlBits(): number {
    return (this.rwMode << CW_RW_SHIFT) | (this.mode << CW_M_SHIFT) | (this.bcd ? CW_BCD : 0);
  }
}

export interface PitConfig {
  clock: DeviceClock;
  /** IRQ 0 (channel 0 OUT); an edge input on the PIC and the IOAPIC. */
  irq?: IrqLine;
}

export class Pit implements Persistable<PitState> {
  private readonly clock: DeviceClock;
  private readonly irq: IrqLine | undefined;
  private readonly channels: [PitChannel, PitChannel, PitChannel] = [
    new PitChannel(true),
    new PitChannel(true),
    new PitChannel(false),
  ];
  private speakerData = false;
  private refreshToggle = false;
  private irqLevel = false;
  private timer: TimerHandle | undefined;
  private readonly onTimerFn = (): void => this.onTimer();
  /** Channel 0 rising edges delivered (metrics). */
  irqCount = 0;

  /** Register at PIT_PORT, 4 ports. */
  readonly pio: PioDevice;
  /** Register at SYSTEM_CONTROL_PORT_B, 1 port. */
  readonly portBPio: PioDevice;

  constructor(config: PitConfig) {
    this.clock = config.clock;
    this.irq = config.irq;
    this.pio = {
      pioRead: (offset) => (offset < 3 ? this.readCounter(offset) : 0xff),
      pioWrite: (offset, _size, value) => {
        if (offset < 3) this.writeCounter(offset, value & 0xff);
        else this.writeControl(value & 0xff);
      },
    };
    this.portBPio = {
      pioRead: () => this.readPortB(),
      pioWrite: (_offset, _size, value) => this.writePortB(value & 0xff),
    };
  }

  private channel(index: number): PitChannel {
    return this.channels[index] as PitChannel;
  }

  /** Channel 2's OUT, as port 0x61 bit 5 shows it. */
  out2(): boolean {
    const ch = this.channels[2];
    return ch.outAt(ch.elapsedTicks(this.clock.nowNs()));
  }

  private readPortB(): number {
    // Bit 4 toggles with DRAM refresh on real boards; flipping per read lets delay loops progress.
    this.refreshToggle = !this.refreshToggle;
    return (
      (this.channels[2].gate ? PORTB_GATE2 : 0) |
      (this.speakerData ? PORTB_SPEAKER : 0) |
      (this.refreshToggle ? PORTB_REFRESH : 0) |
      (this.out2() ? PORTB_OUT2 : 0)
    );
  }

  private writePortB(value: number): void {
    this.speakerData = (value & PORTB_SPEAKER) !== 0;
    this.setGate(2, (value & PORTB_GATE2) !== 0);
  }

  private setGate(index: number, gate: boolean): void {
    const ch = this.channel(index);
    if (ch.gate === gate) return;
    const now = this.clock.nowNs();
    ch.gate = gate;
    switch (ch.mode) {
      case 0:
      case 4:
        // Gate low suspends counting; high resumes it (8254 datasheet, modes 0 and 4).
        if (!ch.armed) break;
        if (!gate) {
          ch.baseTicks = ch.elapsedTicks(now);
          ch.running = false;
        } else {
          ch.startNs = now;
          ch.running = true;
        }
        break;
      case 1:
      case 5:
        // A rising gate (re)triggers the count.
        if (gate && ch.reload !== 0) this.startCounting(ch, now);
        break;
      default:
        // Modes 2 and 3: gate low stops counting with OUT high; the rising edge reloads.
        if (!ch.armed) break;
        if (!gate) {
          ch.baseTicks = 0;
          ch.running = false;
        } else {
          this.startCounting(ch, now);
        }
    }
    if (index === 0) this.schedule();
  }

  private startCounting(ch: PitChannel, nowNs: number): void {
    ch.armed = true;
    ch.baseTicks = 0;
    ch.startNs = nowNs;
    ch.running = ch.gate || ch.mode === 1 || ch.mode === 5;
    ch.nextEvent = 1;
  }

  private writeControl(value: number): void {
    const sc = value >> CW_SC_SHIFT;
    if (sc === SC_READ_BACK) {
      for (let i = 0; i < 3; i++) {
        if ((value & (2 << i)) === 0) continue;
        const ch = this.channel(i);
        if ((value & RB_NOT_COUNT) === 0) this.latchCount(ch);
        if ((value & RB_NOT_STATUS) === 0 && ch.latchedStatus < 0) {
          const out = ch.outAt(ch.elapsedTicks(this.clock.nowNs()));
          ch.latchedStatus = (out ? STATUS_OUT : 0) | (ch.nullCount ? STATUS_NULL_COUNT : 0) | ch.controlBits();
        }
      }
      return;
    }
    const ch = this.channel(sc);
    const rw = (value >> CW_RW_SHIFT) & 3;
    if (rw === 0) {
      this.latchCount(ch);
      return;
    }
    ch.rwMode = rw;
    let mode = (value >> CW_M_SHIFT) & 7;
    if (mode > 5) mode -= 4; // 6 and 7 alias modes 2 and 3
    ch.mode = mode;
    ch.bcd = (value & CW_BCD) !== 0;
    ch.armed = false;
    ch.running = false;
    ch.baseTicks = 0;
    ch.reload = 0;
    ch.nullCount = true;
    ch.latchedCount = -1;
    ch.latchedStatus = -1;
    ch.readHighNext = false;
    ch.writeHighNext = false;
    if (sc === 0) this.schedule();
  }

  private latchCount(ch: PitChannel): void {
    if (ch.latchedCount >= 0) return; // a second latch before the read is ignored
    ch.latchedCount = this.currentCount(ch);
    ch.latchedHighNext = false;
  }

  private currentCount(ch: PitChannel): number {
    const count = ch.countAt(ch.elapsedTicks(this.clock.nowNs()));
    const wrapped = ch.bcd ? count % 10000 : count & 0xffff;
    return ch.bcd ? toBcd(wrapped) : wrapped;
  }

  private readCounter(index: number): number {
    const ch = this.channel(index);
    if (ch.latchedStatus >= 0) {
      const s = ch.latchedStatus;
      ch.latchedStatus = -1;
      return s;
    }
    if (ch.latchedCount >= 0) {
      const c = ch.latchedCount;
      if (ch.rwMode === 1) {
        ch.latchedCount = -1;
        return c & 0xff;
      }
      if (ch.rwMode === 2) {
        ch.latchedCount = -1;
        return c >> 8;
      }
      if (!ch.latchedHighNext) {
        ch.latchedHighNext = true;
        return c & 0xff;
      }
      ch.latchedCount = -1;
      ch.latchedHighNext = false;
      return c >> 8;
    }
    const c = this.currentCount(ch);
    if (ch.rwMode === 1) return c & 0xff;
    if (ch.rwMode === 2) return c >> 8;
    ch.readHighNext = !ch.readHighNext;
    return ch.readHighNext ? c & 0xff : c >> 8;
  }

  private writeCounter(index: number, value: number): void {
    const ch = this.channel(index);
    let raw: number;
    if (ch.rwMode === 1) {
      raw = value;
    } else if (ch.rwMode === 2) {
      raw = value << 8;
    } else if (!ch.writeHighNext) {
      ch.writeHighNext = true;
      ch.writeLowByte = value;
      // Mode 0: writing the first byte stops the count (8254 datasheet, mode 0).
      if (ch.mode === 0) {
        ch.armed = false;
        ch.running = false;
        if (index === 0) this.schedule();
      }
      return;
    } else {
      ch.writeHighNext = false;
      raw = ch.writeLowByte | (value << 8);
    }
    let n = ch.bcd ? fromBcd(raw) : raw;
    if (n === 0) n = ch.bcd ? 10000 : 65536;
    ch.reload = n;
    ch.nullCount = false;
    // Modes 1 and 5 wait for a gate trigger; the others start counting now.
    if (ch.mode === 1 || ch.mode === 5) {
      ch.armed = false;
    } else {
      this.startCounting(ch, this.clock.nowNs());
    }
    if (index === 0) this.schedule();
  }

  /**
   * The tick (after load) of channel 0's next rising OUT edge for event `k`, or -1 if none.
   * Mode 2 and 3 rise at each multiple of the count; 0 and 1 once at terminal count; 4 and 5
   * one clock after it.
   */
  private eventTick(ch: PitChannel, k: number): number {
    switch (ch.mode) {
      case 2:
      case 3:
        return k * ch.reload;
      case 0:
      case 1:
        return k === 1 ? ch.reload : -1;
      default:
        return k === 1 ? ch.reload + 1 : -1;
    }
  }

  /** Re-arms the single channel 0 timer; cancels it when OUT will not rise again. */
  private schedule(): void {
    this.timer?.cancel();
    this.timer = undefined;
    const ch = this.channels[0];
    if (this.irqLevel && !(ch.armed && ch.mode === 0)) this.driveIrq(false);
    if (this.irq === undefined || !ch.armed || !ch.running) return;
    const tick = this.eventTick(ch, ch.nextEvent);
    if (tick < 0) return;
    const deadline = ch.startNs + nsFromTicks(tick - ch.baseTicks);
    this.timer = this.clock.setTimer(deadline, this.onTimerFn);
  }

  private onTimer(): void {
    this.timer = undefined;
    const ch = this.channels[0];
    this.irqCount++;
    if (ch.mode === 0 || ch.mode === 1) {
      // OUT stays high after terminal count until the channel is reprogrammed.
      this.driveIrq(true);
      ch.nextEvent = 2;
      return;
    }
    this.irq?.set(true);
    this.irq?.set(false);
    if (ch.mode === 2 || ch.mode === 3) {
      // Deadlines come from the load time, so they never drift; periods the run loop missed are
      // skipped (the PIC would have merged them into one edge anyway).
      const elapsed = ch.elapsedTicks(this.clock.nowNs());
      ch.nextEvent = Math.max(ch.nextEvent + 1, Math.floor(elapsed / ch.reload) + 1);
      // Rebase so tick counts stay small on long runs.
      if (ch.nextEvent > 1_000_000) {
        const periods = ch.nextEvent - 1;
        ch.startNs += nsFromTicks(periods * ch.reload);
        ch.nextEvent = 1;
      }
    } else {
      ch.nextEvent = 2;
    }
    this.schedule();
  }

  private driveIrq(level: boolean): void {
    this.irqLevel = level;
    this.irq?.set(level);
  }

  save(): PitState {
    return {
      version: 1,
      channels: this.channels.map((ch) => ({
        mode: ch.mode,
        rwMode: ch.rwMode,
        bcd: ch.bcd,
        reload: ch.reload,
        armed: ch.armed,
        running: ch.running,
        baseTicks: ch.baseTicks,
        startNs: ch.startNs,
        gate: ch.gate,
        nullCount: ch.nullCount,
        latchedCount: ch.latchedCount,
        latchedHighNext: ch.latchedHighNext,
        latchedStatus: ch.latchedStatus,
        readHighNext: ch.readHighNext,
        writeHighNext: ch.writeHighNext,
        writeLowByte: ch.writeLowByte,
        nextEvent: ch.nextEvent,
      })),
      speakerData: this.speakerData,
      refreshToggle: this.refreshToggle,
      irqLevel: this.irqLevel,
    };
  }

  restore(state: PitState): void {
    if (state.version !== 1) throw new Error(`Cannot restore the 8254 PIT: state version ${String(state.version)} is not supported`);
    if (state.channels.length !== 3) throw new Error('Cannot restore the 8254 PIT: expected 3 channels');
    state.channels.forEach((s, i) => {
      const ch = this.channel(i);
      ch.mode = s.mode;
      ch.rwMode = s.rwMode;
      ch.bcd = s.bcd;
      ch.reload = s.reload;
      ch.armed = s.armed;
      ch.running = s.running;
      ch.baseTicks = s.baseTicks;
      ch.startNs = s.startNs;
      ch.gate = s.gate;
      ch.nullCount = s.nullCount;
      ch.latchedCount = s.latchedCount;
      ch.latchedHighNext = s.latchedHighNext;
      ch.latchedStatus = s.latchedStatus;
      ch.readHighNext = s.readHighNext;
      ch.writeHighNext = s.writeHighNext;
      ch.writeLowByte = s.writeLowByte;
      ch.nextEvent = s.nextEvent;
    });
    this.speakerData = state.speakerData;
    this.refreshToggle = state.refreshToggle;
    this.irqLevel = state.irqLevel;
    this.irq?.set(this.irqLevel);
    this.timer?.cancel();
    this.timer = undefined;
    this.schedule();
  }

  /** True while channel 0 has a timer armed (lets tests check the PIT goes quiet). */
  get timerArmed(): boolean {
    return this.timer !== undefined;
  }
}
