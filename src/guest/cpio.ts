// A writer for cpio "newc" archives, the format the Linux kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst in the kernel tree).
//
// Each entry is a 110-byte ASCII header (magic "070701" and 13 fields of 8 hex digits), the
// NUL-terminated path name padded so the data starts on a 4-byte boundary, then the data padded to
// 4 bytes. The archive ends with an entry named "TRAILER!!!". The kernel creates entries in the
// order they appear, so a directory must come before anything inside it.
//
// Entries carry a fixed mtime (default 0) and uid/gid 0, so the same inputs give the same bytes
// and the same checksum: the guest cache can tell a good initrd from a damaged one.

import { gzipSync } from 'node:zlib';

/** File type bits of st_mode (POSIX <sys/stat.h>); cpio newc stores them in `c_mode`. */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/** "070701": newc without checksums (buffer-format.rst). */
export const CPIO_NEWC_MAGIC = '070701';
export const CPIO_TRAILER_NAME = 'TRAILER!!!';
const HEADER_BYTES = 110;

export interface CpioEntryOptions {
  /** Permission bits (the low 12 bits of st_mode). */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch; defaults to the writer's mtime. */
  mtimeSec?: number;
}

export interface CpioWriterOptions {
  /** mtime given to entries that name none (default 0, for reproducible archives). */
  mtimeSec?: number;
}

function hex8(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`cpio field out of range: ${value}`);
  }
  return value.toString(16).padStart(8, '0');
}

function pad4(length: number): number {
  return (4 - (length & 3)) & 3;
}

/** Archive paths are relative to the root, with no "." or empty components (the kernel resolves them from "/"). */
function normalizePath(path: string): string {
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw new Error(`Cannot add cpio entry "${path}": ".." is not allowed`);
  if (parts.length === 0) throw new Error(`Cannot add cpio entry: empty path "${path}"`);
  return parts.join('/');
}

/** Builds a newc archive in memory; `finish()` returns the bytes. */
export class CpioWriter {
  private readonly chunks: Buffer[] = [];
  private readonly names = new Set<string>();
  private nextIno = 1;
  private readonly defaultMtimeSec: number;
  private finished = false;
  private sizeBytes = 0;

  constructor(options: CpioWriterOptions = {}) {
    this.defaultMtimeSec = options.mtimeSec ?? 0;
  }

  /** True when an entry with this path was added. */
  has(path: string): boolean {
    return this.names.has(normalizePath(path));
  }

  addDirectory(path: string, options: CpioEntryOptions = {}): void {
    this.addEntry(path, S_IFDIR | (options.mode ?? 0o755), undefined, 0, 0, options);
  }

  /** Adds each missing parent directory of `path` and `path` itself as directories (mode 0755). */
  addDirectories(path: string): void {
    const parts = normalizePath(path).split('/');
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!this.names.has(dir)) this.addDirectory(dir);
    }
  }

  addFile(path: string, data: Uint8Array | string, options: CpioEntryOptions = {}): void {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.addEntry(path, S_IFREG | (options.mode ?? 0o644), bytes, 0, 0, options);
  }

  addSymlink(path: string, target: string, options: CpioEntryOptions = {}): void {
    // A symlink's data is its target, without a terminating NUL.
    this.addEntry(path, S_IFLNK | (options.mode ?? 0o777), Buffer.from(target, 'utf8'), 0, 0, options);
  }

  addCharDevice(path: string, major: number, minor: number, options: CpioEntryOptions = {}): void {
    this.addEntry(path, S_IFCHR | (options.mode ?? 0o600), undefined, major, minor, options);
  }

  addBlockDevice(path: string, major: number, minor: number, options: CpioEntryOptions = {}): void {
    this.addEntry(path, S_IFBLK | (options.mode ?? 0o600), undefined, major, minor, options);
  }

  /** Appends the trailer and returns the archive. The writer cannot be used afterwards. */
  finish(): Buffer {
    if (this.finished) throw new Error('cpio archive already finished');
    this.writeHeaderAndName(CPIO_TRAILER_NAME, 0, 0, 0, 0, 1, 0, 0, 0, 0);
    this.finished = true;
    return Buffer.concat(this.chunks, this.sizeBytes);
  }

  private addEntry(
    path: string,
    mode: number,
    data: Uint8Array | undefined,
    rdevMajor: number,
    rdevMinor: number,
    options: CpioEntryOptions,
  ): void {
    if (this.finished) throw new Error('cpio archive already finished');
    const name = normalizePath(path);
    if (this.names.has(name)) throw new Error(`Cannot add cpio entry "${name}": already present`);
    const slash = name.lastIndexOf('/');
    if (slash > 0 && !this.names.has(name.slice(0, slash))) {
      throw new Error(`Cannot add cpio entry "${name}": parent directory not added first`);
    }
    this.names.add(name);
    const nlink = (mode & S_IFMT) === S_IFDIR ? 2 : 1;
    const fileSize = data ? data.length : 0;
    this.writeHeaderAndName(
      name,
      this.nextIno++,
      mode,
      options.uid ?? 0,
      options.gid ?? 0,
      nlink,
      options.mtimeSec ?? this.defaultMtimeSec,
      fileSize,
      rdevMajor,
      rdevMinor,
    );
    if (data && data.length > 0) {
      this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      const padding = pad4(data.length);
      if (padding > 0) this.push(Buffer.alloc(padding));
    }
  }

  private writeHeaderAndName(
    name: string,
    ino: number,
    mode: number,
    uid: number,
    gid: number,
    nlink: number,
    mtimeSec: number,
    fileSize: number,
    rdevMajor: number,
    rdevMinor: number,
  ): void {
    const nameBytes = Buffer.from(name, 'utf8');
    const nameSize = nameBytes.length + 1; // c_namesize counts the terminating NUL
    const header =
      CPIO_NEWC_MAGIC +
      hex8(ino) +
      hex8(mode) +
      hex8(uid) +
      hex8(gid) +
      hex8(nlink) +
      hex8(mtimeSec) +
      hex8(fileSize) +
      hex8(0) + // c_devmajor: the device holding the file, meaningless here
      hex8(0) + // c_devminor
      hex8(rdevMajor) +
      hex8(rdevMinor) +
      hex8(nameSize) +
      hex8(0); // c_check: only used by the "070702" crc format
    this.push(Buffer.from(header, 'ascii'));
    this.push(nameBytes);
    this.push(Buffer.alloc(1 + pad4(HEADER_BYTES + nameSize)));
  }

  private push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.sizeBytes += chunk.length;
  }
}

/** gzip at the best ratio: the initrd is built once and loaded on every boot. */
export function gzipArchive(archive: Uint8Array): Buffer {
  return gzipSync(archive, { level: 9 });
}
