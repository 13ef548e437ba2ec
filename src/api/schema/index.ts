export * from './common.js';
export * from './routes.js';
export * from './token.js';
export * from './vm.js';
export * from './route-types.js';
