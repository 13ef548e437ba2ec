export { LocalApic } from './device.js';
export type { LocalApicConfig, ExtIntSource } from './device.js';
export type { LocalApicMetrics } from './metrics.js';
export type { LocalApicState } from './persist.js';
export type { ApicTimerState } from './timer.js';
export { LAPIC_TIMER_HZ, MSR_IA32_TSC_DEADLINE, MSR_IA32_APICBASE, APIC_VERSION } from './registers.js';
