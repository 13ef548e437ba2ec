// `tshv run --hvc socket=PATH`: the guest's virtio-console (hvc0, virtio 1.2 §5.3) on a Unix
// stream socket that the VMM serves, like cloud-hypervisor's `--console socket=PATH` or QEMU's
// `-chardev socket,path=PATH,server=on,wait=off -device virtconsole`. One client at a time gets
// hvc0 both ways (a second one is told so and closed); the guest's output while no client is
// connected is dropped, as QEMU does for a disconnected socket. The socket file is created mode
// 0600 and removed on dispose; a stale one left by a dead process is replaced. It outlives the
// machine: after a guest reboot the new machine's console is plugged into the same socket.

import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { TshvError, errorMessage } from '../common/errors.js';

/** Guest output buffered for a slow client at most; beyond it output is dropped (the guest never waits). */
export const HVC_MAX_BUFFERED_BYTES = 1 << 20;
/** Retry period when the guest's input queue is full (back-pressure on the client). */
const INPUT_RETRY_MS = 10;

/** Where client input goes: returns false, taking nothing, when the guest's queue is full. */
export type HvcInputSink = (bytes: Uint8Array) => boolean;

/** Parses the `--hvc` value: `socket=PATH` (cloud-hypervisor's spelling) or `unix:PATH` (QEMU's). */
export function parseHvcOption(value: string): { socketPath: string } {
  const m = /^(?:socket=|unix:)(.+)$/.exec(value);
  if (m === null || m[1] === undefined || m[1] === '') {
    throw new TshvError(`Cannot parse --hvc "${value}": expected socket=PATH (a Unix socket the VMM serves)`);
  }
  return { socketPath: m[1] };
}

/** True when something accepts connections on the socket at `path`. */
function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { s.destroy(); resolve(false); });
  });
}

export class HvcSocket {
  /** Guest output bytes dropped (no client, or the client too slow). */
  droppedBytes = 0;
  private client: Socket | undefined;
  private sink: HvcInputSink | undefined;
  private retry: NodeJS.Timeout | undefined;
  private pending: Uint8Array | undefined;
  private disposed = false;

  private constructor(private readonly server: Server, readonly path: string) {
    server.on('connection', (socket) => this.accept(socket));
    // A failing accept must not end the VMM; the socket keeps serving.
    server.on('error', () => {});
  }

  /** Serves `path` (replacing a stale socket file); throws TshvError when it cannot. */
  static async listen(path: string): Promise<HvcSocket> {
    let exists = false;
    try {
      const st = lstatSync(path);
      if (!st.isSocket()) throw new TshvError(`Cannot serve --hvc socket "${path}": a file that is not a socket is in the way`);
      exists = true;
    } catch (e) {
      if (e instanceof TshvError) throw e;
    }
    if (exists) {
      if (await socketIsLive(path)) throw new TshvError(`Cannot serve --hvc socket "${path}": another process is serving it`);
      try { unlinkSync(path); } catch { /* raced away: fine */ }
    }
    const server = createServer({ pauseOnConnect: false });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new TshvError(`Cannot serve --hvc socket "${path}": ${errorMessage(e)}`)));
      server.listen(path, () => resolve());
    });
    try {
      chmodSync(path, 0o600);
    } catch (e) {
      server.close();
      throw new TshvError(`Cannot serve --hvc socket "${path}": ${errorMessage(e)}`);
    }
    server.unref();
    return new HvcSocket(server, path);
  }

  /** Where client input goes from now on (the current machine's console); undefined: held back. */
  setInputSink(sink: HvcInputSink | undefined): void {
    this.sink = sink;
    if (sink !== undefined) this.drainPending();
  }

  /** The guest's hvc0 output (the slice is only valid during the call: it is copied). */
  write(bytes: Uint8Array): void {
    const c = this.client;
    if (c === undefined || c.destroyed || c.writableLength + bytes.byteLength > HVC_MAX_BUFFERED_BYTES) {
      this.droppedBytes += bytes.byteLength;
      return;
    }
    c.write(Buffer.from(bytes));
  }

  get connected(): boolean {
    return this.client !== undefined;
  }

  private accept(socket: Socket): void {
    if (this.disposed) {
      socket.destroy();
      return;
    }
    socket.on('error', () => {});
    if (this.client !== undefined) {
      socket.end('tshv: hvc0 is already attached to another client\n');
      return;
    }
    this.client = socket;
    socket.on('data', (chunk: Buffer) => {
      this.pending = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
      this.drainPending();
    });
    socket.on('close', () => {
      if (this.client === socket) {
        this.client = undefined;
        this.pending = undefined;
      }
    });
  }

  /** Hands held input to the guest; pauses the client while the guest's queue is full. */
  private drainPending(): void {
    const bytes = this.pending;
    if (bytes === undefined || this.retry !== undefined) return;
    const sink = this.sink;
    if (sink !== undefined && sink(bytes)) {
      this.pending = undefined;
      this.client?.resume();
      return;
    }
    this.client?.pause();
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.drainPending();
    }, INPUT_RETRY_MS);
  }

  /** Closes the client and the server and removes the socket file. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    clearTimeout(this.retry);
    this.client?.destroy();
    this.client = undefined;
    this.server.close();
    try { unlinkSync(this.path); } catch { /* already gone */ }
  }
}
