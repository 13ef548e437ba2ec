// Test helper: tiny ELF64 objects shaped like kernel modules (only what readModinfo needs).

/** A minimal ELF64 LE relocatable object with a .modinfo and a .shstrtab section. */
export function fakeModule(modinfo: readonly string[]): Buffer {
  const info = Buffer.from(modinfo.map((s) => `${s}\0`).join(''), 'latin1');
  const shstrtab = Buffer.from('\0.modinfo\0.shstrtab\0', 'latin1');
  const infoOff = 0x40;
  const strOff = infoOff + info.length;
  const shoff = (strOff + shstrtab.length + 7) & ~7;
  const elf = Buffer.alloc(shoff + 3 * 0x40);
  elf.writeUInt32BE(0x7f454c46, 0);
  elf[4] = 2; // ELFCLASS64
  elf[5] = 1; // ELFDATA2LSB
  elf[6] = 1; // EV_CURRENT
  elf.writeUInt16LE(1, 0x10); // ET_REL
  elf.writeUInt16LE(0x3e, 0x12); // EM_X86_64
  elf.writeBigUInt64LE(BigInt(shoff), 0x28);
  elf.writeUInt16LE(0x40, 0x34);
  elf.writeUInt16LE(0x40, 0x3a);
  elf.writeUInt16LE(3, 0x3c);
  elf.writeUInt16LE(2, 0x3e);
  info.copy(elf, infoOff);
  shstrtab.copy(elf, strOff);
  const section = (i: number, name: number, type: number, off: number, size: number): void => {
    const base = shoff + i * 0x40;
    elf.writeUInt32LE(name, base);
    elf.writeUInt32LE(type, base + 4);
    elf.writeBigUInt64LE(BigInt(off), base + 0x18);
    elf.writeBigUInt64LE(BigInt(size), base + 0x20);
  };
  section(1, 1, 1 /* SHT_PROGBITS */, infoOff, info.length);
  section(2, 10, 3 /* SHT_STRTAB */, strOff, shstrtab.length);
  return elf;
}
