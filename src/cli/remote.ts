// What the daemon-facing commands share: the global `--host URL --token T` options (or
// TSHV_HOST/TSHV_TOKEN; default: the local daemon's socket under $TSHV_HOME), `--json`, aligned
// tables for people, and small formatters.

import { TshvError } from '../common/errors.js';
import { TshvClient } from '../client/client.js';
import { tshvHome } from '../guest/build.js';

/** parseArgs options every daemon command accepts. */
export const CLIENT_OPTIONS = {
  host: { type: 'string' },
  token: { type: 'string' },
} as const;

export const JSON_OPTION = { json: { type: 'boolean', default: false } } as const;

export const CLIENT_USAGE = `Global options of daemon commands:
  --host URL    a remote daemon, e.g. http://10.0.0.5:7480 (or env TSHV_HOST)
  --token T     its API token (or env TSHV_TOKEN; see tshv token create)
  Default: the local daemon's socket, $TSHV_HOME/tshvd.sock (no token needed).`;

export function clientFrom(values: { host?: string | undefined; token?: string | undefined }, env: NodeJS.ProcessEnv = process.env): TshvClient {
  const host = values.host ?? (env['TSHV_HOST'] || undefined);
  const token = values.token ?? (env['TSHV_TOKEN'] || undefined);
  if (host === undefined) {
    if (values.token !== undefined) throw new TshvError('--token is for a remote daemon: give --host URL too', 2);
    return TshvClient.local(tshvHome(env));
  }
  const baseUrl = /^https?:\/\//.test(host) ? host : `http://${host}`;
  return new TshvClient({ baseUrl, ...(token !== undefined ? { token } : {}) });
}

/** Columns padded to the widest cell; the last column is not padded. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].map((l) => `${l}\n`).join('');
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** `1h 02m`, `3m 05s`, `12s`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** A positive integer flag value, or a one-line error naming the flag. */
export function parseIntFlag(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new TshvError(`${flag} must be a whole number, not "${text}"`, 2);
  return Number(text);
}

/** Exactly `count` positionals, or a usage error. */
export function positionals(command: string, given: readonly string[], names: readonly string[]): string[] {
  if (given.length < names.length) throw new TshvError(`tshv ${command}: missing ${names.slice(given.length).join(' ')} (try: tshv help)`, 2);
  if (given.length > names.length) throw new TshvError(`tshv ${command}: unexpected argument "${given[names.length]}"`, 2);
  return [...given];
}
