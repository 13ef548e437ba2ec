// The daemon's inventory: VMs and API tokens. `InventoryStore` is the whole interface the daemon
// uses, so that a distributed store (etcd, ROADMAP "Cluster") can replace SQLite later; every call
// is synchronous and atomic on its own.
//
// SQLite (better-sqlite3) at $TSHV_HOME/tshvd.db, WAL mode so readers never block the writer.
// The schema is versioned with PRAGMA user_version: MIGRATIONS[i] takes version i to i + 1, run in
// one transaction each; a database newer than this code is refused rather than guessed at.

import Database from 'better-sqlite3';
import type { Role } from '../api/schema/token.js';
import type { VmSpec, VmState } from '../api/schema/vm.js';
import { TshvError, errorMessage } from '../common/errors.js';

/** How the VM's CPU and memory limits are applied (Vm.limits), and the cgroup dirs to remove later. */
export interface VmLimitsState {
  enforced: boolean;
  detail: string;
  /** cgroup directories made for the running VMM (removed when it ends). */
  cgroupDirs: string[];
}

/** One VM as stored (shared/STYLE.md: `FooState` is what persists). */
export interface VmRecordState {
  id: string;
  name: string;
  spec: VmSpec;
  state: VmState;
  stateReason?: string;
  /** The VMM process while one exists. */
  pid?: number;
  startedAt?: string;
  createdAt: string;
  limits?: VmLimitsState;
}

/** Fields that change over a VM's life; `null` clears an optional field. */
export interface VmRecordPatch {
  state?: VmState;
  stateReason?: string | null;
  pid?: number | null;
  startedAt?: string | null;
  limits?: VmLimitsState | null;
}

export interface TokenRecordState {
  id: string;
  name: string;
  role: Role;
  /** Lowercase hex SHA-256 of the secret; the secret itself is never stored. */
  secretSha256: string;
  createdAt: string;
  revoked: boolean;
}

export interface InventoryStore {
  listVms(): VmRecordState[];
  getVm(id: string): VmRecordState | undefined;
  findVmByName(name: string): VmRecordState | undefined;
  /** Throws StoreConflictError when the name is taken. */
  insertVm(vm: VmRecordState): void;
  updateVm(id: string, patch: VmRecordPatch): VmRecordState;
  deleteVm(id: string): void;

  /** Live (not revoked) tokens. */
  listTokens(): TokenRecordState[];
  insertToken(token: TokenRecordState): void;
  findTokenBySecretSha256(sha256Hex: string): TokenRecordState | undefined;
  /** Returns false when no live token has that id. */
  revokeToken(id: string): boolean;

  close(): void;
}

export class StoreConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreConflictError';
  }
}

export const INVENTORY_DB_FILE = 'tshvd.db';

/** MIGRATIONS[i] upgrades user_version i to i + 1. Append only; never edit a shipped one. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE vms (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     spec TEXT NOT NULL,
     state TEXT NOT NULL,
     state_reason TEXT,
     pid INTEGER,
     started_at TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     limits TEXT
   );
   CREATE TABLE tokens (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
     secret_sha256 TEXT NOT NULL UNIQUE,
     created_at TEXT NOT NULL,
     revoked INTEGER NOT NULL DEFAULT 0
   );`,
];

export const INVENTORY_SCHEMA_VERSION = MIGRATIONS.length;

interface VmRow {
  id: string;
  name: string;
  spec: string;
  state: string;
  state_reason: string | null;
  pid: number | null;
  started_at: string | null;
  created_at: string;
  limits: string | null;
}

interface TokenRow {
  id: string;
  name: string;
  role: string;
  secret_sha256: string;
  created_at: string;
  revoked: number;
}

function vmFromRow(row: VmRow): VmRecordState {
  const vm: VmRecordState = {
    id: row.id,
    name: row.name,
    spec: JSON.parse(row.spec) as VmSpec,
    state: row.state as VmState,
    createdAt: row.created_at,
  };
  if (row.state_reason !== null) vm.stateReason = row.state_reason;
  if (row.pid !== null) vm.pid = row.pid;
  if (row.started_at !== null) vm.startedAt = row.started_at;
  if (row.limits !== null) vm.limits = JSON.parse(row.limits) as VmLimitsState;
  return vm;
}

function tokenFromRow(row: TokenRow): TokenRecordState {
  return {
    id: row.id,
    name: row.name,
    role: row.role as Role,
    secretSha256: row.secret_sha256,
    createdAt: row.created_at,
    revoked: row.revoked !== 0,
  };
}

export class SqliteInventoryStore implements InventoryStore {
  private readonly db: Database.Database;

  /** Opens (creating and migrating) the database at `path`; ':memory:' for tests. */
  constructor(path: string) {
    try {
      this.db = new Database(path);
    } catch (e) {
      throw new TshvError(`Cannot open the inventory ${path}: ${errorMessage(e)}`);
    }
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('foreign_keys = ON');
      // A second daemon process (or the CLI reading) waits for a write lock instead of failing.
      this.db.pragma('busy_timeout = 5000');
      this.migrate(path);
    } catch (e) {
      this.db.close();
      throw e;
    }
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  private migrate(path: string): void {
    const version = this.schemaVersion;
    if (version > MIGRATIONS.length) {
      throw new TshvError(`Cannot open the inventory ${path}: its schema version ${version} is newer than this tshv (${MIGRATIONS.length})`);
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  listVms(): VmRecordState[] {
    return (this.db.prepare('SELECT * FROM vms ORDER BY name').all() as VmRow[]).map(vmFromRow);
  }

  getVm(id: string): VmRecordState | undefined {
    const row = this.db.prepare('SELECT * FROM vms WHERE id = ?').get(id) as VmRow | undefined;
    return row ? vmFromRow(row) : undefined;
  }

  findVmByName(name: string): VmRecordState | undefined {
    const row = this.db.prepare('SELECT * FROM vms WHERE name = ?').get(name) as VmRow | undefined;
    return row ? vmFromRow(row) : undefined;
  }

  insertVm(vm: VmRecordState): void {
    try {
      this.db.prepare(
        `INSERT INTO vms (id, name, spec, state, state_reason, pid, started_at, created_at, updated_at, limits)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        vm.id, vm.name, JSON.stringify(vm.spec), vm.state, vm.stateReason ?? null, vm.pid ?? null,
        vm.startedAt ?? null, vm.createdAt, new Date().toISOString(), vm.limits ? JSON.stringify(vm.limits) : null,
      );
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE' || (e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new StoreConflictError(`A VM named "${vm.name}" already exists`);
      }
      throw e;
    }
  }

  updateVm(id: string, patch: VmRecordPatch): VmRecordState {
    const sets: string[] = ['updated_at = ?'];
    const values: unknown[] = [new Date().toISOString()];
    const set = (column: string, value: unknown): void => {
      sets.push(`${column} = ?`);
      values.push(value);
    };
    if (patch.state !== undefined) set('state', patch.state);
    if (patch.stateReason !== undefined) set('state_reason', patch.stateReason);
    if (patch.pid !== undefined) set('pid', patch.pid);
    if (patch.startedAt !== undefined) set('started_at', patch.startedAt);
    if (patch.limits !== undefined) set('limits', patch.limits === null ? null : JSON.stringify(patch.limits));
    values.push(id);
    const result = this.db.prepare(`UPDATE vms SET ${sets.join(', ')} WHERE id = ?`).run(...values);
    const vm = result.changes === 1 ? this.getVm(id) : undefined;
    if (!vm) throw new StoreConflictError(`VM ${id} is not in the inventory`);
    return vm;
  }

  deleteVm(id: string): void {
    this.db.prepare('DELETE FROM vms WHERE id = ?').run(id);
  }

  listTokens(): TokenRecordState[] {
    return (this.db.prepare('SELECT * FROM tokens WHERE revoked = 0 ORDER BY created_at, name').all() as TokenRow[]).map(tokenFromRow);
  }

  insertToken(token: TokenRecordState): void {
    this.db.prepare('INSERT INTO tokens (id, name, role, secret_sha256, created_at, revoked) VALUES (?, ?, ?, ?, ?, ?)')
      .run(token.id, token.name, token.role, token.secretSha256, token.createdAt, token.revoked ? 1 : 0);
  }

  findTokenBySecretSha256(sha256Hex: string): TokenRecordState | undefined {
    const row = this.db.prepare('SELECT * FROM tokens WHERE secret_sha256 = ?').get(sha256Hex) as TokenRow | undefined;
    return row ? tokenFromRow(row) : undefined;
  }

  revokeToken(id: string): boolean {
    return this.db.prepare('UPDATE tokens SET revoked = 1 WHERE id = ? AND revoked = 0').run(id).changes === 1;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
