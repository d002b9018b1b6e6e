/**
 * Deletes audit rows older than the retention setting, at start and then
 * daily. Rows go in chunks, each its own short transaction, with a turn of the
 * event loop between chunks, so a first sweep over months of rows never holds
 * the write side (SQLite's write worker, PostgreSQL's row locks) long enough
 * to delay a tool call's own writes.
 *
 * Nodes sharing a database sweep once per interval across the cluster: a
 * sweep is run by the node that takes the job's turn (the lease
 * `job:audit-retention`, taken for one interval of the job's clock; the
 * others find it taken). Every node tries at its start and then every hour,
 * so the sweep still comes when the node that ran the last one is gone.
 */
import type { Clock } from '../clock.ts';
import type { Logger } from '../logging.ts';
import type { BackgroundJob } from '../vocabulary/jobs.ts';
import type { AuditMetrics } from '../vocabulary/metric-sinks.ts';
import type { AuditLog } from './audit-log.ts';

export const DAY_MS = 86_400_000;
const CHUNK = 2000;

export interface RetentionOptions {
  retentionDays: number;
  intervalMs?: number;
  /** Whether it is this node's turn (Cluster.takeTurn); without it, every sweep is this process's own. */
  turn?: (job: string, periodMs: number, now: number) => Promise<boolean>;
}

/** How often a node of a cluster asks whether the sweep is due (it runs once per interval across the cluster). */
const TURN_CHECK_MS = 3_600_000;

export class AuditRetentionJob implements BackgroundJob {
  readonly name = 'audit-retention';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private stopped = false;

  constructor(
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly metrics: AuditMetrics,
    private readonly options: RetentionOptions,
  ) {}

  start(): void {
    if (this.options.retentionDays === 0) return;
    const interval = this.options.intervalMs ?? DAY_MS;
    const turn = this.options.turn;
    if (!turn) {
      void this.sweep();
      this.timer = setInterval(() => void this.sweep(), interval).unref();
      return;
    }
    const tryTurn = (): void =>
      void turn('audit-retention', interval, this.clock.now()).then(
        (mine) => (mine && !this.stopped ? this.sweep() : undefined),
        (error: unknown) => this.log.warn({ err: error, event: 'audit_retention_failed' }, 'could not tell whether this node runs the audit retention now; it asks again within the hour'),
      );
    tryTurn();
    this.timer = setInterval(tryTurn, Math.min(interval, TURN_CHECK_MS)).unref();
  }

  /** Deletes what is past retention now; a sweep asked for while one runs joins it. */
  sweep(): Promise<number> {
    this.running ??= this.deleteExpired().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  private async deleteExpired(): Promise<number> {
    const cutoff = this.clock.now() - this.options.retentionDays * DAY_MS;
    let deleted = 0;
    try {
      for (;;) {
        const count = await this.audit.deleteBefore(cutoff, CHUNK);
        deleted += count;
        if (count < CHUNK || this.stopped) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      this.log.error({ err: error, event: 'audit_retention_failed' }, 'audit retention sweep failed; it runs again tomorrow');
    }
    this.metrics.auditRowsExpired(deleted);
    this.log.info({ event: 'audit_retention', deleted, before: new Date(cutoff).toISOString() }, 'deleted audit rows past retention');
    return deleted;
  }
}
