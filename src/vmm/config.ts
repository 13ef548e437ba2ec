// The validated configuration of one VM run (shared/STYLE.md: `FooConfig` is validated user input).
// Every check here produces one clear line for the user; nothing reaches the machine unchecked.

import { accessSync, constants, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { TshvError } from '../common/errors.js';
import type { BlockConfig } from '../devices/virtio/block/config.js';
import type { NetConfig } from '../devices/virtio/net/config.js';

export type Accel = 'soft' | 'kvm' | 'auto';

export interface VmConfig {
  kernelPath: string;
  initrdPath?: string;
  cmdline: string;
  cpuCount: number;
  memSizeMib: number;
  accel: Accel;
  /** Restart the machine when the guest reboots (false: exit instead, like QEMU's -no-reboot). */
  reboot: boolean;
  /** virtio-blk disks, in order (/dev/vda, /dev/vdb, ...). */
  disks?: BlockConfig[];
  /** virtio-net NICs with TAP back ends, in order (eth0, eth1, ...). */
  nics?: NetConfig[];
  /** A virtio-console (the guest's hvc0) served on a Unix socket (`--hvc socket=PATH`). */
  hvc?: { socketPath: string };
}

export const MAX_CPUS = 32;
/** Smallest memory we accept before looking at the kernel: the boot loader checks the real need. */
export const MIN_MEM_MIB = 16;
export const DEFAULT_MEM_MIB = 512;
/** Debian's kernel on the soft engine: serial console, no per-line noise. */
export const DEFAULT_CMDLINE = 'console=ttyS0 quiet';

export function parseCpuCount(s: string): number {
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_CPUS) {
    throw new TshvError(`Invalid --cpus "${s}": must be a whole number from 1 to ${MAX_CPUS}`);
  }
  return n;
}

export function parseMemSizeMib(s: string): number {
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < MIN_MEM_MIB) {
    throw new TshvError(`Invalid --memory "${s}": must be a whole number of MiB, at least ${MIN_MEM_MIB}`);
  }
  const hostMib = Math.floor(totalmem() / (1024 * 1024));
  if (n > hostMib) {
    throw new TshvError(`Invalid --memory ${n} MiB: the host has only ${hostMib} MiB`);
  }
  return n;
}

export function parseAccel(s: string): Accel {
  if (s === 'soft' || s === 'kvm' || s === 'auto') return s;
  throw new TshvError(`Invalid --accel "${s}": must be soft, kvm or auto`);
}

/** Checks that a boot file exists, is a regular file and can be read. */
export function checkReadableFile(what: 'kernel' | 'initrd', path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new TshvError(`Cannot read ${what} "${path}": no such file`);
  }
  if (!st.isFile()) throw new TshvError(`Cannot read ${what} "${path}": not a regular file`);
  try {
    accessSync(path, constants.R_OK);
  } catch {
    throw new TshvError(`Cannot read ${what} "${path}": permission denied`);
  }
}

/** Checks a disk image before the machine is built: exists, regular file, readable (and writable unless ro). */
export function checkDiskFile(path: string, readOnly: boolean): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new TshvError(`Cannot attach disk "${path}": no such file`);
  }
  if (!st.isFile()) throw new TshvError(`Cannot attach disk "${path}": not a regular file`);
  try {
    accessSync(path, readOnly ? constants.R_OK : constants.R_OK | constants.W_OK);
  } catch {
    throw new TshvError(`Cannot attach disk "${path}": permission denied${readOnly ? '' : ' (use ,ro for a read-only disk)'}`);
  }
}
