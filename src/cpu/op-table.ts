// The opcode table: (map, opcode, mandatory prefix) -> handler. Built once, explicitly, by
// calling each handler file's register function (no self-registration; STYLE.md habit 9).

import type { OpHandler, OpTable } from './insn.js';
import { OpMap } from './insn.js';
import type { HandlerLookup } from './decoder.js';
import { registerIntegerOps } from './ops-integer.js';
import { groupFFWith } from './ops-control.js';
import { fences } from './ops-misc.js';
import { registerSystemOps } from './system-ops.js';
import { registerSseOps } from './sse/index.js';
import { registerX87Ops } from './x87/index.js';

export class OpTableImpl implements OpTable, HandlerLookup {
  /** Index: ((map * 256) + op) * 4 + mandatory. */
  private readonly handlers: (OpHandler | undefined)[] = new Array<OpHandler | undefined>(4 * 256 * 4).fill(undefined);

  set(map: OpMap, op: number, mandatory: -1 | 0 | 1 | 2 | 3, handler: OpHandler): void {
    const base = ((map * 256) + op) * 4;
    if (mandatory === -1) for (let k = 0; k < 4; k++) this.handlers[base + k] = handler;
    else this.handlers[base + mandatory] = handler;
  }

  get(map: OpMap, op: number, mandatory: number): OpHandler | undefined {
    return this.handlers[((map * 256) + op) * 4 + mandatory];
  }
}

/** Builds the full table: integer core, system instructions, SSE, x87. */
export function buildOpTable(): OpTableImpl {
  const t = new OpTableImpl();
  registerIntegerOps(t);
  const integerFF = t.get(OpMap.Primary, 0xff, 0);
  registerSystemOps(t);
  // FF is shared: /0 /1 /2 /4 /6 are integer ops, /3 /5 (far CALL/JMP) are system ops.
  const systemFF = t.get(OpMap.Primary, 0xff, 0);
  if (systemFF !== integerFF && systemFF !== undefined) t.set(OpMap.Primary, 0xff, -1, groupFFWith(systemFF) as unknown as OpHandler);
  registerSseOps(t);
  registerX87Ops(t);
  // 0F AE is shared: register forms are fences (integer core), memory forms FXSAVE/LDMXCSR/... (SSE).
  const ae = t.get(OpMap.M0F, 0xae, 0);
  if (ae !== undefined && ae !== (fences as unknown as OpHandler)) {
    t.set(OpMap.M0F, 0xae, -1, ((cpu, i) => { if (i.mod === 3) fences(cpu as never, i); else ae(cpu, i); }));
  }
  return t;
}

let shared: OpTableImpl | undefined;
/** One table per process: handlers are stateless. */
export function sharedOpTable(): OpTableImpl {
  shared ??= buildOpTable();
  return shared;
}

export { OpMap };
