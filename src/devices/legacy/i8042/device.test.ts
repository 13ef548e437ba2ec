import { test } from 'node:test';
import assert from 'node:assert/strict';
import { I8042_PORT } from '../../../arch/x86/layout.js';
import { PioBus } from '../../bus.js';
import { RecordingIrqLine } from '../../testing/recording-irq-line.js';
import {
  I8042,
  I8042_CMD_AUX_ENABLE,
  I8042_CMD_AUX_DISABLE,
  I8042_CMD_AUX_LOOP,
  I8042_CMD_AUX_SEND,
  I8042_CMD_AUX_TEST,
  I8042_CMD_CTL_RCTR,
  I8042_CMD_CTL_TEST,
  I8042_CMD_CTL_WCTR,
  I8042_CMD_KBD_DISABLE,
  I8042_CMD_KBD_ENABLE,
  I8042_CMD_KBD_TEST,
  I8042_CMD_WRITE_OUTPUT,
  I8042_CTR_AUXDIS,
  I8042_CTR_AUXINT,
  I8042_CTR_KBDDIS,
  I8042_CTR_KBDINT,
  I8042_STR_AUXDATA,
  I8042_STR_IBF,
  I8042_STR_OBF,
  I8042_STR_TIMEOUT,
} from './device.js';

const DATA = I8042_PORT;
const CMD = I8042_PORT + 4;

function make() {
  const kbdIrq = new RecordingIrqLine();
  const auxIrq = new RecordingIrqLine();
  let resets = 0;
  const kbc = new I8042({ kbdIrq, auxIrq, onReset: () => resets++ });
  const bus = new PioBus();
  bus.register(DATA, 1, kbc.dataPort, 'i8042-data');
  bus.register(CMD, 1, kbc.commandPort, 'i8042-cmd');
  return { kbc, bus, kbdIrq, auxIrq, resets: () => resets };
}

/** Linux's __i8042_command: wait !IBF, write the command, the parameters, then read results (waiting OBF). */
function command(bus: PioBus, cmd: number, params: number[], results: number): number[] | 'timeout' {
  assert.equal(bus.pioRead(CMD, 1) & I8042_STR_IBF, 0);
  bus.pioWrite(CMD, 1, cmd);
  for (const p of params) {
    assert.equal(bus.pioRead(CMD, 1) & I8042_STR_IBF, 0);
    bus.pioWrite(DATA, 1, p);
  }
  const out: number[] = [];
  for (let i = 0; i < results; i++) {
    if (!(bus.pioRead(CMD, 1) & I8042_STR_OBF)) return 'timeout';
    out.push(bus.pioRead(DATA, 1));
  }
  return out;
}

function flush(bus: PioBus): number {
  let n = 0;
  while (bus.pioRead(CMD, 1) & I8042_STR_OBF && n < 16) {
    bus.pioRead(DATA, 1);
    n++;
  }
  return n;
}

test("Linux's i8042 probe: controller found, self test, CTR round trip, AUX loopback and AUX IRQ", () => {
  const { bus, auxIrq, kbdIrq } = make();
  assert.notEqual(bus.pioRead(CMD, 1), 0xff, 'a controller is present');
  flush(bus);
  assert.deepEqual(command(bus, I8042_CMD_CTL_TEST, [], 1), [0x55]);
  assert.equal(kbdIrq.level, false, 'response consumed: line low');
  const [ctr] = command(bus, I8042_CMD_CTL_RCTR, [], 1) as number[];
  assert.ok(ctr !== undefined);
  // i8042_controller_init: disable both ports and their interrupts.
  const quiet = (ctr | I8042_CTR_KBDDIS | I8042_CTR_AUXDIS) & ~(I8042_CTR_KBDINT | I8042_CTR_AUXINT);
  assert.deepEqual(command(bus, I8042_CMD_CTL_WCTR, [quiet], 0), []);
  assert.deepEqual(command(bus, I8042_CMD_CTL_RCTR, [], 1), [quiet]);
  // i8042_check_aux: loopback must echo with AUXDATA set.
  flush(bus);
  bus.pioWrite(CMD, 1, I8042_CMD_AUX_LOOP);
  bus.pioWrite(DATA, 1, 0x5a);
  assert.equal(bus.pioRead(CMD, 1) & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF | I8042_STR_AUXDATA);
  assert.equal(bus.pioRead(DATA, 1), 0x5a);
  // i8042_toggle_aux: the AUXDIS bit follows the CTR writes.
  command(bus, I8042_CMD_CTL_WCTR, [quiet | I8042_CTR_AUXDIS], 0);
  assert.equal((command(bus, I8042_CMD_CTL_RCTR, [], 1) as number[])[0]! & I8042_CTR_AUXDIS, I8042_CTR_AUXDIS);
  command(bus, I8042_CMD_CTL_WCTR, [quiet & ~I8042_CTR_AUXDIS], 0);
  assert.equal((command(bus, I8042_CMD_CTL_RCTR, [], 1) as number[])[0]! & I8042_CTR_AUXDIS, 0);
  // AUX IRQ delivery test: AUXINT on, loopback 0xa5, IRQ 12 must rise.
  command(bus, I8042_CMD_CTL_WCTR, [(quiet & ~I8042_CTR_AUXDIS) | I8042_CTR_AUXINT], 0);
  bus.pioWrite(CMD, 1, I8042_CMD_AUX_LOOP);
  bus.pioWrite(DATA, 1, 0xa5);
  assert.equal(auxIrq.level, true);
  assert.equal(bus.pioRead(DATA, 1), 0xa5);
  assert.equal(auxIrq.level, false);
  assert.deepEqual(command(bus, I8042_CMD_AUX_TEST, [], 1), [0]);
  assert.deepEqual(command(bus, I8042_CMD_KBD_TEST, [], 1), [0]);
});

test('bytes for the absent keyboard and mouse are NAKed with TIMEOUT at once, with the right IRQ', () => {
  const { bus, kbdIrq, auxIrq } = make();
  command(bus, I8042_CMD_CTL_WCTR, [I8042_CTR_KBDINT | I8042_CTR_AUXINT], 0);
  bus.pioWrite(DATA, 1, 0xf2); // atkbd GETID
  assert.equal(kbdIrq.level, true);
  assert.equal(bus.pioRead(CMD, 1) & (I8042_STR_OBF | I8042_STR_TIMEOUT | I8042_STR_AUXDATA), I8042_STR_OBF | I8042_STR_TIMEOUT);
  assert.equal(bus.pioRead(DATA, 1), 0xfe);
  assert.equal(kbdIrq.level, false);
  bus.pioWrite(CMD, 1, I8042_CMD_AUX_SEND);
  bus.pioWrite(DATA, 1, 0xff); // psmouse reset
  assert.equal(auxIrq.level, true);
  assert.equal(kbdIrq.level, false);
  assert.equal(bus.pioRead(CMD, 1) & (I8042_STR_TIMEOUT | I8042_STR_AUXDATA), I8042_STR_TIMEOUT | I8042_STR_AUXDATA);
  assert.equal(bus.pioRead(DATA, 1), 0xfe);
  assert.equal(auxIrq.level, false);
  assert.equal(flush(bus), 0);
});

test('enable/disable commands drive the CTR port-disable bits', () => {
  const { bus } = make();
  const ctr = (): number => (command(bus, I8042_CMD_CTL_RCTR, [], 1) as number[])[0]!;
  bus.pioWrite(CMD, 1, I8042_CMD_KBD_DISABLE);
  bus.pioWrite(CMD, 1, I8042_CMD_AUX_DISABLE);
  assert.equal(ctr() & (I8042_CTR_KBDDIS | I8042_CTR_AUXDIS), I8042_CTR_KBDDIS | I8042_CTR_AUXDIS);
  bus.pioWrite(CMD, 1, I8042_CMD_KBD_ENABLE);
  bus.pioWrite(CMD, 1, I8042_CMD_AUX_ENABLE);
  assert.equal(ctr() & (I8042_CTR_KBDDIS | I8042_CTR_AUXDIS), 0);
});

test('reset through pulse 0xFE and through output port bit 0; 0xFF pulses nothing', () => {
  const { bus, kbc, resets } = make();
  bus.pioWrite(CMD, 1, 0xff);
  assert.equal(resets(), 0);
  bus.pioWrite(CMD, 1, 0xfe);
  assert.equal(resets(), 1);
  bus.pioWrite(CMD, 1, I8042_CMD_WRITE_OUTPUT);
  bus.pioWrite(DATA, 1, 0x03); // A20 on, reset inactive
  assert.equal(resets(), 1);
  assert.equal(kbc.a20Enabled, true);
  bus.pioWrite(CMD, 1, I8042_CMD_WRITE_OUTPUT);
  bus.pioWrite(DATA, 1, 0x00);
  assert.equal(resets(), 2);
  assert.equal(kbc.a20Enabled, false);
});

test('save → restore → save round trip is identical and behaviour continues', () => {
  const a = make();
  command(a.bus, I8042_CMD_CTL_WCTR, [I8042_CTR_KBDINT], 0);
  a.bus.pioWrite(CMD, 1, I8042_CMD_CTL_TEST);
  a.bus.pioWrite(CMD, 1, I8042_CMD_CTL_RCTR);
  a.bus.pioWrite(CMD, 1, I8042_CMD_CTL_WCTR); // parameter still pending
  const s1 = a.kbc.save();
  const b = make();
  b.kbc.restore(JSON.parse(JSON.stringify(s1)));
  assert.deepEqual(b.kbc.save(), s1);
  assert.equal(b.kbdIrq.level, true);
  b.bus.pioWrite(DATA, 1, 0x45);
  assert.equal(b.bus.pioRead(DATA, 1), 0x55);
  assert.equal(b.bus.pioRead(DATA, 1), I8042_CTR_KBDINT);
  assert.deepEqual(command(b.bus, I8042_CMD_CTL_RCTR, [], 1), [0x45]);
  assert.throws(() => b.kbc.restore({ ...s1, version: 0 as 1 }), /version 0/);
});
