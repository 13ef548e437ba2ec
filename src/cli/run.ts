// `tshv run`: boot one VM in the foreground with its serial console on this terminal.

import { TshvError } from '../common/errors.js';
import { ensureDefaultGuest } from '../guest/build.js';
import {
  DEFAULT_CMDLINE, DEFAULT_MEM_MIB, checkDiskFile, checkReadableFile, parseAccel, parseCpuCount, parseMemSizeMib, type VmConfig,
} from '../vmm/config.js';
import { parseCommandArgs } from './main.js';
import { parseDiskOption } from '../devices/virtio/block/config.js';
import { parseNetOption } from '../devices/virtio/net/config.js';
import { parseHvcOption } from '../vmm/hvc-socket.js';
import { parseVmmRunOptions, type VmmRunOptions } from '../vmm/control/vmm-controller.js';
import { errorExitRecord, writeExitRecord } from '../vmm/control/exit-record.js';

export async function parseRunConfig(args: string[]): Promise<VmConfig> {
  return (await parseRunCommand(args)).config;
}

/** The machine's configuration and how the VMM serves it (--name, --control, --exit-file, --console). */
export async function parseRunCommand(args: string[]): Promise<{ config: VmConfig; run: VmmRunOptions }> {
  const { values, positionals } = parseCommandArgs('run', args, {
    name: { type: 'string', default: 'vm' },
    control: { type: 'string' },
    'exit-file': { type: 'string' },
    console: { type: 'string', default: 'stdio' },
    kernel: { type: 'string' },
    initrd: { type: 'string' },
    append: { type: 'string' },
    cpus: { type: 'string', default: '1' },
    memory: { type: 'string', default: String(DEFAULT_MEM_MIB) },
    accel: { type: 'string', default: 'auto' },
    'no-reboot': { type: 'boolean', default: false },
    disk: { type: 'string', multiple: true },
    net: { type: 'string', multiple: true },
    hvc: { type: 'string' },
  });
  if (positionals.length > 0) throw new TshvError(`tshv run: unexpected argument "${positionals[0]}"`, 2);
  const run = parseVmmRunOptions(values);
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
  if (values.hvc !== undefined) config.hvc = parseHvcOption(values.hvc);
  return { config, run };
}

export async function runCommand(args: string[]): Promise<number> {
  try {
    const { config, run } = await parseRunCommand(args);
    const { runVm } = await import('../vmm/run-vm.js');
    return await runVm(config, run);
  } catch (e) {
    // A supervisor learns why a VMM never started (a missing disk...) from its exit record too.
    const exitFile = exitFileArg(args);
    if (exitFile !== undefined) {
      try {
        writeExitRecord(exitFile, errorExitRecord(e));
      } catch {
        // The error itself is what the user must see.
      }
    }
    throw e;
  }
}

/** --exit-file's value, found even when the rest of the arguments do not parse. */
function exitFileArg(args: readonly string[]): string | undefined {
  let found: string | undefined;
  args.forEach((a, i) => {
    if (a === '--exit-file' && i + 1 < args.length) found = args[i + 1];
    else if (a.startsWith('--exit-file=')) found = a.slice('--exit-file='.length);
  });
  return found;
}
