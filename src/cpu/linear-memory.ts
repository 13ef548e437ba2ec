// What the CPU core needs from the MMU (helper B's Mmu in mmu.ts implements it; the snippet
// runner uses a flat, paging-free implementation). Linear addresses use the canonical number
// form of state.ts; 64-bit values are (lo, hi) with the high half of reads in `hi`.

export interface LinearMemory {
  /** High 32 bits of the last read64/readSystem64. */
  hi: number;
  read8(lin: number): number;
  read16(lin: number): number;
  read32(lin: number): number;
  read64(lin: number): number;
  write8(lin: number, value: number): void;
  write16(lin: number, value: number): void;
  write32(lin: number, value: number): void;
  write64(lin: number, lo: number, hi: number): void;
  /** Supervisor accesses regardless of CPL (descriptor tables, IDT, TSS). */
  readSystem32(lin: number): number;
  readSystem64(lin: number): number;
  writeSystem32(lin: number, value: number): void;
  /**
   * Translates a linear code address for instruction fetch (execute permission, CPL), returning
   * the physical address; throws CpuFault (#PF with the I bit) like a fetch would.
   */
  translateCode(lin: number): number;
  /**
   * Optional fast path for REP MOVS/STOS: translates a data address with the checks and A/D
   * updates of a read (write = false) or write access, returning the physical address; throws
   * CpuFault like the access would. Without it string instructions go element by element.
   */
  translateData?(lin: number, write: boolean): number;
  /**
   * Optional: true when the cached code translation of `lin` comes from a global page (PTE.G
   * with CR4.PGE), which a CR3 write keeps (SDM Vol. 3A §4.10.2.4); false when unknown.
   */
  codeIsGlobal?(lin: number): boolean;
  flushTlb(all: boolean): void;
  invlpg(lin: number): void;
  /**
   * Self-modifying code detection: one byte per 4 KiB physical page of RAM (index pa >>> 12),
   * non-zero when the block cache holds code decoded from that page. The write path calls
   * onCodeWrite(page physical address) when it writes to a flagged page.
   */
  codePages: Uint8Array;
  onCodeWrite: (pagePa: number) => void;
}
