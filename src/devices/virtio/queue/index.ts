export * from './descriptor-chain.js';
export * from './virtqueue.js';
