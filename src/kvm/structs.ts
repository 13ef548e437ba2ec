// Layouts of the KVM structures we pass through ioctls (arch/x86/include/uapi/asm/kvm.h,
// include/uapi/linux/kvm.h), kept apart from the wrappers. Each is a plain typed object with an
// encode/decode pair over a little-endian buffer.

import { SIZEOF } from './ioctls.js';

const u64 = (v: DataView, o: number): bigint => v.getBigUint64(o, true);
const setU64 = (v: DataView, o: number, x: bigint): void => v.setBigUint64(o, BigInt.asUintN(64, x), true);
const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** struct kvm_regs: 18 u64 in this order. */
export const KVM_REGS_ORDER = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags',
] as const;
export type KvmRegs = Record<(typeof KVM_REGS_ORDER)[number], bigint>;

export function decodeRegs(b: Uint8Array): KvmRegs {
  const v = dv(b);
  const out = {} as KvmRegs;
  KVM_REGS_ORDER.forEach((k, i) => { out[k] = u64(v, i * 8); });
  return out;
}
export function encodeRegs(r: KvmRegs): Uint8Array {
  const b = new Uint8Array(SIZEOF.kvm_regs);
  const v = dv(b);
  KVM_REGS_ORDER.forEach((k, i) => setU64(v, i * 8, r[k]));
  return b;
}

/** struct kvm_segment (24 bytes). */
export interface KvmSegment {
  base: bigint; limit: number; selector: number; type: number; present: number; dpl: number;
  db: number; s: number; l: number; g: number; avl: number; unusable: number;
}
/** struct kvm_dtable (16 bytes). */
export interface KvmDtable { base: bigint; limit: number }

export interface KvmSregs {
  cs: KvmSegment; ds: KvmSegment; es: KvmSegment; fs: KvmSegment; gs: KvmSegment; ss: KvmSegment;
  tr: KvmSegment; ldt: KvmSegment; gdt: KvmDtable; idt: KvmDtable;
  cr0: bigint; cr2: bigint; cr3: bigint; cr4: bigint; cr8: bigint; efer: bigint; apicBase: bigint;
  /** 256-bit pending-interrupt bitmap, as 4 u64. */
  interruptBitmap: bigint[];
}
const SEG_NAMES = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;

function decodeSegment(v: DataView, o: number): KvmSegment {
  return {
    base: u64(v, o), limit: v.getUint32(o + 8, true), selector: v.getUint16(o + 12, true),
    type: v.getUint8(o + 14), present: v.getUint8(o + 15), dpl: v.getUint8(o + 16), db: v.getUint8(o + 17),
    s: v.getUint8(o + 18), l: v.getUint8(o + 19), g: v.getUint8(o + 20), avl: v.getUint8(o + 21),
    unusable: v.getUint8(o + 22),
  };
}
function encodeSegment(v: DataView, o: number, s: KvmSegment): void {
  setU64(v, o, s.base);
  v.setUint32(o + 8, s.limit >>> 0, true);
  v.setUint16(o + 12, s.selector, true);
  const bytes = [s.type, s.present, s.dpl, s.db, s.s, s.l, s.g, s.avl, s.unusable];
  bytes.forEach((x, i) => v.setUint8(o + 14 + i, x));
}

export function decodeSregs(b: Uint8Array): KvmSregs {
  const v = dv(b);
  const segs = SEG_NAMES.map((_, i) => decodeSegment(v, i * 24));
  const dt = (o: number): KvmDtable => ({ base: u64(v, o), limit: v.getUint16(o + 8, true) });
  const r = (i: number): bigint => u64(v, 224 + i * 8);
  return {
    cs: segs[0]!, ds: segs[1]!, es: segs[2]!, fs: segs[3]!, gs: segs[4]!, ss: segs[5]!, tr: segs[6]!, ldt: segs[7]!,
    gdt: dt(192), idt: dt(208),
    cr0: r(0), cr2: r(1), cr3: r(2), cr4: r(3), cr8: r(4), efer: r(5), apicBase: r(6),
    interruptBitmap: [0, 1, 2, 3].map((i) => u64(v, 280 + i * 8)),
  };
}
export function encodeSregs(s: KvmSregs): Uint8Array {
  const b = new Uint8Array(SIZEOF.kvm_sregs);
  const v = dv(b);
  SEG_NAMES.forEach((n, i) => encodeSegment(v, i * 24, s[n]));
  setU64(v, 192, s.gdt.base); v.setUint16(200, s.gdt.limit, true);
  setU64(v, 208, s.idt.base); v.setUint16(216, s.idt.limit, true);
  [s.cr0, s.cr2, s.cr3, s.cr4, s.cr8, s.efer, s.apicBase].forEach((x, i) => setU64(v, 224 + i * 8, x));
  s.interruptBitmap.forEach((x, i) => setU64(v, 280 + i * 8, x));
  return b;
}

/** struct kvm_userspace_memory_region. Flags: KVM_MEM_LOG_DIRTY_PAGES = 1, KVM_MEM_READONLY = 2. */
export interface KvmUserspaceMemoryRegion {
  slot: number; flags: number; guestPhysAddr: bigint; memorySize: bigint; userspaceAddr: bigint;
}
export const KVM_MEM_LOG_DIRTY_PAGES = 1;
export function encodeMemoryRegion(r: KvmUserspaceMemoryRegion): Uint8Array {
  const b = new Uint8Array(SIZEOF.kvm_userspace_memory_region);
  const v = dv(b);
  v.setUint32(0, r.slot, true);
  v.setUint32(4, r.flags, true);
  setU64(v, 8, r.guestPhysAddr);
  setU64(v, 16, r.memorySize);
  setU64(v, 24, r.userspaceAddr);
  return b;
}

/** struct kvm_msrs with its entries (struct kvm_msr_entry: index u32, reserved u32, data u64). */
export function encodeMsrs(entries: { index: number; data: bigint }[]): Uint8Array {
  const b = new Uint8Array(8 + 16 * entries.length);
  const v = dv(b);
  v.setUint32(0, entries.length, true);
  entries.forEach((e, i) => { v.setUint32(8 + i * 16, e.index, true); setU64(v, 8 + i * 16 + 8, e.data); });
  return b;
}
export function decodeMsrs(b: Uint8Array, count: number): { index: number; data: bigint }[] {
  const v = dv(b);
  return Array.from({ length: count }, (_, i) => ({ index: v.getUint32(8 + i * 16, true), data: u64(v, 8 + i * 16 + 8) }));
}

/** struct kvm_cpuid_entry2 (40 bytes) inside struct kvm_cpuid2 (nent u32, padding u32, entries). */
export interface KvmCpuidEntry {
  function: number; index: number; flags: number; eax: number; ebx: number; ecx: number; edx: number;
}
export const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1;
export function encodeCpuid2(entries: KvmCpuidEntry[], capacity = entries.length): Uint8Array {
  const b = new Uint8Array(8 + 40 * capacity);
  const v = dv(b);
  v.setUint32(0, capacity, true);
  entries.forEach((e, i) => {
    const o = 8 + i * 40;
    [e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx].forEach((x, j) => v.setUint32(o + j * 4, x >>> 0, true));
  });
  if (entries.length !== capacity) v.setUint32(0, entries.length, true);
  return b;
}
export function decodeCpuid2(b: Uint8Array): KvmCpuidEntry[] {
  const v = dv(b);
  const n = v.getUint32(0, true);
  return Array.from({ length: n }, (_, i) => {
    const o = 8 + i * 40;
    const g = (j: number): number => v.getUint32(o + j * 4, true);
    return { function: g(0), index: g(1), flags: g(2), eax: g(3), ebx: g(4), ecx: g(5), edx: g(6) };
  });
}

/** struct kvm_irq_level: irq (or status) u32, level u32. */
export function encodeIrqLevel(irq: number, level: boolean): Uint8Array {
  const b = new Uint8Array(SIZEOF.kvm_irq_level);
  const v = dv(b);
  v.setUint32(0, irq, true);
  v.setUint32(4, level ? 1 : 0, true);
  return b;
}

/** struct kvm_irqfd: fd u32, gsi u32, flags u32, resamplefd u32, pad[16]. */
export const KVM_IRQFD_FLAG_DEASSIGN = 1;
export function encodeIrqfd(fd: number, gsi: number, flags = 0): Uint8Array {
  const b = new Uint8Array(SIZEOF.kvm_irqfd);
  const v = dv(b);
  v.setUint32(0, fd, true); v.setUint32(4, gsi, true); v.setUint32(8, flags, true);
  return b;
}

/** struct kvm_ioeventfd: datamatch u64, addr u64, len u32, fd i32, flags u32, pad[36]. */
export const KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0;
export const KVM_IOEVENTFD_FLAG_PIO = 1 << 1;
export const KVM_IOEVENTFD_FLAG_DEASSIGN = 1 << 2;
export function encodeIoeventfd(o: { addr: bigint; len: number; fd: number; flags: number; datamatch?: bigint }): Uint8Array {
  const b = new Uint8Array(SIZEOF.kvm_ioeventfd);
  const v = dv(b);
  setU64(v, 0, o.datamatch ?? 0n); setU64(v, 8, o.addr);
  v.setUint32(16, o.len, true); v.setInt32(20, o.fd, true); v.setUint32(24, o.flags, true);
  return b;
}

/**
 * struct kvm_irq_routing_entry in struct kvm_irq_routing (nr u32, flags u32, entries): gsi, type,
 * flags, pad (u32 each), then a 32-byte union (its largest member is `u32 pad[8]`): 48 bytes.
 */
export const KVM_IRQ_ROUTING_ENTRY_BYTES = 48;
export type KvmIrqRoute =
  | { gsi: number; type: 'irqchip'; irqchip: number; pin: number }
  | { gsi: number; type: 'msi'; addressLo: number; addressHi: number; data: number };
export const KVM_IRQ_ROUTING_IRQCHIP = 1;
export const KVM_IRQ_ROUTING_MSI = 2;
export function encodeIrqRouting(routes: KvmIrqRoute[]): Uint8Array {
  const b = new Uint8Array(8 + KVM_IRQ_ROUTING_ENTRY_BYTES * routes.length);
  const v = dv(b);
  v.setUint32(0, routes.length, true);
  routes.forEach((r, i) => {
    const o = 8 + i * KVM_IRQ_ROUTING_ENTRY_BYTES;
    v.setUint32(o, r.gsi, true);
    if (r.type === 'irqchip') {
      v.setUint32(o + 4, KVM_IRQ_ROUTING_IRQCHIP, true);
      v.setUint32(o + 16, r.irqchip, true); v.setUint32(o + 20, r.pin, true);
    } else {
      v.setUint32(o + 4, KVM_IRQ_ROUTING_MSI, true);
      v.setUint32(o + 16, r.addressLo >>> 0, true); v.setUint32(o + 20, r.addressHi >>> 0, true);
      v.setUint32(o + 24, r.data >>> 0, true);
    }
  });
  return b;
}

/** struct kvm_msi: address_lo, address_hi, data, flags, pad[16]. */
export function encodeMsi(addressLo: number, addressHi: number, data: number): Uint8Array {
  const b = new Uint8Array(SIZEOF.kvm_msi);
  const v = dv(b);
  v.setUint32(0, addressLo >>> 0, true); v.setUint32(4, addressHi >>> 0, true); v.setUint32(8, data >>> 0, true);
  return b;
}

/** struct kvm_pit_config: flags u32, pad[15]. KVM_PIT_SPEAKER_DUMMY = 1. */
export function encodePitConfig(flags: number): Uint8Array {
  const b = new Uint8Array(SIZEOF.kvm_pit_config);
  dv(b).setUint32(0, flags, true);
  return b;
}

/** struct kvm_mp_state: mp_state u32. */
export const KVM_MP_STATE = { RUNNABLE: 0, UNINITIALIZED: 1, INIT_RECEIVED: 2, HALTED: 3, SIPI_RECEIVED: 4 } as const;

/** struct kvm_enable_cap: cap u32, flags u32, args[4] u64, pad[64]. */
export function encodeEnableCap(cap: number, args: bigint[] = []): Uint8Array {
  const b = new Uint8Array(SIZEOF.kvm_enable_cap);
  const v = dv(b);
  v.setUint32(0, cap, true);
  args.forEach((a, i) => setU64(v, 8 + i * 8, a));
  return b;
}

/** sigset for KVM_SET_SIGNAL_MASK: struct kvm_signal_mask { len u32; sigset[] } with the kernel's 8-byte sigset. */
export function encodeSignalMask(blockedSignals: number[]): Uint8Array {
  const b = new Uint8Array(4 + 8);
  const v = dv(b);
  v.setUint32(0, 8, true);
  let mask = 0n;
  for (const s of blockedSignals) mask |= 1n << BigInt(s - 1);
  setU64(v, 4, mask);
  return b;
}

/** The kernel's 64-bit sigset from a glibc sigset_t (its first 8 bytes), for KVM_SET_SIGNAL_MASK. */
export function encodeSignalMaskFromSigset(sigset: Uint8Array): Uint8Array {
  const b = new Uint8Array(4 + 8);
  dv(b).setUint32(0, 8, true);
  b.set(sigset.subarray(0, 8), 4);
  return b;
}

/** struct kvm_irqchip: chip_id u32, pad u32, 512-byte union (pic or ioapic state). */
export const KVM_IRQCHIP_PIC_MASTER = 0;
export const KVM_IRQCHIP_PIC_SLAVE = 1;
export const KVM_IRQCHIP_IOAPIC = 2;
export function encodeIrqchipHeader(chipId: number): Uint8Array {
  const b = new Uint8Array(SIZEOF.kvm_irqchip);
  dv(b).setUint32(0, chipId, true);
  return b;
}

/** struct kvm_mp_state: one u32. */
export function encodeMpState(state: number): Uint8Array {
  const b = new Uint8Array(SIZEOF.kvm_mp_state);
  dv(b).setUint32(0, state, true);
  return b;
}
export function decodeMpState(b: Uint8Array): number { return dv(b).getUint32(0, true); }

/** struct kvm_clock_data: clock u64 (ns of kvmclock), flags u32, then padding/realtime/host_tsc. */
export function encodeClockData(clockNs: bigint): Uint8Array {
  const b = new Uint8Array(SIZEOF.kvm_clock_data);
  setU64(dv(b), 0, clockNs);
  return b;
}
export function decodeClockData(b: Uint8Array): bigint { return u64(dv(b), 0); }

/**
 * Everything KVM keeps of one vCPU, for snapshots. regs/sregs are interpreted (cpu-state.ts
 * converts them to and from CpuState); the other states are kernel-defined blobs of SIZEOF bytes
 * that a restore hands back unchanged.
 */
export interface KvmVcpuStateBlobs {
  regs: KvmRegs;
  sregs: KvmSregs;
  msrs: { index: number; data: bigint }[];
  mpState: number;
  lapic: Uint8Array;
  fpu: Uint8Array;
  xsave: Uint8Array | undefined;
  xcrs: Uint8Array | undefined;
  vcpuEvents: Uint8Array;
  debugregs: Uint8Array;
}

/** struct kvm_dirty_log: slot u32, padding u32, dirty_bitmap pointer (u64). */
export function encodeDirtyLog(slot: number, bitmapAddress: bigint): Uint8Array {
  const b = new Uint8Array(SIZEOF.kvm_dirty_log);
  const v = dv(b);
  v.setUint32(0, slot, true);
  setU64(v, 8, bitmapAddress);
  return b;
}
