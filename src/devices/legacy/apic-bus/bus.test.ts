import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ApicBus,
  APIC_DM_FIXED,
  APIC_DM_LOWEST,
  APIC_DEST_ALL_EXCLUDING_SELF,
  APIC_DEST_ALL_INCLUDING_SELF,
  APIC_DEST_SELF,
} from './bus.js';
import type { ApicBusTarget, ApicMessage } from './bus.js';
import { isaIrqLines } from './isa-irq-lines.js';

class FakeApic implements ApicBusTarget {
  received: number[] = [];
  constructor(
    readonly apicId: number,
    private readonly logicalId: number,
    private readonly cluster = false,
    public priority = 0,
  ) {}
  matchesLogical(d: number): boolean {
    if (d === 0xff) return true;
    if (!this.cluster) return (this.logicalId & d) !== 0;
    return this.logicalId >> 4 === d >> 4 && (this.logicalId & d & 0xf) !== 0;
  }
  arbitrationPriority(): number {
    return this.priority;
  }
  accept(m: ApicMessage): void {
    this.received.push(m.vector);
  }
}

function msg(vector: number, destination: number, logical = false, deliveryMode = APIC_DM_FIXED): ApicMessage {
  return { vector, deliveryMode, logical, destination, levelTriggered: false, assert: true };
}

test('APIC bus: physical, broadcast and logical (flat) destinations', () => {
  const bus = new ApicBus();
  const a = new FakeApic(0, 0x01);
  const b = new FakeApic(1, 0x02);
  bus.attach(b);
  bus.attach(a);
  assert.equal(bus.send(msg(0x40, 1)), 1);
  assert.equal(bus.send(msg(0x41, 0xff)), 2);
  assert.equal(bus.send(msg(0x42, 0x03, true)), 2);
  assert.equal(bus.send(msg(0x43, 0x01, true)), 1);
  assert.equal(bus.send(msg(0x44, 7)), 0);
  assert.deepEqual(a.received, [0x41, 0x42, 0x43]);
  assert.deepEqual(b.received, [0x40, 0x41, 0x42]);
  assert.throws(() => bus.attach(new FakeApic(1, 0)), /already on the bus/);
});

test('APIC bus: cluster logical model, lowest priority and shorthands', () => {
  const bus = new ApicBus();
  const a = new FakeApic(0, 0x11, true, 0x20);
  const b = new FakeApic(1, 0x12, true, 0x10);
  const c = new FakeApic(2, 0x21, true, 0x00);
  for (const t of [a, b, c]) bus.attach(t);
  assert.equal(bus.send(msg(0x50, 0x13, true)), 2);
  assert.equal(bus.send(msg(0x51, 0x13, true, APIC_DM_LOWEST)), 1);
  assert.deepEqual(b.received, [0x50, 0x51], 'lowest arbitration priority wins');
  assert.equal(bus.send(msg(0x52, 0), APIC_DEST_SELF, 2), 1);
  assert.equal(bus.send(msg(0x53, 0), APIC_DEST_ALL_EXCLUDING_SELF, 2), 2);
  assert.equal(bus.send(msg(0x54, 0), APIC_DEST_ALL_INCLUDING_SELF, 2), 3);
  assert.deepEqual(c.received, [0x52, 0x54]);
  assert.deepEqual(a.received, [0x50, 0x53, 0x54]);
});

test('APIC bus: MSI address/data decoding (SDM §10.11)', () => {
  const bus = new ApicBus();
  const a = new FakeApic(0, 0x01);
  const b = new FakeApic(1, 0x02);
  bus.attach(a);
  bus.attach(b);
  let got: ApicMessage | undefined;
  b.accept = (m) => {
    got = { ...m };
  };
  assert.equal(bus.deliverMsi(0xfee0_1000, 0x0000_4061), true); // dest 1, physical, fixed, vector 0x61
  assert.deepEqual(got, { vector: 0x61, deliveryMode: 0, logical: false, destination: 1, levelTriggered: false, assert: true });
  assert.equal(bus.deliverMsi(0xfee0_2004, 0x0000_0162), true); // dest 2 logical, lowest priority
  assert.equal(got?.vector, 0x62);
  assert.equal(got.logical, true);
  assert.equal(got.deliveryMode, APIC_DM_LOWEST);
  assert.equal(bus.deliverMsi(0xfed0_0000, 0x41), false);
});

test('APIC bus: EOI broadcasts reach every listener', () => {
  const bus = new ApicBus();
  const seen: number[] = [];
  bus.onEoi((v) => seen.push(v));
  bus.onEoi((v) => seen.push(v + 1000));
  bus.broadcastEoi(0x33);
  assert.deepEqual(seen, [0x33, 0x33 + 1000]);
});

test('isaIrqLines: IRQ 0 goes to IOAPIC pin 2, others to pin n, IRQ 2 nowhere', () => {
  const pic: [number, boolean][] = [];
  const ioapic: [number, boolean][] = [];
  const lines = isaIrqLines(
    { setIrq: (i, l) => pic.push([i, l]) },
    { setIrq: (i, l) => ioapic.push([i, l]) },
  );
  assert.equal(lines.length, 16);
  lines[0]?.set(true);
  lines[4]?.set(true);
  lines[2]?.set(true);
  lines[14]?.set(false);
  assert.deepEqual(pic, [[0, true], [4, true], [14, false]]);
  assert.deepEqual(ioapic, [[2, true], [4, true], [14, false]]);
});
