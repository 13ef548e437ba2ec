// A National Semiconductor PC16550D-compatible UART ("16550A"), as Linux's 8250 driver probes
// and drives it. Register numbers, bit names and interrupt rules follow the PC16550D datasheet
// (Table II "Summary of Registers", Table IV "Interrupt Control Functions"); constant names follow
// Linux's include/uapi/linux/serial_reg.h so that the driver and this model read alike.
//
// Transmission is instantaneous: a THR write reaches the host sink at once and the transmitter is
// empty again, so THRE/TEMT always read 1. That keeps console output cheap, and the 8250 driver
// copes because a real 16550A also re-raises THRE as soon as the shift register takes the byte.
//
// Host input goes to an unbounded queue and moves into the 16-byte receive FIFO only as room
// frees and only while the guest listens (receive interrupt enabled, loopback off): a byte typed
// before Linux opens the tty must survive the FIFO resets the driver does on open.

import type { IrqLine, PioDevice, Persistable } from '../../device.js';
import type { SerialMetrics } from './metrics.js';
import { checkSerialState, type SerialState } from './persist.js';

// Register offsets (datasheet Table II).
export const UART_RX = 0; // RBR, read, DLAB=0
export const UART_TX = 0; // THR, write, DLAB=0
export const UART_DLL = 0; // divisor latch LSB, DLAB=1
export const UART_IER = 1; // DLAB=0
export const UART_DLM = 1; // divisor latch MSB, DLAB=1
export const UART_IIR = 2; // read
export const UART_FCR = 2; // write
export const UART_LCR = 3;
export const UART_MCR = 4;
export const UART_LSR = 5;
export const UART_MSR = 6;
export const UART_SCR = 7;
/** Number of ports the UART decodes. */
export const UART_IO_LENGTH = 8;

// IER bits.
export const UART_IER_RDI = 0x01; // received data available (and character timeout with FIFOs)
export const UART_IER_THRI = 0x02; // transmitter holding register empty
export const UART_IER_RLSI = 0x04; // receiver line status
export const UART_IER_MSI = 0x08; // modem status
const UART_IER_MASK = 0x0f; // bits 4-7 are always 0 on a 16550A (Linux's XScale UUE probe relies on it)

// IIR values (datasheet Table IV), in priority order.
export const UART_IIR_NO_INT = 0x01;
export const UART_IIR_RLSI = 0x06;
export const UART_IIR_RDI = 0x04;
export const UART_IIR_RX_TIMEOUT = 0x0c;
export const UART_IIR_THRI = 0x02;
export const UART_IIR_MSI = 0x00;
/** IIR bits 6-7 both set when the FIFOs are enabled: how autoconfig tells a 16550A from a 16550/16450. */
export const UART_IIR_FIFO_ENABLED = 0xc0;

// FCR bits.
export const UART_FCR_ENABLE_FIFO = 0x01;
export const UART_FCR_CLEAR_RCVR = 0x02;
export const UART_FCR_CLEAR_XMIT = 0x04;
const UART_FCR_TRIGGER_SHIFT = 6;
/** Receive trigger levels selected by FCR bits 6-7 (datasheet Table III). */
const RX_TRIGGER_BYTES = [1, 4, 8, 14] as const;

export const UART_LCR_DLAB = 0x80;

// MCR bits.
export const UART_MCR_DTR = 0x01;
export const UART_MCR_RTS = 0x02;
export const UART_MCR_OUT1 = 0x04;
/** On PC boards OUT2 enables the UART's interrupt output onto the ISA IRQ line. */
export const UART_MCR_OUT2 = 0x08;
export const UART_MCR_LOOP = 0x10;
const UART_MCR_MASK = 0x1f;

// LSR bits.
export const UART_LSR_DR = 0x01;
export const UART_LSR_OE = 0x02;
export const UART_LSR_PE = 0x04;
export const UART_LSR_FE = 0x08;
export const UART_LSR_BI = 0x10;
export const UART_LSR_THRE = 0x20;
export const UART_LSR_TEMT = 0x40;
const UART_LSR_ERRORS = UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI;

// MSR bits.
export const UART_MSR_DCTS = 0x01;
export const UART_MSR_DDSR = 0x02;
export const UART_MSR_TERI = 0x04;
export const UART_MSR_DDCD = 0x08;
export const UART_MSR_CTS = 0x10;
export const UART_MSR_DSR = 0x20;
export const UART_MSR_RI = 0x40;
export const UART_MSR_DCD = 0x80;
const UART_MSR_DELTAS = 0x0f;
/** What the host side presents when not in loopback: a modem that is there and ready (CTS, DSR, DCD). */
const HOST_MODEM_LINES = UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD;

export const UART_FIFO_BYTES = 16;
/** Divisor a PC UART has after reset in our model (9600 baud from the 1.8432 MHz clock). */
const RESET_DIVISOR = 12;
const OUTPUT_BATCH_BYTES = 4096;

export interface SerialConfig {
  /** The UART's interrupt output (COM1: ISA IRQ 4). */
  irq: IrqLine;
  /** Receives what the guest transmits. Without batching, called once per byte. */
  onTransmit?: (bytes: Uint8Array) => void;
  /**
   * Collect output and hand it to `onTransmit` in chunks: when 4 KiB accumulate or when the
   * machine calls `flushOutput()` (e.g. at the end of each run slice). Default false.
   */
  batchOutput?: boolean;
  /**
   * Deliver host input even while the receive interrupt is disabled, for guests that poll LSR
   * (small test guests, boot loaders). Default false: input waits for IER.RDI, which keeps it
   * safe from the FIFO resets and RBR reads Linux does before it opens the tty.
   */
  deliverInputWhilePolled?: boolean;
}

export class Serial16550 implements PioDevice, Persistable<SerialState> {
  private readonly irq: IrqLine;
  private readonly onTransmit: ((bytes: Uint8Array) => void) | undefined;
  private readonly batchOutput: boolean;
  private readonly deliverInputWhilePolled: boolean;
  private readonly outBuf = new Uint8Array(OUTPUT_BATCH_BYTES);
  private outLen = 0;

  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private lsrErrors = 0;
  private msr = HOST_MODEM_LINES;
  private scr = 0;
  private dll = RESET_DIVISOR;
  private dlm = 0;
  private fifoEnabled = false;
  private rxTriggerBytes = 1;
  private readonly rxFifo = new Uint8Array(UART_FIFO_BYTES);
  /** Per FIFO slot: 1 if the byte came from host input (0: loopback). */
  private readonly rxFromHost = new Uint8Array(UART_FIFO_BYTES);
  private rxHead = 0;
  private rxCount = 0;
  private lastRbr = 0;
  private thrEmptyPending = false;
  private irqLevel = false;

  /** Host input waiting for FIFO room: chunks, the first one consumed from `inputOffset`. */
  private input: Uint8Array[] = [];
  private inputOffset = 0;
  private inputBytes = 0;

  private txBytes = 0;
  private rxBytes = 0;
  private overruns = 0;

  constructor(config: SerialConfig) {
    this.irq = config.irq;
    this.onTransmit = config.onTransmit;
    this.batchOutput = config.batchOutput ?? false;
    this.deliverInputWhilePolled = config.deliverInputWhilePolled ?? false;
  }

  /** Power-on / machine reset state (datasheet Table V "UART Reset Configuration"). Pending host input survives. */
  reset(): void {
    this.flushOutput();
    this.ier = 0;
    this.lcr = 0;
    this.mcr = 0;
    this.lsrErrors = 0;
    this.msr = HOST_MODEM_LINES;
    this.scr = 0;
    this.dll = RESET_DIVISOR;
    this.dlm = 0;
    this.fifoEnabled = false;
    this.rxTriggerBytes = 1;
    this.discardRxFifo();
    this.lastRbr = 0;
    this.thrEmptyPending = false;
    this.updateIrq();
  }

  // ---- host side ----

  /** Queues host input for the guest. Never drops bytes: the queue is unbounded. */
  enqueueInput(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.input.push(bytes.slice());
    this.inputBytes += bytes.length;
    this.pullInput();
    this.updateIrq();
  }

  /** Hands batched output to the sink (no-op when nothing is pending). */
  flushOutput(): void {
    if (this.outLen === 0) return;
    const chunk = this.outBuf.slice(0, this.outLen);
    this.outLen = 0;
    this.onTransmit?.(chunk);
  }

  metrics(): SerialMetrics {
    return { txBytes: this.txBytes, rxBytes: this.rxBytes, overruns: this.overruns, pendingInputBytes: this.inputBytes };
  }

  // ---- guest side ----

  pioRead(offset: number, size: 1 | 2 | 4): number {
    // Byte registers: a wider access reads the addressed register (the upper lanes float).
    const v = this.readRegister(offset);
    return size === 1 ? v : (v | (size === 2 ? 0xff00 : 0xffff_ff00)) >>> 0;
  }

  pioWrite(offset: number, _size: 1 | 2 | 4, value: number): void {
    this.writeRegister(offset, value & 0xff);
  }

  private readRegister(offset: number): number {
    switch (offset) {
      case UART_RX:
        if (this.lcr & UART_LCR_DLAB) return this.dll;
        return this.readRbr();
      case UART_IER:
        if (this.lcr & UART_LCR_DLAB) return this.dlm;
        return this.ier;
      case UART_IIR:
        return this.readIir();
      case UART_LCR:
        return this.lcr;
      case UART_MCR:
        return this.mcr;
      case UART_LSR: {
        const v = this.lsr();
        // Reading LSR clears the error bits and with them the line-status interrupt.
        if (this.lsrErrors !== 0) {
          this.lsrErrors = 0;
          this.updateIrq();
        }
        return v;
      }
      case UART_MSR: {
        const v = this.msr;
        if (v & UART_MSR_DELTAS) {
          this.msr = v & ~UART_MSR_DELTAS;
          this.updateIrq();
        }
        return v;
      }
      case UART_SCR:
        return this.scr;
      default:
        return 0xff;
    }
  }

  private writeRegister(offset: number, value: number): void {
    switch (offset) {
      case UART_TX:
        if (this.lcr & UART_LCR_DLAB) this.dll = value;
        else this.writeThr(value);
        return;
      case UART_IER:
        if (this.lcr & UART_LCR_DLAB) {
          this.dlm = value;
          return;
        }
        {
          const old = this.ier;
          this.ier = value & UART_IER_MASK;
          // Enabling THRI while the transmitter is empty raises THRE at once: the 8250 driver's
          // start_tx and its "THRE re-assert" startup test both depend on this.
          if (!(old & UART_IER_THRI) && this.ier & UART_IER_THRI) this.thrEmptyPending = true;
          this.pullInput();
          this.updateIrq();
        }
        return;
      case UART_FCR:
        this.writeFcr(value);
        return;
      case UART_LCR:
        this.lcr = value;
        return;
      case UART_MCR:
        this.writeMcr(value & UART_MCR_MASK);
        return;
      case UART_LSR:
        // LSR is read-only in normal use (factory test only).
        return;
      case UART_MSR:
        return;
      case UART_SCR:
        this.scr = value;
        return;
    }
  }

  private lsr(): number {
    let v = UART_LSR_THRE | UART_LSR_TEMT | this.lsrErrors;
    if (this.rxCount > 0) v |= UART_LSR_DR;
    return v;
  }

  private readRbr(): number {
    if (this.rxCount > 0) {
      this.lastRbr = this.rxFifo[this.rxHead] ?? 0;
      this.rxHead = (this.rxHead + 1) & (UART_FIFO_BYTES - 1);
      this.rxCount--;
      this.pullInput();
      this.updateIrq();
    }
    return this.lastRbr;
  }

  private readIir(): number {
    const id = this.pendingInterrupt();
    if (id === UART_IIR_THRI) {
      // Datasheet Table IV: reading IIR when THRE is the source resets that interrupt.
      this.thrEmptyPending = false;
      this.updateIrq();
    }
    return id | (this.fifoEnabled ? UART_IIR_FIFO_ENABLED : 0);
  }

  private writeThr(value: number): void {
    if (this.mcr & UART_MCR_LOOP) {
      // Loopback: the transmitter output is wired to the receiver input (datasheet, MCR bit 4).
      this.receive(value);
    } else {
      this.txBytes++;
      if (this.batchOutput) {
        this.outBuf[this.outLen++] = value;
        if (this.outLen === OUTPUT_BATCH_BYTES) this.flushOutput();
      } else if (this.onTransmit !== undefined) {
        this.onTransmit(Uint8Array.of(value));
      }
    }
    // The byte left at once, so THR is empty again: THRE re-arms.
    this.thrEmptyPending = true;
    this.updateIrq();
  }

  private writeFcr(value: number): void {
    const enable = (value & UART_FCR_ENABLE_FIFO) !== 0;
    if (enable !== this.fifoEnabled) {
      // Changing FCR0 clears both FIFOs (datasheet, FCR bit 0).
      this.fifoEnabled = enable;
      this.discardRxFifo();
    }
    // The other FCR bits only take when FCR0 is set in the same write.
    if (enable) {
      if (value & UART_FCR_CLEAR_RCVR) this.discardRxFifo();
      // CLEAR_XMIT: the transmit FIFO is always empty here.
      this.rxTriggerBytes = RX_TRIGGER_BYTES[(value >> UART_FCR_TRIGGER_SHIFT) & 3] ?? 1;
    } else {
      this.rxTriggerBytes = 1;
    }
    this.pullInput();
    this.updateIrq();
  }

  private writeMcr(value: number): void {
    this.mcr = value;
    let lines: number;
    if (value & UART_MCR_LOOP) {
      // Loopback wires the modem outputs to the inputs: RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD.
      lines =
        (value & UART_MCR_RTS ? UART_MSR_CTS : 0) |
        (value & UART_MCR_DTR ? UART_MSR_DSR : 0) |
        (value & UART_MCR_OUT1 ? UART_MSR_RI : 0) |
        (value & UART_MCR_OUT2 ? UART_MSR_DCD : 0);
    } else {
      lines = HOST_MODEM_LINES;
    }
    this.setModemLines(lines);
    this.pullInput();
    this.updateIrq();
  }

  private setModemLines(lines: number): void {
    const old = this.msr;
    const changed = (old ^ lines) & 0xf0;
    let deltas = old & UART_MSR_DELTAS;
    if (changed & UART_MSR_CTS) deltas |= UART_MSR_DCTS;
    if (changed & UART_MSR_DSR) deltas |= UART_MSR_DDSR;
    if (changed & UART_MSR_DCD) deltas |= UART_MSR_DDCD;
    // TERI flags the trailing edge of RI only (RI went from on to off).
    if (changed & UART_MSR_RI && old & UART_MSR_RI) deltas |= UART_MSR_TERI;
    this.msr = lines | deltas;
  }

  /** A character arrives at the receiver (from loopback). */
  private receive(value: number): void {
    const capacity = this.fifoEnabled ? UART_FIFO_BYTES : 1;
    if (this.rxCount < capacity) {
      const slot = (this.rxHead + this.rxCount) & (UART_FIFO_BYTES - 1);
      this.rxFifo[slot] = value;
      this.rxFromHost[slot] = 0;
      this.rxCount++;
      return;
    }
    this.overruns++;
    this.lsrErrors |= UART_LSR_OE;
    if (!this.fifoEnabled) {
      // 16450 mode: the new character overwrites the unread one (datasheet, LSR bit 1).
      this.rxFifo[this.rxHead] = value;
      this.rxFromHost[this.rxHead] = 0;
    }
    // FIFO mode: the character in the shift register is lost; the FIFO keeps its contents.
  }

  /**
   * Empties the receive FIFO (FIFO reset, FIFO enable change, machine reset). Host bytes the
   * guest never read go back to the front of the host queue: Linux resets the FIFOs whenever the
   * tty is opened or closed, and console input must not vanish in that window.
   */
  private discardRxFifo(): void {
    let returned = 0;
    for (let i = 0; i < this.rxCount; i++) if (this.rxFromHost[(this.rxHead + i) & (UART_FIFO_BYTES - 1)]) returned++;
    if (returned > 0) {
      const back = new Uint8Array(returned);
      let at = 0;
      for (let i = 0; i < this.rxCount; i++) {
        const slot = (this.rxHead + i) & (UART_FIFO_BYTES - 1);
        if (this.rxFromHost[slot]) back[at++] = this.rxFifo[slot] ?? 0;
      }
      if (this.inputOffset > 0) {
        const first = this.input[0] as Uint8Array;
        this.input[0] = first.subarray(this.inputOffset);
        this.inputOffset = 0;
      }
      this.input.unshift(back);
      this.inputBytes += returned;
      this.rxBytes -= returned;
    }
    this.rxHead = 0;
    this.rxCount = 0;
  }

  /** Moves queued host input into the receive FIFO while the guest listens and there is room. */
  private pullInput(): void {
    if (this.inputBytes === 0) return;
    if (this.mcr & UART_MCR_LOOP) return;
    if (!(this.ier & UART_IER_RDI) && !this.deliverInputWhilePolled) return;
    const capacity = this.fifoEnabled ? UART_FIFO_BYTES : 1;
    while (this.rxCount < capacity && this.inputBytes > 0) {
      const chunk = this.input[0] as Uint8Array;
      const slot = (this.rxHead + this.rxCount) & (UART_FIFO_BYTES - 1);
      this.rxFifo[slot] = chunk[this.inputOffset++] ?? 0;
      this.rxFromHost[slot] = 1;
      this.rxCount++;
      this.inputBytes--;
      this.rxBytes++;
      if (this.inputOffset === chunk.length) {
        this.input.shift();
        this.inputOffset = 0;
      }
    }
  }

  /** The highest-priority enabled interrupt condition, as an IIR value (without FIFO bits). */
  private pendingInterrupt(): number {
    const ier = this.ier;
    if (ier & UART_IER_RLSI && this.lsrErrors !== 0) return UART_IIR_RLSI;
    if (ier & UART_IER_RDI && this.rxCount > 0) {
      // Below the trigger level a 16550A reports a character timeout after four idle character
      // times; we report it at once (the driver handles both the same way: drain while DR).
      return this.rxCount >= this.rxTriggerBytes ? UART_IIR_RDI : UART_IIR_RX_TIMEOUT;
    }
    if (ier & UART_IER_THRI && this.thrEmptyPending) return UART_IIR_THRI;
    if (ier & UART_IER_MSI && this.msr & UART_MSR_DELTAS) return UART_IIR_MSI;
    return UART_IIR_NO_INT;
  }

  /**
   * Drives the IRQ line: high while an enabled condition is pending and OUT2 gates the output
   * onto the bus (PC wiring; in loopback OUT2 is disconnected from its pin, so the line is quiet).
   */
  private updateIrq(): void {
    const level = (this.mcr & (UART_MCR_OUT2 | UART_MCR_LOOP)) === UART_MCR_OUT2 && this.pendingInterrupt() !== UART_IIR_NO_INT;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.set(level);
    }
  }

  // ---- persistence ----

  save(): SerialState {
    this.flushOutput();
    const rxFifo: number[] = [];
    const rxFifoFromHost: boolean[] = [];
    for (let i = 0; i < this.rxCount; i++) {
      const slot = (this.rxHead + i) & (UART_FIFO_BYTES - 1);
      rxFifo.push(this.rxFifo[slot] ?? 0);
      rxFifoFromHost.push(this.rxFromHost[slot] === 1);
    }
    const pending = new Uint8Array(this.inputBytes);
    let at = 0;
    for (let i = 0; i < this.input.length; i++) {
      const chunk = this.input[i] as Uint8Array;
      const part = i === 0 ? chunk.subarray(this.inputOffset) : chunk;
      pending.set(part, at);
      at += part.length;
    }
    return {
      version: 1,
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      lsrErrors: this.lsrErrors,
      msr: this.msr,
      scr: this.scr,
      dll: this.dll,
      dlm: this.dlm,
      fifoEnabled: this.fifoEnabled,
      rxTriggerBytes: this.rxTriggerBytes,
      rxFifo,
      rxFifoFromHost,
      lastRbr: this.lastRbr,
      thrEmptyPending: this.thrEmptyPending,
      pendingInput: Buffer.from(pending).toString('base64'),
    };
  }

  restore(state: SerialState): void {
    checkSerialState(state);
    this.ier = state.ier & UART_IER_MASK;
    this.lcr = state.lcr & 0xff;
    this.mcr = state.mcr & UART_MCR_MASK;
    this.lsrErrors = state.lsrErrors & UART_LSR_ERRORS;
    this.msr = state.msr & 0xff;
    this.scr = state.scr & 0xff;
    this.dll = state.dll & 0xff;
    this.dlm = state.dlm & 0xff;
    this.fifoEnabled = state.fifoEnabled;
    this.rxTriggerBytes = state.rxTriggerBytes;
    this.rxHead = 0;
    this.rxCount = state.rxFifo.length;
    state.rxFifo.forEach((b, i) => {
      this.rxFifo[i] = b & 0xff;
      this.rxFromHost[i] = state.rxFifoFromHost[i] === true ? 1 : 0;
    });
    this.lastRbr = state.lastRbr & 0xff;
    this.thrEmptyPending = state.thrEmptyPending;
    const pending = new Uint8Array(Buffer.from(state.pendingInput, 'base64'));
    this.input = pending.length > 0 ? [pending] : [];
    this.inputOffset = 0;
    this.inputBytes = pending.length;
    // Re-drive the line from the restored state: the interrupt controller restores its own side.
    this.irqLevel = (this.mcr & (UART_MCR_OUT2 | UART_MCR_LOOP)) === UART_MCR_OUT2 && this.pendingInterrupt() !== UART_IIR_NO_INT;
    this.irq.set(this.irqLevel);
  }
}
