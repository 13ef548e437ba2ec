// Registers every integer-core handler (explicit list, called by op-table.ts).

import type { OpTable } from './insn.js';
import { registerAluOps } from './ops-alu.js';
import { registerMulDivOps } from './ops-muldiv.js';
import { registerShiftOps } from './ops-shift.js';
import { registerBitOps } from './ops-bit.js';
import { registerMovOps } from './ops-mov.js';
import { registerStackOps } from './ops-stack.js';
import { registerControlOps } from './ops-control.js';
import { registerStringOps } from './ops-string.js';
import { registerMiscOps } from './ops-misc.js';
import { registerBcdOps } from './ops-bcd.js';

export function registerIntegerOps(t: OpTable): void {
  registerAluOps(t);
  registerMulDivOps(t);
  registerShiftOps(t);
  registerBitOps(t);
  registerMovOps(t);
  registerStackOps(t);
  registerControlOps(t);
  registerStringOps(t);
  registerMiscOps(t);
  registerBcdOps(t);
}
