// The hostile-guest harness and fuzz test for virtio-net, virtio-console and virtio-balloon
// (issue 4 §5). Each device is driven on the queues a guest can make it walk: a NIC's transmit
// queue and (with frames waiting) its receive queue; the console's both; the balloon's inflate,
// stats and free page reporting queues. The balloon's releasePages records every range, which
// must lie inside guest RAM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addVirtioBalloon, addVirtioConsole, addVirtioNet } from '../platform.js';
import { LoopbackNetBackend } from '../../../network/tap.js';
import type { PciPlatform } from '../../pci/platform.js';
import type { VirtioPciDevice } from '../transport/virtio-pci.js';
import { createHostileRig, fuzz, guardsIntact, HOSTILE_SCENARIOS, HOSTILE_HOLE_END, HOSTILE_LOW_BYTES, runScenario, type HostileRig } from './hostile.js';

const FUZZ_OPERATIONS = Number(process.env['TSHV_FUZZ_OPERATIONS'] ?? 15000);
const FUZZ_SEED = Number(process.env['TSHV_FUZZ_SEED'] ?? 0x7e57);

/** A back end that always has one more frame for the guest (so the receive queue is always walked). */
class FloodBackend extends LoopbackNetBackend {
  override receive(buf: Uint8Array): number {
    const n = Math.min(buf.byteLength, 60 + (this.sent.length % 1500));
    buf.fill(0x33, 0, n);
    return n;
  }
}

interface Case {
  name: string;
  queue: number;
  attach: (pci: PciPlatform) => { transport: VirtioPciDevice; slot: number };
  /** Ranges handed to releasePages that were not guest RAM (must stay empty). */
  badReleases?: string[];
  /** Something to do after each (re)initialization, e.g. queue console input. */
  prime?: () => void;
}

function cases(): Case[] {
  const out: Case[] = [];
  const net = (queue: number): Case => ({
    name: `virtio-net q${queue}`, queue,
    attach: (pci) => addVirtioNet(pci, { tap: 'hostile0', mac: '52:54:00:00:00:01' }, { backend: new FloodBackend() }),
  });
  out.push(net(1), net(0));
  for (const queue of [1, 0]) {
    let push: (() => void) | undefined;
    out.push({
      name: `virtio-console q${queue}`, queue,
      attach: (pci) => {
        const a = addVirtioConsole(pci, { output: () => {} });
        push = () => { a.device.pushInput(new Uint8Array(4096).fill(0x41)); };
        return a;
      },
      prime: () => push?.(),
    });
  }
  for (const queue of [0, 1, 2, 3]) {
    const bad: string[] = [];
    let mem: HostileRig['memory'] | undefined;
    out.push({
      name: `virtio-balloon q${queue}`, queue, badReleases: bad,
      attach: (pci) => {
        mem = pci.memory;
        return addVirtioBalloon(pci, {
          releasePages: (gpa, bytes) => {
            if (mem === undefined || !mem.isRange(gpa, bytes) || gpa % 4096 !== 0 || bytes % 4096 !== 0) bad.push(`${gpa}+${bytes}`);
            else mem.fill(gpa, bytes, 0);
          },
        });
      },
    });
  }
  return out;
}

test('hostile guest (net, console, balloon): malformed rings end in NEEDS_RESET or a dropped request', () => {
  for (const c of cases()) {
    for (const s of HOSTILE_SCENARIOS) {
      const rig = createHostileRig(c.attach);
      c.prime?.();
      const out = runScenario(rig, s, c.queue);
      const what = `${c.name}: ${s.name}`;
      if (s.expect === 'reset') {
        assert.equal(out.needsReset, true, what);
        rig.drv.notify(c.queue);
        assert.ok(rig.transport.metrics.droppedNotifications > 0, what);
      } else {
        assert.equal(out.needsReset, false, what);
        assert.equal(out.usedCount, 0, what);
        assert.equal(out.dropped, 1, what);
      }
      assert.ok(guardsIntact(rig), what);
      rig.drv.init();
      assert.equal(rig.transport.deviceStatus & 64, 0, what);
      assert.deepEqual(c.badReleases ?? [], [], what);
    }
  }
});

test('hostile guest: balloon PFNs outside RAM (the hole, above RAM, 2^32-1) are never released', () => {
  const c = cases().find((x) => x.name === 'virtio-balloon q0')!;
  const rig = createHostileRig(c.attach);
  rig.drv.init();
  const list = [HOSTILE_LOW_BYTES / 4096, (HOSTILE_HOLE_END - 4096) / 4096, 0xffff_ffff, 0x10_0000, (HOSTILE_HOLE_END + (4 << 20)) / 4096, 5];
  const data = new Uint8Array(4 * list.length);
  list.forEach((p, i) => new DataView(data.buffer).setUint32(4 * i, p, true));
  rig.drv.post(0, [{ len: data.length, write: false, data }]);
  // A PFN array whose length is not a multiple of 4, and one with no readable part at all.
  rig.drv.post(0, [{ len: 7, write: false, data: Uint8Array.of(6, 0, 0, 0, 7, 0, 0) }]);
  rig.drv.post(0, [{ len: 16, write: true }]);
  rig.drv.notify(0);
  assert.equal(rig.drv.takeUsed(0).length, 3);
  assert.deepEqual(c.badReleases, []);
  assert.equal(rig.transport.deviceStatus & 64, 0);
  assert.ok(guardsIntact(rig));
});

test('hostile guest: net chains that are not frames are returned, the device stays up', () => {
  const backend = new LoopbackNetBackend();
  const rig = createHostileRig((pci) => addVirtioNet(pci, { tap: 'hostile0', mac: '52:54:00:00:00:02' }, { backend }));
  rig.drv.init();
  rig.drv.post(1, [{ len: 64, write: true }]); // transmit chain with only writable buffers
  rig.drv.post(1, [{ len: 11, write: false }]); // shorter than the vnet header
  rig.drv.post(1, [{ len: 0x1_0000, write: false }, { len: 0x1_0000, write: false }]); // larger than any frame
  rig.drv.notify(1);
  assert.deepEqual(rig.drv.takeUsed(1).map((u) => u.len), [0, 0, 0]);
  assert.equal(backend.sent.length, 0);
  // Receive buffers that are device-readable only: dropped frame, buffer returned empty.
  backend.inbox.push(new Uint8Array(100));
  rig.drv.init({ features: (1n << 32n) });
  rig.drv.post(0, [{ len: 1600, write: false }]);
  rig.drv.notify(0);
  assert.deepEqual(rig.drv.takeUsed(0).map((u) => u.len), [0]);
  assert.equal(rig.transport.deviceStatus & 64, 0);
  assert.ok(guardsIntact(rig));
});

test('hostile guest: randomized rings against net, console and balloon never crash or touch memory outside RAM', () => {
  const all = cases();
  const per = Math.max(1, Math.floor(FUZZ_OPERATIONS / all.length));
  all.forEach((c, i) => {
    const rig = createHostileRig(c.attach);
    c.prime?.();
    const report = fuzz(rig, FUZZ_SEED + 100 + i, per, c.queue);
    assert.equal(report.operations, per, c.name);
    assert.ok(report.needsResetSeen > 0, `${c.name}: the fuzzer never broke a ring`);
    assert.deepEqual(c.badReleases ?? [], [], c.name);
  });
});
