// The supervisor: one VMM process per running VM (`tshv run --control ... --console none`), each in
// its own session (setsid) with its output in $TSHV_HOME/logs/<name>.log, so that it outlives the
// daemon (a SIGKILL of the daemon reaches neither its process group nor a pipe), and a crash in one
// VM cannot reach another or the daemon.
//
// For each VMM the supervisor holds a request connection and a `watch` stream on its control
// socket (vmm/control/protocol.ts). It learns that a VMM ended when the watch stream closes (the
// kernel closes it when the process dies) and the process is gone, or, for a process it spawned
// itself, from the child's exit. Why it ended comes from the exit record the VMM writes
// ($TSHV_HOME/run/<id>.exit); no record means it was killed or crashed. A restarted daemon
// re-attaches to the VMMs its inventory lists (adopt), checking that the pid is still the VMM it
// started (/proc/<pid>/cmdline holds the control socket path) and that the socket answers.
//
// The supervisor owns processes and sockets, not state: it reports what it learns through
// SupervisorEvents and the daemon turns that into the lifecycle (vm-state.ts) and the inventory.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { VmSpec } from '../api/schema/vm.js';
import { TshvError, errorMessage } from '../common/errors.js';
import { VmmControlClient, VmmControlError, VmmRefusedError, type VmmWatch } from '../vmm/control/client.js';
import { vmmNodeFlags } from '../vmm/process-flags.js';
import type { VmmAction, VmmExitRecord, VmmRunState } from '../vmm/control/protocol.js';
import { VmCgroups, type CgroupPlacement } from './cgroups.js';
import type { VmmEnd } from './vm-state.js';

export interface SupervisorEvents {
  /** The VMM process exists (its pid and where its limits stand); called before it answers. */
  spawned(vmId: string, pid: number, placement: CgroupPlacement): void;
  /** The VMM reports it is running or paused (after start, adopt, pause, resume, reset). */
  runState(vmId: string, state: VmmRunState): void;
  /** The VMM process is gone; `stopRequested`: a stop or force-stop was asked. */
  exited(vmId: string, end: VmmEnd, stopRequested: boolean): void;
  /** Something worth a line in the daemon's log. */
  log(line: string): void;
}

export interface SupervisorOptions {
  /** $TSHV_HOME: run/ (sockets, exit records) and logs/ live under it. */
  home: string;
  /** The CLI entry that runs a VMM: <dist>/bin/tshv.js (a fake VMM in tests). */
  entryPath: string;
  cgroups: VmCgroups;
  events: SupervisorEvents;
  /** Environment of the VMM processes (default process.env with TSHV_HOME = home). */
  env?: NodeJS.ProcessEnv;
  /** Time for a new VMM to answer on its control socket (default 60 s). */
  startTimeoutMs?: number;
  /** After `quit`, time before SIGKILL (default 5 s). */
  quitTimeoutMs?: number;
}

/** The VM as the supervisor needs it. */
export interface SupervisedVm {
  id: string;
  name: string;
  spec: VmSpec;
  pid?: number;
  cgroupDirs?: string[];
}

export interface VmmPaths {
  socketPath: string;
  exitPath: string;
  logPath: string;
}

/** sockaddr_un.sun_path is 108 bytes with the terminating NUL (unix(7)). */
const MAX_SOCKET_PATH_BYTES = 107;
const DEFAULT_START_TIMEOUT_MS = 60_000;
/** How long pause/resume wait for the watch to report the new run state (it comes within ms). */
const RUN_STATE_WAIT_MS = 2000;
const DEFAULT_QUIT_TIMEOUT_MS = 5000;
/** How often a VMM without a working watch stream is checked for life. */
const LIVENESS_POLL_MS = 1000;

interface ManagedVmm {
  id: string;
  name: string;
  pid: number;
  paths: VmmPaths;
  client: VmmControlClient;
  watch: VmmWatch | undefined;
  /** The run state as the watch last reported it (the one ordered source of run states). */
  runState: VmmRunState | undefined;
  /** Called on every run state the watch reports, and with `closed` when the watch closes. */
  runStateWaiters: Set<(closed: boolean) => void>;
  /** Only for a VMM this daemon process spawned. */
  child: ChildProcess | undefined;
  childExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  exitRecord: VmmExitRecord | undefined;
  cgroupDirs: string[];
  memoryLimitMib: number | undefined;
  stopRequested: boolean;
  /** Set when the daemon lets go of it (close): the process is left alone. */
  released: boolean;
  /** Resolves once the VMM ended and `exited` was reported, or once released. */
  gone: Promise<void>;
  markGone: () => void;
  /** Wakes the monitor loop early (a child exit, a closed watch). */
  wake: () => void;
}

/** A cancellable sleep; `background` ones do not keep the process alive (the monitor's polling). */
function sleep(ms: number, background = false): { promise: Promise<void>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let done: () => void = () => {};
  const promise = new Promise<void>((resolve) => {
    done = resolve;
    timer = setTimeout(resolve, ms);
    // A daemon (or a test) must be able to exit while VMMs run on.
    if (background) timer.unref();
  });
  return { promise, cancel: () => { clearTimeout(timer); done(); } };
}

/** A VM's log past this size is moved to <name>.log.1 when the VM starts (one old log is kept). */
export const VMM_LOG_ROTATE_BYTES = 8 * 1024 * 1024;

function rotateLog(path: string): void {
  try {
    if (statSync(path).size > VMM_LOG_ROTATE_BYTES) renameSync(path, `${path}.1`);
  } catch {
    // No log yet.
  }
}

/** True when `pid` is alive, not a zombie, and its command line holds `marker` (our VMM, not a reused pid). */
export function isOurVmm(pid: number, marker: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Field 3, after the parenthesised command name (proc(5)).
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').includes(marker);
  } catch {
    return false;
  }
}

/** The `tshv run` flags for a VM spec (the daemon's flags --name, --control... come first). */
export function vmmRunArgs(spec: VmSpec): string[] {
  const args = ['--cpus', String(spec.cpus ?? 1), '--memory', String(spec.memoryMib ?? 512), '--accel', spec.engine ?? 'auto'];
  if (spec.kernel !== undefined) args.push('--kernel', spec.kernel);
  if (spec.initrd !== undefined) args.push('--initrd', spec.initrd);
  if (spec.append !== undefined) args.push('--append', spec.append);
  for (const d of spec.disks ?? []) {
    let v = d.path;
    if (d.readOnly) v += ',ro';
    if (d.serial !== undefined) v += `,serial=${d.serial}`;
    if (d.bps !== undefined) v += `,bps=${d.bps}`;
    if (d.iops !== undefined) v += `,iops=${d.iops}`;
    args.push('--disk', v);
  }
  for (const n of spec.nics ?? []) {
    let v = `tap=${n.tap}`;
    if (n.mac !== undefined) v += `,mac=${n.mac}`;
    if (n.bps !== undefined) v += `,bps=${n.bps}`;
    args.push('--net', v);
  }
  return args;
}

/** Words for an exit record, as the VM's state reason. */
export function endFromExitRecord(record: VmmExitRecord): VmmEnd {
  switch (record.reason) {
    case 'poweroff': return { kind: 'clean', reason: 'The guest powered off' };
    case 'reset': return { kind: 'clean', reason: 'The guest rebooted and the VMM ran with --no-reboot' };
    case 'stopped': return { kind: 'clean', reason: 'Stopped (the VMM was told to quit)' };
    case 'error': return { kind: 'failed', reason: `The VMM failed: ${record.message ?? `exit status ${record.exitCode}`}` };
  }
}

export function readExitRecord(path: string): VmmExitRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as VmmExitRecord;
    return typeof r.reason === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

export class Supervisor {
  private readonly options: SupervisorOptions;
  private readonly managed = new Map<string, ManagedVmm>();
  private readonly runDir: string;
  private readonly logDir: string;

  constructor(options: SupervisorOptions) {
    this.options = options;
    this.runDir = join(options.home, 'run');
    this.logDir = join(options.home, 'logs');
  }

  paths(vm: { id: string; name: string }): VmmPaths {
    return {
      socketPath: join(this.runDir, `${vm.id}.sock`),
      exitPath: join(this.runDir, `${vm.id}.exit`),
      logPath: join(this.logDir, `${vm.name}.log`),
    };
  }

  isManaged(vmId: string): boolean {
    return this.managed.has(vmId);
  }

  /**
   * Spawns the VM's VMM and waits until its control socket answers. Resolves true when it runs;
   * false when it ended first (then `exited` has already been reported). Throws TshvError when
   * the process cannot even be spawned (nothing is left behind then).
   */
  async start(vm: SupervisedVm): Promise<boolean> {
    if (this.managed.has(vm.id)) throw new TshvError(`Cannot start VM "${vm.name}": its VMM is already running`);
    const paths = this.paths(vm);
    if (Buffer.byteLength(paths.socketPath) > MAX_SOCKET_PATH_BYTES) {
      throw new TshvError(`Cannot start VM "${vm.name}": the control socket path ${paths.socketPath} is longer than ${MAX_SOCKET_PATH_BYTES} bytes (use a shorter TSHV_HOME)`);
    }
    mkdirSync(this.runDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.logDir, { recursive: true, mode: 0o700 });
    rmSync(paths.socketPath, { force: true });
    rmSync(paths.exitPath, { force: true });
    const args = [
      ...vmmNodeFlags(), this.options.entryPath, 'run', '--name', vm.name, '--control', paths.socketPath, '--exit-file', paths.exitPath,
      '--console', 'none', ...vmmRunArgs(vm.spec),
    ];
    rotateLog(paths.logPath);
    const logFd = openSync(paths.logPath, 'a', 0o600);
    let child: ChildProcess;
    try {
      writeSync(logFd, `\n=== tshvd ${new Date().toISOString()}: starting VM "${vm.name}": ${[process.execPath, ...args].join(' ')}\n`);
      child = spawn(process.execPath, args, {
        // Its own session and process group: the daemon's death (or a Ctrl-C on the daemon's
        // terminal) does not reach it.
        detached: true,
        stdio: ['ignore', logFd, logFd],
        cwd: this.options.home,
        env: this.options.env ?? { ...process.env, TSHV_HOME: this.options.home },
      });
    } finally {
      closeSync(logFd);
    }
    const pid = child.pid;
    if (pid === undefined) {
      const e = await new Promise<Error>((resolve) => child.once('error', resolve));
      throw new TshvError(`Cannot start VM "${vm.name}": cannot spawn ${process.execPath}: ${e.message}`);
    }
    child.unref();
    const placement = this.options.cgroups.apply(vm.name, pid, {
      cpuWeight: vm.spec.cpuWeight ?? 100,
      ...(vm.spec.cpuCapPercent !== undefined ? { cpuCapPercent: vm.spec.cpuCapPercent } : {}),
      ...(vm.spec.memoryLimitMib !== undefined ? { memoryLimitMib: vm.spec.memoryLimitMib } : {}),
    });
    if (!placement.enforced && this.options.cgroups.mode !== 'none') this.options.events.log(`VM "${vm.name}": ${placement.detail}`);
    const m = this.manage(vm, pid, paths, placement.dirs, child);
    this.options.events.spawned(vm.id, pid, placement);

    const deadline = Date.now() + (this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
    for (;;) {
      if (m.childExit !== undefined || m.released || !this.managed.has(vm.id)) break;
      try {
        const status = await m.client.status(2000);
        await this.openWatch(m);
        this.noteRunState(m, status.state);
        break;
      } catch (e) {
        const code = e instanceof VmmControlError ? e.code : undefined;
        if (code !== 'ENOENT' && code !== 'ECONNREFUSED') this.options.events.log(`VM "${vm.name}": ${errorMessage(e)}`);
      }
      if (Date.now() > deadline) {
        this.options.events.log(`VM "${vm.name}": the VMM did not answer on ${paths.socketPath} in time; killing it`);
        m.exitRecord = { reason: 'error', exitCode: -1, time: new Date().toISOString(), message: `the VMM did not answer on its control socket within ${this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS} ms` };
        this.kill(m);
        break;
      }
      await sleep(100).promise;
    }
    void this.monitor(m);
    if (m.watch === undefined) {
      await m.gone;
      return false;
    }
    return true;
  }

  /**
   * Takes a VMM of an earlier daemon back under management. Resolves with its run state when it
   * lives and answers (also reported through `runState`), undefined when it is gone (`exited` has
   * been reported).
   */
  async adopt(vm: SupervisedVm): Promise<VmmRunState | undefined> {
    const paths = this.paths(vm);
    const pid = vm.pid ?? 0;
    const m = this.manage(vm, pid, paths, vm.cgroupDirs ?? [], undefined);
    let runState: VmmRunState | undefined;
    if (pid > 0 && isOurVmm(pid, paths.socketPath)) {
      // A VMM caught while starting may need a moment before its socket answers.
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          const status = await m.client.status(2000);
          await this.openWatch(m);
          runState = status.state;
          this.noteRunState(m, status.state);
          break;
        } catch (e) {
          if (Date.now() > deadline || !isOurVmm(pid, paths.socketPath)) {
            if (isOurVmm(pid, paths.socketPath)) {
              m.exitRecord = { reason: 'error', exitCode: -1, time: new Date().toISOString(), message: `the VMM (pid ${pid}) did not answer on its control socket (${errorMessage(e)}); it was killed` };
              this.kill(m);
            }
            break;
          }
        }
        await sleep(200).promise;
      }
    }
    void this.monitor(m);
    if (m.watch === undefined) {
      await m.gone;
      return undefined;
    }
    this.options.events.log(`VM "${vm.name}": re-attached to its VMM (pid ${pid})`);
    return runState;
  }

  /**
   * One request to the VM's VMM. For pause and resume it also waits (briefly) until the watch has
   * reported the new run state: the reply and the event travel on two connections, and an event
   * read after the reply would otherwise reach the daemon after the next action, as a stale
   * transition (paused again after a resume).
   */
  async request(vmId: string, action: VmmAction): Promise<void> {
    const m = this.get(vmId);
    await m.client.request(action);
    if (action.action === 'pause' || action.action === 'resume') {
      await this.watchReports(m, action.action === 'pause' ? 'paused' : 'running', RUN_STATE_WAIT_MS);
    }
  }

  /** Resolves when the watch reports `state` (at once if it has), when it closes, or after `timeoutMs`. */
  private async watchReports(m: ManagedVmm, state: VmmRunState, timeoutMs: number): Promise<void> {
    if (m.runState === state || m.watch === undefined) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        m.runStateWaiters.delete(check);
        resolve();
      };
      const check = (closed: boolean): void => {
        if (closed || m.runState === state) done();
      };
      const timer = setTimeout(done, timeoutMs);
      m.runStateWaiters.add(check);
    });
  }

  private noteRunState(m: ManagedVmm, state: VmmRunState): void {
    m.runState = state;
    this.options.events.runState(m.id, state);
    for (const w of [...m.runStateWaiters]) w(false);
  }

  async attachConsole(vmId: string): Promise<Duplex> {
    return await this.get(vmId).client.attachConsole(true);
  }

  /**
   * Stops politely: the ACPI power button (a paused VM is resumed first, so that the guest can see
   * it), then `quit` after `timeoutMs`, then SIGKILL. Resolves once the VMM is gone.
   */
  async stop(vmId: string, timeoutMs: number, paused: boolean): Promise<void> {
    const m = this.get(vmId);
    m.stopRequested = true;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if (paused) await m.client.request({ action: 'resume' });
        await m.client.request({ action: 'power-button' });
        break;
      } catch (e) {
        // A VMM between two machines (a reset) refuses for a moment; a lost connection is final.
        if (!(e instanceof VmmRefusedError) || Date.now() + 500 > deadline || this.managed.get(vmId) !== m) {
          this.options.events.log(`VM "${m.name}": power button: ${errorMessage(e)}; forcing the stop`);
          if (this.managed.get(vmId) === m) await this.forceStop(vmId);
          return;
        }
        await sleep(500).promise;
      }
    }
    const wait = sleep(Math.max(0, deadline - Date.now()));
    await Promise.race([m.gone, wait.promise]);
    wait.cancel();
    if (this.managed.get(vmId) === m) {
      this.options.events.log(`VM "${m.name}": no power-off within ${timeoutMs} ms of the power button; forcing the stop`);
      await this.forceStop(vmId);
    }
  }

  /**
   * Ends the VMM now: `quit`, then SIGKILL if it still lives after quitTimeoutMs (at once when it
   * does not take `quit`: no guest state is lost that quit would have kept). Resolves once it is gone.
   */
  async forceStop(vmId: string): Promise<void> {
    const m = this.get(vmId);
    m.stopRequested = true;
    let quitTaken = true;
    try {
      await m.client.request({ action: 'quit' }, 2000);
    } catch (e) {
      quitTaken = false;
      this.options.events.log(`VM "${m.name}": quit: ${errorMessage(e)}`);
    }
    if (quitTaken) {
      const wait = sleep(this.options.quitTimeoutMs ?? DEFAULT_QUIT_TIMEOUT_MS);
      await Promise.race([m.gone, wait.promise]);
      wait.cancel();
    }
    if (this.managed.get(vmId) === m) {
      this.options.events.log(`VM "${m.name}": ${quitTaken ? 'still running after quit' : 'quit not taken'}; SIGKILL`);
      this.kill(m);
      await m.gone;
    }
  }

  /** Lets go of every VMM without touching the processes (the daemon is closing). */
  releaseAll(): void {
    for (const m of this.managed.values()) {
      m.released = true;
      m.watch?.close();
      m.client.close();
      m.markGone();
      m.wake();
    }
    this.managed.clear();
  }

  private get(vmId: string): ManagedVmm {
    const m = this.managed.get(vmId);
    if (!m) throw new TshvError(`VM ${vmId} has no VMM process under this daemon`);
    return m;
  }

  private manage(vm: SupervisedVm, pid: number, paths: VmmPaths, cgroupDirs: string[], child: ChildProcess | undefined): ManagedVmm {
    let markGone: () => void = () => {};
    const gone = new Promise<void>((resolve) => {
      markGone = resolve;
    });
    const m: ManagedVmm = {
      id: vm.id, name: vm.name, pid, paths, child, childExit: undefined, exitRecord: undefined,
      client: new VmmControlClient(paths.socketPath, { requestTimeoutMs: 10_000 }),
      watch: undefined, runState: undefined, runStateWaiters: new Set(), cgroupDirs, memoryLimitMib: vm.spec.memoryLimitMib, stopRequested: false, released: false,
      gone, markGone, wake: () => {},
    };
    child?.once('exit', (code, signal) => {
      m.childExit = { code, signal };
      m.wake();
    });
    child?.once('error', () => {});
    this.managed.set(vm.id, m);
    return m;
  }

  private async openWatch(m: ManagedVmm): Promise<void> {
    m.watch = await m.client.watch((event) => {
      if (m.released) return;
      switch (event.event) {
        case 'state':
          this.noteRunState(m, event.state);
          return;
        case 'reset':
          // Not a run state: the VMM reports a change it makes on reset (paused to running) as a
          // `state` event. The reset event comes once the next machine is built, so reading it as
          // `running` could undo a pause asked meanwhile.
          this.options.events.log(`VM "${m.name}": the machine was reset`);
          return;
        case 'exiting':
          m.exitRecord = event.exit;
      }
    });
    void m.watch.closed.then(() => {
      m.wake();
      for (const w of [...m.runStateWaiters]) w(true);
    });
  }

  private alive(m: ManagedVmm): boolean {
    if (m.child !== undefined) return m.childExit === undefined;
    return m.pid > 0 && isOurVmm(m.pid, m.paths.socketPath);
  }

  /** Waits for the VMM to end, then reports why and cleans up after it. */
  private async monitor(m: ManagedVmm): Promise<void> {
    let watchClosedAt: number | undefined;
    for (;;) {
      if (m.released) return;
      if (!this.alive(m)) break;
      const nap = sleep(LIVENESS_POLL_MS, true);
      m.wake = nap.cancel;
      const watch = m.watch;
      if (watch !== undefined && watchClosedAt === undefined) {
        await Promise.race([watch.closed.then(() => { watchClosedAt = Date.now(); }), nap.promise]);
      } else {
        await nap.promise;
      }
      nap.cancel();
      // The watch stream closed but the process lives on: after a grace period, watch again.
      if (watchClosedAt !== undefined && Date.now() - watchClosedAt > 5000 && this.alive(m) && !m.released) {
        try {
          await this.openWatch(m);
          watchClosedAt = undefined;
        } catch {
          watchClosedAt = Date.now();
        }
      }
    }
    this.finish(m);
  }

  private finish(m: ManagedVmm): void {
    const record = m.exitRecord ?? readExitRecord(m.paths.exitPath);
    let end: VmmEnd;
    if (VmCgroups.oomKilled(m.cgroupDirs)) {
      end = { kind: 'failed', reason: `The VMM process was killed by the kernel's OOM killer (memory limit ${m.memoryLimitMib ?? '?'} MiB)` };
    } else if (record !== undefined) {
      end = endFromExitRecord(record);
    } else if (m.childExit?.signal) {
      end = { kind: 'failed', reason: `The VMM process (pid ${m.pid}) was killed by ${m.childExit.signal} (no exit record)` };
    } else if (m.childExit !== undefined) {
      end = { kind: 'failed', reason: `The VMM process (pid ${m.pid}) exited with status ${m.childExit.code} without an exit record` };
    } else {
      end = { kind: 'failed', reason: `The VMM process (pid ${m.pid}) ended without an exit record (killed by a signal, or it crashed)` };
    }
    m.watch?.close();
    m.client.close();
    this.managed.delete(m.id);
    void this.removeCgroups(m);
    rmSync(m.paths.socketPath, { force: true });
    this.options.events.exited(m.id, end, m.stopRequested);
    m.markGone();
  }

  /** A group is busy for a moment after its last task exits; retry briefly. */
  private async removeCgroups(m: ManagedVmm): Promise<void> {
    let left = VmCgroups.remove(m.cgroupDirs);
    for (let i = 0; i < 20 && left.length > 0; i++) {
      await sleep(50).promise;
      left = VmCgroups.remove(left);
    }
    if (left.length > 0) this.options.events.log(`VM "${m.name}": cannot remove cgroups ${left.join(', ')}`);
  }

  private kill(m: ManagedVmm): void {
    // Only what is still our VMM: a pid recorded long ago may belong to someone else now.
    if (m.child !== undefined ? m.childExit === undefined : isOurVmm(m.pid, m.paths.socketPath)) {
      try {
        process.kill(m.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    m.wake();
  }

  /** Removes what a deleted VM left in run/ and logs/. */
  removeFiles(vm: { id: string; name: string }): void {
    const p = this.paths(vm);
    for (const f of [p.socketPath, p.exitPath, p.logPath, `${p.logPath}.1`]) if (existsSync(f)) rmSync(f, { force: true });
  }
}
