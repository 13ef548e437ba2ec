// A stand-in VMM for tests of the control client and the daemon's supervisor: it speaks the control
// protocol (protocol.ts) without running a machine, so those tests take milliseconds instead of a
// boot. Its "guest" prints the readiness line into the console, echoes console input back, and
// powers off a moment after the power button unless told to ignore it.
//
// In-process: `new FakeVmmServer(options).listen(path)`. As a process (fake-vmm-main.ts): the same
// flags as `tshv run` for the daemon (`run --name N --control PATH --exit-file PATH ...`).

import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { GUEST_READY_LINE } from '../../../guest/init-script.js';
import type { VmmEvent, VmmExitRecord, VmmRequest, VmmResponse, VmmRunState } from '../protocol.js';

export interface FakeVmmOptions {
  name: string;
  /** Where to write the exit record before exiting. */
  exitFile?: string;
  /** The "guest" does not react to the power button. */
  ignorePowerButton?: boolean;
  /** Power-button requests refused (as a VMM between two machines does) before one is taken. */
  refusePowerButtonTimes?: number;
  /** Delay between the power button and the power-off (default 50 ms). */
  powerOffDelayMs?: number;
  /** Called after the exit record is written; the process main exits here. */
  onExit?: (record: VmmExitRecord) => void;
}

export class FakeVmmServer {
  state: VmmRunState = 'running';
  resetCount = 0;
  /** Every request received, in order (for assertions). */
  readonly requests: VmmRequest[] = [];
  private readonly options: FakeVmmOptions;
  private readonly server: Server;
  private readonly watchers = new Set<Socket>();
  private readonly consoles = new Set<Socket>();
  private readonly sockets = new Set<Socket>();
  private scrollback = '';
  private readonly startedMs = Date.now();
  private exited = false;

  constructor(options: FakeVmmOptions) {
    this.options = options;
    this.server = createServer((socket) => this.onConnection(socket));
    this.print(`booting\r\n${GUEST_READY_LINE}\r\nroot@tshv:~# `);
  }

  listen(path: string): Promise<void> {
    rmSync(path, { force: true });
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(path, () => resolve());
    });
  }

  /** Stops listening and drops every connection (without an exit record). */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Guest console output. */
  print(text: string): void {
    this.scrollback = (this.scrollback + text).slice(-64 * 1024);
    for (const c of this.consoles) c.write(text);
  }

  /** Ends the "machine": exit record, `exiting` event, connections closed. */
  exit(reason: VmmExitRecord['reason'], message?: string): void {
    if (this.exited) return;
    this.exited = true;
    const record: VmmExitRecord = { reason, exitCode: reason === 'error' ? 1 : reason === 'stopped' ? 130 : 0, time: new Date().toISOString() };
    if (message !== undefined) record.message = message;
    if (this.options.exitFile !== undefined) {
      const tmp = `${this.options.exitFile}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(record)}\n`);
      renameSync(tmp, this.options.exitFile);
    }
    this.emit({ event: 'exiting', exit: record });
    void this.close().then(() => this.options.onExit?.(record));
  }

  private emit(event: VmmEvent): void {
    for (const w of this.watchers) w.write(`${JSON.stringify(event)}\n`);
  }

  private onConnection(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.watchers.delete(socket);
      this.consoles.delete(socket);
    });
    socket.on('error', () => {});
    let buffered = '';
    const onData = (chunk: Buffer): void => {
      if (this.consoles.has(socket)) {
        this.print(chunk.toString('latin1')); // The tty echoes what is typed.
        return;
      }
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let request: VmmRequest;
        try {
          request = JSON.parse(line) as VmmRequest;
        } catch {
          socket.end(`${JSON.stringify({ id: 0, ok: false, error: 'not JSON' })}\n`);
          return;
        }
        this.requests.push(request);
        this.handle(socket, request);
        if (this.consoles.has(socket) && buffered.length > 0) {
          this.print(buffered);
          buffered = '';
        }
      }
    };
    socket.on('data', onData);
  }

  private handle(socket: Socket, request: VmmRequest): void {
    const reply = (r: VmmResponse): void => {
      socket.write(`${JSON.stringify(r)}\n`);
    };
    const id = request.id;
    switch (request.action) {
      case 'status':
        reply({
          id, ok: true, status: {
            name: this.options.name, pid: process.pid, state: this.state, engine: 'soft', cpuCount: 1, memSizeMib: 256,
            uptimeMs: Date.now() - this.startedMs, resetCount: this.resetCount,
          },
        });
        return;
      case 'pause':
      case 'resume': {
        const next: VmmRunState = request.action === 'pause' ? 'paused' : 'running';
        reply({ id, ok: true });
        if (this.state !== next) {
          this.state = next;
          this.emit({ event: 'state', state: next });
        }
        return;
      }
      case 'power-button':
        if ((this.options.refusePowerButtonTimes ?? 0) > 0) {
          this.options.refusePowerButtonTimes = (this.options.refusePowerButtonTimes ?? 0) - 1;
          reply({ id, ok: false, error: 'The machine is being reset; try again' });
          return;
        }
        reply({ id, ok: true });
        if (!this.options.ignorePowerButton && this.state === 'running') {
          setTimeout(() => this.exit('poweroff'), this.options.powerOffDelayMs ?? 50);
        }
        return;
      case 'quit':
        reply({ id, ok: true });
        setImmediate(() => this.exit('stopped'));
        return;
      case 'reset':
        reply({ id, ok: true });
        this.resetCount++;
        this.emit({ event: 'reset' });
        this.print(`\r\nbooting\r\n${GUEST_READY_LINE}\r\nroot@tshv:~# `);
        return;
      case 'watch':
        reply({ id, ok: true });
        this.watchers.add(socket);
        return;
      case 'console-attach':
        reply({ id, ok: true });
        if (request.scrollback) socket.write(this.scrollback);
        this.consoles.add(socket);
        return;
      default:
        reply({ id, ok: false, error: `unknown action "${(request as { action: string }).action}"` });
    }
  }
}
