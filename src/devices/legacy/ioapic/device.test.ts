import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../testing/fake-clock.js';
import { ApicBus } from '../apic-bus/bus.js';
import { isaIrqLines } from '../apic-bus/isa-irq-lines.js';
import { LocalApic } from '../lapic/device.js';
import { Pic } from '../pic/device.js';
import { Pit } from '../pit/device.js';
import { Ioapic } from './device.js';

const IOREGSEL = 0x00;
const IOWIN = 0x10;
const LAPIC_EOI = 0xb0;
const LAPIC_TMR = 0x180;
const REMOTE_IRR = 1 << 14;

function writeEntry(io: Ioapic, pin: number, low: number, high: number): void {
  io.mmioWrite(IOREGSEL, 4, 0x11 + pin * 2);
  io.mmioWrite(IOWIN, 4, high);
  io.mmioWrite(IOREGSEL, 4, 0x10 + pin * 2);
  io.mmioWrite(IOWIN, 4, low);
}

function readReg(io: Ioapic, index: number): number {
  io.mmioWrite(IOREGSEL, 4, index);
  return io.mmioRead(IOWIN, 4);
}

function setup(): { clock: FakeClock; bus: ApicBus; io: Ioapic; cpu0: LocalApic; cpu1: LocalApic } {
  const clock = new FakeClock();
  const bus = new ApicBus();
  const io = new Ioapic({ bus });
  const cpu0 = new LocalApic({ apicId: 0, clock, bus });
  const cpu1 = new LocalApic({ apicId: 1, clock, bus });
  cpu0.mmioWrite(0xf0, 4, 0x1ff);
  cpu1.mmioWrite(0xf0, 4, 0x1ff);
  return { clock, bus, io, cpu0, cpu1 };
}

test('IOAPIC: ID, version and arbitration registers; entries masked at reset', () => {
  const { io } = setup();
  assert.equal(readReg(io, 0x01), 0x0017_0020);
  io.mmioWrite(IOREGSEL, 4, 0);
  io.mmioWrite(IOWIN, 4, 0x0300_0000);
  assert.equal(readReg(io, 0x00), 0x0300_0000);
  assert.equal(readReg(io, 0x02), 0x0300_0000);
  assert.equal(readReg(io, 0x10 + 5 * 2), 0x0001_0000);
  assert.equal(io.mmioRead(IOREGSEL, 4), 0x10 + 5 * 2);
  assert.equal(readReg(io, 0x10 + 48), 0xffff_ffff, 'past the table');
});

test('IOAPIC: edge pin delivers its vector to the destination LAPIC on each rising edge', () => {
  const { io, cpu0, cpu1 } = setup();
  writeEntry(io, 4, 0x0000_0024, 0x0100_0000); // vector 0x24, fixed, physical, edge → APIC 1
  io.setIrq(4, true);
  assert.equal(cpu1.hasInterrupt(), true);
  assert.equal(cpu0.hasInterrupt(), false);
  io.setIrq(4, true); // no new edge
  assert.equal(cpu1.acknowledge(), 0x24);
  assert.equal(cpu1.hasInterrupt(), false);
  cpu1.mmioWrite(LAPIC_EOI, 4, 0);
  io.setIrq(4, false);
  io.setIrq(4, true);
  assert.equal(cpu1.acknowledge(), 0x24);
  assert.equal(cpu1.mmioRead(LAPIC_TMR + 0x10, 4) & (1 << 4), 0, 'edge: TMR clear');
});

test('IOAPIC: level pin, remote IRR set on delivery and cleared by the LAPIC EOI broadcast', () => {
  const { io, cpu0 } = setup();
  writeEntry(io, 10, 0x0000_a031, 0); // vector 0x31, level, active low (stored only)
  io.setIrq(10, true);
  assert.ok(io.redirectionEntry(10).low & REMOTE_IRR);
  assert.equal(readReg(io, 0x10 + 20) & REMOTE_IRR, REMOTE_IRR, 'remote IRR visible to the guest');
  assert.equal(cpu0.acknowledge(), 0x31);
  assert.equal(cpu0.mmioRead(LAPIC_TMR + 0x10, 4) & (1 << 0x11), 1 << 0x11, 'level: TMR set');
  // The line is still asserted: EOI clears remote IRR and the pin fires again.
  cpu0.mmioWrite(LAPIC_EOI, 4, 0);
  assert.ok(io.redirectionEntry(10).low & REMOTE_IRR);
  assert.equal(cpu0.acknowledge(), 0x31);
  io.setIrq(10, false); // the device was serviced
  cpu0.mmioWrite(LAPIC_EOI, 4, 0);
  assert.equal(io.redirectionEntry(10).low & REMOTE_IRR, 0);
  assert.equal(cpu0.hasInterrupt(), false);
  // The guest cannot write remote IRR.
  writeEntry(io, 10, 0x0000_e031, 0);
  assert.equal(io.redirectionEntry(10).low & REMOTE_IRR, 0);
});

test('IOAPIC: EOI register (version 0x20) clears remote IRR too', () => {
  const { io, cpu0 } = setup();
  writeEntry(io, 11, 0x0000_8041, 0);
  io.setIrq(11, true);
  assert.equal(cpu0.acknowledge(), 0x41);
  io.setIrq(11, false);
  io.mmioWrite(0x40, 4, 0x41);
  assert.equal(io.redirectionEntry(11).low & REMOTE_IRR, 0);
});

test('IOAPIC: masked pins hold requests until unmasked', () => {
  const { io, cpu0 } = setup();
  writeEntry(io, 9, 0x0001_8051, 0); // level, masked
  io.setIrq(9, true);
  assert.equal(cpu0.hasInterrupt(), false);
  writeEntry(io, 9, 0x0000_8051, 0);
  assert.equal(cpu0.acknowledge(), 0x51);
  io.setIrq(9, false);
  cpu0.mmioWrite(LAPIC_EOI, 4, 0);
  writeEntry(io, 3, 0x0001_0052, 0); // edge, masked
  io.setIrq(3, true);
  writeEntry(io, 3, 0x0000_0052, 0);
  assert.equal(cpu0.acknowledge(), 0x52);
});

test('IOAPIC: logical lowest-priority delivery picks one CPU', () => {
  const { io, cpu0, cpu1 } = setup();
  cpu0.mmioWrite(0xd0, 4, 0x0100_0000);
  cpu1.mmioWrite(0xd0, 4, 0x0200_0000);
  cpu0.setTpr(2);
  writeEntry(io, 5, 0x0000_0961, 0x0300_0000); // lowest priority, logical, dest 0b11
  io.setIrq(5, true);
  assert.equal(cpu0.hasInterrupt(), false);
  assert.equal(cpu1.acknowledge(), 0x61);
});

test('Interrupts: PIT IRQ 0 reaches the LAPIC through IOAPIC pin 2 (MADT override)', () => {
  const { clock, io, cpu0 } = setup();
  const pic = new Pic();
  const lines = isaIrqLines(pic, io);
  const irq0 = lines[0];
  assert.ok(irq0);
  const pit = new Pit({ clock, irq: irq0 });
  writeEntry(io, 2, 0x0000_0030, 0);
  pit.pio.pioWrite(3, 1, 0x34);
  pit.pio.pioWrite(0, 1, 0xa9);
  pit.pio.pioWrite(0, 1, 0x04); // 1193 ticks: 1 ms
  let ticks = 0;
  for (let i = 0; i < 100; i++) {
    clock.advance(1_000_000);
    while (cpu0.hasInterrupt()) {
      assert.equal(cpu0.acknowledge(), 0x30);
      cpu0.mmioWrite(LAPIC_EOI, 4, 0);
      ticks++;
    }
  }
  assert.ok(ticks >= 99 && ticks <= 100, `${ticks} ticks`);
});

test('IOAPIC: save → restore → save is identical and remote IRR state survives', () => {
  const { io, cpu0 } = setup();
  writeEntry(io, 10, 0x0000_8031, 0);
  io.setIrq(10, true);
  const state = io.save();
  const bus2 = new ApicBus();
  const copy = new Ioapic({ bus: bus2 });
  const cpu = new LocalApic({ apicId: 0, clock: new FakeClock(), bus: bus2 });
  cpu.mmioWrite(0xf0, 4, 0x1ff);
  copy.restore(JSON.parse(JSON.stringify(state)) as typeof state);
  assert.deepEqual(copy.save(), state);
  bus2.broadcastEoi(0x31); // remote IRR cleared, line still high: redelivered to the new CPU
  assert.equal(cpu.acknowledge(), 0x31);
  assert.equal(cpu0.acknowledge(), 0x31);
});

test('Interrupts: before the IOAPIC is set up, PIT ticks reach the BSP through the 8259 and LINT0 (virtual wire)', () => {
  const clock = new FakeClock();
  const bus = new ApicBus();
  const io = new Ioapic({ bus });
  const pic = new Pic();
  const bsp = new LocalApic({ apicId: 0, clock, bus, extInt: pic });
  pic.connectIntr(bsp.lint0);
  const lines = isaIrqLines(pic, io);
  const irq0 = lines[0];
  assert.ok(irq0);
  const pit = new Pit({ clock, irq: irq0 });
  // init_8259A with IRQ 0 unmasked, then the PIT at HZ=250.
  for (const [port, v] of [[0, 0x11], [1, 0x30], [1, 0x04], [1, 0x01]] as const) pic.masterPio.pioWrite(port, 1, v);
  for (const [port, v] of [[0, 0x11], [1, 0x38], [1, 0x02], [1, 0x01]] as const) pic.slavePio.pioWrite(port, 1, v);
  pic.masterPio.pioWrite(1, 1, 0xfa);
  pit.pio.pioWrite(3, 1, 0x34);
  pit.pio.pioWrite(0, 1, 4773 & 0xff);
  pit.pio.pioWrite(0, 1, 4773 >> 8);
  let ticks = 0;
  for (let i = 0; i < 100; i++) {
    clock.advance(1_000_000);
    if (bsp.hasInterrupt()) {
      assert.equal(bsp.acknowledge(), 0x30);
      pic.masterPio.pioWrite(0, 1, 0x60); // specific EOI IR0
      ticks++;
    }
  }
  assert.equal(ticks, Math.floor((0.1 * 1_193_182) / 4773)); // 24: the period is a hair over 4 ms
  // The IOAPIC pin stayed masked the whole time, so the LAPIC's IRR is empty.
  assert.equal(bsp.mmioRead(0x200 + 0x10, 4), 0);
});
