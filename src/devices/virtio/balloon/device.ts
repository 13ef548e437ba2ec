// virtio-balloon, the traditional memory balloon (virtio 1.2 §5.5). The management plane sets a
// target with setTarget(pages); the guest inflates (gives 4 KiB pages, by PFN) or deflates (takes
// them back) and reports `actual` in the configuration. Inflated pages and pages the guest reports
// free (VIRTIO_BALLOON_F_PAGE_REPORTING) are handed to `releasePages(gpa, bytes)`, which on the
// real machine is madvise(MADV_REMOVE) on the memfd-backed RAM: the host memory is really freed,
// and the guest reads zeroes if it touches the page again. The device does not know about mmap.
//
// Every PFN is checked against guest RAM before release (a hostile PFN is counted and ignored:
// nothing outside guest RAM is ever released), and a bitmap of ballooned pages keeps repeated
// PFNs from being counted twice.
//
// Queues (§5.5.2): inflateq 0, deflateq 1, statsq 2 (with STATS_VQ), then reporting_vq. Linux
// numbers only the queues whose feature was negotiated, so reporting_vq is 2 without STATS_VQ;
// the device maps indices after negotiation.

import { DescriptorChain } from '../queue/descriptor-chain.js';
import { featureBit, processQueue, VIRTIO_ID_BALLOON, type VirtioContext, type VirtioDevice } from '../virtio-device.js';
import { newBalloonMetrics, type BalloonMetrics } from './metrics.js';
import { checkBalloonState, type BalloonState } from './persist.js';
import { BALLOON_PAGE_BYTES, BALLOON_STAT_BYTES, parseStats, type BalloonStats } from './request.js';
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { POP_EMPTY, POP_OK } from '../queue/virtqueue.js';
import { chainErrorName } from '../queue/descriptor-chain.js';

/** Feature bits (§5.5.3). */
export const VIRTIO_BALLOON_F_MUST_TELL_HOST = 0;
export const VIRTIO_BALLOON_F_STATS_VQ = 1;
export const VIRTIO_BALLOON_F_DEFLATE_ON_OOM = 2;
export const VIRTIO_BALLOON_F_FREE_PAGE_HINT = 3;
export const VIRTIO_BALLOON_F_PAGE_POISON = 4;
export const VIRTIO_BALLOON_F_PAGE_REPORTING = 5;
/** struct virtio_balloon_config (§5.5.4). */
export const BALLOON_CFG_NUM_PAGES = 0;
export const BALLOON_CFG_ACTUAL = 4;
export const BALLOON_CFG_FREE_PAGE_HINT_CMD_ID = 8;
export const BALLOON_CFG_POISON_VAL = 12;
export const BALLOON_CFG_BYTES = 16;

export const BALLOON_INFLATE_QUEUE = 0;
export const BALLOON_DEFLATE_QUEUE = 1;
export const BALLOON_QUEUE_SIZE = 128;
/** PFNs read from guest memory per piece. */
const PFN_SCRATCH_BYTES = 1024;
/** PCI class ff.00.00 (other): there is no class for balloons. */
const PCI_CLASS_OTHERS = 0xff_00_00;

export interface VirtioBalloonOptions {
  name?: string;
  /** Gives [gpa, gpa + bytes) back to the host (always inside one RAM region, page-aligned). */
  releasePages: (gpa: number, bytes: number) => void;
  /** Offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM: the guest may deflate under memory pressure (default true). */
  deflateOnOom?: boolean;
  /** Offer VIRTIO_BALLOON_F_STATS_VQ (default true). */
  stats?: boolean;
  /** Offer VIRTIO_BALLOON_F_PAGE_REPORTING (default true). */
  freePageReporting?: boolean;
  /** Called when the guest sent new statistics. */
  onStats?: (stats: BalloonStats) => void;
}

export class VirtioBalloon implements VirtioDevice {
  readonly name: string;
  readonly deviceType = VIRTIO_ID_BALLOON;
  readonly features: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configBytes = BALLOON_CFG_BYTES;
  readonly pciClassCode = PCI_CLASS_OTHERS;
  readonly metrics: BalloonMetrics = newBalloonMetrics();
  /** The last statistics the guest sent ({} before the first). */
  stats: BalloonStats = {};
  private readonly cfg = new Uint8Array(BALLOON_CFG_BYTES);
  private readonly cfgView = new DataView(this.cfg.buffer);
  private readonly releasePages: (gpa: number, bytes: number) => void;
  private readonly onStats: ((stats: BalloonStats) => void) | undefined;
  private readonly chain = new DescriptorChain(BALLOON_QUEUE_SIZE);
  private readonly scratch = new Uint8Array(PFN_SCRATCH_BYTES);
  private readonly scratchView = new DataView(this.scratch.buffer);
  private readonly statScratch = new Uint8Array(BALLOON_STAT_BYTES);
  /** Bit n: page n is in the balloon. Sized on activation from guest RAM. */
  private inflated = new Uint8Array(0);
  private ctx: VirtioContext | undefined;
  private statsQueue = -1;
  private reportingQueue = -1;
  /** Head of the stats buffer the device holds until it wants fresh statistics (-1: none). */
  private statsHead = -1;
  /** Run of contiguous pages waiting to be released together. */
  private runGpa = 0;
  private runBytes = 0;
  private readonly handleInflate = (chain: DescriptorChain): number => this.pfns(chain, true);
  private readonly handleDeflate = (chain: DescriptorChain): number => this.pfns(chain, false);
  private readonly handleReport = (chain: DescriptorChain): number => this.report(chain);

  constructor(o: VirtioBalloonOptions) {
    this.name = o.name ?? 'balloon';
    this.releasePages = o.releasePages;
    this.onStats = o.onStats;
    let f = 0n;
    const queues = [BALLOON_QUEUE_SIZE, BALLOON_QUEUE_SIZE];
    if (o.stats ?? true) {
      f |= featureBit(VIRTIO_BALLOON_F_STATS_VQ);
      queues.push(BALLOON_QUEUE_SIZE);
    }
    if (o.deflateOnOom ?? true) f |= featureBit(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
    if (o.freePageReporting ?? true) {
      f |= featureBit(VIRTIO_BALLOON_F_PAGE_REPORTING);
      queues.push(BALLOON_QUEUE_SIZE);
    }
    this.features = f;
    this.queueMaxSizes = queues;
  }

  /** Pages the host asked for (num_pages). */
  get targetPages(): number {
    return this.cfgView.getUint32(BALLOON_CFG_NUM_PAGES, true);
  }

  /** Pages the guest says are in the balloon (actual). */
  get actualPages(): number {
    return this.cfgView.getUint32(BALLOON_CFG_ACTUAL, true);
  }

  /** Pages actually in the balloon by our own count (distinct valid PFNs inflated, not deflated). */
  get balloonedPages(): number {
    return this.metrics.inflatedPages - this.metrics.deflatedPages;
  }

  /** The management plane's request: the guest should give `pages` 4 KiB pages (a config interrupt tells it). */
  setTarget(pages: number): void {
    if (!Number.isSafeInteger(pages) || pages < 0 || pages > 0xffff_ffff) throw new RangeError(`Invalid balloon target ${pages} pages`);
    this.cfgView.setUint32(BALLOON_CFG_NUM_PAGES, pages, true);
    this.ctx?.configChanged();
  }

  /** Asks the guest for fresh statistics: returns the held stats buffer; the guest refills it. */
  requestStats(): boolean {
    const ctx = this.ctx;
    if (ctx === undefined || this.statsHead < 0) return false;
    const q = ctx.queues[this.statsQueue];
    if (q === undefined || !q.activated) return false;
    q.addUsed(this.statsHead, 0);
    this.statsHead = -1;
    ctx.signalUsed(this.statsQueue);
    return true;
  }

  readConfig(offset: number, size: 1 | 2 | 4): number {
    if (offset < 0 || offset + size > BALLOON_CFG_BYTES) return 0;
    if (size === 1) return this.cfg[offset]!;
    if (size === 2) return this.cfgView.getUint16(offset, true);
    return this.cfgView.getUint32(offset, true);
  }

  /** The driver writes `actual` (and poison_val with PAGE_POISON, not offered); num_pages is the host's. */
  writeConfig(offset: number, size: 1 | 2 | 4, value: number): void {
    if (offset < BALLOON_CFG_ACTUAL || offset + size > BALLOON_CFG_ACTUAL + 4) return;
    if (size === 4) this.cfgView.setUint32(offset, value >>> 0, true);
    else if (size === 2) this.cfgView.setUint16(offset, value & 0xffff, true);
    else this.cfg[offset] = value & 0xff;
  }

  activate(ctx: VirtioContext): void {
    this.ctx = ctx;
    const has = (bit: number): boolean => (ctx.features & featureBit(bit)) !== 0n;
    let next = 2;
    this.statsQueue = has(VIRTIO_BALLOON_F_STATS_VQ) ? next++ : -1;
    this.reportingQueue = has(VIRTIO_BALLOON_F_PAGE_REPORTING) ? next++ : -1;
    this.statsHead = -1;
    const pages = Math.ceil(ramEnd(ctx.memory) / BALLOON_PAGE_BYTES);
    if (this.inflated.byteLength * 8 < pages) {
      const bigger = new Uint8Array(Math.ceil(pages / 8));
      bigger.set(this.inflated);
      this.inflated = bigger;
    }
    for (let i = 0; i < ctx.queues.length; i++) this.notify(i);
  }

  /**
   * Reset: queues go away; the pages stay released (the guest's new driver starts from an empty
   * balloon and will simply touch them again: memfd pages come back zeroed on demand).
   */
  reset(): void {
    this.ctx = undefined;
    this.statsHead = -1;
    this.inflated.fill(0);
    this.metrics.inflatedPages = this.metrics.deflatedPages = 0;
    this.cfgView.setUint32(BALLOON_CFG_ACTUAL, 0, true);
  }

  notify(queueIndex: number): void {
    const ctx = this.ctx;
    if (ctx === undefined) return;
    if (queueIndex === BALLOON_INFLATE_QUEUE) processQueue(ctx, queueIndex, this.chain, this.handleInflate);
    else if (queueIndex === BALLOON_DEFLATE_QUEUE) processQueue(ctx, queueIndex, this.chain, this.handleDeflate);
    else if (queueIndex === this.reportingQueue) processQueue(ctx, queueIndex, this.chain, this.handleReport);
    else if (queueIndex === this.statsQueue) this.takeStats(ctx);
  }

  /** Inflate or deflate the pages listed in the chain; returns 0 (nothing written). */
  private pfns(chain: DescriptorChain, inflate: boolean): number {
    const mem = (this.ctx as VirtioContext).memory;
    const total = Math.floor(chain.readableBytes / 4);
    const per = PFN_SCRATCH_BYTES / 4;
    for (let done = 0; done < total;) {
      const n = Math.min(per, total - done);
      chain.readInto(mem, done * 4, this.scratch.subarray(0, n * 4));
      for (let i = 0; i < n; i++) {
        const pfn = this.scratchView.getUint32(i * 4, true);
        if (inflate) this.inflatePage(mem, pfn);
        else this.deflatePage(mem, pfn);
      }
      done += n;
    }
    this.flushRun();
    return 0;
  }

  private inflatePage(mem: GuestMemory, pfn: number): void {
    const gpa = pfn * BALLOON_PAGE_BYTES;
    const byte = pfn >>> 3;
    const bit = 1 << (pfn & 7);
    if (byte >= this.inflated.byteLength || (this.inflated[byte]! & bit) !== 0 || !mem.isRange(gpa, BALLOON_PAGE_BYTES)) {
      this.metrics.rejectedPfns++;
      return;
    }
    this.inflated[byte]! |= bit;
    this.metrics.inflatedPages++;
    if (this.runBytes > 0 && this.runGpa + this.runBytes === gpa && mem.isRange(this.runGpa, this.runBytes + BALLOON_PAGE_BYTES)) {
      this.runBytes += BALLOON_PAGE_BYTES;
      return;
    }
    this.flushRun();
    this.runGpa = gpa;
    this.runBytes = BALLOON_PAGE_BYTES;
  }

  private deflatePage(mem: GuestMemory, pfn: number): void {
    const byte = pfn >>> 3;
    const bit = 1 << (pfn & 7);
    void mem;
    if (byte >= this.inflated.byteLength || (this.inflated[byte]! & bit) === 0) {
      this.metrics.rejectedPfns++;
      return;
    }
    // Nothing to do on the host: the page was released and faults back in, zeroed, on use.
    this.inflated[byte]! &= ~bit;
    this.metrics.deflatedPages++;
  }

  private flushRun(): void {
    if (this.runBytes === 0) return;
    this.releasePages(this.runGpa, this.runBytes);
    this.metrics.releasedBytes += this.runBytes;
    this.runBytes = 0;
  }

  /**
   * Free page reporting (§5.5.6.7): each buffer is a range of free guest memory, released now
   * and given back. The ring walk already placed every segment inside RAM; only the whole pages
   * inside it are released.
   */
  private report(chain: DescriptorChain): number {
    const mem = (this.ctx as VirtioContext).memory;
    for (let i = 0; i < chain.count; i++) {
      const start = Math.ceil(chain.addr[i]! / BALLOON_PAGE_BYTES) * BALLOON_PAGE_BYTES;
      const end = Math.floor((chain.addr[i]! + chain.len[i]!) / BALLOON_PAGE_BYTES) * BALLOON_PAGE_BYTES;
      if (end <= start || !mem.isRange(start, end - start)) continue;
      this.releasePages(start, end - start);
      this.metrics.releasedBytes += end - start;
      this.metrics.reportedBytes += end - start;
    }
    return 0;
  }

  /** Takes the guest's stats buffer, parses it, and holds it until requestStats(). */
  private takeStats(ctx: VirtioContext): void {
    const q = ctx.queues[this.statsQueue];
    if (q === undefined || !q.activated) return;
    for (;;) {
      const r = q.pop(this.chain);
      if (r === POP_EMPTY) {
        if (q.enableNotification()) continue;
        return;
      }
      if (r !== POP_OK) {
        ctx.needsReset(`${this.name}: stats queue: ${chainErrorName(r)}`);
        return;
      }
      // A driver that sends again while we hold a buffer: give the older one back.
      if (this.statsHead >= 0) {
        q.addUsed(this.statsHead, 0);
        ctx.signalUsed(this.statsQueue);
      }
      this.statsHead = this.chain.head;
      this.stats = parseStats(ctx.memory, this.chain, this.statScratch);
      this.metrics.statsUpdates++;
      this.onStats?.(this.stats);
    }
  }

  saveDevice(): BalloonState {
    return { version: 1, targetPages: this.targetPages, actualPages: this.actualPages, inflated: Buffer.from(this.inflated).toString('base64') };
  }

  restoreDevice(state: unknown): void {
    const s = checkBalloonState(state);
    this.cfgView.setUint32(BALLOON_CFG_NUM_PAGES, s.targetPages >>> 0, true);
    this.cfgView.setUint32(BALLOON_CFG_ACTUAL, s.actualPages >>> 0, true);
    this.inflated = new Uint8Array(Buffer.from(s.inflated, 'base64'));
    let n = 0;
    for (const b of this.inflated) for (let x = b; x !== 0; x &= x - 1) n++;
    this.metrics.inflatedPages = n;
    this.metrics.deflatedPages = 0;
  }
}

/** One past the highest guest-physical RAM address. */
function ramEnd(mem: GuestMemory): number {
  let end = 0;
  for (const r of mem.regions) end = Math.max(end, r.gpa + r.sizeBytes);
  return end;
}
