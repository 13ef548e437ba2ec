// Enough of the Intel 8042 keyboard controller for Linux's i8042 probe and for reset, with no
// keyboard or mouse behind it. Command and bit names follow Linux's drivers/input/serio/i8042.h,
// whose sequences (self test, CTR read/write, AUX loopback, AUX IRQ test) this model answers.
//
// Bytes sent to the absent devices are answered at once with 0xFE and the TIMEOUT status bit,
// what a controller reports when no device clocks the byte in: atkbd and psmouse then give up
// on their first command instead of waiting out their ACK timeouts.
//
// Data port 0x60 and command/status port 0x64 are not contiguous (0x61 is the PIT helper's), so
// the controller exposes one PioDevice per port: register `dataPort` and `commandPort`.

import type { IrqLine, PioDevice, Persistable } from '../../device.js';
import { checkI8042State, type I8042State } from './persist.js';

// Status register bits (port 0x64 read).
export const I8042_STR_OBF = 0x01;
export const I8042_STR_IBF = 0x02;
export const I8042_STR_SYSFLAG = 0x04;
export const I8042_STR_CMDDAT = 0x08;
export const I8042_STR_KEYLOCK = 0x10; // 1 = keyboard not inhibited
export const I8042_STR_AUXDATA = 0x20;
export const I8042_STR_TIMEOUT = 0x40;
export const I8042_STR_PARITY = 0x80;

// Controller command byte ("CTR") bits.
export const I8042_CTR_KBDINT = 0x01;
export const I8042_CTR_AUXINT = 0x02;
export const I8042_CTR_SYSFLAG = 0x04;
export const I8042_CTR_IGNKEYLOCK = 0x08;
export const I8042_CTR_KBDDIS = 0x10;
export const I8042_CTR_AUXDIS = 0x20;
export const I8042_CTR_XLATE = 0x40;

// Controller commands (port 0x64 write).
export const I8042_CMD_CTL_RCTR = 0x20;
export const I8042_CMD_CTL_WCTR = 0x60;
export const I8042_CMD_AUX_DISABLE = 0xa7;
export const I8042_CMD_AUX_ENABLE = 0xa8;
export const I8042_CMD_AUX_TEST = 0xa9;
export const I8042_CMD_CTL_TEST = 0xaa;
export const I8042_CMD_KBD_TEST = 0xab;
export const I8042_CMD_KBD_DISABLE = 0xad;
export const I8042_CMD_KBD_ENABLE = 0xae;
export const I8042_CMD_READ_INPUT = 0xc0;
export const I8042_CMD_READ_OUTPUT = 0xd0;
export const I8042_CMD_WRITE_OUTPUT = 0xd1;
export const I8042_CMD_KBD_LOOP = 0xd2;
export const I8042_CMD_AUX_LOOP = 0xd3;
export const I8042_CMD_AUX_SEND = 0xd4;
export const I8042_CMD_READ_TEST = 0xe0;
/** 0xF0-0xFF pulse output-port bits 0-3 low for each 0 in the command's low nibble; bit 0 is CPU reset. */
export const I8042_CMD_PULSE_BASE = 0xf0;
export const I8042_CMD_PULSE_RESET = 0xfe;

/** Self-test pass value; interface test pass value. */
export const I8042_RET_CTL_TEST = 0x55;
const I8042_RET_IFACE_OK = 0x00;
/** What the controller returns for a byte no device took (PS/2 NAK/"resend"). */
const PS2_RET_NAK = 0xfe;

// Output port bits.
const OUTPORT_RESET_INACTIVE = 0x01; // 0 holds the CPU in reset
const OUTPORT_A20 = 0x02;

/** Command byte as firmware leaves it: keyboard interrupt, system flag, scancode translation. */
const POWER_ON_CTR = I8042_CTR_KBDINT | I8042_CTR_SYSFLAG | I8042_CTR_XLATE;
const POWER_ON_OUTPORT = OUTPORT_RESET_INACTIVE | OUTPORT_A20;

// Output queue entries: byte | flags << 8.
const FROM_AUX = 0x100;
const WITH_TIMEOUT = 0x200;
const OUTPUT_QUEUE_LIMIT = 16;

export interface I8042Config {
  /** IRQ 1 (keyboard output buffer full). Optional: without it Linux's probe still ends, only slower. */
  kbdIrq?: IrqLine;
  /** IRQ 12 (AUX output buffer full); Linux's AUX IRQ test waits 250 ms for it when absent. */
  auxIrq?: IrqLine;
  /** The guest pulsed the CPU reset line (command 0xFE, or output port bit 0 written 0). */
  onReset?: () => void;
}

export class I8042 implements Persistable<I8042State> {
  private readonly kbdIrq: IrqLine | undefined;
  private readonly auxIrq: IrqLine | undefined;
  private readonly onReset: (() => void) | undefined;
  private ctr = POWER_ON_CTR;
  private outputPort = POWER_ON_OUTPORT;
  /** Command waiting for its parameter byte on port 0x60, or 0. */
  private pendingCommand = 0;
  private lastWasCommand = false;
  private out: number[] = [];
  private lastData = 0;
  private kbdLevel = false;
  private auxLevel = false;

  /** Port 0x60: register with length 1. */
  readonly dataPort: PioDevice = {
    pioRead: (_offset, size) => widen(this.readData(), size),
    pioWrite: (_offset, _size, value) => this.writeData(value & 0xff),
  };
  /** Port 0x64: register with length 1. */
  readonly commandPort: PioDevice = {
    pioRead: (_offset, size) => widen(this.readStatus(), size),
    pioWrite: (_offset, _size, value) => this.writeCommand(value & 0xff),
  };

  constructor(config: I8042Config = {}) {
    this.kbdIrq = config.kbdIrq;
    this.auxIrq = config.auxIrq;
    this.onReset = config.onReset;
  }

  reset(): void {
    this.ctr = POWER_ON_CTR;
    this.outputPort = POWER_ON_OUTPORT;
    this.pendingCommand = 0;
    this.lastWasCommand = false;
    this.out = [];
    this.updateIrqs();
  }

  /** Output port bit 1 (the A20 gate as the guest last set it through 0xD1). */
  get a20Enabled(): boolean {
    return (this.outputPort & OUTPORT_A20) !== 0;
  }

  readStatus(): number {
    let s = I8042_STR_KEYLOCK | (this.ctr & I8042_CTR_SYSFLAG ? I8042_STR_SYSFLAG : 0);
    if (this.lastWasCommand) s |= I8042_STR_CMDDAT;
    const head = this.out[0];
    if (head !== undefined) {
      s |= I8042_STR_OBF;
      if (head & FROM_AUX) s |= I8042_STR_AUXDATA;
      if (head & WITH_TIMEOUT) s |= I8042_STR_TIMEOUT;
    }
    return s; // IBF never set: we consume input bytes at once
  }

  readData(): number {
    const head = this.out.shift();
    if (head !== undefined) {
      this.lastData = head & 0xff;
      this.updateIrqs();
    }
    return this.lastData;
  }

  writeCommand(cmd: number): void {
    this.lastWasCommand = true;
    this.pendingCommand = 0;
    switch (cmd) {
      case I8042_CMD_CTL_RCTR:
        this.push(this.ctr);
        break;
      case I8042_CMD_CTL_WCTR:
      case I8042_CMD_WRITE_OUTPUT:
      case I8042_CMD_KBD_LOOP:
      case I8042_CMD_AUX_LOOP:
      case I8042_CMD_AUX_SEND:
        this.pendingCommand = cmd;
        break;
      case I8042_CMD_AUX_DISABLE:
        this.ctr |= I8042_CTR_AUXDIS;
        break;
      case I8042_CMD_AUX_ENABLE:
        this.ctr &= ~I8042_CTR_AUXDIS;
        break;
      case I8042_CMD_AUX_TEST:
      case I8042_CMD_KBD_TEST:
        this.push(I8042_RET_IFACE_OK);
        break;
      case I8042_CMD_CTL_TEST:
        this.push(I8042_RET_CTL_TEST);
        break;
      case I8042_CMD_KBD_DISABLE:
        this.ctr |= I8042_CTR_KBDDIS;
        break;
      case I8042_CMD_KBD_ENABLE:
        this.ctr &= ~I8042_CTR_KBDDIS;
        break;
      case I8042_CMD_READ_INPUT:
        this.push(0x00);
        break;
      case I8042_CMD_READ_OUTPUT:
        this.push(this.outputPort);
        break;
      case I8042_CMD_READ_TEST:
        this.push(0x00);
        break;
      default:
        if (cmd >= I8042_CMD_PULSE_BASE && !(cmd & OUTPORT_RESET_INACTIVE)) this.onReset?.();
        // Other commands (password, controller RAM, vendor) are ignored.
        break;
    }
    this.updateIrqs();
  }

  writeData(value: number): void {
    this.lastWasCommand = false;
    const cmd = this.pendingCommand;
    this.pendingCommand = 0;
    switch (cmd) {
      case I8042_CMD_CTL_WCTR:
        this.ctr = value & 0x7f;
        break;
      case I8042_CMD_WRITE_OUTPUT:
        this.outputPort = value;
        if (!(value & OUTPORT_RESET_INACTIVE)) this.onReset?.();
        break;
      case I8042_CMD_KBD_LOOP:
        this.push(value);
        break;
      case I8042_CMD_AUX_LOOP:
        this.push(value | FROM_AUX);
        break;
      case I8042_CMD_AUX_SEND:
        // No mouse: nothing clocks the byte in.
        this.push(PS2_RET_NAK | FROM_AUX | WITH_TIMEOUT);
        break;
      default:
        // A byte for the keyboard, which is not there.
        this.push(PS2_RET_NAK | WITH_TIMEOUT);
        break;
    }
    this.updateIrqs();
  }

  private push(entry: number): void {
    if (this.out.length < OUTPUT_QUEUE_LIMIT) this.out.push(entry);
  }

  /** Each IRQ is high while the output buffer holds a byte from its port and the CTR enables it. */
  private updateIrqs(): void {
    const head = this.out[0];
    const kbd = head !== undefined && !(head & FROM_AUX) && (this.ctr & I8042_CTR_KBDINT) !== 0;
    const aux = head !== undefined && (head & FROM_AUX) !== 0 && (this.ctr & I8042_CTR_AUXINT) !== 0;
    if (kbd !== this.kbdLevel) {
      this.kbdLevel = kbd;
      this.kbdIrq?.set(kbd);
    }
    if (aux !== this.auxLevel) {
      this.auxLevel = aux;
      this.auxIrq?.set(aux);
    }
  }

  save(): I8042State {
    return {
      version: 1,
      ctr: this.ctr,
      outputPort: this.outputPort,
      pendingCommand: this.pendingCommand,
      lastWasCommand: this.lastWasCommand,
      output: this.out.slice(),
      lastData: this.lastData,
    };
  }

  restore(state: I8042State): void {
    checkI8042State(state);
    this.ctr = state.ctr & 0x7f;
    this.outputPort = state.outputPort & 0xff;
    this.pendingCommand = state.pendingCommand & 0xff;
    this.lastWasCommand = state.lastWasCommand;
    this.out = state.output.slice(0, OUTPUT_QUEUE_LIMIT);
    this.lastData = state.lastData & 0xff;
    const head = this.out[0];
    this.kbdLevel = head !== undefined && !(head & FROM_AUX) && (this.ctr & I8042_CTR_KBDINT) !== 0;
    this.auxLevel = head !== undefined && (head & FROM_AUX) !== 0 && (this.ctr & I8042_CTR_AUXINT) !== 0;
    this.kbdIrq?.set(this.kbdLevel);
    this.auxIrq?.set(this.auxLevel);
  }
}

function widen(v: number, size: 1 | 2 | 4): number {
  return size === 1 ? v : (v | (size === 2 ? 0xff00 : 0xffff_ff00)) >>> 0;
}
