export { Pit, PIT_CLOCK_HZ } from './device.js';
export type { PitConfig } from './device.js';
export type { PitState, PitChannelState } from './persist.js';
