// Typed KVM file descriptors, one class per fd kind (shared/STYLE.md habit 3): Kvm (/dev/kvm),
// VmFd, VcpuFd. Every failure names the ioctl and the errno; missing capabilities are reported as
// such before the ioctl that needs them is tried.

import { TshvError } from '../common/errors.js';
import {
  MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, O_CLOEXEC, O_RDWR, PROT_READ, PROT_WRITE, SysError, close, errnoName, ioctlArg, ioctlBuf,
  ioctlArgRaw, mmap, munmap, openPath, type Mapping,
} from '../sys/libc.js';
import { KVM, KVM_CAP, type IoctlInfo } from './ioctls.js';
import { KvmRunPage } from './run.js';
import {
  decodeClockData, decodeCpuid2, encodeDirtyLog, decodeMpState, decodeMsrs, decodeRegs, decodeSregs, encodeClockData, encodeCpuid2,
  encodeEnableCap, encodeIoeventfd, encodeIrqLevel, encodeIrqRouting, encodeIrqchipHeader, encodeIrqfd,
  encodeMemoryRegion, encodeMpState, encodeMsi, encodeMsrs, encodePitConfig, encodeRegs, encodeSignalMask,
  encodeSignalMaskFromSigset, encodeSregs, type KvmCpuidEntry, type KvmIrqRoute, type KvmRegs, type KvmSregs,
  type KvmUserspaceMemoryRegion, type KvmVcpuStateBlobs,
} from './structs.js';
import { SIZEOF } from './ioctls.js';

export const KVM_API_VERSION = 12;

export class KvmError extends TshvError {}

function wrap<T>(info: IoctlInfo, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof SysError) throw new KvmError(`${info.name} failed: ${errnoName(e.errno)}`);
    throw e;
  }
}
const ioBuf = (fd: number, info: IoctlInfo, buf: Uint8Array): number => wrap(info, () => ioctlBuf(fd, info.request, buf, info.name));
const ioArg = (fd: number, info: IoctlInfo, arg: number | bigint = 0): number => wrap(info, () => ioctlArg(fd, info.request, arg, info.name));

/** The error for a failed open of /dev/kvm, by errno (exported for tests). */
export function kvmOpenError(path: string, errno: number, detail: string): KvmError {
  if (errno === 2) return new KvmError(`KVM is not available: ${path} does not exist (no kvm module, or no hardware virtualization)`);
  if (errno === 13 || errno === 1) return new KvmError(`KVM is not available: permission denied on ${path} (join the kvm group or run as root)`);
  return new KvmError(`KVM is not available: cannot open ${path}: ${detail}`);
}

/** KVM_GET_API_VERSION must return 12 (api.rst §4.1); anything else is a kernel we do not speak to. */
export function apiVersionError(version: number): KvmError | undefined {
  return version === KVM_API_VERSION ? undefined : new KvmError(`KVM API version ${version} is not supported (need ${KVM_API_VERSION})`);
}

export class Kvm {
  readonly fd: number;
  private constructor(fd: number) { this.fd = fd; }

  /** Opens /dev/kvm and checks the API version; clear errors for the usual failures. */
  static open(path = '/dev/kvm'): Kvm {
    let fd: number;
    try {
      fd = openPath(path, O_RDWR | O_CLOEXEC);
    } catch (e) {
      throw kvmOpenError(path, e instanceof SysError ? e.errno : 0, e instanceof Error ? e.message : String(e));
    }
    const kvm = new Kvm(fd);
    let version: number;
    try {
      version = ioArg(fd, KVM.GET_API_VERSION);
    } catch (e) {
      close(fd);
      throw new KvmError(`KVM is not available: ${path} is not a KVM device (${e instanceof Error ? e.message : String(e)})`);
    }
    const bad = apiVersionError(version);
    if (bad !== undefined) {
      close(fd);
      throw bad;
    }
    return kvm;
  }

  checkExtension(cap: number): number {
    return ioArg(this.fd, KVM.CHECK_EXTENSION, cap);
  }

  /** Throws a clear error when a capability we rely on is missing. */
  requireExtension(cap: number, name: string): void {
    if (this.checkExtension(cap) <= 0) throw new KvmError(`KVM lacks a required capability: KVM_CAP_${name}`);
  }

  vcpuMmapSize(): number {
    return ioArg(this.fd, KVM.GET_VCPU_MMAP_SIZE);
  }

  supportedCpuid(): KvmCpuidEntry[] {
    const buf = encodeCpuid2([], 256);
    new DataView(buf.buffer).setUint32(0, 256, true);
    ioBuf(this.fd, KVM.GET_SUPPORTED_CPUID, buf);
    return decodeCpuid2(buf);
  }

  createVm(): VmFd {
    return new VmFd(this, ioArg(this.fd, KVM.CREATE_VM, 0));
  }

  dispose(): void { close(this.fd); }
}

export class VmFd {
  readonly kvm: Kvm;
  readonly fd: number;
  constructor(kvm: Kvm, fd: number) { this.kvm = kvm; this.fd = fd; }

  setUserMemoryRegion(r: KvmUserspaceMemoryRegion): void { ioBuf(this.fd, KVM.SET_USER_MEMORY_REGION, encodeMemoryRegion(r)); }
  setTssAddr(addr: number): void { ioArg(this.fd, KVM.SET_TSS_ADDR, addr); }
  setIdentityMapAddr(addr: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, addr, true);
    ioBuf(this.fd, KVM.SET_IDENTITY_MAP_ADDR, b);
  }
  createIrqchip(): void { ioArg(this.fd, KVM.CREATE_IRQCHIP); }
  /**
   * KVM_GET_DIRTY_LOG for a slot registered with KVM_MEM_LOG_DIRTY_PAGES: one bit per 4 KiB page
   * written since the last call (the call also resets the log). The kernel writes the bitmap
   * through a pointer, so it goes through a scratch mapping of our own.
   */
  getDirtyLog(slot: number, pages: number): Uint8Array {
    const bytes = Math.max(8, Math.ceil(pages / 64) * 8);
    const scratch = wrap(KVM.GET_DIRTY_LOG, () => mmap(bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1));
    try {
      ioBuf(this.fd, KVM.GET_DIRTY_LOG, encodeDirtyLog(slot, scratch.address));
      return new Uint8Array(scratch.buffer).slice(0, Math.ceil(pages / 8));
    } finally {
      munmap(scratch);
    }
  }
  /** KVM_PIT_SPEAKER_DUMMY (1): port 0x61 is emulated in the kernel too. */
  createPit2(flags = 1): void { ioBuf(this.fd, KVM.CREATE_PIT2, encodePitConfig(flags)); }
  /** KVM_IRQ_LINE: a device's interrupt line (often toggled: one reused buffer, no allocation). */
  irqLine(irq: number, level: boolean): void {
    const b = this.irqLevelBuf;
    b[0] = irq & 0xff; b[1] = (irq >> 8) & 0xff; b[2] = (irq >> 16) & 0xff; b[3] = irq >>> 24;
    b[4] = level ? 1 : 0;
    ioBuf(this.fd, KVM.IRQ_LINE, b);
  }
  private readonly irqLevelBuf = encodeIrqLevel(0, false);
  setGsiRouting(routes: KvmIrqRoute[]): void { ioBuf(this.fd, KVM.SET_GSI_ROUTING, encodeIrqRouting(routes)); }
  irqfd(eventFd: number, gsi: number, flags = 0): void { ioBuf(this.fd, KVM.IRQFD, encodeIrqfd(eventFd, gsi, flags)); }
  ioeventfd(o: { addr: bigint; len: number; fd: number; flags: number; datamatch?: bigint }): void {
    ioBuf(this.fd, KVM.IOEVENTFD, encodeIoeventfd(o));
  }
  signalMsi(addressLo: number, addressHi: number, data: number): number {
    return ioBuf(this.fd, KVM.SIGNAL_MSI, encodeMsi(addressLo, addressHi, data));
  }
  enableCap(cap: number, args: bigint[] = []): void { ioBuf(this.fd, KVM.ENABLE_CAP, encodeEnableCap(cap, args)); }
  /** In-kernel PIC/IOAPIC state (KVM_IRQCHIP_PIC_MASTER/SLAVE/IOAPIC), as a kvm_irqchip blob. */
  getIrqchip(chipId: number): Uint8Array {
    const b = encodeIrqchipHeader(chipId);
    ioBuf(this.fd, KVM.GET_IRQCHIP, b);
    return b;
  }
  setIrqchip(blob: Uint8Array): void { ioBuf(this.fd, KVM.SET_IRQCHIP, blob); }
  getPit2(): Uint8Array {
    const b = new Uint8Array(SIZEOF.kvm_pit_state2);
    ioBuf(this.fd, KVM.GET_PIT2, b);
    return b;
  }
  setPit2(blob: Uint8Array): void { ioBuf(this.fd, KVM.SET_PIT2, blob); }
  /** kvmclock in ns (KVM_GET_CLOCK). */
  getClockNs(): bigint {
    const b = new Uint8Array(SIZEOF.kvm_clock_data);
    ioBuf(this.fd, KVM.GET_CLOCK, b);
    return decodeClockData(b);
  }
  setClockNs(clockNs: bigint): void { ioBuf(this.fd, KVM.SET_CLOCK, encodeClockData(clockNs)); }

  createVcpu(index: number): VcpuFd {
    const fd = ioArg(this.fd, KVM.CREATE_VCPU, index);
    const size = this.kvm.vcpuMmapSize();
    const mapping = wrap(KVM.CREATE_VCPU, () => mmap(size, PROT_READ | PROT_WRITE, MAP_SHARED, fd));
    return new VcpuFd(fd, index, mapping);
  }

  dispose(): void { close(this.fd); }
}

export class VcpuFd {
  readonly fd: number;
  readonly index: number;
  readonly run: KvmRunPage;
  private readonly mapping: Mapping;
  private readonly ownsFd: boolean;
  constructor(fd: number, index: number, mapping: Mapping, ownsFd = true) {
    this.fd = fd;
    this.index = index;
    this.mapping = mapping;
    this.ownsFd = ownsFd;
    this.run = new KvmRunPage(mapping.buffer);
  }

  /** KVM_RUN; returns 0, or -errno for EINTR/EAGAIN (a kick), throws on real errors. */
  runOnce(): number {
    try {
      return ioctlArg(this.fd, KVM.RUN.request, 0, KVM.RUN.name);
    } catch (e) {
      if (e instanceof SysError && (e.errno === 4 || e.errno === 11)) return -e.errno;
      if (e instanceof SysError) throw new KvmError(`KVM_RUN failed: ${errnoName(e.errno)}`);
      throw e;
    }
  }

  /** KVM_RUN for the hot loop: returns 0, or -errno (EINTR after a kick), never throws. */
  runRaw(): number {
    return ioctlArgRaw(this.fd, KVM_RUN_REQUEST, 0);
  }

  /** A vCPU fd created elsewhere (another thread) with its own mapping of the kvm_run page. */
  static attach(fd: number, index: number, mmapSizeBytes: number): VcpuFd {
    const mapping = wrap(KVM.CREATE_VCPU, () => mmap(mmapSizeBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd));
    return new VcpuFd(fd, index, mapping, false);
  }

  getRegs(): KvmRegs {
    const b = new Uint8Array(144);
    ioBuf(this.fd, KVM.GET_REGS, b);
    return decodeRegs(b);
  }
  setRegs(r: KvmRegs): void { ioBuf(this.fd, KVM.SET_REGS, encodeRegs(r)); }
  getSregs(): KvmSregs {
    const b = new Uint8Array(312);
    ioBuf(this.fd, KVM.GET_SREGS, b);
    return decodeSregs(b);
  }
  setSregs(s: KvmSregs): void { ioBuf(this.fd, KVM.SET_SREGS, encodeSregs(s)); }
  setCpuid2(entries: KvmCpuidEntry[]): void { ioBuf(this.fd, KVM.SET_CPUID2, encodeCpuid2(entries)); }
  getMsrs(indices: number[]): { index: number; data: bigint }[] {
    const b = encodeMsrs(indices.map((index) => ({ index, data: 0n })));
    const n = ioBuf(this.fd, KVM.GET_MSRS, b);
    return decodeMsrs(b, n);
  }
  setMsrs(entries: { index: number; data: bigint }[]): number { return ioBuf(this.fd, KVM.SET_MSRS, encodeMsrs(entries)); }
  setSignalMask(blockedSignals: number[]): void { ioBuf(this.fd, KVM.SET_SIGNAL_MASK, encodeSignalMask(blockedSignals)); }
  /** The signal mask in effect during KVM_RUN, from a glibc sigset_t (signals set = blocked). */
  setSignalMaskSigset(sigset: Uint8Array): void { ioBuf(this.fd, KVM.SET_SIGNAL_MASK, encodeSignalMaskFromSigset(sigset)); }
  getMpState(): number { return decodeMpState(this.getBlob(KVM.GET_MP_STATE, SIZEOF.kvm_mp_state)); }
  setMpState(state: number): void { ioBuf(this.fd, KVM.SET_MP_STATE, encodeMpState(state)); }
  getLapic(): Uint8Array { return this.getBlob(KVM.GET_LAPIC, SIZEOF.kvm_lapic_state); }
  setLapic(blob: Uint8Array): void { this.setBlob(KVM.SET_LAPIC, blob); }
  getFpu(): Uint8Array { return this.getBlob(KVM.GET_FPU, SIZEOF.kvm_fpu); }
  setFpu(blob: Uint8Array): void { this.setBlob(KVM.SET_FPU, blob); }
  getXsave(): Uint8Array { return this.getBlob(KVM.GET_XSAVE, SIZEOF.kvm_xsave); }
  setXsave(blob: Uint8Array): void { this.setBlob(KVM.SET_XSAVE, blob); }
  getXcrs(): Uint8Array { return this.getBlob(KVM.GET_XCRS, SIZEOF.kvm_xcrs); }
  setXcrs(blob: Uint8Array): void { this.setBlob(KVM.SET_XCRS, blob); }
  getVcpuEvents(): Uint8Array { return this.getBlob(KVM.GET_VCPU_EVENTS, SIZEOF.kvm_vcpu_events); }
  setVcpuEvents(blob: Uint8Array): void { this.setBlob(KVM.SET_VCPU_EVENTS, blob); }
  getDebugregs(): Uint8Array { return this.getBlob(KVM.GET_DEBUGREGS, SIZEOF.kvm_debugregs); }
  setDebugregs(blob: Uint8Array): void { this.setBlob(KVM.SET_DEBUGREGS, blob); }

  /**
   * The whole vCPU state for a snapshot (the vCPU must be out of KVM_RUN: paused). `msrIndices`
   * are the MSRs to save (KVM_GET_MSR_INDEX_LIST filtered by the caller). xsave/xcrs are absent
   * when `withXsave` is false (hosts without KVM_CAP_XSAVE).
   */
  saveState(msrIndices: number[], withXsave: boolean): KvmVcpuStateBlobs {
    return {
      // mp_state first: KVM_GET_MP_STATE may flush pending APIC events into the state.
      mpState: this.getMpState(),
      regs: this.getRegs(), sregs: this.getSregs(), msrs: this.getMsrs(msrIndices),
      lapic: this.getLapic(), fpu: this.getFpu(),
      xsave: withXsave ? this.getXsave() : undefined, xcrs: withXsave ? this.getXcrs() : undefined,
      vcpuEvents: this.getVcpuEvents(), debugregs: this.getDebugregs(),
    };
  }

  /** Restores saveState()'s result; the order follows what KVM needs (sregs before lapic, events last). */
  restoreState(s: KvmVcpuStateBlobs): void {
    this.setSregs(s.sregs);
    this.setRegs(s.regs);
    if (s.xsave !== undefined) this.setXsave(s.xsave); else this.setFpu(s.fpu);
    if (s.xcrs !== undefined) this.setXcrs(s.xcrs);
    this.setMsrs(s.msrs);
    this.setLapic(s.lapic);
    this.setMpState(s.mpState);
    this.setVcpuEvents(s.vcpuEvents);
    this.setDebugregs(s.debugregs);
  }
  /** Raw state blobs for save/restore (layouts in structs.ts where we interpret them). */
  getBlob(info: IoctlInfo, size: number): Uint8Array {
    const b = new Uint8Array(size);
    ioBuf(this.fd, info, b);
    return b;
  }
  setBlob(info: IoctlInfo, blob: Uint8Array): void { ioBuf(this.fd, info, blob); }

  dispose(): void {
    munmap(this.mapping);
    if (this.ownsFd) close(this.fd);
  }
}

const KVM_RUN_REQUEST = KVM.RUN.request;

export { KVM, KVM_CAP };
