// Host input waiting for the guest's virtio-console receive buffers: a bounded FIFO of byte
// chunks, drained straight into a descriptor chain's writable part (virtio 1.2 §5.3.6).

import type { GuestMemory } from '../../../memory/guest-memory.js';
import type { DescriptorChain } from '../queue/descriptor-chain.js';

export class ConsoleInputQueue {
  private readonly chunks: Uint8Array[] = [];
  /** Bytes of chunks[0] already delivered. */
  private headOffset = 0;
  bytes = 0;

  constructor(readonly limitBytes: number) {}

  /** Appends a copy of `data`; false (nothing taken) when the queue would exceed its limit. */
  push(data: Uint8Array): boolean {
    if (data.byteLength === 0) return true;
    if (this.bytes + data.byteLength > this.limitBytes) return false;
    this.chunks.push(Uint8Array.from(data));
    this.bytes += data.byteLength;
    return true;
  }

  /** Writes as much as fits into the chain's writable buffers; returns the byte count. */
  drainInto(mem: GuestMemory, chain: DescriptorChain): number {
    let written = 0;
    const room = chain.writableBytes;
    while (written < room && this.chunks.length > 0) {
      const c = this.chunks[0]!;
      const n = Math.min(c.byteLength - this.headOffset, room - written);
      chain.writeFrom(mem, written, c.subarray(this.headOffset, this.headOffset + n));
      written += n;
      this.headOffset += n;
      if (this.headOffset === c.byteLength) {
        this.chunks.shift();
        this.headOffset = 0;
      }
    }
    this.bytes -= written;
    return written;
  }

  /** Undelivered input as base64 (for snapshots). */
  save(): string {
    const all = Buffer.concat(this.chunks.map((c, i) => (i === 0 ? c.subarray(this.headOffset) : c)));
    return all.toString('base64');
  }

  restore(base64: string): void {
    this.chunks.length = 0;
    this.headOffset = 0;
    this.bytes = 0;
    const b = Buffer.from(base64, 'base64');
    if (b.byteLength > 0) {
      this.chunks.push(new Uint8Array(b));
      this.bytes = b.byteLength;
    }
  }
}
