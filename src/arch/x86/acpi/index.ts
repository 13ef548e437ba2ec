export * from './acpi.js';
export * from './aml.js';
export * from './aml-resources.js';
export * from './dsdt.js';
export * from './tables.js';
