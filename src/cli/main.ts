// The `tshv` command line: translates arguments into calls, prints one clear line on error.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TshvError, errorMessage } from '../common/errors.js';

const USAGE = `Usage: tshv <command> [options]

Commands:
  run          Boot a VM in the foreground, its serial console on this terminal
  guest build  Download and build the default guest (Debian kernel + busybox initramfs)
  daemon       Run the tshv daemon in the foreground (REST API; manages VMs in their own processes)
  vm           Manage the daemon's VMs: create, list, show, start, stop, console... (tshv vm help)
  token        API tokens for remote use: create, list, revoke (tshv token help)
  host         The daemon's host: CPUs, memory, what VMs commit
  help         Show this help

tshv run [--kernel FILE] [--initrd FILE] [--append STR] [--cpus N] [--memory MIB]
         [--accel soft|kvm|auto] [--no-reboot]
  Defaults: the default guest, 1 vCPU, 512 MiB, accel auto. Quit the console with Ctrl-A x.
  --name NAME       the VM's name in the control socket's status (default vm)
  --control PATH    serve the VMM control socket there (mode 0600; newline JSON, src/vmm/control/protocol.ts)
  --exit-file PATH  write why the VMM exited (JSON exit record) there just before it exits
  --console stdio|none  stdio (default): the serial console on this terminal; none: only through the
                    control socket's console-attach (stdin is not read; SIGHUP is ignored)
  --disk FILE[,ro][,serial=ID][,bps=N][,iops=N]  a virtio-blk disk (/dev/vda, /dev/vdb, ... in order)
  --net tap=NAME[,mac=MAC][,bps=N]  a virtio-net NIC on a TAP (eth0, ...); bps: bytes/s each way
  --hvc socket=PATH  the guest's /dev/hvc0 (virtio-console) on a Unix socket the VMM serves (mode 0600);
                     one client at a time, both ways, e.g. socat -,raw,echo=0 UNIX-CONNECT:PATH;
                     output while no client is connected is dropped. unix:PATH is accepted too.

tshv daemon [--listen HOST:PORT] [--no-http] [--allow-origin URL]...
  Serves $TSHV_HOME/tshvd.sock (owner only, no token) and HTTP on 127.0.0.1:7480 (tokens).
  SIGTERM/SIGINT stop the daemon; running VMs keep running and are managed again at its next start.
tshv vm|token|host ... [--host URL --token T] [--json]   (env TSHV_HOST, TSHV_TOKEN)

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

/** `tshv --host URL --token T vm list` → `tshv vm list --host URL --token T`: the daemon
 *  commands' global options may come before the command too. */
export function hoistGlobalOptions(argv: readonly string[]): string[] {
  const front: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const a = argv[i]!;
    if ((a === '--host' || a === '--token') && i + 1 < argv.length) {
      front.push(a, argv[i + 1]!);
      i += 2;
    } else if (/^--(host|token)=/.test(a)) {
      front.push(a);
      i += 1;
    } else {
      break;
    }
  }
  return [...argv.slice(i), ...front];
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = hoistGlobalOptions(argv);
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
      case 'vm': {
        const { vmCommand } = await import('./vm.js');
        return await vmCommand(rest);
      }
      case 'token': {
        const { tokenCommand } = await import('./token.js');
        return await tokenCommand(rest);
      }
      case 'host': {
        const { hostCommand } = await import('./host.js');
        return await hostCommand(rest);
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
    return reportCommandError(e);
  }
}

/** One line on stderr for a failed command, and its exit status: a TshvError's own, 70 otherwise
 *  (a stack trace only with TSHV_DEBUG). */
export function reportCommandError(e: unknown): number {
  if (e instanceof TshvError) {
    process.stderr.write(`tshv: ${e.message}\n`);
    return e.exitCode;
  }
  process.stderr.write(`tshv: internal error: ${errorMessage(e)}\n`);
  if (process.env['TSHV_DEBUG'] && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return 70;
}
