import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RESET_PORT, RESET_VALUE } from '../../../arch/x86/layout.js';
import { PioBus } from '../../bus.js';
import { ResetControl } from './device.js';

function make() {
  let resets = 0;
  const rc = new ResetControl({ onReset: () => resets++ });
  const bus = new PioBus();
  bus.register(RESET_PORT, 1, rc.resetControlPort, 'reset-control');
  bus.register(0x92, 1, rc.systemControlPortA, 'port92');
  return { rc, bus, resets: () => resets };
}

test('0xCF9: the FADT RESET_VALUE resets; Linux reboot=pci sequence resets once', () => {
  const { bus, resets } = make();
  bus.pioWrite(RESET_PORT, 1, RESET_VALUE);
  assert.equal(resets(), 1);
  bus.pioWrite(RESET_PORT, 1, 0x02);
  assert.equal(resets(), 1, 'SYS_RST alone only selects the reset kind');
  assert.equal(bus.pioRead(RESET_PORT, 1), 0x02);
  bus.pioWrite(RESET_PORT, 1, 0x06);
  assert.equal(resets(), 2);
});

test('port 0x92: fast reset on bit 0 rising, A20 bit kept', () => {
  const { bus, rc, resets } = make();
  assert.equal(bus.pioRead(0x92, 1), 0x02);
  bus.pioWrite(0x92, 1, 0x00);
  assert.equal(rc.a20Enabled, false);
  assert.equal(resets(), 0);
  bus.pioWrite(0x92, 1, 0x03);
  assert.equal(resets(), 1);
  assert.equal(rc.a20Enabled, true);
  assert.equal(bus.pioRead(0x92, 1) & 1, 0, 'the reset bit self-clears');
});

test('save → restore → save round trip is identical and behaviour continues', () => {
  const a = make();
  a.bus.pioWrite(RESET_PORT, 1, 0x02);
  a.bus.pioWrite(0x92, 1, 0x00);
  const s1 = a.rc.save();
  const b = make();
  b.rc.restore(JSON.parse(JSON.stringify(s1)));
  assert.deepEqual(b.rc.save(), s1);
  assert.equal(b.rc.a20Enabled, false);
  b.bus.pioWrite(RESET_PORT, 1, 0x06);
  assert.equal(b.resets(), 1);
  assert.throws(() => b.rc.restore({ ...s1, version: 2 as 1 }), /version 2/);
});
