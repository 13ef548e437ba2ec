// Hostile-guest harness (issue 4 §5): drives a virtio device through its PCI transport with
// malformed rings, the way a buggy or malicious guest driver could, and checks what the VMM must
// guarantee: no exception escapes a device entry point, nothing outside guest RAM is read or
// written (RAM sits between guard areas of the same buffer, which must stay intact), and a broken
// ring ends with the device in DEVICE_NEEDS_RESET or with the request dropped.

import { MmioBus, PioBus } from '../../bus.js';
import { GuestMemory } from '../../../memory/guest-memory.js';
import { createPciPlatform, type PciPlatform } from '../../pci/platform.js';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../queue/virtqueue.js';
import type { VirtioPciDevice } from '../transport/virtio-pci.js';
import {
  COMMON_Q_SELECT, COMMON_STATUS, NOTIFY_OFF_MULTIPLIER,
} from '../transport/virtio-pci.js';
import { VIRTIO_STATUS_DEVICE_NEEDS_RESET } from '../virtio-device.js';
import { VirtioDriverMock, type MockQueue } from './driver-mock.js';

/** RAM: [0, 4 MiB) and [8 MiB, 12 MiB), with a hole between them like the PCI hole. */
export const HOSTILE_LOW_BYTES = 4 << 20;
export const HOSTILE_HOLE_END = 8 << 20;
export const HOSTILE_RAM_BYTES = 8 << 20;
const GUARD_BYTES = 64 << 10;
const GUARD_VALUE = 0xa5;
/** The driver mock's rings and buffers stay in low RAM. */
const MOCK_ALLOC_START = 1 << 20;
/** A scratch area in low RAM for hostile descriptors and tables, above the mock's allocations. */
const BUF = 0x30_0000;

export interface HostileRig {
  pci: PciPlatform;
  mmio: MmioBus;
  memory: GuestMemory;
  transport: VirtioPciDevice;
  drv: VirtioDriverMock;
  /** The whole backing buffer: guard, RAM, guard. */
  backing: Uint8Array;
  msiCount: number;
}

/** Builds the machine around `attach`, which plugs one device and returns its transport and slot. */
export function createHostileRig(attach: (pci: PciPlatform) => { transport: VirtioPciDevice; slot: number }): HostileRig {
  const backing = new Uint8Array(GUARD_BYTES + HOSTILE_RAM_BYTES + GUARD_BYTES);
  backing.fill(GUARD_VALUE, 0, GUARD_BYTES);
  backing.fill(GUARD_VALUE, GUARD_BYTES + HOSTILE_RAM_BYTES);
  const ram = backing.subarray(GUARD_BYTES, GUARD_BYTES + HOSTILE_RAM_BYTES);
  const memory = new GuestMemory(ram, GuestMemory.layout(HOSTILE_RAM_BYTES, HOSTILE_LOW_BYTES, HOSTILE_HOLE_END));
  const mmio = new MmioBus();
  const rig = { msiCount: 0 } as HostileRig;
  const pci = createPciPlatform({ pio: new PioBus(), mmio, memory, msi: () => { rig.msiCount++; } });
  const { transport, slot } = attach(pci);
  const drv = new VirtioDriverMock(pci.bus, mmio, memory, slot, MOCK_ALLOC_START, BUF);
  return Object.assign(rig, { pci, mmio, memory, transport, drv, backing });
}

/** True when no byte outside guest RAM changed. */
export function guardsIntact(rig: HostileRig): boolean {
  const b = rig.backing;
  for (let i = 0; i < GUARD_BYTES; i++) if (b[i] !== GUARD_VALUE) return false;
  for (let i = GUARD_BYTES + HOSTILE_RAM_BYTES; i < b.byteLength; i++) if (b[i] !== GUARD_VALUE) return false;
  return true;
}

export function needsReset(rig: HostileRig): boolean {
  return (rig.transport.deviceStatus & VIRTIO_STATUS_DEVICE_NEEDS_RESET) !== 0;
}

/** A named malformed ring: writes it through the mock (queue 0) and says what must follow. */
export interface HostileScenario {
  name: string;
  /** Leave the device before DRIVER_OK. */
  beforeDriverOk?: boolean;
  build(drv: VirtioDriverMock, q: MockQueue): void;
  /** 'reset': DEVICE_NEEDS_RESET; 'drop': no used buffer, device fine; 'used-empty': used with length 0. */
  expect: 'reset' | 'drop' | 'used-empty';
}


export const HOSTILE_SCENARIOS: readonly HostileScenario[] = [
  { name: 'buffer in the hole between RAM regions', expect: 'reset', build: (d, q) => { d.writeDesc(q, 0, HOSTILE_LOW_BYTES + 0x1000, 512, VIRTQ_DESC_F_WRITE, 0); d.pushAvail(q, 0); } },
  { name: 'buffer straddling the end of a region', expect: 'reset', build: (d, q) => { d.writeDesc(q, 0, HOSTILE_LOW_BYTES - 8, 16, VIRTQ_DESC_F_WRITE, 0); d.pushAvail(q, 0); } },
  { name: 'buffer above all RAM', expect: 'reset', build: (d, q) => { d.writeDesc(q, 0, 2 ** 40, 16, VIRTQ_DESC_F_WRITE, 0); d.pushAvail(q, 0); } },
  { name: 'buffer at 2^64 - 16', expect: 'reset', build: (d, q) => { d.writeDesc(q, 0, 0xffff_ffff_ffff_fff0n, 16, VIRTQ_DESC_F_WRITE, 0); d.pushAvail(q, 0); } },
  { name: 'huge length', expect: 'reset', build: (d, q) => { d.writeDesc(q, 0, BUF, 0xffff_ffff, VIRTQ_DESC_F_WRITE, 0); d.pushAvail(q, 0); } },
  { name: 'descriptor loop', expect: 'reset', build: (d, q) => { d.writeDesc(q, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1); d.writeDesc(q, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 0); d.pushAvail(q, 0); } },
  { name: 'self loop', expect: 'reset', build: (d, q) => { d.writeDesc(q, 0, BUF, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0); d.pushAvail(q, 0); } },
  { name: 'zero-length descriptor', expect: 'reset', build: (d, q) => { d.writeDesc(q, 0, BUF, 0, VIRTQ_DESC_F_WRITE, 0); d.pushAvail(q, 0); } },
  { name: 'readable after writable', expect: 'reset', build: (d, q) => { d.writeDesc(q, 0, BUF, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1); d.writeDesc(q, 1, BUF, 16, 0, 0); d.pushAvail(q, 0); } },
  { name: 'head index out of range', expect: 'reset', build: (d, q) => { d.pushAvail(q, q.size + 3); } },
  { name: 'next index out of range', expect: 'reset', build: (d, q) => { d.writeDesc(q, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 0xffff); d.pushAvail(q, 0); } },
  { name: 'available index jumps past the queue size', expect: 'reset', build: (d, q) => { d.memory.writeU16(q.avail + 2, q.size + 1); } },
  {
    name: 'oversized chain (indirect table longer than the queue)', expect: 'reset',
    build: (d, q) => {
      const n = q.size + 1;
      for (let i = 0; i < n; i++) {
        const at = BUF + 16 * i;
        d.memory.writeU32(at, BUF + 0x10000);
        d.memory.writeU32(at + 4, 0);
        d.memory.writeU32(at + 8, 16);
        d.memory.writeU16(at + 12, i === n - 1 ? VIRTQ_DESC_F_WRITE : VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT);
        d.memory.writeU16(at + 14, i + 1);
      }
      d.writeDesc(q, 0, BUF, 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
      d.pushAvail(q, 0);
    },
  },
  {
    name: 'nested indirect table', expect: 'reset',
    build: (d, q) => {
      d.memory.writeU32(BUF, BUF);
      d.memory.writeU32(BUF + 4, 0);
      d.memory.writeU32(BUF + 8, 16);
      d.memory.writeU16(BUF + 12, VIRTQ_DESC_F_INDIRECT);
      d.writeDesc(q, 0, BUF, 16, VIRTQ_DESC_F_INDIRECT, 0);
      d.pushAvail(q, 0);
    },
  },
  { name: 'indirect table in the hole', expect: 'reset', build: (d, q) => { d.writeDesc(q, 0, HOSTILE_LOW_BYTES, 64, VIRTQ_DESC_F_INDIRECT, 0); d.pushAvail(q, 0); } },
  { name: 'indirect and next together', expect: 'reset', build: (d, q) => { d.writeDesc(q, 0, BUF, 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1); d.pushAvail(q, 0); } },
  {
    name: 'notification before DRIVER_OK', expect: 'drop', beforeDriverOk: true,
    build: (d, q) => { d.writeDesc(q, 0, BUF, 16, VIRTQ_DESC_F_WRITE, 0); d.pushAvail(q, 0); },
  },
];

export interface ScenarioOutcome {
  needsReset: boolean;
  usedCount: number;
  usedLengths: number[];
  /** Notifications the transport dropped while running the scenario. */
  dropped: number;
}

/** Brings the device up (or not), plays the scenario, notifies the queue (default 0), and reports. Never throws from the device. */
export function runScenario(rig: HostileRig, s: HostileScenario, queueIndex = 0): ScenarioOutcome {
  rig.drv.init({ skipDriverOk: s.beforeDriverOk === true });
  const q = rig.drv.queues[queueIndex]!;
  const droppedBefore = rig.transport.metrics.droppedNotifications;
  s.build(rig.drv, q);
  rig.drv.notify(queueIndex);
  const used = takeUsedRaw(rig, q);
  return {
    needsReset: needsReset(rig),
    usedCount: used.length,
    usedLengths: used,
    dropped: rig.transport.metrics.droppedNotifications - droppedBefore,
  };
}

/** Reads the used ring without trusting it (ids may be anything after a hostile run). */
function takeUsedRaw(rig: HostileRig, q: MockQueue): number[] {
  const idx = rig.memory.readU16(q.used + 2);
  const lens: number[] = [];
  while (q.lastUsedIdx !== idx) {
    lens.push(rig.memory.readU32(q.used + 4 + 8 * (q.lastUsedIdx % q.size) + 4));
    q.lastUsedIdx = (q.lastUsedIdx + 1) & 0xffff;
  }
  return lens;
}

/** Small deterministic PRNG (mulberry32): the same seed replays the same run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

export interface FuzzReport {
  operations: number;
  sessions: number;
  needsResetSeen: number;
  usedSeen: number;
}

/**
 * Random operations against the device: descriptors with random addresses (RAM, edges, the
 * hole, beyond), lengths, flags and links; random heads and available indices; request-shaped
 * payloads; notifications of any queue; status writes including resets; random BAR writes.
 * Throws (with seed and step) the first time an invariant breaks. `queueIndex` picks the queue
 * driven (default 0; e.g. a NIC's transmit queue).
 */
export function fuzz(rig: HostileRig, seed: number, operations: number, queueIndex = 0): FuzzReport {
  const qi = queueIndex;
  const rnd = prng(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const report: FuzzReport = { operations: 0, sessions: 0, needsResetSeen: 0, usedSeen: 0 };
  const interesting: readonly (number | bigint)[] = [0, 1, 16, 512, 4096, HOSTILE_LOW_BYTES - 16, HOSTILE_LOW_BYTES, HOSTILE_HOLE_END - 8, HOSTILE_HOLE_END,
    HOSTILE_HOLE_END + HOSTILE_RAM_BYTES - HOSTILE_LOW_BYTES - 16, 2 ** 32, 2 ** 52, 2n ** 53n + 4096n, 0xffff_ffff_ffff_f000n];
  const lengths = [0, 1, 15, 16, 17, 512, 4096, 65536, 0x7fff_ffff, 0xffff_ffff];
  const newSession = (): MockQueue => {
    report.sessions++;
    const queueSizes: number[] = [];
    queueSizes[qi] = pick([rig.drv.queues[qi]?.size ?? 256, 2, 8, 64, 256]);
    rig.drv.init({ skipDriverOk: int(8) === 0, queueSizes });
    return rig.drv.queues[qi]!;
  };
  let q = newSession();
  for (let step = 0; step < operations; step++) {
    report.operations++;
    const fail = (what: string): never => { throw new Error(`hostile fuzz seed ${seed} step ${step}: ${what}`); };
    try {
      const op = int(100);
      if (op < 30) {
        // A plausible-looking chain in scratch RAM with one random defect at most.
        const n = 1 + int(4);
        const base = int(q.size);
        for (let i = 0; i < n; i++) {
          const last = i === n - 1;
          const addr = int(5) === 0 ? pick(interesting) : BUF + int(0x8000) * 16;
          const len = int(5) === 0 ? pick(lengths) : 1 + int(4096);
          let flags = (i === 0 && int(2) === 0 ? 0 : VIRTQ_DESC_F_WRITE) | (last ? 0 : VIRTQ_DESC_F_NEXT);
          if (int(10) === 0) flags |= VIRTQ_DESC_F_INDIRECT;
          const next = int(8) === 0 ? int(0x10000) : (base + i + 1) % q.size;
          rig.drv.writeDesc(q, (base + i) % q.size, addr, len, flags, next);
        }
        // Sometimes a block-request-shaped header at the first buffer.
        if (int(2) === 0) {
          rig.memory.writeU32(BUF, pick([0, 1, 4, 8, 11, 13, int(0x100)]));
          rig.memory.writeU32(BUF + 8, int(4096));
          rig.memory.writeU32(BUF + 12, int(8) === 0 ? int(0x1_0000_0000) : 0);
        }
        rig.drv.pushAvail(q, base);
      } else if (op < 40) {
        // An indirect table of random descriptors.
        const n = 1 + int(6);
        const table = BUF + 0x40000 + int(64) * 256;
        for (let i = 0; i < n; i++) {
          const at = table + 16 * i;
          rig.memory.writeU32(at, int(4) === 0 ? int(0x1_0000_0000) : BUF + int(0x1000) * 16);
          rig.memory.writeU32(at + 4, int(10) === 0 ? int(0x1_0000_0000) : 0);
          rig.memory.writeU32(at + 8, int(5) === 0 ? pick(lengths) : 1 + int(1024));
          rig.memory.writeU16(at + 12, int(8));
          rig.memory.writeU16(at + 14, int(3) === 0 ? int(0x10000) : i + 1);
        }
        const d = int(q.size);
        rig.drv.writeDesc(q, d, table, int(6) === 0 ? pick(lengths) : 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
        rig.drv.pushAvail(q, d);
      } else if (op < 45) {
        rig.drv.pushAvail(q, int(3) === 0 ? int(0x10000) : int(q.size));
      } else if (op < 48) {
        rig.memory.writeU16(q.avail + 2, int(0x10000));
      } else if (op < 50) {
        rig.drv.setUsedEvent(qi, int(0x10000));
      } else if (op < 75) {
        rig.drv.notify(qi);
      } else if (op < 78) {
        rig.mmio.mmioWrite(rig.drv.notifyAt + int(16) * NOTIFY_OFF_MULTIPLIER, 2, int(0x10000));
      } else if (op < 82) {
        // Random writes to the common configuration (not the queue address registers of a live
        // ring: the mock's view would go stale, which tests nothing).
        rig.drv.setCommon(pick([COMMON_STATUS, COMMON_Q_SELECT, 0x00, 0x08, 0x10, 0x1a]), pick([1, 2, 4] as const), int(0x1_0000_0000));
      } else if (op < 84) {
        rig.mmio.mmioWrite(rig.drv.bar + int(0x8000), pick([1, 2, 4] as const), int(0x1_0000_0000));
      } else if (op < 85) {
        void rig.mmio.mmioRead(rig.drv.bar + int(0x8000), pick([1, 2, 4] as const));
      } else if (op < 88) {
        // Configuration space past the header: MSI-X control, the virtio capabilities and the
        // PCI configuration access window (which reaches every BAR register).
        const reg = 0x40 + int(0xc0);
        const size = pick([1, 2, 4] as const);
        if (int(2) === 0) rig.pci.bus.configWrite(0, rig.drv.slot, 0, reg - (reg % size), size, int(0x1_0000_0000));
        else void rig.pci.bus.configRead(0, rig.drv.slot, 0, reg - (reg % size), size);
      } else if (op < 97) {
        // A well-formed chain through the mock with request-shaped, often invalid, contents:
        // reaches the device's request parsing and execution rather than the ring checks.
        if (q.free.length >= 4) {
          const h = new Uint8Array(16);
          const v = new DataView(h.buffer);
          v.setUint32(0, pick([0, 0, 0, 1, 1, 4, 8, 11, 13, int(64)]), true);
          v.setUint32(8, int(3) === 0 ? int(0x1_0000_0000) : int(600), true);
          v.setUint32(12, int(10) === 0 ? int(0x1_0000_0000) : 0, true);
          const data = int(4) === 0 ? 1 + int(2048) : 512 * (1 + int(8));
          const bufs = [{ len: 16, write: false, data: h }];
          if (int(2) === 0) bufs.push({ len: data, write: false, data: new Uint8Array(data).fill(int(256)) });
          else bufs.push({ len: data, write: true, data: new Uint8Array(data) });
          if (int(6) !== 0) bufs.push({ len: 1, write: true, data: Uint8Array.of(0xff) });
          rig.drv.post(qi, bufs, int(3) === 0 ? { indirect: true } : {});
          if (int(2) === 0) rig.drv.notify(qi);
        }
      } else {
        q = newSession();
      }
      // The device may be broken, but the mock's own rings must still be where it put them.
      if (needsReset(rig)) {
        report.needsResetSeen++;
        if (int(4) === 0) q = newSession();
      }
      if (rig.drv.queues[qi] !== q) q = newSession();
      report.usedSeen += rig.drv.takeUsed(qi).length;
    } catch (e) {
      fail(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    }
    if (step % 64 === 0 && !guardsIntact(rig)) fail('bytes outside guest RAM changed');
  }
  if (!guardsIntact(rig)) throw new Error(`hostile fuzz seed ${seed}: bytes outside guest RAM changed`);
  return report;
}
