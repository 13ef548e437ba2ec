// Offsets in struct boot_params, the "zero page" (arch/x86/include/uapi/asm/bootparam.h and
// Documentation/arch/x86/zero-page.rst). Setup header fields sit at the same offsets as in the
// bzImage (bzimage.ts, HDR_*), since boot_params.hdr is at 0x1f1 in both.

export const BOOT_PARAMS_BYTES = 0x1000;
export const BP_ACPI_RSDP_ADDR = 0x070; // u64, protocol 2.14+
export const BP_EXT_RAMDISK_IMAGE = 0x0c0; // u32: bits 32..63 of ramdisk_image
export const BP_EXT_RAMDISK_SIZE = 0x0c4;
export const BP_EXT_CMD_LINE_PTR = 0x0c8;
export const BP_ALT_MEM_K = 0x1e0;
export const BP_E820_ENTRIES = 0x1e8; // u8
export const BP_SENTINEL = 0x1ef;
export const BP_HDR = 0x1f1;
export const BP_E820_TABLE = 0x2d0; // struct boot_e820_entry[128]

/** type_of_loader 0xff: "undefined" boot loader (boot.rst, type_of_loader). */
export const LOADER_TYPE_UNDEFINED = 0xff;
/**
 * heap_end_ptr: end of the setup heap relative to the real-mode code, minus 0x200 (boot.rst).
 * The real-mode setup does not run on the 64-bit entry; we still give it the full 64 KiB segment.
 */
export const HEAP_END_PTR = 0xfe00;
