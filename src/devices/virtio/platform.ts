// Wiring helpers for the machine builder: each adds one virtio device behind its own virtio-pci
// transport on the PCI platform, and returns the transport (for notify(), metrics, save/restore)
// and the device.

import { RawFileDisk } from '../../storage/raw-file.js';
import type { PciPlatform } from '../pci/platform.js';
import { VirtioBlock, type IoTimer } from './block/device.js';
import { validateBlockConfig, type BlockConfig } from './block/config.js';
import { VirtioRng } from './rng/device.js';
import { VirtioPciDevice } from './transport/virtio-pci.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { deterministicMac, parseMac, randomMac } from '../../network/mac.js';
import { TapDevice, type NetBackend } from '../../network/tap.js';
import { madvise, MADV_REMOVE, type Mapping } from '../../sys/libc.js';
import { VirtioBalloon, type VirtioBalloonOptions } from './balloon/device.js';
import { VirtioConsole, type VirtioConsoleOptions } from './console/device.js';
import { validateNetConfig, type NetConfig } from './net/config.js';
import { VirtioNet } from './net/device.js';

export interface AttachedVirtio<D> {
  transport: VirtioPciDevice;
  device: D;
  slot: number;
}

export interface AddVirtioBlkOptions {
  /** Clock for the rate limiter's retries (the machine's clock); default: host time and setTimeout. */
  timer?: IoTimer;
  /** Device name for messages and metrics; default `blk<slot>`. */
  name?: string;
  slot?: number;
}

/** Opens the image and plugs a virtio-blk device for it. Throws TshvError when the image cannot be opened. */
export function addVirtioBlk(pci: PciPlatform, config: BlockConfig, o: AddVirtioBlkOptions = {}): AttachedVirtio<VirtioBlock> {
  const cfg = validateBlockConfig(config);
  const disk = RawFileDisk.open(cfg.path, { readOnly: cfg.readOnly });
  const device = new VirtioBlock({
    name: o.name ?? `blk:${cfg.path}`,
    disk,
    path: cfg.path,
    ...(cfg.serial !== undefined ? { serial: cfg.serial } : {}),
    ...(cfg.bytesPerSecond !== undefined ? { bytesPerSecond: cfg.bytesPerSecond } : {}),
    ...(cfg.opsPerSecond !== undefined ? { opsPerSecond: cfg.opsPerSecond } : {}),
    ...(o.timer !== undefined ? { timer: o.timer } : {}),
  });
  const transport = new VirtioPciDevice(device, pci.memory, pci.msi);
  try {
    const slot = pci.bus.add(transport, o.slot);
    return { transport, device, slot };
  } catch (e) {
    disk.close();
    throw e;
  }
}

export function addVirtioRng(pci: PciPlatform, slot?: number): AttachedVirtio<VirtioRng> {
  const device = new VirtioRng();
  const transport = new VirtioPciDevice(device, pci.memory, pci.msi);
  return { transport, device, slot: pci.bus.add(transport, slot) };
}

export interface AddVirtioNetOptions {
  /** Rate-limit clock (the machine's); default host time. */
  timer?: IoTimer;
  /** Default `net:<tap>`. */
  name?: string;
  slot?: number;
  /** A back end other than a TAP (tests); default: TapDevice.open(config.tap). */
  backend?: NetBackend;
}

/**
 * Opens (creating when absent) the TAP and plugs a virtio-net device for it. The MAC is
 * config.mac, else derived from config.macSeed, else random (locally administered). Throws
 * TshvError when the TAP cannot be opened. Dispose with `device.dispose()` (closes the TAP; one
 * we created disappears).
 */
export function addVirtioNet(pci: PciPlatform, config: NetConfig, o: AddVirtioNetOptions = {}): AttachedVirtio<VirtioNet> {
  const cfg = validateNetConfig(config);
  const mac = cfg.mac !== undefined ? parseMac(cfg.mac) : cfg.macSeed !== undefined ? deterministicMac(cfg.macSeed) : randomMac();
  const backend = o.backend ?? TapDevice.open(cfg.tap);
  try {
    const device = new VirtioNet({
      name: o.name ?? `net:${cfg.tap}`,
      backend,
      mac,
      ...(cfg.bytesPerSecond !== undefined ? { bytesPerSecond: cfg.bytesPerSecond } : {}),
      ...(o.timer !== undefined ? { timer: o.timer } : {}),
    });
    const transport = new VirtioPciDevice(device, pci.memory, pci.msi);
    const slot = pci.bus.add(transport, o.slot);
    return { transport, device, slot };
  } catch (e) {
    backend.close();
    throw e;
  }
}

/** Plugs a virtio-console (hvc0) whose output goes to `options.output`; input via device.pushInput(). */
export function addVirtioConsole(pci: PciPlatform, options: VirtioConsoleOptions, slot?: number): AttachedVirtio<VirtioConsole> {
  const device = new VirtioConsole(options);
  const transport = new VirtioPciDevice(device, pci.memory, pci.msi);
  return { transport, device, slot: pci.bus.add(transport, slot) };
}

/** Plugs a virtio-balloon; `options.releasePages` frees host memory (see madviseReleaser). */
export function addVirtioBalloon(pci: PciPlatform, options: VirtioBalloonOptions, slot?: number): AttachedVirtio<VirtioBalloon> {
  const device = new VirtioBalloon(options);
  const transport = new VirtioPciDevice(device, pci.memory, pci.msi);
  return { transport, device, slot: pci.bus.add(transport, slot) };
}

/**
 * releasePages for memfd-backed guest RAM (memory/allocate.ts GuestRamBacking): MADV_REMOVE
 * frees the pages in the memfd, so the VMM's RSS and the host's memory use really drop. The
 * range is checked again here: never madvise outside guest RAM.
 */
export function madviseReleaser(memory: GuestMemory, mapping: Mapping): (gpa: number, bytes: number) => void {
  return (gpa, bytes) => {
    if (!memory.isRange(gpa, bytes)) throw new RangeError(`balloon: [0x${gpa.toString(16)}, +${bytes}) is not guest RAM`);
    const off = memory.offsetOf(gpa);
    if (off < 0 || off + bytes > mapping.lengthBytes) throw new RangeError(`balloon: offset ${off} outside the RAM mapping`);
    madvise(mapping, off, bytes, MADV_REMOVE);
    // The pages now read as zeroes: a dirty-page tracker (migration) must send them again.
    memory.onWrite?.(gpa, bytes);
  };
}
