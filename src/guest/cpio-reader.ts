// Reads cpio "newc" archives (the kernel's initramfs format, buffer-format.rst): used to check
// an initrd the guest builder made, and by tests to parse back what the writer wrote.

import { CPIO_NEWC_MAGIC, CPIO_TRAILER_NAME } from './cpio.js';

export interface CpioEntry {
  name: string;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtimeSec: number;
  rdevMajor: number;
  rdevMinor: number;
  /** File contents, or a symlink's target; a view into the archive. */
  data: Buffer;
}

const HEADER_BYTES = 110;

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** Parses every entry up to the trailer; throws on a malformed archive. */
export function readCpio(archive: Uint8Array): CpioEntry[] {
  const buf = Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength);
  const entries: CpioEntry[] = [];
  let off = 0;
  for (;;) {
    if (off + HEADER_BYTES > buf.length) throw new Error(`cpio: truncated header at offset ${off}`);
    const magic = buf.toString('ascii', off, off + 6);
    if (magic !== CPIO_NEWC_MAGIC && magic !== '070702') {
      throw new Error(`cpio: bad magic "${magic}" at offset ${off}`);
    }
    const field = (i: number): number => {
      const start = off + 6 + i * 8;
      const text = buf.toString('ascii', start, start + 8);
      if (!/^[0-9a-fA-F]{8}$/.test(text)) throw new Error(`cpio: bad header field "${text}" at offset ${start}`);
      return parseInt(text, 16);
    };
    const fileSize = field(6);
    const nameSize = field(11);
    const nameStart = off + HEADER_BYTES;
    if (nameSize < 1 || nameStart + nameSize > buf.length) throw new Error(`cpio: bad name size at offset ${off}`);
    if (buf[nameStart + nameSize - 1] !== 0) throw new Error(`cpio: name not NUL-terminated at offset ${off}`);
    const name = buf.toString('utf8', nameStart, nameStart + nameSize - 1);
    const dataStart = align4(nameStart + nameSize);
    if (dataStart + fileSize > buf.length) throw new Error(`cpio: truncated data for "${name}"`);
    if (name === CPIO_TRAILER_NAME) return entries;
    entries.push({
      name,
      ino: field(0),
      mode: field(1),
      uid: field(2),
      gid: field(3),
      nlink: field(4),
      mtimeSec: field(5),
      rdevMajor: field(9),
      rdevMinor: field(10),
      data: buf.subarray(dataStart, dataStart + fileSize),
    });
    off = align4(dataStart + fileSize);
  }
}
