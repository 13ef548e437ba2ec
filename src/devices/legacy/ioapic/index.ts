export { Ioapic, IOAPIC_NUM_PINS } from './device.js';
export type { IoapicConfig } from './device.js';
export type { IoapicState } from './persist.js';
