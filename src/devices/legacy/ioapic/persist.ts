// The persisted shape of the IOAPIC (shared/STYLE.md habit 2).

export interface IoapicState {
  version: 1;
  id: number;
  ioregsel: number;
  /** Redirection table, low and high dwords per pin (remote IRR lives in the low dword, bit 14). */
  redirectionLow: number[];
  redirectionHigh: number[];
  /** Pending requests: asserted level pins, latched edges not yet delivered (masked). */
  irr: number;
  /** Input levels as last driven (edge detection). */
  lineLevels: number;
}
