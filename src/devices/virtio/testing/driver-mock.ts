// A driver-side mock of virtio over PCI: it finds the device through configuration space and its
// capabilities, brings it up the way Linux's virtio_pci_modern does (reset, ACKNOWLEDGE, DRIVER,
// features, FEATURES_OK, queues, MSI-X, DRIVER_OK), posts descriptor chains into guest memory,
// notifies, and collects used buffers. Device tests run on it without a guest; the hostile-guest
// harness uses its raw ring accessors to write what no correct driver would.

import type { MmioBus } from '../../bus.js';
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { PCI_BASE_ADDRESS_0, PCI_CAPABILITY_LIST, PCI_COMMAND, PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY } from '../../pci/config-space.js';
import { PCI_CAP_ID_MSIX, PCI_MSIX_FLAGS_ENABLE } from '../../pci/msix.js';
import type { PciBus } from '../../pci/pci-bus.js';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../queue/virtqueue.js';
import {
  COMMON_DF, COMMON_DFSELECT, COMMON_GF, COMMON_GFSELECT, COMMON_MSIX, COMMON_NUMQ, COMMON_Q_AVAILHI, COMMON_Q_AVAILLO,
  COMMON_Q_DESCHI, COMMON_Q_DESCLO, COMMON_Q_ENABLE, COMMON_Q_MSIX, COMMON_Q_NOFF, COMMON_Q_SELECT, COMMON_Q_SIZE,
  COMMON_Q_USEDHI, COMMON_Q_USEDLO, COMMON_STATUS, PCI_CAP_ID_VNDR, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_CAP_DEVICE_CFG,
  VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_CAP_NOTIFY_CFG,
} from '../transport/virtio-pci.js';
import {
  VIRTIO_STATUS_ACKNOWLEDGE, VIRTIO_STATUS_DRIVER, VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_FEATURES_OK,
} from '../virtio-device.js';

/** The MSI address our mock programs (LAPIC 0, physical) and the data of vector i: MSI_DATA_BASE + i. */
export const MOCK_MSI_ADDRESS = 0xfee0_0000;
export const MOCK_MSI_DATA_BASE = 0x40;

export interface MockBuffer {
  /** Guest address; allocated (and filled with `data`) when absent. */
  addr?: number;
  len: number;
  write: boolean;
  data?: Uint8Array;
  /** Raw descriptor flags to OR in (hostile tests). */
  extraFlags?: number;
}

export interface UsedElem {
  id: number;
  len: number;
}

export interface MockQueue {
  index: number;
  size: number;
  desc: number;
  avail: number;
  used: number;
  availIdx: number;
  lastUsedIdx: number;
  free: number[];
  chains: Map<number, number[]>;
  /** Addresses of the buffers of each posted head, as posted. */
  buffers: Map<number, { addr: number; len: number }[]>;
}

export interface InitOptions {
  /** Feature bits to accept (intersected with the offer); default: everything offered. */
  features?: bigint;
  /** Queue sizes to program; default: the device's maximum. */
  queueSizes?: number[];
  /** Program MSI-X (one vector per queue, then config); default true. */
  msix?: boolean;
  /** Stop before DRIVER_OK (to test notifications before it). */
  skipDriverOk?: boolean;
}

export class VirtioDriverMock {
  readonly bar: number;
  commonAt = -1;
  notifyAt = -1;
  isrAt = -1;
  deviceAt = -1;
  notifyMultiplier = 0;
  msixCap = -1;
  msixTableAt = -1;
  queues: MockQueue[] = [];
  offeredFeatures = 0n;
  private allocNext: number;
  private readonly allocBase: number;

  constructor(
    readonly bus: PciBus,
    readonly mmio: MmioBus,
    readonly memory: GuestMemory,
    readonly slot: number,
    /** Where the mock's own allocations (rings, buffers) start and end in guest RAM. */
    allocBase = 0x10_0000,
    private readonly allocEnd = memory.sizeBytes,
  ) {
    this.allocNext = allocBase;
    this.allocBase = allocBase;
    const cfg = (off: number, size: 1 | 2 | 4): number => bus.configRead(0, slot, 0, off, size);
    this.bar = (cfg(PCI_BASE_ADDRESS_0, 4) & ~0xf) >>> 0;
    bus.configWrite(0, slot, 0, PCI_COMMAND, 2, cfg(PCI_COMMAND, 2) | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    for (let cap = cfg(PCI_CAPABILITY_LIST, 1); cap !== 0; cap = cfg(cap + 1, 1)) {
      const id = cfg(cap, 1);
      if (id === PCI_CAP_ID_MSIX) {
        this.msixCap = cap;
        this.msixTableAt = this.bar + (cfg(cap + 4, 4) & ~7);
      } else if (id === PCI_CAP_ID_VNDR) {
        const type = cfg(cap + 3, 1);
        const at = this.bar + cfg(cap + 8, 4);
        if (type === VIRTIO_PCI_CAP_COMMON_CFG) this.commonAt = at;
        else if (type === VIRTIO_PCI_CAP_NOTIFY_CFG) {
          this.notifyAt = at;
          this.notifyMultiplier = cfg(cap + 16, 4);
        } else if (type === VIRTIO_PCI_CAP_ISR_CFG) this.isrAt = at;
        else if (type === VIRTIO_PCI_CAP_DEVICE_CFG) this.deviceAt = at;
      }
    }
  }

  alloc(bytes: number, align = 16): number {
    const a = Math.ceil(this.allocNext / align) * align;
    if (a + bytes > this.allocEnd) throw new Error('driver mock: out of guest memory');
    this.allocNext = a + bytes;
    return a;
  }

  // --- register access, as the driver does it: MMIO to the BAR ---
  common(off: number, size: 1 | 2 | 4): number { return this.mmio.mmioRead(this.commonAt + off, size); }
  setCommon(off: number, size: 1 | 2 | 4, v: number): void { this.mmio.mmioWrite(this.commonAt + off, size, v); }
  deviceConfig(off: number, size: 1 | 2 | 4): number { return this.mmio.mmioRead(this.deviceAt + off, size); }
  status(): number { return this.common(COMMON_STATUS, 1); }
  setStatus(v: number): void { this.setCommon(COMMON_STATUS, 1, v); }
  readIsr(): number { return this.mmio.mmioRead(this.isrAt, 1); }

  /** Resets the device; the mock's previous rings and buffers are forgotten (their memory reused). */
  reset(): void {
    this.setStatus(0);
    this.queues = [];
    this.allocNext = this.allocBase;
  }

  /** The full initialization sequence (§3.1.1). Returns the negotiated features. */
  init(o: InitOptions = {}): bigint {
    this.reset();
    this.setStatus(VIRTIO_STATUS_ACKNOWLEDGE);
    this.setStatus(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    this.setCommon(COMMON_DFSELECT, 4, 0);
    const lo = this.common(COMMON_DF, 4);
    this.setCommon(COMMON_DFSELECT, 4, 1);
    const hi = this.common(COMMON_DF, 4);
    this.offeredFeatures = (BigInt(hi) << 32n) | BigInt(lo);
    const features = this.offeredFeatures & (o.features ?? this.offeredFeatures);
    this.setCommon(COMMON_GFSELECT, 4, 0);
    this.setCommon(COMMON_GF, 4, Number(features & 0xffff_ffffn));
    this.setCommon(COMMON_GFSELECT, 4, 1);
    this.setCommon(COMMON_GF, 4, Number(features >> 32n));
    this.setStatus(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    if ((this.status() & VIRTIO_STATUS_FEATURES_OK) === 0) throw new Error('driver mock: device refused FEATURES_OK');
    const msix = o.msix ?? true;
    const n = this.common(COMMON_NUMQ, 2);
    for (let i = 0; i < n; i++) {
      this.setCommon(COMMON_Q_SELECT, 2, i);
      const max = this.common(COMMON_Q_SIZE, 2);
      const size = o.queueSizes?.[i] ?? max;
      this.setCommon(COMMON_Q_SIZE, 2, size);
      const desc = this.alloc(16 * size, 16);
      const avail = this.alloc(6 + 2 * size, 2);
      const used = this.alloc(6 + 8 * size, 4);
      this.memory.fill(desc, 16 * size, 0);
      this.memory.fill(avail, 6 + 2 * size, 0);
      this.memory.fill(used, 6 + 8 * size, 0);
      this.setCommon(COMMON_Q_DESCLO, 4, desc);
      this.setCommon(COMMON_Q_DESCHI, 4, 0);
      this.setCommon(COMMON_Q_AVAILLO, 4, avail);
      this.setCommon(COMMON_Q_AVAILHI, 4, 0);
      this.setCommon(COMMON_Q_USEDLO, 4, used);
      this.setCommon(COMMON_Q_USEDHI, 4, 0);
      if (msix) this.setCommon(COMMON_Q_MSIX, 2, i);
      void this.common(COMMON_Q_NOFF, 2);
      this.setCommon(COMMON_Q_ENABLE, 2, 1);
      const free: number[] = [];
      for (let d = size - 1; d >= 0; d--) free.push(d);
      this.queues.push({ index: i, size, desc, avail, used, availIdx: 0, lastUsedIdx: 0, free, chains: new Map(), buffers: new Map() });
    }
    if (msix) {
      this.setCommon(COMMON_MSIX, 2, n);
      for (let v = 0; v <= n; v++) {
        const e = this.msixTableAt + 16 * v;
        this.mmio.mmioWrite(e, 4, MOCK_MSI_ADDRESS);
        this.mmio.mmioWrite(e + 4, 4, 0);
        this.mmio.mmioWrite(e + 8, 4, MOCK_MSI_DATA_BASE + v);
        this.mmio.mmioWrite(e + 12, 4, 0);
      }
      const ctl = this.bus.configRead(0, this.slot, 0, this.msixCap + 2, 2);
      this.bus.configWrite(0, this.slot, 0, this.msixCap + 2, 2, ctl | PCI_MSIX_FLAGS_ENABLE);
    }
    if (o.skipDriverOk !== true) {
      this.setStatus(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    }
    return features;
  }

  /** Writes descriptor `index` of queue `q` (raw: hostile tests write anything). */
  writeDesc(q: MockQueue, index: number, addr: number | bigint, len: number, flags: number, next: number): void {
    const at = q.desc + 16 * index;
    const a = BigInt.asUintN(64, BigInt(addr));
    this.memory.writeU32(at, Number(a & 0xffff_ffffn));
    this.memory.writeU32(at + 4, Number(a >> 32n));
    this.memory.writeU32(at + 8, len >>> 0);
    this.memory.writeU16(at + 12, flags);
    this.memory.writeU16(at + 14, next);
  }

  /** Publishes `head` in the available ring and bumps its index (raw). */
  pushAvail(q: MockQueue, head: number): void {
    this.memory.writeU16(q.avail + 4 + 2 * (q.availIdx % q.size), head);
    q.availIdx = (q.availIdx + 1) & 0xffff;
    this.memory.writeU16(q.avail + 2, q.availIdx);
  }

  /** Builds a chain of `buffers` (or one indirect descriptor pointing at them) and makes it available. Returns the head. */
  post(qi: number, buffers: MockBuffer[], o: { indirect?: boolean } = {}): number {
    const q = this.queues[qi];
    if (q === undefined) throw new Error(`driver mock: no queue ${qi}`);
    const placed = buffers.map((b) => {
      const addr = b.addr ?? this.alloc(Math.max(b.len, 1), 8);
      if (b.data !== undefined) this.memory.write(addr, b.data);
      return { addr, len: b.len, flags: (b.write ? VIRTQ_DESC_F_WRITE : 0) | (b.extraFlags ?? 0) };
    });
    let head: number;
    if (o.indirect === true) {
      const table = this.alloc(16 * placed.length, 16);
      placed.forEach((p, i) => {
        const at = table + 16 * i;
        const last = i === placed.length - 1;
        this.memory.writeU32(at, p.addr);
        this.memory.writeU32(at + 4, 0);
        this.memory.writeU32(at + 8, p.len);
        this.memory.writeU16(at + 12, p.flags | (last ? 0 : VIRTQ_DESC_F_NEXT));
        this.memory.writeU16(at + 14, last ? 0 : i + 1);
      });
      const d = q.free.pop();
      if (d === undefined) throw new Error('driver mock: queue full');
      this.writeDesc(q, d, table, 16 * placed.length, VIRTQ_DESC_F_INDIRECT, 0);
      q.chains.set(d, [d]);
      head = d;
    } else {
      if (q.free.length < placed.length) throw new Error('driver mock: queue full');
      const ids = placed.map(() => q.free.pop() as number);
      placed.forEach((p, i) => {
        const last = i === placed.length - 1;
        this.writeDesc(q, ids[i]!, p.addr, p.len, p.flags | (last ? 0 : VIRTQ_DESC_F_NEXT), last ? 0 : ids[i + 1]!);
      });
      head = ids[0]!;
      q.chains.set(head, ids);
    }
    q.buffers.set(head, placed.map((p) => ({ addr: p.addr, len: p.len })));
    this.pushAvail(q, head);
    return head;
  }

  notify(qi: number): void {
    this.mmio.mmioWrite(this.notifyAt + qi * this.notifyMultiplier, 2, qi);
  }

  /** Sets used_event (event index) for queue `qi`. */
  setUsedEvent(qi: number, idx: number): void {
    const q = this.queues[qi]!;
    this.memory.writeU16(q.avail + 4 + 2 * q.size, idx);
  }

  availEvent(qi: number): number {
    const q = this.queues[qi]!;
    return this.memory.readU16(q.used + 4 + 8 * q.size);
  }

  /** New used elements since the last call; their descriptors go back to the free list. */
  takeUsed(qi: number): UsedElem[] {
    const q = this.queues[qi]!;
    const idx = this.memory.readU16(q.used + 2);
    const out: UsedElem[] = [];
    while (q.lastUsedIdx !== idx) {
      const at = q.used + 4 + 8 * (q.lastUsedIdx % q.size);
      const id = this.memory.readU32(at);
      out.push({ id, len: this.memory.readU32(at + 4) });
      for (const d of q.chains.get(id) ?? []) q.free.push(d);
      q.chains.delete(id);
      q.lastUsedIdx = (q.lastUsedIdx + 1) & 0xffff;
    }
    return out;
  }

  /** The guest addresses of the buffers posted with `head`. */
  buffersOf(qi: number, head: number): { addr: number; len: number }[] {
    return this.queues[qi]?.buffers.get(head) ?? [];
  }
}
