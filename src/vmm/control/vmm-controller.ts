// The running VMM as the control socket sees it (protocol.ts): identity, run state, reset count,
// the current machine (a new one after each reset), the exit record. run-vm.ts drives the machine
// loop and tells this object what happens; the control server (server.ts) calls it for requests.
// Without --control and --exit-file it only keeps state; nothing is served or written.

import { TshvError, errorMessage } from '../../common/errors.js';
import type { VmConfig } from '../config.js';
import type { MachineExit, VmEngine } from '../engine.js';
import { errorExitRecord, writeExitRecord } from './exit-record.js';
import type { VmmBalloonInfo, VmmExitRecord, VmmRateLimit, VmmRunState, VmmStatus } from './protocol.js';
import { VmmControlServer, type VmmControlHandler } from './server.js';

/** How `tshv run` serves the VM besides the machine itself (cli/run.ts flags). */
export interface VmmRunOptions {
  /** --name: the VM's name in `status` (default "vm"). */
  name: string;
  /** --control: serve the control socket there. */
  controlPath?: string;
  /** --exit-file: write the exit record there just before exiting. */
  exitFile?: string;
  /** --console: `stdio` (the terminal) or `none` (only through console-attach; stdin is not read). */
  console: 'stdio' | 'none';
}

export const DEFAULT_VMM_RUN_OPTIONS: VmmRunOptions = { name: 'vm', console: 'stdio' };

const NOT_RUNNING_YET = 'The machine is not running yet (starting or resetting); try again';
/** Exit status after a signal or Ctrl-A x (as before the control socket: 128 + SIGINT). */
const EXIT_CODE_INTERRUPTED = 130;

export class VmmController implements VmmControlHandler {
  /** Set by the `quit` request: run-vm ends with reason 'stopped' and status 0. */
  quitRequested = false;
  private machine: VmEngine | undefined;
  private state: VmmRunState = 'running';
  private resetCount = 0;
  private resetRequested = false;
  private finished = false;

  private constructor(
    private readonly config: VmConfig,
    private readonly options: VmmRunOptions,
    private readonly engine: 'soft' | 'kvm',
    private server: VmmControlServer | undefined,
  ) {}

  /** Serves --control (if given). A daemon-spawned VMM must outlive its parent: see below. */
  static async open(config: VmConfig, options: VmmRunOptions, engine: 'soft' | 'kvm'): Promise<VmmController> {
    const vmm = new VmmController(config, options, engine, undefined);
    if (options.controlPath !== undefined) {
      // Output to a parent that died (a closed pipe) must not end the VM: EPIPE is ignored.
      process.stdout.on('error', () => undefined);
      process.stderr.on('error', () => undefined);
      vmm.server = await VmmControlServer.listen(options.controlPath, vmm);
    }
    return vmm;
  }

  /** The machine that runs now (after it was built and loaded, before run()). */
  attach(machine: VmEngine): void {
    this.machine = machine;
    // `quit` while the machine was being built (loading the kernel...): it never gets to run.
    if (this.quitRequested) machine.stop({ kind: 'quit' });
    // Likewise a `reset`: the new machine ends at once and run-vm builds the next one.
    else if (this.resetRequested) machine.stop({ kind: 'reset' });
    // A pause asked while no machine ran (between a reset and the next machine) holds the new one.
    if (this.state === 'paused') void machine.pause().catch(() => undefined);
  }

  detach(): void {
    this.machine = undefined;
  }

  /** Guest serial output, for attached consoles and the scrollback. */
  consoleOutput(bytes: Uint8Array): void {
    this.server?.consoleOutput(bytes);
  }

  /** True (once) when the last reset was asked through the control socket (it resets even with --no-reboot). */
  takeResetRequest(): boolean {
    const r = this.resetRequested;
    this.resetRequested = false;
    return r;
  }

  /** The machine was reset (guest reboot or `reset`) and is built again. */
  noteReset(): void {
    this.resetCount++;
    this.server?.emit({ event: 'reset' });
  }

  // ---- VmmControlHandler: one method per action ----

  status(): VmmStatus {
    return {
      name: this.options.name,
      pid: process.pid,
      state: this.state,
      engine: this.engine,
      cpuCount: this.config.cpuCount,
      memSizeMib: this.config.memSizeMib,
      uptimeMs: Math.round(process.uptime() * 1000),
      resetCount: this.resetCount,
    };
  }

  async pause(): Promise<void> {
    this.setState('paused');
    await this.machine?.pause();
  }

  resume(): void {
    if (this.state === 'running') return;
    this.setState('running');
    this.machine?.resume();
  }

  powerButton(): void {
    if (this.machine === undefined) throw new TshvError(NOT_RUNNING_YET);
    this.machine.pressPowerButton();
  }

  quit(): void {
    this.quitRequested = true;
    this.machine?.stop({ kind: 'quit' });
  }

  /**
   * As the guest's own reboot: the machine ends and run-vm builds it again; it runs (not paused)
   * after. Asked while no machine runs (one is being built), it applies to that one (attach()).
   */
  reset(): void {
    this.setState('running');
    this.resetRequested = true;
    this.machine?.stop({ kind: 'reset' });
  }

  consoleInput(bytes: Uint8Array): number {
    return this.machine?.enqueueInput(bytes) ?? 0;
  }

  balloon(targetMib: number): VmmBalloonInfo {
    return this.ioControls().setBalloonTarget(targetMib);
  }

  async balloonStats(): Promise<VmmBalloonInfo> {
    return await this.ioControls().balloonStats();
  }

  setRateLimit(device: string, change: { bps?: number | null; iops?: number | null }): VmmRateLimit {
    return this.ioControls().setRateLimit(device, change);
  }

  // ---- the end ----

  /** The run ended with `exit` (not an error): writes the exit record; returns the exit status. */
  finish(exit: Exclude<MachineExit, { kind: 'error' }>): number {
    const record: VmmExitRecord = exit.kind === 'quit'
      ? { reason: 'stopped', exitCode: this.quitRequested ? 0 : EXIT_CODE_INTERRUPTED, time: new Date().toISOString() }
      : { reason: exit.kind, exitCode: 0, time: new Date().toISOString() };
    this.writeRecord(record);
    return record.exitCode;
  }

  /** The run failed with `e` (rethrown by the caller): the exit record says so. */
  fail(e: unknown): void {
    this.writeRecord(errorExitRecord(e));
  }

  /** Closes the control socket (after watchers got `exiting`) and removes its file. */
  async close(): Promise<void> {
    this.machine = undefined;
    const server = this.server;
    this.server = undefined;
    await server?.close();
  }

  private writeRecord(record: VmmExitRecord): void {
    if (this.finished) return;
    this.finished = true;
    if (this.options.exitFile !== undefined) {
      try {
        writeExitRecord(this.options.exitFile, record);
      } catch (e) {
        process.stderr.write(`tshv: ${errorMessage(e)}\n`);
      }
    }
    this.server?.emit({ event: 'exiting', exit: record });
  }

  private setState(state: VmmRunState): void {
    if (this.state === state) return;
    this.state = state;
    this.server?.emit({ event: 'state', state });
  }

  private ioControls(): NonNullable<VmEngine['ioControls']> {
    const io = this.machine?.ioControls;
    if (io === undefined) {
      throw new TshvError(this.machine === undefined ? NOT_RUNNING_YET : `The ${this.engine} engine has no run-time I/O controls`);
    }
    return io;
  }
}

/** Unix socket paths are at most 107 bytes (sun_path is 108 with its NUL; unix(7)). */
const MAX_SOCKET_PATH_BYTES = 107;
const VM_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,62}$/;

/** Validates `tshv run`'s --name, --control, --exit-file and --console values. */
export function parseVmmRunOptions(values: { name?: string; control?: string; 'exit-file'?: string; console?: string }): VmmRunOptions {
  const name = values.name ?? DEFAULT_VMM_RUN_OPTIONS.name;
  if (!VM_NAME_PATTERN.test(name)) {
    throw new TshvError(`Invalid --name "${name}": 1 to 63 letters, digits, ".", "_" or "-", not starting with "." or "-"`, 2);
  }
  const consoleMode = values.console ?? 'stdio';
  if (consoleMode !== 'stdio' && consoleMode !== 'none') throw new TshvError(`Invalid --console "${consoleMode}": must be stdio or none`, 2);
  const options: VmmRunOptions = { name, console: consoleMode };
  if (values.control !== undefined) {
    if (values.control === '') throw new TshvError('Invalid --control: empty path', 2);
    if (Buffer.byteLength(values.control) > MAX_SOCKET_PATH_BYTES) {
      throw new TshvError(`Invalid --control "${values.control}": a Unix socket path is at most ${MAX_SOCKET_PATH_BYTES} bytes`, 2);
    }
    options.controlPath = values.control;
  }
  if (values['exit-file'] !== undefined) {
    if (values['exit-file'] === '') throw new TshvError('Invalid --exit-file: empty path', 2);
    options.exitFile = values['exit-file'];
  }
  return options;
}
