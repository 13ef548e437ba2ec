// The fake VMM as a process, taking the daemon's `tshv run` flags:
//   node fake-vmm-main.js run --name N --control PATH --exit-file PATH --console none [anything else]
// FAKE_VMM_IGNORE_POWER_BUTTON=1, or a name containing "stubborn": the "guest" ignores the power
// button (tests of the forced stop).
// FAKE_VMM_CRASH=message, or a name containing "crashy": the machine fails right after start (exit
// record 'error').
// A name containing "flaky": the first two power-button requests are refused (a reset under way).
// A name containing "hungry": it touches 64 MiB after start (tests of the memory limit).
// SIGTERM/SIGINT end it with an exit record 'stopped', like `tshv run`.

import { FakeVmmServer } from './fake-vmm.js';

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

const args = process.argv.slice(2);
const name = flag(args, 'name') ?? 'fake';
const control = flag(args, 'control');
const exitFile = flag(args, 'exit-file');
if (args[0] !== 'run' || control === undefined) {
  process.stderr.write('fake-vmm: usage: run --name N --control PATH --exit-file PATH\n');
  process.exit(2);
}
const server = new FakeVmmServer({
  name,
  ...(exitFile !== undefined ? { exitFile } : {}),
  ignorePowerButton: process.env['FAKE_VMM_IGNORE_POWER_BUTTON'] === '1' || name.includes('stubborn'),
  refusePowerButtonTimes: name.includes('flaky') ? 2 : 0,
  onExit: (record) => process.exit(record.exitCode),
});
await server.listen(control);
process.stderr.write(`fake-vmm: ${name} listening on ${control}\n`);
const stop = (): void => server.exit('stopped');
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
const crash = process.env['FAKE_VMM_CRASH'] ?? (name.includes('crashy') ? 'triple fault (fake)' : undefined);
if (crash !== undefined) setTimeout(() => server.exit('error', crash), 100);
// Kept referenced, so the pages stay charged to the process.
const ballast: Buffer[] = [];
if (name.includes('hungry')) setTimeout(() => ballast.push(Buffer.alloc(64 * 1024 * 1024).fill(1)), 100);
