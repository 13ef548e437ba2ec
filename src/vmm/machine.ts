// The PC-like machine on the soft CPU engine, built as a readable recipe (shared/STYLE.md habit 9):
// memory, buses, interrupt controllers and timers, legacy devices, vCPUs, then the kernel. The
// run loop gives each vCPU a slice in turn on this thread, fires device timers between slices,
// and returns to Node's event loop often enough that console input and signals are handled.

import { WasmTier } from '../cpu/wasm/tier.js';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { TshvError, errorMessage } from '../common/errors.js';
import { Cpu } from '../cpu/cpu.js';
import { BlockCache } from '../cpu/block-cache.js';
import type { CpuBus } from '../cpu/bus.js';
import { defaultCpuidConfig } from '../cpu/cpuid.js';
import { UnimplementedInstructionError, formatLinear } from '../cpu/fault.js';
import type { LinuxBootInfo } from '../arch/x86/boot/loader.js';
import {
  IOAPIC_BASE, LAPIC_BASE, PCI_HOLE_END, PCI_HOLE_START, PIC_ELCR_PORT, PIC_MASTER_PORT, PIC_SLAVE_PORT, PIT_IRQ,
  PIT_PORT, SYSTEM_CONTROL_PORT_B,
} from '../arch/x86/layout.js';
import type { MmioBus, PioBus } from '../devices/bus.js';
import { ApicBus, isaIrqLines } from '../devices/legacy/apic-bus/index.js';
import { Ioapic } from '../devices/legacy/ioapic/index.js';
import { LAPIC_TIMER_HZ, LocalApic } from '../devices/legacy/lapic/index.js';
import { Pic } from '../devices/legacy/pic/index.js';
import { Pit } from '../devices/legacy/pit/index.js';
import type { Serial16550 } from '../devices/legacy/serial/index.js';
import type { CmosRtc } from '../devices/legacy/rtc/index.js';
import { ACPI_PM_TIMER_VAL_EXT, type AcpiPm } from '../devices/legacy/acpi-pm/index.js';
import { Platform } from './platform.js';
import type { PciPlatform } from '../devices/pci/index.js';
import type { AttachedVirtio, VirtioBalloon, VirtioBlock, VirtioConsole } from '../devices/virtio/index.js';
import type { IoControls } from './io-controls.js';
import { createIoDevices, type AttachedNic } from './io-devices.js';
import { loadConfiguredKernel, type MachineExit, type MachineIo, type VmEngine } from './engine.js';
import { allocateGuestMemory, type GuestRamBacking } from '../memory/allocate.js';
import { MachineClock } from './clock.js';
import { GuestProfiler } from './guest-profiler.js';
import { GUEST_READY_LINE } from '../guest/init-script.js';
import type { VmConfig } from './config.js';

// The engine-neutral contract (engine.ts), re-exported for this module's existing importers.
export type { MachineExit, MachineIo } from './engine.js';
export { readBootFile } from './engine.js';

/**
 * Instructions a vCPU runs before the loop looks at timers and the other vCPUs (timer deadlines
 * shorten it). With several vCPUs this is their turn length; a lone vCPU gets a longer one,
 * since every quantum end costs a partly interpreted block and a pass through this loop (a
 * compute job at ~1 G instructions/s ended a 20,000-instruction quantum every 20 µs).
 */
const CPU_QUANTUM = 20_000;
const CPU_QUANTUM_ONE_VCPU = 200_000;
/** The shortest quantum, so that a timer storm cannot starve the vCPUs. */
const MIN_QUANTUM = 200;
/** Wall time the loop runs before it returns to Node's event loop (input, signals). */
const SLICE_MS = 20;
const LAPIC_PAGE_BYTES = 0x1000;

export class Machine implements VmEngine {
  readonly config: VmConfig;
  readonly clock = new MachineClock();
  readonly ram: GuestRamBacking;
  readonly platform: Platform;
  readonly pio: PioBus;
  readonly mmio: MmioBus;
  readonly apicBus = new ApicBus();
  readonly pic: Pic;
  readonly ioapic: Ioapic;
  readonly pit: Pit;
  readonly lapics: LocalApic[];
  readonly serial: Serial16550;
  readonly rtc: CmosRtc;
  readonly acpiPm: AcpiPm;
  readonly cpus: Cpu[];
  /** The soft CPU's WebAssembly tier (null when off or the host cannot give it its arena range). */
  readonly wasm: WasmTier | null = null;
  /** PCI host bridge and the virtio devices on it (issue 4). */
  readonly pci: PciPlatform;
  readonly disks: AttachedVirtio<VirtioBlock>[] = [];
  readonly nics: AttachedNic[] = [];
  readonly balloon: AttachedVirtio<VirtioBalloon>;
  /** virtio-console for hvc0 (config.hvc), after the balloon so that the other devices keep their slots. */
  readonly hvc: AttachedVirtio<VirtioConsole> | undefined;
  /** Balloon, rate limits and hvc0 input at run time (control socket, --hvc). */
  readonly ioControls: IoControls;
  bootInfo: LinuxBootInfo | undefined;

  private exit: MachineExit | undefined;
  private wakeIdle: (() => void) | undefined;
  /** Set by pause(): the run loop parks at its next turn (it never runs while we are called). */
  private paused = false;
  private wakePaused: (() => void) | undefined;
  private readonly io: MachineIo;
  /** TSHV_PROFILE=<file>: guest RIP samples and I/O counts (guest-profiler.ts); undefined when off. */
  private readonly profiler = GuestProfiler.fromEnv(process.env, GUEST_READY_LINE);

  constructor(config: VmConfig, io: MachineIo) {
    this.config = config;
    this.io = this.profiler?.wrapIo(io, () => ({ cpus: this.cpus, guestTimeNs: this.clock.nowNs() })) ?? io;
    const memSizeBytes = config.memSizeMib * 1024 * 1024;
    this.ram = allocateGuestMemory(config.memSizeMib, PCI_HOLE_START, PCI_HOLE_END);
    try {
      // Interrupt controllers first: every device gets its IRQ line from them.
      this.ioapic = new Ioapic({ bus: this.apicBus });
      this.pic = new Pic();
      const tscToNs = (tsc: bigint): number => Number(tsc);
      this.lapics = Array.from({ length: config.cpuCount }, (_, i) => new LocalApic({
        apicId: i, clock: this.clock, bus: this.apicBus,
        ...(i === 0 ? { extInt: this.pic } : {}),
        tscToNs,
        nowTsc: () => BigInt(Math.floor(this.clock.nowNs())) + (this.cpus[i]?.tscOffset ?? 0n),
        onWake: () => this.wakeIdle?.(),
      }));
      this.pic.connectIntr(this.lapics[0]!.lint0);
      const isa = isaIrqLines(this.pic, this.ioapic);
      this.pit = new Pit({ clock: this.clock, irq: isa[PIT_IRQ]! });
      // The device set both engines share (platform.ts), then the soft engine's own interrupt
      // controllers and PIT on the same buses.

      this.platform = new Platform({
        clock: this.clock, isaIrqs: isa, memSizeBytes, cpuCount: config.cpuCount,
        onSerialOutput: (bytes) => this.io.onSerialOutput(bytes),
        onPowerOff: () => this.stop({ kind: 'poweroff' }),
        onReset: () => this.stop({ kind: 'reset' }),
      });
      this.pio = this.platform.pio;
      this.mmio = this.platform.mmio;
      this.serial = this.platform.serial;
      this.rtc = this.platform.rtc;
      this.acpiPm = this.platform.acpiPm;
      this.mmio.register(IOAPIC_BASE, 0x1000, this.ioapic, 'ioapic');
      this.pio.register(PIC_MASTER_PORT, 2, this.pic.masterPio, 'pic-master');
      this.pio.register(PIC_SLAVE_PORT, 2, this.pic.slavePio, 'pic-slave');
      this.pio.register(PIC_ELCR_PORT, 2, this.pic.elcrPio, 'pic-elcr');
      this.pio.register(PIT_PORT, 4, this.pit.pio, 'pit');
      this.pio.register(SYSTEM_CONTROL_PORT_B, 1, this.pit.portBPio, 'port61');

      // PCI and virtio (io-devices.ts, shared with KVM); MSI-X messages go to the local APICs
      // through the APIC bus. A frame arriving while every vCPU is halted wakes the run loop
      // (TapWatcher); frames are then read between quanta (pollDevices).
      const devices = createIoDevices({
        pio: this.pio, mmio: this.mmio, ram: this.ram, msi: (address, data) => { this.apicBus.deliverMsi(address, data); },
        clock: this.clock, config, onHvcOutput: (bytes) => this.io.onHvcOutput?.(bytes),
        onTapReadable: () => this.wakeIdle?.(), wake: () => this.wakeIdle?.(),
      });
      this.pci = devices.pci;
      this.disks.push(...devices.disks);
      this.nics.push(...devices.nics);
      this.balloon = devices.balloon;
      this.hvc = devices.hvc;
      this.ioControls = devices.ioControls;

      // CPUID leaf 0x15 tells Linux the TSC and APIC timer rates, so it skips calibrating them.
      const cpuidConfig = { ...defaultCpuidConfig(config.cpuCount, this.clock.tscHz), apicTimerHz: LAPIC_TIMER_HZ };
      // One decoded-code cache for all vCPUs: Linux patches kernel text while other CPUs run, and a
      // private cache would keep replaying the old code. With several vCPUs taking turns on this
      // thread, PAUSE (a spin-wait) ends a vCPU's turn so that the lock holder can run.
      const blocks = new BlockCache();
      // Indexed by physical page number, so it spans up to the end of the highest RAM region.
      const ramEnd = Math.max(...this.ram.memory.regions.map((r) => r.gpa + r.sizeBytes));
      const pageCount = Math.ceil(ramEnd / 4096);
      // The soft CPU's WebAssembly tier sees RAM through its own mapping of the same memfd.
      this.wasm = WasmTier.create(this.ram.memory.bytes.length, pageCount, this.ram.memfd);
      const codePages = this.wasm?.codePages ?? new Uint8Array(pageCount);
      const wasm = this.wasm;
      this.cpus = this.lapics.map((lapic, i) => {
        const cpu = new Cpu(i, this.cpuBus(lapic), lapic, this.clock, { cpuidConfig, blocks, codePages, wasm });
        cpu.pauseExits = config.cpuCount > 1;
        return cpu;
      });
      // Device DMA and loaders write guest RAM behind the vCPUs' backs: drop code decoded there.
      const cpu0 = this.cpus[0]!;
      this.ram.memory.onWrite = (addr, len) => cpu0.invalidatePhysRange(addr, len);
    } catch (e) {
      for (const d of this.disks) d.device.disk.close();
      this.wasm?.dispose();
      this.ram.dispose();
      throw e;
    }
  }

  /** The CPU's view of the machine: RAM, the shared MMIO bus with this vCPU's own LAPIC page, ports. */
  private cpuBus(lapic: LocalApic): CpuBus {
    const memory = this.ram.memory;
    const mmio = this.mmio;
    const pio = this.pio;
    const bus: CpuBus = {
      ram: memory.bytes,
      ramOffset: (pa: number) => memory.offsetOf(pa),
      mmioRead: (pa, size) => (pa >= LAPIC_BASE && pa < LAPIC_BASE + LAPIC_PAGE_BYTES
        ? lapic.mmioRead(pa - LAPIC_BASE, size) : mmio.mmioRead(pa, size)),
      mmioWrite: (pa, size, value) => {
        if (pa >= LAPIC_BASE && pa < LAPIC_BASE + LAPIC_PAGE_BYTES) lapic.mmioWrite(pa - LAPIC_BASE, size, value);
        else mmio.mmioWrite(pa, size, value);
      },
      pioRead: (port, size) => pio.pioRead(port, size),
      pioWrite: (port, size, value) => pio.pioWrite(port, size, value),
    };
    return this.profiler?.wrapBus(bus) ?? bus;
  }

  /** Loads the kernel, initrd, command line and ACPI tables, and puts vCPU 0 at the kernel entry. */
  loadKernel(): void {
    this.bootInfo = loadConfiguredKernel(this.ram.memory, this.cpus, this.config, {
      acpi: { pmTimer32Bit: ACPI_PM_TIMER_VAL_EXT, extraSbTerms: this.pci.acpi.sbTerms, extraTables: this.pci.acpi.tables },
      // The soft engine would spend seconds in the kernel's own LZ4 decompressor.
      decompressOnHost: true,
    });
    for (const cpu of this.cpus) cpu.updateMode();
  }

  /** Host input for the guest's serial console. */
  enqueueInput(bytes: Uint8Array): number {
    this.serial.enqueueInput(bytes);
    if (bytes.length > 0) this.wakeIdle?.();
    return this.serial.metrics().pendingInputBytes;
  }

  /** Host-side device work between slices: received network frames. */
  private pollDevices(): void {
    for (const { nic, watcher } of this.nics) {
      nic.device.poll();
      if (nic.device.rxReady) watcher.arm();
    }
  }

  /** Ends run() at the next slice boundary. */
  stop(exit: MachineExit): void {
    this.exit ??= exit;
    this.wakeIdle?.();
    this.wakePaused?.();
  }

  /**
   * The vCPUs run only inside the run loop on this thread, so when this is called none runs: the
   * loop parks at its next turn, and guest time stops with host pacing frozen (clock.ts).
   */
  pause(): Promise<void> {
    if (!this.paused) {
      this.paused = true;
      this.clock.freezeHostTime();
      this.wakeIdle?.();
    }
    return Promise.resolve();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.clock.thawHostTime();
    this.wakePaused?.();
  }

  /** The ACPI power button: PWRBTN_STS raises the SCI once the guest has enabled it. */
  pressPowerButton(): void {
    this.acpiPm.pressPowerButton();
    this.wakeIdle?.();
  }

  /** Runs until the guest powers off, resets, or stop() is called. */
  async run(): Promise<MachineExit> {
    const cpus = this.cpus;
    const clock = this.clock;
    const nsPerInsn = clock.nsPerInstruction;
    while (this.exit === undefined) {
      if (this.paused) {
        await new Promise<void>((resolve) => { this.wakePaused = resolve; });
        this.wakePaused = undefined;
        continue;
      }
      const sliceEnd = performance.now() + SLICE_MS;
      let idle = false;
      try {
        do {
          clock.runDue();
          // Shorten the quantum so that the next timer fires close to its deadline.
          let quantum = cpus.length === 1 ? CPU_QUANTUM_ONE_VCPU : CPU_QUANTUM;
          const next = clock.nextDeadlineNs();
          if (next !== Infinity) {
            quantum = Math.max(MIN_QUANTUM, Math.min(quantum, Math.ceil((next - clock.nowNs()) / nsPerInsn)));
          }
          if (this.profiler !== undefined) quantum = Math.min(quantum, this.profiler.sampleEveryInsns);
          // The vCPUs take turns on this thread and guest time moves on with each turn, so time
          // (and so the TSC) is monotonic across vCPUs, as Linux's TSC sync check requires.
          let executed = 0;
          for (const cpu of cpus) {
            clock.beginQuantum(cpu);
            let r;
            try {
              r = cpu.run(quantum, true);
            } finally {
              const n = clock.endQuantum();
              clock.advanceBy(n * nsPerInsn);
              executed += n;
              this.profiler?.sample(cpu, n, r);
            }
            if (r.kind === 'triple-fault') {
              this.stop({ kind: 'error', message: `Triple fault on vCPU ${cpu.cpuIndex} at RIP ${formatLinear(r.rip)}` });
            } else if (r.kind === 'fault') {
              this.stop({ kind: 'error', message: `Unhandled CPU exception ${r.vector} on vCPU ${cpu.cpuIndex}` });
            }
            if (this.exit !== undefined) break;
          }
          if (executed === 0) { idle = true; break; }
          // Received frames between quanta too, not only between slices: a busy guest would
          // otherwise see a TAP's frames every SLICE_MS, and a TCP stream into it would run at
          // one window per 20 ms (7 MiB/s host -> guest). An empty poll is one read(2).
          if (this.nics.length !== 0) this.pollDevices();
        } while (this.exit === undefined && performance.now() < sliceEnd);
      } catch (e) {
        if (e instanceof UnimplementedInstructionError) this.stop({ kind: 'error', message: e.message });
        else if (e instanceof TshvError) this.stop({ kind: 'error', message: e.message });
        else this.stop({ kind: 'error', message: `Internal error in the CPU engine: ${errorMessage(e)}` });
      }
      this.serial.flushOutput();
      this.pollDevices();
      this.io.onSliceEnd?.();
      if (this.exit !== undefined) break;
      if (idle) await this.idle();
      else await yieldToEventLoop();
    }
    this.profiler?.finish(this.cpus, clock.nowNs());
    return this.exit ?? { kind: 'quit' };
  }

  /** One line of engine statistics (TSHV_STATS=1). */
  stats(): string {
    const insns = this.cpus.reduce((n, c) => n + c.instructionCount, 0);
    const hostS = this.clock.hostNowNs() / 1e9;
    return `${insns} instructions in ${hostS.toFixed(2)} s host time (${(insns / hostS / 1e6).toFixed(1)} M/s), ` +
      `guest time ${(this.clock.nowNs() / 1e9).toFixed(3)} s`;
  }

  /**
   * Every vCPU is halted: guest time jumps to the next timer deadline. When that deadline is ahead
   * of the host's clock we sleep until the host catches up (or input wakes us first), so an idle
   * guest keeps to real time; when the emulation is behind real time the jump is immediate.
   */
  private async idle(): Promise<void> {
    const clock = this.clock;
    const idleFromNs = clock.nowNs();
    try {
      await this.idleUntilNextTimer();
    } finally {
      this.profiler?.idleSkipped(clock.nowNs() - idleFromNs);
    }
  }

  private async idleUntilNextTimer(): Promise<void> {
    const clock = this.clock;
    const next = clock.nextDeadlineNs();
    const hostNow = clock.hostNowNs();
    if (next <= hostNow) {
      clock.advanceTo(next);
      return;
    }
    const sleepMs = next === Infinity ? 1000 : Math.min((next - hostNow) / 1e6, 1000);
    if (sleepMs >= 0.1) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { this.wakeIdle = undefined; resolve(); }, sleepMs);
        this.wakeIdle = () => { clearTimeout(t); this.wakeIdle = undefined; resolve(); };
      });
    }
    // Guest time catches up with the host, but not past the deadline we slept for.
    clock.advanceTo(Math.min(next, Math.max(clock.nowNs(), clock.hostNowNs())));
  }

  dispose(): void {
    for (const d of this.disks) d.device.disk.close();
    for (const { nic, watcher } of this.nics) void watcher.dispose().finally(() => nic.device.dispose());
    this.platform.dispose();
    for (const cpu of this.cpus) cpu.dispose();
    this.wasm?.dispose();
    this.ram.dispose();
  }
}
