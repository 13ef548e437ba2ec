export { Pic } from './device.js';
export type { PicConfig } from './device.js';
export type { PicState, I8259ChipState } from './persist.js';
