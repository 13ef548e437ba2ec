// Counters a running UART exposes (for `tshv info` and the metrics endpoint). Plain numbers, so a
// snapshot is just a copy.

export interface SerialMetrics {
  /** Bytes the guest transmitted to the host sink (loopback bytes excluded). */
  txBytes: number;
  /** Host input bytes moved into the receive FIFO. */
  rxBytes: number;
  /** Characters lost because the receive FIFO was full (only loopback can cause this: host input waits). */
  overruns: number;
  /** Host input still waiting for room in the receive FIFO. */
  pendingInputBytes: number;
}
