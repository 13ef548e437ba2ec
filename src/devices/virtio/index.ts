export * from './block/index.js';
export * from './platform.js';
export * from './queue/index.js';
export * from './rng/index.js';
export * from './transport/index.js';
export * from './virtio-device.js';
