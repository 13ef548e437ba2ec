// Counters of one virtio-balloon device.
export interface BalloonMetrics {
  inflatedPages: number;
  deflatedPages: number;
  /** PFNs outside guest RAM (or repeated): ignored, never released. */
  rejectedPfns: number;
  /** Bytes handed to releasePages (inflate and free page reporting). */
  releasedBytes: number;
  reportedBytes: number;
  statsUpdates: number;
}

export function newBalloonMetrics(): BalloonMetrics {
  return { inflatedPages: 0, deflatedPages: 0, rejectedPfns: 0, releasedBytes: 0, reportedBytes: 0, statsUpdates: 0 };
}
