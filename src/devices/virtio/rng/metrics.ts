// Counters of one virtio-rng device.

export interface RngMetrics {
  requests: number;
  bytes: number;
  /** Chains with no device-writable buffer. */
  emptyRequests: number;
}

export function newRngMetrics(): RngMetrics {
  return { requests: 0, bytes: 0, emptyRequests: 0 };
}
