// CPU and memory limits for each VM's VMM process, through Linux control groups.
//
// cgroup v2 (the unified hierarchy: <root>/cgroup.controllers exists, kernel
// Documentation/admin-guide/cgroup-v2.rst): one group per VM at <root>/tshv.slice/<vm>, with
//   cpu.weight   = cpuWeight (1..10000, default 100: the same scale as our API)
//   cpu.max      = "<quota> <period>", quota = cpuCapPercent% of one CPU per period, or "max"
//   memory.max   = memoryLimitMib in bytes, or "max"
// The controllers are enabled top-down through cgroup.subtree_control ("no internal processes":
// tshv.slice holds only the VM groups, never a process).
//
// cgroup v1 (separate hierarchies per controller, cgroup-v1/cpu.rst and memory.rst): one group per
// VM in the cpu and in the memory hierarchy, under the daemon's own group in each (read from
// /proc/self/cgroup), so a daemon that itself runs in a limited group (a service, a container)
// keeps its VMs inside that limit:
//   cpu.shares            = cpuWeight * 1024 / 100 (1024 is v1's default share, as 100 is v2's weight)
//   cpu.cfs_period_us     = 100000, cpu.cfs_quota_us = cpuCapPercent% of it, or -1 (no cap)
//   memory.limit_in_bytes = memoryLimitMib in bytes (no write: unlimited)
//
// Without either (not root, no hierarchy mounted, not writable) the VM runs unlimited and
// Vm.limits says why. Nothing here throws: a limit that cannot be applied is reported, not fatal.

import { accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../common/errors.js';

export interface CgroupLimits {
  /** Relative CPU share, 1..10000, 100 = the default. */
  cpuWeight: number;
  /** 100 = one host CPU; absent: no cap. */
  cpuCapPercent?: number;
  /** Hard limit on the VMM process memory (guest RAM plus the VMM's own); absent: none. */
  memoryLimitMib?: number;
}

/** Where a VM process was placed and what applies (stored with the VM: Vm.limits). */
export interface CgroupPlacement {
  enforced: boolean;
  /** How (cgroup v2 or v1, and the values written) or why not. */
  detail: string;
  /** The groups made for the VM, removed when it ends. */
  dirs: string[];
}

export type CgroupMode = 'v2' | 'v1' | 'none';

export interface CgroupOptions {
  /** The cgroup file system root (default /sys/fs/cgroup; a temp dir in tests). */
  root?: string;
  /** Text of /proc/self/cgroup (default: read it). */
  selfCgroup?: string;
  /** Whether we may write cgroups (default: running as root). */
  privileged?: boolean;
}

export const CGROUP_SLICE = 'tshv.slice';
/** CFS bandwidth period (cgroup-v1/cpu.rst, cgroup-v2.rst cpu.max): 100 ms, the kernel's default. */
export const CFS_PERIOD_US = 100_000;
/** v1's default cpu.shares; v2's default cpu.weight is 100. */
const V1_DEFAULT_SHARES = 1024;
/** The smallest cpu.shares the kernel accepts (MIN_SHARES). */
const V1_MIN_SHARES = 2;
const MIB = 1024 * 1024;

export function v1CpuShares(cpuWeight: number): number {
  return Math.max(V1_MIN_SHARES, Math.round((cpuWeight * V1_DEFAULT_SHARES) / 100));
}

export function cfsQuotaUs(cpuCapPercent: number): number {
  return Math.round((cpuCapPercent * CFS_PERIOD_US) / 100);
}

/** The daemon's own group in the v1 hierarchy of `controller` ('/' when it cannot tell). */
export function ownV1Path(selfCgroup: string, controller: string): string {
  for (const line of selfCgroup.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (m && m[1]!.split(',').includes(controller)) return m[2]! === '' ? '/' : m[2]!;
  }
  return '/';
}

export class VmCgroups {
  readonly mode: CgroupMode;
  /** One line for HostInfo and logs: what applies, or why nothing does. */
  readonly summary: string;
  private readonly root: string;
  private readonly selfCgroup: string;

  private constructor(mode: CgroupMode, summary: string, root: string, selfCgroup: string) {
    this.mode = mode;
    this.summary = summary;
    this.root = root;
    this.selfCgroup = selfCgroup;
  }

  static detect(options: CgroupOptions = {}): VmCgroups {
    const root = options.root ?? '/sys/fs/cgroup';
    let selfCgroup = options.selfCgroup;
    if (selfCgroup === undefined) {
      try {
        selfCgroup = readFileSync('/proc/self/cgroup', 'utf8');
      } catch {
        selfCgroup = '';
      }
    }
    const privileged = options.privileged ?? process.getuid?.() === 0;
    const none = (why: string): VmCgroups => new VmCgroups('none', `none: ${why}`, root, selfCgroup);
    if (!privileged) return none('the daemon does not run as root, so it cannot create cgroups');
    if (existsSync(join(root, 'cgroup.controllers'))) {
      const controllers = readText(join(root, 'cgroup.controllers')).split(/\s+/);
      const missing = ['cpu', 'memory'].filter((c) => !controllers.includes(c));
      if (missing.length > 0) return none(`cgroup v2 at ${root} lacks the ${missing.join(' and ')} controller`);
      if (!writable(root)) return none(`cgroup v2 at ${root} is not writable`);
      return new VmCgroups('v2', `v2 (${join(root, CGROUP_SLICE)})`, root, selfCgroup);
    }
    const cpu = join(root, 'cpu', ownV1Path(selfCgroup, 'cpu'));
    const memory = join(root, 'memory', ownV1Path(selfCgroup, 'memory'));
    if (!existsSync(join(cpu, 'cpu.shares')) || !existsSync(join(memory, 'memory.limit_in_bytes'))) {
      return none(`no cgroup v2 with cpu and memory at ${root}, and no cgroup v1 cpu and memory hierarchies`);
    }
    if (!writable(cpu) || !writable(memory)) return none(`the cgroup v1 groups ${cpu} and ${memory} are not writable`);
    return new VmCgroups('v1', `v1 (${join(cpu, CGROUP_SLICE)}, ${join(memory, CGROUP_SLICE)})`, root, selfCgroup);
  }

  /** Puts process `pid` into the VM's own group(s) with `limits`; never throws. */
  apply(vmName: string, pid: number, limits: CgroupLimits): CgroupPlacement {
    if (this.mode === 'none') return { enforced: false, detail: `Limits not applied: ${this.summary.replace(/^none: /, '')}`, dirs: [] };
    const dirs: string[] = [];
    try {
      if (this.mode === 'v2') {
        const slice = join(this.root, CGROUP_SLICE);
        enableControllers(this.root);
        mkdirSync(slice, { recursive: true });
        enableControllers(slice);
        const dir = join(slice, vmName);
        mkdirSync(dir, { recursive: true });
        dirs.push(dir);
        writeFileSync(join(dir, 'cpu.weight'), String(limits.cpuWeight));
        writeFileSync(join(dir, 'cpu.max'), limits.cpuCapPercent !== undefined ? `${cfsQuotaUs(limits.cpuCapPercent)} ${CFS_PERIOD_US}` : `max ${CFS_PERIOD_US}`);
        writeFileSync(join(dir, 'memory.max'), limits.memoryLimitMib !== undefined ? String(limits.memoryLimitMib * MIB) : 'max');
        writeFileSync(join(dir, 'cgroup.procs'), String(pid));
        rebalanceSlice(slice);
        return { enforced: true, detail: `cgroup v2 ${dir}: ${describe(limits, 'v2')}`, dirs };
      }
      const cpu = join(this.root, 'cpu', ownV1Path(this.selfCgroup, 'cpu'), CGROUP_SLICE, vmName);
      const memory = join(this.root, 'memory', ownV1Path(this.selfCgroup, 'memory'), CGROUP_SLICE, vmName);
      mkdirSync(cpu, { recursive: true });
      dirs.push(cpu);
      mkdirSync(memory, { recursive: true });
      dirs.push(memory);
      writeFileSync(join(cpu, 'cpu.shares'), String(v1CpuShares(limits.cpuWeight)));
      writeFileSync(join(cpu, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
      writeFileSync(join(cpu, 'cpu.cfs_quota_us'), limits.cpuCapPercent !== undefined ? String(cfsQuotaUs(limits.cpuCapPercent)) : '-1');
      if (limits.memoryLimitMib !== undefined) writeFileSync(join(memory, 'memory.limit_in_bytes'), String(limits.memoryLimitMib * MIB));
      // cgroup.procs moves the whole thread group (cgroup-v1/cgroups.rst §2.2).
      writeFileSync(join(cpu, 'cgroup.procs'), String(pid));
      writeFileSync(join(memory, 'cgroup.procs'), String(pid));
      rebalanceSlice(join(cpu, '..'));
      return { enforced: true, detail: `cgroup v1 ${join(ownV1Path(this.selfCgroup, 'cpu'), CGROUP_SLICE, vmName)}: ${describe(limits, 'v1')}`, dirs };
    } catch (e) {
      const left = VmCgroups.remove(dirs);
      return { enforced: false, detail: `Limits not applied: cgroup ${this.mode}: ${errorMessage(e)}`, dirs: left };
    }
  }

  /** Whether the kernel's OOM killer struck inside the VM's groups (read before remove()). */
  static oomKilled(dirs: readonly string[]): boolean {
    for (const dir of dirs) {
      for (const file of ['memory.events', 'memory.oom_control']) {
        const m = /^oom_kill (\d+)$/m.exec(readText(join(dir, file)));
        if (m && Number(m[1]) > 0) return true;
      }
    }
    return false;
  }

  /**
   * Removes the VM's groups (they must be empty: the VMM has exited) and the slice when it is the
   * last; returns the dirs that could not be removed.
   */
  static remove(dirs: readonly string[]): string[] {
    const left: string[] = [];
    for (const dir of dirs) {
      try {
        rmdirSync(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') left.push(dir);
        continue;
      }
      try {
        rmdirSync(join(dir, '..'));
      } catch {
        // Other VMs still have groups in the slice.
        rebalanceSlice(join(dir, '..'));
      }
    }
    return left;
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Gives the slice the sum of its VMs' CPU weights, so that each VM weighs against the host's other
 * processes as its own cpuWeight says, instead of all VMs sharing one default weight (the slice
 * competes with its siblings as one entity: cgroup-v2.rst "Weights", cgroup-v1 sched-design-CFS
 * "group scheduler extensions"). Best effort: a failure leaves the default weight.
 */
function rebalanceSlice(slice: string): void {
  try {
    const v2 = existsSync(join(slice, 'cpu.weight'));
    const file = v2 ? 'cpu.weight' : 'cpu.shares';
    if (!existsSync(join(slice, file))) return;
    let sum = 0;
    for (const entry of readdirSync(slice, { withFileTypes: true })) {
      if (entry.isDirectory()) sum += Number(readText(join(slice, entry.name, file))) || 0;
    }
    if (sum === 0) return;
    // Kernel bounds: cpu.weight 1..10000, cpu.shares 2..262144.
    const value = v2 ? Math.min(10000, Math.max(1, sum)) : Math.min(262144, Math.max(V1_MIN_SHARES_FOR_SLICE, sum));
    writeFileSync(join(slice, file), String(value));
  } catch {
    // Keep the default weight.
  }
}
const V1_MIN_SHARES_FOR_SLICE = 2;

/** Enables cpu and memory for the children of `dir` (v2), unless they already are. */
function enableControllers(dir: string): void {
  const enabled = readText(join(dir, 'cgroup.subtree_control')).split(/\s+/);
  const wanted = ['cpu', 'memory'].filter((c) => !enabled.includes(c));
  if (wanted.length > 0) writeFileSync(join(dir, 'cgroup.subtree_control'), wanted.map((c) => `+${c}`).join(' '));
}

function describe(limits: CgroupLimits, mode: 'v1' | 'v2'): string {
  const weight = mode === 'v2' ? `cpu.weight ${limits.cpuWeight}` : `cpu.shares ${v1CpuShares(limits.cpuWeight)}`;
  const cap = limits.cpuCapPercent !== undefined ? `CPU cap ${limits.cpuCapPercent}%` : 'no CPU cap';
  const mem = limits.memoryLimitMib !== undefined ? `memory limit ${limits.memoryLimitMib} MiB` : 'no memory limit';
  return `${weight}, ${cap}, ${mem}`;
}
