import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../testing/fake-clock.js';
import { ApicBus } from '../apic-bus/bus.js';
import { Pic } from '../pic/device.js';
import { LocalApic } from './device.js';
import type { LocalApicConfig } from './device.js';
import type { InterruptController } from '../../../cpu/bus.js';

const SVR = 0xf0;
const TPR = 0x80;
const PPR = 0xa0;
const EOI = 0xb0;
const LDR = 0xd0;
const DFR = 0xe0;
const ISR0 = 0x100;
const IRR0 = 0x200;
const ESR = 0x280;
const ICR = 0x300;
const ICR2 = 0x310;
const LVTT = 0x320;
const LVT0 = 0x350;
const TMICT = 0x380;
const TMCCT = 0x390;
const TDCR = 0x3e0;

function enabledApic(config: LocalApicConfig): LocalApic {
  const apic = new LocalApic(config);
  apic.mmioWrite(SVR, 4, 0x1ff); // software enable, spurious vector 0xff
  return apic;
}

function setup(): { clock: FakeClock; bus: ApicBus; a: LocalApic; b: LocalApic; wakes: number[] } {
  const clock = new FakeClock();
  const bus = new ApicBus();
  const wakes: number[] = [];
  const a = enabledApic({ apicId: 0, clock, bus, onWake: () => wakes.push(0) });
  const b = enabledApic({ apicId: 1, clock, bus, onWake: () => wakes.push(1) });
  return { clock, bus, a, b, wakes };
}

test('LAPIC: ID, version and reset state', () => {
  const { a, b } = setup();
  // The soft CPU polls the LAPIC through this shape (src/cpu/bus.ts); checked at compile time.
  const controller: InterruptController = a;
  assert.equal(controller.hasInterrupt(), false);
  assert.equal(new LocalApic({ apicId: 5, clock: new FakeClock(), bus: new ApicBus() }).mmioRead(SVR, 4), 0xff);
  assert.equal(new LocalApic({ apicId: 0, clock: new FakeClock(), bus: new ApicBus() }).mmioRead(SVR, 4), 0x1ff);
  assert.equal(b.mmioRead(0x20, 4), 0x0100_0000);
  assert.equal(a.mmioRead(0x30, 4), 0x0005_0014);
  assert.equal(a.mmioRead(DFR, 4), 0xffff_ffff);
  assert.equal(a.mmioRead(LVT0, 4), 0x700, 'BSP LINT0 in ExtINT virtual-wire mode');
  assert.equal(a.mmioRead(0x360, 4), 0x400, 'BSP LINT1 = NMI');
  assert.equal(b.mmioRead(LVT0, 4), 0x10000, 'AP LINT0 masked');
  assert.equal(a.readMsr(0x1b), 0xfee0_0900n);
  assert.equal(b.readMsr(0x1b), 0xfee0_0800n);
});

test('LAPIC: fixed IPI is accepted, acknowledged into ISR and ended by EOI', () => {
  const { a, b, wakes } = setup();
  a.mmioWrite(ICR2, 4, 1 << 24);
  a.mmioWrite(ICR, 4, 0x4041); // fixed, assert, vector 0x41
  assert.equal(a.mmioRead(ICR, 4) & 0x1000, 0, 'delivery status reads idle');
  assert.equal(b.hasInterrupt(), true);
  assert.equal(a.hasInterrupt(), false);
  assert.deepEqual(wakes, [1]);
  assert.equal(b.mmioRead(IRR0 + 0x20, 4), 1 << 1);
  assert.equal(b.acknowledge(), 0x41);
  assert.equal(b.mmioRead(ISR0 + 0x20, 4), 1 << 1);
  assert.equal(b.mmioRead(PPR, 4), 0x40);
  assert.equal(b.hasInterrupt(), false);
  b.mmioWrite(EOI, 4, 0);
  assert.equal(b.mmioRead(ISR0 + 0x20, 4), 0);
  assert.equal(b.mmioRead(PPR, 4), 0);
  assert.equal(a.metrics.ipisSent, 1);
});

test('LAPIC: TPR and in-service vectors block lower priority classes (PPR)', () => {
  const { a } = setup();
  a.mmioWrite(ICR, 4, 0x44035); // self, vector 0x35
  assert.equal(a.hasInterrupt(), true);
  a.setTpr(3);
  assert.equal(a.mmioRead(TPR, 4), 0x30);
  assert.equal(a.hasInterrupt(), false, 'class 3 is not above TPR class 3');
  a.setTpr(2);
  assert.equal(a.getTpr(), 2);
  assert.equal(a.hasInterrupt(), true);
  assert.equal(a.acknowledge(), 0x35);
  a.mmioWrite(ICR, 4, 0x44031); // self, vector 0x31: same class as in service
  assert.equal(a.hasInterrupt(), false);
  a.mmioWrite(ICR, 4, 0x44061); // self, vector 0x61: preempts
  assert.equal(a.hasInterrupt(), true);
  assert.equal(a.acknowledge(), 0x61);
  a.mmioWrite(EOI, 4, 0);
  a.mmioWrite(EOI, 4, 0);
  assert.equal(a.acknowledge(), 0x31);
  // Acknowledge with nothing deliverable returns the spurious vector.
  assert.equal(a.acknowledge(), 0xff);
});

test('LAPIC: INIT then SIPI starts an AP once; SIPI without INIT is ignored', () => {
  const { a, b } = setup();
  a.mmioWrite(ICR2, 4, 1 << 24);
  a.mmioWrite(ICR, 4, 0x0600 | 0x10); // SIPI before INIT
  assert.equal(b.takeStartup(), -1);
  a.mmioWrite(ICR, 4, 0xc500); // INIT, level assert
  a.mmioWrite(ICR, 4, 0x8500); // INIT level de-assert: no effect
  assert.equal(b.takeInit(), true);
  a.mmioWrite(ICR, 4, 0x0600 | 0x9a); // SIPI vector 0x9a (start at 0x9a000)
  a.mmioWrite(ICR, 4, 0x0600 | 0x9b); // second SIPI ignored: the AP left wait-for-SIPI
  assert.equal(b.takeStartup(), 0x9a);
  assert.equal(b.takeStartup(), -1);
  assert.equal(a.takeStartup(), -1);
  assert.equal(b.mmioRead(SVR, 4), 0xff, 'INIT resets the APIC (software disabled)');
});

test('LAPIC: NMI IPI and LINT1 NMI', () => {
  const { a, b } = setup();
  a.mmioWrite(ICR2, 4, 1 << 24);
  a.mmioWrite(ICR, 4, 0x4400); // NMI
  assert.equal(b.takeNmi(), true);
  assert.equal(b.takeNmi(), false);
  a.lint1.set(true);
  a.lint1.set(false);
  assert.equal(a.takeNmi(), true);
});

test('LAPIC: logical flat and cluster destinations use LDR/DFR', () => {
  const { a, b } = setup();
  a.mmioWrite(LDR, 4, 0x0100_0000);
  b.mmioWrite(LDR, 4, 0x0200_0000);
  a.mmioWrite(ICR2, 4, 0x0200_0000);
  a.mmioWrite(ICR, 4, 0x4842); // logical, vector 0x42
  assert.equal(b.acknowledge(), 0x42);
  b.mmioWrite(EOI, 4, 0);
  assert.equal(a.hasInterrupt(), false);
  a.mmioWrite(DFR, 4, 0x0fff_ffff);
  b.mmioWrite(DFR, 4, 0x0fff_ffff);
  a.mmioWrite(LDR, 4, 0x1100_0000);
  b.mmioWrite(LDR, 4, 0x2100_0000);
  a.mmioWrite(ICR2, 4, 0x2100_0000);
  a.mmioWrite(ICR, 4, 0x4843);
  assert.equal(b.acknowledge(), 0x43);
  assert.equal(a.hasInterrupt(), false);
});

test('LAPIC: one-shot timer fires once and the current count runs down', () => {
  const { clock, a } = setup();
  a.mmioWrite(TDCR, 4, 0x3); // divide by 16
  a.mmioWrite(LVTT, 4, 0xec);
  a.mmioWrite(TMICT, 4, 1000);
  clock.advance(8000);
  assert.equal(a.mmioRead(TMCCT, 4), 500);
  assert.equal(a.hasInterrupt(), false);
  clock.advance(8000);
  assert.equal(a.hasInterrupt(), true);
  assert.equal(a.mmioRead(TMCCT, 4), 0);
  assert.equal(a.acknowledge(), 0xec);
  a.mmioWrite(EOI, 4, 0);
  clock.advance(1e6);
  assert.equal(a.metrics.timerFires, 1);
  assert.equal(clock.pendingTimers(), 0);
});

test('LAPIC: periodic timer fires once per period without drift', () => {
  const { clock, a } = setup();
  a.mmioWrite(TDCR, 4, 0xb); // divide by 1
  a.mmioWrite(LVTT, 4, 0x200ec);
  a.mmioWrite(TMICT, 4, 4_000_000); // 4 ms
  let taken = 0;
  for (let i = 0; i < 250; i++) {
    clock.advance(4_000_000);
    if (a.hasInterrupt()) {
      assert.equal(a.acknowledge(), 0xec);
      a.mmioWrite(EOI, 4, 0);
      taken++;
    }
  }
  assert.equal(taken, 250);
  assert.equal(a.metrics.timerFires, 250);
  clock.advance(1_000_000);
  assert.equal(a.mmioRead(TMCCT, 4), 3_000_000);
  // Masked: counts on, delivers nothing. Stopping: initial count 0.
  a.mmioWrite(LVTT, 4, 0x300ec);
  clock.advance(8_000_000);
  assert.equal(a.hasInterrupt(), false);
  a.mmioWrite(TMICT, 4, 0);
  assert.equal(clock.pendingTimers(), 0);
});

test('LAPIC: TSC-deadline timer through MSR 0x6E0', () => {
  const clock = new FakeClock();
  const bus = new ApicBus();
  // A 2 GHz TSC.
  const a = enabledApic({
    apicId: 0,
    clock,
    bus,
    tscToNs: (tsc) => Number(tsc) / 2,
    nowTsc: () => BigInt(clock.nowNs() * 2),
  });
  a.writeMsr(0x6e0, 5000n);
  assert.equal(a.readMsr(0x6e0), 0n, 'ignored outside TSC-deadline mode');
  a.mmioWrite(LVTT, 4, 0x400ef);
  a.mmioWrite(TMICT, 4, 1234);
  assert.equal(a.mmioRead(TMICT, 4), 0, 'initial count ignored in TSC-deadline mode');
  assert.equal(a.writeMsr(0x6e0, 10_000n), true);
  assert.equal(a.readMsr(0x6e0), 10_000n);
  clock.advance(4999);
  assert.equal(a.hasInterrupt(), false);
  clock.advance(1);
  assert.equal(a.hasInterrupt(), true);
  assert.equal(a.readMsr(0x6e0), 0n, 'the MSR clears when the deadline fires');
  assert.equal(a.acknowledge(), 0xef);
  a.mmioWrite(EOI, 4, 0);
  // Re-arm, then disarm with 0.
  a.writeMsr(0x6e0, BigInt(clock.nowNs() * 2 + 1000));
  a.writeMsr(0x6e0, 0n);
  clock.advance(1e6);
  assert.equal(a.hasInterrupt(), false);
  // A deadline already in the past fires at once.
  a.writeMsr(0x6e0, 1n);
  assert.equal(a.hasInterrupt(), true);
  assert.equal(a.readMsr(0xabc), undefined);
  assert.equal(a.writeMsr(0xabc, 0n), false);
});

test('LAPIC: software disable masks every LVT and blocks fixed interrupts', () => {
  const { a } = setup();
  a.mmioWrite(LVTT, 4, 0x200ec);
  a.mmioWrite(SVR, 4, 0x0ff);
  assert.equal(a.mmioRead(LVTT, 4) & 0x10000, 0x10000);
  a.mmioWrite(LVTT, 4, 0x200ec);
  assert.equal(a.mmioRead(LVTT, 4) & 0x10000, 0x10000, 'cannot unmask while disabled');
  a.mmioWrite(ICR, 4, 0x44050);
  assert.equal(a.hasInterrupt(), false);
  a.mmioWrite(SVR, 4, 0x1ff);
  assert.equal(a.hasInterrupt(), true);
});

test('LAPIC: illegal vectors set ESR bits, latched by an ESR write', () => {
  const { a } = setup();
  a.mmioWrite(ICR, 4, 0x44005);
  a.mmioWrite(ESR, 4, 0);
  assert.equal(a.mmioRead(ESR, 4), 0x20);
  a.mmioWrite(ESR, 4, 0);
  assert.equal(a.mmioRead(ESR, 4), 0);
  // With the error LVT unmasked the error raises its vector; an illegal one is dropped.
  a.mmioWrite(0x370, 4, 0xfe);
  a.mmioWrite(ICR, 4, 0x44003);
  assert.equal(a.acknowledge(), 0xfe);
  a.mmioWrite(EOI, 4, 0);
  a.mmioWrite(0x370, 4, 0x03);
  a.mmioWrite(ICR, 4, 0x44003);
  assert.equal(a.hasInterrupt(), false);
  a.mmioWrite(ESR, 4, 0);
  assert.equal(a.mmioRead(ESR, 4), 0x20, 'send illegal vector');
});

test('LAPIC: the 8259 passes through LINT0 in ExtINT mode', () => {
  const clock = new FakeClock();
  const bus = new ApicBus();
  const pic = new Pic();
  const lapic = new LocalApic({ apicId: 0, clock, bus, extInt: pic });
  pic.connectIntr(lapic.lint0);
  // Linux-style init: vectors 0x30, IRQ 0 unmasked.
  pic.masterPio.pioWrite(0, 1, 0x11);
  pic.masterPio.pioWrite(1, 1, 0x30);
  pic.masterPio.pioWrite(1, 1, 0x04);
  pic.masterPio.pioWrite(1, 1, 0x01);
  pic.masterPio.pioWrite(1, 1, 0xfe);
  pic.setIrq(0, true);
  pic.setIrq(0, false);
  assert.equal(lapic.hasInterrupt(), true, 'ExtINT passes in the reset virtual-wire state');
  assert.equal(lapic.acknowledge(), 0x30);
  assert.equal(lapic.hasInterrupt(), false);
  pic.masterPio.pioWrite(0, 1, 0x20);
  // LINT0 masked: the PIC's INTR no longer reaches the CPU.
  lapic.mmioWrite(LVT0, 4, 0x10700);
  pic.setIrq(0, true);
  pic.setIrq(0, false);
  assert.equal(lapic.hasInterrupt(), false);
  lapic.mmioWrite(LVT0, 4, 0x700);
  assert.equal(lapic.hasInterrupt(), true);
  // APIC vectors take precedence over the PIC.
  lapic.mmioWrite(ICR, 4, 0x44080);
  assert.equal(lapic.acknowledge(), 0x80);
  assert.equal(lapic.acknowledge(), 0x30);
});

test('LAPIC: save → restore → save is identical; an armed timer keeps running', () => {
  const { clock, a } = setup();
  a.mmioWrite(LVTT, 4, 0x200ec);
  a.mmioWrite(TMICT, 4, 1_000_000);
  a.mmioWrite(ICR, 4, 0x44077);
  a.setTpr(1);
  clock.advance(1_500_000);
  const state = a.save();
  const clock2 = new FakeClock(clock.nowNs());
  const copy = new LocalApic({ apicId: 0, clock: clock2, bus: new ApicBus() });
  copy.restore(JSON.parse(JSON.stringify(state)) as typeof state);
  assert.deepEqual(copy.save(), state);
  assert.equal(copy.getTpr(), 1);
  assert.equal(copy.acknowledge(), 0x77);
  copy.mmioWrite(EOI, 4, 0);
  assert.equal(copy.hasInterrupt(), false);
  clock2.advance(500_000); // the 2 ms period (divide by 2) ends
  assert.equal(copy.hasInterrupt(), true);
  assert.equal(copy.acknowledge(), 0xec);
  assert.throws(() => new LocalApic({ apicId: 1, clock, bus: new ApicBus() }).restore(state), /state is for APIC 0/);
});

test('LAPIC: Linux SMP bring-up (wakeup_secondary_cpu_via_init) and a broadcast IPI', () => {
  const { clock, bus, a, b } = setup();
  const c = enabledApic({ apicId: 2, clock, bus });
  for (const target of [1, 2]) {
    a.mmioWrite(ESR, 4, 0);
    a.mmioRead(ESR, 4);
    a.mmioWrite(ICR2, 4, target << 24);
    a.mmioWrite(ICR, 4, 0xc500); // INIT, level, assert
    assert.equal(a.mmioRead(ICR, 4) & 0x1000, 0);
    a.mmioWrite(ICR, 4, 0x8500); // INIT de-assert
    for (let j = 0; j < 2; j++) {
      a.mmioWrite(ICR, 4, 0x0600 | 0x9a); // STARTUP, start_ip 0x9a000
      assert.equal(a.mmioRead(ESR, 4) & 0xef, 0);
    }
  }
  assert.equal(b.takeInit(), true);
  assert.equal(b.takeStartup(), 0x9a);
  assert.equal(c.takeInit(), true);
  assert.equal(c.takeStartup(), 0x9a);
  // The APs come up with their APIC software-disabled; Linux's setup_local_APIC enables it.
  for (const ap of [b, c]) {
    ap.mmioWrite(TPR, 4, 0);
    ap.mmioWrite(SVR, 4, 0x3ff); // enabled, focus disabled, vector 0xff
  }
  a.mmioWrite(ICR, 4, 0xc40fd); // all excluding self, fixed, vector 0xfd (reschedule-like)
  assert.equal(a.hasInterrupt(), false);
  assert.equal(b.acknowledge(), 0xfd);
  assert.equal(c.acknowledge(), 0xfd);
  // Lowest priority by ICR: the APIC with the lower TPR wins.
  b.mmioWrite(EOI, 4, 0);
  c.mmioWrite(EOI, 4, 0);
  b.setTpr(5);
  a.mmioWrite(ICR2, 4, 0xff << 24);
  a.mmioWrite(ICR, 4, 0x4161); // lowest priority, physical broadcast
  assert.equal(a.hasInterrupt(), true, 'APIC 0 has TPR 0 and the lowest ID');
});

test('LAPIC: Linux setup_local_APIC drains ISR with EOIs and programs LINT0 masked ExtINT', () => {
  const { a } = setup();
  a.mmioWrite(ICR, 4, 0x44090);
  assert.equal(a.acknowledge(), 0x90);
  a.mmioWrite(ICR, 4, 0x440a0);
  assert.equal(a.acknowledge(), 0xa0, 'nested: a higher class preempts');
  // The loop: while any ISR bit is set, write EOI.
  let eois = 0;
  for (;;) {
    let any = 0;
    for (let i = 0; i < 8; i++) any |= a.mmioRead(ISR0 + i * 0x10, 4);
    if (any === 0) break;
    a.mmioWrite(EOI, 4, 0);
    eois++;
  }
  assert.equal(eois, 2);
  a.mmioWrite(LVT0, 4, 0x10700);
  assert.equal(a.mmioRead(LVT0, 4), 0x10700);
  a.mmioWrite(0x360, 4, 0x400);
  a.mmioWrite(0x370, 4, 0xfe);
  assert.equal(a.mmioRead(0x370, 4), 0xfe);
  assert.equal(a.mmioRead(0x090, 4), 0, 'APR');
  // Byte reads see the same register.
  assert.equal(a.mmioRead(0x32, 1), 0x05, 'APIC version: max LVT byte');
});
