// MSI-X (PCI Local Bus 3.0 §6.8.2): a capability in configuration space, a vector table and a
// pending-bit array in a BAR. A vector fires when MSI-X is enabled, the function is not masked
// and the vector's own mask bit is clear; otherwise its pending bit is set, and the message is
// sent when the mask is lifted (§6.8.2.9). Messages go to an MsiSink (the soft engine's APIC bus,
// or a KVM MSI route later).

import type { AccessSize } from '../bus.js';
import type { PciConfigSpace } from './config-space.js';
import type { MsiSink } from './pci-device.js';

export const PCI_CAP_ID_MSIX = 0x11;
/** Message control (§6.8.2.3). */
export const PCI_MSIX_FLAGS_ENABLE = 1 << 15;
export const PCI_MSIX_FLAGS_MASKALL = 1 << 14;
export const PCI_MSIX_ENTRY_BYTES = 16;
/** Vector control bit 0 (§6.8.2.9). */
export const PCI_MSIX_ENTRY_CTRL_MASKBIT = 1;
const MSIX_CAP_BYTES = 12;

export interface MsixState {
  version: 1;
  /** Four dwords per vector: address low, address high, data, vector control. */
  table: number[];
  pending: number[];
}

export class Msix {
  readonly capOffset: number;
  readonly vectorCount: number;
  private readonly table: Uint32Array;
  private readonly pending: Uint32Array;

  constructor(
    private readonly config: PciConfigSpace,
    vectorCount: number,
    readonly bar: number,
    readonly tableOffset: number,
    readonly pbaOffset: number,
    private readonly sink: MsiSink,
  ) {
    if (vectorCount < 1 || vectorCount > 2048) throw new RangeError(`Invalid MSI-X vector count ${vectorCount}`);
    this.vectorCount = vectorCount;
    this.table = new Uint32Array(vectorCount * 4);
    this.pending = new Uint32Array(Math.ceil(vectorCount / 32));
    const cap = config.addCapability(PCI_CAP_ID_MSIX, MSIX_CAP_BYTES);
    this.capOffset = cap;
    config.setU16(cap + 2, vectorCount - 1);
    config.setU32(cap + 4, tableOffset | bar);
    config.setU32(cap + 8, pbaOffset | bar);
    config.setMask(cap + 2, 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
    this.reset();
  }

  get tableBytes(): number {
    return this.vectorCount * PCI_MSIX_ENTRY_BYTES;
  }

  get pbaBytes(): number {
    return this.pending.length * 4;
  }

  /** Reset: every vector masked, nothing pending, MSI-X disabled. */
  reset(): void {
    this.table.fill(0);
    for (let v = 0; v < this.vectorCount; v++) this.table[v * 4 + 3] = PCI_MSIX_ENTRY_CTRL_MASKBIT;
    this.pending.fill(0);
    this.config.setU16(this.capOffset + 2, this.vectorCount - 1);
  }

  private get control(): number {
    return this.config.u16(this.capOffset + 2);
  }

  get enabled(): boolean {
    return (this.control & PCI_MSIX_FLAGS_ENABLE) !== 0;
  }

  private get functionMasked(): boolean {
    return (this.control & PCI_MSIX_FLAGS_MASKALL) !== 0;
  }

  private vectorMasked(v: number): boolean {
    return (this.table[v * 4 + 3]! & PCI_MSIX_ENTRY_CTRL_MASKBIT) !== 0;
  }

  isPending(v: number): boolean {
    return ((this.pending[v >>> 5]! >>> (v & 31)) & 1) !== 0;
  }

  /** Raises vector `v`; returns false when MSI-X is disabled or `v` does not exist. */
  signal(v: number): boolean {
    if (!this.enabled || v < 0 || v >= this.vectorCount) return false;
    if (this.functionMasked || this.vectorMasked(v)) {
      this.pending[v >>> 5]! |= 1 << (v & 31);
      return true;
    }
    this.send(v);
    return true;
  }

  private send(v: number): void {
    const t = this.table;
    // The address high dword must be 0 for the x86 interrupt range; a message elsewhere is a
    // DMA write to memory we do not model, so drop it.
    if (t[v * 4 + 1] !== 0) return;
    this.sink(t[v * 4]!, t[v * 4 + 2]!);
  }

  /** Sends the pending vectors that are no longer masked (§6.8.2.9). */
  private flushPending(): void {
    if (!this.enabled || this.functionMasked) return;
    for (let w = 0; w < this.pending.length; w++) {
      let bits = this.pending[w]!;
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits);
        bits &= ~(1 << b);
        const v = w * 32 + b;
        if (!this.vectorMasked(v)) {
          this.pending[w]! &= ~(1 << b);
          this.send(v);
        }
      }
    }
  }

  /** The owner forwards configuration writes; a write to message control may unmask. */
  configWritten(offset: number, size: AccessSize): void {
    if (offset + size > this.capOffset + 2 && offset < this.capOffset + 4) this.flushPending();
  }

  tableRead(offset: number, size: AccessSize): number {
    if (offset < 0 || offset + size > this.tableBytes) return 0;
    const dw = this.table[offset >>> 2]!;
    const shift = (offset & 3) * 8;
    return size === 4 ? dw : (dw >>> shift) & (size === 1 ? 0xff : 0xffff);
  }

  tableWrite(offset: number, size: AccessSize, value: number): void {
    if (offset < 0 || offset + size > this.tableBytes) return;
    const i = offset >>> 2;
    let dw = value >>> 0;
    if (size !== 4) {
      const shift = (offset & 3) * 8;
      const mask = (size === 1 ? 0xff : 0xffff) << shift;
      dw = ((this.table[i]! & ~mask) | ((value << shift) & mask)) >>> 0;
    }
    const wasMasked = (i & 3) === 3 && this.vectorMasked(i >>> 2);
    this.table[i] = (i & 3) === 3 ? dw & PCI_MSIX_ENTRY_CTRL_MASKBIT : dw;
    if (wasMasked && !this.vectorMasked(i >>> 2)) this.flushPending();
  }

  /** The PBA is read-only (§6.8.2.10). */
  pbaRead(offset: number, size: AccessSize): number {
    if (offset < 0 || offset + size > this.pbaBytes) return 0;
    const dw = this.pending[offset >>> 2]!;
    const shift = (offset & 3) * 8;
    return size === 4 ? dw : (dw >>> shift) & (size === 1 ? 0xff : 0xffff);
  }

  save(): MsixState {
    return { version: 1, table: Array.from(this.table), pending: Array.from(this.pending) };
  }

  restore(s: MsixState): void {
    if (s.version !== 1 || s.table.length !== this.table.length || s.pending.length !== this.pending.length) {
      throw new RangeError('Cannot restore MSI-X state: version or vector count differs');
    }
    this.table.set(s.table);
    this.pending.set(s.pending);
  }
}
