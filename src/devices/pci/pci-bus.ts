// PCI bus 0 of segment 0: 32 device slots, function 0 each. It routes configuration accesses to
// the function, allocates memory BARs in the 32-bit window, and keeps the MMIO bus in step with
// the guest: a BAR is mapped while memory decode is on and its address lies inside the window,
// and is re-mapped when the guest moves it (Linux sizes BARs with decode off, and may reassign).

import { TshvError } from '../../common/errors.js';
import type { AccessSize, MmioBus } from '../bus.js';
import type { MmioDevice } from '../device.js';
import { PCI_BAR_COUNT, PCI_BASE_ADDRESS_0, PCI_COMMAND, PCI_COMMAND_MEMORY } from './config-space.js';
import type { PciDevice } from './pci-device.js';

export const PCI_SLOT_COUNT = 32;

export interface PciBusOptions {
  mmio: MmioBus;
  /** Window for memory BARs: [mmioStart, mmioEnd). */
  mmioStart: number;
  mmioEnd: number;
}

interface Slot {
  device: PciDevice;
  /** Address each BAR is mapped at on the MMIO bus, or -1. */
  mapped: number[];
  handlers: MmioDevice[];
}

/** Told when a BAR is mapped at `address` or unmapped (`address` -1): KVM re-registers ioeventfds there. */
export type BarListener = (slot: number, bar: number, address: number) => void;

export interface PciBusState {
  version: 1;
  /** Per occupied slot: the configuration space bytes (base64). */
  slots: { slot: number; config: string }[];
  nextBarAddress: number;
}

export class PciBus {
  private readonly slots: (Slot | undefined)[] = new Array<Slot | undefined>(PCI_SLOT_COUNT).fill(undefined);
  private readonly mmio: MmioBus;
  private readonly mmioStart: number;
  private readonly mmioEnd: number;
  private nextBarAddress: number;
  private readonly barListeners: BarListener[] = [];

  constructor(o: PciBusOptions) {
    this.mmio = o.mmio;
    this.mmioStart = o.mmioStart;
    this.mmioEnd = o.mmioEnd;
    this.nextBarAddress = o.mmioStart;
  }

  /**
   * Plugs `device` into `slot` (or the first free one), assigns its BARs in the window (as
   * firmware would), enables memory decode and maps them. Returns the slot number.
   */
  add(device: PciDevice, slot?: number): number {
    const s = slot ?? this.slots.findIndex((x, i) => i > 0 && x === undefined);
    if (s < 0 || s >= PCI_SLOT_COUNT || this.slots[s] !== undefined) {
      throw new TshvError(`Cannot add PCI device "${device.name}": slot ${String(slot ?? 'free')} is not available`);
    }
    const cfg = device.config;
    for (let i = 0; i < PCI_BAR_COUNT; i++) {
      const size = cfg.barSizeBytes[i]!;
      if (size === 0) continue;
      const addr = Math.ceil(this.nextBarAddress / size) * size;
      if (addr + size > this.mmioEnd) {
        throw new TshvError(`Cannot add PCI device "${device.name}": the PCI MMIO window is full`);
      }
      cfg.setBarAddress(i, addr);
      this.nextBarAddress = addr + size;
    }
    cfg.command = cfg.command | PCI_COMMAND_MEMORY;
    const handlers: MmioDevice[] = [];
    for (let i = 0; i < PCI_BAR_COUNT; i++) {
      const bar = i;
      handlers.push({
        mmioRead: (off, size) => device.barRead(bar, off, size),
        mmioWrite: (off, size, value) => device.barWrite(bar, off, size, value),
      });
    }
    this.slots[s] = { device, mapped: [-1, -1, -1, -1, -1, -1], handlers };
    this.updateMappings(s);
    return s;
  }

  /** Calls `listener` whenever a BAR's mapping changes (the guest moved it, or turned decode off/on). */
  onBarChange(listener: BarListener): void {
    this.barListeners.push(listener);
  }

  device(slot: number): PciDevice | undefined {
    return this.slots[slot]?.device;
  }

  /** Configuration read of bus/device/function/register; absent functions read all ones. */
  configRead(bus: number, dev: number, fn: number, reg: number, size: AccessSize): number {
    const slot = bus === 0 && fn === 0 ? this.slots[dev] : undefined;
    if (slot === undefined) return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffff_ffff;
    const special = slot.device.configRead?.(reg, size);
    return special ?? slot.device.config.read(reg, size);
  }

  configWrite(bus: number, dev: number, fn: number, reg: number, size: AccessSize, value: number): void {
    const slot = bus === 0 && fn === 0 ? this.slots[dev] : undefined;
    if (slot === undefined) return;
    slot.device.config.write(reg, size, value);
    const end = reg + size;
    if ((reg < PCI_COMMAND + 2 && end > PCI_COMMAND) || (reg < PCI_BASE_ADDRESS_0 + 4 * PCI_BAR_COUNT && end > PCI_BASE_ADDRESS_0)) {
      this.updateMappings(dev);
    }
    slot.device.configWritten?.(reg, size);
  }

  /** Brings the MMIO bus in line with the slot's command register and BARs. */
  private updateMappings(dev: number): void {
    const slot = this.slots[dev];
    if (slot === undefined) return;
    const cfg = slot.device.config;
    const decode = (cfg.command & PCI_COMMAND_MEMORY) !== 0;
    for (let i = 0; i < PCI_BAR_COUNT; i++) {
      const size = cfg.barSizeBytes[i]!;
      if (size === 0) continue;
      const addr = cfg.barAddress(i);
      const want = decode && addr >= this.mmioStart && addr + size <= this.mmioEnd ? addr : -1;
      const have = slot.mapped[i]!;
      if (want === have) continue;
      if (have >= 0) this.mmio.unregister(have);
      slot.mapped[i] = -1;
      if (want >= 0) {
        try {
          this.mmio.register(want, size, slot.handlers[i]!, `pci ${slot.device.name} BAR${i}`);
          slot.mapped[i] = want;
        } catch {
          // The guest placed two BARs on top of each other: real hardware would decode both and
          // conflict; we leave this one unmapped until the guest fixes its assignment.
        }
      }
      if (slot.mapped[i] !== have) for (const l of this.barListeners) l(dev, i, slot.mapped[i]!);
    }
  }

  /** Where BAR `bar` of `slot` is mapped now, or -1. */
  barMapping(slot: number, bar: number): number {
    return this.slots[slot]?.mapped[bar] ?? -1;
  }

  save(): PciBusState {
    const slots: PciBusState['slots'] = [];
    this.slots.forEach((s, i) => {
      if (s !== undefined) slots.push({ slot: i, config: Buffer.from(s.device.config.bytes).toString('base64') });
    });
    return { version: 1, slots, nextBarAddress: this.nextBarAddress };
  }

  /** Restores configuration spaces of the devices already added to the same slots, then re-maps BARs. */
  restore(state: PciBusState): void {
    if (state.version !== 1) throw new TshvError(`Cannot restore PCI bus state: version ${String(state.version)} is not supported (expected 1)`);
    for (const s of state.slots) {
      const slot = this.slots[s.slot];
      if (slot === undefined) throw new TshvError(`Cannot restore PCI bus state: slot ${s.slot} is empty in this machine`);
      const bytes = Buffer.from(s.config, 'base64');
      if (bytes.byteLength !== slot.device.config.bytes.byteLength) throw new TshvError(`Cannot restore PCI bus state: slot ${s.slot} config size differs`);
      slot.device.config.bytes.set(bytes);
      this.updateMappings(s.slot);
    }
    this.nextBarAddress = state.nextBarAddress;
  }
}
