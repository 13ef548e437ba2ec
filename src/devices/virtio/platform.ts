// Wiring helpers for the machine builder: each adds one virtio device behind its own virtio-pci
// transport on the PCI platform, and returns the transport (for notify(), metrics, save/restore)
// and the device.

import { RawFileDisk } from '../../storage/raw-file.js';
import type { PciPlatform } from '../pci/platform.js';
import { VirtioBlock, type IoTimer } from './block/device.js';
import { validateBlockConfig, type BlockConfig } from './block/config.js';
import { VirtioRng } from './rng/device.js';
import { VirtioPciDevice } from './transport/virtio-pci.js';

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
