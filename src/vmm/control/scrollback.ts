// The serial console's recent output, kept for consoles that attach later (`console-attach` with
// scrollback): a fixed-size byte ring that drops the oldest bytes first.

export class ScrollbackBuffer {
  private readonly ring: Uint8Array;
  /** Next write position in the ring. */
  private head = 0;
  /** Bytes held (at most the capacity). */
  private length = 0;

  constructor(readonly capacityBytes: number) {
    this.ring = new Uint8Array(capacityBytes);
  }

  push(bytes: Uint8Array): void {
    const cap = this.ring.length;
    if (cap === 0) return;
    // Only the last `cap` bytes of a large write can survive.
    const src = bytes.length > cap ? bytes.subarray(bytes.length - cap) : bytes;
    const first = Math.min(src.length, cap - this.head);
    this.ring.set(src.subarray(0, first), this.head);
    this.ring.set(src.subarray(first), 0);
    this.head = (this.head + src.length) % cap;
    this.length = Math.min(cap, this.length + src.length);
  }

  /** The held bytes, oldest first (a copy). */
  snapshot(): Uint8Array {
    const cap = this.ring.length;
    const out = new Uint8Array(this.length);
    const start = (this.head - this.length + cap) % (cap || 1);
    const first = Math.min(this.length, cap - start);
    out.set(this.ring.subarray(start, start + first), 0);
    out.set(this.ring.subarray(0, this.length - first), first);
    return out;
  }
}
