// What a block device sees of its storage: byte-addressed reads and writes, flush, and hole
// punching. Formats (raw today, qcow2 later) implement it; virtio-blk knows nothing of files.
// All calls are synchronous for now (the soft engine runs devices inline on the vCPU thread);
// an asynchronous io_uring back end can implement the same shape with completions later.

export class DiskError extends Error {
  /** errno-like reason, for metrics and logs. */
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

export interface DiskBackend {
  /** Size in bytes (fixed while attached). */
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  /** Fills `dst` from `offsetBytes`; throws DiskError. Reads past the end are the caller's error. */
  read(offsetBytes: number, dst: Uint8Array): void;
  write(offsetBytes: number, src: Uint8Array): void;
  /**
   * Fills `dsts` in turn from `offsetBytes` (`totalBytes` their summed length): one vectored
   * call for a request's guest buffers, as a 1 MiB request is often 256 pages.
   */
  readv(offsetBytes: number, dsts: readonly Uint8Array[], totalBytes: number): void;
  /** Writes `srcs` in turn from `offsetBytes`, like readv. */
  writev(offsetBytes: number, srcs: readonly Uint8Array[], totalBytes: number): void;
  /** Makes every completed write durable (fdatasync): flushed data survives a SIGKILL or power cut. */
  flush(): void;
  /** Deallocates the range; reads then return zeroes. */
  discard(offsetBytes: number, lengthBytes: number): void;
  /** Zeroes the range; `mayUnmap` lets the back end punch a hole instead of writing zeroes. */
  writeZeroes(offsetBytes: number, lengthBytes: number, mayUnmap: boolean): void;
  close(): void;
}
