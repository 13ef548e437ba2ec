// What `tshv run` drives, whichever CPU engine runs the machine: the soft engine (machine.ts:
// Machine, the vCPUs interpreted on the main thread) or KVM (kvm-engine.ts: KvmMachine, one worker
// thread per vCPU). Both build the same device set (platform.ts) and load the kernel the same way.

import { readFileSync } from 'node:fs';
import { TshvError, errorMessage } from '../common/errors.js';
import { loadLinux, type LinuxBootInfo } from '../arch/x86/boot/loader.js';
import type { AcpiOptions } from '../arch/x86/acpi/acpi.js';
import type { CpuState } from '../cpu/state.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { VmConfig } from './config.js';
import type { IoControls } from './io-controls.js';
import { filePayloadCache } from './payload-cache.js';

/** How a run ends. */
export type MachineExit =
  | { kind: 'poweroff' }
  | { kind: 'reset' }
  | { kind: 'quit' }
  | { kind: 'error'; message: string };

/** What a machine needs of its host: where the guest's serial output goes. */
export interface MachineIo {
  /** Guest serial output. */
  onSerialOutput(bytes: Uint8Array): void;
  /** Called after a batch of output (flush batched output). */
  onSliceEnd?(): void;
  /** What the guest writes to its virtio-console hvc0 (config.hvc); the slice is only valid during the call. */
  onHvcOutput?(bytes: Uint8Array): void;
}

export interface VmEngine {
  /** Loads the kernel, initrd, command line and ACPI tables, and puts vCPU 0 at the kernel entry. */
  loadKernel(): void;
  /** Runs until the guest powers off, resets, fails, or stop() is called. */
  run(): Promise<MachineExit>;
  /**
   * Host input for the guest's serial console; never dropped. Returns the input bytes still
   * queued for the guest (an empty `bytes` only asks), so that a feeder can hold back.
   */
  enqueueInput(bytes: Uint8Array): number;
  /** Ends run() soon with `exit` (the first stop wins). Also ends a paused run. */
  stop(exit: MachineExit): void;
  /**
   * Stops every vCPU and the guest's clock (a long pause is not a jump in guest time); devices keep
   * their state and console input is queued. Resolves once no vCPU runs. Idempotent.
   */
  pause(): Promise<void>;
  /** Continues after pause(). Idempotent. */
  resume(): void;
  /** Presses the ACPI fixed-feature power button (PM1 PWRBTN_STS, ACPI 6.4 §4.8.2.2.1.1). */
  pressPowerButton(): void;
  /** One line of engine statistics (TSHV_STATS=1). */
  stats(): string;
  /** Run-time I/O controls (issue 4: balloon, rate limits, hvc0 input); absent on an engine without virtio devices. */
  readonly ioControls?: IoControls;
  dispose(): void;
}

/** Reads a boot file; the error names the file and what it was for. */
export function readBootFile(what: 'kernel' | 'initrd', path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new TshvError(`Cannot read ${what} "${path}": ${errorMessage(e)}`);
  }
}

/** Reads the configured kernel and initrd and loads them with the boot protocol (both engines). */
export function loadConfiguredKernel(
  memory: GuestMemory, cpus: readonly CpuState[], config: VmConfig, o: { acpi: AcpiOptions; decompressOnHost: boolean },
): LinuxBootInfo {
  const kernel = readBootFile('kernel', config.kernelPath);
  const initrd = config.initrdPath !== undefined ? readBootFile('initrd', config.initrdPath) : undefined;
  return loadLinux(memory, cpus, {
    kernel,
    kernelName: config.kernelPath,
    ...(initrd !== undefined ? { initrd } : {}),
    cmdline: config.cmdline,
    memSizeBytes: config.memSizeMib * 1024 * 1024,
    cpuCount: config.cpuCount,
    acpi: o.acpi,
    decompressOnHost: o.decompressOnHost,
    ...(o.decompressOnHost && process.env['TSHV_KERNEL_CACHE'] !== '0' ? { payloadCache: filePayloadCache() } : {}),
  });
}
