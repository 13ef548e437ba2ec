// Direct Linux boot through the 64-bit boot protocol (Documentation/arch/x86/boot.rst): copy the
// protected-mode kernel, the initrd and the command line into guest RAM, fill boot_params (the
// zero page), write the ACPI tables, and put vCPU 0 at the kernel's 64-bit entry.

import { TshvError } from '../../../common/errors.js';
import type { CpuState } from '../../../cpu/state.js';
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { writeAcpiTables, type AcpiOptions } from '../acpi/acpi.js';
import { CMDLINE_MAX_BYTES, CMDLINE_START, HIMEM_START, PCI_HOLE_START, ZERO_PAGE_START } from '../layout.js';
import {
  BOOT_PARAMS_BYTES, BP_ACPI_RSDP_ADDR, BP_ALT_MEM_K, BP_E820_ENTRIES, BP_E820_TABLE, BP_EXT_CMD_LINE_PTR,
  BP_EXT_RAMDISK_IMAGE, BP_EXT_RAMDISK_SIZE, BP_HDR, HEAP_END_PTR, LOADER_TYPE_UNDEFINED,
} from './boot-params.js';
import {
  BOOT_FLAG_MAGIC, CAN_USE_HEAP, HDR_BOOT_FLAG, HDR_CMD_LINE_PTR, HDR_CMDLINE_SIZE, HDR_CODE32_START, HDR_END_2_15,
  HDR_HEADER, HDR_HEAP_END_PTR, HDR_INITRD_ADDR_MAX, HDR_KERNEL_ALIGNMENT, HDR_LOADFLAGS, HDR_RAMDISK_IMAGE,
  HDR_RAMDISK_SIZE, HDR_SETUP_SECTS, HDR_TYPE_OF_LOADER, HDR_VERSION, HDR_XLOADFLAGS, HDRS_MAGIC,
  KERNEL_64_ENTRY_OFFSET, LOADED_HIGH, parseBzImage, XLF_CAN_BE_LOADED_ABOVE_4G, XLF_KERNEL_64, type BzImage,
} from './bzimage.js';
import { isElf, parseElfKernel, type ElfKernel } from './elf.js';
import { decompressBzImagePayload, type PayloadCache } from './payload.js';
import { buildE820Map, E820_MAX_ENTRIES_ZEROPAGE, encodeE820, type E820Entry } from './e820.js';
import { setupApplicationProcessor, setupLongModeEntry, writeBootGdt, writeIdentityPageTables } from './long-mode.js';

export interface LinuxBootOptions {
  /** The kernel file: a bzImage, or an uncompressed ELF vmlinux (entered at startup_64). */
  kernel: Uint8Array;
  /** Shown in error messages (the kernel's path). */
  kernelName?: string;
  initrd?: Uint8Array;
  cmdline: string;
  memSizeBytes: number;
  cpuCount: number;
  /** ACPI options beyond the CPU count (PCI0, MCFG, PM timer width...). */
  acpi?: AcpiOptions;
  /**
   * Decompress a bzImage's payload here and enter the vmlinux at startup_64, skipping the
   * in-guest decompressor (slow on a software CPU; also skips KASLR). Falls back to the normal
   * bzImage entry when the payload format is not one payload.ts decodes. Default false.
   */
  decompressOnHost?: boolean;
  /** Decompressed payloads kept from earlier boots (with decompressOnHost). */
  payloadCache?: PayloadCache;
}

/** How the kernel was entered. */
export type KernelFormat = 'bzImage' | 'elf' | 'bzImage-decompressed';

/** Where things landed, for logs and tests. */
export interface LinuxBootInfo {
  loadAddress: number;
  entryRip: number;
  /** End of the memory the kernel needs before it reads the memory map (decompression buffer). */
  kernelEnd: number;
  initrdAddress: number;
  initrdSizeBytes: number;
  cmdlineAddress: number;
  rsdpAddress: number;
  e820: E820Entry[];
  protocolVersion: number;
  format: KernelFormat;
}

const PAGE_BYTES = 0x1000;
const MIB = 0x10_0000;

const alignUp = (n: number, a: number): number => (a > 1 ? Math.ceil(n / a) * a : n);
const alignDown = (n: number, a: number): number => Math.floor(n / a) * a;
const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * Where the kernel goes and how far it reaches. A relocatable kernel goes straight to pref_address
 * (its runtime address, so the decompressor need not move itself) when that fits; otherwise at
 * 1 MiB. The decompressor then works in [max(align_up(load, kernel_alignment), LOAD_PHYSICAL_ADDR),
 * + init_size) (arch/x86/boot/compressed/head_64.S); pref_address is LOAD_PHYSICAL_ADDR.
 */
export function planKernel(bz: BzImage, lowEnd: number): { load: number; end: number } {
  const align = Math.max(bz.kernelAlignment, 1);
  const fitsAtPref = bz.relocatable && bz.prefAddress >= HIMEM_START && bz.prefAddress % align === 0 &&
    bz.prefAddress + Math.max(bz.initSizeBytes, bz.kernel.byteLength) <= lowEnd;
  const load = fitsAtPref ? bz.prefAddress : HIMEM_START;
  const runtime = bz.relocatable ? Math.max(alignUp(load, align), bz.prefAddress) : Math.max(bz.prefAddress, load);
  return { load, end: Math.max(load + bz.kernel.byteLength, runtime + bz.initSizeBytes) };
}

/** A kernel ready to copy: its pieces, entry, reach, and the setup header for boot_params. */
interface KernelPlan {
  pieces: { addr: number; data: Uint8Array; memSizeBytes: number }[];
  /** Lowest address (code32_start). */
  load: number;
  entry: number;
  /** End of the memory the kernel needs before it reads the memory map. */
  end: number;
  /** Setup header bytes, from offset 0x1f1 of boot_params. */
  header: Uint8Array;
  loadflags: number;
  cmdlineMax: number;
  initrdAddrMax: number;
  protocolVersion: number;
  format: KernelFormat;
}

function planBzImageKernel(image: Uint8Array, name: string, lowEnd: number, decompressOnHost: boolean, cache: PayloadCache | undefined): KernelPlan {
  const bz = parseBzImage(image, name);
  const common = {
    header: bz.header, loadflags: bz.loadflags, cmdlineMax: bz.cmdlineSizeBytes, initrdAddrMax: bz.initrdAddrMax,
    protocolVersion: bz.protocolVersion,
  };
  const vmlinux = decompressOnHost ? decompressBzImagePayload(bz, cache) : undefined;
  if (vmlinux !== undefined && isElf(vmlinux)) {
    // The image's own setup header still describes the kernel in boot_params.
    const pieces = elfPieces(parseElfKernel(vmlinux, name), name);
    return { ...common, ...pieces, format: 'bzImage-decompressed' };
  }
  const { load, end } = planKernel(bz, lowEnd);
  return {
    ...common, pieces: [{ addr: load, data: bz.kernel, memSizeBytes: bz.kernel.byteLength }],
    load, entry: load + KERNEL_64_ENTRY_OFFSET, end, format: 'bzImage',
  };
}

function elfPieces(elf: ElfKernel, name: string): Pick<KernelPlan, 'pieces' | 'load' | 'entry' | 'end'> {
  const pieces = elf.segments.map((s) => ({ addr: s.paddr, data: s.data, memSizeBytes: s.memSizeBytes }));
  const load = Math.min(...pieces.map((p) => p.addr));
  if (load < HIMEM_START) throw new TshvError(`Cannot boot "${name}": ELF segment at ${hex(load)} is below 1 MiB`);
  return { pieces, load, entry: elf.entry, end: Math.max(...pieces.map((p) => p.addr + p.memSizeBytes)) };
}

/** x86's COMMAND_LINE_SIZE (arch/x86/include/uapi/asm/setup.h) minus the NUL. */
const ELF_CMDLINE_MAX = 2047;
/** What every 64-bit bzImage says: the initrd may sit anywhere below 2 GiB. */
const ELF_INITRD_ADDR_MAX = 0x7fffffff;
/** The setup header protocol version we describe for an ELF kernel (2.15). */
const ELF_PROTOCOL_VERSION = 0x020f;

/** An ELF vmlinux: segments at their physical addresses, a setup header we write ourselves. */
function planElfKernel(image: Uint8Array, name: string): KernelPlan {
  const elf = parseElfKernel(image, name);
  const header = new Uint8Array(HDR_END_2_15 - HDR_SETUP_SECTS);
  const v = new DataView(header.buffer);
  const at = (field: number): number => field - HDR_SETUP_SECTS;
  v.setUint16(at(HDR_BOOT_FLAG), BOOT_FLAG_MAGIC, true);
  v.setUint32(at(HDR_HEADER), HDRS_MAGIC, true);
  v.setUint16(at(HDR_VERSION), ELF_PROTOCOL_VERSION, true);
  v.setUint8(at(HDR_LOADFLAGS), LOADED_HIGH);
  v.setUint32(at(HDR_INITRD_ADDR_MAX), ELF_INITRD_ADDR_MAX, true);
  v.setUint32(at(HDR_KERNEL_ALIGNMENT), 0x20_0000, true);
  v.setUint16(at(HDR_XLOADFLAGS), XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G, true);
  v.setUint32(at(HDR_CMDLINE_SIZE), ELF_CMDLINE_MAX, true);
  return {
    ...elfPieces(elf, name), header, loadflags: LOADED_HIGH, cmdlineMax: ELF_CMDLINE_MAX,
    initrdAddrMax: ELF_INITRD_ADDR_MAX, protocolVersion: ELF_PROTOCOL_VERSION, format: 'elf',
  };
}

/**
 * Loads a bzImage (or an ELF vmlinux) for the 64-bit entry. Throws a one-line TshvError when
 * something does not fit.
 */
export function loadLinux(mem: GuestMemory, cpus: readonly CpuState[], opts: LinuxBootOptions): LinuxBootInfo {
  const name = opts.kernelName ?? 'kernel';
  if (cpus.length === 0) throw new TshvError(`Cannot boot "${name}": the machine has no vCPU`);
  const lowEnd = Math.min(opts.memSizeBytes, PCI_HOLE_START);
  const k = isElf(opts.kernel)
    ? planElfKernel(opts.kernel, name)
    : planBzImageKernel(opts.kernel, name, lowEnd, opts.decompressOnHost ?? false, opts.payloadCache);

  // Command line: cmdline_size excludes the NUL (boot.rst, cmdline_size).
  const cmdline = new TextEncoder().encode(opts.cmdline);
  const cmdlineMax = Math.min(k.cmdlineMax, CMDLINE_MAX_BYTES - 1);
  if (cmdline.byteLength > cmdlineMax) {
    throw new TshvError(`Cannot boot "${name}": kernel command line too long (${cmdline.byteLength} bytes, at most ${cmdlineMax})`);
  }

  // The initrd goes as high as allowed: below initrd_addr_max (inclusive bound) and low RAM's end.
  const initrdSize = opts.initrd?.byteLength ?? 0;
  const neededMib = Math.ceil((alignUp(k.end, PAGE_BYTES) + initrdSize) / MIB);
  const tooSmall = (): TshvError => new TshvError(
    `Memory too small: ${Math.floor(opts.memSizeBytes / MIB)} MiB cannot hold the kernel` +
    `${initrdSize > 0 ? ' and initrd' : ''} of "${name}", which needs at least ${neededMib} MiB`);
  let initrdAddress = 0;
  if (initrdSize > 0) {
    const top = Math.min(lowEnd, k.initrdAddrMax + 1);
    initrdAddress = alignDown(top - initrdSize, PAGE_BYTES);
    if (initrdAddress < k.end) {
      if (alignDown(lowEnd - initrdSize, PAGE_BYTES) >= k.end) {
        throw new TshvError(
          `Cannot boot "${name}": initrd too large (${initrdSize} bytes) to fit below the kernel's ` +
          `initrd_addr_max ${hex(k.initrdAddrMax)} above the kernel`);
      }
      throw tooSmall();
    }
  } else if (k.end > lowEnd) {
    throw tooSmall();
  }
  if (!mem.isRange(0, lowEnd)) {
    throw new TshvError(`Guest memory (${mem.sizeBytes} bytes) is smaller than the ${opts.memSizeBytes} bytes to boot with`);
  }

  for (const p of k.pieces) {
    mem.write(p.addr, p.data);
    if (p.memSizeBytes > p.data.byteLength) mem.fill(p.addr + p.data.byteLength, p.memSizeBytes - p.data.byteLength, 0);
  }
  if (opts.initrd !== undefined && initrdSize > 0) mem.write(initrdAddress, opts.initrd);
  mem.write(CMDLINE_START, cmdline);
  mem.writeU8(CMDLINE_START + cmdline.byteLength, 0);

  const rsdpAddress = writeAcpiTables(mem, { ...opts.acpi, cpuCount: opts.cpuCount });
  const e820 = buildE820Map(opts.memSizeBytes);
  writeBootParams(mem, k, { initrdAddress, initrdSize, rsdpAddress, e820, lowEnd });

  const gdtLimit = writeBootGdt(mem);
  writeIdentityPageTables(mem);
  cpus.forEach((cpu, i) => {
    if (i === 0) setupLongModeEntry(cpu, k.entry, ZERO_PAGE_START, gdtLimit);
    else setupApplicationProcessor(cpu);
  });
  return {
    loadAddress: k.load, entryRip: k.entry, kernelEnd: k.end, initrdAddress, initrdSizeBytes: initrdSize,
    cmdlineAddress: CMDLINE_START, rsdpAddress, e820, protocolVersion: k.protocolVersion, format: k.format,
  };
}

interface BootParamsPlan {
  initrdAddress: number;
  initrdSize: number;
  rsdpAddress: number;
  e820: readonly E820Entry[];
  lowEnd: number;
}

/** Fills the zero page: a clean page, the image's setup header, then the fields a loader sets. */
function writeBootParams(mem: GuestMemory, k: KernelPlan, p: BootParamsPlan): void {
  const zp = ZERO_PAGE_START;
  // boot.rst: take only setup_header into a zeroed boot_params (so the sentinel stays 0).
  mem.fill(zp, BOOT_PARAMS_BYTES, 0);
  mem.write(zp + BP_HDR, k.header);
  const hdr = (field: number): number => zp + BP_HDR + (field - HDR_SETUP_SECTS);

  mem.writeU8(hdr(HDR_TYPE_OF_LOADER), LOADER_TYPE_UNDEFINED);
  mem.writeU8(hdr(HDR_LOADFLAGS), k.loadflags | CAN_USE_HEAP);
  mem.writeU16(hdr(HDR_HEAP_END_PTR), HEAP_END_PTR);
  mem.writeU32(hdr(HDR_CODE32_START), k.load);
  mem.writeU32(hdr(HDR_CMD_LINE_PTR), CMDLINE_START);
  mem.writeU32(zp + BP_EXT_CMD_LINE_PTR, 0);
  // 64-bit values split into the header's low half and boot_params' ext_ high half (2.12+).
  mem.writeU32(hdr(HDR_RAMDISK_IMAGE), p.initrdAddress >>> 0);
  mem.writeU32(hdr(HDR_RAMDISK_SIZE), p.initrdSize >>> 0);
  mem.writeU32(zp + BP_EXT_RAMDISK_IMAGE, Math.floor(p.initrdAddress / 0x1_0000_0000));
  mem.writeU32(zp + BP_EXT_RAMDISK_SIZE, Math.floor(p.initrdSize / 0x1_0000_0000));
  // acpi_rsdp_addr (2.14+): saves the kernel the scan of the BIOS area; older kernels ignore it.
  mem.writeU64(zp + BP_ACPI_RSDP_ADDR, BigInt(p.rsdpAddress));
  // alt_mem_k: KiB above 1 MiB (the E801 answer), a fallback when e820 is ignored.
  mem.writeU32(zp + BP_ALT_MEM_K, Math.floor((p.lowEnd - HIMEM_START) / 1024));

  if (p.e820.length > E820_MAX_ENTRIES_ZEROPAGE) throw new TshvError(`Too many e820 entries (${p.e820.length})`);
  mem.writeU8(zp + BP_E820_ENTRIES, p.e820.length);
  mem.write(zp + BP_E820_TABLE, encodeE820(p.e820));
}
