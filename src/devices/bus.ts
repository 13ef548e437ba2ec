// The machine's two device address spaces: port I/O (64 Ki ports) and MMIO (the non-RAM part of
// the guest physical space). Devices register a range and then see offsets from its base, never
// absolute addresses (shared/STYLE.md habit 6); overlapping ranges are refused at registration,
// so a wiring mistake fails when the machine is built rather than as a silent misroute later.
//
// Unclaimed accesses behave like a floating ISA/PCI bus: reads return all ones, writes vanish.
// Linux relies on this when it probes for absent hardware (e.g. the 8250 probe's LSR == 0xff test).

import { TshvError } from '../common/errors.js';
import type { MmioDevice, PioDevice } from './device.js';

export type AccessSize = 1 | 2 | 4;

/** Number of ports in the x86 I/O address space (SDM Vol. 1 §19.2: 64 KiB of 8-bit ports). */
export const PIO_PORT_COUNT = 0x1_0000;

/** All-ones value an unclaimed read of `size` bytes returns. */
export function allOnes(size: AccessSize): number {
  return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffff_ffff;
}

/** A claimed range, as listed by `ranges()` (for `info` commands and error messages). */
export interface BusRange {
  readonly base: number;
  readonly length: number;
  readonly name: string;
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}

interface PioSlot {
  base: number;
  length: number;
  name: string;
  device: PioDevice;
}

/**
 * Port I/O dispatch. Every `in`/`out` the guest executes comes through here (serial output is
 * one OUT per byte), so the lookup is a direct table: port → slot index, no search.
 */
export class PioBus {
  /** port → index into `slots`, or -1 when unclaimed. */
  private readonly slotOfPort = new Int32Array(PIO_PORT_COUNT).fill(-1);
  private readonly slots: (PioSlot | undefined)[] = [];

  /** Claims ports [base, base + length) for `device`; it will see offsets 0..length-1. */
  register(base: number, length: number, device: PioDevice, name: string): void {
    if (!Number.isInteger(base) || !Number.isInteger(length) || length <= 0 || base < 0 || base + length > PIO_PORT_COUNT) {
      throw new TshvError(`Cannot register I/O ports for "${name}": range ${hex(base)}+${length} is outside 0x0-0xffff`);
    }
    for (let port = base; port < base + length; port++) {
      const other = this.slotOfPort[port] ?? -1;
      if (other >= 0) {
        const o = this.slots[other];
        throw new TshvError(
          `Cannot register I/O ports ${hex(base)}-${hex(base + length - 1)} for "${name}": port ${hex(port)} ` +
            `already belongs to "${o?.name ?? '?'}" (${hex(o?.base ?? 0)}-${hex((o?.base ?? 0) + (o?.length ?? 1) - 1)})`,
        );
      }
    }
    let index = this.slots.indexOf(undefined);
    if (index < 0) index = this.slots.length;
    this.slots[index] = { base, length, name, device };
    this.slotOfPort.fill(index, base, base + length);
  }

  /** Releases the range registered at `base` (PCI I/O BARs move). Returns false if none starts there. */
  unregister(base: number): boolean {
    const index = this.slotOfPort[base] ?? -1;
    const slot = index >= 0 ? this.slots[index] : undefined;
    if (slot === undefined || slot.base !== base) return false;
    this.slotOfPort.fill(-1, slot.base, slot.base + slot.length);
    this.slots[index] = undefined;
    return true;
  }

  /**
   * An access goes to the device that owns its first port; accesses straddling two devices do
   * not happen on the devices we model (all registers are naturally aligned within one device).
   */
  pioRead(port: number, size: AccessSize): number {
    const index = this.slotOfPort[port & 0xffff] ?? -1;
    if (index < 0) return allOnes(size);
    const slot = this.slots[index] as PioSlot;
    return slot.device.pioRead(port - slot.base, size);
  }

  pioWrite(port: number, size: AccessSize, value: number): void {
    const index = this.slotOfPort[port & 0xffff] ?? -1;
    if (index < 0) return;
    const slot = this.slots[index] as PioSlot;
    slot.device.pioWrite(port - slot.base, size, value);
  }

  /** Claimed ranges sorted by base. */
  ranges(): BusRange[] {
    return sortedRanges(this.slots);
  }
}

interface MmioSlot {
  base: number;
  length: number;
  name: string;
  device: MmioDevice;
}

/**
 * MMIO dispatch for the non-RAM physical space. Few ranges (LAPIC, IOAPIC, ECAM, BARs), so the
 * table is a sorted array searched by bisection, fronted by a one-entry cache: consecutive
 * accesses nearly always hit the same device (a driver polling one register block).
 */
export class MmioBus {
  private slots: MmioSlot[] = [];
  private last: MmioSlot | undefined;

  /** Claims physical addresses [base, base + length) for `device`; it sees offsets from `base`. */
  register(base: number, length: number, device: MmioDevice, name: string): void {
    if (!Number.isSafeInteger(base) || !Number.isSafeInteger(length) || base < 0 || length <= 0 || !Number.isSafeInteger(base + length)) {
      throw new TshvError(`Cannot register MMIO range for "${name}": ${hex(base)}+${hex(length)} is not a valid range`);
    }
    const end = base + length;
    for (const o of this.slots) {
      if (base < o.base + o.length && o.base < end) {
        throw new TshvError(
          `Cannot register MMIO range ${hex(base)}-${hex(end - 1)} for "${name}": it overlaps "${o.name}" ` +
            `(${hex(o.base)}-${hex(o.base + o.length - 1)})`,
        );
      }
    }
    this.slots.push({ base, length, name, device });
    this.slots.sort((a, b) => a.base - b.base);
    this.last = undefined;
  }

  /** Releases the range registered at `base` (PCI memory BARs move). Returns false if none starts there. */
  unregister(base: number): boolean {
    const index = this.slots.findIndex((s) => s.base === base);
    if (index < 0) return false;
    this.slots.splice(index, 1);
    this.last = undefined;
    return true;
  }

  private find(pa: number): MmioSlot | undefined {
    const last = this.last;
    if (last !== undefined && pa >= last.base && pa - last.base < last.length) return last;
    const slots = this.slots;
    let lo = 0;
    let hi = slots.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = slots[mid] as MmioSlot;
      if (pa < s.base) hi = mid - 1;
      else if (pa - s.base >= s.length) lo = mid + 1;
      else {
        this.last = s;
        return s;
      }
    }
    return undefined;
  }

  mmioRead(pa: number, size: AccessSize): number {
    const slot = this.find(pa);
    if (slot === undefined) return allOnes(size);
    return slot.device.mmioRead(pa - slot.base, size);
  }

  mmioWrite(pa: number, size: AccessSize, value: number): void {
    const slot = this.find(pa);
    if (slot === undefined) return;
    slot.device.mmioWrite(pa - slot.base, size, value);
  }

  /** Whether some device claims `pa` (the CPU bus uses this to tell MMIO from unbacked holes). */
  isClaimed(pa: number): boolean {
    return this.find(pa) !== undefined;
  }

  /** Claimed ranges sorted by base. */
  ranges(): BusRange[] {
    return sortedRanges(this.slots);
  }
}

function sortedRanges(slots: readonly ({ base: number; length: number; name: string } | undefined)[]): BusRange[] {
  const out: BusRange[] = [];
  for (const s of slots) if (s !== undefined) out.push({ base: s.base, length: s.length, name: s.name });
  return out.sort((a, b) => a.base - b.base);
}
