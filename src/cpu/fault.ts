// CPU exceptions (SDM Vol. 3A §6.3, Table 6-1). A fault is thrown as a CpuFault from wherever it
// is detected (decoder, MMU, instruction) and delivered through the IDT by the run loop.

export const enum Vector {
  DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8,
  TS = 10, NP = 11, SS = 12, GP = 13, PF = 14, MF = 16, AC = 17, MC = 18, XM = 19,
}

/** Page-fault error code bits (SDM Vol. 3A §4.7). */
export const enum PfErr { P = 1, W = 2, U = 4, RSVD = 8, I = 16 }

export class CpuFault {
  readonly vector: number;
  /** Error code pushed on the stack, or -1 for vectors without one. */
  readonly errorCode: number;
  constructor(vector: number, errorCode = -1) {
    this.vector = vector;
    this.errorCode = errorCode;
  }
}

/** Raised for an opcode the engine does not implement (as opposed to #UD for invalid ones). */
export class UnimplementedInstructionError extends Error {
  readonly bytes: Uint8Array;
  readonly rip: number;
  constructor(bytes: Uint8Array, rip: number, what = '') {
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
    super(`Unimplemented instruction ${hex} at RIP ${formatLinear(rip)}${what ? ` (${what})` : ''}`);
    this.bytes = bytes;
    this.rip = rip;
  }
}

/** Three faults in a row: the machine resets or, with --no-reboot, stops (SDM Vol. 3A §6.15). */
export class TripleFaultError extends Error {
  constructor(rip: number) {
    super(`Triple fault at RIP ${formatLinear(rip)}`);
  }
}

/** Formats a canonical linear address (see state.ts) as 16 hex digits. */
export function formatLinear(lin: number): string {
  const big = BigInt(lin) & 0xffffffffffffffffn;
  return '0x' + big.toString(16).padStart(16, '0');
}
