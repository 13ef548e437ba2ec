export * from './virtio-pci.js';
