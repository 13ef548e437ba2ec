// The VMM's control socket (`tshv run --control PATH`): a Unix stream socket speaking protocol.ts.
// One JSON request per line, one response line each, in order; `console-attach` and `watch` turn
// the connection into a stream. Every request becomes one call on a VmmControlHandler (the running
// VMM, or a fake in tests) through a plain switch, so a new action is one more case.
//
// Hostile or broken clients cost the VMM nothing but their connection: a line that is not a request
// gets an error line, a line over VMM_MAX_REQUEST_BYTES an error line and the end of the connection,
// a client over VMM_MAX_CONTROL_CONNECTIONS an error line and the end; a stream client that stops
// reading is dropped once VMM_STREAM_MAX_BUFFERED_BYTES wait for it (the guest never waits for a
// console client). A client that half-closes still gets the answers to what it sent.
//
// The socket file is created with mode 0600 (umask around bind(2), then chmod), replaces a stale
// socket left by a dead process (nobody accepts on it), refuses to replace a live one or a file
// that is not a socket, and is removed when the server closes (or the process exits).

import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { chmodSync, lstatSync, statSync, unlinkSync } from 'node:fs';
import { TshvError, errorMessage } from '../../common/errors.js';
import { ScrollbackBuffer } from './scrollback.js';
import {
  VMM_CONSOLE_SCROLLBACK_BYTES, VMM_MAX_REQUEST_BYTES, VMM_NO_REQUEST_ID,
  type VmmAction, type VmmBalloonInfo, type VmmEvent, type VmmRateLimit, type VmmRequest, type VmmResponse, type VmmStatus,
} from './protocol.js';

/** Connections served at once; one more gets an error line and is closed. */
export const VMM_MAX_CONTROL_CONNECTIONS = 64;
/** Output waiting for a console or watch client that does not read; past it the client is dropped. */
export const VMM_STREAM_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** On close, how long clients get to take their last lines before their connections are cut. */
const CLOSE_GRACE_MS = 1000;
/**
 * Console input is never dropped, so a client that types faster than the guest reads (or floods
 * on purpose) is held back instead: above the high-water mark its socket stops being read (TCP-style
 * backpressure up to the client) until the guest has taken the queue below the low-water mark.
 */
export const CONSOLE_INPUT_HIGH_WATER_BYTES = 256 * 1024;
export const CONSOLE_INPUT_LOW_WATER_BYTES = 64 * 1024;
const CONSOLE_INPUT_RECHECK_MS = 20;
const NO_BYTES = new Uint8Array(0);

/** What the control socket drives: the VMM (control/vmm-controller.ts) or a fake in tests. */
export interface VmmControlHandler {
  status(): VmmStatus;
  pause(): Promise<void>;
  resume(): void;
  powerButton(): void;
  /** Ends the VMM (exit record 'stopped'); the answer goes out before the connections close. */
  quit(): void;
  reset(): void;
  /** Keyboard input from an attached console; returns the input bytes the guest has not read yet
   *  (an empty `bytes` only asks). */
  consoleInput(bytes: Uint8Array): number;
  balloon(targetMib: number): VmmBalloonInfo;
  balloonStats(): Promise<VmmBalloonInfo>;
  setRateLimit(device: string, change: { bps?: number | null; iops?: number | null }): VmmRateLimit;
}

type Mode = 'requests' | 'console' | 'watch' | 'closing';

interface Connection {
  socket: Socket;
  mode: Mode;
  /** Received bytes not yet taken as a request line. */
  pending: Buffer;
  /** A request is being answered (the next line waits for it). */
  busy: boolean;
  /** The client half-closed: answer what is complete, then end. */
  ended: boolean;
}

/** Parses one request line; an error names what is wrong with it. */
export function parseVmmRequest(line: string): VmmRequest | { id: number; error: string } {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { id: VMM_NO_REQUEST_ID, error: 'Invalid request: not a JSON line' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { id: VMM_NO_REQUEST_ID, error: 'Invalid request: not a JSON object' };
  const o = v as Record<string, unknown>;
  const id = o['id'];
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) return { id: VMM_NO_REQUEST_ID, error: 'Invalid request: "id" must be an integer' };
  const action = o['action'];
  if (typeof action !== 'string') return { id, error: 'Invalid request: "action" must be a string' };
  const bad = (what: string): { id: number; error: string } => ({ id, error: `Invalid "${action}" request: ${what}` });
  const optionalLimit = (k: string): boolean => o[k] === undefined || o[k] === null || typeof o[k] === 'number';
  switch (action) {
    case 'status': case 'pause': case 'resume': case 'power-button': case 'quit': case 'reset': case 'watch':
    case 'balloon-stats':
      return { id, action };
    case 'console-attach':
      if (typeof o['scrollback'] !== 'boolean') return bad('"scrollback" must be true or false');
      return { id, action, scrollback: o['scrollback'] };
    case 'balloon':
      if (typeof o['targetMib'] !== 'number') return bad('"targetMib" must be a number');
      return { id, action, targetMib: o['targetMib'] };
    case 'set-rate-limit': {
      if (typeof o['device'] !== 'string') return bad('"device" must be a string');
      if (!optionalLimit('bps') || !optionalLimit('iops')) return bad('"bps" and "iops" must be numbers or null');
      const r: VmmRequest = { id, action, device: o['device'] };
      if (o['bps'] !== undefined) r.bps = o['bps'] as number | null;
      if (o['iops'] !== undefined) r.iops = o['iops'] as number | null;
      return r;
    }
    default:
      return { id, error: `Unknown action ${JSON.stringify(action).slice(0, 80)}` };
  }
}

export class VmmControlServer {
  readonly path: string;
  readonly scrollback = new ScrollbackBuffer(VMM_CONSOLE_SCROLLBACK_BYTES);
  private readonly server: Server;
  private readonly handler: VmmControlHandler;
  private readonly connections = new Set<Connection>();
  private readonly consoles = new Set<Connection>();
  private readonly watchers = new Set<Connection>();
  /** The socket file we made (device + inode), so that we never remove another one. */
  private readonly socketId: string;
  private closed = false;
  private readonly onProcessExit = (): void => this.removeSocketFile();

  private constructor(path: string, server: Server, handler: VmmControlHandler) {
    this.path = path;
    this.server = server;
    this.handler = handler;
    this.socketId = fileId(path) ?? '';
    server.on('connection', (socket) => this.accept(socket));
    // Errors after listening (EMFILE on accept...) must not end the VMM.
    server.on('error', () => undefined);
    process.on('exit', this.onProcessExit);
  }

  /** Serves `path`; a stale socket there is replaced, anything else there is an error. */
  static async listen(path: string, handler: VmmControlHandler): Promise<VmmControlServer> {
    await removeStaleSocket(path);
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: false });
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => reject(new TshvError(`Cannot serve the control socket "${path}": ${errorMessage(e)}`));
      server.once('error', onError);
      // bind(2) happens inside listen() for a Unix socket: the umask makes the file 0600 from birth.
      const oldMask = process.umask(0o177);
      try {
        server.listen(path, () => {
          server.off('error', onError);
          resolve();
        });
      } finally {
        process.umask(oldMask);
      }
    });
    try {
      chmodSync(path, 0o600);
    } catch (e) {
      server.close();
      throw new TshvError(`Cannot serve the control socket "${path}": ${errorMessage(e)}`);
    }
    return new VmmControlServer(path, server, handler);
  }

  /** Guest serial output: into the scrollback and to every attached console. */
  consoleOutput(bytes: Uint8Array): void {
    this.scrollback.push(bytes);
    for (const c of this.consoles) this.streamWrite(c, bytes);
  }

  /** Sends an event to every `watch` connection. */
  emit(event: VmmEvent): void {
    const line = `${JSON.stringify(event)}\n`;
    for (const c of this.watchers) this.streamWrite(c, line);
  }

  /** Number of attached consoles (tests, status). */
  get consoleCount(): number {
    return this.consoles.size;
  }

  /**
   * Stops accepting, ends every connection (what was written still goes out; watchers should have
   * had their `exiting` event), cuts those that linger, and removes the socket file.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.removeSocketFile();
    process.off('exit', this.onProcessExit);
    const open = [...this.connections];
    for (const c of open) {
      c.mode = 'closing';
      c.socket.end();
    }
    await Promise.race([
      Promise.all(open.map((c) => new Promise<void>((resolve) => {
        if (c.socket.closed) resolve();
        else c.socket.once('close', () => resolve());
      }))),
      new Promise<void>((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref()),
    ]);
    for (const c of open) c.socket.destroy();
    await serverClosed;
  }

  private accept(socket: Socket): void {
    const c: Connection = { socket, mode: 'requests', pending: Buffer.alloc(0), busy: false, ended: false };
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.forget(c));
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.connections.add(c);
    if (this.connections.size > VMM_MAX_CONTROL_CONNECTIONS) {
      this.fail(c, VMM_NO_REQUEST_ID, `Too many control connections (at most ${VMM_MAX_CONTROL_CONNECTIONS})`);
      return;
    }
    socket.on('data', (chunk: Buffer) => this.onData(c, chunk));
    socket.on('end', () => this.onEnd(c));
  }

  private forget(c: Connection): void {
    this.connections.delete(c);
    this.consoles.delete(c);
    this.watchers.delete(c);
  }

  private onData(c: Connection, chunk: Buffer): void {
    switch (c.mode) {
      case 'requests':
        c.pending = c.pending.length === 0 ? chunk : Buffer.concat([c.pending, chunk]);
        this.pump(c);
        return;
      case 'console':
        this.feedConsole(c, chunk);
        return;
      case 'watch':
      case 'closing':
        return; // a watcher has nothing to say; what it sends is ignored
    }
  }

  private onEnd(c: Connection): void {
    c.ended = true;
    if (c.mode === 'requests') this.pump(c);
    else c.socket.end(); // a console or watcher that hangs up is done
  }

  /** Answers the complete lines received, one at a time, in order. */
  private pump(c: Connection): void {
    while (c.mode === 'requests' && !c.busy) {
      const nl = c.pending.indexOf(0x0a);
      if (nl < 0) {
        if (c.pending.length > VMM_MAX_REQUEST_BYTES) {
          this.fail(c, VMM_NO_REQUEST_ID, `Request line longer than ${VMM_MAX_REQUEST_BYTES} bytes`);
        } else if (c.ended) {
          // Half-closed with everything answered; a trailing partial line cannot be a request.
          if (c.pending.length > 0) this.send(c, { id: VMM_NO_REQUEST_ID, ok: false, error: 'Invalid request: the line has no end' });
          c.mode = 'closing';
          c.socket.end();
        }
        return;
      }
      if (nl > VMM_MAX_REQUEST_BYTES) {
        this.fail(c, VMM_NO_REQUEST_ID, `Request line longer than ${VMM_MAX_REQUEST_BYTES} bytes`);
        return;
      }
      const line = c.pending.toString('utf8', 0, nl).trim();
      c.pending = c.pending.subarray(nl + 1);
      if (line === '') continue;
      const req = parseVmmRequest(line);
      if ('error' in req) {
        this.send(c, { id: req.id, ok: false, error: req.error });
        continue;
      }
      c.busy = true;
      // Back-pressure while a request is answered: the client waits for its answer anyway.
      c.socket.pause();
      void this.answer(c, req).finally(() => {
        c.busy = false;
        if (c.mode === 'closing' || c.socket.destroyed) return;
        c.socket.resume();
        this.pump(c);
      });
    }
  }

  private async answer(c: Connection, req: VmmRequest): Promise<void> {
    let res: VmmResponse;
    try {
      res = await this.dispatch(req);
    } catch (e) {
      res = { id: req.id, ok: false, error: errorMessage(e) };
    }
    if (c.mode === 'closing' || c.socket.destroyed) return;
    this.send(c, res);
    if (res.ok && req.action === 'console-attach') this.startConsole(c, req.scrollback);
    else if (res.ok && req.action === 'watch') this.startWatch(c);
  }

  /** One request, one handler call. */
  private async dispatch(req: VmmRequest): Promise<VmmResponse> {
    const id = req.id;
    const action: VmmAction = req;
    switch (action.action) {
      case 'status':
        return { id, ok: true, status: this.handler.status() };
      case 'pause':
        await this.handler.pause();
        return { id, ok: true };
      case 'resume':
        this.handler.resume();
        return { id, ok: true };
      case 'power-button':
        this.handler.powerButton();
        return { id, ok: true };
      case 'quit':
        this.handler.quit();
        return { id, ok: true };
      case 'reset':
        this.handler.reset();
        return { id, ok: true };
      case 'console-attach':
      case 'watch':
        // The stream starts after the answer (answer()).
        if (this.closed) throw new TshvError('The VMM is exiting');
        return { id, ok: true };
      case 'balloon':
        return { id, ok: true, balloon: this.handler.balloon(action.targetMib) };
      case 'balloon-stats':
        return { id, ok: true, balloon: await this.handler.balloonStats() };
      case 'set-rate-limit': {
        const change: { bps?: number | null; iops?: number | null } = {};
        if (action.bps !== undefined) change.bps = action.bps;
        if (action.iops !== undefined) change.iops = action.iops;
        return { id, ok: true, rateLimit: this.handler.setRateLimit(action.device, change) };
      }
      default: {
        const never: never = action;
        throw new TshvError(`Unknown action ${JSON.stringify((never as { action: string }).action)}`);
      }
    }
  }

  private startConsole(c: Connection, scrollback: boolean): void {
    c.mode = 'console';
    if (scrollback) this.streamWrite(c, this.scrollback.snapshot());
    this.consoles.add(c);
    c.socket.resume();
    // Bytes the client sent after its request line are its first keystrokes.
    const rest = c.pending;
    c.pending = Buffer.alloc(0);
    if (rest.length > 0) this.feedConsole(c, rest);
    if (c.ended) c.socket.end();
  }

  /** Hands console input to the guest, pausing the client while the guest's queue is too full. */
  private feedConsole(c: Connection, bytes: Uint8Array): void {
    if (this.handler.consoleInput(bytes) <= CONSOLE_INPUT_HIGH_WATER_BYTES) return;
    c.socket.pause();
    const recheck = (): void => {
      if (!this.consoles.has(c)) return; // gone: nothing to resume
      if (this.handler.consoleInput(NO_BYTES) > CONSOLE_INPUT_LOW_WATER_BYTES) {
        setTimeout(recheck, CONSOLE_INPUT_RECHECK_MS).unref();
        return;
      }
      c.socket.resume();
    };
    setTimeout(recheck, CONSOLE_INPUT_RECHECK_MS).unref();
  }

  private startWatch(c: Connection): void {
    c.mode = 'watch';
    c.pending = Buffer.alloc(0);
    this.watchers.add(c);
    c.socket.resume();
    if (c.ended) c.socket.end();
  }

  private send(c: Connection, res: VmmResponse): void {
    if (c.socket.writable) c.socket.write(`${JSON.stringify(res)}\n`);
  }

  /** A stream write; a client too slow to keep up is dropped rather than buffered without limit. */
  private streamWrite(c: Connection, data: Uint8Array | string): void {
    if (!c.socket.writable) return;
    if (c.socket.writableLength > VMM_STREAM_MAX_BUFFERED_BYTES) {
      this.forget(c);
      c.socket.destroy();
      return;
    }
    if (data.length > 0) c.socket.write(data);
  }

  /** An error line, then the end of the connection. */
  private fail(c: Connection, id: number, error: string): void {
    this.send(c, { id, ok: false, error });
    c.mode = 'closing';
    c.pending = Buffer.alloc(0);
    c.socket.end();
    // A client that never reads must not keep the connection: cut it after the grace period.
    setTimeout(() => c.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private removeSocketFile(): void {
    if (fileId(this.path) !== this.socketId) return; // someone else's by now
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }
}

/** "dev:ino" of a path, undefined when it does not exist. */
function fileId(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** Removes a socket file nobody accepts on (its VMM died); refuses a live socket or another file. */
async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!st.isSocket()) throw new TshvError(`Cannot serve the control socket "${path}": the path exists and is not a socket`);
  const live = await new Promise<boolean | string>((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      s.destroy();
      resolve(e.code === 'ECONNREFUSED' ? false : errorMessage(e));
    });
  });
  if (live === true) throw new TshvError(`Cannot serve the control socket "${path}": another process is serving it`);
  if (typeof live === 'string') throw new TshvError(`Cannot serve the control socket "${path}": ${live}`);
  try {
    unlinkSync(path);
  } catch (e) {
    throw new TshvError(`Cannot replace the stale control socket "${path}": ${errorMessage(e)}`);
  }
}
