export * from './disk-backend.js';
export * from './raw-file.js';
