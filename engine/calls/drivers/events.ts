/**
 * The events driver's delivery side: the SSE streams PBX integrations hold
 * open on GET /ucp/v2/accounts/{account}/call-events.
 *
 * Commands live in SQLite, so nothing is lost while no stream is connected:
 * a stream first replays the account's unacknowledged commands after its
 * Last-Event-ID, then receives new ones as they are queued. The replay and
 * the registration for live commands happen in one synchronous step, so a
 * command queued meanwhile is sent exactly once. Every stream of the account
 * gets every command; the first acknowledgement wins. A comment line every
 * heartbeat keeps proxies and NAT tables from closing an idle stream.
 */
import type { ServerResponse } from 'node:http';

import type { Clock } from '../../clock.ts';
import type { Logger } from '../../logging.ts';
import type { CallStore } from '../store.ts';
import type { CommandRecord } from '../types.ts';
import { commandPayload } from '../views.ts';

interface Stream {
  res: ServerResponse;
  /** Highest command id written to this stream. */
  lastSentId: number;
  heartbeat: NodeJS.Timeout;
}

export const DEFAULT_HEARTBEAT_MS = 15_000;
const RECONNECT_HINT_MS = 2_000;

export class EventStreams {
  private readonly byAccount = new Map<string, Set<Stream>>();

  constructor(
    private readonly store: CallStore,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly heartbeatMs = DEFAULT_HEARTBEAT_MS,
  ) {}

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
      lastSentId: lastEventId,
      heartbeat: setInterval(() => this.write(stream, `: heartbeat ${new Date(this.clock.now()).toISOString()}\n\n`), this.heartbeatMs),
    };
    stream.heartbeat.unref();
    let streams = this.byAccount.get(accountId);
    if (!streams) this.byAccount.set(accountId, (streams = new Set()));
    streams.add(stream);
    res.once('close', () => {
      clearInterval(stream.heartbeat);
      streams.delete(stream);
      if (streams.size === 0 && this.byAccount.get(accountId) === streams) this.byAccount.delete(accountId);
      this.log.info({ event: 'call_events_disconnected', account: accountId }, 'call-events stream closed');
    });
    for (const command of this.store.pendingAfter(accountId, lastEventId)) this.send(stream, command);
    this.log.info({ event: 'call_events_connected', account: accountId, lastEventId }, 'call-events stream opened');
  }

  /** Sends a newly queued command to every stream of its account; returns how many got it. */
  publish(command: CommandRecord): number {
    let sent = 0;
    for (const stream of this.byAccount.get(command.accountId) ?? []) if (this.send(stream, command)) sent += 1;
    return sent;
  }

  /** Ends every stream (shutdown); PBX integrations reconnect to another process or later. */
  closeAll(): void {
    for (const streams of this.byAccount.values()) for (const stream of streams) stream.res.end();
    this.byAccount.clear();
  }

  private send(stream: Stream, command: CommandRecord): boolean {
    if (command.id <= stream.lastSentId) return false;
    if (!this.write(stream, `id: ${command.id}\nevent: command\ndata: ${JSON.stringify(commandPayload(command))}\n\n`)) return false;
    stream.lastSentId = command.id;
    this.store.markDelivered(command.id, this.clock.now());
    return true;
  }

  private write(stream: Stream, text: string): boolean {
    if (stream.res.writableEnded || stream.res.destroyed) return false;
    stream.res.write(text);
    return true;
  }
}
