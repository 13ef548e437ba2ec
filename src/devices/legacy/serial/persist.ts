// The persisted shape of the 16550A (shared/STYLE.md habit 2): plain JSON data, versioned.

import { TshvError } from '../../../common/errors.js';

export interface SerialState {
  version: 1;
  /** Interrupt enable register, bits 0-3. */
  ier: number;
  lcr: number;
  mcr: number;
  /** Sticky line-status error bits (OE, PE, FE, BI); DR/THRE/TEMT are derived. */
  lsrErrors: number;
  /** Modem status register including the delta bits. */
  msr: number;
  scr: number;
  dll: number;
  dlm: number;
  fifoEnabled: boolean;
  /** Receive trigger level in bytes (1, 4, 8 or 14). */
  rxTriggerBytes: number;
  /** Receive FIFO contents, oldest first. */
  rxFifo: number[];
  /** Per receive FIFO byte: it came from host input (true) or from loopback (false). */
  rxFifoFromHost: boolean[];
  /** Last byte read from RBR (what an empty RBR reads back). */
  lastRbr: number;
  /** THRE interrupt condition not yet cleared by an IIR read or a THR write. */
  thrEmptyPending: boolean;
  /** Host input not yet moved into the receive FIFO, base64. */
  pendingInput: string;
}

export function checkSerialState(state: SerialState): void {
  if (state.version !== 1) {
    throw new TshvError(`Cannot restore serial port state: version ${String(state.version)} is not supported (expected 1)`);
  }
  if (state.rxFifoFromHost.length !== state.rxFifo.length) {
    throw new TshvError('Cannot restore serial port state: rxFifo and rxFifoFromHost differ in length');
  }
  if (state.rxFifo.length > 16) {
    throw new TshvError(`Cannot restore serial port state: receive FIFO holds ${state.rxFifo.length} bytes, more than 16`);
  }
}
