// Counters of one virtio-net device.
export interface NetMetrics {
  txFrames: number;
  txBytes: number;
  /** Chains that were not frames (too short, too long) or that the back end refused. */
  txDropped: number;
  txErrors: number;
  rxFrames: number;
  rxBytes: number;
  /** Frames larger than every buffer the guest offered. */
  rxDropped: number;
  rxErrors: number;
  /** Times a direction waited for the rate limiter. */
  rateLimited: number;
}

export function newNetMetrics(): NetMetrics {
  return { txFrames: 0, txBytes: 0, txDropped: 0, txErrors: 0, rxFrames: 0, rxBytes: 0, rxDropped: 0, rxErrors: 0, rateLimited: 0 };
}
