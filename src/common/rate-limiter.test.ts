import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter, TokenBucket } from './rate-limiter.js';

test('token bucket: burst up to capacity, then refills at the rate', () => {
  const b = new TokenBucket(1000, 0);
  assert.equal(b.tryConsume(600, 0), true);
  assert.equal(b.tryConsume(600, 0), false);
  assert.equal(b.waitMs(600, 0), 200);
  assert.equal(b.tryConsume(600, 200), true);
});

test('token bucket: zero rate is unlimited; oversized requests wait for a full bucket', () => {
  const u = new TokenBucket(0, 0);
  assert.equal(u.tryConsume(1e12, 0), true);
  const b = new TokenBucket(100, 0);
  assert.equal(b.tryConsume(1000, 0), true); // full bucket lets it through, balance negative
  assert.equal(b.tryConsume(1, 0), false);
  assert.ok(b.waitMs(1000, 0) >= 1000);
});

test('rate limiter: needs both buckets, charges neither when one is short, updates at run time', () => {
  const r = new RateLimiter({ bytesPerSecond: 1000, opsPerSecond: 2 }, 0);
  assert.equal(r.tryConsume(100, 0), true);
  assert.equal(r.tryConsume(100, 0), true);
  assert.equal(r.tryConsume(100, 0), false); // ops exhausted
  assert.equal(r.waitMs(100, 0), 500);
  r.update({}, 0);
  assert.equal(r.unlimited, true);
  assert.equal(r.tryConsume(1e9, 0), true);
});
