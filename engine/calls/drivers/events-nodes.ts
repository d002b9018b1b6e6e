/**
 * The events driver across nodes: a PBX integration's call-events stream
 * may be open on any node behind the load balancer, and a tool on any node
 * may queue a command.
 *
 *   - A command queued on one node is announced on `call_events_publish`;
 *     every other node writes it to its own streams of the account (the
 *     store marks it delivered once, and the first acknowledgement, on any
 *     node, wins; the verdict reaches the waiting tool through the
 *     settled-commands notification).
 *   - Each node keeps a row per account in `event_streams` (how many streams
 *     it has open, since when, when its last one closed), rewritten as they
 *     open and close and announced on `call_events_streams`; rows count while
 *     their node is alive. So the driver is up on every node while any live
 *     node has a stream of the account, and in its reconnect grace while one
 *     closed moments ago.
 *   - After this node's notification connection comes back, its streams are
 *     sent whatever is pending that they have not had.
 */
import type { ClusterNode } from '../../cluster/cluster.ts';
import { dbNow } from '../../cluster/db-time.ts';
import type { Logger } from '../../logging.ts';
import { sql } from '../../store/sql.ts';
import type { CallStore } from '../store.ts';
import type { CommandRecord } from '../types.ts';
import { RECONNECT_GRACE_MS, type EventStreams, type RemoteStreams } from './events.ts';

export const PUBLISH_CHANNEL = 'call_events_publish';
export const STREAMS_CHANNEL = 'call_events_streams';

interface View {
  streams: number;
  openSince: number | null;
  reconnecting: boolean;
}

export class EventsAcrossNodes implements RemoteStreams {
  private known = new Map<string, View>();
  private readonly writes = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly cluster: ClusterNode,
    private readonly streams: EventStreams,
    private readonly calls: CallStore,
    private readonly log: Logger,
  ) {}

  view(accountId: string): View | undefined {
    return this.known.get(accountId);
  }

  publish(command: CommandRecord): void {
    const payload = JSON.stringify({ account: command.accountId, command: command.id, from: this.cluster.instance });
    this.cluster.store.notify(PUBLISH_CHANNEL, payload).catch((error: unknown) => {
      // The stream of another node then gets it at its next reconnect (the command stays pending and undelivered).
      this.log.warn({ err: error, event: 'call_events_publish_failed', command: command.id }, 'other nodes were not told of a queued command');
    });
  }

  /** Starts following the other nodes' streams and telling them of this node's; resolves with a function that stops. */
  async listen(): Promise<() => Promise<void>> {
    const { store, name, instance } = this.cluster;
    // Rows a previous process of this node left behind are not this one's streams.
    await store.run(sql`DELETE FROM event_streams WHERE node = ${name} AND instance <> ${instance}`).catch(() => undefined);
    // One after another: they share the one notification connection.
    const stops = [await store.listen(PUBLISH_CHANNEL, (payload) => this.onPublished(payload)), await store.listen(STREAMS_CHANNEL, () => void this.refresh())];
    const unobserve = this.streams.observe((accountId) => this.write(accountId));
    let stopped = false;
    store.onReconnect(() => {
      if (stopped) return;
      void this.refresh();
      void this.streams.catchUp();
    });
    this.timer = setInterval(() => void this.refresh(), this.cluster.timing.heartbeatMs);
    this.timer.unref();
    void this.refresh();
    return async () => {
      stopped = true;
      clearInterval(this.timer);
      unobserve();
      for (const stop of stops) await stop();
      await Promise.all([...this.writes.values()]);
      await store.run(sql`DELETE FROM event_streams WHERE node = ${name} AND instance = ${instance}`).catch(() => undefined);
      await store.notify(STREAMS_CHANNEL, name).catch(() => undefined);
    };
  }

  private onPublished(payload: string): void {
    let published: { account?: unknown; command?: unknown; from?: unknown };
    try {
      published = JSON.parse(payload) as typeof published;
    } catch {
      return;
    }
    const { account, command: id, from } = published;
    if (from === this.cluster.instance || typeof account !== 'string' || typeof id !== 'number' || !this.streams.count(account)) return;
    void (async () => {
      const command = await this.calls.command(id);
      if (command?.accountId === account && command.status === 'pending') await this.streams.publish(command);
    })().catch((error: unknown) => this.log.warn({ err: error, event: 'call_events_publish_failed', command: id }, 'a command queued on another node could not be sent on this node\'s streams'));
  }

  /** This node's row of the account, as its streams are now; written one after another per account. */
  private write(accountId: string): void {
    const { store, name, instance } = this.cluster;
    const written = (this.writes.get(accountId) ?? Promise.resolve())
      .then(async () => {
        const count = this.streams.count(accountId);
        const openSince = this.streams.openSince(accountId) ?? null;
        const closedAt = count === 0 ? dbNow : sql`NULL`;
        await store.run(sql`INSERT INTO event_streams (node, instance, account_id, streams, open_since, closed_at)
            VALUES (${name}, ${instance}, ${accountId}, ${count}, ${openSince}, ${closedAt})
          ON CONFLICT (node, account_id) DO UPDATE SET instance = excluded.instance, streams = excluded.streams, open_since = excluded.open_since, closed_at = excluded.closed_at`);
        await store.notify(STREAMS_CHANNEL, accountId);
      })
      .catch((error: unknown) => this.log.warn({ err: error, event: 'call_events_streams_not_shared', account: accountId }, 'other nodes were not told of this node\'s call-events streams; they read them again at their next heartbeat'));
    this.writes.set(accountId, written);
    void written.then(() => {
      if (this.writes.get(accountId) === written) this.writes.delete(accountId);
    });
  }

  /** Reads the other live nodes' streams, per account. */
  private async refresh(): Promise<void> {
    const { store, name, timing } = this.cluster;
    try {
      const rows = await store.all<{ account_id: string; streams: number; open_since: number | null; reconnecting: number }>(sql`SELECT s.account_id,
          sum(s.streams) AS streams, min(s.open_since) AS open_since,
          max(CASE WHEN s.streams = 0 AND s.closed_at > ${dbNow} - ${RECONNECT_GRACE_MS} THEN 1 ELSE 0 END) AS reconnecting
        FROM event_streams s JOIN nodes n ON n.name = s.node AND n.instance = s.instance
        WHERE s.node <> ${name} AND n.heartbeat_at > ${dbNow} - ${timing.aliveMs}
        GROUP BY s.account_id`);
      this.known = new Map(rows.map((row) => [row.account_id, { streams: Number(row.streams), openSince: row.open_since === null ? null : Number(row.open_since), reconnecting: Number(row.reconnecting) === 1 }]));
    } catch (error) {
      this.log.debug({ err: error, event: 'call_events_streams_unread' }, 'could not read the other nodes\' call-events streams');
    }
  }
}
