// The PCI + virtio device set both engines build (issue 4), the same way and in the same order: the
// host bridge, then the disks, the RNG, the NICs, the balloon and the virtio-console. The slot order
// is part of the guest's view (its device names follow it), so it never depends on the engine.
// The engine supplies what differs: where MSI-X messages go (the soft engine's APIC bus, or
// KVM_SIGNAL_MSI on the VM fd), its clock for the rate limiters' retries, and how to wake it.

import type { DeviceClock } from '../devices/device.js';
import type { MmioBus, PioBus } from '../devices/bus.js';
import { createPciPlatform, type PciPlatform } from '../devices/pci/index.js';
import type { MsiSink } from '../devices/pci/pci-device.js';
import {
  addVirtioBalloon, addVirtioBlk, addVirtioConsole, addVirtioNet, addVirtioRng, deviceClockTimer, madviseReleaser,
  type AttachedVirtio, type VirtioBalloon, type VirtioBlock, type VirtioConsole, type VirtioNet,
} from '../devices/virtio/index.js';
import type { GuestRamBacking } from '../memory/allocate.js';
import { TapWatcher } from '../network/tap-watcher.js';
import type { TapDevice } from '../network/tap.js';
import type { VmConfig } from './config.js';
import { IoControls } from './io-controls.js';

export interface IoDevicesOptions {
  pio: PioBus;
  mmio: MmioBus;
  ram: GuestRamBacking;
  /** Where MSI-X messages go. */
  msi: MsiSink;
  /** The machine's clock: rate-limit retries are deadlines on it (nothing fires while paused). */
  clock: DeviceClock;
  config: VmConfig;
  /** What the guest writes to hvc0. */
  onHvcOutput(bytes: Uint8Array): void;
  /** A TAP has a frame (the watcher fired; the engine polls the NICs and re-arms: pollNics()). */
  onTapReadable(): void;
  /** Host input arrived for an idle machine (hvc0). */
  wake(): void;
}

export interface AttachedNic {
  nic: AttachedVirtio<VirtioNet>;
  watcher: TapWatcher;
}

export interface IoDevices {
  pci: PciPlatform;
  disks: AttachedVirtio<VirtioBlock>[];
  nics: AttachedNic[];
  balloon: AttachedVirtio<VirtioBalloon>;
  /** virtio-console for hvc0 (config.hvc), after the balloon so that the other devices keep their slots. */
  hvc: AttachedVirtio<VirtioConsole> | undefined;
  ioControls: IoControls;
  /** Moves received frames into the guest; re-arms a NIC's watcher once the guest can take more. */
  pollNics(): void;
  /** Closes the disks and the TAPs (a TAP we created disappears). */
  dispose(): void;
}

/** Builds the PCI platform and the virtio devices of `config`; on failure, closes what it opened. */
export function createIoDevices(o: IoDevicesOptions): IoDevices {
  const { config } = o;
  const pci = createPciPlatform({ pio: o.pio, mmio: o.mmio, memory: o.ram.memory, msi: o.msi });
  const disks: AttachedVirtio<VirtioBlock>[] = [];
  const nics: AttachedNic[] = [];
  const dispose = (): void => {
    for (const d of disks) d.device.disk.close();
    for (const { nic, watcher } of nics) void watcher.dispose().finally(() => nic.device.dispose());
  };
  try {
    const timer = deviceClockTimer(o.clock);
    for (const disk of config.disks ?? []) disks.push(addVirtioBlk(pci, disk, { timer }));
    addVirtioRng(pci);
    (config.nics ?? []).forEach((net, i) => {
      const nic = addVirtioNet(pci, { macSeed: `${config.kernelPath}/${i}`, ...net }, { timer });
      nics.push({ nic, watcher: new TapWatcher((nic.device.backend as TapDevice).fd, () => o.onTapReadable()) });
    });
    const balloon = addVirtioBalloon(pci, { releasePages: madviseReleaser(o.ram.memory, o.ram.mapping) });
    const hvc = config.hvc === undefined ? undefined : addVirtioConsole(pci, { name: 'hvc0', output: (bytes) => o.onHvcOutput(bytes) });
    const ioControls = new IoControls({
      balloon: balloon.device, disks: disks.map((d) => d.device), nics: nics.map((n) => n.nic.device),
      memSizeMib: config.memSizeMib, console: hvc?.device, wake: () => o.wake(),
    });
    const pollNics = (): void => {
      for (const { nic, watcher } of nics) {
        nic.device.poll();
        if (nic.device.rxReady) watcher.arm();
      }
    };
    return { pci, disks, nics, balloon, hvc, ioControls, pollNics, dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}
