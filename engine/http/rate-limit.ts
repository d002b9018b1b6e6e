/**
 * A token bucket per API key: `rate` messages per second on average, bursts up
 * to twice that. A request takes one token, and a JSON-RPC batch one per
 * message. Buckets of keys not seen for a minute are dropped, so the table
 * stays as small as the set of active keys.
 */
import type { Clock } from '../clock.ts';
import { SwitchboardError } from '../errors.ts';

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastPrune = 0;

  constructor(
    private readonly ratePerSecond: number,
    private readonly clock: Clock,
  ) {}

  /** The most tokens a key may take at once (a full bucket); Infinity with the limit off. */
  get burst(): number {
    return this.ratePerSecond > 0 ? this.ratePerSecond * 2 : Infinity;
  }

  /** Takes `count` tokens for `key` (all or none), or throws RATE_LIMITED with the seconds to wait. */
  take(key: string, count = 1): void {
    if (this.ratePerSecond <= 0) return;
    const now = this.clock.now();
    const capacity = this.ratePerSecond * 2;
    const bucket = this.buckets.get(key) ?? { tokens: capacity, updatedAt: now };
    // A clock that stands still or steps back refills nothing, and never drains.
    const elapsed = Math.max(0, now - bucket.updatedAt);
    bucket.tokens = Math.min(capacity, bucket.tokens + (elapsed / 1000) * this.ratePerSecond);
    bucket.updatedAt = Math.max(now, bucket.updatedAt);
    this.buckets.set(key, bucket);
    if (now - this.lastPrune > 60_000) this.prune(now);
    if (bucket.tokens < count) {
      const retryAfter = Math.max(1, Math.ceil((count - bucket.tokens) / this.ratePerSecond));
      throw new SwitchboardError('RATE_LIMITED', 'Too many requests for this API key; slow down', { retryAfter });
    }
    bucket.tokens -= count;
  }

  private prune(now: number): void {
    this.lastPrune = now;
    for (const [key, bucket] of this.buckets) if (now - bucket.updatedAt > 60_000) this.buckets.delete(key);
  }
}
