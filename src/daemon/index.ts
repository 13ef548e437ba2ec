export * from './cgroups.js';
export * from './daemon.js';
export * from './service.js';
export * from './store.js';
export * from './supervisor.js';
export * from './vm-state.js';
