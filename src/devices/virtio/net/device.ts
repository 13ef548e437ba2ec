// virtio-net (virtio 1.2 §5.1) on a frame back end (a TAP): receiveq 0, transmitq 1, no control
// queue. Frames keep the 12-byte virtio_net_hdr_v1 the TAP also speaks, so checksum and
// segmentation offloads pass through: the host-side offloads (CSUM, HOST_TSO*) are always
// acceptable to a TAP with IFF_VNET_HDR; the guest-side ones (GUEST_CSUM, GUEST_TSO*) are offered
// only when TUNSETOFFLOAD accepts them, and switched on for what the driver negotiates.
//
// Receive is polled: `poll()` (called by the machine at slice boundaries, and on every receiveq
// notification) reads the non-blocking TAP only while the guest has buffers posted, so a frame
// stays in the kernel's queue rather than being dropped when the guest is slow. With
// VIRTIO_NET_F_MRG_RXBUF one frame may spread over several chains (num_buffers, §5.1.6.4).

import { RateLimiter } from '../../../common/rate-limiter.js';
import { formatMac, MAC_BYTES } from '../../../network/mac.js';
import { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN, TUN_F_UFO, type NetBackend } from '../../../network/tap.js';
import { hostTimer, type IoTimer } from '../block/device.js';
import { DescriptorChain } from '../queue/descriptor-chain.js';
import { POP_EMPTY, POP_OK } from '../queue/virtqueue.js';
import { chainErrorName } from '../queue/descriptor-chain.js';
import { DEFER_REQUEST, featureBit, processQueue, VIRTIO_ID_NET, type VirtioContext, type VirtioDevice } from '../virtio-device.js';
import { newNetMetrics, type NetMetrics } from './metrics.js';
import { checkNetState, type NetState } from './persist.js';
import { NET_HDR_NUM_BUFFERS, NET_MAX_FRAME_BYTES, VIRTIO_NET_HDR_BYTES } from './request.js';

/** Feature bits (§5.1.3). */
export const VIRTIO_NET_F_CSUM = 0;
export const VIRTIO_NET_F_GUEST_CSUM = 1;
export const VIRTIO_NET_F_MAC = 5;
export const VIRTIO_NET_F_GUEST_TSO4 = 7;
export const VIRTIO_NET_F_GUEST_TSO6 = 8;
export const VIRTIO_NET_F_GUEST_ECN = 9;
export const VIRTIO_NET_F_GUEST_UFO = 10;
export const VIRTIO_NET_F_HOST_TSO4 = 11;
export const VIRTIO_NET_F_HOST_TSO6 = 12;
export const VIRTIO_NET_F_HOST_ECN = 13;
export const VIRTIO_NET_F_HOST_UFO = 14;
export const VIRTIO_NET_F_MRG_RXBUF = 15;
export const VIRTIO_NET_F_STATUS = 16;
/** struct virtio_net_config (§5.1.4). */
export const NET_CFG_MAC = 0;
export const NET_CFG_STATUS = 6;
export const NET_CFG_MAX_VIRTQUEUE_PAIRS = 8;
export const NET_CFG_BYTES = 12;
export const VIRTIO_NET_S_LINK_UP = 1;

export const NET_RX_QUEUE = 0;
export const NET_TX_QUEUE = 1;
export const NET_QUEUE_SIZE = 256;
/** PCI class 02.00.00: Ethernet controller. */
const PCI_CLASS_ETHERNET = 0x02_00_00;

export interface VirtioNetOptions {
  name: string;
  backend: NetBackend;
  mac: Uint8Array;
  /** Per-direction limit in bytes/s; 0 or absent: unlimited. */
  bytesPerSecond?: number;
  timer?: IoTimer;
  /** Offer VIRTIO_NET_F_MRG_RXBUF (default true). */
  mergeableRxBuffers?: boolean;
}

export class VirtioNet implements VirtioDevice {
  readonly name: string;
  readonly deviceType = VIRTIO_ID_NET;
  readonly features: bigint;
  readonly queueMaxSizes = [NET_QUEUE_SIZE, NET_QUEUE_SIZE];
  readonly configBytes = NET_CFG_BYTES;
  readonly pciClassCode = PCI_CLASS_ETHERNET;
  readonly metrics: NetMetrics = newNetMetrics();
  readonly backend: NetBackend;
  private readonly cfg = new Uint8Array(NET_CFG_BYTES);
  private readonly cfgView = new DataView(this.cfg.buffer);
  private readonly rxChain = new DescriptorChain(NET_QUEUE_SIZE);
  /** The first chain of a merged frame: num_buffers is patched into its header at the end. */
  private readonly rxFirst = new DescriptorChain(NET_QUEUE_SIZE);
  private readonly numBuffers = new Uint8Array(2);
  private readonly txChain = new DescriptorChain(NET_QUEUE_SIZE);
  private readonly txBuf = new Uint8Array(NET_MAX_FRAME_BYTES);
  private readonly rxBuf = new Uint8Array(NET_MAX_FRAME_BYTES);
  /** A frame read from the back end that no guest buffer has taken yet (0: none). */
  private rxPendingBytes = 0;
  /** Heads and lengths of the chains one merged frame uses (MRG_RXBUF). */
  private readonly rxHeads = new Uint32Array(NET_QUEUE_SIZE);
  private readonly rxLens = new Uint32Array(NET_QUEUE_SIZE);
  private readonly rxLimiter: RateLimiter;
  private readonly txLimiter: RateLimiter;
  private limitBytesPerSecond: number;
  private readonly timer: IoTimer;
  private ctx: VirtioContext | undefined;
  private mergeable = false;
  private epoch = 0;
  private retryScheduled = false;
  private readonly handleTx = (chain: DescriptorChain): number => this.transmit(chain);

  constructor(o: VirtioNetOptions) {
    this.name = o.name;
    this.backend = o.backend;
    this.timer = o.timer ?? hostTimer;
    const now = this.timer.nowMs();
    this.limitBytesPerSecond = o.bytesPerSecond ?? 0;
    this.rxLimiter = new RateLimiter({ bytesPerSecond: o.bytesPerSecond ?? 0 }, now);
    this.txLimiter = new RateLimiter({ bytesPerSecond: o.bytesPerSecond ?? 0 }, now);
    if (o.mac.byteLength !== MAC_BYTES) throw new RangeError(`MAC must be ${MAC_BYTES} bytes`);
    this.cfg.set(o.mac, NET_CFG_MAC);
    this.cfgView.setUint16(NET_CFG_STATUS, VIRTIO_NET_S_LINK_UP, true);
    this.cfgView.setUint16(NET_CFG_MAX_VIRTQUEUE_PAIRS, 1, true);
    let f = featureBit(VIRTIO_NET_F_MAC) | featureBit(VIRTIO_NET_F_STATUS) | featureBit(VIRTIO_NET_F_CSUM)
      | featureBit(VIRTIO_NET_F_HOST_TSO4) | featureBit(VIRTIO_NET_F_HOST_TSO6) | featureBit(VIRTIO_NET_F_HOST_ECN) | featureBit(VIRTIO_NET_F_HOST_UFO);
    if (o.mergeableRxBuffers ?? true) f |= featureBit(VIRTIO_NET_F_MRG_RXBUF);
    const off = o.backend.supportedOffloads;
    if ((off & TUN_F_CSUM) !== 0) {
      f |= featureBit(VIRTIO_NET_F_GUEST_CSUM);
      if ((off & TUN_F_TSO4) !== 0) f |= featureBit(VIRTIO_NET_F_GUEST_TSO4);
      if ((off & TUN_F_TSO6) !== 0) f |= featureBit(VIRTIO_NET_F_GUEST_TSO6);
      if ((off & TUN_F_TSO_ECN) !== 0) f |= featureBit(VIRTIO_NET_F_GUEST_ECN);
      if ((off & TUN_F_UFO) !== 0) f |= featureBit(VIRTIO_NET_F_GUEST_UFO);
    }
    this.features = f;
  }

  get mac(): string {
    return formatMac(this.cfg.subarray(NET_CFG_MAC, NET_CFG_MAC + MAC_BYTES));
  }

  get linkUp(): boolean {
    return (this.cfgView.getUint16(NET_CFG_STATUS, true) & VIRTIO_NET_S_LINK_UP) !== 0;
  }

  /**
   * The guest has receive buffers posted: worth waking up for a frame (arm a TapWatcher only
   * then, or a frame nobody can take would wake the machine again and again).
   */
  get rxReady(): boolean {
    const q = this.ctx?.queues[NET_RX_QUEUE];
    return q !== undefined && q.activated && this.linkUp && q.availableCount() !== 0;
  }

  /** Link status for the management plane (§5.1.4: a config change interrupt tells the driver). */
  setLinkUp(up: boolean): void {
    if (up === this.linkUp) return;
    this.cfgView.setUint16(NET_CFG_STATUS, up ? VIRTIO_NET_S_LINK_UP : 0, true);
    this.ctx?.configChanged();
    if (up) this.poll();
  }

  /** The bytes/s limit now, each direction (0: unlimited). */
  get bytesPerSecond(): number {
    return this.limitBytesPerSecond;
  }

  /** Changes the bytes/s limit at run time (0: unlimited). */
  setRateLimit(bytesPerSecond: number): void {
    const now = this.timer.nowMs();
    this.limitBytesPerSecond = bytesPerSecond;
    this.rxLimiter.update({ bytesPerSecond }, now);
    this.txLimiter.update({ bytesPerSecond }, now);
    // Frames held by the old limit go on at the next turn of the machine's clock (never now: the
    // machine may be paused), and a retry planned under the old limit is dropped.
    if (this.ctx !== undefined) {
      this.epoch++;
      this.retryScheduled = false;
      this.scheduleRetry(0);
    }
  }

  readConfig(offset: number, size: 1 | 2 | 4): number {
    if (offset < 0 || offset + size > NET_CFG_BYTES) return 0;
    if (size === 1) return this.cfg[offset]!;
    if (size === 2) return this.cfgView.getUint16(offset, true);
    return this.cfgView.getUint32(offset, true);
  }

  /** The configuration is read-only for the driver (the MAC is only writable with CTRL_MAC_ADDR, not offered). */
  writeConfig(): void {}

  activate(ctx: VirtioContext): void {
    this.ctx = ctx;
    this.epoch++;
    this.retryScheduled = false;
    this.rxPendingBytes = 0;
    const has = (bit: number): boolean => (ctx.features & featureBit(bit)) !== 0n;
    this.mergeable = has(VIRTIO_NET_F_MRG_RXBUF);
    let off = 0;
    if (has(VIRTIO_NET_F_GUEST_CSUM)) {
      off |= TUN_F_CSUM;
      if (has(VIRTIO_NET_F_GUEST_TSO4)) off |= TUN_F_TSO4;
      if (has(VIRTIO_NET_F_GUEST_TSO6)) off |= TUN_F_TSO6;
      if (has(VIRTIO_NET_F_GUEST_ECN)) off |= TUN_F_TSO_ECN;
      if (has(VIRTIO_NET_F_GUEST_UFO)) off |= TUN_F_UFO;
    }
    if (!this.backend.setOffload(off)) ctx.needsReset(`${this.name}: the back end refused offloads 0x${off.toString(16)}`);
    this.notify(NET_TX_QUEUE);
    this.poll();
  }

  reset(): void {
    this.ctx = undefined;
    this.epoch++;
    this.retryScheduled = false;
    this.rxPendingBytes = 0;
    this.backend.setOffload(0);
  }

  notify(queueIndex: number): void {
    const ctx = this.ctx;
    if (ctx === undefined) return;
    if (queueIndex === NET_TX_QUEUE) processQueue(ctx, NET_TX_QUEUE, this.txChain, this.handleTx);
    else if (queueIndex === NET_RX_QUEUE) this.poll();
  }

  /**
   * Moves frames from the back end into the guest's receive buffers while both have some. Call
   * at the machine loop's slice boundaries. Returns the number of frames delivered.
   */
  poll(): number {
    const ctx = this.ctx;
    if (ctx === undefined || !this.linkUp) return 0;
    const q = ctx.queues[NET_RX_QUEUE];
    if (q === undefined || !q.activated) return 0;
    let frames = 0;
    for (;;) {
      if (q.availableCount() === 0 && !q.enableNotification()) break;
      if (this.rxPendingBytes === 0) {
        const n = this.backend.receive(this.rxBuf);
        if (n === 0) break;
        if (n < 0) {
          this.metrics.rxErrors++;
          break;
        }
        if (n < VIRTIO_NET_HDR_BYTES) {
          this.metrics.rxDropped++;
          continue;
        }
        this.rxPendingBytes = n;
      }
      const bytes = this.rxPendingBytes;
      if (!this.rxLimiter.tryConsume(bytes, this.timer.nowMs())) {
        this.metrics.rateLimited++;
        this.scheduleRetry(this.rxLimiter.waitMs(bytes, this.timer.nowMs()));
        break;
      }
      const r = this.deliver(ctx, bytes);
      if (r < 0) break;
      this.rxPendingBytes = 0;
      if (r > 0) frames++;
    }
    if (frames > 0) ctx.signalUsed(NET_RX_QUEUE);
    return frames;
  }

  /**
   * Copies the pending frame into one chain (or several with MRG_RXBUF). Returns 1 when
   * delivered, 0 when dropped (too big for the guest's buffers), -1 when the guest has too few
   * buffers now (the frame stays pending; the chains popped are given back) or the ring broke.
   */
  private deliver(ctx: VirtioContext, bytes: number): number {
    const q = ctx.queues[NET_RX_QUEUE]!;
    const mem = ctx.memory;
    const frame = this.rxBuf;
    let used = 0;
    let done = 0;
    while (done < bytes) {
      const chain = used === 0 ? this.rxFirst : this.rxChain;
      const r = used >= this.rxHeads.length ? POP_EMPTY : q.pop(chain);
      if (r === POP_EMPTY) {
        for (let i = 0; i < used; i++) q.undoPop();
        return -1;
      }
      if (r !== POP_OK) {
        ctx.needsReset(`${this.name}: receive queue: ${chainErrorName(r)}`);
        return -1;
      }
      if (!this.mergeable) {
        if (chain.writableBytes < bytes) {
          // Not a frame we can hand over: give the chain back empty (§5.1.6.3 buffers are large
          // enough for any frame the negotiated features allow; this is a misbehaving driver).
          q.addUsed(chain.head, 0);
          this.metrics.rxDropped++;
          return 0;
        }
        frame[NET_HDR_NUM_BUFFERS] = 1;
        frame[NET_HDR_NUM_BUFFERS + 1] = 0;
        chain.writeFrom(mem, 0, frame.subarray(0, bytes));
        q.addUsed(chain.head, bytes);
        this.rxDone(bytes);
        return 1;
      }
      const n = Math.min(chain.writableBytes, bytes - done);
      // The first buffer must hold the whole header (§5.1.6.3.1).
      if (used === 0 && n < VIRTIO_NET_HDR_BYTES && n < bytes) {
        q.addUsed(chain.head, 0);
        this.metrics.rxDropped++;
        return 0;
      }
      if (n > 0) chain.writeFrom(mem, 0, frame.subarray(done, done + n));
      this.rxHeads[used] = chain.head;
      this.rxLens[used] = n;
      used++;
      done += n;
    }
    // num_buffers goes into the first chain's header, copied before the count was known.
    this.numBuffers[0] = used & 0xff;
    this.numBuffers[1] = used >>> 8;
    this.rxFirst.writeFrom(mem, NET_HDR_NUM_BUFFERS, this.numBuffers);
    for (let i = 0; i < used; i++) q.addUsed(this.rxHeads[i]!, this.rxLens[i]!);
    this.rxDone(bytes);
    return 1;
  }

  private rxDone(bytes: number): void {
    this.metrics.rxFrames++;
    this.metrics.rxBytes += bytes - VIRTIO_NET_HDR_BYTES;
  }

  private transmit(chain: DescriptorChain): number {
    const ctx = this.ctx as VirtioContext;
    const bytes = chain.readableBytes;
    if (bytes < VIRTIO_NET_HDR_BYTES || bytes > NET_MAX_FRAME_BYTES) {
      this.metrics.txDropped++;
      return 0;
    }
    if (!this.txLimiter.tryConsume(bytes, this.timer.nowMs())) {
      this.metrics.rateLimited++;
      this.scheduleRetry(this.txLimiter.waitMs(bytes, this.timer.nowMs()));
      return DEFER_REQUEST;
    }
    const frame = this.txBuf.subarray(0, bytes);
    chain.readInto(ctx.memory, 0, frame);
    const r = this.backend.send(frame);
    if (r < 0) {
      this.metrics.txErrors++;
    } else {
      this.metrics.txFrames++;
      this.metrics.txBytes += bytes - VIRTIO_NET_HDR_BYTES;
    }
    return 0;
  }

  private scheduleRetry(delayMs: number): void {
    if (this.retryScheduled) return;
    this.retryScheduled = true;
    const epoch = this.epoch;
    this.timer.schedule(Math.max(1, delayMs), () => {
      if (epoch !== this.epoch) return;
      this.retryScheduled = false;
      this.notify(NET_TX_QUEUE);
      this.poll();
    });
  }

  saveDevice(): NetState {
    return { version: 1, mac: this.mac, linkUp: this.linkUp };
  }

  restoreDevice(state: unknown): void {
    const s = checkNetState(state);
    if (s.mac !== this.mac) throw new RangeError(`Cannot restore ${this.name}: saved MAC ${s.mac} differs from ${this.mac}`);
    this.cfgView.setUint16(NET_CFG_STATUS, s.linkUp ? VIRTIO_NET_S_LINK_UP : 0, true);
  }

  /** Closes the back end (a TAP we created disappears). */
  dispose(): void {
    this.reset();
    this.backend.close();
  }
}
