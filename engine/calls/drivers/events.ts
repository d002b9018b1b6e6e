/**
 * The events driver's delivery side: the SSE streams PBX integrations hold
 * open on GET /ucp/v2/accounts/{account}/call-events.
 *
 * Commands live in the store, so nothing is lost while no stream is
 * connected: a stream first replays the account's unacknowledged commands
 * after its Last-Event-ID (and any, whatever its id, that no stream has
 * received yet), then receives new ones as they are queued. A stream is
 * registered for live commands before its replay is read, and its writes
 * run one after another (the replay first); what it sent is remembered per
 * stream, so a command queued meanwhile is sent exactly once. Ids are not
 * a watermark: on PostgreSQL they are not handed out in commit order when
 * several writers insert at once, so a command with a lower id than one
 * already sent may still come, and is sent. Every stream of the account
 * gets every command; the first acknowledgement wins. With several nodes on
 * one database, streams may be open on any of them (events-nodes.ts): a
 * command queued on one node is written to the account's streams on every
 * node, and the driver is up while any live node has a stream of the account. A comment line every
 * heartbeat keeps proxies and NAT tables from closing an idle stream.
 *
 * A command is marked delivered in the store before it is written, and only
 * while it is pending: one withdrawn meanwhile (its time-out, the end of
 * the call) is not written, and one written is never withdrawn.
 *
 * The driver side: with no stream of the account connected (and none lost
 * within the reconnect grace), a command fails at once instead of waiting
 * for a consumer that is not there; the agent is told, and the caller does
 * not wait through dead air. A consumer that resumes with a Last-Event-ID
 * above every command id (the database was restored from a backup) gets
 * every pending command again rather than silence. Hang-ups that waited
 * longer than their bound are withdrawn, not replayed: a late consumer must
 * not hang up a call long after the agent said goodbye.
 */
import type { ServerResponse } from 'node:http';

import type { Clock } from '../../clock.ts';
import type { Logger } from '../../logging.ts';
import type { CallControlSettings, EventsCallControl } from '../../manifests/types.ts';
import type { CallStore } from '../store.ts';
import type { CommandRecord } from '../types.ts';
import { commandPayload } from '../views.ts';
import type { CallControlDriver, DriverFactory, DriverHealth, DriverScope, SendRequest, SendResult } from './driver.ts';

/** What this node knows of an account's streams on the other live nodes (events-nodes.ts); none without a cluster. */
export interface RemoteStreams {
  view(accountId: string): { streams: number; openSince: number | null; reconnecting: boolean } | undefined;
  /** Hands a newly queued command to the other nodes, which write it to their streams of the account. */
  publish(command: CommandRecord): void;
}

interface Stream {
  res: ServerResponse;
  /** Ids of the commands written to this stream. */
  sent: Set<number>;
  /** The stream's writes, one after another: the replay first, then live commands in the order they came. */
  writes: Promise<unknown>;
  heartbeat: NodeJS.Timeout;
}

export const DEFAULT_HEARTBEAT_MS = 15_000;
const RECONNECT_HINT_MS = 2_000;
/** After the last stream of an account closed, commands are still queued this long: a consumer reconnecting is not a missing one. */
export const RECONNECT_GRACE_MS = 5_000;

/** Decides whether a pending command is still to be sent to a stream that (re)connects; false withdraws it. */
export type ReplayCheck = (command: CommandRecord) => Promise<boolean>;

export class EventStreams {
  private readonly byAccount = new Map<string, Set<Stream>>();
  private readonly lastClosed = new Map<string, number>();
  /** When the account went from no stream to one (its streams have been open since). */
  private readonly connectedSince = new Map<string, number>();
  private readonly listeners = new Map<string, () => void>();
  private readonly observers = new Set<(accountId: string) => void>();

  constructor(
    private readonly store: CallStore,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly stillDue: ReplayCheck = () => Promise.resolve(true),
    /** The account's call_control, for the settings a warm command carries. */
    private readonly settingsOf: (accountId: string) => CallControlSettings | undefined = () => undefined,
    private readonly heartbeatMs = DEFAULT_HEARTBEAT_MS,
  ) {}

  /** Streams of the account open now. */
  count(accountId: string): number {
    return this.byAccount.get(accountId)?.size ?? 0;
  }

  /** Since when the account has had a stream open, if it has one now. */
  openSince(accountId: string): number | undefined {
    return this.count(accountId) ? this.connectedSince.get(accountId) : undefined;
  }

  /** When the account's last stream closed, if one did and none is open. */
  closedAt(accountId: string): number | undefined {
    return this.count(accountId) ? undefined : this.lastClosed.get(accountId);
  }

  /** Told when a stream of the account opens or closes (one listener per account: its driver, the newest). */
  watch(accountId: string, listener: () => void): void {
    this.listeners.set(accountId, listener);
  }

  unwatch(accountId: string, listener: () => void): void {
    if (this.listeners.get(accountId) === listener) this.listeners.delete(accountId);
  }

  /** Told of every account whose streams open or close (the other nodes are told of them: events-nodes.ts). */
  observe(observer: (accountId: string) => void): () => void {
    this.observers.add(observer);
    return () => void this.observers.delete(observer);
  }

  /** Accounts with a stream open here. */
  accounts(): string[] {
    return [...this.byAccount.keys()];
  }

  /** Sends every open stream what is pending for it and not sent yet (after notifications from other nodes may have been missed). */
  async catchUp(): Promise<void> {
    for (const [accountId, streams] of this.byAccount) {
      for (const stream of streams) {
        await this.enqueue(stream, () => this.sendPending(accountId, 0, stream)).catch((error: unknown) => {
          this.log.error({ err: error, event: 'call_events_send_failed', account: accountId }, 'pending commands could not be sent on a call-events stream; closing it');
          stream.res.end();
        });
      }
    }
  }

  /** Answers the request with a stream of the account's commands after `lastEventId`. */
  open(accountId: string, lastEventId: number, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: ${RECONNECT_HINT_MS}\n: connected\n\n`);
    const stream: Stream = {
      res,
      sent: new Set(),
      writes: Promise.resolve(),
      heartbeat: setInterval(() => this.write(stream, `: heartbeat ${new Date(this.clock.now()).toISOString()}\n\n`), this.heartbeatMs),
    };
    stream.heartbeat.unref();
    let streams = this.byAccount.get(accountId);
    if (!streams) this.byAccount.set(accountId, (streams = new Set()));
    if (streams.size === 0) this.connectedSince.set(accountId, this.clock.now());
    streams.add(stream);
    res.once('close', () => {
      clearInterval(stream.heartbeat);
      streams.delete(stream);
      if (streams.size === 0 && this.byAccount.get(accountId) === streams) {
        this.byAccount.delete(accountId);
        this.lastClosed.set(accountId, this.clock.now());
      }
      this.log.info({ event: 'call_events_disconnected', account: accountId }, 'call-events stream closed');
      this.listeners.get(accountId)?.();
      for (const observer of this.observers) observer(accountId);
    });
    // Registered (above) before the replay is read: a command queued from now on is published to this stream too, after the replay.
    void this.enqueue(stream, () => this.replay(accountId, lastEventId, stream)).catch((error: unknown) => {
      // Ended rather than left open without the commands it should have had: the consumer reconnects and the replay runs again.
      this.log.error({ err: error, event: 'call_events_replay_failed', account: accountId, lastEventId }, 'the call-events stream could not replay pending commands; closing it');
      res.end();
    });
    this.listeners.get(accountId)?.();
    for (const observer of this.observers) observer(accountId);
  }

  /** Sends a newly queued command to every stream of its account; resolves with how many got it. */
  async publish(command: CommandRecord): Promise<number> {
    const streams = [...(this.byAccount.get(command.accountId) ?? [])];
    const sent = await Promise.all(
      streams.map((stream) =>
        this.enqueue(stream, () => this.send(stream, command)).catch((error: unknown) => {
          // Not written: the stream ends, and the consumer's reconnect replays the command (it is still undelivered).
          this.log.error({ err: error, event: 'call_events_send_failed', account: command.accountId, command: command.id }, 'a command could not be sent on a call-events stream; closing it');
          stream.res.end();
          return false;
        }),
      ),
    );
    return sent.filter(Boolean).length;
  }

  /** Ends every stream (shutdown); PBX integrations reconnect to another process or later. */
  closeAll(): void {
    for (const streams of this.byAccount.values()) for (const stream of streams) stream.res.end();
    this.byAccount.clear();
  }

  private async replay(accountId: string, lastEventId: number, stream: Stream): Promise<void> {
    // An id above every command the store ever issued means the store is older than the consumer's memory
    // (restored from a backup): resuming after it would skip every pending command, so replay them all.
    const resumeAfter = lastEventId > (await this.store.lastCommandId()) ? 0 : lastEventId;
    await this.sendPending(accountId, resumeAfter, stream);
    this.log.info({ event: 'call_events_connected', account: accountId, lastEventId, resumedAfter: resumeAfter }, 'call-events stream opened');
  }

  private async sendPending(accountId: string, afterId: number, stream: Stream): Promise<void> {
    for (const command of await this.store.pendingForStream(accountId, afterId)) {
      if (!this.writable(stream)) return;
      if (!stream.sent.has(command.id) && (await this.stillDue(command))) await this.send(stream, command);
    }
  }

  /** Runs `work` after the stream's earlier writes; a failed write does not stop the ones after it. */
  private enqueue<T>(stream: Stream, work: () => Promise<T>): Promise<T> {
    const run = stream.writes.then(work);
    stream.writes = run.catch(() => undefined);
    return run;
  }

  private async send(stream: Stream, command: CommandRecord): Promise<boolean> {
    if (stream.sent.has(command.id) || !this.writable(stream)) return false;
    if (!(await this.store.claimDelivery(command.id, this.clock.now()))) return false;
    if (!this.write(stream, `id: ${command.id}\nevent: command\ndata: ${JSON.stringify(commandPayload(command, this.settingsOf(command.accountId)))}\n\n`)) return false;
    stream.sent.add(command.id);
    return true;
  }

  private writable(stream: Stream): boolean {
    return !stream.res.writableEnded && !stream.res.destroyed;
  }

  private write(stream: Stream, text: string): boolean {
    if (!this.writable(stream)) return false;
    stream.res.write(text);
    return true;
  }
}

/**
 * The events driver of one account: commands go to the account's open
 * streams. With no stream open, and none lost within the reconnect grace,
 * it is down and a command is not sent at all.
 */
class EventsDriver implements CallControlDriver {
  readonly keepsCaller = true;
  private readonly startedAt: number;
  private lastState: DriverHealth['state'] | undefined;
  private readonly onStreamChange = (): void => {
    const health = this.health();
    if (health.state !== this.lastState) this.scope.sink.healthChanged(health);
    this.lastState = health.state;
  };

  constructor(
    private readonly scope: DriverScope<EventsCallControl>,
    private readonly streams: EventStreams,
    private readonly remote: RemoteStreams | undefined,
  ) {
    this.startedAt = scope.clock.now();
    streams.watch(scope.accountId, this.onStreamChange);
  }

  health(): DriverHealth {
    const { accountId, clock } = this.scope;
    const openSince = this.streams.openSince(accountId);
    if (openSince !== undefined) return { state: 'up', reason: null, since: openSince };
    // A consumer connected to another node counts as much as one here: commands reach it through that node.
    const remote = this.remote?.view(accountId);
    if (remote && remote.streams > 0) return { state: 'up', reason: null, since: remote.openSince ?? clock.now() };
    const closedAt = this.streams.closedAt(accountId);
    if (closedAt !== undefined && clock.now() - closedAt < RECONNECT_GRACE_MS) return { state: 'connecting', reason: 'the call-events stream is reconnecting', since: closedAt };
    if (remote?.reconnecting) return { state: 'connecting', reason: 'the call-events stream is reconnecting', since: clock.now() };
    return { state: 'down', reason: 'no phone system is connected to the call-events stream', since: closedAt ?? this.startedAt };
  }

  async send(request: SendRequest): Promise<SendResult> {
    if (this.health().state === 'down') return { kind: 'not_sent', reason: 'no phone system is connected to the call-events stream' };
    // Delivered (and marked so) when written to a stream; kept for a reconnecting stream otherwise.
    this.remote?.publish(request.command);
    await this.streams.publish(request.command);
    return { kind: 'sent' };
  }

  stop(): Promise<void> {
    this.streams.unwatch(this.scope.accountId, this.onStreamChange);
    return Promise.resolve();
  }
}

/** What the events driver is, known without a running server: it hands every mode (warm included) to the integrator's program. */
export const eventsTraits = { name: 'events', connection: 'request', secretNames: () => [], warm: () => true } satisfies Omit<DriverFactory<EventsCallControl>, 'create'>;

export function eventsDriver(streams: EventStreams, remote?: RemoteStreams): DriverFactory<EventsCallControl> {
  return { ...eventsTraits, create: (scope) => new EventsDriver(scope, streams, remote) };
}
