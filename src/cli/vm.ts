// `tshv vm ...`: VMs of the daemon, virsh-like. Every command is one or two API calls through the
// typed client; reads take --json for scripts and print aligned tables for people; long actions
// (start, stop) show progress on stderr and wait for the state they lead to.

import { resolve } from 'node:path';
import { TshvError } from '../common/errors.js';
import type { TshvClient } from '../client/client.js';
import type { DiskSpec, NicSpec, Vm, VmSpec, VmState } from '../api/schema/vm.js';
import { parseDiskOption } from '../devices/virtio/block/config.js';
import { parseNetOption } from '../devices/virtio/net/config.js';
import { parseCommandArgs } from './main.js';
import {
  CLIENT_OPTIONS, CLIENT_USAGE, JSON_OPTION, clientFrom, formatDuration, parseIntFlag, positionals, printJson, table,
} from './remote.js';

export const VM_USAGE = `tshv vm create NAME [--cpus N] [--memory MIB] [--kernel FILE --initrd FILE --append STR]
              [--disk FILE[,ro][,serial=ID][,bps=N][,iops=N]]... [--net tap=NAME[,mac=MAC][,bps=N]]...
              [--engine soft|kvm|auto] [--autostart] [--cpu-weight N] [--cpu-cap PCT] [--memory-limit MIB]
  Define a VM (it stays stopped). No boot options: the default guest.
tshv vm list | show NAME             VMs and their state (--json for scripts)
tshv vm start NAME [--no-wait]       start and wait until it runs
tshv vm stop NAME [--timeout S]      ACPI power button; forced after S seconds (default 30)
tshv vm force-stop|pause|resume|reboot NAME
tshv vm delete NAME [--force]        refused while it runs unless --force
tshv vm console NAME                 serial console; detach with Ctrl-] or Ctrl-A x`;

const DEFAULT_STOP_TIMEOUT_S = 30;
/** How long `start` waits for `running` (a VMM that cannot start says so well before). */
const START_WAIT_MS = 120_000;
const POLL_MS = 200;

export async function vmCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'create': return await createCommand(rest);
    case 'list': return await listCommand(rest);
    case 'show': return await showCommand(rest);
    case 'start': return await startCommand(rest);
    case 'stop': return await stopCommand(rest);
    case 'force-stop':
    case 'pause':
    case 'resume':
    case 'reboot':
      return await simpleAction(sub, rest);
    case 'delete': return await deleteCommand(rest);
    case 'console': {
      const { values, positionals: pos } = parseCommandArgs('vm console', rest, { ...CLIENT_OPTIONS });
      const [name] = positionals('vm console', pos, ['NAME']);
      const { consoleSession } = await import('./vm-console.js');
      return await consoleSession(clientFrom(values), name!);
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`${VM_USAGE}\n${CLIENT_USAGE}\n`);
      return sub === undefined ? 2 : 0;
    default:
      throw new TshvError(`Unknown command "tshv vm ${sub}" (try: tshv vm help)`, 2);
  }
}

const CREATE_OPTIONS = {
  ...CLIENT_OPTIONS, ...JSON_OPTION,
  cpus: { type: 'string' },
  memory: { type: 'string' },
  kernel: { type: 'string' },
  initrd: { type: 'string' },
  append: { type: 'string' },
  disk: { type: 'string', multiple: true },
  net: { type: 'string', multiple: true },
  engine: { type: 'string' },
  autostart: { type: 'boolean', default: false },
  'cpu-weight': { type: 'string' },
  'cpu-cap': { type: 'string' },
  'memory-limit': { type: 'string' },
} as const;

/** The VmSpec that `tshv vm create` asks for, and the client to ask. Paths are made absolute for
 *  the local daemon (it has its own cwd); for a remote one they are paths on its host. */
export function parseCreateArgs(args: string[], env: NodeJS.ProcessEnv = process.env): { spec: VmSpec; client: TshvClient; json: boolean } {
  const { values, positionals: pos } = parseCommandArgs('vm create', args, CREATE_OPTIONS);
  const client = clientFrom(values, env);
  const local = client.options.socketPath !== undefined;
  const [name] = positionals('vm create', pos, ['NAME']);
  const path = (p: string): string => (local ? resolve(p) : p);
  // The default guest brings its own initramfs; an initrd without a kernel means nothing.
  if (values.kernel === undefined && values.initrd !== undefined) throw new TshvError('--initrd needs --kernel (the default guest brings its own)', 2);
  if (values.engine !== undefined && !['soft', 'kvm', 'auto'].includes(values.engine)) {
    throw new TshvError(`--engine must be soft, kvm or auto, not "${values.engine}"`, 2);
  }
  const spec: VmSpec = { name: name! };
  const num = (flag: string, text: string | undefined): number | undefined => parseIntFlag(flag, text);
  const set = <K extends keyof VmSpec>(key: K, value: VmSpec[K] | undefined): void => {
    if (value !== undefined) spec[key] = value;
  };
  set('cpus', num('--cpus', values.cpus));
  set('memoryMib', num('--memory', values.memory));
  set('kernel', values.kernel !== undefined ? path(values.kernel) : undefined);
  set('initrd', values.initrd !== undefined ? path(values.initrd) : undefined);
  set('append', values.append);
  set('engine', values.engine as VmSpec['engine']);
  if (values.autostart === true) spec.autostart = true;
  set('cpuWeight', num('--cpu-weight', values['cpu-weight']));
  set('cpuCapPercent', num('--cpu-cap', values['cpu-cap']));
  set('memoryLimitMib', num('--memory-limit', values['memory-limit']));
  const disks = (values.disk ?? []).map((d): DiskSpec => {
    const c = parseDiskOption(d);
    const disk: DiskSpec = { path: path(c.path) };
    if (c.readOnly) disk.readOnly = true;
    if (c.serial !== undefined) disk.serial = c.serial;
    if (c.bytesPerSecond !== undefined && c.bytesPerSecond > 0) disk.bps = c.bytesPerSecond;
    if (c.opsPerSecond !== undefined && c.opsPerSecond > 0) disk.iops = c.opsPerSecond;
    return disk;
  });
  if (disks.length > 0) spec.disks = disks;
  const nics = (values.net ?? []).map((n): NicSpec => {
    const c = parseNetOption(n);
    const nic: NicSpec = { tap: c.tap };
    if (c.mac !== undefined) nic.mac = c.mac;
    if (c.bytesPerSecond !== undefined && c.bytesPerSecond > 0) nic.bps = c.bytesPerSecond;
    return nic;
  });
  if (nics.length > 0) spec.nics = nics;
  return { spec, client, json: values.json === true };
}

async function createCommand(args: string[]): Promise<number> {
  const { spec, client, json } = parseCreateArgs(args);
  const vm = await client.createVm(spec);
  if (json) printJson(vm);
  else process.stdout.write(`Created VM "${vm.name}" (${describeShape(vm)}), id ${vm.id}; start it with: tshv vm start ${vm.name}\n`);
  return 0;
}

function describeShape(vm: Vm): string {
  const cpus = vm.spec.cpus ?? 1;
  const boot = vm.spec.kernel === undefined ? 'default guest' : vm.spec.kernel;
  return `${cpus} vCPU${cpus === 1 ? '' : 's'}, ${vm.spec.memoryMib ?? 512} MiB, ${boot}`;
}

function uptime(vm: Vm): string {
  if (vm.startedAt === undefined || (vm.state !== 'running' && vm.state !== 'paused')) return '-';
  return formatDuration(Date.now() - Date.parse(vm.startedAt));
}

async function listCommand(args: string[]): Promise<number> {
  const { values, positionals: pos } = parseCommandArgs('vm list', args, { ...CLIENT_OPTIONS, ...JSON_OPTION });
  positionals('vm list', pos, []);
  const vms = await clientFrom(values).listVms();
  if (values.json) {
    printJson(vms);
    return 0;
  }
  if (vms.length === 0) {
    process.stdout.write('No VMs (create one with: tshv vm create NAME)\n');
    return 0;
  }
  const rows = vms.map((v) => [
    v.name, v.state, String(v.spec.cpus ?? 1), `${v.spec.memoryMib ?? 512} MiB`, v.spec.engine ?? 'auto',
    v.pid !== undefined ? String(v.pid) : '-', uptime(v), v.stateReason ?? '',
  ]);
  process.stdout.write(table(['NAME', 'STATE', 'CPUS', 'MEMORY', 'ENGINE', 'PID', 'UPTIME', 'REASON'], rows));
  return 0;
}

async function showCommand(args: string[]): Promise<number> {
  const { values, positionals: pos } = parseCommandArgs('vm show', args, { ...CLIENT_OPTIONS, ...JSON_OPTION });
  const [name] = positionals('vm show', pos, ['NAME']);
  const vm = await clientFrom(values).getVm(name!);
  if (values.json) {
    printJson(vm);
    return 0;
  }
  const s = vm.spec;
  const rows: [string, string][] = [
    ['Name', vm.name], ['ID', vm.id], ['State', vm.state + (vm.stateReason !== undefined ? ` (${vm.stateReason})` : '')],
    ['PID', vm.pid !== undefined ? String(vm.pid) : '-'], ['Uptime', uptime(vm)],
    ['vCPUs', String(s.cpus ?? 1)], ['Memory', `${s.memoryMib ?? 512} MiB`], ['Engine', s.engine ?? 'auto'],
    ['Boot', s.kernel === undefined ? 'default guest' : `${s.kernel}${s.initrd !== undefined ? ` + ${s.initrd}` : ''}`],
  ];
  if (s.append !== undefined) rows.push(['Command line', s.append]);
  for (const d of s.disks ?? []) rows.push(['Disk', `${d.path}${d.readOnly === true ? ' (read-only)' : ''}${d.serial !== undefined ? ` serial=${d.serial}` : ''}`]);
  for (const n of s.nics ?? []) rows.push(['NIC', `tap ${n.tap}${n.mac !== undefined ? ` mac ${n.mac}` : ''}`]);
  rows.push(['Autostart', s.autostart === true ? 'yes' : 'no']);
  rows.push(['CPU weight', String(s.cpuWeight ?? 100)]);
  rows.push(['CPU cap', s.cpuCapPercent !== undefined ? `${s.cpuCapPercent}%` : 'none']);
  rows.push(['Memory limit', s.memoryLimitMib !== undefined ? `${s.memoryLimitMib} MiB` : 'none']);
  rows.push(['Limits', `${vm.limits.enforced ? 'enforced' : 'not enforced'}: ${vm.limits.detail}`]);
  rows.push(['Created', vm.createdAt]);
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(rows.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}\n`).join(''));
  return 0;
}

/** Polls until the VM reaches one of `states`; a crash on the way is an error with its reason. */
export async function waitForState(
  client: TshvClient, name: string, states: readonly VmState[], timeoutMs: number, onState?: (state: VmState) => void,
): Promise<Vm> {
  const deadline = Date.now() + timeoutMs;
  let last: VmState | undefined;
  for (;;) {
    const vm = await client.getVm(name);
    if (vm.state !== last) {
      last = vm.state;
      onState?.(vm.state);
    }
    if (states.includes(vm.state)) return vm;
    if (vm.state === 'crashed') throw new TshvError(`VM "${name}" crashed${vm.stateReason !== undefined ? `: ${vm.stateReason}` : ''}`);
    if (Date.now() > deadline) throw new TshvError(`VM "${name}" is still ${vm.state} after ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function startCommand(args: string[]): Promise<number> {
  const { values, positionals: pos } = parseCommandArgs('vm start', args, { ...CLIENT_OPTIONS, ...JSON_OPTION, 'no-wait': { type: 'boolean', default: false } });
  const [name] = positionals('vm start', pos, ['NAME']);
  const client = clientFrom(values);
  if (!values.json) progress(`Starting VM "${name}"...`);
  let vm = await client.startVm(name!);
  if (!values['no-wait']) {
    vm = await waitForState(client, name!, ['running', 'paused'], START_WAIT_MS, values.json ? undefined : (state) => progress(`  ${state}`));
  }
  if (values.json) printJson(vm);
  else process.stdout.write(`VM "${vm.name}" is ${vm.state}${vm.pid !== undefined ? ` (pid ${vm.pid})` : ''}\n`);
  return 0;
}

async function stopCommand(args: string[]): Promise<number> {
  const { values, positionals: pos } = parseCommandArgs('vm stop', args, { ...CLIENT_OPTIONS, ...JSON_OPTION, timeout: { type: 'string' } });
  const [name] = positionals('vm stop', pos, ['NAME']);
  const timeoutS = parseIntFlag('--timeout', values.timeout) ?? DEFAULT_STOP_TIMEOUT_S;
  const client = clientFrom(values);
  if (!values.json) progress(`Stopping VM "${name}" (ACPI power button; forced after ${timeoutS} s)...`);
  let vm = await client.stopVm(name!, timeoutS * 1000);
  // The daemon forces the stop at the timeout; allow it that long plus the forced stop itself.
  vm = await waitForState(client, name!, ['stopped'], timeoutS * 1000 + 30_000, values.json ? undefined : (state) => progress(`  ${state}`));
  if (values.json) printJson(vm);
  else process.stdout.write(`VM "${vm.name}" is ${vm.state}${vm.stateReason !== undefined ? ` (${vm.stateReason})` : ''}\n`);
  return 0;
}

async function simpleAction(action: 'force-stop' | 'pause' | 'resume' | 'reboot', args: string[]): Promise<number> {
  const { values, positionals: pos } = parseCommandArgs(`vm ${action}`, args, { ...CLIENT_OPTIONS, ...JSON_OPTION });
  const [name] = positionals(`vm ${action}`, pos, ['NAME']);
  const client = clientFrom(values);
  const vm = action === 'force-stop' ? await client.forceStopVm(name!)
    : action === 'pause' ? await client.pauseVm(name!)
      : action === 'resume' ? await client.resumeVm(name!)
        : await client.rebootVm(name!);
  if (values.json) printJson(vm);
  else process.stdout.write(`VM "${vm.name}" is ${vm.state}${action === 'reboot' ? ' (reset)' : ''}\n`);
  return 0;
}

async function deleteCommand(args: string[]): Promise<number> {
  const { values, positionals: pos } = parseCommandArgs('vm delete', args, { ...CLIENT_OPTIONS, force: { type: 'boolean', default: false } });
  const [name] = positionals('vm delete', pos, ['NAME']);
  await clientFrom(values).deleteVm(name!, values.force === true);
  process.stdout.write(`Deleted VM "${name}"\n`);
  return 0;
}
