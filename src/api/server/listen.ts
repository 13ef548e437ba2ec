// The daemon's two doors: the local Unix socket $TSHV_HOME/tshvd.sock (mode 0600 in a 0700 home:
// whoever can open it is root or the owner, so it is admin without a token) and HTTP on a
// configurable address (default 127.0.0.1:7480) where every request carries a token.

import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { TshvError, errorMessage } from '../../common/errors.js';
import type { DaemonService } from '../../daemon/service.js';
import { DAEMON_SOCKET_FILE } from '../schema/route-types.js';
import { buildApiServer, type BuiltApi } from './server.js';

export const DEFAULT_HTTP_HOST = '127.0.0.1';
export const DEFAULT_HTTP_PORT = 7480;

export interface ApiListenOptions {
  /** $TSHV_HOME: the socket goes there. */
  home: string;
  /** HTTP address; absent: no HTTP listener (`tshv daemon --no-http`). Port 0 picks a free one. */
  http?: { host: string; port: number };
  allowedOrigins?: readonly string[];
  log?: (line: string) => void;
  sseKeepAliveMs?: number;
}

/** Parses `HOST:PORT`, `[v6]:PORT` or `:PORT` (host defaults to 127.0.0.1). */
export function parseListenAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (m === null || !Number.isInteger(port) || port > 65535) {
    throw new TshvError(`Invalid listen address "${text}": expected HOST:PORT, e.g. 127.0.0.1:7480`, 2);
  }
  const host = m[1] ?? (m[2] === '' || m[2] === undefined ? DEFAULT_HTTP_HOST : m[2]);
  return { host, port };
}

/** True when something answers on the socket path (another daemon). */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class ApiListener {
  readonly socketPath: string;
  /** `http://host:port` when HTTP is on. */
  readonly httpUrl: string | undefined;
  private readonly socketApi: BuiltApi;
  private readonly httpApi: BuiltApi | undefined;

  private constructor(socketPath: string, socketApi: BuiltApi, httpApi: BuiltApi | undefined, httpUrl: string | undefined) {
    this.socketPath = socketPath;
    this.socketApi = socketApi;
    this.httpApi = httpApi;
    this.httpUrl = httpUrl;
  }

  /** Routes registered on the HTTP listener (the socket one has the same). */
  get routes(): readonly string[] {
    return this.socketApi.routes;
  }

  static async start(service: DaemonService, options: ApiListenOptions): Promise<ApiListener> {
    mkdirSync(options.home, { recursive: true, mode: 0o700 });
    // The socket's own mode is set after bind; the home's mode is what keeps others out meanwhile.
    chmodSync(options.home, 0o700);
    const socketPath = join(options.home, DAEMON_SOCKET_FILE);
    if (existsSync(socketPath)) {
      if (await socketAnswers(socketPath)) throw new TshvError(`Another tshv daemon is listening on ${socketPath}`);
      unlinkSync(socketPath); // left by a daemon that died
    }
    const common = {
      ...(options.allowedOrigins !== undefined ? { allowedOrigins: options.allowedOrigins } : {}),
      ...(options.log !== undefined ? { log: options.log } : {}),
      ...(options.sseKeepAliveMs !== undefined ? { sseKeepAliveMs: options.sseKeepAliveMs } : {}),
    };
    const socketApi = await buildApiServer(service, { transport: 'socket', ...common });
    let httpApi: BuiltApi | undefined;
    try {
      await socketApi.app.listen({ path: socketPath });
      chmodSync(socketPath, 0o600);
      let httpUrl: string | undefined;
      if (options.http !== undefined) {
        httpApi = await buildApiServer(service, { transport: 'http', ...common });
        try {
          await httpApi.app.listen({ host: options.http.host, port: options.http.port });
        } catch (e) {
          throw new TshvError(`Cannot listen on ${options.http.host}:${options.http.port}: ${errorMessage(e)}`);
        }
        const addr = httpApi.app.server.address() as AddressInfo;
        const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
        httpUrl = `http://${host}:${addr.port}`;
      }
      return new ApiListener(socketPath, socketApi, httpApi, httpUrl);
    } catch (e) {
      await httpApi?.app.close();
      await socketApi.app.close();
      throw e;
    }
  }

  /** Stops listening and ends open streams; removes the socket file. */
  async close(): Promise<void> {
    await Promise.all([this.socketApi.app.close(), this.httpApi?.app.close()]);
    try {
      unlinkSync(this.socketPath);
    } catch {
      // already gone (fastify removes it on close)
    }
  }
}
