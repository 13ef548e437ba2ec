export { CmosRtc, RTC_IO_LENGTH, RTC_CENTURY, periodicPeriodNs, type RtcConfig } from './device.js';
export type { RtcState } from './persist.js';
export type { RtcTimeFields } from './calendar.js';
