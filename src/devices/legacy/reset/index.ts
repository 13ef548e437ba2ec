export { ResetControl, type ResetControlConfig } from './device.js';
export type { ResetControlState } from './persist.js';
