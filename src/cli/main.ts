// The `tshv` command line: translates arguments into calls, prints one clear line on error.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TshvError, errorMessage } from '../common/errors.js';

const USAGE = `Usage: tshv <command> [options]

Commands:
  run          Boot a VM in the foreground, its serial console on this terminal
  guest build  Download and build the default guest (Debian kernel + busybox initramfs)
  help         Show this help

tshv run [--kernel FILE] [--initrd FILE] [--append STR] [--cpus N] [--memory MIB]
         [--accel soft|kvm|auto] [--no-reboot]
  Defaults: the default guest, 1 vCPU, 512 MiB, accel auto. Quit the console with Ctrl-A x.

tshv test    (from the repository root: set up and run the test suite)
`;

/** parseArgs with its errors turned into one-line user errors. */
export function parseCommandArgs<T extends ParseArgsConfig['options']>(
  command: string, args: string[], options: T,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: true }>> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (e) {
    const msg = errorMessage(e).replace(/\. To specify a positional argument.*$/s, '');
    throw new TshvError(`tshv ${command}: ${msg}`, 2);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run': {
        const { runCommand } = await import('./run.js');
        return await runCommand(rest);
      }
      case 'guest': {
        const { guestCommand } = await import('./guest.js');
        return await guestCommand(rest);
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      case '--version':
        process.stdout.write('tshv 0.1.0\n');
        return 0;
      default:
        throw new TshvError(`Unknown command "${command}" (try: tshv help)`, 2);
    }
  } catch (e) {
    if (e instanceof TshvError) {
      process.stderr.write(`tshv: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`tshv: internal error: ${errorMessage(e)}\n`);
    if (process.env['TSHV_DEBUG'] && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return 70;
  }
}
