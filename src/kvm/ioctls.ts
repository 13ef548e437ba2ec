// KVM ioctl numbers (Documentation/virt/kvm/api.rst; include/uapi/linux/kvm.h), one table, each
// with the capability it needs (0 = part of the stable API). Encoded as the kernel's _IOC macro:
// dir << 30 | size << 16 | 'type' << 8 | nr.

const KVMIO = 0xae;
const NONE = 0, WRITE = 1, READ = 2;
const ioc = (dir: number, nr: number, size: number): number => ((dir << 30) | (size << 16) | (KVMIO << 8) | nr) >>> 0;
const io = (nr: number): number => ioc(NONE, nr, 0);
const iow = (nr: number, size: number): number => ioc(WRITE, nr, size);
const ior = (nr: number, size: number): number => ioc(READ, nr, size);
const iowr = (nr: number, size: number): number => ioc(READ | WRITE, nr, size);

/** Capabilities (KVM_CAP_*), for KVM_CHECK_EXTENSION. */
export const KVM_CAP = {
  IRQCHIP: 0,
  HLT: 1,
  USER_MEMORY: 3,
  SET_TSS_ADDR: 4,
  EXT_CPUID: 7,
  NR_VCPUS: 9,
  NR_MEMSLOTS: 10,
  PIT: 11,
  MP_STATE: 14,
  IRQ_ROUTING: 25,
  IRQ_INJECT_STATUS: 26,
  SET_IDENTITY_MAP_ADDR: 37,
  IRQFD: 32,
  PIT2: 33,
  SET_BOOT_CPU_ID: 34,
  IOEVENTFD: 36,
  ADJUST_CLOCK: 39,
  VCPU_EVENTS: 41,
  DEBUGREGS: 50,
  XSAVE: 55,
  XCRS: 56,
  TSC_DEADLINE_TIMER: 72,
  SIGNAL_MSI: 77,
  IMMEDIATE_EXIT: 136,
  MAX_VCPUS: 66,
  SPLIT_IRQCHIP: 121,
  X2APIC_API: 129,
  MANUAL_DIRTY_LOG_PROTECT2: 168,
} as const;

/** Struct sizes the numbers depend on (layouts in structs.ts). */
export const SIZEOF = {
  kvm_userspace_memory_region: 32,
  kvm_regs: 144,
  kvm_sregs: 312,
  kvm_fpu: 416,
  kvm_msrs_header: 8,
  kvm_cpuid2_header: 8,
  kvm_lapic_state: 1024,
  kvm_irqchip: 520,
  kvm_irq_level: 8,
  kvm_pit_config: 64,
  kvm_pit_state2: 112,
  kvm_clock_data: 48,
  kvm_vcpu_events: 64,
  kvm_mp_state: 4,
  kvm_debugregs: 128,
  kvm_xsave: 4096,
  kvm_xcrs: 392,
  kvm_irqfd: 32,
  kvm_ioeventfd: 64,
  kvm_irq_routing_header: 8,
  kvm_msi: 32,
  kvm_signal_mask_header: 4,
  kvm_enable_cap: 104,
  kvm_dirty_log: 16,
} as const;

export interface IoctlInfo {
  readonly name: string;
  readonly request: number;
  /** The capability needed, or -1 when the ioctl is part of the base API. */
  readonly cap: number;
}
const def = (name: string, request: number, cap = -1): IoctlInfo => ({ name, request, cap });

export const KVM = {
  // System ioctls (on /dev/kvm).
  GET_API_VERSION: def('KVM_GET_API_VERSION', io(0x00)),
  CREATE_VM: def('KVM_CREATE_VM', io(0x01)),
  CHECK_EXTENSION: def('KVM_CHECK_EXTENSION', io(0x03)),
  GET_VCPU_MMAP_SIZE: def('KVM_GET_VCPU_MMAP_SIZE', io(0x04)),
  GET_SUPPORTED_CPUID: def('KVM_GET_SUPPORTED_CPUID', iowr(0x05, SIZEOF.kvm_cpuid2_header), KVM_CAP.EXT_CPUID),
  GET_MSR_INDEX_LIST: def('KVM_GET_MSR_INDEX_LIST', iowr(0x02, 4)),
  // VM ioctls.
  CREATE_VCPU: def('KVM_CREATE_VCPU', io(0x41)),
  GET_DIRTY_LOG: def('KVM_GET_DIRTY_LOG', iow(0x42, SIZEOF.kvm_dirty_log)),
  SET_USER_MEMORY_REGION: def('KVM_SET_USER_MEMORY_REGION', iow(0x46, SIZEOF.kvm_userspace_memory_region), KVM_CAP.USER_MEMORY),
  SET_TSS_ADDR: def('KVM_SET_TSS_ADDR', io(0x47), KVM_CAP.SET_TSS_ADDR),
  SET_IDENTITY_MAP_ADDR: def('KVM_SET_IDENTITY_MAP_ADDR', iow(0x48, 8), KVM_CAP.SET_IDENTITY_MAP_ADDR),
  CREATE_IRQCHIP: def('KVM_CREATE_IRQCHIP', io(0x60), KVM_CAP.IRQCHIP),
  IRQ_LINE: def('KVM_IRQ_LINE', iow(0x61, SIZEOF.kvm_irq_level), KVM_CAP.IRQCHIP),
  IRQ_LINE_STATUS: def('KVM_IRQ_LINE_STATUS', iowr(0x67, SIZEOF.kvm_irq_level), KVM_CAP.IRQ_INJECT_STATUS),
  GET_IRQCHIP: def('KVM_GET_IRQCHIP', iowr(0x62, SIZEOF.kvm_irqchip), KVM_CAP.IRQCHIP),
  SET_IRQCHIP: def('KVM_SET_IRQCHIP', ior(0x63, SIZEOF.kvm_irqchip), KVM_CAP.IRQCHIP),
  SET_GSI_ROUTING: def('KVM_SET_GSI_ROUTING', iow(0x6a, SIZEOF.kvm_irq_routing_header), KVM_CAP.IRQ_ROUTING),
  IRQFD: def('KVM_IRQFD', iow(0x76, SIZEOF.kvm_irqfd), KVM_CAP.IRQFD),
  CREATE_PIT2: def('KVM_CREATE_PIT2', iow(0x77, SIZEOF.kvm_pit_config), KVM_CAP.PIT2),
  IOEVENTFD: def('KVM_IOEVENTFD', iow(0x79, SIZEOF.kvm_ioeventfd), KVM_CAP.IOEVENTFD),
  SET_CLOCK: def('KVM_SET_CLOCK', iow(0x7b, SIZEOF.kvm_clock_data), KVM_CAP.ADJUST_CLOCK),
  GET_CLOCK: def('KVM_GET_CLOCK', ior(0x7c, SIZEOF.kvm_clock_data), KVM_CAP.ADJUST_CLOCK),
  GET_PIT2: def('KVM_GET_PIT2', ior(0x9f, SIZEOF.kvm_pit_state2), KVM_CAP.PIT2),
  SET_PIT2: def('KVM_SET_PIT2', iow(0xa0, SIZEOF.kvm_pit_state2), KVM_CAP.PIT2),
  SIGNAL_MSI: def('KVM_SIGNAL_MSI', iow(0xa5, SIZEOF.kvm_msi), KVM_CAP.SIGNAL_MSI),
  ENABLE_CAP: def('KVM_ENABLE_CAP', iow(0xa3, SIZEOF.kvm_enable_cap)),
  // vCPU ioctls.
  RUN: def('KVM_RUN', io(0x80)),
  GET_REGS: def('KVM_GET_REGS', ior(0x81, SIZEOF.kvm_regs)),
  SET_REGS: def('KVM_SET_REGS', iow(0x82, SIZEOF.kvm_regs)),
  GET_SREGS: def('KVM_GET_SREGS', ior(0x83, SIZEOF.kvm_sregs)),
  SET_SREGS: def('KVM_SET_SREGS', iow(0x84, SIZEOF.kvm_sregs)),
  GET_MSRS: def('KVM_GET_MSRS', iowr(0x88, SIZEOF.kvm_msrs_header)),
  SET_MSRS: def('KVM_SET_MSRS', iow(0x89, SIZEOF.kvm_msrs_header)),
  SET_SIGNAL_MASK: def('KVM_SET_SIGNAL_MASK', iow(0x8b, SIZEOF.kvm_signal_mask_header)),
  GET_FPU: def('KVM_GET_FPU', ior(0x8c, SIZEOF.kvm_fpu)),
  SET_FPU: def('KVM_SET_FPU', iow(0x8d, SIZEOF.kvm_fpu)),
  GET_LAPIC: def('KVM_GET_LAPIC', ior(0x8e, SIZEOF.kvm_lapic_state), KVM_CAP.IRQCHIP),
  SET_LAPIC: def('KVM_SET_LAPIC', iow(0x8f, SIZEOF.kvm_lapic_state), KVM_CAP.IRQCHIP),
  SET_CPUID2: def('KVM_SET_CPUID2', iow(0x90, SIZEOF.kvm_cpuid2_header), KVM_CAP.EXT_CPUID),
  GET_MP_STATE: def('KVM_GET_MP_STATE', ior(0x98, SIZEOF.kvm_mp_state), KVM_CAP.MP_STATE),
  SET_MP_STATE: def('KVM_SET_MP_STATE', iow(0x99, SIZEOF.kvm_mp_state), KVM_CAP.MP_STATE),
  GET_VCPU_EVENTS: def('KVM_GET_VCPU_EVENTS', ior(0x9f, SIZEOF.kvm_vcpu_events), KVM_CAP.VCPU_EVENTS),
  SET_VCPU_EVENTS: def('KVM_SET_VCPU_EVENTS', iow(0xa0, SIZEOF.kvm_vcpu_events), KVM_CAP.VCPU_EVENTS),
  GET_DEBUGREGS: def('KVM_GET_DEBUGREGS', ior(0xa1, SIZEOF.kvm_debugregs), KVM_CAP.DEBUGREGS),
  SET_DEBUGREGS: def('KVM_SET_DEBUGREGS', iow(0xa2, SIZEOF.kvm_debugregs), KVM_CAP.DEBUGREGS),
  GET_XSAVE: def('KVM_GET_XSAVE', ior(0xa4, SIZEOF.kvm_xsave), KVM_CAP.XSAVE),
  SET_XSAVE: def('KVM_SET_XSAVE', iow(0xa5, SIZEOF.kvm_xsave), KVM_CAP.XSAVE),
  GET_XCRS: def('KVM_GET_XCRS', ior(0xa6, SIZEOF.kvm_xcrs), KVM_CAP.XCRS),
  SET_XCRS: def('KVM_SET_XCRS', iow(0xa7, SIZEOF.kvm_xcrs), KVM_CAP.XCRS),
  SET_TSC_KHZ: def('KVM_SET_TSC_KHZ', io(0xa2)),
  GET_TSC_KHZ: def('KVM_GET_TSC_KHZ', io(0xa3)),
} as const;

/** KVM_EXIT_* reasons (kvm.h). */
export const KVM_EXIT = {
  UNKNOWN: 0, EXCEPTION: 1, IO: 2, HYPERCALL: 3, DEBUG: 4, HLT: 5, MMIO: 6, IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8, FAIL_ENTRY: 9, INTR: 10, SET_TPR: 11, TPR_ACCESS: 12, NMI: 16, INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24, IOAPIC_EOI: 26, HYPERV: 27,
} as const;
