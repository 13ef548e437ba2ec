// The one contract between a virtio device model (block, rng, net...) and its transport (virtio
// 1.2 §2 basic facilities). The transport owns status, feature negotiation, queue registers and
// interrupts; the device owns its feature bits, its configuration structure and the requests on
// its queues. Neither knows the other's concrete type (shared/STYLE.md habit 1).

import type { GuestMemory } from '../../memory/guest-memory.js';
import { chainErrorName, type DescriptorChain } from './queue/descriptor-chain.js';
import { POP_EMPTY, POP_OK, type Virtqueue } from './queue/virtqueue.js';

/** Device status bits (§2.1). */
export const VIRTIO_STATUS_ACKNOWLEDGE = 1;
export const VIRTIO_STATUS_DRIVER = 2;
export const VIRTIO_STATUS_DRIVER_OK = 4;
export const VIRTIO_STATUS_FEATURES_OK = 8;
export const VIRTIO_STATUS_DEVICE_NEEDS_RESET = 64;
export const VIRTIO_STATUS_FAILED = 128;

/** Reserved feature bits (§6). */
export const VIRTIO_F_RING_INDIRECT_DESC = 28;
export const VIRTIO_F_RING_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;

/** Device IDs (§5). */
export const VIRTIO_ID_NET = 1;
export const VIRTIO_ID_BLOCK = 2;
export const VIRTIO_ID_CONSOLE = 3;
export const VIRTIO_ID_RNG = 4;
export const VIRTIO_ID_BALLOON = 5;

export const featureBit = (bit: number): bigint => 1n << BigInt(bit);

/** What a device gets when the driver sets DRIVER_OK. */
export interface VirtioContext {
  readonly memory: GuestMemory;
  readonly queues: readonly Virtqueue[];
  /** The features the driver accepted. */
  readonly features: bigint;
  /** Raises the queue's interrupt if the driver wants one for the buffers used so far. */
  signalUsed(queueIndex: number): void;
  /** The device hit an error it cannot recover from (§2.1.2): NEEDS_RESET and a config interrupt. */
  needsReset(reason: string): void;
  /** The device configuration changed (capacity...): bumps config_generation, config interrupt. */
  configChanged(): void;
}

export interface VirtioDevice {
  readonly name: string;
  /** Device ID (§5); the PCI device ID is 0x1040 + this. */
  readonly deviceType: number;
  /** Device-specific feature bits; the transport adds VERSION_1, INDIRECT_DESC and EVENT_IDX. */
  readonly features: bigint;
  /** Maximum size of each queue (a power of two). */
  readonly queueMaxSizes: readonly number[];
  /** Size of the device configuration structure in bytes. */
  readonly configBytes: number;
  /** PCI class code (24 bits) the transport advertises. */
  readonly pciClassCode: number;
  readConfig(offset: number, size: 1 | 2 | 4): number;
  writeConfig(offset: number, size: 1 | 2 | 4, value: number): void;
  /** DRIVER_OK: the queues are configured and checked; the device may start using them. */
  activate(ctx: VirtioContext): void;
  /** The driver wrote 0 to device_status (§2.1.2): forget queues and in-flight work. */
  reset(): void;
  /** The driver notified `queueIndex` (an MMIO write on the soft engine, an ioeventfd on KVM). */
  notify(queueIndex: number): void;
  /** Device-specific state (JSON-able, versioned by the device). */
  saveDevice(): unknown;
  restoreDevice(state: unknown): void;
}

/** Returned by a request handler to leave the chain in the ring and stop (rate limited). */
export const DEFER_REQUEST = -1;

/**
 * The usual queue loop: pop chains, hand each to `handle`, return it as used with the byte
 * count `handle` reports, re-arm notifications (event index) and signal once at the end. A
 * malformed chain stops the queue and marks the device as needing reset. `handle` returns
 * DEFER_REQUEST to put the chain back and stop.
 */
export function processQueue(ctx: VirtioContext, queueIndex: number, chain: DescriptorChain, handle: (chain: DescriptorChain) => number): void {
  const q = ctx.queues[queueIndex];
  if (q === undefined || !q.activated) return;
  for (;;) {
    const r = q.pop(chain);
    if (r === POP_EMPTY) {
      if (q.enableNotification()) continue;
      break;
    }
    if (r !== POP_OK) {
      ctx.signalUsed(queueIndex);
      ctx.needsReset(`queue ${queueIndex}: ${chainErrorName(r)}`);
      return;
    }
    const written = handle(chain);
    if (written === DEFER_REQUEST) {
      q.undoPop();
      break;
    }
    q.addUsed(chain.head, written);
  }
  ctx.signalUsed(queueIndex);
}
