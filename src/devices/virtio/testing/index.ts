export * from './driver-mock.js';
export * from './test-platform.js';
