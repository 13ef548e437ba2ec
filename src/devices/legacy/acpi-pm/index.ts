export {
  AcpiPm,
  ACPI_PM_IO_LENGTH,
  ACPI_PM_TIMER_VAL_EXT,
  PM_TIMER_FREQUENCY_HZ,
  pmTimerTicksAt,
  type AcpiPmConfig,
} from './device.js';
export type { AcpiPmState } from './persist.js';
