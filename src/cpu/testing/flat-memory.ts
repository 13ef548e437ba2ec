// A paging-free LinearMemory over one RAM array (linear = physical), for the snippet runner and
// unit tests: addresses outside the array raise #PF like an unmapped page would.

import { CpuFault, PfErr, Vector } from '../fault.js';
import type { CpuState } from '../state.js';
import type { LinearMemory, TlbArrays } from '../linear-memory.js';
import { TLB_SIZE, type TlbStorage } from '../mmu.js';

export class FlatMemory implements LinearMemory {
  hi = 0;
  onCodeWrite: (pagePa: number) => void = () => {};
  private readonly ram: Uint8Array;
  private readonly state: CpuState;
  private pages: Uint8Array;
  /** The wasm tier's TLB, filled once for every page (bit 0 of a tag: no wasm store, as mmu.ts fill). */
  private readonly wasmTlb: Int32Array | null;

  get codePages(): Uint8Array { return this.pages; }

  /** A code-page map shared with other vCPUs or the wasm tier: the wasm TLB's store bits follow it. */
  set codePages(v: Uint8Array) {
    this.pages = v;
    for (let p = 0; p < TLB_SIZE; p++) this.markCode(p, (v[p] ?? 0) !== 0);
  }

  /** As Mmu.codePageChanged: every page is writable here. */
  codePageChanged(pn: number, code: boolean): void {
    if (pn >= 0) { this.markCode(pn, code); return; }
    for (let p = 0; p < TLB_SIZE; p++) this.markCode(p, false);
  }

  /** Bit 0 of page p's wasm tags (both privilege halves; the TLB holds page p in slot p). */
  private markCode(p: number, code: boolean): void {
    const wt = this.wasmTlb;
    if (wt === null || p >= TLB_SIZE) return;
    for (const s of [p, p + TLB_SIZE]) if (wt[4 * s] !== -1) wt[4 * s] = code ? wt[4 * s]! | 1 : wt[4 * s]! & ~1;
  }

  /** `storage`: the TLB arrays to fill (the WebAssembly tier's slab), else new ones. */
  constructor(ram: Uint8Array, state: CpuState, storage?: TlbStorage) {
    this.ram = ram;
    this.state = state;
    this.pages = new Uint8Array(Math.ceil(ram.length / 4096));
    // The JIT's hit path (LinearMemory.tlb): every whole page of RAM within the TLB's reach,
    // for both privilege halves, linear = physical.
    const tagR = (storage?.tagR ?? new Float64Array(2 * TLB_SIZE)).fill(-1);
    const tagW = storage?.tagW.fill(-1) ?? tagR;
    const ppn = storage?.ppn ?? new Int32Array(2 * TLB_SIZE);
    const addend = (storage?.addend ?? new Float64Array(2 * TLB_SIZE)).fill(0);
    const wt = storage?.wasmTlb?.fill(-1);
    this.wasmTlb = wt ?? null;
    for (let p = 0; p < TLB_SIZE && (p + 1) * 4096 <= ram.length; p++) {
      tagR[p] = tagR[p + TLB_SIZE] = p * 4096;
      tagW[p] = tagW[p + TLB_SIZE] = p * 4096;
      ppn[p] = ppn[p + TLB_SIZE] = p;
      if (wt !== undefined) for (const s of [p, p + TLB_SIZE]) { wt[4 * s] = p * 4096; wt[4 * s + 1] = 0; wt[4 * s + 2] = 0; wt[4 * s + 3] = p; }
    }
    this.tlb = { tagR, tagW, addend, ppn, view: new DataView(ram.buffer, ram.byteOffset, ram.byteLength) };
  }

  readonly tlb: TlbArrays;

  private check(lin: number, size: number, err: number): number {
    if (lin < 0 || lin + size > this.ram.length) {
      this.state.cr2 = lin < 0 || lin + size > this.ram.length ? (lin < 0 || lin >= this.ram.length ? lin : this.ram.length) : lin;
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- CpuFault is not an Error (fault.ts)
      throw new CpuFault(Vector.PF, err | (this.state.cpl === 3 ? PfErr.U : 0));
    }
    return lin;
  }

  private wrote(lin: number, size: number): void {
    const a = Math.floor(lin / 4096); const b = Math.floor((lin + size - 1) / 4096);
    if (this.codePages[a] !== 0) this.onCodeWrite(a * 4096);
    if (b !== a && this.codePages[b] !== 0) this.onCodeWrite(b * 4096);
  }

  read8(lin: number): number { return this.ram[this.check(lin, 1, 0)]!; }
  read16(lin: number): number { const a = this.check(lin, 2, 0); const r = this.ram; return r[a]! | (r[a + 1]! << 8); }
  read32(lin: number): number {
    const a = this.check(lin, 4, 0); const r = this.ram;
    return (r[a]! | (r[a + 1]! << 8) | (r[a + 2]! << 16) | (r[a + 3]! << 24)) >>> 0;
  }
  read64(lin: number): number {
    this.check(lin, 8, 0);
    const lo = this.read32(lin); this.hi = this.read32(lin + 4); return lo;
  }
  write8(lin: number, v: number): void { const a = this.check(lin, 1, PfErr.W); this.ram[a] = v; this.wrote(a, 1); }
  write16(lin: number, v: number): void {
    const a = this.check(lin, 2, PfErr.W); const r = this.ram; r[a] = v; r[a + 1] = v >>> 8; this.wrote(a, 2);
  }
  write32(lin: number, v: number): void {
    const a = this.check(lin, 4, PfErr.W); const r = this.ram;
    r[a] = v; r[a + 1] = v >>> 8; r[a + 2] = v >>> 16; r[a + 3] = v >>> 24; this.wrote(a, 4);
  }
  write64(lin: number, lo: number, hi: number): void {
    this.check(lin, 8, PfErr.W);
    this.write32(lin, lo); this.write32(lin + 4, hi);
  }
  readSystem32(lin: number): number { return this.read32(lin); }
  readSystem64(lin: number): number { return this.read64(lin); }
  writeSystem32(lin: number, v: number): void { this.write32(lin, v); }
  translateCode(lin: number): number { return this.check(lin, 1, PfErr.I); }
  translateData(lin: number, write: boolean): number { return this.check(lin, 1, write ? PfErr.W : 0); }
  flushTlb(): void {}
  invlpg(): void {}
}
