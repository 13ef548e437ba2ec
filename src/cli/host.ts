// `tshv host [--json]`: the daemon's host resources, what running VMs commit of them, and how VM
// limits are applied.

import { parseCommandArgs } from './main.js';
import { CLIENT_OPTIONS, JSON_OPTION, clientFrom, positionals, printJson } from './remote.js';

/** `tshv host [--json]`: the daemon's host, what its VMs commit and the overcommit ratios. */
export async function hostCommand(args: string[]): Promise<number> {
  const { values, positionals: pos } = parseCommandArgs('host', args, { ...CLIENT_OPTIONS, ...JSON_OPTION });
  positionals('host', pos, []);
  const h = await clientFrom(values).hostInfo();
  if (values.json) {
    printJson(h);
    return 0;
  }
  const rows: [string, string][] = [
    ['Host', `${h.hostname} (tshv ${h.version})`],
    ['CPUs', String(h.cpus)],
    ['Memory', `${h.memoryMib} MiB (${h.memoryFreeMib} MiB available)`],
    ['VMs', `${h.vms.defined} defined, ${h.vms.running} running`],
    ['Committed', `${h.committed.cpus} vCPUs, ${h.committed.memoryMib} MiB`],
    ['Overcommit', `CPU ${h.overcommit.cpuRatio.toFixed(2)}x, memory ${h.overcommit.memoryRatio.toFixed(2)}x`],
    ['VM limits', h.cgroups === 'none' ? 'not applied (no usable cgroups)' : `cgroup ${h.cgroups}`],
  ];
  process.stdout.write(rows.map(([k, v]) => `${`${k}:`.padEnd(12)}${v}\n`).join(''));
  return 0;
}
