// virtio-console (virtio 1.2 §5.3) with a single port (no VIRTIO_CONSOLE_F_MULTIPORT): Linux
// binds it to hvc0. receiveq 0 carries host input to the guest, transmitq 1 guest output to the
// host. Output goes to a sink callback; input waits in a host-side queue until the guest posts
// receive buffers, so no byte is lost however slow the guest is (the queue is bounded, and a
// producer that outruns it is told so by pushInput's result).
// VIRTIO_CONSOLE_F_SIZE announces the window size; VIRTIO_CONSOLE_F_EMERG_WRITE lets the guest
// write one character through the configuration space before the queues are up (early printk).

import { DescriptorChain } from '../queue/descriptor-chain.js';
import { DEFER_REQUEST, featureBit, processQueue, VIRTIO_ID_CONSOLE, type VirtioContext, type VirtioDevice } from '../virtio-device.js';
import { newConsoleMetrics, type ConsoleMetrics } from './metrics.js';
import { checkConsoleState, type ConsoleState } from './persist.js';
import { ConsoleInputQueue } from './request.js';

/** Feature bits (§5.3.3). */
export const VIRTIO_CONSOLE_F_SIZE = 0;
export const VIRTIO_CONSOLE_F_MULTIPORT = 1;
export const VIRTIO_CONSOLE_F_EMERG_WRITE = 2;
/** struct virtio_console_config (§5.3.4). */
export const CONSOLE_CFG_COLS = 0;
export const CONSOLE_CFG_ROWS = 2;
export const CONSOLE_CFG_MAX_NR_PORTS = 4;
export const CONSOLE_CFG_EMERG_WR = 8;
export const CONSOLE_CFG_BYTES = 12;
export const CONSOLE_RX_QUEUE = 0;
export const CONSOLE_TX_QUEUE = 1;
export const CONSOLE_QUEUE_SIZE = 128;
/** Host input held for the guest at most (bytes); beyond it pushInput refuses. */
export const CONSOLE_INPUT_LIMIT_BYTES = 1 << 20;
/** PCI class 07.80.00: simple communication controller, other. */
const PCI_CLASS_COMMUNICATION_OTHER = 0x07_80_00;

export interface VirtioConsoleOptions {
  name?: string;
  /** Receives what the guest writes to hvc0 (the slice is only valid during the call). */
  output: (bytes: Uint8Array) => void;
  cols?: number;
  rows?: number;
}

export class VirtioConsole implements VirtioDevice {
  readonly name: string;
  readonly deviceType = VIRTIO_ID_CONSOLE;
  readonly features = featureBit(VIRTIO_CONSOLE_F_SIZE) | featureBit(VIRTIO_CONSOLE_F_EMERG_WRITE);
  readonly queueMaxSizes = [CONSOLE_QUEUE_SIZE, CONSOLE_QUEUE_SIZE];
  readonly configBytes = CONSOLE_CFG_BYTES;
  readonly pciClassCode = PCI_CLASS_COMMUNICATION_OTHER;
  readonly metrics: ConsoleMetrics = newConsoleMetrics();
  private readonly cfg = new Uint8Array(CONSOLE_CFG_BYTES);
  private readonly cfgView = new DataView(this.cfg.buffer);
  private readonly output: (bytes: Uint8Array) => void;
  private readonly input = new ConsoleInputQueue(CONSOLE_INPUT_LIMIT_BYTES);
  private readonly rxChain = new DescriptorChain(CONSOLE_QUEUE_SIZE);
  private readonly txChain = new DescriptorChain(CONSOLE_QUEUE_SIZE);
  private readonly txBuf = new Uint8Array(64 * 1024);
  private readonly oneByte = new Uint8Array(1);
  private ctx: VirtioContext | undefined;
  private readonly handleTx = (chain: DescriptorChain): number => this.transmit(chain);

  constructor(o: VirtioConsoleOptions) {
    this.name = o.name ?? 'console';
    this.output = o.output;
    this.cfgView.setUint16(CONSOLE_CFG_COLS, o.cols ?? 80, true);
    this.cfgView.setUint16(CONSOLE_CFG_ROWS, o.rows ?? 25, true);
    this.cfgView.setUint32(CONSOLE_CFG_MAX_NR_PORTS, 1, true);
  }

  /** Bytes of host input not yet delivered to the guest. */
  get pendingInputBytes(): number {
    return this.input.bytes;
  }

  /**
   * Queues host input (keyboard, a socket) for the guest and delivers what fits now. Returns
   * false, taking nothing, when the bounded queue cannot hold `bytes` (the caller keeps them and
   * retries: back-pressure instead of loss).
   */
  pushInput(bytes: Uint8Array): boolean {
    if (!this.input.push(bytes)) return false;
    this.flushInput();
    return true;
  }

  /** Window size change (F_SIZE): a configuration change interrupt tells the driver. */
  resize(cols: number, rows: number): void {
    this.cfgView.setUint16(CONSOLE_CFG_COLS, cols, true);
    this.cfgView.setUint16(CONSOLE_CFG_ROWS, rows, true);
    this.ctx?.configChanged();
  }

  readConfig(offset: number, size: 1 | 2 | 4): number {
    if (offset < 0 || offset + size > CONSOLE_CFG_BYTES) return 0;
    // emerg_wr is write-only; reads see 0 (we never stored anything there).
    if (size === 1) return this.cfg[offset]!;
    if (size === 2) return this.cfgView.getUint16(offset, true);
    return this.cfgView.getUint32(offset, true);
  }

  writeConfig(offset: number, size: 1 | 2 | 4, value: number): void {
    // §5.3.4: a write to emerg_wr outputs one character, also before DRIVER_OK.
    if (offset === CONSOLE_CFG_EMERG_WR && size === 4) {
      this.oneByte[0] = value & 0xff;
      this.metrics.emergencyWrites++;
      this.metrics.outputBytes++;
      this.output(this.oneByte);
    }
  }

  activate(ctx: VirtioContext): void {
    this.ctx = ctx;
    this.notify(CONSOLE_TX_QUEUE);
    this.flushInput();
  }

  /** Reset forgets the queues; host input not yet delivered stays for the next session. */
  reset(): void {
    this.ctx = undefined;
  }

  notify(queueIndex: number): void {
    const ctx = this.ctx;
    if (ctx === undefined) return;
    if (queueIndex === CONSOLE_TX_QUEUE) processQueue(ctx, CONSOLE_TX_QUEUE, this.txChain, this.handleTx);
    else if (queueIndex === CONSOLE_RX_QUEUE) this.flushInput();
  }

  /** Delivers queued input into the guest's receive buffers while both have some. */
  flushInput(): void {
    const ctx = this.ctx;
    if (ctx === undefined || this.input.bytes === 0) return;
    processQueue(ctx, CONSOLE_RX_QUEUE, this.rxChain, (chain) => {
      if (this.input.bytes === 0) return DEFER_REQUEST; // leave the buffer for later input
      if (chain.writableBytes === 0) {
        this.metrics.badRequests++;
        return 0;
      }
      const n = this.input.drainInto(ctx.memory, chain);
      this.metrics.inputBytes += n;
      return n;
    });
  }

  private transmit(chain: DescriptorChain): number {
    const ctx = this.ctx as VirtioContext;
    let off = 0;
    while (off < chain.readableBytes) {
      const n = Math.min(this.txBuf.byteLength, chain.readableBytes - off);
      const part = this.txBuf.subarray(0, n);
      chain.readInto(ctx.memory, off, part);
      this.output(part);
      off += n;
    }
    this.metrics.outputBytes += off;
    return 0;
  }

  saveDevice(): ConsoleState {
    return { version: 1, cols: this.cfgView.getUint16(CONSOLE_CFG_COLS, true), rows: this.cfgView.getUint16(CONSOLE_CFG_ROWS, true), pendingInput: this.input.save() };
  }

  restoreDevice(state: unknown): void {
    const s = checkConsoleState(state);
    this.cfgView.setUint16(CONSOLE_CFG_COLS, s.cols, true);
    this.cfgView.setUint16(CONSOLE_CFG_ROWS, s.rows, true);
    this.input.restore(s.pendingInput);
  }
}
