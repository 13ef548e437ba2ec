export * from './errors.js';
export * from './handlers.js';
export * from './listen.js';
export * from './server.js';
