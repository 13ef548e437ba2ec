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

/** The most buffers one preadv/pwritev takes (Linux UIO_MAXIOV). */
export const IOV_MAX = 1024;

/**
 * A request's buffers as host addresses (struct iovec: u64 base, u64 length), for back ends that
 * hand them to one preadv/pwritev. The caller checked every range (GuestMemory.hostRange).
 */
export class HostIoVec {
  /** The iovec array as the kernel reads it. */
  readonly bytes = new Uint8Array(IOV_MAX * 16);
  private readonly words = new Uint32Array(this.bytes.buffer);
  count = 0;
  totalBytes = 0;

  clear(): void { this.count = 0; this.totalBytes = 0; }

  /** Adds a buffer; false when the array is full (the caller takes the Uint8Array path). */
  add(address: number, lengthBytes: number): boolean {
    if (this.count === IOV_MAX) return false;
    const w = this.count++ * 4;
    this.words[w] = address % 4294967296; this.words[w + 1] = Math.floor(address / 4294967296);
    this.words[w + 2] = lengthBytes; this.words[w + 3] = 0;
    this.totalBytes += lengthBytes;
    return true;
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
  /**
   * readv and writev into and from host addresses, where the back end supports them (raw files):
   * one system call without a view per buffer. False when the transfer came out short (the file
   * shrank under us): the caller redoes it with readv/writev, which finish buffer by buffer.
   */
  readvHost?(offsetBytes: number, iov: HostIoVec): boolean;
  writevHost?(offsetBytes: number, iov: HostIoVec): boolean;
  /** Makes every completed write durable (fdatasync): flushed data survives a SIGKILL or power cut. */
  flush(): void;
  /** Deallocates the range; reads then return zeroes. */
  discard(offsetBytes: number, lengthBytes: number): void;
  /** Zeroes the range; `mayUnmap` lets the back end punch a hole instead of writing zeroes. */
  writeZeroes(offsetBytes: number, lengthBytes: number, mayUnmap: boolean): void;
  close(): void;
}
