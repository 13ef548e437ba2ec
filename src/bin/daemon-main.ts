// `tshv daemon`: the daemon in the foreground, wired by hand (layer 9): the Daemon (inventory,
// supervisor of VMM processes) behind the API listeners. Logs go to stderr. SIGTERM, SIGINT and
// SIGHUP close it cleanly: the listeners stop, the inventory is closed, and VMM processes keep
// running (the next daemon re-attaches to them).

import { TshvError } from '../common/errors.js';
import { parseCommandArgs, reportCommandError } from '../cli/main.js';
import { tshvHome } from '../guest/build.js';
import type { DaemonService } from '../daemon/service.js';
import { Daemon } from '../daemon/daemon.js';
import { ApiListener, DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT, parseListenAddress } from '../api/server/listen.js';

export const DAEMON_USAGE = `Usage: tshv daemon [--listen HOST:PORT] [--no-http] [--allow-origin URL]...
  Serves the API on $TSHV_HOME/tshvd.sock (owner only, no token) and on HTTP (default
  ${DEFAULT_HTTP_HOST}:${DEFAULT_HTTP_PORT}; every request needs a token: tshv token create).
  --allow-origin URL  a web origin allowed to open console WebSockets (default: same origin only)
`;

/** What the daemon process serves: a service and how to close it (leaving VMs running). */
export interface OpenedService {
  service: DaemonService;
  close(): Promise<void> | void;
}

export type ServiceOpener = (home: string, log: (line: string) => void) => Promise<OpenedService>;

/** The real Daemon on a home (its reconciliation and autostart run before the API opens). */
export const openDaemon: ServiceOpener = async (home, log) => {
  const daemon = await Daemon.open(home, { log: (line) => log(`tshvd: ${line}`) });
  return { service: daemon, close: () => daemon.close() };
};

function logLine(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

export async function daemonMain(args: string[], open: ServiceOpener = openDaemon): Promise<number> {
  try {
    return await runDaemon(args, open);
  } catch (e) {
    return reportCommandError(e);
  }
}

async function runDaemon(args: string[], open: ServiceOpener): Promise<number> {
  const { values, positionals } = parseCommandArgs('daemon', args, {
    listen: { type: 'string', default: `${DEFAULT_HTTP_HOST}:${DEFAULT_HTTP_PORT}` },
    'no-http': { type: 'boolean', default: false },
    'allow-origin': { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    process.stdout.write(DAEMON_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new TshvError(`tshv daemon: unexpected argument "${positionals[0]}"`, 2);
  const http = values['no-http'] ? undefined : parseListenAddress(values.listen ?? '');
  const origins = values['allow-origin'] ?? [];
  for (const o of origins) {
    if (!/^https?:\/\/[^/]+$/.test(o)) throw new TshvError(`--allow-origin must be an origin like https://host:port, not "${o}"`, 2);
  }
  const home = tshvHome();

  // Signals that arrive while starting are honoured once started.
  let stopRequested: NodeJS.Signals | undefined;
  let wake: (() => void) | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopRequested !== undefined) {
      logLine(`tshv daemon: ${signal} again: exiting now`);
      process.exit(1);
    }
    stopRequested = signal;
    wake?.();
  };
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  try {
    const opened = await open(home, logLine);
    let listener: ApiListener;
    try {
      listener = await ApiListener.start(opened.service, {
        home,
        ...(http !== undefined ? { http } : {}),
        allowedOrigins: origins,
        log: logLine,
      });
    } catch (e) {
      await opened.close();
      throw e;
    }
    logLine(`tshv daemon: listening on ${listener.socketPath}${listener.httpUrl !== undefined ? ` and ${listener.httpUrl}` : ''} (pid ${process.pid})`);
    if (stopRequested === undefined) await new Promise<void>((resolve) => { wake = resolve; });
    logLine(`tshv daemon: ${stopRequested ?? 'stop'}: closing (VMs keep running)`);
    await listener.close();
    await opened.close();
    logLine('tshv daemon: stopped');
    return 0;
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
}
