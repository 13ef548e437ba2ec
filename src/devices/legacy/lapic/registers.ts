// Local APIC register map and bit fields (SDM Vol. 3A §10.4.1, Table 10-1). Names follow the
// ones Linux uses in arch/x86/include/asm/apicdef.h so the two can be read side by side.

/** Register offsets in the 4 KiB xAPIC page; each register is 32 bits on a 16-byte boundary. */
export const APIC_ID = 0x020;
export const APIC_LVR = 0x030;
export const APIC_TASKPRI = 0x080;
export const APIC_ARBPRI = 0x090;
export const APIC_PROCPRI = 0x0a0;
export const APIC_EOI = 0x0b0;
export const APIC_RRR = 0x0c0;
export const APIC_LDR = 0x0d0;
export const APIC_DFR = 0x0e0;
export const APIC_SPIV = 0x0f0;
export const APIC_ISR = 0x100;
export const APIC_TMR = 0x180;
export const APIC_IRR = 0x200;
export const APIC_ESR = 0x280;
export const APIC_ICR = 0x300;
export const APIC_ICR2 = 0x310;
export const APIC_LVTT = 0x320;
export const APIC_LVTTHMR = 0x330;
export const APIC_LVTPC = 0x340;
export const APIC_LVT0 = 0x350;
export const APIC_LVT1 = 0x360;
export const APIC_LVTERR = 0x370;
export const APIC_TMICT = 0x380;
export const APIC_TMCCT = 0x390;
export const APIC_TDCR = 0x3e0;

/**
 * Version register: version 0x14 (integrated APIC), max LVT entry 5 in bits 23:16, i.e. six LVT
 * entries (timer, thermal, performance, LINT0, LINT1, error; no CMCI). No directed-EOI support
 * (bit 24 clear), so EOIs of level-triggered vectors are always broadcast.
 */
export const APIC_VERSION = 0x0005_0014;
export const APIC_LVT_COUNT = 6;
/** LVT indices in our table, in register order. */
export const LVT_TIMER = 0;
export const LVT_THERMAL = 1;
export const LVT_PERF = 2;
export const LVT_LINT0 = 3;
export const LVT_LINT1 = 4;
export const LVT_ERROR = 5;

/** LVT bits (SDM §10.5.1). */
export const APIC_LVT_VECTOR_MASK = 0xff;
export const APIC_LVT_DM_SHIFT = 8;
export const APIC_LVT_DELIVS = 1 << 12;
export const APIC_LVT_REMOTE_IRR = 1 << 14;
export const APIC_LVT_LEVEL_TRIGGER = 1 << 15;
export const APIC_LVT_MASKED = 1 << 16;
export const APIC_LVT_TIMER_MODE_SHIFT = 17;
/** Timer modes (LVT timer bits 18:17, SDM §10.5.4). */
export const APIC_TIMER_ONESHOT = 0;
export const APIC_TIMER_PERIODIC = 1;
export const APIC_TIMER_TSC_DEADLINE = 2;
/** Writable bits per LVT entry: timer; thermal/perf; LINT0/1; error. */
export const LVT_WRITABLE: readonly number[] = [0x0007_00ff, 0x0001_07ff, 0x0001_07ff, 0x0001_a7ff, 0x0001_a7ff, 0x0001_00ff];

/** Spurious-interrupt vector register: vector bits 7:0, APIC software enable bit 8, focus bit 9. */
export const APIC_SPIV_APIC_ENABLED = 1 << 8;
export const APIC_SPIV_WRITABLE = 0x3ff;
/** DFR model in bits 31:28: 0xF flat, 0x0 cluster; bits 27:0 read as ones. */
export const APIC_DFR_FLAT = 0xf;
export const APIC_DFR_RESERVED_ONES = 0x0fff_ffff;

/** ICR low bits (SDM §10.6.1). */
export const APIC_ICR_VECTOR_MASK = 0xff;
export const APIC_ICR_DM_SHIFT = 8;
export const APIC_ICR_DEST_LOGICAL = 1 << 11;
export const APIC_ICR_LEVEL_ASSERT = 1 << 14;
export const APIC_ICR_TRIGGER_LEVEL = 1 << 15;
export const APIC_ICR_SHORTHAND_SHIFT = 18;
export const APIC_ICR_WRITABLE = 0x000c_cfff;

/** ESR bits (SDM §10.5.3). */
export const APIC_ESR_SEND_ILLEGAL_VECTOR = 1 << 5;
export const APIC_ESR_RECEIVE_ILLEGAL_VECTOR = 1 << 6;

/** MSRs the local APIC answers. */
export const MSR_IA32_APICBASE = 0x1b;
export const MSR_IA32_TSC_DEADLINE = 0x6e0;
export const MSR_APICBASE_BSP = 0x100;
export const MSR_APICBASE_ENABLE = 0x800;

/** The APIC timer counts at the bus clock, which we define as 1 GHz (1 count per ns at divide 1). */
export const LAPIC_TIMER_HZ = 1_000_000_000;
