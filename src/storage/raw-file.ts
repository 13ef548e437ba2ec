// Raw disk images: the file is the disk, byte for byte. Reads and writes go straight to the file
// with positional I/O (no host-side cache of our own; the page cache is the host's), flush is
// fdatasync(2), discard and write-zeroes punch holes with fallocate(2) so the image stays sparse.
// Written data is sent toward the disk in the background every WRITE_BEHIND_BYTES (write-behind),
// so that a flush waits for little more than the last few MiB.

import { closeSync, fdatasyncSync, fstatSync, openSync, readSync, readvSync, writeSync, writevSync, constants as fsConstants } from 'node:fs';
import { TshvError, errorMessage } from '../common/errors.js';
import {
  FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, SYNC_FILE_RANGE_WRITE, errnoName, fallocateRaw, preadv, pwritev, syncFileRangeRaw, SysError,
} from '../sys/libc.js';
import { DiskError, IOV_MAX, type DiskBackend, type HostIoVec } from './disk-backend.js';

const ZERO_CHUNK_BYTES = 64 * 1024;
const EOPNOTSUPP = 95;

/**
 * Bytes written since the last write-behind or flush after which their range's writeback starts
 * (sync_file_range SYNC_FILE_RANGE_WRITE: the kernel submits the dirty pages and returns). The
 * host's own background writeback waits for 10 % of its memory to be dirty, so without it a
 * guest's flush after a large write did all of the disk I/O then: on this project's CI machine,
 * 256 MiB written in 1 MiB pwrites then fdatasync took 29 + 46 ms; with a writeback started every
 * 8 MiB, 44 + 1 ms. Durability is unchanged: only flush (fdatasync) promises it.
 */
export const WRITE_BEHIND_BYTES = 8 * 1024 * 1024;

export interface RawFileOptions {
  readOnly?: boolean;
}

export class RawFileDisk implements DiskBackend {
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  readonly path: string;
  private fd: number;
  private zeroes: Uint8Array | undefined;
  /** Hole punching is unsupported on this file system: fall back to writing zeroes. */
  private noPunch = false;
  /** Bytes written, and the range they lie in, since the last write-behind or flush. */
  private dirtyBytes = 0;
  private dirtyLo = Infinity;
  private dirtyHi = 0;
  /** sync_file_range failed here (a file system or device without it): no more write-behind. */
  private noWriteBehind = false;
  /** Write-behinds started (each the writeback of the range written since the last). */
  writeBehinds = 0;

  private constructor(path: string, fd: number, sizeBytes: number, readOnly: boolean) {
    this.path = path;
    this.fd = fd;
    this.sizeBytes = sizeBytes;
    this.readOnly = readOnly;
  }

  static open(path: string, options: RawFileOptions = {}): RawFileDisk {
    const readOnly = options.readOnly ?? false;
    let fd: number;
    try {
      fd = openSync(path, (readOnly ? fsConstants.O_RDONLY : fsConstants.O_RDWR));  // libuv opens with O_CLOEXEC
    } catch (e) {
      throw new TshvError(`Cannot open disk image ${path}: ${errorMessage(e)}`);
    }
    const st = fstatSync(fd);
    if (!st.isFile() && !st.isBlockDevice()) {
      closeSync(fd);
      throw new TshvError(`Cannot open disk image ${path}: not a regular file or block device`);
    }
    return new RawFileDisk(path, fd, st.size, readOnly);
  }

  private checkRange(offsetBytes: number, lengthBytes: number): void {
    if (this.fd < 0) throw new DiskError(`Disk ${this.path} is closed`, 'EBADF');
    if (offsetBytes < 0 || lengthBytes < 0 || offsetBytes + lengthBytes > this.sizeBytes) {
      throw new DiskError(`Disk ${this.path}: access ${offsetBytes}+${lengthBytes} is beyond ${this.sizeBytes} bytes`, 'ERANGE');
    }
  }

  private checkWritable(): void {
    if (this.readOnly) throw new DiskError(`Disk ${this.path} is read-only`, 'EROFS');
  }

  read(offsetBytes: number, dst: Uint8Array): void {
    this.checkRange(offsetBytes, dst.byteLength);
    let done = 0;
    while (done < dst.byteLength) {
      const n = readSync(this.fd, dst, done, dst.byteLength - done, offsetBytes + done);
      if (n === 0) {
        // The file shrank under us: the missing tail reads as zeroes, like a hole.
        dst.fill(0, done);
        return;
      }
      done += n;
    }
  }

  write(offsetBytes: number, src: Uint8Array): void {
    this.checkWritable();
    this.checkRange(offsetBytes, src.byteLength);
    let done = 0;
    while (done < src.byteLength) {
      done += writeSync(this.fd, src, done, src.byteLength - done, offsetBytes + done);
    }
    this.wrote(offsetBytes, src.byteLength);
  }

  /**
   * Counts a completed write; past WRITE_BEHIND_BYTES starts the writeback of the range written
   * since the last one. Its errors are the flush's to report (fdatasync returns a writeback's
   * failure): a failed start only turns write-behind off.
   */
  private wrote(offsetBytes: number, lengthBytes: number): void {
    if (this.noWriteBehind) return;
    this.dirtyBytes += lengthBytes;
    if (offsetBytes < this.dirtyLo) this.dirtyLo = offsetBytes;
    if (offsetBytes + lengthBytes > this.dirtyHi) this.dirtyHi = offsetBytes + lengthBytes;
    if (this.dirtyBytes < WRITE_BEHIND_BYTES) return;
    if (syncFileRangeRaw(this.fd, this.dirtyLo, this.dirtyHi - this.dirtyLo, SYNC_FILE_RANGE_WRITE) !== 0) this.noWriteBehind = true;
    else this.writeBehinds++;
    this.clean();
  }

  private clean(): void {
    this.dirtyBytes = 0;
    this.dirtyLo = Infinity;
    this.dirtyHi = 0;
  }

  // preadv/pwritev (one system call per request instead of one per guest page: sequential 1 MiB
  // reads spent most of their time in 4 KiB reads). A short transfer, or more buffers than the
  // kernel takes at once (IOV_MAX, 1024), finishes buffer by buffer.
  readv(offsetBytes: number, dsts: readonly Uint8Array[], totalBytes: number): void {
    this.checkRange(offsetBytes, totalBytes);
    const n = dsts.length <= IOV_MAX ? readvSync(this.fd, dsts, offsetBytes) : 0;
    if (n !== totalBytes) this.finish(offsetBytes, dsts, n, (pos, rest) => { this.read(pos, rest); });
  }

  writev(offsetBytes: number, srcs: readonly Uint8Array[], totalBytes: number): void {
    this.checkWritable();
    this.checkRange(offsetBytes, totalBytes);
    const n = srcs.length <= IOV_MAX ? writevSync(this.fd, srcs, offsetBytes) : 0;
    if (n !== totalBytes) this.finish(offsetBytes, srcs, n, (pos, rest) => { this.write(pos, rest); });
    this.wrote(offsetBytes, n);
  }

  readvHost(offsetBytes: number, iov: HostIoVec): boolean {
    this.checkRange(offsetBytes, iov.totalBytes);
    return this.vectored('preadv', () => preadv(this.fd, iov.bytes, iov.count, offsetBytes)) === iov.totalBytes;
  }

  writevHost(offsetBytes: number, iov: HostIoVec): boolean {
    this.checkWritable();
    this.checkRange(offsetBytes, iov.totalBytes);
    const n = this.vectored('pwritev', () => pwritev(this.fd, iov.bytes, iov.count, offsetBytes));
    this.wrote(offsetBytes, n);
    return n === iov.totalBytes;
  }

  /** A preadv/pwritev whose failure is a DiskError, as readvSync's is an Error the device reports. */
  private vectored(call: string, f: () => number): number {
    try {
      return f();
    } catch (e) {
      throw new DiskError(`Disk ${this.path}: ${errorMessage(e)}`, e instanceof SysError ? errnoName(e.errno).split(' ')[0]! : call);
    }
  }

  /** After a vectored transfer that moved `done` bytes: the rest, buffer by buffer. */
  private finish(offsetBytes: number, bufs: readonly Uint8Array[], done: number, one: (pos: number, rest: Uint8Array) => void): void {
    let n = done;
    let pos = offsetBytes;
    for (const b of bufs) {
      if (n >= b.byteLength) n -= b.byteLength;
      else { one(pos + n, b.subarray(n)); n = 0; }
      pos += b.byteLength;
    }
  }

  flush(): void {
    if (this.readOnly) return;
    this.clean();
    fdatasyncSync(this.fd);
  }

  discard(offsetBytes: number, lengthBytes: number): void {
    this.writeZeroes(offsetBytes, lengthBytes, true);
  }

  writeZeroes(offsetBytes: number, lengthBytes: number, mayUnmap: boolean): void {
    this.checkWritable();
    this.checkRange(offsetBytes, lengthBytes);
    if (lengthBytes === 0) return;
    if (!this.noPunch) {
      const mode = mayUnmap ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
      const r = fallocateRaw(this.fd, mode, offsetBytes, lengthBytes);
      if (r === 0) return;
      if (r !== -EOPNOTSUPP) throw new DiskError(`Disk ${this.path}: fallocate failed (errno ${-r})`, 'EIO');
      if (mayUnmap) this.noPunch = true;
    }
    this.zeroes ??= new Uint8Array(ZERO_CHUNK_BYTES);
    for (let done = 0; done < lengthBytes; ) {
      const n = Math.min(ZERO_CHUNK_BYTES, lengthBytes - done);
      this.write(offsetBytes + done, this.zeroes.subarray(0, n));
      done += n;
    }
  }

  close(): void {
    if (this.fd >= 0) {
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}
