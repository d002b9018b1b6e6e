/**
 * A token bucket per API key: `rate` messages per second on average, bursts up
 * to twice that. A request takes one token, and a JSON-RPC batch one per
 * message. Buckets of keys not seen for a minute are dropped, so the table
 * stays as small as the set of active keys.
 *
 * With several nodes the rate is the key's across the cluster, and each node
 * allows its part: the rate divided by the live nodes, read at every take (a
 * node that joins or dies changes the parts within the membership's
 * heartbeat). Counting each message in the database would put a write on
 * every tool call's path; a balancer that spreads requests evenly makes the
 * parts add up to the rate (docs/operations.md says how it is approximated).
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

  /** `liveNodes`: the nodes alive on the database now, this one included (1 without a cluster). */
  constructor(
    private readonly ratePerSecond: number,
    private readonly clock: Clock,
    private readonly liveNodes: () => number = () => 1,
  ) {}

  /** This node's part of the rate, and its bucket's size: twice that, but room for one message at least. */
  private part(): { rate: number; capacity: number } {
    const rate = this.ratePerSecond / Math.max(1, this.liveNodes());
    return { rate, capacity: Math.max(1, rate * 2) };
  }

  /** The most tokens a key may take at once on this node (a full bucket); Infinity with the limit off. */
  get burst(): number {
    return this.ratePerSecond > 0 ? Math.floor(this.part().capacity) : Infinity;
  }

  /** Takes `count` tokens for `key` (all or none), or throws RATE_LIMITED with the seconds to wait. */
  take(key: string, count = 1): void {
    if (this.ratePerSecond <= 0) return;
    const now = this.clock.now();
    const { rate, capacity } = this.part();
    const bucket = this.buckets.get(key) ?? { tokens: capacity, updatedAt: now };
    // A clock that stands still or steps back refills nothing, and never drains.
    const elapsed = Math.max(0, now - bucket.updatedAt);
    bucket.tokens = Math.min(capacity, bucket.tokens + (elapsed / 1000) * rate);
    bucket.updatedAt = Math.max(now, bucket.updatedAt);
    this.buckets.set(key, bucket);
    if (now - this.lastPrune > 60_000) this.prune(now);
    if (bucket.tokens < count) {
      const retryAfter = Math.max(1, Math.ceil((count - bucket.tokens) / rate));
      throw new SwitchboardError('RATE_LIMITED', 'Too many requests for this API key; slow down', { retryAfter });
    }
    bucket.tokens -= count;
  }

  private prune(now: number): void {
    this.lastPrune = now;
    for (const [key, bucket] of this.buckets) if (now - bucket.updatedAt > 60_000) this.buckets.delete(key);
  }
}
