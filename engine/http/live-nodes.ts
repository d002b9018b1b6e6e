/**
 * How many nodes are alive, for the limits that are the cluster's rather than
 * one node's: the per-key rate and the per-account and per-key session shares,
 * of which each node allows its part (the limit divided by this count).
 *
 * Those limits are checked on every request, so they read a number kept here,
 * never the database: the count is read from the cluster's membership (the
 * `nodes` table: heartbeat under 10 s old) once at start and then every
 * heartbeat. A read that fails (the database is away) keeps the last count; a
 * count of nothing (a row not yet visible) is taken as this node alone.
 */
import type { Logger } from '../logging.ts';

export class LiveNodeCount {
  private count = 1;
  private timer: NodeJS.Timeout | undefined;
  private failing = false;

  constructor(
    private readonly read: () => Promise<number>,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  /** Live nodes, this one included: 1 at least. */
  get(): number {
    return this.count;
  }

  /** Reads the count once, then every interval until stopped. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async refresh(): Promise<void> {
    try {
      const count = Math.max(1, await this.read());
      if (count !== this.count) this.log.info({ event: 'live_nodes', nodes: count }, `${count} live node${count === 1 ? '' : 's'}: the rate limit and session shares are divided among them`);
      this.count = count;
      this.failing = false;
    } catch (error) {
      // Once per spell: the heartbeat's own warnings say the database is away.
      if (!this.failing) this.log.warn({ err: error, event: 'live_nodes_unread', nodes: this.count }, `could not count the live nodes; the limits stay divided by ${this.count}`);
      this.failing = true;
    }
  }
}
