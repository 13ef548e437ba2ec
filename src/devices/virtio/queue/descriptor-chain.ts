// A descriptor chain as the device sees it after walking the split ring (virtio 1.2 §2.7.5): the
// guest-physical segments copied out of the descriptor table, device-readable ones first, then
// device-writable ones. Copying the addresses once closes the time-of-check/time-of-use gap: the
// guest may rewrite its table afterwards, we never read it again for this request. The buffers
// themselves are touched later, through GuestMemory, which checks every access.
//
// One DescriptorChain is allocated per queue and reused for every request (no allocation on the
// request path).

import type { GuestMemory } from '../../../memory/guest-memory.js';

/** Why a chain was refused. Every one of these is a driver bug or a hostile guest. */
export const enum ChainError {
  HeadOutOfRange = 1,
  NextOutOfRange = 2,
  /** More descriptors than the queue size: a loop, or an oversized chain (§2.7.5.3.1). */
  TooLong = 3,
  BufferOutsideRam = 4,
  ZeroLength = 5,
  /** A device-readable descriptor after a device-writable one (§2.7.4.2). */
  ReadableAfterWritable = 6,
  /** VIRTQ_DESC_F_INDIRECT inside an indirect table (§2.7.5.3.1). */
  NestedIndirect = 7,
  /** INDIRECT and NEXT both set, or an indirect table length that is not a multiple of 16. */
  BadIndirect = 8,
  /** The available index moved by more than the queue size (§2.7.6). */
  AvailIndexOutOfRange = 9,
  /** The queue's rings are not in guest RAM. */
  RingOutsideRam = 10,
}

export function chainErrorName(e: number): string {
  switch (e) {
    case ChainError.HeadOutOfRange: return 'head index out of range';
    case ChainError.NextOutOfRange: return 'next index out of range';
    case ChainError.TooLong: return 'descriptor loop or chain longer than the queue';
    case ChainError.BufferOutsideRam: return 'buffer outside guest RAM';
    case ChainError.ZeroLength: return 'zero-length descriptor';
    case ChainError.ReadableAfterWritable: return 'device-readable descriptor after a writable one';
    case ChainError.NestedIndirect: return 'nested indirect table';
    case ChainError.BadIndirect: return 'malformed indirect descriptor';
    case ChainError.AvailIndexOutOfRange: return 'available index out of range';
    case ChainError.RingOutsideRam: return 'ring outside guest RAM';
    default: return `chain error ${e}`;
  }
}

export class DescriptorChain {
  /** Head descriptor index: what goes back in the used ring. */
  head = 0;
  /** Segments: [0, readableCount) are device-readable, [readableCount, count) device-writable. */
  count = 0;
  readableCount = 0;
  readableBytes = 0;
  writableBytes = 0;
  readonly addr: Float64Array;
  readonly len: Uint32Array;

  constructor(readonly maxSegments: number) {
    this.addr = new Float64Array(maxSegments);
    this.len = new Uint32Array(maxSegments);
  }

  get writableCount(): number {
    return this.count - this.readableCount;
  }

  clear(head: number): void {
    this.head = head;
    this.count = 0;
    this.readableCount = 0;
    this.readableBytes = 0;
    this.writableBytes = 0;
  }

  /**
   * Copies `dst.length` device-readable bytes starting `offset` bytes into the readable part.
   * Returns false when the readable part is too short (the request is malformed).
   */
  readInto(mem: GuestMemory, offset: number, dst: Uint8Array): boolean {
    if (offset + dst.byteLength > this.readableBytes) return false;
    let want = dst.byteLength;
    let out = 0;
    for (let i = 0; i < this.readableCount && want > 0; i++) {
      const l = this.len[i]!;
      if (offset >= l) {
        offset -= l;
        continue;
      }
      const n = Math.min(l - offset, want);
      dst.set(mem.slice(this.addr[i]! + offset, n), out);
      out += n;
      want -= n;
      offset = 0;
    }
    return true;
  }

  /** Writes `src` into the device-writable part at `offset`; false when it does not fit. */
  writeFrom(mem: GuestMemory, offset: number, src: Uint8Array): boolean {
    if (offset + src.byteLength > this.writableBytes) return false;
    let want = src.byteLength;
    let from = 0;
    for (let i = this.readableCount; i < this.count && want > 0; i++) {
      const l = this.len[i]!;
      if (offset >= l) {
        offset -= l;
        continue;
      }
      const n = Math.min(l - offset, want);
      mem.write(this.addr[i]! + offset, src.subarray(from, from + n));
      from += n;
      want -= n;
      offset = 0;
    }
    return true;
  }

  /** Writes one byte at `offset` of the writable part (a status byte); false when out of range. */
  writeU8(mem: GuestMemory, offset: number, value: number): boolean {
    if (offset >= this.writableBytes) return false;
    for (let i = this.readableCount; i < this.count; i++) {
      const l = this.len[i]!;
      if (offset < l) {
        mem.writeU8(this.addr[i]! + offset, value);
        return true;
      }
      offset -= l;
    }
    return false;
  }
}
