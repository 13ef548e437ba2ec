// MXCSR: control and status register of the SSE unit (SDM Vol. 1 §10.2.3, Figure 10-3).

/** Exception flags (bits 0..5) and their masks (bits 7..12, flag << 7). */
export const MXCSR_IE = 1 << 0; // invalid operation
export const MXCSR_DE = 1 << 1; // denormal operand
export const MXCSR_ZE = 1 << 2; // divide by zero
export const MXCSR_OE = 1 << 3; // overflow
export const MXCSR_UE = 1 << 4; // underflow
export const MXCSR_PE = 1 << 5; // precision (inexact)
export const MXCSR_FLAGS = 0x3f;
export const MXCSR_DAZ = 1 << 6;
export const MXCSR_MASKS_SHIFT = 7;
export const MXCSR_UM = 1 << 11;
/** Rounding control, bits 13..14 (SDM Vol. 1 Table 4-8). */
export const MXCSR_RC_SHIFT = 13;
export const MXCSR_FTZ = 1 << 15;
/** Power-on / FNINIT-independent default value: all exceptions masked, round to nearest. */
export const MXCSR_DEFAULT = 0x1f80;
/**
 * Bits software may set (SDM Vol. 1 §11.6.6): 0xffff means DAZ is supported, which every
 * SSE2 processor since the Pentium 4 model 2 reports; FXSAVE stores it as MXCSR_MASK.
 */
export const MXCSR_MASK = 0x0000ffff;

/** Rounding-control values (SDM Vol. 1 Table 4-8), shared by MXCSR.RC and the x87 FCW.RC. */
export const enum Rc { Nearest = 0, Down = 1, Up = 2, Zero = 3 }
