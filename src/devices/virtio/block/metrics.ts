// Counters of one virtio-blk device (shared/STYLE.md: FooMetrics), read by `info` commands.

export interface BlockMetrics {
  readOps: number;
  writeOps: number;
  flushOps: number;
  discardOps: number;
  writeZeroesOps: number;
  getIdOps: number;
  readBytes: number;
  writeBytes: number;
  /** Requests completed with IOERR (back end failure, out of range, read-only). */
  ioErrors: number;
  /** Requests completed with UNSUPP. */
  unsupported: number;
  /** Chains that were not requests (no header or no status byte). */
  invalidRequests: number;
  /** Times a request waited for the rate limiter. */
  throttled: number;
}

export function newBlockMetrics(): BlockMetrics {
  return {
    readOps: 0, writeOps: 0, flushOps: 0, discardOps: 0, writeZeroesOps: 0, getIdOps: 0, readBytes: 0, writeBytes: 0,
    ioErrors: 0, unsupported: 0, invalidRequests: 0, throttled: 0,
  };
}
