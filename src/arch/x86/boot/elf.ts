// An uncompressed ELF vmlinux (System V gABI ELF-64; x86-64 psABI). Loading its PT_LOAD segments at
// their physical addresses and entering at e_entry (startup_64) with the 64-bit boot protocol skips
// the bzImage decompressor, which is slow under emulation. The PVH entry note
// (XEN_ELFNOTE_PHYS32_ENTRY, xen/include/public/elfnote.h) is decoded for information only.

import { TshvError } from '../../../common/errors.js';

const ELF_MAGIC = 0x464c457f; // "\x7fELF" read little-endian
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ET_EXEC = 2;
const EM_X86_64 = 62;
const PT_LOAD = 1;
const PT_NOTE = 4;
const ELF64_EHDR_BYTES = 64;
const ELF64_PHDR_BYTES = 56;
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

export interface ElfSegment {
  /** Physical load address (p_paddr). */
  paddr: number;
  /** The file bytes (p_filesz of them); the rest up to memSizeBytes is zero (bss). */
  data: Uint8Array;
  memSizeBytes: number;
}

export interface ElfKernel {
  /** Physical address of the 64-bit entry (startup_64). */
  entry: number;
  segments: ElfSegment[];
  /** The 32-bit PVH entry, when the kernel has the note (CONFIG_PVH). */
  pvhEntry?: number;
}

/** True when the file starts with the ELF magic. */
export function isElf(image: Uint8Array): boolean {
  return image.byteLength >= 4 && new DataView(image.buffer, image.byteOffset).getUint32(0, true) === ELF_MAGIC;
}

/** 64-bit fields as numbers: physical addresses and sizes of a kernel are far below 2^53. */
function u64(v: DataView, off: number): number {
  return Number(v.getBigUint64(off, true));
}

export function parseElfKernel(image: Uint8Array, name = 'kernel'): ElfKernel {
  const fail = (why: string): never => { throw new TshvError(`Cannot boot "${name}": ${why}`); };
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (!isElf(image) || image.byteLength < ELF64_EHDR_BYTES) fail('not an ELF file');
  if (image[4] !== ELFCLASS64 || image[5] !== ELFDATA2LSB) fail('not a 64-bit little-endian ELF kernel');
  if (v.getUint16(16, true) !== ET_EXEC || v.getUint16(18, true) !== EM_X86_64) fail('not an x86-64 executable ELF kernel');
  const entryRaw = v.getBigUint64(24, true);
  const phoff = u64(v, 32);
  const phentsize = v.getUint16(54, true);
  const phnum = v.getUint16(56, true);
  if (phentsize < ELF64_PHDR_BYTES || phoff + phnum * phentsize > image.byteLength) fail('ELF program headers are truncated');

  const segments: ElfSegment[] = [];
  const vaddrs: bigint[] = [];
  let pvhEntry: number | undefined;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    const type = v.getUint32(ph, true);
    const offset = u64(v, ph + 8);
    const vaddr = v.getBigUint64(ph + 16, true);
    const paddr = u64(v, ph + 24);
    const filesz = u64(v, ph + 32);
    const memsz = u64(v, ph + 40);
    if (offset + filesz > image.byteLength) fail(`ELF segment ${i} is truncated`);
    if (type === PT_LOAD) {
      segments.push({ paddr, data: image.subarray(offset, offset + filesz), memSizeBytes: memsz });
      vaddrs.push(vaddr);
    } else if (type === PT_NOTE) {
      pvhEntry ??= findPvhEntry(v, offset, filesz);
    }
  }
  if (segments.length === 0) fail('ELF kernel has no loadable segment');
  // e_entry is physical in vmlinux (ENTRY(phys_startup_64)); accept a virtual one too.
  let entry = segments.find((s) => entryRaw >= BigInt(s.paddr) && entryRaw < BigInt(s.paddr + s.memSizeBytes))
    ? Number(entryRaw) : undefined;
  segments.forEach((s, i) => {
    const delta = entryRaw - vaddrs[i]!;
    if (entry === undefined && delta >= 0n && delta < BigInt(s.memSizeBytes)) entry = s.paddr + Number(delta);
  });
  if (entry === undefined) fail(`ELF entry point 0x${entryRaw.toString(16)} is in no loadable segment`);
  const out: ElfKernel = { entry: entry!, segments };
  if (pvhEntry !== undefined) out.pvhEntry = pvhEntry;
  return out;
}

/** Walks ELF notes (namesz, descsz, type, name, desc; 4-byte padded) for Xen's PHYS32_ENTRY. */
function findPvhEntry(v: DataView, start: number, size: number): number | undefined {
  const pad4 = (n: number): number => (n + 3) & ~3;
  let off = start;
  while (off + 12 <= start + size) {
    const namesz = v.getUint32(off, true);
    const descsz = v.getUint32(off + 4, true);
    const type = v.getUint32(off + 8, true);
    const nameOff = off + 12;
    const descOff = nameOff + pad4(namesz);
    if (descOff + descsz > start + size) return undefined;
    const isXen = namesz === 4 && v.getUint32(nameOff, true) === 0x006e6558; // "Xen\0"
    if (isXen && type === XEN_ELFNOTE_PHYS32_ENTRY) {
      if (descsz === 4) return v.getUint32(descOff, true);
      if (descsz === 8) return Number(v.getBigUint64(descOff, true));
    }
    off = descOff + pad4(descsz);
  }
  return undefined;
}
