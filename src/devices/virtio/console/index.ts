export * from './device.js';
export * from './metrics.js';
export * from './persist.js';
export * from './request.js';
