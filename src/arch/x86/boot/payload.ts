// The compressed vmlinux inside a bzImage (boot.rst, payload_offset / payload_length, 2.08+).
// Decompressing it on the host lets the loader enter the ELF vmlinux directly, skipping the
// in-guest decompressor: tens of MiB of output that a software CPU would otherwise produce one
// emulated instruction at a time. Formats: LZ4 legacy frame (Debian's CONFIG_KERNEL_LZ4; lz4
// doc/lz4_Frame_format.md "Legacy frame" and doc/lz4_Block_format.md) and gzip (node:zlib).
// arch/x86/boot/compressed/mkpiggy.c reads the decompressed size from the payload's last 4 bytes
// (gzip's own ISIZE; the other formats get it appended by scripts/Makefile.lib size_append).

import { spawnSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { isElf } from './elf.js';
import { HDR_PAYLOAD_LENGTH, HDR_PAYLOAD_OFFSET, HDR_SETUP_SECTS, type BzImage } from './bzimage.js';

const LZ4_LEGACY_MAGIC = 0x184c2102;
const GZIP_MAGIC = 0x8b1f;
/** xz stream header magic FD 37 7A 58 5A 00 (Debian's generic kernel: CONFIG_KERNEL_XZ). */
const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const LZ4_MIN_MATCH = 4;
/** Sanity bound on the decompressed size (a vmlinux is tens of MiB). */
const MAX_VMLINUX_BYTES = 512 * 0x10_0000;

/** The compressed payload, located through the setup header (offsets relative to the kernel part). */
export function bzImagePayload(bz: BzImage): Uint8Array | undefined {
  if (bz.protocolVersion < 0x0208) return undefined;
  const h = new DataView(bz.header.buffer, bz.header.byteOffset, bz.header.byteLength);
  const at = (field: number): number => field - HDR_SETUP_SECTS;
  if (at(HDR_PAYLOAD_LENGTH) + 4 > bz.header.byteLength) return undefined;
  const offset = h.getUint32(at(HDR_PAYLOAD_OFFSET), true);
  const length = h.getUint32(at(HDR_PAYLOAD_LENGTH), true);
  if (length < 8 || offset + length > bz.kernel.byteLength) return undefined;
  return bz.kernel.subarray(offset, offset + length);
}

/**
 * Decompressed payloads kept between boots (the VMM keeps them in files): decompressing Debian's
 * kernel takes ~0.15 s, a tenth of the time to the guest's shell on the soft engine.
 */
export interface PayloadCache {
  /** The vmlinux of `payload`, if kept (anything: the caller checks its size and ELF magic). */
  get(payload: Uint8Array): Uint8Array | undefined;
  put(payload: Uint8Array, vmlinux: Uint8Array): void;
}

/** Decompresses the payload to the vmlinux ELF; undefined for formats we do not decode (xz, zstd...). */
export function decompressBzImagePayload(bz: BzImage, cache?: PayloadCache): Uint8Array | undefined {
  const payload = bzImagePayload(bz);
  if (payload === undefined) return undefined;
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const outBytes = v.getUint32(payload.byteLength - 4, true);
  if (outBytes === 0 || outBytes > MAX_VMLINUX_BYTES) return undefined;
  // A kept file of another size or without the ELF magic (damaged, or written by hand) is
  // replaced by a fresh decompression.
  const kept = cache?.get(payload);
  if (kept !== undefined && kept.byteLength === outBytes && isElf(kept)) return kept;
  const out = decompress(payload, v, outBytes);
  if (out !== undefined) cache?.put(payload, out);
  return out;
}

function decompress(payload: Uint8Array, v: DataView, outBytes: number): Uint8Array | undefined {
  if (v.getUint32(0, true) === LZ4_LEGACY_MAGIC) return lz4LegacyDecode(payload.subarray(0, payload.byteLength - 4), outBytes);
  if (v.getUint16(0, true) === GZIP_MAGIC) {
    const out = gunzipSync(payload);
    return out.byteLength === outBytes ? new Uint8Array(out.buffer, out.byteOffset, out.byteLength) : undefined;
  }
  if (XZ_MAGIC.every((b, k) => payload[k] === b)) return xzDecode(payload.subarray(0, payload.byteLength - 4), outBytes);
  return undefined;
}

/**
 * xz through the host's `xz` tool (xz-utils, on every Debian system): node has no xz decoder, and
 * writing one is not worth it for a boot-time convenience. The kernel's payload is a plain .xz
 * stream (with the x86 BCJ filter, which xz handles); the size appended after it is not part of
 * the stream. undefined when xz is missing or the output does not have the announced size.
 */
function xzDecode(stream: Uint8Array, outBytes: number): Uint8Array | undefined {
  const r = spawnSync('xz', ['--decompress', '--stdout', '--single-stream'], {
    input: stream, maxBuffer: MAX_VMLINUX_BYTES + 1, stdio: ['pipe', 'pipe', 'ignore'],
  });
  if (r.status !== 0 || r.error !== undefined || !(r.stdout instanceof Buffer) || r.stdout.byteLength !== outBytes) return undefined;
  return new Uint8Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.byteLength);
}

/**
 * LZ4 legacy frame: magic, then blocks of (u32 compressed size, block). A block is a run of
 * sequences: token (literal length high nibble, match length - 4 low nibble, 15 = more bytes
 * follow, each 255 = continue), literals, u16 match offset, extra match length bytes. The last
 * sequence of a block has literals only. Returns undefined on malformed input.
 */
export function lz4LegacyDecode(src: Uint8Array, outBytes: number): Uint8Array | undefined {
  const out = new Uint8Array(outBytes);
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  let p = 4;
  let o = 0;
  while (p + 4 <= src.byteLength && o < outBytes) {
    const blockBytes = view.getUint32(p, true);
    p += 4;
    if (blockBytes === LZ4_LEGACY_MAGIC) continue; // concatenated frames
    const end = p + blockBytes;
    if (end > src.byteLength) return undefined;
    while (p < end) {
      const token = src[p++]!;
      let lit = token >>> 4;
      if (lit === 15) {
        let b: number;
        do { b = src[p++]!; lit += b; } while (b === 255 && p < end);
      }
      if (p + lit > end || o + lit > outBytes) return undefined;
      // Short runs byte by byte: a subarray and a set() per sequence cost more than the copy.
      if (lit < 32) { for (let k = 0; k < lit; k++) out[o + k] = src[p + k]!; } else out.set(src.subarray(p, p + lit), o);
      o += lit;
      p += lit;
      if (p >= end) break;
      const offset = src[p]! | (src[p + 1]! << 8);
      p += 2;
      let len = token & 15;
      if (len === 15) {
        let b: number;
        do { b = src[p++]!; len += b; } while (b === 255 && p < end);
      }
      len += LZ4_MIN_MATCH;
      if (offset === 0 || offset > o || o + len > outBytes) return undefined;
      if (offset >= len && len >= 32) {
        out.copyWithin(o, o - offset, o - offset + len);
        o += len;
      } else {
        for (let i = 0; i < len; i++, o++) out[o] = out[o - offset]!;
      }
    }
  }
  return o === outBytes ? out : undefined;
}
