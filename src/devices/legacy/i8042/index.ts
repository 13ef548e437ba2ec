export { I8042, type I8042Config } from './device.js';
export type { I8042State } from './persist.js';
