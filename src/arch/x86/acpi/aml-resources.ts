// Resource data descriptors for _CRS (ACPI 6.x §6.4 "Resource Data Types for ACPI"), and
// ResourceTemplate(), which wraps them in a Buffer ending with an End Tag.

import { buffer, concat } from './aml.js';

// Small resource items: tag byte = (item name << 3) | length (§6.4.2).
const SMALL_IRQ_NO_FLAGS = 0x22; // IRQ, 2 bytes
const SMALL_IRQ = 0x23; // IRQ with information byte, 3 bytes
const SMALL_IO = 0x47; // I/O port, 7 bytes
const SMALL_END_TAG = 0x79; // End Tag, 1 byte (checksum)
// Large resource items: tag byte 0x80 | item name, then a 16-bit length (§6.4.3).
const LARGE_MEMORY32_FIXED = 0x86;
const LARGE_DWORD_ADDRESS = 0x87;
const LARGE_WORD_ADDRESS = 0x88;
const LARGE_QWORD_ADDRESS = 0x8a;

/** IO(Decode16, min, max, alignment, length) (§6.4.2.5). */
export function io(min: number, max: number, alignment: number, length: number): Uint8Array {
  const decode16 = 1;
  return Uint8Array.from([SMALL_IO, decode16, min & 0xff, min >> 8, max & 0xff, max >> 8, alignment, length]);
}

/** IRQNoFlags(){irqs}: edge-triggered, active-high, exclusive ISA interrupts (§6.4.2.1). */
export function irqNoFlags(irqs: readonly number[]): Uint8Array {
  const mask = irqMask(irqs);
  return Uint8Array.from([SMALL_IRQ_NO_FLAGS, mask & 0xff, mask >> 8]);
}

export interface IrqFlags {
  edge: boolean;
  activeLow: boolean;
  shared: boolean;
}

/** IRQ(Edge|Level, ActiveHigh|ActiveLow, Exclusive|Shared){irqs} (§6.4.2.1, information byte). */
export function irq(irqs: readonly number[], flags: IrqFlags): Uint8Array {
  const mask = irqMask(irqs);
  const info = (flags.edge ? 1 : 0) | (flags.activeLow ? 1 << 3 : 0) | (flags.shared ? 1 << 4 : 0);
  return Uint8Array.from([SMALL_IRQ, mask & 0xff, mask >> 8, info]);
}

function irqMask(irqs: readonly number[]): number {
  let mask = 0;
  for (const n of irqs) {
    if (!Number.isInteger(n) || n < 0 || n > 15) throw new RangeError(`ISA IRQ ${n} is not in 0..15`);
    mask |= 1 << n;
  }
  return mask;
}

/** Memory32Fixed(ReadWrite|ReadOnly, base, length) (§6.4.3.4). */
export function memory32Fixed(base: number, length: number, readWrite = true): Uint8Array {
  const out = new Uint8Array(12);
  const v = new DataView(out.buffer);
  out[0] = LARGE_MEMORY32_FIXED;
  v.setUint16(1, 9, true);
  out[3] = readWrite ? 1 : 0;
  v.setUint32(4, base, true);
  v.setUint32(8, length, true);
  return out;
}

/** Address space descriptors' resource type (§6.4.3.5, Table 6.48). */
export const enum AddressSpaceType { Memory = 0, Io = 1, BusNumber = 2 }

export interface AddressSpace {
  type: AddressSpaceType;
  /** ResourceProducer (a bridge decoding the window for its children) rather than consumer. */
  producer: boolean;
  min: number | bigint;
  max: number | bigint;
  translation?: number | bigint;
  granularity?: number | bigint;
  /**
   * Type-specific flags (§6.4.3.5.4). Memory: bit 0 read-write, bits 1..2 cacheability
   * (0 non-cacheable, 1 cacheable, 2 write-combining, 3 prefetchable). I/O: bits 0..1 = 3 for
   * "entire range". Defaults: read-write non-cacheable memory, entire-range I/O, 0 for buses.
   */
  typeFlags?: number;
}

/** General flags: producer/consumer bit 0, positive decode, min and max fixed (§6.4.3.5, Table 6.48). */
function generalFlags(a: AddressSpace): number {
  const consumer = a.producer ? 0 : 1;
  const minFixed = 1 << 2;
  const maxFixed = 1 << 3;
  return consumer | minFixed | maxFixed;
}

function defaultTypeFlags(t: AddressSpaceType): number {
  if (t === AddressSpaceType.Memory) return 1;
  if (t === AddressSpaceType.Io) return 3;
  return 0;
}

function addressSpace(tag: number, fieldBytes: 2 | 4 | 8, a: AddressSpace): Uint8Array {
  const bodyBytes = 3 + 5 * fieldBytes;
  const out = new Uint8Array(3 + bodyBytes);
  const v = new DataView(out.buffer);
  out[0] = tag;
  v.setUint16(1, bodyBytes, true);
  out[3] = a.type;
  out[4] = generalFlags(a);
  out[5] = a.typeFlags ?? defaultTypeFlags(a.type);
  const min = BigInt(a.min);
  const max = BigInt(a.max);
  if (max < min) throw new RangeError(`Address space descriptor with max ${max} below min ${min}`);
  const fields = [BigInt(a.granularity ?? 0), min, max, BigInt(a.translation ?? 0), max - min + 1n];
  fields.forEach((f, i) => {
    const off = 6 + i * fieldBytes;
    if (fieldBytes === 2) v.setUint16(off, Number(BigInt.asUintN(16, f)), true);
    else if (fieldBytes === 4) v.setUint32(off, Number(BigInt.asUintN(32, f)), true);
    else v.setBigUint64(off, BigInt.asUintN(64, f), true);
  });
  return out;
}

/** WordIO / WordBusNumber style descriptor (§6.4.3.5.3). */
export function wordAddressSpace(a: AddressSpace): Uint8Array {
  return addressSpace(LARGE_WORD_ADDRESS, 2, a);
}
/** DWordMemory / DWordIO style descriptor (§6.4.3.5.2). */
export function dwordAddressSpace(a: AddressSpace): Uint8Array {
  return addressSpace(LARGE_DWORD_ADDRESS, 4, a);
}
/** QWordMemory style descriptor (§6.4.3.5.1). */
export function qwordAddressSpace(a: AddressSpace): Uint8Array {
  return addressSpace(LARGE_QWORD_ADDRESS, 8, a);
}

/**
 * ResourceTemplate(){descriptors}: a Buffer holding the descriptors and an End Tag whose checksum
 * makes the bytes of the whole template sum to zero (§6.4.2.9).
 */
export function resourceTemplate(descriptors: readonly Uint8Array[]): Uint8Array {
  const body = concat([...descriptors, Uint8Array.from([SMALL_END_TAG, 0])]);
  let sum = 0;
  for (const b of body) sum = (sum + b) & 0xff;
  body[body.byteLength - 1] = (0x100 - sum) & 0xff;
  return buffer(body);
}
