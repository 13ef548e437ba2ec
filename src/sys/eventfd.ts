// An eventfd (eventfd(2)): a 64-bit counter the kernel can signal (irqfd: guest interrupt) or
// that the kernel signals (ioeventfd: a guest write to a doorbell). Non-blocking and close-on-exec.

import { SysError, close, eventfd, readRaw, writeRaw } from './libc.js';

const EAGAIN = 11;

export class EventFd {
  readonly fd: number;
  private readonly buf = new Uint8Array(8);
  private readonly view = new DataView(this.buf.buffer);
  private disposed = false;

  constructor(initval = 0) {
    this.fd = eventfd(initval);
  }

  /** Adds `n` to the counter (wakes a reader, or makes KVM inject an irqfd's interrupt). */
  signal(n = 1): void {
    this.view.setBigUint64(0, BigInt(n), true);
    const r = writeRaw(this.fd, this.buf);
    if (r < 0) throw new SysError('write', -r, 'eventfd');
  }

  /** Reads and resets the counter; 0 when it was zero (non-blocking). */
  consume(): number {
    const r = readRaw(this.fd, this.buf);
    if (r === -EAGAIN) return 0;
    if (r < 0) throw new SysError('read', -r, 'eventfd');
    return Number(this.view.getBigUint64(0, true));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    close(this.fd);
  }
}
