// Counters of one virtio-console device.
export interface ConsoleMetrics {
  outputBytes: number;
  inputBytes: number;
  emergencyWrites: number;
  /** Receive chains without a writable buffer. */
  badRequests: number;
}

export function newConsoleMetrics(): ConsoleMetrics {
  return { outputBytes: 0, inputBytes: 0, emergencyWrites: 0, badRequests: 0 };
}
