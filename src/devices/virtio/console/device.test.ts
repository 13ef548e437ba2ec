import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestPlatform } from '../testing/test-platform.js';
import { VirtioDriverMock } from '../testing/driver-mock.js';
import { addVirtioConsole } from '../platform.js';
import { CONSOLE_CFG_COLS, CONSOLE_CFG_EMERG_WR, CONSOLE_CFG_MAX_NR_PORTS, CONSOLE_CFG_ROWS, CONSOLE_RX_QUEUE, CONSOLE_TX_QUEUE, CONSOLE_INPUT_LIMIT_BYTES } from './device.js';

function rig(): { t: ReturnType<typeof createTestPlatform>; drv: VirtioDriverMock; con: ReturnType<typeof addVirtioConsole>; out: number[] } {
  const t = createTestPlatform(8 << 20);
  const out: number[] = [];
  const con = addVirtioConsole(t.pci, { output: (b) => { out.push(...b); }, cols: 100, rows: 40 });
  const drv = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, con.slot);
  return { t, drv, con, out };
}

test('virtio-console: identity, configuration and emergency write', () => {
  const { t, drv, con, out } = rig();
  assert.equal(t.pci.bus.configRead(0, con.slot, 0, 0, 4), 0x1043_1af4);
  drv.init({ skipDriverOk: true });
  assert.equal(drv.deviceConfig(CONSOLE_CFG_COLS, 2), 100);
  assert.equal(drv.deviceConfig(CONSOLE_CFG_ROWS, 2), 40);
  assert.equal(drv.deviceConfig(CONSOLE_CFG_MAX_NR_PORTS, 4), 1);
  // emerg_wr works before DRIVER_OK.
  t.mmio.mmioWrite(drv.deviceAt + CONSOLE_CFG_EMERG_WR, 4, 0x21);
  assert.deepEqual(out, [0x21]);
  con.device.resize(132, 50);
  assert.equal(drv.deviceConfig(CONSOLE_CFG_COLS, 2), 132);
});

test('virtio-console: guest output reaches the sink in order', () => {
  const { drv, con, out } = rig();
  drv.init();
  const text = new TextEncoder().encode('hello from hvc0\n');
  drv.post(CONSOLE_TX_QUEUE, [{ len: 6, write: false, data: text.subarray(0, 6) }, { len: text.length - 6, write: false, data: text.subarray(6) }]);
  drv.post(CONSOLE_TX_QUEUE, [{ len: 2, write: false, data: Uint8Array.of(0x3e, 0x20) }]);
  drv.notify(CONSOLE_TX_QUEUE);
  assert.equal(new TextDecoder().decode(Uint8Array.from(out)), 'hello from hvc0\n> ');
  assert.deepEqual(drv.takeUsed(CONSOLE_TX_QUEUE).map((u) => u.len), [0, 0]);
  assert.equal(con.device.metrics.outputBytes, 18);
});

test('virtio-console: host input waits for receive buffers and is delivered without loss', () => {
  const { t, drv, con } = rig();
  // Input before the driver is even up.
  assert.equal(con.device.pushInput(new TextEncoder().encode('abcdefgh')), true);
  drv.init();
  assert.equal(con.device.pendingInputBytes, 8);
  const h1 = drv.post(CONSOLE_RX_QUEUE, [{ len: 5, write: true }]);
  drv.notify(CONSOLE_RX_QUEUE);
  assert.deepEqual(drv.takeUsed(CONSOLE_RX_QUEUE), [{ id: h1, len: 5 }]);
  const dec = (h: number, n: number): string => new TextDecoder().decode(t.memory.read(drv.buffersOf(CONSOLE_RX_QUEUE, h)[0]!.addr, n));
  const first = dec(h1, 5);
  assert.equal(con.device.pendingInputBytes, 3);
  const h2 = drv.post(CONSOLE_RX_QUEUE, [{ len: 64, write: true }]);
  drv.notify(CONSOLE_RX_QUEUE);
  con.device.pushInput(new TextEncoder().encode('XY'));
  const h3 = drv.post(CONSOLE_RX_QUEUE, [{ len: 64, write: true }]);
  drv.notify(CONSOLE_RX_QUEUE);
  const used = drv.takeUsed(CONSOLE_RX_QUEUE);
  assert.deepEqual(used, [{ id: h2, len: 3 }, { id: h3, len: 2 }]);
  assert.equal(first + dec(h2, 3) + dec(h3, 2), 'abcdefghXY');
  // The buffer posted with no input pending stays with the device for later input.
  const h4 = drv.post(CONSOLE_RX_QUEUE, [{ len: 64, write: true }]);
  drv.notify(CONSOLE_RX_QUEUE);
  assert.equal(drv.takeUsed(CONSOLE_RX_QUEUE).length, 0);
  con.device.pushInput(Uint8Array.of(0x0d));
  assert.deepEqual(drv.takeUsed(CONSOLE_RX_QUEUE), [{ id: h4, len: 1 }]);
  assert.equal(con.device.metrics.inputBytes, 11);
});

test('virtio-console: a full input queue refuses (back-pressure), and pending input survives save/restore', () => {
  const { con } = rig();
  assert.equal(con.device.pushInput(new Uint8Array(CONSOLE_INPUT_LIMIT_BYTES)), true);
  assert.equal(con.device.pushInput(Uint8Array.of(1)), false);
  const t2 = rig();
  t2.con.device.pushInput(new TextEncoder().encode('keep'));
  const saved = t2.con.device.saveDevice();
  const t3 = rig();
  t3.con.device.restoreDevice(JSON.parse(JSON.stringify(saved)));
  assert.equal(t3.con.device.pendingInputBytes, 4);
  t3.drv.init();
  const h = t3.drv.post(CONSOLE_RX_QUEUE, [{ len: 16, write: true }]);
  t3.drv.notify(CONSOLE_RX_QUEUE);
  assert.deepEqual(t3.drv.takeUsed(CONSOLE_RX_QUEUE), [{ id: h, len: 4 }]);
});
