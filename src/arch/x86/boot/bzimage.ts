// Parses a Linux bzImage: the real-mode setup sectors with the setup header, followed by the
// protected-mode (compressed) kernel. Offsets and meanings: Documentation/arch/x86/boot.rst,
// "THE REAL-MODE KERNEL HEADER", and struct setup_header in arch/x86/include/uapi/asm/bootparam.h.

import { TshvError } from '../../../common/errors.js';

// Setup header field offsets, from the start of the image (the header starts at 0x1f1).
export const HDR_SETUP_SECTS = 0x1f1;
export const HDR_SYSSIZE = 0x1f4;
export const HDR_VID_MODE = 0x1fa;
export const HDR_BOOT_FLAG = 0x1fe;
export const HDR_JUMP = 0x200;
export const HDR_HEADER = 0x202;
export const HDR_VERSION = 0x206;
export const HDR_TYPE_OF_LOADER = 0x210;
export const HDR_LOADFLAGS = 0x211;
export const HDR_CODE32_START = 0x214;
export const HDR_RAMDISK_IMAGE = 0x218;
export const HDR_RAMDISK_SIZE = 0x21c;
export const HDR_HEAP_END_PTR = 0x224;
export const HDR_EXT_LOADER_VER = 0x226;
export const HDR_EXT_LOADER_TYPE = 0x227;
export const HDR_CMD_LINE_PTR = 0x228;
export const HDR_INITRD_ADDR_MAX = 0x22c;
export const HDR_KERNEL_ALIGNMENT = 0x230;
export const HDR_RELOCATABLE_KERNEL = 0x234;
export const HDR_MIN_ALIGNMENT = 0x235;
export const HDR_XLOADFLAGS = 0x236;
export const HDR_CMDLINE_SIZE = 0x238;
export const HDR_HARDWARE_SUBARCH = 0x23c;
export const HDR_PAYLOAD_OFFSET = 0x248;
export const HDR_PAYLOAD_LENGTH = 0x24c;
export const HDR_SETUP_DATA = 0x250;
export const HDR_PREF_ADDRESS = 0x258;
export const HDR_INIT_SIZE = 0x260;
export const HDR_HANDOVER_OFFSET = 0x264;
export const HDR_KERNEL_INFO_OFFSET = 0x268;
/** First byte after the last field of the setup header that protocol 2.15 defines. */
export const HDR_END_2_15 = 0x26c;
/** struct boot_params places the setup header at 0x1f1 and the next field at 0x290. */
export const HDR_MAX_END = 0x290;

/** "HdrS" read as a little-endian uint32. */
export const HDRS_MAGIC = 0x53726448;
export const BOOT_FLAG_MAGIC = 0xaa55;

// loadflags (bootparam.h).
export const LOADED_HIGH = 1 << 0;
export const KASLR_FLAG = 1 << 1;
export const QUIET_FLAG = 1 << 5;
export const KEEP_SEGMENTS = 1 << 6;
export const CAN_USE_HEAP = 1 << 7;
// xloadflags (bootparam.h).
export const XLF_KERNEL_64 = 1 << 0;
export const XLF_CAN_BE_LOADED_ABOVE_4G = 1 << 1;

/** Oldest protocol we accept: 2.06 adds cmdline_size; older kernels predate x86-64 bzImages anyway. */
export const MIN_PROTOCOL_VERSION = 0x0206;
/** boot.rst: "If the setup_sects value is 0, the real value is 4." */
const DEFAULT_SETUP_SECTS = 4;
const SECTOR_BYTES = 512;
/** boot.rst: the 64-bit entry point is at the load address + 0x200. */
export const KERNEL_64_ENTRY_OFFSET = 0x200;
/** Kernel load address of protocols that do not say otherwise (boot.rst, code32_start). */
const DEFAULT_LOAD_ADDRESS = 0x100000;

export interface BzImage {
  /** Protocol version, e.g. 0x020f for 2.15. */
  protocolVersion: number;
  /** Real-mode setup size in 512-byte sectors (not counting the boot sector). */
  setupSects: number;
  /** The setup header bytes (image offset 0x1f1 up to its end), to copy into boot_params. */
  header: Uint8Array;
  /** The protected-mode kernel: the image after the setup sectors. */
  kernel: Uint8Array;
  loadflags: number;
  xloadflags: number;
  /** Kernel runtime start address the kernel prefers (pref_address, 2.10+). */
  prefAddress: number;
  kernelAlignment: number;
  relocatable: boolean;
  /** Bytes of linear memory the kernel needs from its runtime start before it reads the memory map. */
  initSizeBytes: number;
  /** Highest address the initrd may occupy (its last byte). */
  initrdAddrMax: number;
  /** Longest command line, not counting the NUL (2.06+). */
  cmdlineSizeBytes: number;
}

function fail(name: string, why: string): never {
  throw new TshvError(`Cannot boot "${name}": ${why}`);
}

/**
 * Checks and decodes a bzImage. `name` is used in error messages only (the file path).
 * Requires protocol 2.06+ and a 64-bit kernel (XLF_KERNEL_64), the only entry we implement.
 */
export function parseBzImage(image: Uint8Array, name = 'kernel'): BzImage {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image.byteLength < HDR_END_2_15 || view.getUint32(HDR_HEADER, true) !== HDRS_MAGIC) {
    fail(name, 'not a Linux bzImage (no HdrS signature)');
  }
  const protocolVersion = view.getUint16(HDR_VERSION, true);
  if (protocolVersion < MIN_PROTOCOL_VERSION) {
    fail(name, `boot protocol ${versionString(protocolVersion)} is too old (need 2.06 or later)`);
  }
  const loadflags = view.getUint8(HDR_LOADFLAGS);
  if ((loadflags & LOADED_HIGH) === 0) fail(name, 'not a bzImage (zImage kernels load low, unsupported)');
  const xloadflags = protocolVersion >= 0x020c ? view.getUint16(HDR_XLOADFLAGS, true) : 0;
  if ((xloadflags & XLF_KERNEL_64) === 0) fail(name, 'not a 64-bit kernel (no 64-bit entry point, XLF_KERNEL_64)');

  const setupSects = view.getUint8(HDR_SETUP_SECTS) || DEFAULT_SETUP_SECTS;
  const kernelOffset = (setupSects + 1) * SECTOR_BYTES;
  if (kernelOffset >= image.byteLength) fail(name, `image truncated (${image.byteLength} bytes, setup alone needs ${kernelOffset})`);
  // syssize counts 16-byte paragraphs of the protected-mode code (2.04+).
  const syssizeBytes = view.getUint32(HDR_SYSSIZE, true) * 16;
  if (syssizeBytes > image.byteLength - kernelOffset) {
    fail(name, `image truncated (${image.byteLength} bytes, header says ${kernelOffset + syssizeBytes})`);
  }

  // boot.rst: the header ends at 0x202 + the byte at 0x201 (the jump's displacement).
  const headerEnd = Math.min(HDR_HEADER + view.getUint8(HDR_JUMP + 1), HDR_MAX_END);
  const prefAddress = protocolVersion >= 0x020a
    ? view.getUint32(HDR_PREF_ADDRESS, true) + view.getUint32(HDR_PREF_ADDRESS + 4, true) * 0x1_0000_0000
    : DEFAULT_LOAD_ADDRESS;
  return {
    protocolVersion,
    setupSects,
    header: image.subarray(HDR_SETUP_SECTS, headerEnd),
    kernel: image.subarray(kernelOffset),
    loadflags,
    xloadflags,
    prefAddress,
    kernelAlignment: view.getUint32(HDR_KERNEL_ALIGNMENT, true),
    relocatable: view.getUint8(HDR_RELOCATABLE_KERNEL) !== 0,
    initSizeBytes: protocolVersion >= 0x020a ? view.getUint32(HDR_INIT_SIZE, true) : 0,
    initrdAddrMax: view.getUint32(HDR_INITRD_ADDR_MAX, true),
    cmdlineSizeBytes: view.getUint32(HDR_CMDLINE_SIZE, true),
  };
}

export function versionString(v: number): string {
  return `${v >> 8}.${(v & 0xff).toString().padStart(2, '0')}`;
}
