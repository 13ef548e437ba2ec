// The PC-like machine on KVM. Same recipe and same devices as the soft engine (platform.ts, and
// io-devices.ts for PCI and virtio, whose MSI-X messages go in through KVM_SIGNAL_MSI), but
// the interrupt controllers and the PIT are KVM's in-kernel ones, guest RAM is registered as memory
// slots, and each vCPU runs KVM_RUN in its own worker thread (kvm-vcpu-worker.ts), forwarding PIO
// and MMIO exits to the devices here on the main thread; a 1-vCPU machine runs its KVM_RUN loop
// here on the main thread instead (kvm-main-thread.ts), each exit a direct call to the devices.
//
// Full in-kernel irqchip (KVM_CREATE_IRQCHIP: PIC, IOAPIC and LAPICs) plus KVM_CREATE_PIT2, not
// a split irqchip: LAPIC timers, IPIs, EOIs and the PIT then never leave the kernel, which matters
// most on a host where each exit costs ~10 µs, and it needs no userspace IOAPIC/PIC models in the
// exit path. The ISA lines of our userspace devices go in through KVM_IRQ_LINE; the GSI routing
// table follows the MADT (ISA IRQ 0 on IOAPIC pin 2) and leaves room for MSI routes (virtio).

import { Worker } from 'node:worker_threads';
import { TshvError, errorMessage } from '../common/errors.js';
import { CpuState } from '../cpu/state.js';
import type { LinuxBootInfo } from '../arch/x86/boot/loader.js';
import { PCI_HOLE_END, PCI_HOLE_START } from '../arch/x86/layout.js';
import type { IrqLine } from '../devices/device.js';
import { ACPI_PM_TIMER_VAL_EXT } from '../devices/legacy/acpi-pm/index.js';
import { allocateGuestMemory, type GuestRamBacking } from '../memory/allocate.js';
import { Kvm, KvmError, VmFd, VcpuFd } from '../kvm/kvm.js';
import { KVM_CAP } from '../kvm/ioctls.js';
import { INITIAL_MSRS, vcpuCpuid } from '../kvm/cpuid.js';
import {
  KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_MEM_LOG_DIRTY_PAGES, type KvmIrqRoute,
} from '../kvm/structs.js';
import { getpid, tgkill } from '../sys/libc.js';
import type { VmConfig } from './config.js';
import { loadConfiguredKernel, type MachineExit, type MachineIo, type VmEngine } from './engine.js';
import { HostClock } from './host-clock.js';
import { cpuStateToKvmRegs, cpuStateToKvmSregs } from './kvm-cpu-state.js';
import { ExitServer, type ExitDevices } from './kvm-exit-server.js';
import { MainThreadVcpu, chooseVcpuThread, type VcpuThreadMode } from './kvm-main-thread.js';
import {
  BELL_SEQ, BELL_WORDS, CTRL_PAUSE, CTRL_RUN, CTRL_STOP, PROTOCOL_WORDS, SIG_KICK, STATE_PAUSED, STATE_STOPPED, W, type VcpuWorkerData,
  type VcpuWorkerMessage,
} from './kvm-vcpu-protocol.js';
import { Platform } from './platform.js';
import { createIoDevices, type IoDevices } from './io-devices.js';
import type { IoControls } from './io-controls.js';

/** Where KVM puts the TSS and the identity-map page it needs on Intel (api.rst, KVM_SET_TSS_ADDR): just below the BIOS. */
const KVM_TSS_ADDR = 0xfffb_d000;
const KVM_IDENTITY_MAP_ADDR = 0xfffb_c000n;
export const IOAPIC_PINS = 24;
const ISA_IRQS = 16;

// Atomics.waitAsync is in Node 20 (V8) but not in this project's TypeScript lib target.
type WaitAsyncResult = { async: false; value: string } | { async: true; value: Promise<string> };
const atomicsWithWaitAsync = Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): WaitAsyncResult };
const waitAsync = (a: Int32Array, i: number, v: number): WaitAsyncResult => atomicsWithWaitAsync.waitAsync(a, i, v);

/** Capabilities the engine relies on, checked up front so the error names what is missing. */
const REQUIRED_CAPS: [number, string][] = [
  [KVM_CAP.USER_MEMORY, 'USER_MEMORY'], [KVM_CAP.IRQCHIP, 'IRQCHIP'], [KVM_CAP.PIT2, 'PIT2'],
  [KVM_CAP.IRQ_ROUTING, 'IRQ_ROUTING'], [KVM_CAP.EXT_CPUID, 'EXT_CPUID'], [KVM_CAP.SET_TSS_ADDR, 'SET_TSS_ADDR'],
  [KVM_CAP.IMMEDIATE_EXIT, 'IMMEDIATE_EXIT'], [KVM_CAP.MP_STATE, 'MP_STATE'],
];

/**
 * The PC's GSI routing (api.rst, KVM_SET_GSI_ROUTING): GSI 0..15 on the 8259 pair (except the
 * cascade, 2), and on the IOAPIC pin of the same number, except GSI 0 which the MADT's interrupt
 * source override puts on pin 2; GSI 16..23 on IOAPIC pins 16..23. MSI routes follow.
 */
export function pcGsiRoutes(): KvmIrqRoute[] {
  const routes: KvmIrqRoute[] = [];
  for (let gsi = 0; gsi < ISA_IRQS; gsi++) {
    if (gsi === 2) continue;
    routes.push({ gsi, type: 'irqchip', irqchip: gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, pin: gsi % 8 });
  }
  for (let gsi = 0; gsi < IOAPIC_PINS; gsi++) {
    if (gsi === 2) continue;
    routes.push({ gsi, type: 'irqchip', irqchip: KVM_IRQCHIP_IOAPIC, pin: gsi === 0 ? 2 : gsi });
  }
  return routes;
}

export interface KvmMachineOptions {
  /** The KVM device node (default /dev/kvm). */
  devPath?: string;
  /**
   * Decompress a bzImage on the host and enter vmlinux directly (loader.ts). Off by default: on
   * hardware virtualization the kernel's own decompressor takes a fraction of a second and keeps
   * KASLR. On a software KVM (kvm_pvm) that decompressor alone runs for minutes; there tshv run
   * turns this on.
   */
  decompressOnHost?: boolean;
  /**
   * Where the vCPUs' KVM_RUN loops run (kvm-main-thread.ts): a 1-vCPU machine on the main thread
   * beside the devices (default), several in worker threads. Default from TSHV_KVM_THREAD.
   */
  vcpuThread?: VcpuThreadMode;
}

interface VcpuSlot {
  vcpu: VcpuFd;
  shared: Int32Array;
  worker: Worker | undefined;
  tid: number;
}

export class KvmMachine implements VmEngine {
  readonly config: VmConfig;
  readonly kvm: Kvm;
  readonly vm: VmFd;
  readonly ram: GuestRamBacking;
  readonly clock = new HostClock();
  readonly platform: Platform;
  readonly cpuStates: CpuState[];
  /** PCI and the virtio devices (io-devices.ts, the same set as the soft engine's). */
  readonly ioDevices: IoDevices;
  /** Balloon, rate limits and hvc0 input at run time (control socket, --hvc). */
  readonly ioControls: IoControls;
  bootInfo: LinuxBootInfo | undefined;

  private readonly vcpus: VcpuSlot[] = [];
  private readonly doorbell = new Int32Array(new SharedArrayBuffer(BELL_WORDS * 4));
  private readonly msiRoutes = new Map<number, KvmIrqRoute>();
  /** MSI-X messages KVM_SIGNAL_MSI refused (a guest's bad address or data). */
  msiDropped = 0;
  private exit: MachineExit | undefined;
  private flushScheduled = false;
  private pauseRequested = false;
  private exitServer: ExitServer | undefined;
  /** kvmclock when pause() stopped the vCPUs (-1: unreadable), restored by resume(). */
  private pausedClockNs: bigint | undefined;
  private readonly io: MachineIo;
  private readonly startNs = process.hrtime.bigint();
  private readonly pid = getpid();

  private readonly decompressOnHost: boolean;
  /** Where KVM_RUN runs (the worker design for several vCPUs, or 'main' for one). */
  readonly vcpuThread: VcpuThreadMode;
  private mainThreadVcpu: MainThreadVcpu | undefined;

  constructor(config: VmConfig, io: MachineIo, options: KvmMachineOptions = {}) {
    this.config = config;
    this.io = io;
    this.decompressOnHost = options.decompressOnHost ?? false;
    this.vcpuThread = chooseVcpuThread(config.cpuCount, options.vcpuThread);
    this.kvm = Kvm.open(options.devPath ?? '/dev/kvm');
    try {
      for (const [cap, name] of REQUIRED_CAPS) this.kvm.requireExtension(cap, name);
      this.vm = this.kvm.createVm();
    } catch (e) {
      this.kvm.dispose();
      throw e;
    }
    const memSizeBytes = config.memSizeMib * 1024 * 1024;
    try {
      this.ram = allocateGuestMemory(config.memSizeMib, PCI_HOLE_START, PCI_HOLE_END);
    } catch (e) {
      this.vm.dispose();
      this.kvm.dispose();
      throw e;
    }
    try {
      this.vm.setTssAddr(KVM_TSS_ADDR);
      this.vm.setIdentityMapAddr(KVM_IDENTITY_MAP_ADDR);
      // One slot per RAM region, flags 0: KVM_MEM_LOG_DIRTY_PAGES can be set later by
      // re-registering the same slot (live migration), without moving anything.
      this.registerRam(0);
      this.vm.createIrqchip();
      this.vm.createPit2();
      this.vm.setGsiRouting(pcGsiRoutes());

      const vm = this.vm;
      const isaIrqs: IrqLine[] = Array.from({ length: ISA_IRQS }, (_, irq) => (irq === 2
        ? { set: () => undefined }
        : { set: (level: boolean) => vm.irqLine(irq, level) }));
      this.platform = new Platform({
        clock: this.clock, isaIrqs, memSizeBytes, cpuCount: config.cpuCount,
        onSerialOutput: (bytes) => this.io.onSerialOutput(bytes),
        onPowerOff: () => this.stop({ kind: 'poweroff' }),
        onReset: () => this.stop({ kind: 'reset' }),
      });
      // MSI-X messages are injected with KVM_SIGNAL_MSI (api.rst §4.71) from this thread; the
      // in-kernel LAPICs take them as the soft engine's APIC bus does. Device work runs in the
      // exits (a notify is an MMIO write) and on this thread's event loop (TAP frames, timers).
      this.ioDevices = createIoDevices({
        pio: this.platform.pio, mmio: this.platform.mmio, ram: this.ram, clock: this.clock, config,
        msi: (address, data) => this.signalMsi(address, data),
        onHvcOutput: (bytes) => this.io.onHvcOutput?.(bytes),
        onTapReadable: () => this.ioDevices.pollNics(),
        wake: () => undefined, // the in-kernel LAPIC wakes a halted vCPU on the interrupt itself
      });
      this.ioControls = this.ioDevices.ioControls;

      const supported = this.kvm.supportedCpuid();
      this.cpuStates = [];
      for (let i = 0; i < config.cpuCount; i++) {
        const vcpu = this.vm.createVcpu(i);
        this.vcpus.push({ vcpu, shared: new Int32Array(new SharedArrayBuffer(PROTOCOL_WORDS * 4)), worker: undefined, tid: 0 });
        vcpu.setCpuid2(vcpuCpuid(supported, i, config.cpuCount));
        const set = vcpu.setMsrs([...INITIAL_MSRS]);
        if (set !== INITIAL_MSRS.length) throw new KvmError(`KVM_SET_MSRS set ${set} of ${INITIAL_MSRS.length} initial MSRs on vCPU ${i}`);
        this.cpuStates.push(new CpuState(i));
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  loadKernel(): void {
    this.bootInfo = loadConfiguredKernel(this.ram.memory, this.cpuStates, this.config, {
      acpi: { pmTimer32Bit: ACPI_PM_TIMER_VAL_EXT, extraSbTerms: this.ioDevices.pci.acpi.sbTerms, extraTables: this.ioDevices.pci.acpi.tables },
      decompressOnHost: this.decompressOnHost,
    });
    // vCPU 0 starts where the loader put it; the APs stay in KVM's wait-for-SIPI state.
    const boot = this.vcpus[0]!.vcpu;
    const cpu0 = this.cpuStates[0]!;
    boot.setSregs(cpuStateToKvmSregs(cpu0, boot.getSregs()));
    boot.setRegs(cpuStateToKvmRegs(cpu0));
  }

  enqueueInput(bytes: Uint8Array): number {
    this.platform.serial.enqueueInput(bytes);
    return this.platform.serial.metrics().pendingInputBytes;
  }

  /** The ACPI power button (the SCI goes in through KVM_IRQ_LINE like any ISA line). */
  pressPowerButton(): void {
    this.platform.acpiPm.pressPowerButton();
  }

  stop(exit: MachineExit): void {
    if (this.exit !== undefined) return;
    this.exit = exit;
    for (const s of this.vcpus) {
      Atomics.store(s.shared, W.CTRL, CTRL_STOP);
      Atomics.notify(s.shared, W.CTRL);
      this.kick(s);
    }
  }

  /**
   * Turns dirty-page logging on or off for all guest RAM (live migration, incremental snapshots):
   * each slot is registered again, same place, with KVM_MEM_LOG_DIRTY_PAGES. Read the log with
   * vm.getDirtyLog(slot, pages); slot i is ram.memory.regions[i].
   */
  setDirtyLogging(enabled: boolean): void {
    this.registerRam(enabled ? KVM_MEM_LOG_DIRTY_PAGES : 0);
  }

  private registerRam(flags: number): void {
    this.ram.memory.regions.forEach((r, slot) => {
      this.vm.setUserMemoryRegion({
        slot, flags, guestPhysAddr: BigInt(r.gpa), memorySize: BigInt(r.sizeBytes),
        userspaceAddr: this.ram.mapping.address + BigInt(r.offset),
      });
    });
  }

  /** Adds (or replaces) an MSI route for `gsi` (virtio MSI-X vectors) and reloads the routing table. */
  setMsiRoute(gsi: number, addressLo: number, addressHi: number, data: number): void {
    this.msiRoutes.set(gsi, { gsi, type: 'msi', addressLo, addressHi, data });
    this.vm.setGsiRouting([...pcGsiRoutes(), ...this.msiRoutes.values()]);
  }

  async run(): Promise<MachineExit> {
    if (this.vcpuThread === 'main') return this.runOnMainThread();
    const workerUrl = new URL('./kvm-vcpu-worker.js', import.meta.url);
    const mmapSizeBytes = this.kvm.vcpuMmapSize();
    const ready: Promise<void>[] = [];
    for (const s of this.vcpus) {
      Atomics.store(s.shared, W.CTRL, CTRL_PAUSE); // held until every worker is ready
      const worker = new Worker(workerUrl, {
        workerData: {
          vcpuFd: s.vcpu.fd, index: s.vcpu.index, mmapSizeBytes,
          shared: s.shared.buffer as SharedArrayBuffer, doorbell: this.doorbell.buffer,
        } satisfies VcpuWorkerData,
      });
      s.worker = worker;
      ready.push(new Promise((resolve, reject) => {
        worker.on('message', (m: VcpuWorkerMessage) => {
          if (m.kind === 'ready') { s.tid = m.tid; resolve(); return; }
          if (m.exit === 'error') this.stop({ kind: 'error', message: m.message });
          else this.stop({ kind: m.exit });
        });
        worker.on('error', (e) => {
          reject(e);
          this.stop({ kind: 'error', message: `vCPU ${s.vcpu.index} worker failed: ${errorMessage(e)}` });
        });
        // However the worker ended (even before it could say so itself), the serving loop must see it.
        worker.on('exit', () => {
          Atomics.store(s.shared, W.STATE, STATE_STOPPED);
          Atomics.add(this.doorbell, BELL_SEQ, 1);
          Atomics.notify(this.doorbell, BELL_SEQ);
          resolve();
        });
      }));
    }
    try {
      await Promise.all(ready);
    } catch {
      // stop() has recorded the error; wait for the workers below.
    }
    // The vCPUs' device accesses are served here, on the devices' thread (kvm-exit-server.ts).
    const exitServer = new ExitServer({
      doorbell: this.doorbell, vcpus: this.vcpus.map((s) => s.shared),
      devices: this.exitDevices(),
      onDeviceError: (e) => this.onDeviceError(e),
      onServed: () => this.scheduleFlush(),
    });
    this.exitServer = exitServer;
    const serving = exitServer.serve();
    if (this.exit === undefined && !this.pauseRequested) this.resume();
    await serving;
    await Promise.all(this.vcpus.map((s) => s.worker?.terminate() ?? Promise.resolve(0)));
    this.platform.serial.flushOutput();
    this.io.onSliceEnd?.();
    return this.exit ?? { kind: 'quit' };
  }

  /** One vCPU, its KVM_RUN loop here beside the devices (kvm-main-thread.ts). */
  private async runOnMainThread(): Promise<MachineExit> {
    const s = this.vcpus[0]!;
    const runner = new MainThreadVcpu({
      vcpu: s.vcpu, shared: s.shared, devices: this.exitDevices(),
      onEnd: (end) => this.stop(end.exit === 'error' ? { kind: 'error', message: end.message } : { kind: end.exit }),
      onDeviceError: (e) => this.onDeviceError(e),
      onServed: () => this.scheduleFlush(),
    });
    this.mainThreadVcpu = runner;
    await runner.run();
    this.platform.serial.flushOutput();
    this.io.onSliceEnd?.();
    return this.exit ?? { kind: 'quit' };
  }

  private exitDevices(): ExitDevices {
    const { pio, mmio } = this.platform;
    return {
      pioRead: (port, size) => pio.pioRead(port, size), pioWrite: (port, size, v) => pio.pioWrite(port, size, v),
      mmioRead: (addr, size) => mmio.mmioRead(addr, size), mmioWrite: (addr, size, v) => mmio.mmioWrite(addr, size, v),
    };
  }

  private onDeviceError(e: unknown): void {
    this.stop({ kind: 'error', message: e instanceof TshvError ? e.message : `Internal error in a device: ${errorMessage(e)}` });
  }

  /**
   * One MSI-X message (a virtio interrupt). The address and data are the guest's: a message KVM
   * refuses is dropped and counted, as a write to nowhere would be on a real bus, never an error
   * that could end the VMM from inside a device.
   */
  private signalMsi(address: number, data: number): void {
    try {
      this.vm.signalMsi(address >>> 0, Math.floor(address / 0x1_0000_0000) >>> 0, data);
    } catch {
      this.msiDropped++;
    }
  }

  /** Serial output is batched by the UART; it goes out once per turn of the event loop. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      // The guest may have given the NICs receive buffers: frames waiting in a TAP go in now.
      this.ioDevices.pollNics();
      this.platform.serial.flushOutput();
      this.io.onSliceEnd?.();
    });
  }

  /** Gets a vCPU out of KVM_RUN: immediate_exit for one about to enter, the signal for one inside. */
  private kick(s: VcpuSlot): void {
    s.vcpu.run.immediateExit = true;
    if (s.tid !== 0 && Atomics.load(s.shared, W.STATE) !== STATE_STOPPED) {
      try {
        tgkill(this.pid, s.tid, SIG_KICK);
      } catch {
        // The thread has just ended.
      }
    }
  }

  /**
   * Stops every vCPU between two KVM_RUNs (their state can then be read); resume() continues.
   * Guest time stops too, as QEMU does on a stop: kvmclock is read here and set back on resume
   * (api.rst, KVM_GET_CLOCK/KVM_SET_CLOCK), and the userspace devices' clock freezes.
   */
  async pause(): Promise<void> {
    const wasPaused = this.pauseRequested;
    this.pauseRequested = true;
    for (const s of this.vcpus) {
      Atomics.store(s.shared, W.CTRL, CTRL_PAUSE);
      this.kick(s);
    }
    for (const s of this.vcpus) {
      for (;;) {
        const st = Atomics.load(s.shared, W.STATE);
        if (st === STATE_PAUSED || st === STATE_STOPPED) break;
        const w = waitAsync(s.shared, W.STATE, st);
        if (w.async) await w.value;
      }
    }
    if (!wasPaused && this.pauseRequested && this.pausedClockNs === undefined) {
      this.clock.freeze();
      try {
        this.pausedClockNs = this.vm.getClockNs();
      } catch {
        this.pausedClockNs = -1n; // no KVM_CAP_ADJUST_CLOCK: guest time runs on through the pause
      }
    }
  }

  resume(): void {
    this.pauseRequested = false;
    if (this.pausedClockNs !== undefined) {
      if (this.pausedClockNs >= 0n && this.exit === undefined) {
        try {
          this.vm.setClockNs(this.pausedClockNs);
        } catch {
          // As above: the guest sees the pause as elapsed time.
        }
      }
      this.pausedClockNs = undefined;
      this.clock.thaw();
    }
    if (this.exit !== undefined) return;
    for (const s of this.vcpus) {
      Atomics.store(s.shared, W.CTRL, CTRL_RUN);
      Atomics.notify(s.shared, W.CTRL);
    }
  }

  /** The vCPU fds (state get/set while paused: VcpuFd.saveState/restoreState). */
  vcpuFds(): readonly VcpuFd[] {
    return this.vcpus.map((s) => s.vcpu);
  }

  stats(): string {
    const sum = (w: number): number => this.vcpus.reduce((n, s) => n + s.shared[w]!, 0);
    const hostS = Number(process.hrtime.bigint() - this.startNs) / 1e9;
    return `KVM: ${sum(W.PIO_EXITS)} PIO exits, ${sum(W.MMIO_EXITS)} MMIO exits (${sum(W.POSTED_WRITES)} posted writes), ` +
      `${sum(W.OTHER_EXITS)} other exits, ` +
      `${sum(W.KICKS)} kicks in ${hostS.toFixed(2)} s` +
      (this.exitServer?.describe(sum(W.READS_POLLED), sum(W.READS_SLEPT)) ?? this.mainThreadVcpu?.describe() ?? '');
  }

  dispose(): void {
    this.clock.dispose();
    this.platform?.dispose();
    this.ioDevices?.dispose();
    for (const s of this.vcpus) s.vcpu.dispose();
    this.vcpus.length = 0;
    this.vm.dispose();
    this.kvm.dispose();
    this.ram.dispose();
  }
}
