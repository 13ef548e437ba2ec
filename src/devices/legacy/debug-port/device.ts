// Two trivial ports that keep guests quiet and our own test guests talkative:
// - port 0x80, the POST-code port: Linux's io_delay() writes to it between slow PIC/PIT
//   accesses (arch/x86/boot/boot.h io_delay, and io_delay=0x80, the default), so it must be
//   claimed and cheap. It remembers the last code for debugging.
// - the Bochs-style debug console (port 0xE9, or 0x402 as QEMU's isa-debugcon often sits): each
//   byte written goes to a sink; a read returns the port's signature so a guest can detect it.

import type { PioDevice, Persistable } from '../../device.js';
import { checkDebugPortState, type DebugPortState } from './persist.js';

export const POST_CODE_PORT = 0x80;
export const DEBUG_CONSOLE_PORT = 0xe9;
/** What a read of the debug console returns (presence check, as Bochs does). */
export const DEBUG_CONSOLE_SIGNATURE = 0xe9;

export class PostCodePort implements PioDevice, Persistable<DebugPortState> {
  private last = 0;

  get lastCode(): number {
    return this.last;
  }

  pioRead(): number {
    return this.last;
  }

  pioWrite(_offset: number, _size: 1 | 2 | 4, value: number): void {
    this.last = value & 0xff;
  }

  save(): DebugPortState {
    return { version: 1, lastCode: this.last };
  }

  restore(state: DebugPortState): void {
    checkDebugPortState(state);
    this.last = state.lastCode & 0xff;
  }
}

export interface DebugConsoleConfig {
  /** Receives every byte written, one call per write (debug output is rare and unbatched). */
  onOutput: (bytes: Uint8Array) => void;
}

export class DebugConsole implements PioDevice {
  private readonly onOutput: (bytes: Uint8Array) => void;

  constructor(config: DebugConsoleConfig) {
    this.onOutput = config.onOutput;
  }

  pioRead(_offset: number, size: 1 | 2 | 4): number {
    return size === 1 ? DEBUG_CONSOLE_SIGNATURE : (DEBUG_CONSOLE_SIGNATURE | (size === 2 ? 0xff00 : 0xffff_ff00)) >>> 0;
  }

  pioWrite(_offset: number, _size: 1 | 2 | 4, value: number): void {
    this.onOutput(Uint8Array.of(value & 0xff));
  }
}
