export * from './acpi.js';
export * from './config-access.js';
export * from './config-space.js';
export * from './host-bridge.js';
export * from './msix.js';
export * from './pci-bus.js';
export * from './pci-device.js';
export * from './platform.js';
