import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../testing/fake-clock.js';
import { Pit, PIT_CLOCK_HZ } from './device.js';

/** An IrqLine that counts rising edges. */
function edgeCounter(): { set(level: boolean): void; edges: number; level: boolean } {
  return {
    edges: 0,
    level: false,
    set(level: boolean) {
      if (level && !this.level) this.edges++;
      this.level = level;
    },
  };
}

test('PIT: mode 2 at HZ=1000 raises IRQ 0 a thousand times per simulated second, without drift', () => {
  const clock = new FakeClock();
  const irq = edgeCounter();
  const pit = new Pit({ clock, irq });
  const latch = Math.floor((PIT_CLOCK_HZ + 500) / 1000); // Linux's PIT_LATCH
  pit.pio.pioWrite(3, 1, 0x34); // channel 0, lobyte/hibyte, mode 2, binary
  pit.pio.pioWrite(0, 1, latch & 0xff);
  pit.pio.pioWrite(0, 1, latch >> 8);
  clock.advance(1e9);
  assert.equal(irq.edges, Math.floor((1e9 * PIT_CLOCK_HZ) / 1e9 / latch));
  clock.advance(9e9);
  assert.equal(irq.edges, Math.floor((10 * PIT_CLOCK_HZ) / latch));
  assert.equal(pit.timerArmed, true);
});

test('PIT: mode 3 square wave also fires once per period', () => {
  const clock = new FakeClock();
  const irq = edgeCounter();
  const pit = new Pit({ clock, irq });
  pit.pio.pioWrite(3, 1, 0x36);
  pit.pio.pioWrite(0, 1, 0);
  pit.pio.pioWrite(0, 1, 0); // 65536: ~18.2 Hz
  clock.advance(1e9);
  assert.equal(irq.edges, 18);
});

test('PIT: Linux shutdown (mode 0, count 0) fires once and then arms nothing', () => {
  const clock = new FakeClock();
  const irq = edgeCounter();
  const pit = new Pit({ clock, irq });
  pit.pio.pioWrite(3, 1, 0x34);
  pit.pio.pioWrite(0, 1, 0x9b);
  pit.pio.pioWrite(0, 1, 0x04);
  clock.advance(5e6);
  const before = irq.edges;
  pit.pio.pioWrite(3, 1, 0x30); // pit_shutdown
  assert.equal(pit.timerArmed, false);
  pit.pio.pioWrite(0, 1, 0);
  pit.pio.pioWrite(0, 1, 0);
  clock.advance(1e9);
  assert.equal(irq.edges, before + 1);
  assert.equal(irq.level, true, 'mode 0 OUT stays high after terminal count');
  assert.equal(pit.timerArmed, false);
  pit.pio.pioWrite(3, 1, 0x30);
  assert.equal(irq.level, false, 'reprogramming mode 0 drops OUT');
});

test('PIT: mode 4 one-shot (Linux oneshot clockevent) pulses once', () => {
  const clock = new FakeClock();
  const irq = edgeCounter();
  const pit = new Pit({ clock, irq });
  pit.pio.pioWrite(3, 1, 0x38);
  pit.pio.pioWrite(0, 1, 100);
  pit.pio.pioWrite(0, 1, 0);
  clock.advance(80_000);
  assert.equal(irq.edges, 0);
  clock.advance(10_000);
  assert.equal(irq.edges, 1);
  clock.advance(1e9);
  assert.equal(irq.edges, 1);
  assert.equal(pit.timerArmed, false);
});

test('PIT: quick_pit_calibrate reads a falling MSB on channel 2 gated through port 0x61', () => {
  const clock = new FakeClock();
  const pit = new Pit({ clock });
  pit.portBPio.pioWrite(0, 1, (pit.portBPio.pioRead(0, 1) & ~0x02) | 0x01);
  pit.pio.pioWrite(3, 1, 0xb0);
  pit.pio.pioWrite(2, 1, 0xff);
  pit.pio.pioWrite(2, 1, 0xff);
  // pit_verify_msb(0): discard LSB, read MSB.
  pit.pio.pioRead(2, 1);
  assert.equal(pit.pio.pioRead(2, 1), 0xff);
  let lastMsb = 0xff;
  const start = clock.nowNs();
  for (let i = 1; i < 60; i++) {
    clock.advanceTo(start + Math.ceil(nsPerTicks(256 * i)));
    pit.pio.pioRead(2, 1);
    const msb = pit.pio.pioRead(2, 1);
    assert.equal(msb, 0xff - i, `MSB after ${i} x 256 ticks`);
    lastMsb = msb;
  }
  assert.ok(lastMsb < 0xff);
});

function nsPerTicks(ticks: number): number {
  return (ticks * 1e9) / PIT_CLOCK_HZ;
}

test('PIT: pit_calibrate_tsc polls OUT2 in port 0x61 until 50 ms of ticks have passed', () => {
  const clock = new FakeClock();
  const pit = new Pit({ clock });
  const latch = Math.floor(PIT_CLOCK_HZ / (1000 / 50));
  pit.portBPio.pioWrite(0, 1, (pit.portBPio.pioRead(0, 1) & ~0x02) | 0x01);
  pit.pio.pioWrite(3, 1, 0xb0);
  pit.pio.pioWrite(2, 1, latch & 0xff);
  pit.pio.pioWrite(2, 1, latch >> 8);
  const start = clock.nowNs();
  let polls = 0;
  while ((pit.portBPio.pioRead(0, 1) & 0x20) === 0) {
    clock.advance(1000);
    polls++;
    assert.ok(polls < 100_000, 'OUT2 never rose');
  }
  const elapsedMs = (clock.nowNs() - start) / 1e6;
  assert.ok(elapsedMs >= 49.9 && elapsedMs <= 50.1, `elapsed ${elapsedMs} ms`);
  // Gate low freezes a mode 0 count; OUT2 follows the count.
  pit.pio.pioWrite(3, 1, 0xb0);
  pit.pio.pioWrite(2, 1, 0x00);
  pit.pio.pioWrite(2, 1, 0x10);
  pit.portBPio.pioWrite(0, 1, 0x00);
  clock.advance(1e9);
  assert.equal(pit.portBPio.pioRead(0, 1) & 0x21, 0);
  pit.pio.pioWrite(3, 1, 0x80); // latch channel 2
  assert.equal(pit.pio.pioRead(2, 1) | (pit.pio.pioRead(2, 1) << 8), 0x1000);
});

test('PIT: port 0x61 refresh bit toggles on every read', () => {
  const pit = new Pit({ clock: new FakeClock() });
  const a = pit.portBPio.pioRead(0, 1) & 0x10;
  const b = pit.portBPio.pioRead(0, 1) & 0x10;
  assert.notEqual(a, b);
});

test('PIT: counter latch holds the count; read-back latches status and count', () => {
  const clock = new FakeClock();
  const pit = new Pit({ clock });
  pit.pio.pioWrite(3, 1, 0x34);
  pit.pio.pioWrite(0, 1, 0x00);
  pit.pio.pioWrite(0, 1, 0x10); // 4096
  clock.advance(nsPerTicks(96) + 1);
  pit.pio.pioWrite(3, 1, 0x00); // latch channel 0
  clock.advance(nsPerTicks(1000));
  const lo = pit.pio.pioRead(0, 1);
  const hi = pit.pio.pioRead(0, 1);
  assert.equal(lo | (hi << 8), 4000);
  // Read-back: status and count of channel 0.
  pit.pio.pioWrite(3, 1, 0xc2);
  const status = pit.pio.pioRead(0, 1);
  assert.equal(status & 0x3f, 0x34);
  assert.equal(status & 0x40, 0, 'count loaded');
  const count = pit.pio.pioRead(0, 1) | (pit.pio.pioRead(0, 1) << 8);
  assert.equal(count, 4096 - ((96 + 1000) % 4096));
  // Null count until a count is written after a control word.
  pit.pio.pioWrite(3, 1, 0x74);
  pit.pio.pioWrite(3, 1, 0xe4); // read-back status only, channel 1
  assert.equal(pit.pio.pioRead(1, 1) & 0x40, 0x40);
});

test('PIT: save → restore → save is identical and the periodic IRQ continues', () => {
  const clock = new FakeClock();
  const irq = edgeCounter();
  const pit = new Pit({ clock, irq });
  pit.pio.pioWrite(3, 1, 0x34);
  pit.pio.pioWrite(0, 1, 0xa9);
  pit.pio.pioWrite(0, 1, 0x04);
  clock.advance(3_500_000);
  const state = pit.save();
  const irq2 = edgeCounter();
  const copy = new Pit({ clock, irq: irq2 });
  copy.restore(JSON.parse(JSON.stringify(state)) as typeof state);
  assert.deepEqual(copy.save(), state);
  // Stop the original so only the copy runs.
  pit.pio.pioWrite(3, 1, 0x30);
  clock.advance(10_000_000);
  assert.equal(irq2.edges, Math.floor(13_500_000 / 1e9 * PIT_CLOCK_HZ / 0x4a9) - 3);
});

test('PIT: read-back status shows OUT rising at terminal count in mode 0', () => {
  const clock = new FakeClock();
  const pit = new Pit({ clock });
  pit.pio.pioWrite(3, 1, 0x70); // channel 1, lohi, mode 0
  pit.pio.pioWrite(1, 1, 100);
  pit.pio.pioWrite(1, 1, 0);
  pit.pio.pioWrite(3, 1, 0xe4);
  assert.equal(pit.pio.pioRead(1, 1) & 0x80, 0);
  clock.advance(nsPerTicks(101));
  pit.pio.pioWrite(3, 1, 0xe4);
  assert.equal(pit.pio.pioRead(1, 1), 0x80 | 0x30);
  // BCD mode counts in decimal.
  pit.pio.pioWrite(3, 1, 0x71);
  pit.pio.pioWrite(1, 1, 0x00);
  pit.pio.pioWrite(1, 1, 0x10); // 1000 in BCD
  clock.advance(Math.ceil(nsPerTicks(1)));
  pit.pio.pioWrite(3, 1, 0x40);
  assert.equal(pit.pio.pioRead(1, 1) | (pit.pio.pioRead(1, 1) << 8), 0x0999);
});
