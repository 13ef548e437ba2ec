// A virtio-rng request (virtio 1.2 §5.4.6): one or more device-writable buffers the device fills
// with entropy. Device-readable descriptors carry nothing for us and are ignored.

import { randomFillSync } from 'node:crypto';
import type { GuestMemory } from '../../../memory/guest-memory.js';
import type { DescriptorChain } from '../queue/descriptor-chain.js';

/** Fills up to `maxBytes` of the chain's writable part from the host CSPRNG (getrandom); returns the count. */
export function fillEntropy(mem: GuestMemory, chain: DescriptorChain, maxBytes: number): number {
  let left = maxBytes;
  for (let i = chain.readableCount; i < chain.count && left > 0; i++) {
    const n = Math.min(chain.len[i]!, left);
    randomFillSync(mem.writableSlice(chain.addr[i]!, n));
    left -= n;
  }
  return maxBytes - left;
}
