// virtio-rng (virtio 1.2 §5.4): one request queue; each buffer is filled from the host's
// getrandom(2) (node's randomFillSync) straight into guest memory. No feature bits, no config.

import { DescriptorChain } from '../queue/descriptor-chain.js';
import { processQueue, VIRTIO_ID_RNG, type VirtioContext, type VirtioDevice } from '../virtio-device.js';
import { newRngMetrics, type RngMetrics } from './metrics.js';
import { checkRngState, type RngState } from './persist.js';
import { fillEntropy } from './request.js';

export const RNG_QUEUE_SIZE = 256;
/** At most this much entropy per request, so that one huge buffer cannot stall the vCPU. */
export const RNG_MAX_REQUEST_BYTES = 64 * 1024;
/** PCI class ff.00.00 (other): there is no class for RNGs. */
const PCI_CLASS_OTHERS = 0xff_00_00;

export class VirtioRng implements VirtioDevice {
  readonly deviceType = VIRTIO_ID_RNG;
  readonly features = 0n;
  readonly queueMaxSizes = [RNG_QUEUE_SIZE];
  readonly configBytes = 0;
  readonly pciClassCode = PCI_CLASS_OTHERS;
  readonly metrics: RngMetrics = newRngMetrics();
  private readonly chain = new DescriptorChain(RNG_QUEUE_SIZE);
  private ctx: VirtioContext | undefined;
  private readonly handle = (chain: DescriptorChain): number => {
    this.metrics.requests++;
    if (chain.writableBytes === 0) {
      this.metrics.emptyRequests++;
      return 0;
    }
    const n = fillEntropy((this.ctx as VirtioContext).memory, chain, Math.min(chain.writableBytes, RNG_MAX_REQUEST_BYTES));
    this.metrics.bytes += n;
    return n;
  };

  constructor(readonly name = 'rng') {}

  readConfig(): number {
    return 0;
  }

  writeConfig(): void {}

  activate(ctx: VirtioContext): void {
    this.ctx = ctx;
    this.notify(0);
  }

  reset(): void {
    this.ctx = undefined;
  }

  notify(queueIndex: number): void {
    if (this.ctx === undefined || queueIndex !== 0) return;
    processQueue(this.ctx, 0, this.chain, this.handle);
  }

  saveDevice(): RngState {
    return { version: 1 };
  }

  restoreDevice(state: unknown): void {
    checkRngState(state);
  }
}
