import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { createTestPlatform } from '../testing/test-platform.js';
import { MOCK_MSI_DATA_BASE, VirtioDriverMock } from '../testing/driver-mock.js';
import { addVirtioBlk } from '../platform.js';
import { featureBit, VIRTIO_F_RING_EVENT_IDX, VIRTIO_F_VERSION_1 } from '../virtio-device.js';
import {
  BLK_CFG_CAPACITY, BLK_CFG_SEG_MAX, BLK_QUEUE_SIZE, BLK_SEG_MAX, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO, deviceClockTimer, type IoTimer,
} from './device.js';
import { RateLimiter } from '../../../common/rate-limiter.js';
import {
  VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_WRITE_ZEROES,
} from './request.js';
import { parseDiskOption } from './config.js';

const DISK_BYTES = 1 << 20;

function tempImage(data?: Uint8Array): { path: string; data: Uint8Array; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-blk-'));
  const path = join(dir, 'disk.img');
  const bytes = data ?? new Uint8Array(randomBytes(DISK_BYTES));
  writeFileSync(path, bytes);
  return { path, data: bytes, done: () => rmSync(dir, { recursive: true, force: true }) };
}

function header(type: number, sector: number): Uint8Array {
  const h = new Uint8Array(16);
  const v = new DataView(h.buffer);
  v.setUint32(0, type, true);
  v.setBigUint64(8, BigInt(sector), true);
  return h;
}

/** Posts one request and returns [used length, status, data buffer address]. */
function request(drv: VirtioDriverMock, type: number, sector: number, opts: { out?: Uint8Array; inBytes?: number; indirect?: boolean }) {
  const bufs = [{ len: 16, write: false, data: header(type, sector) }];
  if (opts.out !== undefined) bufs.push({ len: opts.out.byteLength, write: false, data: opts.out });
  if (opts.inBytes !== undefined) bufs.push({ len: opts.inBytes, write: true, data: new Uint8Array(opts.inBytes) });
  bufs.push({ len: 1, write: true, data: Uint8Array.of(0xff) });
  const head = drv.post(0, bufs, opts.indirect === true ? { indirect: true } : {});
  drv.notify(0);
  const used = drv.takeUsed(0);
  assert.equal(used.length, 1);
  assert.equal(used[0]!.id, head);
  const placed = drv.buffersOf(0, head);
  const status = drv.memory.readU8(placed[placed.length - 1]!.addr);
  return { len: used[0]!.len, status, dataAt: opts.inBytes !== undefined ? placed[placed.length - 2]!.addr : -1 };
}

test('virtio-blk: negotiates, reads capacity, reads and writes sectors, flushes, interrupts by MSI-X', () => {
  const img = tempImage();
  try {
    const t = createTestPlatform();
    const blk = addVirtioBlk(t.pci, { path: img.path, readOnly: false, serial: 'disk-0001' });
    const drv = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, blk.slot);
    assert.equal(t.pci.bus.configRead(0, blk.slot, 0, 0, 4), 0x1042_1af4);
    const f = drv.init();
    assert.ok((f & featureBit(VIRTIO_F_VERSION_1)) !== 0n);
    assert.ok((f & featureBit(VIRTIO_BLK_F_FLUSH)) !== 0n);
    assert.ok((f & featureBit(VIRTIO_BLK_F_DISCARD)) !== 0n);
    assert.equal(drv.deviceConfig(BLK_CFG_CAPACITY, 4), DISK_BYTES / 512);
    assert.equal(drv.deviceConfig(BLK_CFG_SEG_MAX, 4), BLK_SEG_MAX);
    assert.equal(BLK_SEG_MAX, BLK_QUEUE_SIZE - 2);

    const r = request(drv, VIRTIO_BLK_T_IN, 3, { inBytes: 1024 });
    assert.equal(r.status, VIRTIO_BLK_S_OK);
    assert.equal(r.len, 1025);
    assert.deepEqual(t.memory.read(r.dataAt, 1024), img.data.subarray(1536, 2560));
    assert.ok(t.msis.some((m) => m.data === MOCK_MSI_DATA_BASE + 0));

    const payload = new Uint8Array(randomBytes(4096));
    const w = request(drv, VIRTIO_BLK_T_OUT, 8, { out: payload });
    assert.equal(w.status, VIRTIO_BLK_S_OK);
    assert.equal(w.len, 1);
    assert.equal(request(drv, VIRTIO_BLK_T_FLUSH, 0, {}).status, VIRTIO_BLK_S_OK);
    assert.deepEqual(new Uint8Array(readFileSync(img.path).subarray(4096, 8192)), payload);

    // Indirect descriptors: the same read through an indirect table.
    const ri = request(drv, VIRTIO_BLK_T_IN, 8, { inBytes: 4096, indirect: true });
    assert.equal(ri.status, VIRTIO_BLK_S_OK);
    assert.deepEqual(t.memory.read(ri.dataAt, 4096), payload);

    // GET_ID: 20 bytes, NUL padded.
    const id = request(drv, VIRTIO_BLK_T_GET_ID, 0, { inBytes: 20 });
    assert.equal(id.status, VIRTIO_BLK_S_OK);
    assert.equal(new TextDecoder().decode(t.memory.read(id.dataAt, 20)).replace(/\0+$/, ''), 'disk-0001');

    // Out of range, unaligned and unknown requests fail without touching the disk.
    assert.equal(request(drv, VIRTIO_BLK_T_IN, DISK_BYTES / 512, { inBytes: 512 }).status, VIRTIO_BLK_S_IOERR);
    assert.equal(request(drv, VIRTIO_BLK_T_IN, 0, { inBytes: 100 }).status, VIRTIO_BLK_S_IOERR);
    assert.equal(request(drv, VIRTIO_BLK_T_OUT, 2 ** 52, { out: new Uint8Array(512) }).status, VIRTIO_BLK_S_IOERR);
    assert.equal(request(drv, 99, 0, {}).status, VIRTIO_BLK_S_UNSUPP);
    assert.equal(blk.device.metrics.readOps, 2);
    assert.equal(blk.transport.deviceStatus & 64, 0);
    blk.device.disk.close();
  } finally {
    img.done();
  }
});

test('virtio-blk: a 1 MiB read of 256 scattered pages is one request (a queue of 1024, seg_max 1022)', () => {
  const img = tempImage();
  try {
    const t = createTestPlatform(8 << 20);
    const blk = addVirtioBlk(t.pci, { path: img.path, readOnly: false });
    const drv = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, blk.slot);
    drv.init();
    assert.equal(drv.queues[0]!.size, BLK_QUEUE_SIZE);
    // Linux's O_DIRECT read of a user buffer: header, one descriptor per page, status; indirect
    // (a chain longer than 256 fits only a larger queue, virtio 1.2 §2.7.5.3.1).
    const pages = Array.from({ length: 256 }, () => ({ len: 4096, write: true, data: new Uint8Array(4096) }));
    const head = drv.post(0, [{ len: 16, write: false, data: header(VIRTIO_BLK_T_IN, 0) }, ...pages, { len: 1, write: true, data: Uint8Array.of(0xff) }], { indirect: true });
    drv.notify(0);
    const used = drv.takeUsed(0);
    assert.deepEqual(used.map((u) => [u.id, u.len]), [[head, DISK_BYTES + 1]]);
    const placed = drv.buffersOf(0, head);
    assert.equal(t.memory.readU8(placed[placed.length - 1]!.addr), VIRTIO_BLK_S_OK);
    for (let p = 0; p < 256; p++) assert.deepEqual(t.memory.read(placed[1 + p]!.addr, 4096), img.data.subarray(p * 4096, (p + 1) * 4096));
    blk.device.disk.close();
  } finally {
    img.done();
  }
});

test('virtio-blk: reads and writes through views too (RAM with no host addresses, a transfer cut short)', () => {
  const img = tempImage();
  try {
    // 512 KiB of RAM: too small a buffer to be given out as host addresses (GuestMemory.hostRange),
    // so data moves through views of guest memory; the same with 4 MiB RAM after the image shrinks.
    for (const memBytes of [512 << 10, 4 << 20]) {
      const t = createTestPlatform(memBytes);
      const blk = addVirtioBlk(t.pci, { path: img.path, readOnly: false, serial: 'x' });
      const drv = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, blk.slot, 0x1_0000);
      drv.init();
      const payload = new Uint8Array(randomBytes(8192));
      assert.equal(request(drv, VIRTIO_BLK_T_OUT, 16, { out: payload }).status, VIRTIO_BLK_S_OK);
      const r = request(drv, VIRTIO_BLK_T_IN, 16, { inBytes: 8192, indirect: true });
      assert.equal(r.status, VIRTIO_BLK_S_OK);
      assert.deepEqual(t.memory.read(r.dataAt, 8192), payload);
      assert.equal(blk.device.metrics.readOps, 1);
      assert.equal(blk.device.metrics.writeOps, 1);
      // Any layout (virtio 1.2 §2.7.4): the header and the data in one descriptor.
      const merged = new Uint8Array(16 + 4096);
      merged.set(header(VIRTIO_BLK_T_OUT, 40)); merged.set(payload.subarray(0, 4096), 16);
      const head = drv.post(0, [{ len: merged.byteLength, write: false, data: merged }, { len: 1, write: true, data: Uint8Array.of(0xff) }]);
      drv.notify(0);
      assert.equal(drv.takeUsed(0)[0]!.id, head);
      assert.deepEqual(new Uint8Array(readFileSync(img.path).subarray(40 * 512, 40 * 512 + 4096)), payload.subarray(0, 4096));
      if (memBytes > 1 << 20) {
        // The image cut to 12 KiB under the device: the host-address read comes out short and the
        // request is redone through views, whose missing tail reads as zeroes.
        writeFileSync(img.path, new Uint8Array(12 * 1024).fill(5));
        const s = request(drv, VIRTIO_BLK_T_IN, 16, { inBytes: 8192 });
        assert.equal(s.status, VIRTIO_BLK_S_OK);
        const got = t.memory.read(s.dataAt, 8192);
        assert.ok(got.subarray(0, 4096).every((v) => v === 5) && got.subarray(4096).every((v) => v === 0));
        assert.equal(blk.device.metrics.readOps, 2);
        writeFileSync(img.path, img.data);
      }
      blk.device.disk.close();
    }
  } finally {
    img.done();
  }
});

test('virtio-blk: discard and write-zeroes punch holes; bad segments change nothing', () => {
  const img = tempImage();
  try {
    const t = createTestPlatform();
    const blk = addVirtioBlk(t.pci, { path: img.path, readOnly: false });
    const drv = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, blk.slot);
    drv.init();
    const seg = (sector: number, n: number, flags: number) => {
      const b = new Uint8Array(16);
      const v = new DataView(b.buffer);
      v.setBigUint64(0, BigInt(sector), true);
      v.setUint32(8, n, true);
      v.setUint32(12, flags, true);
      return b;
    };
    assert.equal(request(drv, VIRTIO_BLK_T_DISCARD, 0, { out: seg(0, 16, 0) }).status, VIRTIO_BLK_S_OK);
    assert.equal(request(drv, VIRTIO_BLK_T_WRITE_ZEROES, 0, { out: seg(64, 8, 1) }).status, VIRTIO_BLK_S_OK);
    assert.equal(request(drv, VIRTIO_BLK_T_WRITE_ZEROES, 0, { out: seg(128, 8, 0) }).status, VIRTIO_BLK_S_OK);
    const file = readFileSync(img.path);
    assert.ok(file.subarray(0, 8192).every((b) => b === 0));
    assert.ok(file.subarray(64 * 512, 72 * 512).every((b) => b === 0));
    assert.ok(file.subarray(128 * 512, 136 * 512).every((b) => b === 0));
    assert.deepEqual(new Uint8Array(file.subarray(8192, 9000)), img.data.subarray(8192, 9000));
    // Beyond the end, or unknown flags: refused.
    assert.equal(request(drv, VIRTIO_BLK_T_DISCARD, 0, { out: seg(DISK_BYTES / 512 - 1, 2, 0) }).status, VIRTIO_BLK_S_IOERR);
    assert.equal(request(drv, VIRTIO_BLK_T_DISCARD, 0, { out: seg(0, 1, 1) }).status, VIRTIO_BLK_S_UNSUPP);
    assert.equal(request(drv, VIRTIO_BLK_T_DISCARD, 0, { out: new Uint8Array(8) }).status, VIRTIO_BLK_S_UNSUPP);
    blk.device.disk.close();
  } finally {
    img.done();
  }
});

test('virtio-blk: a read-only disk offers VIRTIO_BLK_F_RO and refuses writes', () => {
  const img = tempImage();
  try {
    const t = createTestPlatform();
    const blk = addVirtioBlk(t.pci, parseDiskOption(`${img.path},ro`));
    const drv = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, blk.slot);
    const f = drv.init();
    assert.ok((f & featureBit(VIRTIO_BLK_F_RO)) !== 0n);
    assert.ok((f & featureBit(VIRTIO_BLK_F_DISCARD)) === 0n);
    assert.equal(request(drv, VIRTIO_BLK_T_OUT, 0, { out: new Uint8Array(512) }).status, VIRTIO_BLK_S_IOERR);
    assert.equal(request(drv, VIRTIO_BLK_T_WRITE_ZEROES, 0, { out: new Uint8Array(16) }).status, VIRTIO_BLK_S_IOERR);
    assert.equal(request(drv, VIRTIO_BLK_T_IN, 0, { inBytes: 512 }).status, VIRTIO_BLK_S_OK);
    assert.deepEqual(new Uint8Array(readFileSync(img.path)), img.data);
    blk.device.disk.close();
  } finally {
    img.done();
  }
});

test('virtio-blk: several disks on the bus, each with its own BAR and data', () => {
  const a = tempImage(new Uint8Array(DISK_BYTES).fill(0xaa));
  const b = tempImage(new Uint8Array(DISK_BYTES * 2).fill(0xbb));
  try {
    const t = createTestPlatform(8 << 20);
    const da = addVirtioBlk(t.pci, { path: a.path, readOnly: false });
    const db = addVirtioBlk(t.pci, { path: b.path, readOnly: true });
    assert.notEqual(da.slot, db.slot);
    const drvA = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, da.slot, 0x10_0000, 0x40_0000);
    const drvB = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, db.slot, 0x40_0000, 0x80_0000);
    drvA.init();
    drvB.init();
    assert.notEqual(drvA.bar, drvB.bar);
    assert.equal(drvB.deviceConfig(BLK_CFG_CAPACITY, 4), (DISK_BYTES * 2) / 512);
    const ra = request(drvA, VIRTIO_BLK_T_IN, 0, { inBytes: 512 });
    const rb = request(drvB, VIRTIO_BLK_T_IN, 0, { inBytes: 512 });
    assert.equal(t.memory.readU8(ra.dataAt), 0xaa);
    assert.equal(t.memory.readU8(rb.dataAt), 0xbb);
    da.device.disk.close();
    db.device.disk.close();
  } finally {
    a.done();
    b.done();
  }
});

test('virtio-blk: rate limiter holds requests in the ring until tokens arrive, and changes at run time', () => {
  const img = tempImage();
  try {
    let now = 0;
    const timers: { at: number; fn: () => void }[] = [];
    const timer: IoTimer = { nowMs: () => now, schedule: (ms, fn) => { timers.push({ at: now + ms, fn }); } };
    const t = createTestPlatform();
    const blk = addVirtioBlk(t.pci, parseDiskOption(`${img.path},iops=2`), { timer });
    const drv = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, blk.slot);
    drv.init();
    for (let i = 0; i < 4; i++) drv.post(0, [{ len: 16, write: false, data: header(VIRTIO_BLK_T_IN, i) }, { len: 512, write: true }, { len: 1, write: true }]);
    drv.notify(0);
    assert.equal(drv.takeUsed(0).length, 2);
    assert.equal(blk.device.metrics.throttled, 1);
    assert.equal(timers.length, 1);
    now = timers[0]!.at;
    timers.shift()!.fn();
    assert.equal(drv.takeUsed(0).length, 1);
    assert.equal(timers.length, 1, 'the 4th request waits for its tokens');
    blk.device.setRateLimit(0, 0);
    // Not at once (the machine may be paused): at the next turn of its clock; the retry planned
    // under the old limit does nothing.
    assert.equal(drv.takeUsed(0).length, 0);
    assert.deepEqual(blk.device.rateLimit, { bytesPerSecond: 0, opsPerSecond: 0 });
    const pending = timers.splice(0);
    assert.equal(pending.length, 2);
    for (const p of pending) p.fn();
    assert.equal(drv.takeUsed(0).length, 1);
    blk.device.disk.close();
  } finally {
    img.done();
  }
});

test('virtio-blk: event index suppresses interrupts the driver did not ask for', () => {
  const img = tempImage();
  try {
    const t = createTestPlatform();
    const blk = addVirtioBlk(t.pci, { path: img.path, readOnly: false });
    const drv = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, blk.slot);
    const f = drv.init();
    assert.ok((f & featureBit(VIRTIO_F_RING_EVENT_IDX)) !== 0n);
    drv.setUsedEvent(0, 5); // interrupt only after the sixth buffer
    const before = t.msis.length;
    for (let i = 0; i < 3; i++) request(drv, VIRTIO_BLK_T_IN, i, { inBytes: 512 });
    assert.equal(t.msis.length, before);
    assert.equal(drv.availEvent(0), 3);
    drv.setUsedEvent(0, 3);
    request(drv, VIRTIO_BLK_T_IN, 0, { inBytes: 512 });
    assert.equal(t.msis.length, before + 1);
    blk.device.disk.close();
  } finally {
    img.done();
  }
});

test('virtio-blk: --disk option parser', () => {
  assert.deepEqual(parseDiskOption('/a.img'), { path: '/a.img', readOnly: false });
  assert.deepEqual(parseDiskOption('/a.img,ro,serial=abc,bps=10M,iops=1000'), {
    path: '/a.img', readOnly: true, serial: 'abc', bytesPerSecond: 10 * 1024 * 1024, opsPerSecond: 1000,
  });
  assert.throws(() => parseDiskOption(''), /first field/);
  assert.throws(() => parseDiskOption('/a.img,rw'), /unknown option/);
  assert.throws(() => parseDiskOption('/a.img,serial=123456789012345678901'), /at most 20/);
  assert.throws(() => parseDiskOption('/a.img,bps=fast'), /Cannot parse bps/);
});

test('virtio-blk: data written and flushed by the guest is in the image even when the VMM is SIGKILLed right after', () => {
  const img = tempImage(new Uint8Array(DISK_BYTES));
  try {
    const url = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
    // The child plays VMM: it serves a write and a flush, reports, and is killed at once.
    const child = `
      const { createTestPlatform } = await import(${url('../testing/test-platform.js')});
      const { VirtioDriverMock } = await import(${url('../testing/driver-mock.js')});
      const { addVirtioBlk } = await import(${url('../platform.js')});
      const t = createTestPlatform();
      const blk = addVirtioBlk(t.pci, { path: ${JSON.stringify(img.path)}, readOnly: false });
      const drv = new VirtioDriverMock(t.pci.bus, t.mmio, t.memory, blk.slot);
      drv.init();
      const hdr = (type) => { const h = new Uint8Array(16); new DataView(h.buffer).setUint32(0, type, true); new DataView(h.buffer).setUint32(8, 16, true); return h; };
      drv.post(0, [{ len: 16, write: false, data: hdr(1) }, { len: 1024, write: false, data: new Uint8Array(1024).fill(0x6b) }, { len: 1, write: true }]);
      drv.post(0, [{ len: 16, write: false, data: hdr(4) }, { len: 1, write: true }]);
      drv.notify(0);
      process.stdout.write('served ' + drv.takeUsed(0).length + '\\n');
      process.kill(process.pid, 'SIGKILL');
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { encoding: 'utf8' });
    assert.equal(r.signal, 'SIGKILL', r.stderr);
    assert.equal(r.stdout.trim(), 'served 2');
    const file = readFileSync(img.path);
    assert.ok(file.subarray(16 * 512, 18 * 512).every((b) => b === 0x6b));
    assert.equal(file[16 * 512 - 1], 0);
    assert.equal(file[18 * 512], 0);
  } finally {
    img.done();
  }
});

test('virtio-blk: device state names its disk and refuses a different one on restore', () => {
  const img = tempImage();
  const other = tempImage(new Uint8Array(DISK_BYTES * 2));
  try {
    const t = createTestPlatform();
    const a = addVirtioBlk(t.pci, { path: img.path, readOnly: false, serial: 's1' });
    const b = addVirtioBlk(t.pci, { path: other.path, readOnly: false });
    const state = JSON.parse(JSON.stringify(a.device.saveDevice())) as unknown;
    assert.deepEqual(state, { version: 1, path: img.path, readOnly: false, capacitySectors: DISK_BYTES / 512, serial: 's1' });
    assert.doesNotThrow(() => a.device.restoreDevice(state));
    assert.throws(() => b.device.restoreDevice(state), /differs/);
    assert.throws(() => a.device.restoreDevice({ version: 2 }), /version 2/);
    a.device.disk.close();
    b.device.disk.close();
  } finally {
    img.done();
    other.done();
  }
});

test('virtio-blk: the machine timer counts tokens in host time and retries on the machine clock', () => {
  let guestNs = 0;
  let hostMs = 0;
  const fired: number[] = [];
  const clock = { nowNs: () => guestNs, setTimer: (deadlineNs: number, fn: () => void) => { fired.push(deadlineNs); fn(); return { cancel: () => {} }; } };
  const timer = deviceClockTimer(clock, () => hostMs);
  const limiter = new RateLimiter({ bytesPerSecond: 1000 }, timer.nowMs());
  assert.equal(limiter.tryConsume(1000, timer.nowMs()), true);
  // Guest time jumps 10 s ahead (an idle catch-up) while the host's clock stands still: no new tokens.
  guestNs = 10e9;
  assert.equal(limiter.tryConsume(1000, timer.nowMs()), false);
  hostMs = 1000;
  assert.equal(limiter.tryConsume(1000, timer.nowMs()), true);
  // Retries are deadlines on the machine's clock (nothing fires while it is paused).
  timer.schedule(5, () => {});
  assert.deepEqual(fired, [10e9 + 5e6]);
});
