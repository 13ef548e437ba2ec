export * from './mac.js';
export * from './tap.js';
export * from './tap-watcher.js';
