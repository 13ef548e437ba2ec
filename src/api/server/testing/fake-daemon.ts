// An in-memory DaemonService for the server, client and CLI tests: no VMM processes, a console that
// plays back a scrollback and echoes what is typed, the lifecycle rules of the real daemon in short.

import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Duplex } from 'node:stream';
import type { ApiEvent, HostInfo } from '../../schema/common.js';
import type { CreatedToken, Role, Token, TokenSpec } from '../../schema/token.js';
import type { Vm, VmSpec, VmState } from '../../schema/vm.js';
import { DaemonError, type DaemonService } from '../../../daemon/service.js';

export const FAKE_CONSOLE_SCROLLBACK = 'tshv-guest: ready\r\nroot@tshv:~# ';

const FITS: Readonly<Record<string, readonly VmState[]>> = {
  start: ['stopped', 'crashed'],
  stop: ['running', 'paused'],
  'force-stop': ['running', 'paused', 'starting', 'stopping'],
  pause: ['running'],
  resume: ['paused'],
  reboot: ['running'],
  delete: ['stopped', 'crashed'],
  console: ['running', 'paused'],
};

export class FakeDaemon implements DaemonService {
  readonly vms = new Map<string, Vm>();
  private readonly tokens = new Map<string, { token: Token; hash: string }>();
  private readonly listeners = new Set<(event: ApiEvent) => void>();
  /** Open console streams (tests check that detaching ends them). */
  readonly consoles = new Set<Duplex>();
  /** Bytes typed into consoles, per VM name. */
  readonly typed = new Map<string, string>();
  /** Set to make the next call throw a plain Error (a daemon bug: the server must say 500). */
  failNext = false;

  private find(ref: string): Vm {
    this.maybeFail();
    for (const vm of this.vms.values()) if (vm.name === ref || vm.id === ref) return vm;
    throw new DaemonError('not-found', `VM "${ref}" not found`);
  }

  private maybeFail(): void {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('simulated daemon bug');
    }
  }

  private emit(event: ApiEvent): void {
    for (const l of this.listeners) l(event);
  }

  private transition(ref: string, action: string, to: VmState): Vm {
    const vm = this.find(ref);
    if (!(FITS[action] ?? []).includes(vm.state)) throw new DaemonError('conflict', `Cannot ${action} VM "${vm.name}": it is ${vm.state}`);
    const from = vm.state;
    vm.state = to;
    if (to === 'running' && from !== 'paused' && from !== 'running') {
      vm.pid = 4242;
      vm.startedAt = new Date().toISOString();
    }
    if (to === 'stopped') {
      delete vm.pid;
      delete vm.startedAt;
    }
    if (from !== to) this.emit({ type: 'vm-state', time: new Date().toISOString(), vm: vm.name, id: vm.id, from, to });
    return structuredClone(vm);
  }

  listVms(): Vm[] {
    this.maybeFail();
    return [...this.vms.values()].map((v) => structuredClone(v));
  }

  getVm(ref: string): Vm {
    return structuredClone(this.find(ref));
  }

  createVm(spec: VmSpec): Vm {
    this.maybeFail();
    if ([...this.vms.values()].some((v) => v.name === spec.name)) throw new DaemonError('conflict', `VM "${spec.name}" already exists`);
    if (spec.kernel === '/nonexistent') throw new DaemonError('bad-request', `Cannot use kernel ${spec.kernel}: it does not exist`);
    const vm: Vm = {
      id: randomUUID(), name: spec.name, spec: structuredClone(spec), state: 'stopped',
      createdAt: new Date().toISOString(), limits: { enforced: false, detail: 'fake daemon: no cgroups' },
    };
    this.vms.set(vm.id, vm);
    this.emit({ type: 'vm-created', time: vm.createdAt, vm: vm.name, id: vm.id });
    return structuredClone(vm);
  }

  deleteVm(ref: string, force: boolean): Promise<void> {
    const vm = this.find(ref);
    if (!force) this.transition(ref, 'delete', vm.state);
    this.vms.delete(vm.id);
    this.emit({ type: 'vm-deleted', time: new Date().toISOString(), vm: vm.name, id: vm.id });
    return Promise.resolve();
  }

  startVm(ref: string): Promise<Vm> { return Promise.resolve(this.transition(ref, 'start', 'running')); }
  stopVm(ref: string, _timeoutMs: number): Promise<Vm> { return Promise.resolve(this.transition(ref, 'stop', 'stopped')); }
  forceStopVm(ref: string): Promise<Vm> { return Promise.resolve(this.transition(ref, 'force-stop', 'stopped')); }
  pauseVm(ref: string): Promise<Vm> { return Promise.resolve(this.transition(ref, 'pause', 'paused')); }
  resumeVm(ref: string): Promise<Vm> { return Promise.resolve(this.transition(ref, 'resume', 'running')); }
  rebootVm(ref: string): Promise<Vm> { return Promise.resolve(this.transition(ref, 'reboot', 'running')); }

  openConsole(ref: string): Promise<Duplex> {
    const vm = this.find(ref);
    if (!(FITS['console'] ?? []).includes(vm.state)) return Promise.reject(new DaemonError('conflict', `Cannot attach to the console of VM "${vm.name}": it is ${vm.state}`));
    const consoles = this.consoles;
    const typed = this.typed;
    const stream: Duplex = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, done) {
        const text = chunk.toString('latin1');
        typed.set(vm.name, (typed.get(vm.name) ?? '') + text);
        this.push(Buffer.from(`echo:${text}`, 'latin1'));
        done();
      },
      final(done) {
        this.push(null);
        done();
      },
      destroy(err, done) {
        consoles.delete(stream);
        done(err);
      },
    });
    consoles.add(stream);
    stream.push(Buffer.from(FAKE_CONSOLE_SCROLLBACK, 'latin1'));
    return Promise.resolve(stream);
  }

  hostInfo(): HostInfo {
    this.maybeFail();
    const running = [...this.vms.values()].filter((v) => v.state === 'running' || v.state === 'paused');
    const cpus = running.reduce((n, v) => n + (v.spec.cpus ?? 1), 0);
    const mem = running.reduce((n, v) => n + (v.spec.memoryMib ?? 512), 0);
    return {
      hostname: 'fakehost', version: '0.1.0', cpus: 2, memoryMib: 4096, memoryFreeMib: 2048,
      vms: { defined: this.vms.size, running: running.length },
      committed: { cpus, memoryMib: mem },
      overcommit: { cpuRatio: cpus / 2, memoryRatio: mem / 4096 },
      cgroups: 'none',
    };
  }

  subscribe(listener: (event: ApiEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  listTokens(): Token[] {
    return [...this.tokens.values()].map((t) => structuredClone(t.token));
  }

  createToken(spec: TokenSpec): CreatedToken {
    // Prefixed as the daemon's secrets are (daemon.ts TOKEN_PREFIX): a bare base64url secret
    // starts with "-" 1 time in 32, and `tshv --token -x...` then reads it as an option (the CLI
    // tests failed that way now and then).
    const secret = `tshv_${randomBytes(32).toString('base64url')}`;
    const token: Token = { id: randomUUID(), name: spec.name, role: spec.role, createdAt: new Date().toISOString() };
    this.tokens.set(token.id, { token, hash: createHash('sha256').update(secret).digest('hex') });
    return { token: structuredClone(token), secret };
  }

  revokeToken(id: string): void {
    if (!this.tokens.delete(id)) throw new DaemonError('not-found', `Token ${id} not found`);
  }

  authenticate(secret: string): Role | undefined {
    const hash = createHash('sha256').update(secret).digest('hex');
    for (const t of this.tokens.values()) if (t.hash === hash) return t.token.role;
    return undefined;
  }
}
