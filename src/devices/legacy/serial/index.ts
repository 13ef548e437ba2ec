export { Serial16550, UART_IO_LENGTH, UART_FIFO_BYTES, type SerialConfig } from './device.js';
export type { SerialState } from './persist.js';
export type { SerialMetrics } from './metrics.js';
