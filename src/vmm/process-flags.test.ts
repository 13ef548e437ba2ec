import assert from 'node:assert/strict';
import { test } from 'node:test';
import { v8PoolSize, vmmNodeFlags } from './process-flags.js';

test('process flags: one core is left to the vCPU, at least one worker, at most Node\'s four', () => {
  assert.equal(v8PoolSize(1), 1);
  assert.equal(v8PoolSize(2), 1);
  assert.equal(v8PoolSize(3), 2);
  assert.equal(v8PoolSize(5), 4);
  assert.equal(v8PoolSize(64), 4);
  assert.deepEqual(vmmNodeFlags(2), ['--v8-pool-size=1']);
});
