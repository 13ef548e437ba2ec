// The client side of the VMM control socket (protocol.ts): what the daemon's supervisor uses to
// drive one VMM process. Three kinds of connection, as the protocol defines them:
// - requests: one connection, one JSON line out and one back per request, answers matched by id;
// - watch: its own connection, turned into a stream of VmmEvent lines;
// - console: its own connection, turned into a raw byte stream (returned as a Duplex).
// Every wait has a timeout, and every failure is one line naming the socket and what went wrong.

import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TshvError, errorMessage } from '../../common/errors.js';
import { VMM_NO_REQUEST_ID, type VmmAction, type VmmEvent, type VmmResponse, type VmmStatus } from './protocol.js';

export class VmmControlError extends TshvError {
  /** The errno code when the socket itself failed (ENOENT, ECONNREFUSED, ...). */
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.name = 'VmmControlError';
    this.code = code;
  }
}

/** The VMM answered, and said no (`ok: false`): the connection itself is fine. */
export class VmmRefusedError extends VmmControlError {
  constructor(message: string) {
    super(message);
    this.name = 'VmmRefusedError';
  }
}

export interface VmmControlClientOptions {
  /** Time to connect (default 5 s). */
  connectTimeoutMs?: number;
  /** Time for an answer to a request or a handshake (default 10 s). */
  requestTimeoutMs?: number;
}

export type VmmOkResponse = Extract<VmmResponse, { ok: true }>;

/** An open `watch` stream. */
export interface VmmWatch {
  /** Ends the stream (the VMM is not affected). */
  close(): void;
  /** Resolves when the stream ended, for whatever reason (the VMM exited, close(), an error). */
  readonly closed: Promise<void>;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** A line longer than this from the VMM is a protocol error, not something to buffer forever. */
const MAX_RESPONSE_LINE_BYTES = 1024 * 1024;

function socketErrorWords(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT': return 'the socket does not exist';
    case 'ECONNREFUSED': return 'nothing listens on it';
    case 'EACCES': return 'permission denied';
    case 'ECONNRESET':
    case 'EPIPE': return 'the VMM closed the connection';
    default: return errorMessage(e);
  }
}

interface Pending {
  resolve: (r: VmmResponse) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class VmmControlClient implements Disposable {
  readonly socketPath: string;
  private readonly connectTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private conn: Promise<Socket> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(socketPath: string, options: VmmControlClientOptions = {}) {
    this.socketPath = socketPath;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  /** Sends one request and resolves with the VMM's `ok` answer; throws VmmControlError otherwise. */
  async request(action: VmmAction, timeoutMs = this.requestTimeoutMs): Promise<VmmOkResponse> {
    if (action.action === 'watch' || action.action === 'console-attach') {
      throw new VmmControlError(`"${action.action}" needs its own connection: use watch() or attachConsole()`);
    }
    if (this.closed) throw new VmmControlError(`The control client of ${this.socketPath} is closed`);
    const socket = await this.connection();
    const id = this.nextId++;
    const response = await new Promise<VmmResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new VmmControlError(`The VMM at ${this.socketPath} did not answer "${action.action}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      socket.write(`${JSON.stringify({ ...action, id })}\n`);
    });
    if (!response.ok) throw new VmmRefusedError(`The VMM refused "${action.action}": ${response.error}`);
    return response;
  }

  /** The VMM's status (the `status` request). */
  async status(timeoutMs = this.requestTimeoutMs): Promise<VmmStatus> {
    const r = await this.request({ action: 'status' }, timeoutMs);
    if (r.status === undefined) throw new VmmControlError(`The VMM at ${this.socketPath} answered "status" without a status`);
    return r.status;
  }

  /**
   * Opens an event stream: `onEvent` is called once per VmmEvent until the stream ends. Resolves
   * once the VMM accepted the watch.
   */
  async watch(onEvent: (event: VmmEvent) => void): Promise<VmmWatch> {
    const socket = await this.handshake({ action: 'watch' });
    // Decoded as a stream, so a character split between two chunks stays whole.
    socket.setEncoding('utf8');
    let buffered = '';
    const onData = (chunk: string): void => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line === '') continue;
        let event: VmmEvent;
        try {
          event = JSON.parse(line) as VmmEvent;
        } catch {
          continue; // A garbled line is dropped; the stream goes on.
        }
        onEvent(event);
      }
      if (buffered.length > MAX_RESPONSE_LINE_BYTES) socket.destroy();
    };
    const closed = new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
    });
    socket.on('error', () => {}); // 'close' follows; the stream simply ends.
    socket.on('data', onData);
    return { close: () => socket.destroy(), closed };
  }

  /**
   * Attaches to the serial console: resolves with a Duplex carrying guest output (the scrollback
   * buffer first when `scrollback`) and taking keyboard input. Destroy it to detach.
   */
  async attachConsole(scrollback = true): Promise<Duplex> {
    const socket = await this.handshake({ action: 'console-attach', scrollback });
    // The stream ends with 'close' either way; an unheard 'error' must not end the process.
    socket.on('error', () => {});
    return socket;
  }

  /** Closes the request connection; open watch streams and consoles are not affected. */
  close(): void {
    this.closed = true;
    const conn = this.conn;
    this.conn = undefined;
    this.failPending(new VmmControlError(`The control client of ${this.socketPath} was closed`));
    conn?.then((s) => s.destroy(), () => {});
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private connection(): Promise<Socket> {
    if (this.conn === undefined) {
      const conn = this.connect();
      this.conn = conn;
      conn.then((socket) => this.readResponses(socket, conn), () => {
        if (this.conn === conn) this.conn = undefined;
      });
    }
    return this.conn;
  }

  private readResponses(socket: Socket, conn: Promise<Socket>): void {
    socket.setEncoding('utf8');
    let buffered = '';
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let response: VmmResponse;
        try {
          response = JSON.parse(line) as VmmResponse;
        } catch {
          socket.destroy(new VmmControlError(`The VMM at ${this.socketPath} sent a line that is not JSON: ${line.slice(0, 80)}`));
          return;
        }
        if (response.id === VMM_NO_REQUEST_ID && !response.ok) {
          // An error that answers no request (too many connections, a line too long): the VMM closes.
          socket.destroy(new VmmControlError(`The VMM at ${this.socketPath} closed the connection: ${response.error}`));
          return;
        }
        const p = this.pending.get(response.id);
        if (!p) continue; // The answer to a request that already timed out.
        this.pending.delete(response.id);
        clearTimeout(p.timer);
        p.resolve(response);
      }
      if (buffered.length > MAX_RESPONSE_LINE_BYTES) socket.destroy(new VmmControlError(`The VMM at ${this.socketPath} sent an overlong line`));
    });
    let error: unknown;
    socket.on('error', (e) => {
      error = e;
    });
    socket.on('close', () => {
      if (this.conn === conn) this.conn = undefined;
      const why = error instanceof VmmControlError ? error.message
        : `Lost the connection to the VMM at ${this.socketPath}: ${error === undefined ? 'the VMM closed it' : socketErrorWords(error)}`;
      this.failPending(new VmmControlError(why));
    });
  }

  private failPending(e: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(e);
    }
  }

  private connect(): Promise<Socket> {
    return new Promise<Socket>((resolve, reject) => {
      const socket = connect(this.socketPath);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new VmmControlError(`Cannot reach the VMM at ${this.socketPath}: no connection within ${this.connectTimeoutMs} ms`));
      }, this.connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(new VmmControlError(`Cannot reach the VMM at ${this.socketPath}: ${socketErrorWords(e)}`, (e as NodeJS.ErrnoException).code));
      });
    });
  }

  /**
   * A fresh connection that sends `action` and waits for its answer line; resolves with the socket,
   * the bytes that followed the answer line put back into it. The answer is read in paused mode
   * ('readable'), so that no byte is emitted before the caller listens: once the 'readable'
   * listener is gone, the first 'data' listener or pipe() starts the flow as on any fresh socket.
   */
  private async handshake(action: VmmAction): Promise<Socket> {
    const socket = await this.connect();
    const id = 0;
    return await new Promise((resolve, reject) => {
      let buffered = Buffer.alloc(0);
      const fail = (e: Error): void => {
        cleanup();
        socket.destroy();
        reject(e);
      };
      const timer = setTimeout(() => {
        fail(new VmmControlError(`The VMM at ${this.socketPath} did not answer "${action.action}" within ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      const onReadable = (): void => {
        let chunk: Buffer | null;
        while ((chunk = socket.read() as Buffer | null) !== null) {
          buffered = Buffer.concat([buffered, chunk]);
          const nl = buffered.indexOf(0x0a);
          if (nl < 0) {
            if (buffered.length > MAX_RESPONSE_LINE_BYTES) fail(new VmmControlError(`The VMM at ${this.socketPath} sent an overlong line`));
            continue;
          }
          let response: VmmResponse;
          try {
            response = JSON.parse(buffered.subarray(0, nl).toString()) as VmmResponse;
          } catch {
            fail(new VmmControlError(`The VMM at ${this.socketPath} answered "${action.action}" with a line that is not JSON`));
            return;
          }
          if (!response.ok) {
            fail(new VmmRefusedError(`The VMM refused "${action.action}": ${response.error}`));
            return;
          }
          cleanup();
          const rest = buffered.subarray(nl + 1);
          if (rest.length > 0) socket.unshift(rest);
          resolve(socket);
          return;
        }
      };
      const onClose = (): void => fail(new VmmControlError(`The VMM at ${this.socketPath} closed the connection before answering "${action.action}"`));
      const onError = (e: Error): void => fail(new VmmControlError(`Lost the connection to the VMM at ${this.socketPath}: ${socketErrorWords(e)}`));
      const cleanup = (): void => {
        clearTimeout(timer);
        socket.off('readable', onReadable);
        socket.off('close', onClose);
        socket.off('error', onError);
      };
      socket.on('readable', onReadable);
      socket.on('close', onClose);
      socket.on('error', onError);
      socket.write(`${JSON.stringify({ ...action, id })}\n`);
    });
  }
}
