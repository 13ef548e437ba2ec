// virtio-blk (virtio 1.2 §5.2) on a DiskBackend: one request queue, requests executed
// synchronously as they are popped (a stated simplification: the soft engine runs devices on the
// vCPU thread; an asynchronous back end can complete later through the same used-ring path).
// Optional token-bucket rate limits leave a request in the ring until its tokens are there.

import { RateLimiter } from '../../../common/rate-limiter.js';
import type { DeviceClock } from '../../device.js';
import { HostIoVec, type DiskBackend } from '../../../storage/disk-backend.js';
import { DescriptorChain } from '../queue/descriptor-chain.js';
import { DEFER_REQUEST, featureBit, processQueue, VIRTIO_ID_BLOCK, type VirtioContext, type VirtioDevice } from '../virtio-device.js';
import { VIRTIO_BLK_ID_BYTES } from './config.js';
import { newBlockMetrics, type BlockMetrics } from './metrics.js';
import { checkBlockState, type BlockState } from './persist.js';
import {
  BlockRequest, SECTOR_BYTES, VIRTIO_BLK_DWZ_SEGMENT_BYTES, VIRTIO_BLK_HEADER_BYTES, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK,
  VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT,
  VIRTIO_BLK_T_WRITE_ZEROES, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP,
} from './request.js';

/** Feature bits (§5.2.3). */
export const VIRTIO_BLK_F_SIZE_MAX = 1;
export const VIRTIO_BLK_F_SEG_MAX = 2;
export const VIRTIO_BLK_F_RO = 5;
export const VIRTIO_BLK_F_BLK_SIZE = 6;
export const VIRTIO_BLK_F_FLUSH = 9;
export const VIRTIO_BLK_F_DISCARD = 13;
export const VIRTIO_BLK_F_WRITE_ZEROES = 14;

/** struct virtio_blk_config offsets (§5.2.4). */
export const BLK_CFG_CAPACITY = 0;
export const BLK_CFG_SIZE_MAX = 8;
export const BLK_CFG_SEG_MAX = 12;
export const BLK_CFG_BLK_SIZE = 20;
export const BLK_CFG_NUM_QUEUES = 34;
export const BLK_CFG_MAX_DISCARD_SECTORS = 36;
export const BLK_CFG_MAX_DISCARD_SEG = 40;
export const BLK_CFG_DISCARD_SECTOR_ALIGNMENT = 44;
export const BLK_CFG_MAX_WRITE_ZEROES_SECTORS = 48;
export const BLK_CFG_MAX_WRITE_ZEROES_SEG = 52;
export const BLK_CFG_WRITE_ZEROES_MAY_UNMAP = 56;
export const BLK_CFG_BYTES = 60;

/**
 * Descriptors per queue (the largest the driver may choose, virtio 1.2 §4.1.4.3). 1024 rather than
 * QEMU's default 256: seg_max follows it, and Linux splits a request with more segments than
 * seg_max. A 1 MiB O_DIRECT read of scattered user pages has 256 segments: with 256 entries
 * (seg_max 254) each became two requests, a bio split and a second completion (bench/blk: 513
 * reads per 256 MiB against 257, and ~5 % of the guest's instructions per pass).
 */
export const BLK_QUEUE_SIZE = 1024;
/** Largest data segment the driver may use (size_max). */
export const BLK_SIZE_MAX_BYTES = 1 << 20;
/** Segments per request: the header and status take two descriptors of the queue (seg_max). */
export const BLK_SEG_MAX = BLK_QUEUE_SIZE - 2;
export const BLK_MAX_DISCARD_SECTORS = 0x3f_ffff;
export const BLK_MAX_DISCARD_SEG = 32;
/** Discard granularity in sectors (4 KiB: the host file system's block). */
export const BLK_DISCARD_ALIGNMENT_SECTORS = 8;
/** PCI class 01.80.00: mass storage, other. */
const PCI_CLASS_STORAGE_OTHER = 0x01_80_00;

/** Time for the rate limiter: milliseconds now, and a one-shot callback (guest or host clock). */
export interface IoTimer {
  nowMs(): number;
  schedule(delayMs: number, fn: () => void): void;
}

/**
 * The machine's IoTimer. Tokens are counted in HOST time: a limit shares the host's bandwidth, and
 * on the soft engine guest time may lag the host's and then catch up in jumps (idle periods skip
 * ahead), which would let a guest-time limit pass several times N per host second. Retries run on
 * the machine's clock, so a paused machine does no I/O; a retry that comes early in host time
 * finds too few tokens and waits again, so the limit holds as a ceiling in both clocks (the guest
 * clock never runs ahead of the host's, so the guest measures at most N too).
 */
export function deviceClockTimer(clock: DeviceClock, hostNowMs: () => number = () => performance.now()): IoTimer {
  return {
    nowMs: hostNowMs,
    schedule: (delayMs, fn) => { clock.setTimer(clock.nowNs() + delayMs * 1e6, fn); },
  };
}

/** An IoTimer on host time (performance.now and setTimeout): for tools and tests without a machine clock. */
export const hostTimer: IoTimer = {
  nowMs: () => performance.now(),
  schedule: (delayMs, fn) => { setTimeout(fn, delayMs).unref(); },
};

export interface VirtioBlockOptions {
  name: string;
  disk: DiskBackend;
  /** Path or description of the image, for state checks and messages. */
  path: string;
  serial?: string;
  bytesPerSecond?: number;
  opsPerSecond?: number;
  timer?: IoTimer;
}

export class VirtioBlock implements VirtioDevice {
  readonly name: string;
  readonly deviceType = VIRTIO_ID_BLOCK;
  readonly features: bigint;
  readonly queueMaxSizes = [BLK_QUEUE_SIZE];
  readonly configBytes = BLK_CFG_BYTES;
  readonly pciClassCode = PCI_CLASS_STORAGE_OTHER;
  readonly metrics: BlockMetrics = newBlockMetrics();
  readonly disk: DiskBackend;
  private readonly path: string;
  private readonly cfg = new Uint8Array(BLK_CFG_BYTES);
  private readonly cfgView = new DataView(this.cfg.buffer);
  private readonly serial = new Uint8Array(VIRTIO_BLK_ID_BYTES);
  private readonly capacitySectors: number;
  private readonly chain = new DescriptorChain(BLK_QUEUE_SIZE);
  private readonly req = new BlockRequest();
  /** The request's data buffers as host addresses, for a back end with readvHost/writevHost. */
  private readonly iov = new HostIoVec();
  private readonly seg = new Float64Array(3);
  private readonly limiter: RateLimiter;
  private bytesPerSecond: number;
  private opsPerSecond: number;
  private readonly timer: IoTimer;
  private ctx: VirtioContext | undefined;
  /** Bumped on reset so that a pending rate-limit retry of an old session does nothing. */
  private epoch = 0;
  private retryScheduled = false;
  private readonly handle = (chain: DescriptorChain): number => this.execute(chain);

  constructor(o: VirtioBlockOptions) {
    this.name = o.name;
    this.disk = o.disk;
    this.path = o.path;
    this.timer = o.timer ?? hostTimer;
    this.bytesPerSecond = o.bytesPerSecond ?? 0;
    this.opsPerSecond = o.opsPerSecond ?? 0;
    this.limiter = new RateLimiter({ bytesPerSecond: this.bytesPerSecond, opsPerSecond: this.opsPerSecond }, this.timer.nowMs());
    this.capacitySectors = Math.floor(o.disk.sizeBytes / SECTOR_BYTES);
    const ro = o.disk.readOnly;
    let f = featureBit(VIRTIO_BLK_F_SIZE_MAX) | featureBit(VIRTIO_BLK_F_SEG_MAX) | featureBit(VIRTIO_BLK_F_BLK_SIZE) | featureBit(VIRTIO_BLK_F_FLUSH);
    f |= ro ? featureBit(VIRTIO_BLK_F_RO) : featureBit(VIRTIO_BLK_F_DISCARD) | featureBit(VIRTIO_BLK_F_WRITE_ZEROES);
    this.features = f;
    const v = this.cfgView;
    v.setBigUint64(BLK_CFG_CAPACITY, BigInt(this.capacitySectors), true);
    v.setUint32(BLK_CFG_SIZE_MAX, BLK_SIZE_MAX_BYTES, true);
    v.setUint32(BLK_CFG_SEG_MAX, BLK_SEG_MAX, true);
    v.setUint32(BLK_CFG_BLK_SIZE, SECTOR_BYTES, true);
    v.setUint16(BLK_CFG_NUM_QUEUES, 1, true);
    v.setUint32(BLK_CFG_MAX_DISCARD_SECTORS, BLK_MAX_DISCARD_SECTORS, true);
    v.setUint32(BLK_CFG_MAX_DISCARD_SEG, BLK_MAX_DISCARD_SEG, true);
    v.setUint32(BLK_CFG_DISCARD_SECTOR_ALIGNMENT, BLK_DISCARD_ALIGNMENT_SECTORS, true);
    v.setUint32(BLK_CFG_MAX_WRITE_ZEROES_SECTORS, BLK_MAX_DISCARD_SECTORS, true);
    v.setUint32(BLK_CFG_MAX_WRITE_ZEROES_SEG, BLK_MAX_DISCARD_SEG, true);
    v.setUint8(BLK_CFG_WRITE_ZEROES_MAY_UNMAP, 1);
    this.serial.set(new TextEncoder().encode((o.serial ?? '').slice(0, VIRTIO_BLK_ID_BYTES)));
  }

  readConfig(offset: number, size: 1 | 2 | 4): number {
    if (offset < 0 || offset + size > BLK_CFG_BYTES) return 0;
    return size === 1 ? this.cfgView.getUint8(offset) : size === 2 ? this.cfgView.getUint16(offset, true) : this.cfgView.getUint32(offset, true);
  }

  /** The configuration is read-only for us (no VIRTIO_BLK_F_CONFIG_WCE). */
  writeConfig(): void {}

  /** The limits now (0: unlimited). */
  get rateLimit(): { bytesPerSecond: number; opsPerSecond: number } {
    return { bytesPerSecond: this.bytesPerSecond, opsPerSecond: this.opsPerSecond };
  }

  /** Changes the rate limits at run time (issue 4 §3). */
  setRateLimit(bytesPerSecond: number, opsPerSecond: number): void {
    this.limiter.update({ bytesPerSecond, opsPerSecond }, this.timer.nowMs());
    this.bytesPerSecond = bytesPerSecond;
    this.opsPerSecond = opsPerSecond;
    // Requests held by the old limit go on at the next turn of the machine's clock (never now: the
    // machine may be paused), and a retry planned under the old limit is dropped.
    if (this.ctx !== undefined) {
      this.epoch++;
      this.retryScheduled = false;
      this.scheduleRetry(0);
    }
  }

  activate(ctx: VirtioContext): void {
    this.ctx = ctx;
    // Buffers made available before DRIVER_OK are served now.
    this.notify(0);
  }

  reset(): void {
    this.ctx = undefined;
    this.epoch++;
    this.retryScheduled = false;
  }

  notify(queueIndex: number): void {
    const ctx = this.ctx;
    if (ctx === undefined || queueIndex !== 0) return;
    processQueue(ctx, 0, this.chain, this.handle);
  }

  private scheduleRetry(waitMs: number): void {
    if (this.retryScheduled) return;
    this.retryScheduled = true;
    const epoch = this.epoch;
    this.timer.schedule(Math.max(1, waitMs), () => {
      if (epoch !== this.epoch) return;
      this.retryScheduled = false;
      try {
        this.notify(0);
      } catch (e) {
        this.ctx?.needsReset(e instanceof Error ? e.message : String(e));
      }
    });
  }

  /** Executes one chain; returns the bytes written into it (data and status), or DEFER_REQUEST. */
  private execute(chain: DescriptorChain): number {
    const ctx = this.ctx as VirtioContext;
    const mem = ctx.memory;
    const req = this.req;
    if (!req.parse(mem, chain)) {
      this.metrics.invalidRequests++;
      return 0;
    }
    if (!this.limiter.unlimited) {
      const bytes = req.type === VIRTIO_BLK_T_IN || req.type === VIRTIO_BLK_T_OUT ? req.dataBytes : 0;
      const now = this.timer.nowMs();
      if (!this.limiter.tryConsume(bytes, now)) {
        this.metrics.throttled++;
        this.scheduleRetry(this.limiter.waitMs(bytes, now));
        return DEFER_REQUEST;
      }
    }
    let written = 0;
    let status: number;
    try {
      switch (req.type) {
        case VIRTIO_BLK_T_IN: status = this.read(chain); if (status === VIRTIO_BLK_S_OK) written = req.dataBytes; break;
        case VIRTIO_BLK_T_OUT: status = this.write(chain); break;
        case VIRTIO_BLK_T_FLUSH: this.metrics.flushOps++; this.disk.flush(); status = VIRTIO_BLK_S_OK; break;
        case VIRTIO_BLK_T_GET_ID: status = this.getId(chain); if (status === VIRTIO_BLK_S_OK) written = req.dataBytes; break;
        case VIRTIO_BLK_T_DISCARD:
        case VIRTIO_BLK_T_WRITE_ZEROES: status = this.discardOrZero(chain); break;
        default: status = VIRTIO_BLK_S_UNSUPP;
      }
    } catch {
      // Back end failure (EIO, ENOSPC...): the guest sees an I/O error, the VMM carries on.
      status = VIRTIO_BLK_S_IOERR;
    }
    if (status === VIRTIO_BLK_S_IOERR) this.metrics.ioErrors++;
    else if (status === VIRTIO_BLK_S_UNSUPP) this.metrics.unsupported++;
    chain.writeU8(mem, chain.writableBytes - 1, status);
    return written + 1;
  }

  /** Checks a data transfer: whole sectors, inside the disk. */
  private inRange(sector: number, bytes: number): boolean {
    return sector >= 0 && bytes % SECTOR_BYTES === 0 && sector + bytes / SECTOR_BYTES <= this.capacitySectors;
  }

  private read(chain: DescriptorChain): number {
    const req = this.req;
    if (!this.inRange(req.sector, req.dataBytes)) return VIRTIO_BLK_S_IOERR;
    const at = req.sector * SECTOR_BYTES;
    // The data: the device-writable buffers up to the status byte.
    if (!(this.disk.readvHost !== undefined && this.hostBuffers(chain, chain.readableCount, chain.count, 0, true) && this.disk.readvHost(at, this.iov))) {
      const mem = (this.ctx as VirtioContext).memory;
      const dsts: Uint8Array[] = [];
      const n = this.dataBuffers(chain, chain.readableCount, chain.count, 0, (addr, len) => { dsts.push(mem.writableSlice(addr, len)); return true; });
      this.disk.readv(at, dsts, n);
    }
    this.metrics.readOps++;
    this.metrics.readBytes += req.dataBytes;
    return VIRTIO_BLK_S_OK;
  }

  private write(chain: DescriptorChain): number {
    const req = this.req;
    if (this.disk.readOnly || !this.inRange(req.sector, req.dataBytes)) return VIRTIO_BLK_S_IOERR;
    const at = req.sector * SECTOR_BYTES;
    // The data: the driver's buffers after the header.
    if (!(this.disk.writevHost !== undefined && this.hostBuffers(chain, 0, chain.readableCount, VIRTIO_BLK_HEADER_BYTES, false) && this.disk.writevHost(at, this.iov))) {
      const mem = (this.ctx as VirtioContext).memory;
      const srcs: Uint8Array[] = [];
      const n = this.dataBuffers(chain, 0, chain.readableCount, VIRTIO_BLK_HEADER_BYTES, (addr, len) => { srcs.push(mem.slice(addr, len)); return true; });
      this.disk.writev(at, srcs, n);
    }
    this.metrics.writeOps++;
    this.metrics.writeBytes += req.dataBytes;
    return VIRTIO_BLK_S_OK;
  }

  /**
   * Visits the data of descriptors [from, to) of the chain as (guest address, length) pieces:
   * `skip` bytes (the header) left out, at most the request's data bytes. Stops when `visit`
   * returns false; returns the bytes visited, or -1 when it stopped.
   */
  private dataBuffers(chain: DescriptorChain, from: number, to: number, skip: number, visit: (addr: number, len: number) => boolean): number {
    let left = this.req.dataBytes;
    for (let i = from; i < to && left > 0; i++) {
      const l = chain.len[i]!;
      if (skip >= l) { skip -= l; continue; }
      const n = Math.min(l - skip, left);
      if (!visit(chain.addr[i]! + skip, n)) return -1;
      left -= n;
      skip = 0;
    }
    return this.req.dataBytes - left;
  }

  /**
   * Fills `iov` with the host addresses of the request's data (dataBuffers), each range checked
   * by the guest memory. False when RAM has no host addresses or the buffers do not fit: the
   * views' path then.
   */
  private hostBuffers(chain: DescriptorChain, from: number, to: number, skip: number, write: boolean): boolean {
    const mem = (this.ctx as VirtioContext).memory;
    const iov = this.iov;
    iov.clear();
    return this.dataBuffers(chain, from, to, skip, (addr, len) => {
      const host = mem.hostRange(addr, len, write);
      return host !== null && iov.add(host, len);
    }) >= 0;
  }

  /** The ID string: 20 bytes, NUL-padded (§5.2.6.1); a smaller buffer gets what fits. */
  private getId(chain: DescriptorChain): number {
    this.metrics.getIdOps++;
    const n = Math.min(this.req.dataBytes, VIRTIO_BLK_ID_BYTES);
    chain.writeFrom((this.ctx as VirtioContext).memory, 0, this.serial.subarray(0, n));
    this.req.dataBytes = n;
    return VIRTIO_BLK_S_OK;
  }

  private discardOrZero(chain: DescriptorChain): number {
    const req = this.req;
    const zero = req.type === VIRTIO_BLK_T_WRITE_ZEROES;
    if (zero) this.metrics.writeZeroesOps++;
    else this.metrics.discardOps++;
    if (this.disk.readOnly) return VIRTIO_BLK_S_IOERR;
    const count = req.dataBytes / VIRTIO_BLK_DWZ_SEGMENT_BYTES;
    if (!Number.isInteger(count) || count < 1 || count > BLK_MAX_DISCARD_SEG) return VIRTIO_BLK_S_UNSUPP;
    const mem = (this.ctx as VirtioContext).memory;
    const seg = this.seg;
    // Validate every segment before touching the disk, so a bad one changes nothing (§5.2.6.2).
    for (let i = 0; i < count; i++) {
      if (!req.segment(mem, chain, i, seg)) return VIRTIO_BLK_S_IOERR;
      const flags = seg[2]!;
      if ((flags & ~(zero ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0)) !== 0) return VIRTIO_BLK_S_UNSUPP;
      if (seg[1]! > BLK_MAX_DISCARD_SECTORS || !this.inRange(seg[0]!, seg[1]! * SECTOR_BYTES)) return VIRTIO_BLK_S_IOERR;
    }
    for (let i = 0; i < count; i++) {
      req.segment(mem, chain, i, seg);
      const off = seg[0]! * SECTOR_BYTES;
      const len = seg[1]! * SECTOR_BYTES;
      if (zero) this.disk.writeZeroes(off, len, (seg[2]! & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) !== 0);
      else this.disk.discard(off, len);
    }
    return VIRTIO_BLK_S_OK;
  }

  private identity(): BlockState {
    return {
      version: 1, path: this.path, readOnly: this.disk.readOnly, capacitySectors: this.capacitySectors,
      serial: new TextDecoder().decode(this.serial).replace(/\0+$/, ''),
    };
  }

  saveDevice(): BlockState {
    return this.identity();
  }

  restoreDevice(state: unknown): void {
    checkBlockState(state, this.identity());
  }
}
