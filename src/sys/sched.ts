// What the host's scheduler says about CPU contention (procfs; Documentation/filesystems/proc.rst
// and Documentation/scheduler/sched-stats.rst). The KVM engine polls between vCPU exits only when
// the host has a CPU to spare for it (vmm/kvm-exit-server.ts).

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * Runnable tasks on the host right now (including the caller), the fourth field of /proc/loadavg
 * ("running/total"); undefined where /proc is not there.
 */
export function hostRunnableTasks(): number | undefined {
  try {
    const field = readFileSync('/proc/loadavg', 'latin1').split(' ')[3];
    const runnable = Number(field?.split('/')[0]);
    return Number.isFinite(runnable) ? runnable : undefined;
  } catch {
    return undefined;
  }
}

/** CPUs this process may run on. */
export function hostCpuCount(): number {
  return availableParallelism();
}

/**
 * The calling thread's CPU time and run delay (time runnable but waiting for a CPU), in ns, from
 * /proc/thread-self/schedstat; undefined where the kernel keeps no scheduler statistics.
 */
export function threadSchedstat(): { cpuNs: number; runDelayNs: number } | undefined {
  try {
    const [cpu, delay] = readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ');
    const cpuNs = Number(cpu);
    const runDelayNs = Number(delay);
    return Number.isFinite(cpuNs) && Number.isFinite(runDelayNs) ? { cpuNs, runDelayNs } : undefined;
  } catch {
    return undefined;
  }
}
