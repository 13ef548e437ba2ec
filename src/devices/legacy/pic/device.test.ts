import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pic } from './device.js';

/** Linux's init_8259A (arch/x86/kernel/i8259.c), vectors 0x30/0x38, all masked. */
function linuxInit(pic: Pic, autoEoi = false): void {
  const m = pic.masterPio;
  const s = pic.slavePio;
  m.pioWrite(1, 1, 0xff);
  s.pioWrite(1, 1, 0xff);
  m.pioWrite(0, 1, 0x11); // ICW1: edge, cascade, ICW4
  m.pioWrite(1, 1, 0x30); // ICW2: vectors 0x30-0x37
  m.pioWrite(1, 1, 1 << 2); // ICW3: slave on IR2
  m.pioWrite(1, 1, autoEoi ? 0x03 : 0x01); // ICW4: 8086 mode (+AEOI)
  s.pioWrite(0, 1, 0x11);
  s.pioWrite(1, 1, 0x38);
  s.pioWrite(1, 1, 2); // slave ID 2
  s.pioWrite(1, 1, 0x01);
  m.pioWrite(1, 1, 0xff);
  s.pioWrite(1, 1, 0xff);
}

function unmask(pic: Pic, irq: number): void {
  if (irq < 8) {
    pic.masterPio.pioWrite(1, 1, pic.masterPio.pioRead(1, 1) & ~(1 << irq));
  } else {
    pic.slavePio.pioWrite(1, 1, pic.slavePio.pioRead(1, 1) & ~(1 << (irq - 8)));
    pic.masterPio.pioWrite(1, 1, pic.masterPio.pioRead(1, 1) & ~(1 << 2));
  }
}

function pulse(pic: Pic, irq: number): void {
  pic.setIrq(irq, true);
  pic.setIrq(irq, false);
}

test('PIC: Linux probe reads back the IMR and init_8259A programs both chips', () => {
  const pic = new Pic();
  pic.masterPio.pioWrite(1, 1, 0xfb);
  assert.equal(pic.masterPio.pioRead(1, 1), 0xfb);
  linuxInit(pic);
  assert.equal(pic.imr, 0xffff);
  assert.equal(pic.hasInterrupt(), false);
  unmask(pic, 0);
  pulse(pic, 0);
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x30);
  assert.equal(pic.hasInterrupt(), false);
});

test('PIC: masked IRQs stay pending in IRR and are delivered when unmasked', () => {
  const pic = new Pic();
  linuxInit(pic);
  pulse(pic, 4);
  assert.equal(pic.hasInterrupt(), false);
  pic.masterPio.pioWrite(0, 1, 0x0a); // OCW3: read IRR
  assert.equal(pic.masterPio.pioRead(0, 1) & 0x10, 0x10);
  unmask(pic, 4);
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x34);
  pic.masterPio.pioWrite(0, 1, 0x0b); // OCW3: read ISR
  assert.equal(pic.masterPio.pioRead(0, 1), 0x10);
});

test('PIC: in-service IRQ blocks lower priorities until EOI; higher ones preempt', () => {
  const changes: boolean[] = [];
  const pic = new Pic({ onIntrChange: (l) => changes.push(l) });
  linuxInit(pic);
  unmask(pic, 1);
  unmask(pic, 3);
  unmask(pic, 0);
  pulse(pic, 1);
  assert.equal(pic.acknowledge(), 0x31);
  pulse(pic, 3);
  assert.equal(pic.hasInterrupt(), false, 'IR3 is below IR1 in service');
  pulse(pic, 0);
  assert.equal(pic.hasInterrupt(), true, 'IR0 preempts IR1');
  assert.equal(pic.acknowledge(), 0x30);
  pic.masterPio.pioWrite(0, 1, 0x20); // non-specific EOI: ends IR0
  assert.equal(pic.hasInterrupt(), false);
  pic.masterPio.pioWrite(0, 1, 0x60 + 1); // specific EOI for IR1
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x33);
  assert.deepEqual(changes, [true, false, true, false, true, false]);
});

test('PIC: slave IRQs cascade through master IR2 and need EOI on both chips', () => {
  const pic = new Pic();
  linuxInit(pic);
  unmask(pic, 8);
  unmask(pic, 12);
  pulse(pic, 12);
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x3c);
  pulse(pic, 8);
  assert.equal(pic.hasInterrupt(), false, 'master IR2 is in service');
  // Linux's mask_and_ack_8259A: specific EOI to the slave, then to master IR2.
  pic.slavePio.pioWrite(0, 1, 0x60 + 4);
  pic.masterPio.pioWrite(0, 1, 0x60 + 2);
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x38);
});

test('PIC: level-triggered IRQs (ELCR) re-request until the line drops', () => {
  const pic = new Pic();
  linuxInit(pic);
  pic.elcrPio.pioWrite(1, 1, 1 << (11 - 8)); // IRQ 11 level
  assert.equal(pic.elcrPio.pioRead(1, 1), 0x08);
  unmask(pic, 11);
  pic.setIrq(11, true);
  assert.equal(pic.acknowledge(), 0x3b);
  pic.slavePio.pioWrite(0, 1, 0x20);
  pic.masterPio.pioWrite(0, 1, 0x20);
  assert.equal(pic.hasInterrupt(), true, 'line still high');
  assert.equal(pic.acknowledge(), 0x3b);
  pic.setIrq(11, false);
  pic.slavePio.pioWrite(0, 1, 0x20);
  pic.masterPio.pioWrite(0, 1, 0x20);
  assert.equal(pic.hasInterrupt(), false);
  // An edge IRQ held high fires once only.
  unmask(pic, 5);
  pic.setIrq(5, true);
  assert.equal(pic.acknowledge(), 0x35);
  pic.masterPio.pioWrite(0, 1, 0x20);
  assert.equal(pic.hasInterrupt(), false);
  // ELCR bits for IRQ 0, 1, 2, 8, 13 are hard-wired to edge.
  pic.elcrPio.pioWrite(0, 2, 0xffff);
  assert.equal(pic.elcrPio.pioRead(0, 2), 0xdef8);
});

test('PIC: auto-EOI leaves nothing in service', () => {
  const pic = new Pic();
  linuxInit(pic, true);
  unmask(pic, 1);
  pulse(pic, 1);
  assert.equal(pic.acknowledge(), 0x31);
  pic.masterPio.pioWrite(0, 1, 0x0b);
  assert.equal(pic.masterPio.pioRead(0, 1), 0);
  pulse(pic, 1);
  assert.equal(pic.hasInterrupt(), true);
});

test('PIC: spurious acknowledge returns IR7 / IR15 vectors without ISR bits', () => {
  const pic = new Pic();
  linuxInit(pic);
  assert.equal(pic.acknowledge(), 0x37);
  pic.masterPio.pioWrite(0, 1, 0x0b);
  assert.equal(pic.masterPio.pioRead(0, 1), 0);
});

test('PIC: poll mode and priority rotation', () => {
  const pic = new Pic();
  linuxInit(pic);
  pic.masterPio.pioWrite(1, 1, 0x00);
  pulse(pic, 6);
  pulse(pic, 3);
  pic.masterPio.pioWrite(0, 1, 0x0c); // OCW3 poll
  assert.equal(pic.masterPio.pioRead(0, 1), 0x83);
  pic.masterPio.pioWrite(0, 1, 0xa0); // rotate on non-specific EOI: IR3 becomes lowest
  pulse(pic, 3);
  assert.equal(pic.acknowledge(), 0x36, 'IR6 now outranks IR3');
  pic.masterPio.pioWrite(0, 1, 0xc0 + 7); // set priority: IR7 lowest → IR0 highest
  pic.masterPio.pioWrite(0, 1, 0x20);
  assert.equal(pic.acknowledge(), 0x33);
});

test('PIC: save → restore → save is identical and behaviour continues', () => {
  const pic = new Pic();
  linuxInit(pic);
  unmask(pic, 8);
  pic.elcrPio.pioWrite(1, 1, 0x08);
  pulse(pic, 8);
  const state = pic.save();
  const copy = new Pic();
  copy.restore(JSON.parse(JSON.stringify(state)) as typeof state);
  assert.deepEqual(copy.save(), state);
  assert.equal(copy.hasInterrupt(), true);
  assert.equal(copy.acknowledge(), 0x38);
});
