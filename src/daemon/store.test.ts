import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { INVENTORY_SCHEMA_VERSION, SqliteInventoryStore, StoreConflictError, type VmRecordState } from './store.js';

function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'tshv-store-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const vm = (name: string, id: string): VmRecordState => ({
  id, name, spec: { name, memoryMib: 256 }, state: 'stopped', createdAt: '2026-01-01T00:00:00.000Z',
});

test('a new database is migrated to the current schema version, in WAL mode', () => {
  withTempDir((dir) => {
    const path = join(dir, 'tshvd.db');
    const store = new SqliteInventoryStore(path);
    assert.equal(store.schemaVersion, INVENTORY_SCHEMA_VERSION);
    store.close();
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      db.close();
    }
  });
});

test('VMs: insert, find by id and name, update, delete; state survives a reopen', () => {
  withTempDir((dir) => {
    const path = join(dir, 'tshvd.db');
    let store = new SqliteInventoryStore(path);
    try {
      store.insertVm(vm('web', '00000000-0000-4000-8000-000000000001'));
      store.insertVm(vm('db', '00000000-0000-4000-8000-000000000002'));
      assert.throws(() => store.insertVm(vm('web', '00000000-0000-4000-8000-000000000003')), StoreConflictError);
      assert.deepEqual(store.listVms().map((v) => v.name), ['db', 'web']);
      assert.equal(store.findVmByName('web')?.id, '00000000-0000-4000-8000-000000000001');
      const updated = store.updateVm('00000000-0000-4000-8000-000000000001', {
        state: 'running', pid: 1234, startedAt: '2026-01-01T00:01:00.000Z',
        limits: { enforced: true, detail: 'cgroup v1', cgroupDirs: ['/x'] },
      });
      assert.equal(updated.state, 'running');
      assert.equal(updated.pid, 1234);
      assert.deepEqual(updated.spec, { name: 'web', memoryMib: 256 });
      store.close();
      store = new SqliteInventoryStore(path);
      const again = store.getVm('00000000-0000-4000-8000-000000000001');
      assert.equal(again?.state, 'running');
      assert.deepEqual(again?.limits, { enforced: true, detail: 'cgroup v1', cgroupDirs: ['/x'] });
      const cleared = store.updateVm('00000000-0000-4000-8000-000000000001', { state: 'crashed', stateReason: 'killed', pid: null, limits: null });
      assert.equal(cleared.pid, undefined);
      assert.equal(cleared.limits, undefined);
      assert.equal(cleared.stateReason, 'killed');
      store.deleteVm('00000000-0000-4000-8000-000000000001');
      assert.equal(store.getVm('00000000-0000-4000-8000-000000000001'), undefined);
      assert.throws(() => store.updateVm('00000000-0000-4000-8000-000000000001', { state: 'stopped' }), StoreConflictError);
    } finally {
      store.close();
    }
  });
});

test('tokens: stored by hash, revoked tokens are not listed', () => {
  const store = new SqliteInventoryStore(':memory:');
  try {
    store.insertToken({ id: 't1', name: 'ci', role: 'operator', secretSha256: 'aa', createdAt: '2026-01-01T00:00:00.000Z', revoked: false });
    store.insertToken({ id: 't2', name: 'web', role: 'viewer', secretSha256: 'bb', createdAt: '2026-01-01T00:00:01.000Z', revoked: false });
    assert.deepEqual(store.listTokens().map((t) => t.id), ['t1', 't2']);
    assert.equal(store.findTokenBySecretSha256('bb')?.role, 'viewer');
    assert.equal(store.revokeToken('t2'), true);
    assert.equal(store.revokeToken('t2'), false);
    assert.equal(store.revokeToken('nope'), false);
    assert.deepEqual(store.listTokens().map((t) => t.id), ['t1']);
    assert.equal(store.findTokenBySecretSha256('bb')?.revoked, true);
  } finally {
    store.close();
  }
});

test('a database from a newer tshv is refused with one clear line', () => {
  withTempDir((dir) => {
    const path = join(dir, 'tshvd.db');
    const db = new Database(path);
    db.pragma(`user_version = ${INVENTORY_SCHEMA_VERSION + 5}`);
    db.close();
    assert.throws(() => new SqliteInventoryStore(path), /schema version \d+ is newer than this tshv/);
  });
});
