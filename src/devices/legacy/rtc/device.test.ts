import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../testing/fake-clock.js';
import { RecordingIrqLine } from '../../testing/recording-irq-line.js';
import {
  CmosRtc,
  RTC_AF,
  RTC_AIE,
  RTC_CENTURY,
  RTC_DAY_OF_MONTH,
  RTC_DAY_OF_WEEK,
  RTC_DM_BINARY,
  RTC_HOURS,
  RTC_HOURS_ALARM,
  RTC_IRQF,
  RTC_MINUTES,
  RTC_MINUTES_ALARM,
  RTC_MONTH,
  RTC_PF,
  RTC_PIE,
  RTC_REG_A,
  RTC_REG_B,
  RTC_REG_C,
  RTC_REG_D,
  RTC_SECONDS,
  RTC_SECONDS_ALARM,
  RTC_SET,
  RTC_UF,
  RTC_UIE,
  RTC_UIP,
  RTC_YEAR,
  RTC_24H,
  periodicPeriodNs,
} from './device.js';

const GiB = 1024 ** 3;
// Thursday 26 November 2026, 04:05:59 UTC.
const START_MS = Date.UTC(2026, 10, 26, 4, 5, 59);

function make(startTimeMs = START_MS) {
  const clock = new FakeClock(5_000_000); // the machine clock need not start at 0
  const irq = new RecordingIrqLine();
  const rtc = new CmosRtc({ irq, clock, startTimeMs, memBelow4GiBBytes: 2 * GiB, memAbove4GiBBytes: 1 * GiB, cpuCount: 4 });
  return { clock, irq, rtc };
}

/** Reads a CMOS register the way Linux's CMOS_READ does: out 0x70, in 0x71. */
function cmosRead(rtc: CmosRtc, reg: number): number {
  rtc.pioWrite(0, 1, reg);
  return rtc.pioRead(1, 1);
}
function cmosWrite(rtc: CmosRtc, reg: number, v: number): void {
  rtc.pioWrite(0, 1, reg);
  rtc.pioWrite(1, 1, v);
}

function readTime(rtc: CmosRtc): number[] {
  return [RTC_SECONDS, RTC_MINUTES, RTC_HOURS, RTC_DAY_OF_WEEK, RTC_DAY_OF_MONTH, RTC_MONTH, RTC_YEAR, RTC_CENTURY].map((r) =>
    cmosRead(rtc, r),
  );
}

test('power-on registers: A = 0x26, B = 24h BCD, D has VRT', () => {
  const { rtc } = make();
  assert.equal(cmosRead(rtc, RTC_REG_A), 0x26);
  assert.equal(cmosRead(rtc, RTC_REG_B), RTC_24H);
  assert.equal(cmosRead(rtc, RTC_REG_C), 0);
  assert.equal(cmosRead(rtc, RTC_REG_D), 0x80);
});

test('time reads in BCD and follows guest time, not host time', () => {
  const { rtc, clock } = make();
  assert.deepEqual(readTime(rtc), [0x59, 0x05, 0x04, 5, 0x26, 0x11, 0x26, 0x20]);
  clock.advance(1_000_000_000);
  assert.deepEqual(readTime(rtc).slice(0, 3), [0x00, 0x06, 0x04]);
  clock.advance(36 * 24 * 3600 * 1e9); // 36 days later: 1 January 2027, a Friday
  assert.deepEqual(readTime(rtc), [0x00, 0x06, 0x04, 6, 0x01, 0x01, 0x27, 0x20]);
});

test('binary data mode and 12-hour mode encodings', () => {
  const { rtc } = make(Date.UTC(2026, 10, 26, 13, 45, 7));
  cmosWrite(rtc, RTC_REG_B, RTC_24H | RTC_DM_BINARY);
  assert.deepEqual(readTime(rtc), [7, 45, 13, 5, 26, 11, 26, 20]);
  cmosWrite(rtc, RTC_REG_B, RTC_DM_BINARY); // 12-hour, binary: 1 PM
  assert.equal(cmosRead(rtc, RTC_HOURS), 0x81);
  cmosWrite(rtc, RTC_REG_B, 0); // 12-hour, BCD
  assert.equal(cmosRead(rtc, RTC_HOURS), 0x81);
  const midnight = make(Date.UTC(2026, 0, 1, 0, 30, 0)).rtc;
  cmosWrite(midnight, RTC_REG_B, 0);
  assert.equal(cmosRead(midnight, RTC_HOURS), 0x12, '12 AM');
  cmosWrite(midnight, RTC_HOURS, 0x80 | 0x11); // 11 PM
  cmosWrite(midnight, RTC_REG_B, RTC_24H);
  assert.equal(cmosRead(midnight, RTC_HOURS), 0x23);
});

test("Linux's mc146818_set_time sequence (SET + divider reset) sets the clock", () => {
  const { rtc, clock } = make();
  const saveControl = cmosRead(rtc, RTC_REG_B);
  cmosWrite(rtc, RTC_REG_B, saveControl | RTC_SET);
  const freqSelect = cmosRead(rtc, RTC_REG_A);
  cmosWrite(rtc, RTC_REG_A, freqSelect | 0x70); // RTC_DIV_RESET2
  // 2030-02-03 10:20:30, BCD
  cmosWrite(rtc, RTC_YEAR, 0x30);
  cmosWrite(rtc, RTC_MONTH, 0x02);
  cmosWrite(rtc, RTC_DAY_OF_MONTH, 0x03);
  cmosWrite(rtc, RTC_HOURS, 0x10);
  cmosWrite(rtc, RTC_MINUTES, 0x20);
  cmosWrite(rtc, RTC_SECONDS, 0x30);
  clock.advance(3e9); // frozen while SET: reads give what was written
  assert.deepEqual(readTime(rtc).slice(0, 3), [0x30, 0x20, 0x10]);
  cmosWrite(rtc, RTC_REG_B, saveControl);
  cmosWrite(rtc, RTC_REG_A, freqSelect);
  assert.equal(rtc.nowMs(), Date.UTC(2030, 1, 3, 10, 20, 30) + 500, 'first update 500 ms after the divider restarts');
  clock.advance(2.5e9);
  assert.deepEqual(readTime(rtc), [0x33, 0x20, 0x10, 1, 0x03, 0x02, 0x30, 0x20]);
});

test('a time register write without SET moves the clock and keeps it running', () => {
  const { rtc, clock } = make();
  cmosWrite(rtc, RTC_MINUTES, 0x30);
  assert.deepEqual(readTime(rtc).slice(0, 3), [0x59, 0x30, 0x04]);
  clock.advance(1e9);
  assert.deepEqual(readTime(rtc).slice(0, 3), [0x00, 0x31, 0x04]);
});

test('UIP is set only in the 244 µs before each update', () => {
  const { rtc, clock } = make();
  assert.equal(cmosRead(rtc, RTC_REG_A) & RTC_UIP, 0);
  clock.advance(1e9 - 300_000);
  assert.equal(cmosRead(rtc, RTC_REG_A) & RTC_UIP, 0);
  clock.advance(100_000);
  assert.equal(cmosRead(rtc, RTC_REG_A) & RTC_UIP, RTC_UIP);
  assert.equal(cmosRead(rtc, RTC_SECONDS), 0x59, 'still the old second');
  clock.advance(200_000);
  assert.equal(cmosRead(rtc, RTC_REG_A) & RTC_UIP, 0);
  assert.equal(cmosRead(rtc, RTC_SECONDS), 0x00);
});

test('periodic interrupt at the register A rate; reading C clears IRQF and lowers the line', () => {
  const { rtc, clock, irq } = make();
  assert.equal(periodicPeriodNs(6), 976_562.5);
  assert.equal(periodicPeriodNs(15), 500_000_000);
  assert.equal(periodicPeriodNs(1), periodicPeriodNs(8));
  assert.equal(clock.pendingTimers(), 0, 'nothing armed while no interrupt is enabled');
  cmosWrite(rtc, RTC_REG_B, RTC_24H | RTC_PIE);
  let interrupts = 0;
  for (let i = 0; i < 2048; i++) {
    clock.advance(488_281.25); // half a period at 1024 Hz
    if (irq.level) {
      interrupts++;
      assert.equal(cmosRead(rtc, RTC_REG_C), RTC_IRQF | RTC_PF);
      assert.equal(irq.level, false);
    }
  }
  assert.equal(interrupts, 1024, '1024 Hz for one second');
  cmosWrite(rtc, RTC_REG_B, RTC_24H);
  assert.equal(clock.pendingTimers(), 0);
});

test('update-ended interrupt once per second, alarm when the time matches', () => {
  const { rtc, clock, irq } = make(); // 04:05:59
  cmosWrite(rtc, RTC_REG_B, RTC_24H | RTC_UIE);
  clock.advance(1e9);
  assert.equal(irq.level, true);
  assert.equal(cmosRead(rtc, RTC_REG_C), RTC_IRQF | RTC_UF);
  // Alarm at 04:06:03 with only AIE enabled.
  cmosWrite(rtc, RTC_SECONDS_ALARM, 0x03);
  cmosWrite(rtc, RTC_MINUTES_ALARM, 0x06);
  cmosWrite(rtc, RTC_HOURS_ALARM, 0xc0); // don't care
  cmosWrite(rtc, RTC_REG_B, RTC_24H | RTC_AIE);
  clock.advance(2e9);
  assert.equal(irq.level, false, 'UF without UIE does not interrupt');
  clock.advance(1e9);
  assert.equal(irq.level, true);
  assert.equal(cmosRead(rtc, RTC_REG_C) & (RTC_IRQF | RTC_AF), RTC_IRQF | RTC_AF);
});

test('CMOS memory-size bytes as SeaBIOS reads them', () => {
  const { rtc } = make();
  const word = (lo: number): number => cmosRead(rtc, lo) | (cmosRead(rtc, lo + 1) << 8);
  assert.equal(word(0x15), 640);
  assert.equal(word(0x17), 0xffff);
  assert.equal(word(0x30), 0xffff);
  assert.equal(word(0x34), (2048 - 16) * 16);
  assert.equal(word(0x5b) | (cmosRead(rtc, 0x5d) << 16), 16384);
  assert.equal(cmosRead(rtc, 0x5f), 3);
  const small = new CmosRtc({ irq: new RecordingIrqLine(), clock: new FakeClock(), memBelow4GiBBytes: 32 * 1024 * 1024 });
  assert.equal(cmosRead(small, 0x30) | (cmosRead(small, 0x31) << 8), 31 * 1024);
  assert.equal(cmosRead(small, 0x34) | (cmosRead(small, 0x35) << 8), 256);
  cmosWrite(small, 0x40, 0xab);
  assert.equal(cmosRead(small, 0x40), 0xab, 'general CMOS RAM is read/write');
});

test('NMI-disable bit in the index port is tracked and does not change the register selected', () => {
  const { rtc } = make();
  rtc.pioWrite(0, 1, 0x80 | RTC_REG_D);
  assert.equal(rtc.nmiMasked, true);
  assert.equal(rtc.pioRead(1, 1), 0x80);
  rtc.pioWrite(0, 1, RTC_REG_D);
  assert.equal(rtc.nmiMasked, false);
});

test('save → restore → save round trip is identical and behaviour continues', () => {
  const a = make();
  cmosWrite(a.rtc, RTC_REG_B, RTC_24H | RTC_DM_BINARY | RTC_PIE);
  cmosWrite(a.rtc, RTC_REG_A, 0x2f); // 2 Hz
  cmosWrite(a.rtc, 0x50, 0x42);
  a.clock.advance(1.25e9);
  const s1 = a.rtc.save();
  const b = make(0);
  b.clock.advanceTo(a.clock.nowNs());
  b.rtc.restore(JSON.parse(JSON.stringify(s1)));
  assert.deepEqual(b.rtc.save(), s1);
  assert.equal(b.irq.level, true, 'IRQF was pending at save');
  assert.deepEqual(readTime(b.rtc).slice(0, 3), [0, 6, 4]);
  assert.equal(cmosRead(b.rtc, RTC_REG_C), RTC_IRQF | RTC_PF);
  b.clock.advance(0.5e9);
  assert.equal(b.irq.level, true, 'periodic timer re-armed after restore');
  assert.equal(cmosRead(b.rtc, 0x50), 0x42);
  assert.throws(() => b.rtc.restore({ ...s1, version: 9 as 1 }), /version 9/);
  a.rtc.dispose();
  b.rtc.dispose();
});

test('reset clears interrupt enables and flags but keeps the time and CMOS RAM', () => {
  const { rtc, clock, irq } = make();
  cmosWrite(rtc, RTC_REG_B, RTC_24H | RTC_UIE);
  cmosWrite(rtc, 0x60, 0x99);
  clock.advance(1e9);
  assert.equal(irq.level, true);
  rtc.reset();
  assert.equal(irq.level, false);
  assert.equal(cmosRead(rtc, RTC_REG_B), RTC_24H);
  assert.equal(cmosRead(rtc, 0x60), 0x99);
  assert.equal(cmosRead(rtc, RTC_SECONDS), 0x00);
  assert.equal(clock.pendingTimers(), 0);
});

test('holding the divider in reset stops time; a century of 0 means year 00xx, not 19xx', () => {
  const { rtc, clock } = make();
  cmosWrite(rtc, RTC_REG_A, 0x76); // DV = 111: divider reset
  clock.advance(5e9);
  assert.equal(cmosRead(rtc, RTC_SECONDS), 0x59);
  assert.equal(cmosRead(rtc, RTC_REG_A) & RTC_UIP, 0);
  cmosWrite(rtc, RTC_REG_A, 0x26);
  clock.advance(0.5e9);
  assert.equal(cmosRead(rtc, RTC_SECONDS), 0x00, 'first update 500 ms after release');
  cmosWrite(rtc, RTC_CENTURY, 0x00);
  assert.equal(new Date(rtc.nowMs()).getUTCFullYear(), 26);
  assert.equal(cmosRead(rtc, RTC_YEAR), 0x26);
  assert.equal(cmosRead(rtc, RTC_CENTURY), 0x00);
});
