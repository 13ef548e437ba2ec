// A PCI function's configuration space (PCI Local Bus 3.0 §6.1, type 0 header): the bytes the
// guest reads, a per-byte mask of the bits it may write, BAR sizing (§6.2.5.1: writable address
// bits above the BAR's size, so that writing all ones reads back the size), and the capability
// list (§6.7). Device models fill it once; the guest changes only what the masks allow.

import type { AccessSize } from '../bus.js';

/** Standard header offsets (§6.1). */
export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BASE_ADDRESS_0 = 0x10;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_CAPABILITY_LIST = 0x34;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;
/** Command register bits (§6.2.2). */
export const PCI_COMMAND_IO = 1 << 0;
export const PCI_COMMAND_MEMORY = 1 << 1;
export const PCI_COMMAND_MASTER = 1 << 2;
export const PCI_COMMAND_INTX_DISABLE = 1 << 10;
/** Status register: the capability list is valid (§6.2.3). */
export const PCI_STATUS_CAP_LIST = 1 << 4;
/** Memory BAR type bits (§6.2.5.1). */
export const PCI_BASE_ADDRESS_MEM_TYPE_64 = 0x04;
export const PCI_BASE_ADDRESS_MEM_PREFETCH = 0x08;
export const PCI_BAR_COUNT = 6;
/** Conventional configuration space; ECAM's extended space above it reads as zero here. */
export const PCI_CONFIG_SPACE_BYTES = 256;
/** Capabilities live after the header, dword aligned (§6.7). */
const CAP_START = 0x40;

export interface PciIdentity {
  vendorId: number;
  deviceId: number;
  /** Class code, 24 bits: base class << 16 | subclass << 8 | programming interface. */
  classCode: number;
  revisionId: number;
  subsystemVendorId: number;
  subsystemId: number;
  /** Interrupt pin (1 = INTA#); 0 for none. */
  interruptPin?: number;
}

export class PciConfigSpace {
  readonly bytes = new Uint8Array(PCI_CONFIG_SPACE_BYTES);
  readonly writeMask = new Uint8Array(PCI_CONFIG_SPACE_BYTES);
  /** Size of each memory BAR in bytes; 0 when the BAR is not implemented. */
  readonly barSizeBytes: number[] = [0, 0, 0, 0, 0, 0];
  private readonly view = new DataView(this.bytes.buffer);
  private nextCap = CAP_START;
  private lastCap = 0;

  constructor(id: PciIdentity) {
    const v = this.view;
    v.setUint16(PCI_VENDOR_ID, id.vendorId, true);
    v.setUint16(PCI_DEVICE_ID, id.deviceId, true);
    v.setUint8(PCI_REVISION_ID, id.revisionId);
    v.setUint8(PCI_CLASS_PROG, id.classCode & 0xff);
    v.setUint16(PCI_CLASS_PROG + 1, (id.classCode >>> 8) & 0xffff, true);
    v.setUint16(PCI_SUBSYSTEM_VENDOR_ID, id.subsystemVendorId, true);
    v.setUint16(PCI_SUBSYSTEM_ID, id.subsystemId, true);
    v.setUint8(PCI_INTERRUPT_PIN, id.interruptPin ?? 0);
    this.setMask(PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
    this.setMask(PCI_INTERRUPT_LINE, 1, 0xff);
  }

  /** Marks bits of a little-endian field as guest-writable. */
  setMask(offset: number, size: 1 | 2 | 4, mask: number): void {
    for (let i = 0; i < size; i++) this.writeMask[offset + i] = (mask >>> (8 * i)) & 0xff;
  }

  /** Declares BAR `index` as a 32-bit non-prefetchable memory BAR of `sizeBytes` (a power of two, ≥ 4 KiB). */
  addMemoryBar(index: number, sizeBytes: number): void {
    if (index < 0 || index >= PCI_BAR_COUNT || sizeBytes < 0x1000 || sizeBytes > 0x8000_0000 || (sizeBytes & (sizeBytes - 1)) !== 0) {
      throw new RangeError(`Invalid PCI BAR ${index} of ${sizeBytes} bytes`);
    }
    this.barSizeBytes[index] = sizeBytes;
    this.setMask(PCI_BASE_ADDRESS_0 + 4 * index, 4, ~(sizeBytes - 1) >>> 0);
  }

  /** The address programmed into memory BAR `index` (type bits cleared). */
  barAddress(index: number): number {
    return (this.view.getUint32(PCI_BASE_ADDRESS_0 + 4 * index, true) & ~0xf) >>> 0;
  }

  setBarAddress(index: number, address: number): void {
    const off = PCI_BASE_ADDRESS_0 + 4 * index;
    this.view.setUint32(off, ((address & ~0xf) | (this.view.getUint32(off, true) & 0xf)) >>> 0, true);
  }

  get command(): number {
    return this.view.getUint16(PCI_COMMAND, true);
  }

  set command(v: number) {
    this.view.setUint16(PCI_COMMAND, v, true);
  }

  /**
   * Appends a capability of `lengthBytes` (ID and next pointer included) to the list and returns
   * its offset. The caller fills the body and marks its writable bits.
   */
  addCapability(capId: number, lengthBytes: number): number {
    const off = this.nextCap;
    const end = off + ((lengthBytes + 3) & ~3);
    if (end > PCI_CONFIG_SPACE_BYTES) throw new RangeError('PCI capability list is full');
    this.bytes[off] = capId;
    this.bytes[off + 1] = 0;
    if (this.lastCap === 0) this.bytes[PCI_CAPABILITY_LIST] = off;
    else this.bytes[this.lastCap + 1] = off;
    this.lastCap = off;
    this.nextCap = end;
    this.view.setUint16(PCI_STATUS, this.view.getUint16(PCI_STATUS, true) | PCI_STATUS_CAP_LIST, true);
    return off;
  }

  u8(offset: number): number { return this.view.getUint8(offset); }
  u16(offset: number): number { return this.view.getUint16(offset, true); }
  u32(offset: number): number { return this.view.getUint32(offset, true); }
  setU8(offset: number, v: number): void { this.view.setUint8(offset, v); }
  setU16(offset: number, v: number): void { this.view.setUint16(offset, v, true); }
  setU32(offset: number, v: number): void { this.view.setUint32(offset, v >>> 0, true); }

  /** A guest read; `offset` is any register offset (extended space reads as zero). */
  read(offset: number, size: AccessSize): number {
    if (offset < 0 || offset + size > PCI_CONFIG_SPACE_BYTES) return 0;
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | this.bytes[offset + i]!;
    return v >>> 0;
  }

  /** A guest write: only the bits of the write mask change. */
  write(offset: number, size: AccessSize, value: number): void {
    if (offset < 0 || offset + size > PCI_CONFIG_SPACE_BYTES) return;
    for (let i = 0; i < size; i++) {
      const m = this.writeMask[offset + i]!;
      if (m === 0) continue;
      const b = (value >>> (8 * i)) & 0xff;
      this.bytes[offset + i] = (this.bytes[offset + i]! & ~m) | (b & m);
    }
  }
}
