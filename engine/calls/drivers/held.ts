/**
 * A persistent phone-system connection (ari, esl: `connection: 'persistent'`
 * on the factory) held by exactly one node per account: the holder of lease
 * `driver:<account>`. Every node's pool has a HeldDriver for such an
 * account. On the holder it runs the real driver, made when the lease is
 * taken and stopped the moment it is lost (a node that cannot renew in time
 * drops its connection before another may take over, so Asterisk or
 * FreeSWITCH never sees two); on every other node it stands in:
 *
 *   - its health is the holder's, as the holder publishes it (the
 *     driver_health table, refreshed on a notification and every heartbeat:
 *     ConnectionView); with no live holder it is down, and a command fails
 *     at once;
 *   - its send hands the command to the holder (../handoff.ts).
 *
 * Every node wants the lease, so when the holder dies another takes it
 * within the lease's life and connects.
 */
import type { ClusterNode, LeaseHandle } from '../../cluster/cluster.ts';
import { dbNow } from '../../cluster/db-time.ts';
import type { Clock } from '../../clock.ts';
import type { Logger } from '../../logging.ts';
import { maskKnownSecrets } from '../../secrets.ts';
import type { StoreEngine } from '../../store/engine.ts';
import { list, sql } from '../../store/sql.ts';
import { driverLease } from '../handoff.ts';
import type { DriverName } from '../types.ts';
import type { CallControlDriver, DriverHealth, DriverScope, SendRequest, SendResult } from './driver.ts';

export const HEALTH_CHANNEL = 'call_control_health';

/** How a held account's command is sent: by the holder's driver, or handed to it (AcrossNodes). */
export interface HeldSend {
  send(held: HeldDriver, request: SendRequest): Promise<SendResult>;
  register(held: HeldDriver): void;
  unregister(held: HeldDriver): void;
}

export interface HeldDriverDeps {
  accountId: string;
  driver: DriverName;
  keepsCaller: boolean;
  cluster: ClusterNode;
  scope: DriverScope;
  /** Makes the real driver (a broken one that is down with the reason when the factory throws). */
  create(scope: DriverScope): CallControlDriver;
  view: ConnectionView;
  sender: HeldSend;
  log: Logger;
}

export class HeldDriver implements CallControlDriver {
  readonly keepsCaller: boolean;
  private real: CallControlDriver | undefined;
  private stopping: Promise<void> = Promise.resolve();
  private readonly lease: LeaseHandle;
  private readonly timer: NodeJS.Timeout;
  private published: string | undefined;
  private readonly startedAt: number;

  constructor(private readonly deps: HeldDriverDeps) {
    this.keepsCaller = deps.keepsCaller;
    this.startedAt = deps.scope.clock.now();
    deps.view.track(deps.accountId, deps.driver);
    deps.sender.register(this);
    this.lease = deps.cluster.want(driverLease(deps.accountId), { onAcquired: (fence) => this.connect(fence), onLost: () => this.drop() });
    this.timer = setInterval(() => void this.publish(), deps.cluster.timing.heartbeatMs);
    this.timer.unref();
  }

  get accountId(): string {
    return this.deps.accountId;
  }

  get driverName(): DriverName {
    return this.deps.driver;
  }

  /** The lease's fence while this node holds the connection, else undefined. */
  get fence(): number | undefined {
    return this.real ? this.lease.fence : undefined;
  }

  health(): DriverHealth {
    if (this.real && this.lease.fence !== undefined) return this.real.health();
    if (!this.lease.tried) return { state: 'connecting', reason: 'taking the connection to the phone system', since: this.startedAt };
    return this.deps.view.of(this.deps.accountId);
  }

  send(request: SendRequest): Promise<SendResult> {
    return this.deps.sender.send(this, request);
  }

  /** The holder's own send, with the real driver. */
  sendHere(request: SendRequest): Promise<SendResult> {
    if (!this.real) return Promise.resolve({ kind: 'not_sent', reason: 'this node no longer holds the connection to the phone system' });
    return this.real.send(request);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.deps.sender.unregister(this);
    this.deps.view.untrack(this.deps.accountId);
    await this.lease.stop();
    await this.stopping;
  }

  private connect(fence: number): void {
    const { scope, log, accountId, driver } = this.deps;
    // Health changes are published at once, so the other nodes' stand-ins follow within a notification.
    const sink = { ...scope.sink, healthChanged: (health: DriverHealth) => (scope.sink.healthChanged(health), void this.publish()) };
    this.published = undefined;
    this.real = this.deps.create({ ...scope, sink });
    log.info({ event: 'call_control_connection_held', account: accountId, driver, fence }, `this node holds the ${driver} connection of ${accountId}`);
    void this.publish();
  }

  private drop(): void {
    const real = this.real;
    this.real = undefined;
    if (!real) return;
    this.deps.log.warn({ event: 'call_control_connection_dropped', account: this.deps.accountId, driver: this.deps.driver }, `this node no longer holds the ${this.deps.driver} connection of ${this.deps.accountId}; closing it`);
    this.stopping = real.stop().catch((error: unknown) => this.deps.log.warn({ err: error, event: 'call_control_driver_stop_failed', account: this.deps.accountId }, 'stopping a call-control driver failed'));
  }

  /** Writes the real driver's health for the other nodes when it changed (under this lease's fence: a stale holder's word never replaces a newer one's). */
  private async publish(): Promise<void> {
    const fence = this.fence;
    if (fence === undefined || !this.real) return;
    const health = this.real.health();
    const reason = health.reason === null ? null : maskKnownSecrets(health.reason);
    const key = JSON.stringify([fence, health.state, reason, health.since]);
    if (key === this.published) return;
    this.published = key;
    const { cluster, accountId, driver } = this.deps;
    try {
      await cluster.store.run(sql`INSERT INTO driver_health (account_id, driver, holder, fence, state, reason, since, updated_at)
          VALUES (${accountId}, ${driver}, ${cluster.name}, ${fence}, ${health.state}, ${reason}, ${health.since}, ${dbNow})
        ON CONFLICT (account_id) DO UPDATE SET driver = excluded.driver, holder = excluded.holder, fence = excluded.fence, state = excluded.state,
          reason = excluded.reason, since = excluded.since, updated_at = excluded.updated_at
        WHERE driver_health.fence <= excluded.fence`);
      await cluster.store.notify(HEALTH_CHANNEL, accountId);
    } catch (error) {
      this.published = undefined;
      this.deps.log.warn({ err: error, event: 'call_control_health_not_published', account: accountId }, 'the phone-system connection health could not be published to the other nodes');
    }
  }
}

interface ViewRow {
  name: string;
  holder: string;
  fence: number;
  alive: number;
  h_fence: number | null;
  state: DriverHealth['state'] | null;
  reason: string | null;
  since: number | null;
}

/**
 * What this node knows of the connections other nodes hold: per account,
 * the lease's holder and the health it published, read in one query for
 * every tracked account each heartbeat and for one account when its holder
 * announces a change.
 */
export class ConnectionView {
  private readonly tracked = new Map<string, DriverName>();
  private readonly known = new Map<string, DriverHealth>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: StoreEngine,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly heartbeatMs: number,
  ) {}

  track(accountId: string, driver: DriverName): void {
    this.tracked.set(accountId, driver);
    void this.refresh([accountId]);
  }

  untrack(accountId: string): void {
    this.tracked.delete(accountId);
    this.known.delete(accountId);
  }

  of(accountId: string): DriverHealth {
    return this.known.get(accountId) ?? { state: 'connecting', reason: 'looking for the node that holds the connection to the phone system', since: this.clock.now() };
  }

  start(): void {
    this.timer ??= setInterval(() => void this.refresh(), this.heartbeatMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  async refresh(accounts: readonly string[] = [...this.tracked.keys()]): Promise<void> {
    if (!accounts.length) return;
    let rows: ViewRow[];
    try {
      rows = await this.store.all<ViewRow>(sql`SELECT l.name, l.holder, l.fence, CASE WHEN l.expires_at > ${dbNow} THEN 1 ELSE 0 END AS alive,
          h.fence AS h_fence, h.state, h.reason, h.since
        FROM leases l LEFT JOIN driver_health h ON l.name = 'driver:' || h.account_id
        WHERE l.name IN ${list(accounts.map((account) => `driver:${account}`))}`);
    } catch (error) {
      this.log.debug({ err: error, event: 'call_control_view_failed' }, 'could not read which node holds the phone-system connections');
      return;
    }
    const byAccount = new Map(rows.map((row) => [row.name.slice('driver:'.length), row]));
    for (const accountId of accounts) {
      const driver = this.tracked.get(accountId);
      if (!driver) continue;
      this.known.set(accountId, this.healthFrom(accountId, driver, byAccount.get(accountId)));
    }
  }

  private healthFrom(accountId: string, driver: DriverName, row: ViewRow | undefined): DriverHealth {
    const before = this.known.get(accountId);
    const keep = (state: DriverHealth['state'], reason: string): DriverHealth => (before?.state === state && before.reason === reason ? before : { state, reason, since: this.clock.now() });
    if (!row || Number(row.alive) !== 1) return keep('down', `no node holds the ${driver} connection to the phone system now (a node takes it over within seconds when it can)`);
    if (row.h_fence === null || Number(row.h_fence) !== Number(row.fence) || row.state === null) return keep('connecting', `node ${row.holder} has taken over the connection to the phone system and is connecting`);
    return { state: row.state, reason: row.reason, since: Number(row.since) };
  }
}
