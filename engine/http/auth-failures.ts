/**
 * Failed authentications, counted per client address. Keys are 192 random
 * bits, so guessing one is hopeless, but without a bound a client could try
 * keys from a leaked list (or an old backup's revoked ones), or a weak metrics
 * token, as fast as the server answers. Each address has a bucket of failures
 * (the limit per minute, refilled steadily); once it is empty, the address is
 * answered 429 for any key that is not in use, without the key being looked at.
 *
 * Keys in use pass an empty bucket: behind a proxy, or a NAT shared with an
 * attacker, every client has the same address, and the voice agents already
 * serving calls through it must keep their tools. The caller decides what "in
 * use" means (a key that verified recently); a key never seen, even a valid
 * one, waits for the bucket to refill.
 *
 * IPv6 clients are counted per /64, the block one host usually holds; counting
 * single addresses would give each attacker 2^64 buckets. The table holds at
 * most `maxAddresses` buckets, full buckets are dropped on a sweep, and when
 * it is full the oldest bucket makes room: memory stays bounded whatever the
 * number of addresses.
 */
import ipaddr from 'ipaddr.js';

import type { Clock } from '../clock.ts';
import { SwitchboardError } from '../errors.ts';

interface Bucket {
  tokens: number;
  updatedAt: number;
  /** Failures taken in advance by attempts whose key is still being looked up. */
  pending: number;
  /** Attempts waiting for those look-ups to end (admitWhenChecked). */
  waiters: (() => void)[];
}

const SWEEP_MS = 60_000;
/** Longest an attempt waits for the look-ups ahead of it before it is judged on what is left (real time: a look-up is). */
const CHECK_WAIT_MS = 5_000;

/** The address failures are counted under: IPv4 as it is (IPv4-mapped IPv6 included), IPv6 by its /64. */
export function addressKey(remoteAddress: string | undefined): string {
  if (!remoteAddress) return 'unknown';
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.process(remoteAddress);
  } catch {
    return remoteAddress.slice(0, 64);
  }
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, 4).map((part) => part.toString(16));
  return `${parts.join(':')}::/64`;
}

export class AuthFailureLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  /**
   * `perMinute` failures from one address per minute at most (bursts up to that many); 0 turns the limit
   * off. `onThrottled` hears of an address that has just used up its failures, once per run of them.
   */
  constructor(
    private readonly perMinute: number,
    private readonly clock: Clock,
    private readonly onThrottled: (address: string) => void = () => undefined,
    private readonly maxAddresses = 10_000,
  ) {}

  get size(): number {
    return this.buckets.size;
  }

  /**
   * Admits one authentication attempt from this address: it takes one
   * failure in advance, given back when the key verifies. Taking it before
   * the key is looked up (an await, a round trip to PostgreSQL) is what keeps
   * attempts sent together from all passing before any has failed. Throws
   * RATE_LIMITED when none is left, unless `inUse` says the presented
   * credential is one in use (it then takes nothing, and counts only if it
   * fails after all). Call the returned function with the outcome.
   */
  admit(remoteAddress: string | undefined, inUse: () => boolean): (verified: boolean) => void {
    if (this.perMinute <= 0) return () => undefined;
    const now = this.clock.now();
    const bucket = this.bucketOf(addressKey(remoteAddress), now);
    const tokens = this.refilled(bucket, now);
    if (tokens < 1) {
      if (inUse()) return (verified) => void (verified || this.failed(remoteAddress));
      const retryAfter = Math.max(1, Math.ceil(((1 - tokens) * 60) / this.perMinute));
      throw new SwitchboardError('RATE_LIMITED', 'Too many failed authentications from this address; retry later with a valid key', { retryAfter });
    }
    bucket.tokens = tokens - 1;
    bucket.updatedAt = Math.max(now, bucket.updatedAt);
    bucket.pending += 1;
    return (verified) => {
      bucket.pending -= 1;
      if (verified) bucket.tokens = Math.min(this.perMinute, bucket.tokens + 1);
      else if (bucket.tokens < 1 && tokens >= 1) this.onThrottled(addressKey(remoteAddress));
      for (const wake of bucket.waiters.splice(0)) wake();
    };
  }

  /**
   * admit for an attempt whose key is looked up asynchronously. When the
   * address's failures are used up only by attempts still being checked,
   * it waits for them rather than refusing: a voice bridge that opens fifty
   * calls at once with a key this server has not verified yet gets fifty
   * answers, while guesses sent together still pass at most as many at a
   * time as the address has failures left.
   */
  async admitWhenChecked(remoteAddress: string | undefined, inUse: () => boolean): Promise<(verified: boolean) => void> {
    if (this.perMinute <= 0) return () => undefined;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), CHECK_WAIT_MS)));
    try {
      for (let waitedLong = false; ; ) {
        const now = this.clock.now();
        const bucket = this.bucketOf(addressKey(remoteAddress), now);
        if (waitedLong || this.refilled(bucket, now) >= 1 || bucket.pending === 0 || inUse()) return this.admit(remoteAddress, inUse);
        const woken = new Promise<'woken'>((resolve) => bucket.waiters.push(() => resolve('woken')));
        waitedLong = (await Promise.race([woken, late])) === 'late';
      }
    } finally {
      clearTimeout(timer);
    }
  }

  private bucketOf(key: string, now: number): Bucket {
    if (now - this.lastSweep >= SWEEP_MS) this.sweep(now);
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxAddresses) this.buckets.delete(this.buckets.keys().next().value as string);
      bucket = { tokens: this.perMinute, updatedAt: now, pending: 0, waiters: [] };
      this.buckets.set(key, bucket);
    }
    return bucket;
  }

  /** Counts one failed authentication from this address. */
  failed(remoteAddress: string | undefined): void {
    if (this.perMinute <= 0) return;
    const now = this.clock.now();
    const key = addressKey(remoteAddress);
    const bucket = this.bucketOf(key, now);
    const before = this.refilled(bucket, now);
    bucket.tokens = Math.max(0, before - 1);
    bucket.updatedAt = Math.max(now, bucket.updatedAt);
    if (before >= 1 && bucket.tokens < 1) this.onThrottled(key);
  }

  private refilled(bucket: Bucket, now: number): number {
    // A clock that stands still or steps back refills nothing.
    const elapsed = Math.max(0, now - bucket.updatedAt);
    return Math.min(this.perMinute, bucket.tokens + (elapsed / 60_000) * this.perMinute);
  }

  /** Drops buckets that have refilled: they hold nothing a new bucket would not. */
  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) if (bucket.pending === 0 && this.refilled(bucket, now) >= this.perMinute) this.buckets.delete(key);
  }
}
