// Where things sit in the guest physical and port address spaces. One file, so that the boot
// code, the ACPI tables, the devices and the machine agree (Firecracker keeps arch/x86_64/layout.rs
// for the same reason).

/** Guest RAM below this is mapped at the same physical address; the rest goes above 4 GiB. */
export const PCI_HOLE_START = 0xc000_0000; // 3 GiB: 32-bit PCI MMIO window, IOAPIC, LAPIC, ECAM
export const PCI_HOLE_END = 0x1_0000_0000; // 4 GiB
/** 32-bit PCI MMIO window for BARs (within the hole, below the ECAM and the APICs). */
export const PCI_MMIO32_START = 0xc000_0000;
export const PCI_MMIO32_END = 0xe000_0000;
/** PCI Express ECAM, described by the ACPI MCFG table (issue 4): 256 buses x 1 MiB. */
export const PCI_ECAM_START = 0xe000_0000;
export const PCI_ECAM_SIZE = 0x1000_0000;
export const IOAPIC_BASE = 0xfec0_0000;
export const LAPIC_BASE = 0xfee0_0000;

// Low memory used by the boot protocol (Documentation/arch/x86/boot.rst) and our own setup.
/** GDT for the 64-bit entry. */
export const BOOT_GDT_START = 0x500;
/** IDT placeholder (empty, limit 0) for the entry. */
export const BOOT_IDT_START = 0x520;
/** Zero page (struct boot_params). */
export const ZERO_PAGE_START = 0x7000;
/** Identity page tables: PML4 at 0x9000, PDPT at 0xa000, PDs from 0xb000 (4 of them: 4 GiB). */
export const PML4_START = 0x9000;
export const PDPTE_START = 0xa000;
export const PDE_START = 0xb000;
/** Kernel command line. */
export const CMDLINE_START = 0x20000;
export const CMDLINE_MAX_BYTES = 0x10000;
/** Initial boot stack top (below the EBDA). */
export const BOOT_STACK_POINTER = 0x8ff0;
/** Extended BIOS data area and the legacy VGA/BIOS area, reserved in the e820 map. */
export const EBDA_START = 0x9fc00;
/** ACPI tables: RSDP in the BIOS area where the kernel scans for it (0xE0000..0xFFFFF). */
export const RSDP_START = 0xe0000;
/** The other ACPI tables follow, in the reserved BIOS area. */
export const ACPI_TABLES_START = 0xe0100;
export const ACPI_TABLES_END = 0x100000;
/** The protected-mode kernel loads at 1 MiB (boot.rst, "code32_start"). */
export const HIMEM_START = 0x10_0000;

// Legacy ports.
export const COM1_PORT = 0x3f8;
export const COM1_IRQ = 4;
export const PIC_MASTER_PORT = 0x20;
export const PIC_SLAVE_PORT = 0xa0;
export const PIC_ELCR_PORT = 0x4d0;
export const PIT_PORT = 0x40;
export const PIT_IRQ = 0;
export const I8042_PORT = 0x60; // data 0x60, command/status 0x64
export const RTC_PORT = 0x70;
export const RTC_IRQ = 8;
/** Port 0x61: PC speaker / PIT channel 2 gate, read by Linux's PIT calibration. */
export const SYSTEM_CONTROL_PORT_B = 0x61;
/** Fixed-hardware ACPI block (ACPI 6.x §4.8): PM1a event 0x600 (4), PM1a control 0x604 (2), PM timer 0x608 (4), GPE0 0x620 (8). */
export const ACPI_PM_BASE = 0x600;
export const ACPI_PM1A_EVT = 0x600;
export const ACPI_PM1A_CNT = 0x604;
export const ACPI_PM_TMR = 0x608;
export const ACPI_GPE0 = 0x620;
export const ACPI_GPE0_LEN = 8;
export const ACPI_SCI_IRQ = 9;
/** FADT RESET_REG: writing 0x06 to port 0xCF9 resets the machine (as QEMU's q35 does). */
export const RESET_PORT = 0xcf9;
export const RESET_VALUE = 0x06;
/** The S5 sleep type our DSDT's \_S5 returns; SLP_TYPa written with SLP_EN powers off. */
export const ACPI_S5_SLP_TYP = 5;
/** PCI configuration mechanism #1 (issue 4). */
export const PCI_CONFIG_ADDRESS_PORT = 0xcf8;
