// The typed client of the management API: one `call(routeId, input)` whose argument and result
// types come from ROUTES and its schemas (api/schema/route-types.ts), over the daemon's local Unix
// socket or a remote `http(s)://host:port` with a token. Errors become one-line TshvErrors carrying
// the server's message. The console is a WebSocket (`ws`, `ws+unix://` for the socket).

import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import WebSocket from 'ws';
import { TshvError, errorMessage } from '../common/errors.js';
import type { ApiError, ApiEvent, HostInfo } from '../api/schema/common.js';
import { API_PREFIX, ROUTES, type RouteDef, type RouteId } from '../api/schema/routes.js';
import { DAEMON_SOCKET_FILE, fillPath, type ResponseOf, type RouteInput } from '../api/schema/route-types.js';
import type { CreatedToken, Token, TokenSpec } from '../api/schema/token.js';
import type { Vm, VmSpec } from '../api/schema/vm.js';

export const DEFAULT_REQUEST_TIMEOUT_MS = 10 * 60 * 1000;

export interface ClientOptions {
  /** The daemon's Unix socket (local, admin without a token). */
  socketPath?: string;
  /** `http://host:port` of a remote daemon (with `token`). */
  baseUrl?: string;
  token?: string;
  /** Whole-request limit; actions like stop may take their timeout plus a little. */
  timeoutMs?: number;
}

/** An error answer of the API: the server's one-line message, its code and status. */
export class ApiClientError extends TshvError {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiClientError';
    this.status = status;
    this.code = code;
  }
}

interface RawResponse { status: number; text: string }

export class TshvClient {
  readonly options: ClientOptions;

  constructor(options: ClientOptions) {
    if ((options.socketPath === undefined) === (options.baseUrl === undefined)) {
      throw new Error('TshvClient needs exactly one of socketPath and baseUrl');
    }
    if (options.baseUrl !== undefined && !/^https?:\/\/[^/]+\/?$/.test(options.baseUrl)) {
      throw new TshvError(`Invalid daemon URL "${options.baseUrl}": expected http://HOST:PORT`, 2);
    }
    this.options = { ...options, ...(options.baseUrl !== undefined ? { baseUrl: options.baseUrl.replace(/\/$/, '') } : {}) };
  }

  /** The client of the local daemon of a tshv home. */
  static local(home: string): TshvClient {
    return new TshvClient({ socketPath: join(home, DAEMON_SOCKET_FILE) });
  }

  /** Where requests go, for messages. */
  get where(): string {
    return this.options.socketPath ?? this.options.baseUrl ?? '?';
  }

  /** One API operation, typed by its route. */
  async call<K extends RouteId>(id: K, input: RouteInput<K>): Promise<ResponseOf<K>> {
    const route: RouteDef = ROUTES[id];
    const { params, query, body } = input as { params?: Record<string, string>; query?: Record<string, unknown>; body?: unknown };
    const res = await this.send(route.method, routeUrl(route, params, query), body);
    if (res.status >= 400) throw this.errorOf(res);
    if (res.status === 204 || res.text === '') return undefined as ResponseOf<K>;
    try {
      return JSON.parse(res.text) as ResponseOf<K>;
    } catch {
      throw new TshvError(`The tshv daemon at ${this.where} sent an invalid answer to ${route.operationId}`);
    }
  }

  listVms(): Promise<Vm[]> { return this.call('listVms', {}).then((r) => r.vms); }
  getVm(vm: string): Promise<Vm> { return this.call('getVm', { params: { vm } }); }
  createVm(spec: VmSpec): Promise<Vm> { return this.call('createVm', { body: spec }); }
  deleteVm(vm: string, force = false): Promise<void> { return this.call('deleteVm', { params: { vm }, query: { force } }); }
  startVm(vm: string): Promise<Vm> { return this.call('startVm', { params: { vm } }); }
  stopVm(vm: string, timeoutMs?: number): Promise<Vm> {
    return this.call('stopVm', { params: { vm }, body: timeoutMs === undefined ? {} : { timeoutMs } });
  }
  forceStopVm(vm: string): Promise<Vm> { return this.call('forceStopVm', { params: { vm } }); }
  pauseVm(vm: string): Promise<Vm> { return this.call('pauseVm', { params: { vm } }); }
  resumeVm(vm: string): Promise<Vm> { return this.call('resumeVm', { params: { vm } }); }
  rebootVm(vm: string): Promise<Vm> { return this.call('rebootVm', { params: { vm } }); }
  hostInfo(): Promise<HostInfo> { return this.call('hostInfo', {}); }
  listTokens(): Promise<Token[]> { return this.call('listTokens', {}).then((r) => r.tokens); }
  createToken(spec: TokenSpec): Promise<CreatedToken> { return this.call('createToken', { body: spec }); }
  revokeToken(id: string): Promise<void> { return this.call('revokeToken', { params: { token: id } }); }

  /** Follows the event stream until `close()` is called or the daemon goes away. */
  async events(onEvent: (event: ApiEvent) => void): Promise<{ close(): void; closed: Promise<void> }> {
    const route = ROUTES.events;
    const req = this.rawRequest('GET', routeUrl(route, undefined, undefined), { accept: 'text/event-stream' });
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', (e) => reject(this.connectError(e)));
      req.end();
    });
    if ((res.statusCode ?? 0) >= 400) {
      throw this.errorOf({ status: res.statusCode ?? 0, text: await readAll(res) });
    }
    res.setEncoding('utf8');
    let buffer = '';
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        // An SSE event: `event:` and `data:` lines; comments (":") are keep-alives.
        const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
        if (data !== '') onEvent(JSON.parse(data) as ApiEvent);
      }
    });
    const closed = new Promise<void>((resolve) => {
      res.once('close', resolve);
      res.once('error', () => resolve());
    });
    return { close: () => req.destroy(), closed };
  }

  /** Opens a VM's serial console: binary frames both ways, the scrollback first. `onData` is
   *  attached before the handshake ends, so the first frames (they may arrive with the handshake's
   *  answer) are not lost. Send keystrokes with `ws.send(buffer)`; `ws.close()` detaches. */
  attachConsole(vm: string, onData: (chunk: Buffer) => void): Promise<WebSocket> {
    const path = routeUrl(ROUTES.vmConsole, { vm }, undefined);
    const url = this.options.socketPath !== undefined
      ? `ws+unix://${this.options.socketPath}:${path}`
      : `${this.options.baseUrl!.replace(/^http/, 'ws')}${path}`;
    const headers: Record<string, string> = {};
    if (this.options.token !== undefined) headers['authorization'] = `Bearer ${this.options.token}`;
    const ws = new WebSocket(url, { headers });
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      onData(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        ws.removeAllListeners('error');
        resolve(ws);
      });
      ws.once('unexpected-response', (_req, res) => {
        void readAll(res).then((text) => {
          ws.terminate();
          reject(this.errorOf({ status: res.statusCode ?? 0, text }));
        });
      });
      ws.once('error', (e) => reject(this.connectError(e)));
    });
  }

  private rawRequest(method: string, path: string, headers: Record<string, string>) {
    const h = { ...headers };
    if (this.options.token !== undefined) h['authorization'] = `Bearer ${this.options.token}`;
    const timeout = this.options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (this.options.socketPath !== undefined) {
      const opts: RequestOptions = { socketPath: this.options.socketPath, path, method, headers: h, timeout };
      return httpRequest(opts);
    }
    const url = new URL(path, this.options.baseUrl);
    return (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method, headers: h, timeout });
  }

  private send(method: string, path: string, body: unknown): Promise<RawResponse> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    return new Promise((resolve, reject) => {
      const req = this.rawRequest(method, path, headers);
      req.once('timeout', () => req.destroy(new TshvError(`The tshv daemon at ${this.where} did not answer in time`)));
      req.once('error', (e) => reject(e instanceof TshvError ? e : this.connectError(e)));
      req.once('response', (res) => {
        readAll(res).then((text) => resolve({ status: res.statusCode ?? 0, text }), reject);
      });
      req.end(payload);
    });
  }

  private errorOf(res: RawResponse): TshvError {
    try {
      const body = JSON.parse(res.text) as Partial<ApiError>;
      if (body.error !== undefined && typeof body.error.message === 'string') {
        return new ApiClientError(res.status, body.error.code, body.error.message);
      }
    } catch {
      // not JSON: fall through
    }
    return new ApiClientError(res.status, 'internal', `The tshv daemon at ${this.where} answered HTTP ${res.status}`);
  }

  private connectError(e: unknown): TshvError {
    const code = (e as { code?: unknown }).code;
    if (this.options.socketPath !== undefined && (code === 'ENOENT' || code === 'ECONNREFUSED')) {
      return new TshvError(`Cannot reach the tshv daemon at ${this.options.socketPath}: is \`tshv daemon\` running?`);
    }
    if (this.options.socketPath !== undefined && code === 'EACCES') {
      return new TshvError(`Cannot reach the tshv daemon at ${this.options.socketPath}: permission denied (the socket is for its owner and root)`);
    }
    return new TshvError(`Cannot reach the tshv daemon at ${this.where}: ${errorMessage(e)}`);
  }
}

function routeUrl(route: RouteDef, params: Record<string, string> | undefined, query: Record<string, unknown> | undefined): string {
  let url = `${API_PREFIX}${fillPath(route.path, params)}`;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') q.set(k, String(v));
  }
  const qs = q.toString();
  if (qs !== '') url += `?${qs}`;
  return url;
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.once('error', reject);
  });
}
