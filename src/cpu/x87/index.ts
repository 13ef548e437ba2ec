// The x87 FPU of the soft CPU: registration of the escape opcodes D8..DF and FWAIT (9B).

import { OpMap, type OpTable } from '../insn.js';
import { x87Handlers as h } from './ops.js';

export { fxrstor, fxsave, FXSAVE_SIZE_BYTES } from './fxsave.js';
export { doubleToF80, f80, f80ToDouble } from './f80.js';

/** Registers D8..DF (all prefixes; ModRM decides the form) and 9B FWAIT. */
export function registerX87Ops(table: OpTable): void {
  table.set(OpMap.Primary, 0xd8, -1, h.opD8);
  table.set(OpMap.Primary, 0xd9, -1, h.opD9);
  table.set(OpMap.Primary, 0xda, -1, h.opDA);
  table.set(OpMap.Primary, 0xdb, -1, h.opDB);
  table.set(OpMap.Primary, 0xdc, -1, h.opDC);
  table.set(OpMap.Primary, 0xdd, -1, h.opDD);
  table.set(OpMap.Primary, 0xde, -1, h.opDE);
  table.set(OpMap.Primary, 0xdf, -1, h.opDF);
  table.set(OpMap.Primary, 0x9b, -1, h.fwait);
}
