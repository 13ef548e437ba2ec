// What the API server (api/server, rank 8) may ask of the daemon (rank 7). The server only
// translates HTTP into these calls and DaemonError codes into statuses; all rules live behind this
// interface (state machine, inventory, supervisor, tokens).

import type { Duplex } from 'node:stream';
import type { ApiEvent, HostInfo } from '../api/schema/common.js';
import type { CreatedToken, Role, Token, TokenSpec } from '../api/schema/token.js';
import type { Vm, VmSpec } from '../api/schema/vm.js';

/** A failed request; `code` picks the HTTP status (bad-request 400, not-found 404, conflict 409, ...). */
export class DaemonError extends Error {
  readonly code: 'bad-request' | 'not-found' | 'conflict' | 'forbidden' | 'unauthorized';
  constructor(code: DaemonError['code'], message: string) {
    super(message);
    this.name = 'DaemonError';
    this.code = code;
  }
}

export interface DaemonService {
  listVms(): Vm[];
  /** `ref` is a name or an id; throws not-found. */
  getVm(ref: string): Vm;
  /** Validated spec in; conflict when the name is taken; bad-request when files are missing. */
  createVm(spec: VmSpec): Vm;
  /** conflict unless stopped or crashed, unless `force` (then force-stops first). */
  deleteVm(ref: string, force: boolean): Promise<void>;
  /** Each action resolves with the VM after the transition it starts (e.g. `starting`/`running`
   *  for start, `stopped` for force-stop), or throws conflict naming the current state. */
  startVm(ref: string): Promise<Vm>;
  stopVm(ref: string, timeoutMs: number): Promise<Vm>;
  forceStopVm(ref: string): Promise<Vm>;
  pauseVm(ref: string): Promise<Vm>;
  resumeVm(ref: string): Promise<Vm>;
  rebootVm(ref: string): Promise<Vm>;
  /** A duplex byte stream to the VM's serial console (scrollback first); conflict unless running or paused. */
  openConsole(ref: string): Promise<Duplex>;
  hostInfo(): HostInfo;
  /** Live events; returns the unsubscribe function. */
  subscribe(listener: (event: ApiEvent) => void): () => void;

  listTokens(): Token[];
  createToken(spec: TokenSpec): CreatedToken;
  /** not-found for an unknown id. */
  revokeToken(id: string): void;
  /** The role of a bearer secret, or undefined when it is not a live token. */
  authenticate(secret: string): Role | undefined;
}
