// Guest physical memory: one shared mapping seen as an ArrayBuffer, split into regions around the
// 32-bit PCI hole (RAM above PCI_HOLE_START is mapped from 4 GiB up). Everything outside the CPU's
// own fast path touches guest memory through these bounds-checked accessors (shared/STYLE.md
// habit 4): a guest-supplied address or length never indexes the buffer unchecked.

import { TshvError } from '../common/errors.js';
import { addressOf } from '../sys/libc.js';

/** A guest physical address (a plain number < 2^52, branded so it is not mixed with offsets). */
export type Gpa = number & { readonly __brand: 'Gpa' };
export const gpa = (n: number): Gpa => n as Gpa;

export interface MemoryRegion {
  /** First guest physical address of the region. */
  gpa: number;
  sizeBytes: number;
  /** Offset of the region in the backing buffer. */
  offset: number;
}

export class GuestMemoryError extends TshvError {}

/**
 * RAM smaller than this is not given out as host addresses: V8 keeps small ArrayBuffers in its
 * heap, where they can move (only unit tests use such RAM).
 */
const HOST_RANGE_MIN_BYTES = 1 << 20;

export class GuestMemory {
  /** The whole of guest RAM, regions back to back. */
  readonly bytes: Uint8Array;
  readonly regions: readonly MemoryRegion[];
  readonly sizeBytes: number;
  private readonly view: DataView;
  /** Host address of `bytes` (hostRange), -1 until asked. */
  private hostBase = -1;
  /**
   * Told of every write that does not come from a vCPU's own stores (device DMA, loaders), so that
   * the soft CPU can drop code it decoded from those pages. Writes through `slice()` views are not
   * seen: writers use `writableSlice()`.
   */
  onWrite: ((addr: number, len: number) => void) | undefined;

  constructor(bytes: Uint8Array, regions: readonly MemoryRegion[]) {
    this.bytes = bytes;
    this.regions = regions;
    this.sizeBytes = bytes.byteLength;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Lays out `sizeBytes` of RAM around a hole [holeStart, holeEnd). */
  static layout(sizeBytes: number, holeStart: number, holeEnd: number): MemoryRegion[] {
    if (sizeBytes <= holeStart) return [{ gpa: 0, sizeBytes, offset: 0 }];
    return [
      { gpa: 0, sizeBytes: holeStart, offset: 0 },
      { gpa: holeEnd, sizeBytes: sizeBytes - holeStart, offset: holeStart },
    ];
  }

  /** Offset in `bytes` of guest physical address `addr`, or -1 when it is not RAM. */
  offsetOf(addr: number): number {
    const r0 = this.regions[0];
    if (r0 !== undefined && addr >= r0.gpa && addr < r0.gpa + r0.sizeBytes) return addr - r0.gpa + r0.offset;
    for (let i = 1; i < this.regions.length; i++) {
      const r = this.regions[i]!;
      if (addr >= r.gpa && addr < r.gpa + r.sizeBytes) return addr - r.gpa + r.offset;
    }
    return -1;
  }

  /** Offset of [addr, addr+len) when it lies inside one region, else throws. */
  private checkedOffset(addr: number, len: number): number {
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(len) || addr < 0 || len < 0) {
      throw new GuestMemoryError(`Invalid guest memory access at ${addr} (${len} bytes)`);
    }
    for (const r of this.regions) {
      if (addr >= r.gpa && addr + len <= r.gpa + r.sizeBytes) return addr - r.gpa + r.offset;
    }
    throw new GuestMemoryError(
      `Guest memory access at 0x${addr.toString(16)} (${len} bytes) is outside guest RAM`,
    );
  }

  /** True when [addr, addr+len) is RAM inside one region. */
  isRange(addr: number, len: number): boolean {
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(len) || addr < 0 || len < 0) return false;
    return this.regions.some((r) => addr >= r.gpa && addr + len <= r.gpa + r.sizeBytes);
  }

  /** A view of guest memory (no copy); throws when the range is not RAM. */
  slice(addr: Gpa | number, len: number): Uint8Array {
    const off = this.checkedOffset(addr, len);
    return this.bytes.subarray(off, off + len);
  }

  /**
   * The host address of [addr, addr+len) for a system call that moves the bytes itself (a disk's
   * preadv/pwritev): checked like slice(); `write` reports it to onWrite, as writableSlice().
   * Null when RAM is too small a buffer to stay put (V8 may move a small one: tests).
   */
  hostRange(addr: Gpa | number, len: number, write: boolean): number | null {
    if (this.hostBase < 0) {
      if (this.bytes.byteLength < HOST_RANGE_MIN_BYTES) return null;
      this.hostBase = addressOf(this.bytes);
    }
    const off = this.checkedOffset(addr, len);
    if (write) this.onWrite?.(addr, len);
    return this.hostBase + off;
  }

  /** A view to write into (device DMA): like slice(), and reported to onWrite. */
  writableSlice(addr: Gpa | number, len: number): Uint8Array {
    const view = this.slice(addr, len);
    this.onWrite?.(addr, len);
    return view;
  }

  write(addr: Gpa | number, data: Uint8Array): void {
    this.bytes.set(data, this.checkedOffset(addr, data.byteLength));
    this.onWrite?.(addr, data.byteLength);
  }

  read(addr: Gpa | number, len: number): Uint8Array {
    return this.slice(addr, len).slice();
  }

  fill(addr: Gpa | number, len: number, value: number): void {
    const off = this.checkedOffset(addr, len);
    this.bytes.fill(value, off, off + len);
    this.onWrite?.(addr, len);
  }

  readU8(addr: Gpa | number): number { return this.view.getUint8(this.checkedOffset(addr, 1)); }
  readU16(addr: Gpa | number): number { return this.view.getUint16(this.checkedOffset(addr, 2), true); }
  readU32(addr: Gpa | number): number { return this.view.getUint32(this.checkedOffset(addr, 4), true); }
  readU64(addr: Gpa | number): bigint { return this.view.getBigUint64(this.checkedOffset(addr, 8), true); }
  writeU8(addr: Gpa | number, v: number): void { this.view.setUint8(this.checkedOffset(addr, 1), v); }
  writeU16(addr: Gpa | number, v: number): void { this.view.setUint16(this.checkedOffset(addr, 2), v, true); }
  writeU32(addr: Gpa | number, v: number): void { this.view.setUint32(this.checkedOffset(addr, 4), v >>> 0, true); }
  writeU64(addr: Gpa | number, v: bigint): void { this.view.setBigUint64(this.checkedOffset(addr, 8), BigInt.asUintN(64, v), true); }
}
