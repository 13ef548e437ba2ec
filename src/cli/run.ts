// `tshv run`: boot one VM in the foreground with its serial console on this terminal.

import { TshvError } from '../common/errors.js';
import { ensureDefaultGuest } from '../guest/build.js';
import {
  DEFAULT_CMDLINE, DEFAULT_MEM_MIB, checkDiskFile, checkReadableFile, parseAccel, parseCpuCount, parseMemSizeMib, type VmConfig,
} from '../vmm/config.js';
import { parseCommandArgs } from './main.js';
import { parseDiskOption } from '../devices/virtio/block/config.js';
import { parseNetOption } from '../devices/virtio/net/config.js';

export async function parseRunConfig(args: string[]): Promise<VmConfig> {
  const { values, positionals } = parseCommandArgs('run', args, {
    kernel: { type: 'string' },
    initrd: { type: 'string' },
    append: { type: 'string' },
    cpus: { type: 'string', default: '1' },
    memory: { type: 'string', default: String(DEFAULT_MEM_MIB) },
    accel: { type: 'string', default: 'auto' },
    'no-reboot': { type: 'boolean', default: false },
    disk: { type: 'string', multiple: true },
    net: { type: 'string', multiple: true },
  });
  if (positionals.length > 0) throw new TshvError(`tshv run: unexpected argument "${positionals[0]}"`, 2);
  const cpuCount = parseCpuCount(values.cpus ?? '1');
  const memSizeMib = parseMemSizeMib(values.memory ?? String(DEFAULT_MEM_MIB));
  const accel = parseAccel(values.accel ?? 'auto');
  let kernelPath = values.kernel;
  let initrdPath = values.initrd;
  if (kernelPath === undefined) {
    // The default guest: its kernel, and its initramfs unless the user gave another.
    const guest = await ensureDefaultGuest();
    kernelPath = guest.kernelPath;
    initrdPath ??= guest.initrdPath;
  }
  checkReadableFile('kernel', kernelPath);
  if (initrdPath !== undefined) checkReadableFile('initrd', initrdPath);
  const config: VmConfig = {
    kernelPath,
    cmdline: values.append ?? DEFAULT_CMDLINE,
    cpuCount,
    memSizeMib,
    accel,
    reboot: !(values['no-reboot'] ?? false),
  };
  if (initrdPath !== undefined) config.initrdPath = initrdPath;
  const disks = (values.disk ?? []).map(parseDiskOption);
  for (const d of disks) checkDiskFile(d.path, d.readOnly);
  if (disks.length > 0) config.disks = disks;
  const nics = (values.net ?? []).map(parseNetOption);
  if (nics.length > 0) config.nics = nics;
  return config;
}

export async function runCommand(args: string[]): Promise<number> {
  const config = await parseRunConfig(args);
  const { runVm } = await import('../vmm/run-vm.js');
  return await runVm(config);
}
