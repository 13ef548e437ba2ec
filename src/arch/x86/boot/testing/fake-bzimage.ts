// A synthetic bzImage for tests: a boot sector, setup sectors with a setup header, and a small
// "protected-mode kernel" payload with a recognizable pattern.

import {
  BOOT_FLAG_MAGIC, HDR_PAYLOAD_LENGTH, HDR_PAYLOAD_OFFSET, HDR_BOOT_FLAG, HDR_CMDLINE_SIZE, HDR_HEADER, HDR_INIT_SIZE, HDR_INITRD_ADDR_MAX, HDR_JUMP,
  HDR_KERNEL_ALIGNMENT, HDR_LOADFLAGS, HDR_PREF_ADDRESS, HDR_RELOCATABLE_KERNEL, HDR_SETUP_SECTS, HDR_SYSSIZE,
  HDR_VERSION, HDR_XLOADFLAGS, HDRS_MAGIC, LOADED_HIGH, XLF_CAN_BE_LOADED_ABOVE_4G, XLF_KERNEL_64,
} from '../bzimage.js';

export interface FakeBzImageOptions {
  setupSects?: number;
  version?: number;
  loadflags?: number;
  xloadflags?: number;
  prefAddress?: number;
  kernelAlignment?: number;
  relocatable?: boolean;
  initSizeBytes?: number;
  initrdAddrMax?: number;
  cmdlineSizeBytes?: number;
  kernelBytes?: number;
  magic?: number;
  /** A compressed payload placed 0x100 bytes into the protected-mode part (payload_offset/length). */
  payload?: Uint8Array;
}

const PAYLOAD_OFFSET = 0x100;

export function fakeBzImage(o: FakeBzImageOptions = {}): Uint8Array {
  const setupSects = o.setupSects ?? 4;
  const realSects = setupSects === 0 ? 4 : setupSects;
  const kernelBytes = Math.max(o.kernelBytes ?? 0x2000, o.payload === undefined ? 0 : PAYLOAD_OFFSET + o.payload.byteLength);
  const image = new Uint8Array((realSects + 1) * 512 + kernelBytes);
  const v = new DataView(image.buffer);
  v.setUint8(HDR_SETUP_SECTS, setupSects);
  v.setUint32(HDR_SYSSIZE, Math.ceil(kernelBytes / 16), true);
  v.setUint16(HDR_BOOT_FLAG, BOOT_FLAG_MAGIC, true);
  // jmp short: 0xeb, displacement = header end - 0x202 (Linux uses the same trick).
  v.setUint8(HDR_JUMP, 0xeb);
  v.setUint8(HDR_JUMP + 1, 0x6a); // header ends at 0x26c (protocol 2.15)
  v.setUint32(HDR_HEADER, o.magic ?? HDRS_MAGIC, true);
  v.setUint16(HDR_VERSION, o.version ?? 0x020f, true);
  v.setUint8(HDR_LOADFLAGS, o.loadflags ?? LOADED_HIGH);
  v.setUint32(HDR_INITRD_ADDR_MAX, o.initrdAddrMax ?? 0x7fffffff, true);
  v.setUint32(HDR_KERNEL_ALIGNMENT, o.kernelAlignment ?? 0x200000, true);
  v.setUint8(HDR_RELOCATABLE_KERNEL, (o.relocatable ?? true) ? 1 : 0);
  v.setUint16(HDR_XLOADFLAGS, o.xloadflags ?? (XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G), true);
  v.setUint32(HDR_CMDLINE_SIZE, o.cmdlineSizeBytes ?? 2047, true);
  v.setBigUint64(HDR_PREF_ADDRESS, BigInt(o.prefAddress ?? 0x1000000), true);
  v.setUint32(HDR_INIT_SIZE, o.initSizeBytes ?? 0x400000, true);
  // A payload pattern: byte i = i & 0xff, starting at the protected-mode kernel.
  for (let i = 0; i < kernelBytes; i++) image[(realSects + 1) * 512 + i] = (i * 7 + 3) & 0xff;
  if (o.payload !== undefined) {
    image.set(o.payload, (realSects + 1) * 512 + PAYLOAD_OFFSET);
    v.setUint32(HDR_PAYLOAD_OFFSET, PAYLOAD_OFFSET, true);
    v.setUint32(HDR_PAYLOAD_LENGTH, o.payload.byteLength, true);
  }
  return image;
}
