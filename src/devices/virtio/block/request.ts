// A virtio-blk request (virtio 1.2 §5.2.6): a 16-byte device-readable header { le32 type,
// le32 reserved, le64 sector }, the data, and a one-byte device-writable status at the very end.
// Nothing is assumed about how the driver splits these across descriptors (§2.7.4.1). parse()
// reads the header out of guest memory once; the data segments are used in place.

import type { GuestMemory } from '../../../memory/guest-memory.js';
import type { DescriptorChain } from '../queue/descriptor-chain.js';

/** Request types (§5.2.6). */
export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;
export const VIRTIO_BLK_T_DISCARD = 11;
export const VIRTIO_BLK_T_WRITE_ZEROES = 13;
/** Status values (§5.2.6). */
export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;
export const VIRTIO_BLK_HEADER_BYTES = 16;
/** struct virtio_blk_discard_write_zeroes: le64 sector, le32 num_sectors, le32 flags. */
export const VIRTIO_BLK_DWZ_SEGMENT_BYTES = 16;
export const VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP = 1;
export const SECTOR_BYTES = 512;

export class BlockRequest {
  type = 0;
  /** Sector as a number; -1 when it does not fit 2^53 (always out of range). */
  sector = 0;
  /** Bytes of data: after the header (OUT, DISCARD...) or before the status byte (IN, GET_ID). */
  dataBytes = 0;
  private readonly scratch = new Uint8Array(VIRTIO_BLK_HEADER_BYTES);
  private readonly view = new DataView(this.scratch.buffer);

  /**
   * Reads the header. Returns false for a chain that cannot be a request: no room for the
   * header, or no device-writable byte for the status.
   */
  parse(mem: GuestMemory, chain: DescriptorChain): boolean {
    if (chain.writableBytes < 1 || !chain.readInto(mem, 0, this.scratch)) return false;
    this.type = this.view.getUint32(0, true);
    const lo = this.view.getUint32(8, true);
    const hi = this.view.getUint32(12, true);
    this.sector = hi >= 0x20_0000 ? -1 : hi * 0x1_0000_0000 + lo;
    this.dataBytes = this.type === VIRTIO_BLK_T_IN || this.type === VIRTIO_BLK_T_GET_ID
      ? chain.writableBytes - 1
      : chain.readableBytes - VIRTIO_BLK_HEADER_BYTES;
    return true;
  }

  /** Reads discard/write-zeroes segment `i` into `out` ([sector, numSectors, flags]); false when absent. */
  segment(mem: GuestMemory, chain: DescriptorChain, i: number, out: Float64Array): boolean {
    if (!chain.readInto(mem, VIRTIO_BLK_HEADER_BYTES + i * VIRTIO_BLK_DWZ_SEGMENT_BYTES, this.scratch)) return false;
    const hi = this.view.getUint32(4, true);
    out[0] = hi >= 0x20_0000 ? -1 : hi * 0x1_0000_0000 + this.view.getUint32(0, true);
    out[1] = this.view.getUint32(8, true);
    out[2] = this.view.getUint32(12, true);
    return true;
  }
}
