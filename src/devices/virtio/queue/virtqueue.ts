// Split virtqueue, device side (virtio 1.2 §2.7): pops available descriptor chains, returns used
// buffers, and decides when the driver wants an interrupt (VIRTQ_AVAIL_F_NO_INTERRUPT or, with
// VIRTIO_F_RING_EVENT_IDX, the used_event index, §2.7.10).
//
// The rings' addresses are fixed once the driver enables the queue, so their placement in RAM is
// checked once, at activation, and the device keeps views of them; every index read from the
// guest is bounded by the queue size before use. Descriptor buffers are checked per chain.

import type { GuestMemory } from '../../../memory/guest-memory.js';
import { ChainError, DescriptorChain } from './descriptor-chain.js';

/** Descriptor flags (§2.7.5). */
export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
/** Available ring flag (§2.7.6): the driver does not want interrupts. */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
/** Used ring flag (§2.7.8): the device does not want notifications. */
export const VIRTQ_USED_F_NO_NOTIFY = 1;
export const VIRTQ_DESC_BYTES = 16;
/** The largest queue size of a split ring (§2.7: 32768); we offer at most this many. */
export const QUEUE_SIZE_LIMIT = 32768;

/** What pop() returns besides ChainError codes. */
export const POP_EMPTY = 0;
export const POP_OK = -1;

export interface VirtqueueState {
  version: 1;
  size: number;
  ready: boolean;
  descAddr: number;
  availAddr: number;
  usedAddr: number;
  lastAvailIdx: number;
  usedIdx: number;
  signalledUsedIdx: number;
}

/** Wrap-around "has new_idx passed event since old" test (§2.7.10, vring_need_event). */
export function needEvent(eventIdx: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

/** [addr, addr + len) lies inside one RAM region (GuestMemory.isRange without a closure per call). */
function inRam(mem: GuestMemory, addr: number, len: number): boolean {
  const regions = mem.regions;
  for (let i = 0; i < regions.length; i++) {
    const r = regions[i]!;
    if (addr >= r.gpa && addr + len <= r.gpa + r.sizeBytes) return true;
  }
  return false;
}

export class Virtqueue {
  /** The largest size the device offers (queue_size reads this after reset). */
  readonly maxSize: number;
  size: number;
  ready = false;
  descAddr = 0;
  availAddr = 0;
  usedAddr = 0;
  /** VIRTIO_F_RING_EVENT_IDX was negotiated. */
  eventIdx = false;
  lastAvailIdx = 0;
  usedIdx = 0;
  /** Used index when the driver was last interrupted (for the event-index test). */
  private signalledUsedIdx = 0;
  private desc: DataView | undefined;
  private avail: DataView | undefined;
  private used: DataView | undefined;
  /** All of guest RAM, for indirect tables: read at offsets checked against the regions first. */
  private ram: DataView | undefined;
  private mem: GuestMemory | undefined;

  constructor(maxSize: number) {
    if (!Number.isInteger(maxSize) || maxSize < 1 || maxSize > QUEUE_SIZE_LIMIT || (maxSize & (maxSize - 1)) !== 0) {
      throw new RangeError(`Invalid virtqueue size ${maxSize}`);
    }
    this.maxSize = maxSize;
    this.size = maxSize;
  }

  /** Back to the reset state (§4.1.4.3: queue_size reads the maximum, everything else 0). */
  reset(): void {
    this.size = this.maxSize;
    this.ready = false;
    this.descAddr = this.availAddr = this.usedAddr = 0;
    this.lastAvailIdx = this.usedIdx = this.signalledUsedIdx = 0;
    this.desc = this.avail = this.used = this.ram = undefined;
    this.mem = undefined;
  }

  get activated(): boolean {
    return this.used !== undefined;
  }

  /**
   * Checks the size and the rings' placement (alignment per §2.7: 16, 2, 4) and maps them.
   * Returns 0, or ChainError.RingOutsideRam when the driver's configuration is unusable.
   */
  activate(mem: GuestMemory): number {
    const s = this.size;
    if (s < 1 || s > this.maxSize || (s & (s - 1)) !== 0) return ChainError.RingOutsideRam;
    if (this.descAddr % 16 !== 0 || this.availAddr % 2 !== 0 || this.usedAddr % 4 !== 0) return ChainError.RingOutsideRam;
    const descBytes = VIRTQ_DESC_BYTES * s;
    const availBytes = 6 + 2 * s;
    const usedBytes = 6 + 8 * s;
    if (!mem.isRange(this.descAddr, descBytes) || !mem.isRange(this.availAddr, availBytes) || !mem.isRange(this.usedAddr, usedBytes)) {
      return ChainError.RingOutsideRam;
    }
    const view = (addr: number, len: number): DataView => {
      const b = mem.slice(addr, len);
      return new DataView(b.buffer, b.byteOffset, b.byteLength);
    };
    this.desc = view(this.descAddr, descBytes);
    this.avail = view(this.availAddr, availBytes);
    this.used = view(this.usedAddr, usedBytes);
    this.ram = new DataView(mem.bytes.buffer, mem.bytes.byteOffset, mem.bytes.byteLength);
    this.mem = mem;
    return 0;
  }

  /** Number of chains the driver has made available, or -1 when its index is impossible. */
  availableCount(): number {
    const avail = this.avail;
    if (avail === undefined) return 0;
    const n = (avail.getUint16(2, true) - this.lastAvailIdx) & 0xffff;
    return n > this.size ? -1 : n;
  }

  /**
   * Takes the next available chain into `chain`. Returns POP_OK, POP_EMPTY, or a ChainError
   * (the caller then marks the device as needing reset; the chain is consumed either way).
   */
  pop(chain: DescriptorChain): number {
    const n = this.availableCount();
    if (n === 0) return POP_EMPTY;
    if (n < 0) return ChainError.AvailIndexOutOfRange;
    const avail = this.avail as DataView;
    const head = avail.getUint16(4 + 2 * (this.lastAvailIdx % this.size), true);
    this.lastAvailIdx = (this.lastAvailIdx + 1) & 0xffff;
    return this.walk(head, chain);
  }

  /** Gives back the chain just popped (a rate-limited request retried later). */
  undoPop(): void {
    this.lastAvailIdx = (this.lastAvailIdx - 1) & 0xffff;
  }

  private walk(head: number, chain: DescriptorChain): number {
    chain.clear(head);
    const size = this.size;
    if (head >= size) return ChainError.HeadOutOfRange;
    const mem = this.mem as GuestMemory;
    const limit = Math.min(size, chain.maxSegments);
    let table = this.desc as DataView;
    let tableBase = 0;
    let tableLen = size;
    let indirect = false;
    let index = head;
    let seen = 0;
    for (;;) {
      if (++seen > limit) return ChainError.TooLong;
      const off = tableBase + index * VIRTQ_DESC_BYTES;
      const lo = table.getUint32(off, true);
      const hi = table.getUint32(off + 4, true);
      const len = table.getUint32(off + 8, true);
      const flags = table.getUint16(off + 12, true);
      const next = table.getUint16(off + 14, true);
      // Addresses above 2^53 cannot be RAM; keep them unrepresentable rather than rounded.
      const addr = hi >= 0x20_0000 ? -1 : hi * 0x1_0000_0000 + lo;
      if ((flags & VIRTQ_DESC_F_INDIRECT) !== 0) {
        if (indirect) return ChainError.NestedIndirect;
        if ((flags & VIRTQ_DESC_F_NEXT) !== 0 || len === 0 || len % VIRTQ_DESC_BYTES !== 0) return ChainError.BadIndirect;
        const entries = len / VIRTQ_DESC_BYTES;
        if (entries > limit) return ChainError.TooLong;
        if (addr < 0 || addr % 16 !== 0 || !inRam(mem, addr, len)) return ChainError.BufferOutsideRam;
        // The whole table lies in one RAM region (checked just above), so its entries are at
        // consecutive offsets of the RAM buffer: no view to allocate per request.
        table = this.ram as DataView;
        tableBase = mem.offsetOf(addr);
        tableLen = entries;
        indirect = true;
        index = 0;
        seen = 0;
        continue;
      }
      if (len === 0) return ChainError.ZeroLength;
      if (addr < 0 || !inRam(mem, addr, len)) return ChainError.BufferOutsideRam;
      if (chain.count >= chain.maxSegments) return ChainError.TooLong;
      const i = chain.count++;
      chain.addr[i] = addr;
      chain.len[i] = len;
      if ((flags & VIRTQ_DESC_F_WRITE) !== 0) {
        chain.writableBytes += len;
      } else {
        if (chain.count - 1 !== chain.readableCount) return ChainError.ReadableAfterWritable;
        chain.readableCount++;
        chain.readableBytes += len;
      }
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) return POP_OK;
      if (next >= tableLen) return ChainError.NextOutOfRange;
      index = next;
    }
  }

  /** Returns a buffer to the driver (§2.7.8): the entry first, then the index. */
  addUsed(head: number, writtenBytes: number): void {
    const used = this.used;
    if (used === undefined) return;
    const slot = 4 + 8 * (this.usedIdx % this.size);
    used.setUint32(slot, head, true);
    used.setUint32(slot + 4, writtenBytes >>> 0, true);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    used.setUint16(2, this.usedIdx, true);
  }

  /**
   * With event index: publishes avail_event = lastAvailIdx so that the driver notifies on its
   * next buffer (§2.7.10), then reports whether buffers arrived meanwhile (process again).
   */
  enableNotification(): boolean {
    const used = this.used;
    if (used === undefined) return false;
    if (this.eventIdx) used.setUint16(4 + 8 * this.size, this.lastAvailIdx, true);
    return this.availableCount() !== 0;
  }

  /** Whether the driver wants an interrupt for the buffers used since the last one. */
  needsInterrupt(): boolean {
    const avail = this.avail;
    if (avail === undefined) return false;
    const old = this.signalledUsedIdx;
    const now = this.usedIdx;
    if (old === now) return false;
    this.signalledUsedIdx = now;
    if (this.eventIdx) return needEvent(avail.getUint16(4 + 2 * this.size, true), now, old);
    return (avail.getUint16(0, true) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }

  save(): VirtqueueState {
    return {
      version: 1, size: this.size, ready: this.ready, descAddr: this.descAddr, availAddr: this.availAddr,
      usedAddr: this.usedAddr, lastAvailIdx: this.lastAvailIdx, usedIdx: this.usedIdx, signalledUsedIdx: this.signalledUsedIdx,
    };
  }

  /** Restores the registers; the owner re-activates the queue against guest memory afterwards. */
  restore(s: VirtqueueState): void {
    if (s.version !== 1) throw new RangeError(`Cannot restore virtqueue state version ${String(s.version)} (expected 1)`);
    this.reset();
    this.size = s.size;
    this.ready = s.ready;
    this.descAddr = s.descAddr;
    this.availAddr = s.availAddr;
    this.usedAddr = s.usedAddr;
    this.lastAvailIdx = s.lastAvailIdx & 0xffff;
    this.usedIdx = s.usedIdx & 0xffff;
    this.signalledUsedIdx = s.signalledUsedIdx & 0xffff;
  }
}
