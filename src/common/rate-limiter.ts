// Token buckets for I/O rate limits (issue 4 §3: bytes/s and operations/s per disk and per NIC).
// A bucket holds at most `capacity` tokens and refills continuously at `refillPerSecond`; an I/O
// proceeds when it can take its tokens, otherwise the device waits `waitMs()` and retries. Time is
// passed in by the caller (milliseconds, any monotonic origin) so that the limiter has no clock
// of its own and tests are deterministic. Layer 0: no node:* imports.

/** A single token bucket; `refillPerSecond` 0 means unlimited. */
export class TokenBucket {
  private tokens: number;
  private lastMs: number;
  private capacity: number;
  private refillPerSecond: number;

  /** `capacity` defaults to one second's worth of tokens (the burst a guest may take at once). */
  constructor(refillPerSecond: number, nowMs: number, capacity = refillPerSecond) {
    this.refillPerSecond = 0;
    this.capacity = 0;
    this.tokens = 0;
    this.lastMs = nowMs;
    this.update(refillPerSecond, nowMs, capacity);
  }

  get unlimited(): boolean {
    return this.refillPerSecond === 0;
  }

  /** Changes the rate at run time; the bucket starts full at the new capacity. */
  update(refillPerSecond: number, nowMs: number, capacity = refillPerSecond): void {
    if (!Number.isFinite(refillPerSecond) || refillPerSecond < 0) throw new RangeError(`Invalid rate ${refillPerSecond}`);
    if (!Number.isFinite(capacity) || capacity < 0) throw new RangeError(`Invalid bucket capacity ${capacity}`);
    this.refillPerSecond = refillPerSecond;
    this.capacity = Math.max(capacity, 1);
    this.tokens = this.capacity;
    this.lastMs = nowMs;
  }

  private refill(nowMs: number): void {
    const elapsedMs = nowMs - this.lastMs;
    if (elapsedMs > 0) {
      this.tokens = Math.min(this.capacity, this.tokens + (elapsedMs * this.refillPerSecond) / 1000);
      this.lastMs = nowMs;
    }
  }

  /**
   * Takes `n` tokens when available. A request larger than the whole bucket may proceed once the
   * bucket is full (the balance goes negative), so that it is delayed, never starved.
   */
  tryConsume(n: number, nowMs: number): boolean {
    if (this.refillPerSecond === 0) return true;
    this.refill(nowMs);
    if (this.tokens >= n || this.tokens >= this.capacity) {
      this.tokens -= n;
      return true;
    }
    return false;
  }

  /** Milliseconds until `n` tokens (or a full bucket) will be available; 0 when they are now. */
  waitMs(n: number, nowMs: number): number {
    if (this.refillPerSecond === 0) return 0;
    this.refill(nowMs);
    const need = Math.min(n, this.capacity) - this.tokens;
    if (need <= 0) return 0;
    return Math.ceil((need * 1000) / this.refillPerSecond);
  }
}

export interface RateLimitConfig {
  /** Bytes per second; 0 or absent: unlimited. */
  bytesPerSecond?: number;
  /** Operations per second; 0 or absent: unlimited. */
  opsPerSecond?: number;
}

/** A bytes/s bucket and an ops/s bucket; an I/O needs both. */
export class RateLimiter {
  private readonly bytes: TokenBucket;
  private readonly ops: TokenBucket;

  constructor(config: RateLimitConfig, nowMs: number) {
    this.bytes = new TokenBucket(config.bytesPerSecond ?? 0, nowMs);
    this.ops = new TokenBucket(config.opsPerSecond ?? 0, nowMs);
  }

  get unlimited(): boolean {
    return this.bytes.unlimited && this.ops.unlimited;
  }

  /** Changes the limits at run time (issue 4 §3: "later changeable at run time"). */
  update(config: RateLimitConfig, nowMs: number): void {
    this.bytes.update(config.bytesPerSecond ?? 0, nowMs);
    this.ops.update(config.opsPerSecond ?? 0, nowMs);
  }

  /**
   * Takes one operation and `byteCount` bytes, or nothing: when either bucket is short, neither
   * is charged and the caller retries after `waitMs()`.
   */
  tryConsume(byteCount: number, nowMs: number): boolean {
    if (this.unlimited) return true;
    if (this.ops.waitMs(1, nowMs) > 0 || this.bytes.waitMs(byteCount, nowMs) > 0) return false;
    this.ops.tryConsume(1, nowMs);
    this.bytes.tryConsume(byteCount, nowMs);
    return true;
  }

  waitMs(byteCount: number, nowMs: number): number {
    return Math.max(this.ops.waitMs(1, nowMs), this.bytes.waitMs(byteCount, nowMs));
  }
}
