export {
  ApicBus,
  APIC_DM_FIXED,
  APIC_DM_LOWEST,
  APIC_DM_SMI,
  APIC_DM_NMI,
  APIC_DM_INIT,
  APIC_DM_STARTUP,
  APIC_DM_EXTINT,
  APIC_DEST_NO_SHORTHAND,
  APIC_DEST_SELF,
  APIC_DEST_ALL_INCLUDING_SELF,
  APIC_DEST_ALL_EXCLUDING_SELF,
  APIC_BROADCAST_ID,
} from './bus.js';
export type { ApicMessage, ApicBusTarget } from './bus.js';
export { isaIrqLines, isaIrqToIoapicPin } from './isa-irq-lines.js';
export type { IrqInput } from './isa-irq-lines.js';
