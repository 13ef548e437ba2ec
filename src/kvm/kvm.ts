// Typed KVM file descriptors, one class per fd kind (shared/STYLE.md habit 3): Kvm (/dev/kvm),
// VmFd, VcpuFd. Every failure names the ioctl and the errno; missing capabilities are reported as
// such before the ioctl that needs them is tried.

import { TshvError } from '../common/errors.js';
import {
  MAP_SHARED, O_CLOEXEC, O_RDWR, PROT_READ, PROT_WRITE, SysError, close, errnoName, ioctlArg, ioctlBuf,
  mmap, munmap, openPath, type Mapping,
} from '../sys/libc.js';
import { KVM, KVM_CAP, type IoctlInfo } from './ioctls.js';
import { KvmRunPage } from './run.js';
import {
  decodeCpuid2, decodeMsrs, decodeRegs, decodeSregs, encodeCpuid2, encodeEnableCap, encodeIoeventfd, encodeIrqLevel,
  encodeIrqRouting, encodeIrqfd, encodeMemoryRegion, encodeMsi, encodeMsrs, encodePitConfig, encodeRegs,
  encodeSignalMask, encodeSregs, type KvmCpuidEntry, type KvmIrqRoute, type KvmRegs, type KvmSregs,
  type KvmUserspaceMemoryRegion,
} from './structs.js';

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

export class Kvm {
  readonly fd: number;
  private constructor(fd: number) { this.fd = fd; }

  /** Opens /dev/kvm and checks the API version; clear errors for the usual failures. */
  static open(path = '/dev/kvm'): Kvm {
    let fd: number;
    try {
      fd = openPath(path, O_RDWR | O_CLOEXEC);
    } catch (e) {
      const errno = e instanceof SysError ? e.errno : 0;
      if (errno === 2) throw new KvmError(`KVM is not available: ${path} does not exist (no kvm module, or no hardware virtualization)`);
      if (errno === 13 || errno === 1) throw new KvmError(`KVM is not available: permission denied on ${path} (join the kvm group or run as root)`);
      throw new KvmError(`KVM is not available: cannot open ${path}: ${e instanceof Error ? e.message : String(e)}`);
    }
    const kvm = new Kvm(fd);
    const version = ioArg(fd, KVM.GET_API_VERSION);
    if (version !== KVM_API_VERSION) {
      close(fd);
      throw new KvmError(`KVM API version ${version} is not supported (need ${KVM_API_VERSION})`);
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
  /** KVM_PIT_SPEAKER_DUMMY (1): port 0x61 is emulated in the kernel too. */
  createPit2(flags = 1): void { ioBuf(this.fd, KVM.CREATE_PIT2, encodePitConfig(flags)); }
  irqLine(irq: number, level: boolean): void { ioBuf(this.fd, KVM.IRQ_LINE, encodeIrqLevel(irq, level)); }
  setGsiRouting(routes: KvmIrqRoute[]): void { ioBuf(this.fd, KVM.SET_GSI_ROUTING, encodeIrqRouting(routes)); }
  irqfd(eventFd: number, gsi: number, flags = 0): void { ioBuf(this.fd, KVM.IRQFD, encodeIrqfd(eventFd, gsi, flags)); }
  ioeventfd(o: { addr: bigint; len: number; fd: number; flags: number; datamatch?: bigint }): void {
    ioBuf(this.fd, KVM.IOEVENTFD, encodeIoeventfd(o));
  }
  signalMsi(addressLo: number, addressHi: number, data: number): number {
    return ioBuf(this.fd, KVM.SIGNAL_MSI, encodeMsi(addressLo, addressHi, data));
  }
  enableCap(cap: number, args: bigint[] = []): void { ioBuf(this.fd, KVM.ENABLE_CAP, encodeEnableCap(cap, args)); }

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
  constructor(fd: number, index: number, mapping: Mapping) {
    this.fd = fd;
    this.index = index;
    this.mapping = mapping;
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
  /** Raw state blobs for save/restore (layouts in structs.ts where we interpret them). */
  getBlob(info: IoctlInfo, size: number): Uint8Array {
    const b = new Uint8Array(size);
    ioBuf(this.fd, info, b);
    return b;
  }
  setBlob(info: IoctlInfo, blob: Uint8Array): void { ioBuf(this.fd, info, blob); }

  dispose(): void {
    munmap(this.mapping);
    close(this.fd);
  }
}

export { KVM, KVM_CAP };
