// A minimal vmlinux-like ELF for tests: PT_LOAD segments and an optional PT_NOTE with the Xen
// PVH entry (XEN_ELFNOTE_PHYS32_ENTRY).

import { XEN_ELFNOTE_PHYS32_ENTRY } from '../elf.js';

export const KERNEL_VBASE = 0xffff_ffff_8100_0000n;

export interface FakeSegment { paddr: number; vaddr: bigint; data: Uint8Array; memsz: number }

/** A minimal vmlinux-like ELF: PT_LOAD segments and a PT_NOTE with the Xen PVH entry. */
export function fakeVmlinux(entry: bigint, segs: FakeSegment[], pvhEntry?: number): Uint8Array {
  const phnum = segs.length + (pvhEntry === undefined ? 0 : 1);
  const note = new Uint8Array(12 + 4 + 8);
  const nv = new DataView(note.buffer);
  nv.setUint32(0, 4, true);
  nv.setUint32(4, 8, true);
  nv.setUint32(8, XEN_ELFNOTE_PHYS32_ENTRY, true);
  note.set([0x58, 0x65, 0x6e, 0], 12); // "Xen\0"
  nv.setBigUint64(16, BigInt(pvhEntry ?? 0), true);
  let off = 64 + phnum * 56;
  const parts: { off: number; data: Uint8Array }[] = [];
  const total = off + segs.reduce((n, s) => n + s.data.byteLength, 0) + note.byteLength;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 62, true); // EM_X86_64
  v.setUint32(20, 1, true);
  v.setBigUint64(24, entry, true);
  v.setBigUint64(32, 64n, true);
  v.setUint16(52, 64, true);
  v.setUint16(54, 56, true);
  v.setUint16(56, phnum, true);
  segs.forEach((s, i) => {
    const ph = 64 + i * 56;
    v.setUint32(ph, 1, true);
    v.setBigUint64(ph + 8, BigInt(off), true);
    v.setBigUint64(ph + 16, s.vaddr, true);
    v.setBigUint64(ph + 24, BigInt(s.paddr), true);
    v.setBigUint64(ph + 32, BigInt(s.data.byteLength), true);
    v.setBigUint64(ph + 40, BigInt(s.memsz), true);
    parts.push({ off, data: s.data });
    off += s.data.byteLength;
  });
  if (pvhEntry !== undefined) {
    const ph = 64 + segs.length * 56;
    v.setUint32(ph, 4, true);
    v.setBigUint64(ph + 8, BigInt(off), true);
    v.setBigUint64(ph + 32, BigInt(note.byteLength), true);
    parts.push({ off, data: note });
  }
  for (const p of parts) out.set(p.data, p.off);
  return out;
}

