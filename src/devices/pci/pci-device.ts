// What the PCI bus needs of a function: its configuration space and the handlers for accesses
// that fall inside its BARs (offsets relative to the BAR, shared/STYLE.md habit 6). The bus does
// address decoding, BAR allocation and re-mapping; the function knows nothing of where it sits.

import type { AccessSize } from '../bus.js';
import type { PciConfigSpace } from './config-space.js';

export interface PciDevice {
  readonly name: string;
  readonly config: PciConfigSpace;
  barRead(bar: number, offset: number, size: AccessSize): number;
  barWrite(bar: number, offset: number, size: AccessSize, value: number): void;
  /** Called after a guest configuration write was applied (capability side effects, e.g. MSI-X enable). */
  configWritten?(offset: number, size: AccessSize): void;
  /**
   * Registers whose reads have side effects or are computed (virtio's PCI configuration access
   * window): a number replaces the stored bytes, undefined means "read the configuration space".
   */
  configRead?(offset: number, size: AccessSize): number | undefined;
}

/** Where the platform sends MSI/MSI-X messages: a DWORD write of `data` to `address` (PCI 3.0 §6.8). */
export type MsiSink = (address: number, data: number) => void;
