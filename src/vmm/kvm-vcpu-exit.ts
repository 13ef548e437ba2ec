// What a KVM_RUN exit other than PIO/MMIO means for the vCPU loop, in both places a loop runs: a
// vCPU worker thread (kvm-vcpu-worker.ts) and the main thread (kvm-main-thread.ts).

import type { VcpuFd } from '../kvm/kvm.js';

// KVM_SYSTEM_EVENT_* (api.rst, "KVM_EXIT_SYSTEM_EVENT").
const KVM_SYSTEM_EVENT_SHUTDOWN = 1;
const KVM_SYSTEM_EVENT_RESET = 2;

/** How a vCPU's loop ends (the engine turns it into the machine's exit). */
export interface VcpuEnd {
  exit: 'poweroff' | 'reset' | 'error';
  message: string;
}

/** An error end, with the vCPU's RIP when it can still be read. */
export function vcpuFailure(vcpu: VcpuFd, message: string): VcpuEnd {
  let where = '';
  try {
    where = ` at RIP 0x${vcpu.getRegs().rip.toString(16)}`;
  } catch { /* the state may be unreadable after a failed entry */ }
  return { exit: 'error', message: `vCPU ${vcpu.index}: ${message}${where}` };
}

/** Decodes the exit in the kvm_run page (not PIO or MMIO): undefined to run on, or how the loop ends. */
export function otherExit(vcpu: VcpuFd): VcpuEnd | undefined {
  const exit = vcpu.run.decode();
  switch (exit.kind) {
    case 'intr':
    case 'hlt':
    case 'irq-window-open':
      return undefined;
    case 'shutdown': {
      // A triple fault: an error, not a reset, worded as the soft engine words it.
      let rip = '?';
      try { rip = `0x${vcpu.getRegs().rip.toString(16).padStart(16, '0')}`; } catch { /* unreadable */ }
      return { exit: 'error', message: `Triple fault on vCPU ${vcpu.index} at RIP ${rip}` };
    }
    case 'system-event':
      if (exit.type === KVM_SYSTEM_EVENT_SHUTDOWN) return { exit: 'poweroff', message: '' };
      if (exit.type === KVM_SYSTEM_EVENT_RESET) return { exit: 'reset', message: '' };
      return vcpuFailure(vcpu, `system event ${exit.type}`);
    case 'internal-error':
      return vcpuFailure(vcpu, `KVM internal error, suberror ${exit.suberror}${exit.suberror === 1 ? ' (emulation failure)' : ''}`);
    case 'fail-entry':
      return vcpuFailure(vcpu, `VM entry failed, hardware reason 0x${exit.reason.toString(16)}`);
    default:
      return vcpuFailure(vcpu, `unexpected KVM exit ${JSON.stringify(exit, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
  }
}
