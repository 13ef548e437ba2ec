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
}

export interface VmEngine {
  /** Loads the kernel, initrd, command line and ACPI tables, and puts vCPU 0 at the kernel entry. */
  loadKernel(): void;
  /** Runs until the guest powers off, resets, fails, or stop() is called. */
  run(): Promise<MachineExit>;
  /** Host input for the guest's serial console. */
  enqueueInput(bytes: Uint8Array): void;
  /** Ends run() soon with `exit` (the first stop wins). */
  stop(exit: MachineExit): void;
  /** One line of engine statistics (TSHV_STATS=1). */
  stats(): string;
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
  });
}
