// Request payloads of the traditional memory balloon (virtio 1.2 §5.5.6): arrays of 32-bit page
// frame numbers of 4 KiB pages (inflate, deflate), and tagged statistics (stats queue).

import type { GuestMemory } from '../../../memory/guest-memory.js';
import type { DescriptorChain } from '../queue/descriptor-chain.js';

/** The balloon's page size, whatever the guest's (§5.5.6: VIRTIO_BALLOON_PFN_SHIFT 12). */
export const VIRTIO_BALLOON_PFN_SHIFT = 12;
export const BALLOON_PAGE_BYTES = 1 << VIRTIO_BALLOON_PFN_SHIFT;

/** Statistic tags (§5.5.6.3) and the names we report them under. */
export const VIRTIO_BALLOON_S_SWAP_IN = 0;
export const VIRTIO_BALLOON_S_SWAP_OUT = 1;
export const VIRTIO_BALLOON_S_MAJFLT = 2;
export const VIRTIO_BALLOON_S_MINFLT = 3;
export const VIRTIO_BALLOON_S_MEMFREE = 4;
export const VIRTIO_BALLOON_S_MEMTOT = 5;
export const VIRTIO_BALLOON_S_AVAIL = 6;
export const VIRTIO_BALLOON_S_CACHES = 7;
export const VIRTIO_BALLOON_S_HTLB_PGALLOC = 8;
export const VIRTIO_BALLOON_S_HTLB_PGFAIL = 9;
export const BALLOON_STAT_NAMES: readonly string[] = [
  'swapInBytes', 'swapOutBytes', 'majorFaults', 'minorFaults', 'freeBytes', 'totalBytes', 'availableBytes', 'cachesBytes',
  'hugetlbAllocations', 'hugetlbFailures',
];
/** struct virtio_balloon_stat: le16 tag, le64 val (packed, 10 bytes). */
export const BALLOON_STAT_BYTES = 10;
/** Entries parsed per stats buffer at most (the driver sends about ten). */
export const BALLOON_MAX_STATS = 64;

export type BalloonStats = Record<string, number>;

/** Parses the stats buffer of a chain; unknown tags are kept as `tag<N>`. */
export function parseStats(mem: GuestMemory, chain: DescriptorChain, scratch: Uint8Array): BalloonStats {
  const out: BalloonStats = {};
  const count = Math.min(Math.floor(chain.readableBytes / BALLOON_STAT_BYTES), BALLOON_MAX_STATS);
  const view = new DataView(scratch.buffer, scratch.byteOffset, BALLOON_STAT_BYTES);
  const entry = scratch.subarray(0, BALLOON_STAT_BYTES);
  for (let i = 0; i < count; i++) {
    chain.readInto(mem, i * BALLOON_STAT_BYTES, entry);
    const tag = view.getUint16(0, true);
    // Values are u64; beyond 2^53 precision is lost, harmless for statistics.
    const val = view.getUint32(2, true) + view.getUint32(6, true) * 0x1_0000_0000;
    out[BALLOON_STAT_NAMES[tag] ?? `tag${tag}`] = val;
  }
  return out;
}
