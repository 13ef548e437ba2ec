// Finds the Debian kernel (and its initramfs) that src/guest/build.ts caches, for tests that
// run only when one has been downloaded (`tshv guest build`, or helper scripts).

import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface RealKernel {
  vmlinuz: string;
  /** initrd.img beside it, when present. */
  initrd?: string;
}

export function findRealKernel(env: NodeJS.ProcessEnv = process.env): RealKernel | undefined {
  const homes = [
    env['TSHV_HOME'],
    env['XDG_DATA_HOME'] === undefined ? undefined : join(env['XDG_DATA_HOME'], 'tshv'),
    env['HOME'] === undefined ? undefined : join(env['HOME'], '.local', 'share', 'tshv'),
  ];
  const candidates: string[] = [];
  for (const home of homes) {
    if (home === undefined || !existsSync(join(home, 'guest'))) continue;
    // Sorted: "cloud-..." (the kernel the project boots) comes before "generic-...".
    for (const d of readdirSync(join(home, 'guest')).sort()) candidates.push(join(home, 'guest', d, 'vmlinuz'));
  }
  candidates.push('/tmp/guest-kernel/vmlinuz');
  const vmlinuz = candidates.find((p) => existsSync(p));
  if (vmlinuz === undefined) return undefined;
  const initrd = join(dirname(vmlinuz), 'initrd.img');
  return existsSync(initrd) ? { vmlinuz, initrd } : { vmlinuz };
}

export const NO_REAL_KERNEL = 'no kernel at $TSHV_HOME/guest/*/vmlinuz or /tmp/guest-kernel/vmlinuz';
