// SSE and SSE2 for the soft CPU: registration of every handler in the 0F opcode map.

import type { OpTable } from '../insn.js';
import { registerFloatOps } from './float-handlers.js';
import { registerIntOps } from './int-handlers.js';
import { registerMiscOps } from './misc.js';
import { registerMmxOps } from './mmx.js';
import { registerMoveOps } from './moves.js';

export { MXCSR_DEFAULT, MXCSR_MASK } from './mxcsr.js';

/** Registers SSE/SSE2 and MMX opcodes (0F map, mandatory prefixes none/66/F3/F2), group 15, prefetches. */
export function registerSseOps(table: OpTable): void {
  registerMoveOps(table);
  registerIntOps(table);
  registerFloatOps(table);
  registerMiscOps(table);
  registerMmxOps(table);
}
