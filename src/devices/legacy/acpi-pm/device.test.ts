import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ACPI_GPE0, ACPI_PM1A_CNT, ACPI_PM1A_EVT, ACPI_PM_BASE, ACPI_PM_TMR, ACPI_S5_SLP_TYP } from '../../../arch/x86/layout.js';
import { PioBus } from '../../bus.js';
import { FakeClock } from '../../testing/fake-clock.js';
import { RecordingIrqLine } from '../../testing/recording-irq-line.js';
import {
  ACPI_PM_IO_LENGTH,
  AcpiPm,
  PWRBTN_EN,
  PWRBTN_STS,
  SCI_EN,
  SLP_EN,
  SLP_TYP_SHIFT,
  TMR_EN,
  TMR_STS,
  WAK_STS,
  pmTimerTicksAt,
} from './device.js';

function make() {
  const clock = new FakeClock(123_456_789);
  const sci = new RecordingIrqLine();
  const events: string[] = [];
  const pm = new AcpiPm({ sci, clock, onPowerOff: () => events.push('poweroff'), onSleep: (t) => events.push(`sleep ${t}`) });
  const bus = new PioBus();
  bus.register(ACPI_PM_BASE, ACPI_PM_IO_LENGTH, pm, 'acpi-pm');
  return { clock, sci, pm, bus, events };
}

test('the device covers PM1a event/control, PM timer and GPE0 in one range', () => {
  assert.equal(ACPI_PM_IO_LENGTH, 0x28);
  const { bus } = make();
  assert.equal(bus.pioRead(ACPI_PM1A_CNT, 2) & SCI_EN, SCI_EN, 'SCI_EN set at reset (no SMI_CMD)');
  assert.equal(bus.pioRead(ACPI_PM1A_EVT, 2), 0);
  assert.equal(bus.pioRead(ACPI_GPE0, 4), 0);
});

test('PM timer counts at 3.579545 MHz from the device clock and wraps at 24 bits', () => {
  const { clock, bus } = make();
  const t0 = bus.pioRead(ACPI_PM_TMR, 4);
  assert.equal(t0, 0, 'starts at zero when the device is created');
  clock.advance(1_000_000_000);
  assert.equal(bus.pioRead(ACPI_PM_TMR, 4), 3_579_545);
  clock.advance(1_000_000); // 1 ms
  assert.equal(bus.pioRead(ACPI_PM_TMR, 4), 3_579_545 + 3579);
  clock.advance(4_000_000_000); // past 2^24 ticks (4.69 s)
  const expected = (pmTimerTicksAt(5_001_000_000) - 0) % 0x100_0000;
  assert.equal(bus.pioRead(ACPI_PM_TMR, 4), expected);
  assert.ok(bus.pioRead(ACPI_PM_TMR, 4) <= 0xff_ffff);
  // No precision loss after weeks of guest time.
  assert.equal(pmTimerTicksAt(30 * 86400e9 + 1e9), (30 * 86400 + 1) * 3_579_545);
});

test('TMR_STS sets when bit 23 toggles; with TMR_EN it raises the SCI; write 1 clears it', () => {
  const { clock, bus, sci } = make();
  bus.pioWrite(ACPI_PM1A_EVT + 2, 2, TMR_EN);
  const toggleNs = Math.ceil((2 ** 23 * 1e9) / 3_579_545);
  clock.advance(toggleNs - 1000);
  assert.equal(bus.pioRead(ACPI_PM1A_EVT, 2) & TMR_STS, 0);
  assert.equal(sci.level, false);
  clock.advance(1000);
  assert.equal(sci.level, true, 'timer armed for the toggle fired');
  assert.equal(bus.pioRead(ACPI_PM1A_EVT, 2) & TMR_STS, TMR_STS);
  bus.pioWrite(ACPI_PM1A_EVT, 2, TMR_STS);
  assert.equal(sci.level, false);
  assert.equal(bus.pioRead(ACPI_PM1A_EVT, 2) & TMR_STS, 0);
  clock.advance(toggleNs);
  assert.equal(sci.level, true, 'and again at the next toggle');
});

test('power button: status without enable does not interrupt; with PWRBTN_EN the SCI rises until cleared', () => {
  const { bus, pm, sci } = make();
  pm.pressPowerButton();
  assert.equal(bus.pioRead(ACPI_PM1A_EVT, 2) & PWRBTN_STS, PWRBTN_STS);
  assert.equal(sci.level, false);
  bus.pioWrite(ACPI_PM1A_EVT + 2, 2, PWRBTN_EN);
  assert.equal(sci.level, true);
  assert.equal(bus.pioRead(ACPI_PM1A_EVT + 2, 2), PWRBTN_EN);
  bus.pioWrite(ACPI_PM1A_EVT, 2, 0); // writing 0 clears nothing
  assert.equal(sci.level, true);
  bus.pioWrite(ACPI_PM1A_EVT, 2, PWRBTN_STS); // write 1 to clear
  assert.equal(sci.level, false);
  assert.equal(bus.pioRead(ACPI_PM1A_EVT, 2) & PWRBTN_STS, 0);
  // ACPICA reads PM1 status and enable as one 32-bit access too.
  pm.pressPowerButton();
  assert.equal(bus.pioRead(ACPI_PM1A_EVT, 4), (PWRBTN_EN << 16) | PWRBTN_STS);
});

test('GPE0: status & enable raise the SCI; byte-wise write-1-to-clear', () => {
  const { bus, pm, sci } = make();
  pm.raiseGpe(9);
  assert.equal(sci.level, false);
  bus.pioWrite(ACPI_GPE0 + 4 + 1, 1, 0x02); // enable GPE 9
  assert.equal(sci.level, true);
  assert.equal(bus.pioRead(ACPI_GPE0 + 1, 1), 0x02);
  bus.pioWrite(ACPI_GPE0 + 1, 1, 0x02);
  assert.equal(sci.level, false);
  assert.equal(bus.pioRead(ACPI_GPE0, 4), 0);
  assert.equal(bus.pioRead(ACPI_GPE0 + 4, 4), 0x200);
});

test('SLP_TYP = S5 with SLP_EN calls onPowerOff; SLP_TYP alone does not', () => {
  const { bus, events } = make();
  bus.pioWrite(ACPI_PM1A_CNT, 2, (ACPI_S5_SLP_TYP << SLP_TYP_SHIFT) | SCI_EN);
  assert.deepEqual(events, []);
  assert.equal(bus.pioRead(ACPI_PM1A_CNT, 2), (ACPI_S5_SLP_TYP << SLP_TYP_SHIFT) | SCI_EN, 'SLP_EN reads 0');
  bus.pioWrite(ACPI_PM1A_CNT, 2, (ACPI_S5_SLP_TYP << SLP_TYP_SHIFT) | SLP_EN | SCI_EN);
  assert.deepEqual(events, ['poweroff']);
});

test('other sleep types wake at once (WAK_STS) so OSPM never spins', () => {
  const { bus, events } = make();
  bus.pioWrite(ACPI_PM1A_CNT, 2, (1 << SLP_TYP_SHIFT) | SLP_EN | SCI_EN);
  assert.deepEqual(events, ['sleep 1']);
  assert.equal(bus.pioRead(ACPI_PM1A_EVT, 2) & WAK_STS, WAK_STS);
  bus.pioWrite(ACPI_PM1A_EVT, 2, WAK_STS);
  assert.equal(bus.pioRead(ACPI_PM1A_EVT, 2) & WAK_STS, 0);
});

test('SCI_EN cannot be cleared (ACPI mode only)', () => {
  const { bus } = make();
  bus.pioWrite(ACPI_PM1A_CNT, 2, 0);
  assert.equal(bus.pioRead(ACPI_PM1A_CNT, 2) & SCI_EN, SCI_EN);
});

test('save → restore → save round trip is identical and the timer continues', () => {
  const a = make();
  a.bus.pioWrite(ACPI_PM1A_EVT + 2, 2, PWRBTN_EN);
  a.bus.pioWrite(ACPI_GPE0 + 4, 1, 0x01);
  a.pm.pressPowerButton();
  a.clock.advance(2_500_000_000);
  const s1 = a.pm.save();
  const tmr = a.bus.pioRead(ACPI_PM_TMR, 4);
  // Restore on a machine whose clock reads something else entirely.
  const b = make();
  b.clock.advance(77_000_000_000);
  b.pm.restore(JSON.parse(JSON.stringify(s1)));
  assert.deepEqual(b.pm.save(), s1);
  assert.equal(b.bus.pioRead(ACPI_PM_TMR, 4), tmr, 'the timer continues from the saved count');
  assert.equal(b.sci.level, true);
  b.clock.advance(1_000_000_000);
  assert.equal(b.bus.pioRead(ACPI_PM_TMR, 4), (tmr + 3_579_545) % 0x100_0000);
  b.bus.pioWrite(ACPI_PM1A_EVT, 2, PWRBTN_STS);
  assert.equal(b.sci.level, false);
  assert.throws(() => b.pm.restore({ ...s1, version: 3 as 1 }), /version 3/);
});

test('reset clears status and enables, keeps SCI_EN', () => {
  const { bus, pm, sci } = make();
  bus.pioWrite(ACPI_PM1A_EVT + 2, 2, PWRBTN_EN);
  pm.pressPowerButton();
  assert.equal(sci.level, true);
  pm.reset();
  assert.equal(sci.level, false);
  assert.equal(bus.pioRead(ACPI_PM1A_EVT, 4), 0);
  assert.equal(bus.pioRead(ACPI_PM1A_CNT, 2), SCI_EN);
});
