export * from './boot-params.js';
export * from './bzimage.js';
export * from './e820.js';
export * from './elf.js';
export * from './loader.js';
export * from './long-mode.js';
export * from './payload.js';
