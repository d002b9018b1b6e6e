/**
 * Leases: a named right that one process holds at a time, in the `leases`
 * table, until it expires unless renewed. What a lease guards (a phone
 * system's connection, a daily job's turn) is acted on only by its holder.
 *
 *   - acquire takes a lease that is free or expired, or renews one this
 *     process already holds; every take-over makes the fence grow, so a
 *     write made under an older fence can be refused (the stores check the
 *     fence in the same statement as the write: `holdsLease`);
 *   - renew pushes the expiry on, only while this process still holds it
 *     with the same fence;
 *   - release ends it at once (the row stays, with its fence, so the next
 *     take-over still counts up).
 *
 * The holder is a process (its instance id), named by its node: a node that
 * restarts takes its leases anew, after they expire, never by inheriting them.
 *
 * Times are the database's (db-time.ts). The holder's own view is kept with
 * its monotonic clock (LeaseKeeper): a renewal sent at t makes the lease
 * valid here until t + ttl - margin, and the database's expiry is at least
 * t + ttl, so a holder that cannot renew (it lost the database, its
 * statements hang) stops acting at least `margin` before another process can
 * take over: that is the fencing of what it guards.
 */
import { performance } from 'node:perf_hooks';

import type { Logger } from '../logging.ts';
import type { Executor, StoreEngine } from '../store/engine.ts';
import { sql, type Sql } from '../store/sql.ts';
import { dbNow } from './db-time.ts';

export interface Holder {
  /** The node's name. */
  node: string;
  /** The process: a restarted node is another holder. */
  instance: string;
}

export interface Taken {
  fence: number;
  expiresAt: number;
}

/** The statements; times are the database's. */
export class LeaseStore {
  constructor(private readonly store: StoreEngine) {}

  /**
   * Takes the lease if it is free or expired (fence + 1), or renews it when
   * `holder` has it already and `renewOwn` (the fence stays); undefined when
   * another process holds it.
   */
  async acquire(name: string, holder: Holder, ttlMs: number, renewOwn = true, at?: number): Promise<Taken | undefined> {
    // A job's turn may be counted on the job's own clock (a day of the audit retention is a day of its clock).
    const now = at === undefined ? dbNow : sql`CAST(${at} AS BIGINT)`;
    const own = renewOwn ? sql`leases.instance = excluded.instance AND leases.expires_at > excluded.acquired_at` : sql`1 = 0`;
    const row = await this.store.get<{ fence: number; expires_at: number }>(sql`INSERT INTO leases (name, holder, instance, fence, acquired_at, expires_at)
        VALUES (${name}, ${holder.node}, ${holder.instance}, 1, ${now}, ${now} + ${ttlMs})
      ON CONFLICT (name) DO UPDATE SET
        fence = CASE WHEN ${own} THEN leases.fence ELSE leases.fence + 1 END,
        acquired_at = CASE WHEN ${own} THEN leases.acquired_at ELSE excluded.acquired_at END,
        holder = excluded.holder, instance = excluded.instance, expires_at = excluded.expires_at
      WHERE (${own}) OR leases.expires_at <= excluded.acquired_at
      RETURNING fence, expires_at`);
    return row ? { fence: Number(row.fence), expiresAt: Number(row.expires_at) } : undefined;
  }

  /** Pushes the expiry on; false when the lease expired or was taken over meanwhile. */
  async renew(name: string, holder: Holder, fence: number, ttlMs: number): Promise<boolean> {
    return (
      (await this.store.run(sql`UPDATE leases SET expires_at = ${dbNow} + ${ttlMs}
        WHERE name = ${name} AND instance = ${holder.instance} AND fence = ${fence} AND expires_at > ${dbNow}`)) === 1
    );
  }

  /** Ends the lease now, if this process still holds it under `fence`. */
  async release(name: string, holder: Holder, fence: number): Promise<void> {
    await this.store.run(sql`UPDATE leases SET expires_at = ${dbNow} - 1 WHERE name = ${name} AND instance = ${holder.instance} AND fence = ${fence} AND expires_at > ${dbNow}`);
  }

  /** Who holds the lease now (undefined: nobody, or it expired). */
  async holderOf(name: string, ex: Executor = this.store): Promise<{ holder: string; instance: string; fence: number } | undefined> {
    const row = await ex.get<{ holder: string; instance: string; fence: number }>(sql`SELECT holder, instance, fence FROM leases WHERE name = ${name} AND expires_at > ${dbNow}`);
    return row ? { holder: row.holder, instance: row.instance, fence: Number(row.fence) } : undefined;
  }
}

/**
 * A condition for a write's WHERE: this process holds the lease, under this
 * fence, now. A write made with it cannot land after a take-over.
 */
export const holdsLease = (name: string, instance: string, fence: number): Sql =>
  sql`EXISTS (SELECT 1 FROM leases WHERE name = ${name} AND instance = ${instance} AND fence = ${fence} AND expires_at > ${dbNow})`;

export interface LeaseHandlers {
  /** This process holds the lease now (with this fence): start what it guards. */
  onAcquired(fence: number): void;
  /** It no longer does (it could not renew in time, or it released it): stop at once. */
  onLost(): void;
}

export interface LeaseTiming {
  ttlMs: number;
  /** How long before the database's expiry the holder stops acting. */
  marginMs: number;
}

/**
 * Keeps trying to hold one lease for as long as it is wanted: acquires it
 * when it is free, renews it while held (the cluster's tick calls `tick`),
 * and tells its handlers when it is taken and when it is lost. Losing it is
 * decided here, by the monotonic clock, without waiting for the database to
 * answer: a holder whose renewals hang still stops in time.
 */
export class LeaseKeeper {
  private held: { fence: number; validUntil: number } | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private busy = false;
  private stopped = false;
  private lastError = 0;

  constructor(
    readonly name: string,
    private readonly leases: LeaseStore,
    private readonly holder: Holder,
    private readonly timing: LeaseTiming,
    private readonly handlers: LeaseHandlers,
    private readonly log: Logger,
  ) {}

  /** The fence while this process holds the lease (and may act on it), else undefined. */
  get fence(): number | undefined {
    return this.held && performance.now() < this.held.validUntil ? this.held.fence : undefined;
  }

  /** One step: renew what is held, or try to take it. Never throws. */
  async tick(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      const sentAt = performance.now();
      if (this.held) {
        const fence = this.held.fence;
        const renewed = await this.leases.renew(this.name, this.holder, fence, this.timing.ttlMs);
        if (this.stopped || this.held?.fence !== fence) return;
        if (renewed) this.keep(fence, sentAt);
        else this.lose('the lease expired or was taken over');
        return;
      }
      const taken = await this.leases.acquire(this.name, this.holder, this.timing.ttlMs);
      if (!taken) return;
      if (this.stopped) {
        await this.leases.release(this.name, this.holder, taken.fence);
        return;
      }
      this.keep(taken.fence, sentAt);
      this.log.info({ event: 'lease_acquired', lease: this.name, fence: taken.fence }, `took lease ${this.name}`);
      this.handlers.onAcquired(taken.fence);
    } catch (error) {
      // Told once a while, not every 2 s: while the database is away, the deadline drops the lease anyway.
      if (performance.now() - this.lastError > 30_000) {
        this.lastError = performance.now();
        this.log.warn({ err: error, event: 'lease_failed', lease: this.name, held: this.held !== undefined }, `lease ${this.name}: the database did not answer`);
      }
    } finally {
      this.busy = false;
    }
  }

  /** Stops wanting the lease: what it guards is stopped first (onLost), then the lease is released for another. */
  async stop(): Promise<void> {
    this.stopped = true;
    const held = this.held;
    if (held) this.lose('released');
    if (held) await this.leases.release(this.name, this.holder, held.fence).catch(() => undefined);
  }

  private keep(fence: number, sentAt: number): void {
    this.held = { fence, validUntil: sentAt + this.timing.ttlMs - this.timing.marginMs };
    this.watchDeadline(fence);
  }

  /** Drops the lease at its local deadline unless a renewal pushed it on meanwhile. */
  private watchDeadline(fence: number): void {
    clearTimeout(this.deadline);
    if (this.held?.fence !== fence) return;
    const left = this.held.validUntil - performance.now();
    if (left <= 0) return this.lose('it could not be renewed in time');
    // A timer may fire a little early by the monotonic clock: it looks again then.
    this.deadline = setTimeout(() => this.watchDeadline(fence), left + 1);
    this.deadline.unref();
  }

  private lose(why: string): void {
    clearTimeout(this.deadline);
    if (!this.held) return;
    const fence = this.held.fence;
    this.held = undefined;
    const entry = { event: 'lease_lost', lease: this.name, fence, why };
    if (why === 'released') this.log.info(entry, `released lease ${this.name}`);
    else this.log.warn(entry, `lost lease ${this.name}: ${why}; stopping what it guards`);
    try {
      this.handlers.onLost();
    } catch (error) {
      this.log.error({ err: error, event: 'lease_lost_failed', lease: this.name }, 'stopping what a lease guards failed');
    }
  }
}
