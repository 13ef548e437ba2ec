// Which CPU engine runs a VM. `auto` picks KVM only when it is usable and is real hardware
// virtualization: a nested software KVM (kvm_pvm, or a host CPU without VMX/SVM) runs small
// guests but makes a Linux kernel crawl and die on emulation failures, so there the soft engine
// is the better choice. The decision is explained in one line on stderr.

import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import type { Accel } from './config.js';
import { measureKvmExitMicros } from './kvm-calibrate.js';

export type Engine = 'soft' | 'kvm';

export interface AccelChoice {
  engine: Engine;
  /** Why, for the user (one line). */
  reason: string;
  /** Set when the user forced KVM on a host where it is not real hardware virtualization. */
  warning?: string;
}

export interface KvmProbe {
  /** /dev/kvm exists and we may open it. */
  usable: boolean;
  /** The host CPU advertises VMX or SVM and KVM is not a software (PVM) implementation. */
  hardware: boolean;
  detail: string;
  /** Measured cost of one PIO exit (kvm-calibrate.ts), when the other checks said hardware. */
  exitMicros?: number;
}

/**
 * Above this many microseconds per PIO exit, `auto` takes KVM for a software implementation.
 * Hardware virtualization costs 1–3 µs here from JavaScript; kvm_pvm on our machines 7–20 µs.
 */
export const SOFTWARE_KVM_EXIT_MICROS = 6;

export function probeKvm(devPath = '/dev/kvm'): KvmProbe {
  if (!existsSync(devPath)) return { usable: false, hardware: false, detail: `${devPath} does not exist` };
  try {
    accessSync(devPath, constants.R_OK | constants.W_OK);
  } catch {
    return { usable: false, hardware: false, detail: `no permission on ${devPath}` };
  }
  if (existsSync('/sys/module/kvm_pvm')) {
    return { usable: true, hardware: false, detail: 'KVM here is kvm_pvm, a nested software implementation' };
  }
  let flags = '';
  try {
    flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '';
  } catch {
    // Without /proc/cpuinfo we cannot tell; trust /dev/kvm.
    return { usable: true, hardware: true, detail: '/proc/cpuinfo unreadable' };
  }
  if (!/\b(vmx|svm)\b/.test(flags)) {
    return { usable: true, hardware: false, detail: 'the host CPU has no VMX/SVM, so KVM is emulated' };
  }
  // Module name and CPU flags say hardware; a short calibration checks what an exit costs.
  let exitMicros: number;
  try {
    exitMicros = measureKvmExitMicros(devPath);
  } catch (e) {
    return { usable: false, hardware: false, detail: `${devPath} does not run a test guest (${e instanceof Error ? e.message : String(e)})` };
  }
  return { usable: true, hardware: true, detail: 'hardware virtualization available', exitMicros };
}

export function chooseAccel(requested: Accel, probe: KvmProbe = probeKvm()): AccelChoice {
  if (requested === 'soft') return { engine: 'soft', reason: 'soft engine requested (--accel soft)' };
  if (requested === 'kvm') {
    if (!probe.usable) return { engine: 'kvm', reason: `KVM requested but ${probe.detail}` };
    if (!probe.hardware) {
      return { engine: 'kvm', reason: 'KVM requested (--accel kvm)', warning: `${probe.detail}; Linux guests will be very slow or fail` };
    }
    return { engine: 'kvm', reason: 'KVM requested (--accel kvm)' };
  }
  if (!probe.usable) return { engine: 'soft', reason: `soft engine: ${probe.detail}` };
  if (!probe.hardware) return { engine: 'soft', reason: `soft engine: ${probe.detail}` };
  if (probe.exitMicros !== undefined && probe.exitMicros > SOFTWARE_KVM_EXIT_MICROS) {
    return {
      engine: 'soft',
      reason: `soft engine: a KVM exit costs ${probe.exitMicros.toFixed(1)} µs here (over ${SOFTWARE_KVM_EXIT_MICROS} µs: a software KVM)`,
    };
  }
  return { engine: 'kvm', reason: 'KVM: hardware virtualization available' };
}
