// tshvd's core: the DaemonService the API server calls. It keeps the inventory (store.ts), enforces
// the lifecycle (vm-state.ts), and drives one VMM process per running VM through the supervisor
// (supervisor.ts), with cgroup limits (cgroups.ts). Events go to every subscriber.
//
// open(home) reconciles the inventory with reality before it serves anything: every VM the
// inventory says has a VMM is re-attached or, if its process is gone, marked stopped or crashed
// from its exit record; then autostart VMs start. close() lets go of the VMMs and leaves them
// running, so a daemon restart (or crash) never takes a guest down.

import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { accessSync, closeSync, constants, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { cpus, hostname, totalmem } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { ApiEvent, HostInfo } from '../api/schema/common.js';
import type { CreatedToken, Role, Token, TokenSpec } from '../api/schema/token.js';
import { VmName, type Vm, type VmSpec, type VmState } from '../api/schema/vm.js';
import { TshvError, errorMessage } from '../common/errors.js';
import type { VmmRunState } from '../vmm/control/protocol.js';
import { VmCgroups, type CgroupOptions, type CgroupPlacement } from './cgroups.js';
import { DaemonError, type DaemonService } from './service.js';
import { INVENTORY_DB_FILE, SqliteInventoryStore, StoreConflictError, type InventoryStore, type VmRecordPatch, type VmRecordState } from './store.js';
import { Supervisor } from './supervisor.js';
import { checkAction, isLiveState, stateAfterExit, type VmAction, type VmmEnd } from './vm-state.js';

/** Prefix of API token secrets (createToken). */
export const TOKEN_PREFIX = 'tshv_';

export interface DaemonOptions {
  /** The CLI entry the VMMs run (default <dist>/bin/tshv.js beside this file). */
  entryPath?: string;
  /** Where cgroups are (tests), or an already detected set. */
  cgroups?: VmCgroups | CgroupOptions;
  /** Environment of VMM processes (default process.env with TSHV_HOME). */
  vmmEnv?: NodeJS.ProcessEnv;
  /** Time for a new VMM to answer on its control socket (default 60 s). */
  startTimeoutMs?: number;
  /** After `quit`, time before SIGKILL (default 5 s). */
  quitTimeoutMs?: number;
  /** Start autostart VMs in open() (default true). */
  autostart?: boolean;
  /** The daemon's log (default: stderr, prefixed "tshvd: "). */
  log?: (line: string) => void;
  /** Another inventory (default SQLite at $TSHV_HOME/tshvd.db); the daemon closes it. */
  store?: InventoryStore;
}

/** The compiled CLI entry beside this file: <out>/daemon/daemon.js → <out>/bin/tshv.js. */
export function defaultVmmEntryPath(): string {
  return fileURLToPath(new URL('../bin/tshv.js', import.meta.url));
}

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** MemAvailable of /proc/meminfo, in MiB (the kernel's estimate of what can be allocated without swapping). */
export function memAvailableMib(meminfo: string): number | undefined {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(meminfo);
  return m ? Math.floor(Number(m[1]) / 1024) : undefined;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

const LOCK_FILE = 'tshvd.lock';
const VM_NAME_PATTERN = new RegExp(VmName.pattern ?? '^[a-z0-9][a-z0-9-]{0,62}$');

export class Daemon implements DaemonService {
  readonly home: string;
  readonly cgroups: VmCgroups;
  private readonly store: InventoryStore;
  private readonly supervisor: Supervisor;
  private readonly listeners = new Set<(event: ApiEvent) => void>();
  private readonly log: (line: string) => void;
  private readonly version = readVersion();
  private readonly lockPath: string;
  private closed = false;

  private constructor(home: string, store: InventoryStore, cgroups: VmCgroups, options: DaemonOptions) {
    this.home = home;
    this.store = store;
    this.cgroups = cgroups;
    this.lockPath = join(home, LOCK_FILE);
    this.log = options.log ?? ((line) => process.stderr.write(`tshvd: ${line}\n`));
    this.supervisor = new Supervisor({
      home,
      entryPath: options.entryPath ?? defaultVmmEntryPath(),
      cgroups,
      ...(options.vmmEnv !== undefined ? { env: options.vmmEnv } : {}),
      ...(options.startTimeoutMs !== undefined ? { startTimeoutMs: options.startTimeoutMs } : {}),
      ...(options.quitTimeoutMs !== undefined ? { quitTimeoutMs: options.quitTimeoutMs } : {}),
      events: {
        spawned: (id, pid, placement) => this.onSpawned(id, pid, placement),
        runState: (id, state) => this.onRunState(id, state),
        exited: (id, end, stopRequested) => this.onExited(id, end, stopRequested),
        log: (line) => this.log(line),
      },
    });
  }

  /**
   * Opens the daemon on `home` ($TSHV_HOME): the inventory, a lock against a second daemon, the
   * re-attachment of running VMMs, then autostart.
   */
  static async open(homeDir: string, options: DaemonOptions = {}): Promise<Daemon> {
    // Absolute: the VMMs get these paths and run in another directory.
    const home = resolve(homeDir);
    mkdirSync(home, { recursive: true, mode: 0o700 });
    takeLock(join(home, LOCK_FILE));
    let daemon: Daemon;
    try {
      const cgroups = options.cgroups instanceof VmCgroups ? options.cgroups : VmCgroups.detect(options.cgroups ?? {});
      daemon = new Daemon(home, options.store ?? new SqliteInventoryStore(join(home, INVENTORY_DB_FILE)), cgroups, options);
    } catch (e) {
      rmSync(join(home, LOCK_FILE), { force: true });
      throw e;
    }
    try {
      await daemon.reconcile();
      if (options.autostart ?? true) await daemon.autostart();
    } catch (e) {
      daemon.close();
      throw e;
    }
    return daemon;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Lets go of the VMMs (they keep running) and closes the inventory. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.supervisor.releaseAll();
    this.store.close();
    this.listeners.clear();
    rmSync(this.lockPath, { force: true });
  }

  // ---- VMs ----

  listVms(): Vm[] {
    return this.store.listVms().map((r) => this.toVm(r));
  }

  getVm(ref: string): Vm {
    return this.toVm(this.find(ref));
  }

  createVm(spec: VmSpec): Vm {
    this.checkOpen();
    // The API validates the schema; the name also names files and cgroups, so check it here too.
    if (!VM_NAME_PATTERN.test(spec.name)) throw new DaemonError('bad-request', `Cannot create VM "${spec.name}": ${VmName.description ?? 'invalid name'}`);
    if (this.store.findVmByName(spec.name)) throw new DaemonError('conflict', `Cannot create VM "${spec.name}": a VM with that name already exists`);
    this.checkSpecFiles(spec);
    const record: VmRecordState = { id: randomUUID(), name: spec.name, spec, state: 'stopped', createdAt: new Date().toISOString() };
    try {
      this.store.insertVm(record);
    } catch (e) {
      if (e instanceof StoreConflictError) throw new DaemonError('conflict', `Cannot create VM "${spec.name}": a VM with that name already exists`);
      throw e;
    }
    this.emit({ type: 'vm-created', time: new Date().toISOString(), vm: record.name, id: record.id });
    return this.toVm(record);
  }

  async deleteVm(ref: string, force: boolean): Promise<void> {
    this.checkOpen();
    let vm = this.find(ref);
    checkAction(vm.name, 'delete', vm.state, force);
    if (isLiveState(vm.state)) {
      await this.forceStopVm(vm.id);
      vm = this.find(vm.id);
      // It was started again in between: refuse rather than kill it a second time.
      checkAction(vm.name, 'delete', vm.state);
    }
    this.store.deleteVm(vm.id);
    this.supervisor.removeFiles(vm);
    this.emit({ type: 'vm-deleted', time: new Date().toISOString(), vm: vm.name, id: vm.id });
  }

  async startVm(ref: string): Promise<Vm> {
    this.checkOpen();
    const vm = this.beginAction(ref, 'start');
    this.setState(vm, 'starting', null, { startedAt: new Date().toISOString() });
    try {
      await this.supervisor.start(vm);
    } catch (e) {
      // The process could not be spawned at all: nothing runs, the VM stays stopped.
      this.setState(this.find(vm.id), 'stopped', errorMessage(e), { pid: null, startedAt: null, limits: null });
      throw new DaemonError('bad-request', errorMessage(e));
    }
    return this.getVm(vm.id);
  }

  async stopVm(ref: string, timeoutMs: number): Promise<Vm> {
    this.checkOpen();
    const vm = this.beginAction(ref, 'stop');
    const wasPaused = vm.state === 'paused';
    this.setState(vm, 'stopping', null);
    await this.supervisor.stop(vm.id, timeoutMs, wasPaused);
    return this.getVm(vm.id);
  }

  async forceStopVm(ref: string): Promise<Vm> {
    this.checkOpen();
    const vm = this.beginAction(ref, 'force-stop');
    await this.supervisor.forceStop(vm.id);
    return this.getVm(vm.id);
  }

  async pauseVm(ref: string): Promise<Vm> {
    return await this.runStateAction(ref, 'pause', 'paused');
  }

  async resumeVm(ref: string): Promise<Vm> {
    return await this.runStateAction(ref, 'resume', 'running');
  }

  async rebootVm(ref: string): Promise<Vm> {
    this.checkOpen();
    const vm = this.beginAction(ref, 'reboot');
    await this.vmmRequest(vm, () => this.supervisor.request(vm.id, { action: 'reset' }));
    return this.getVm(vm.id);
  }

  async openConsole(ref: string): Promise<Duplex> {
    this.checkOpen();
    const vm = this.find(ref);
    if (vm.state !== 'running' && vm.state !== 'paused') {
      throw new DaemonError('conflict', `Cannot attach to the console of VM "${vm.name}": it is ${vm.state}`);
    }
    return await this.vmmRequest(vm, () => this.supervisor.attachConsole(vm.id));
  }

  hostInfo(): HostInfo {
    const vms = this.store.listVms();
    const live = vms.filter((v) => isLiveState(v.state));
    const hostCpus = cpus().length;
    const memoryMib = Math.floor(totalmem() / (1024 * 1024));
    let free: number | undefined;
    try {
      free = memAvailableMib(readFileSync('/proc/meminfo', 'utf8'));
    } catch {
      free = undefined;
    }
    const committedCpus = live.reduce((n, v) => n + (v.spec.cpus ?? 1), 0);
    const committedMib = live.reduce((n, v) => n + (v.spec.memoryMib ?? 512), 0);
    const ratio = (a: number, b: number): number => (b > 0 ? Math.round((a / b) * 1000) / 1000 : 0);
    return {
      hostname: hostname(),
      version: this.version,
      cpus: hostCpus,
      memoryMib,
      memoryFreeMib: free ?? memoryMib,
      vms: { defined: vms.length, running: live.length },
      committed: { cpus: committedCpus, memoryMib: committedMib },
      overcommit: { cpuRatio: ratio(committedCpus, hostCpus), memoryRatio: ratio(committedMib, memoryMib) },
      cgroups: this.cgroups.mode,
    };
  }

  subscribe(listener: (event: ApiEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  // ---- tokens ----

  listTokens(): Token[] {
    return this.store.listTokens().map((t) => ({ id: t.id, name: t.name, role: t.role, createdAt: t.createdAt }));
  }

  createToken(spec: TokenSpec): CreatedToken {
    this.checkOpen();
    // 256 bits from the CSPRNG; only its hash is kept. The fixed prefix keeps a secret from
    // starting with "-" (base64url does, 1 time in 32: `tshv --token -x...` is then read as an
    // option) and lets secret scanners recognize it, as GitHub's "ghp_" does.
    const secret = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const token: Token = { id: randomUUID(), name: spec.name, role: spec.role, createdAt: new Date().toISOString() };
    this.store.insertToken({ ...token, secretSha256: sha256Hex(secret), revoked: false });
    return { token, secret };
  }

  revokeToken(id: string): void {
    this.checkOpen();
    if (!this.store.revokeToken(id)) throw new DaemonError('not-found', `No API token with id ${id}`);
  }

  authenticate(secret: string): Role | undefined {
    if (this.closed || secret === '') return undefined;
    const t = this.store.findTokenBySecretSha256(sha256Hex(secret));
    return t !== undefined && !t.revoked ? t.role : undefined;
  }

  // ---- inside ----

  private checkOpen(): void {
    if (this.closed) throw new TshvError('The daemon is closed');
  }

  private find(ref: string): VmRecordState {
    const vm = this.store.findVmByName(ref) ?? this.store.getVm(ref);
    if (!vm) throw new DaemonError('not-found', `No VM named "${ref}"`);
    return vm;
  }

  /** Looks the VM up and checks that `action` fits its state (409 otherwise). */
  private beginAction(ref: string, action: VmAction): VmRecordState {
    const vm = this.find(ref);
    checkAction(vm.name, action, vm.state);
    if (isLiveState(vm.state) && !this.supervisor.isManaged(vm.id)) {
      // The inventory says a VMM runs but none is managed: the inventory is wrong. Say so.
      const fixed = this.setState(vm, 'crashed', 'The daemon has no VMM process for this VM', { pid: null, limits: null });
      checkAction(fixed.name, action, fixed.state);
      return fixed;
    }
    return vm;
  }

  private async runStateAction(ref: string, action: 'pause' | 'resume', to: VmState): Promise<Vm> {
    this.checkOpen();
    const vm = this.beginAction(ref, action);
    await this.vmmRequest(vm, () => this.supervisor.request(vm.id, { action }));
    const now = this.find(vm.id);
    if (now.state === 'running' || now.state === 'paused') this.setState(now, to, null);
    return this.getVm(vm.id);
  }

  /** A VMM request; its failure (the VMM just died, a timeout) becomes a 409 naming the VM. */
  private async vmmRequest<T>(vm: VmRecordState, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const now = this.store.getVm(vm.id);
      throw new DaemonError('conflict', `VM "${vm.name}" did not take the request (${now?.state ?? 'deleted'}): ${errorMessage(e)}`);
    }
  }

  private setState(
    vm: VmRecordState, to: VmState, reason: string | null,
    extra: Omit<VmRecordPatch, 'state' | 'stateReason'> = {},
  ): VmRecordState {
    const updated = this.store.updateVm(vm.id, { state: to, stateReason: reason, ...extra });
    if (vm.state !== to) {
      const event: ApiEvent = { type: 'vm-state', time: new Date().toISOString(), vm: vm.name, id: vm.id, from: vm.state, to };
      if (reason !== null) event.reason = reason;
      this.emit(event);
    }
    return updated;
  }

  private emit(event: ApiEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (e) {
        this.log(`event listener failed: ${errorMessage(e)}`);
      }
    }
  }

  private toVm(r: VmRecordState): Vm {
    const vm: Vm = {
      id: r.id, name: r.name, spec: r.spec, state: r.state, createdAt: r.createdAt,
      limits: isLiveState(r.state) && r.limits !== undefined
        ? { enforced: r.limits.enforced, detail: r.limits.detail }
        : { enforced: false, detail: this.cgroups.mode === 'none' ? `Not enforced: ${this.cgroups.summary.replace(/^none: /, '')}` : `Not running; applied when it runs (cgroup ${this.cgroups.mode})` },
    };
    if (r.stateReason !== undefined) vm.stateReason = r.stateReason;
    if (r.pid !== undefined && isLiveState(r.state)) vm.pid = r.pid;
    if (r.startedAt !== undefined && isLiveState(r.state)) vm.startedAt = r.startedAt;
    return vm;
  }

  private checkSpecFiles(spec: VmSpec): void {
    const bad = (message: string): never => {
      throw new DaemonError('bad-request', `Cannot create VM "${spec.name}": ${message}`);
    };
    const readable = (what: string, path: string, write = false): void => {
      // The VMM runs elsewhere (cwd $TSHV_HOME) and the client may be remote: no relative paths.
      if (!isAbsolute(path)) bad(`${what} path "${path}" must be absolute (a file on the daemon's host)`);
      let isFile = false;
      try {
        isFile = statSync(path).isFile();
      } catch {
        bad(`${what} ${path} does not exist`);
      }
      if (!isFile) bad(`${what} ${path} is not a regular file`);
      try {
        accessSync(path, write ? constants.R_OK | constants.W_OK : constants.R_OK);
      } catch {
        bad(`${what} ${path} is not ${write ? 'readable and writable' : 'readable'}`);
      }
    };
    // Absent kernel: the default guest, which the VMM finds (or builds) in $TSHV_HOME/guest.
    if (spec.kernel !== undefined) readable('kernel', spec.kernel);
    if (spec.initrd !== undefined) readable('initrd', spec.initrd);
    for (const d of spec.disks ?? []) {
      // The VMM's --disk option is comma-separated.
      if (d.path.includes(',')) bad(`disk ${d.path}: a path with "," cannot be passed to the VMM`);
      if (d.serial !== undefined && d.serial.includes(',')) bad(`disk ${d.path}: serial "${d.serial}" must not contain ","`);
      readable('disk', d.path, !(d.readOnly ?? false));
    }
    const hostMib = Math.floor(totalmem() / (1024 * 1024));
    if ((spec.memoryMib ?? 512) > hostMib) bad(`${spec.memoryMib} MiB of memory is more than the host's ${hostMib} MiB`);
  }

  // ---- supervisor events ----

  private onSpawned(id: string, pid: number, placement: CgroupPlacement): void {
    if (this.closed) return;
    const vm = this.store.getVm(id);
    if (!vm) return;
    this.store.updateVm(id, { pid, limits: { enforced: placement.enforced, detail: placement.detail, cgroupDirs: placement.dirs } });
  }

  private onRunState(id: string, state: VmmRunState): void {
    if (this.closed) return;
    const vm = this.store.getVm(id);
    // A stop in progress stays `stopping` whatever the machine does meanwhile.
    if (!vm || vm.state === state || !['starting', 'running', 'paused'].includes(vm.state)) return;
    this.setState(vm, state, null);
  }

  private onExited(id: string, end: VmmEnd, stopRequested: boolean): void {
    if (this.closed) return;
    const vm = this.store.getVm(id);
    if (!vm) return;
    const to = stateAfterExit(end, stopRequested);
    const reason = stopRequested && end.kind === 'failed' ? `Forced stop: ${end.reason}` : end.reason;
    this.setState(vm, to, reason, { pid: null, limits: null });
    this.log(`VM "${vm.name}": ${to}: ${reason}`);
  }

  /** Re-attaches every VM the inventory says has a VMM; the others stay as they are. */
  private async reconcile(): Promise<void> {
    const live = this.store.listVms().filter((v) => isLiveState(v.state));
    await Promise.all(live.map(async (vm) => {
      const runState = await this.supervisor.adopt({
        id: vm.id, name: vm.name, spec: vm.spec,
        ...(vm.pid !== undefined ? { pid: vm.pid } : {}),
        ...(vm.limits !== undefined ? { cgroupDirs: vm.limits.cgroupDirs } : {}),
      });
      // A stop that the previous daemon did not finish is forgotten: the VM is what its VMM says.
      const now = this.store.getVm(vm.id);
      if (runState !== undefined && now?.state === 'stopping') this.setState(now, runState, 'The daemon restarted during a stop; the stop was not finished');
    }));
  }

  private async autostart(): Promise<void> {
    const due = this.store.listVms().filter((v) => v.spec.autostart === true && (v.state === 'stopped' || v.state === 'crashed'));
    await Promise.all(due.map(async (vm) => {
      try {
        this.log(`VM "${vm.name}": autostart`);
        await this.startVm(vm.id);
      } catch (e) {
        this.log(`VM "${vm.name}": autostart failed: ${errorMessage(e)}`);
      }
    }));
  }
}

/** One daemon per home: an O_EXCL file with our pid; a file whose process is gone is taken over. */
function takeLock(path: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new TshvError(`Cannot create ${path}: ${errorMessage(e)}`);
    }
    let holder = NaN;
    try {
      holder = Number(readFileSync(path, 'utf8').trim());
    } catch {
      // Vanished meanwhile: try again.
    }
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && pidAlive(holder)) {
      throw new TshvError(`Another tshvd (pid ${holder}) already manages ${join(path, '..')}`);
    }
    rmSync(path, { force: true });
  }
  throw new TshvError(`Cannot take the daemon lock ${path}`);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
