/**
 * Sessions of 2025-era clients: one transport and one `Server` per session,
 * bound when it opens to the API key and call context. Two kinds share the
 * table: Streamable HTTP sessions (the SDK's transport, opened by
 * `initialize`) and sessions of the 2024-11-05 HTTP+SSE transport (ours,
 * opened by a GET of the legacy stream). Sharing it gives both one cap, one
 * idle sweep, one shutdown, and the same tools/list_changed and end-of-call
 * handling, all of which go through the session's `Server`.
 *
 * The table is bounded (past the cap a new session gets 503 with Retry-After),
 * a session with no request in flight for the idle time is closed, and
 * closing goes through `server.close()` so the transport, its streams and
 * timers are freed, not just the map entry. A session holding its GET stream
 * open has a request in flight and is not idle: its client is connected. A
 * legacy session always holds its stream (the stream is the session), so it
 * ends when the stream does, and its heartbeats end it when the peer is gone.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import type { JSONRPCMessage, Server } from '@modelcontextprotocol/server';

import type { Clock } from '../clock.ts';
import { SwitchboardError } from '../errors.ts';
import type { Logger } from '../logging.ts';
import type { CallContext } from '../tools/types.ts';
import type { ServerFactory } from './server-factory.ts';
import { SseServerTransport } from './sse-transport.ts';

interface SessionBase {
  readonly id: string;
  readonly call: CallContext;
  readonly server: Server;
  readonly openedAt: number;
  lastActivity: number;
  inFlight: number;
  /** POSTed requests still being answered (a GET stream is not one), and who waits for them. */
  answering?: { count: number; done: (() => void)[] };
}

/** A Streamable HTTP session: every request goes through the SDK transport. */
export interface StreamableSession extends SessionBase {
  readonly kind: 'streamable';
  readonly transport: NodeStreamableHTTPServerTransport;
}

/** A 2024-11-05 HTTP+SSE session: its stream is a GET response, its messages come by POST. */
export interface SseSession extends SessionBase {
  readonly kind: 'sse';
  readonly transport: SseServerTransport;
}

export type Session = StreamableSession | SseSession;
export type SessionKind = Session['kind'];

export interface SessionLimits {
  maxSessions: number;
  idleMs: number;
}

export interface SessionManagerEvents {
  opened?: (session: Session) => void;
  closed?: (session: Session, reason: CloseReason) => void;
}

export type CloseReason = 'client' | 'idle' | 'call_ended' | 'shutdown' | 'persona_removed';

export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  /** Sessions being opened: counted against the cap before they have an id. */
  private opening = 0;
  private readonly closeReasons = new Map<string, CloseReason>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly createServer: ServerFactory,
    private readonly limits: SessionLimits,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly events: SessionManagerEvents = {},
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  /** The session with this id if it is of this kind: an id of one transport is unknown to the other. */
  find<K extends SessionKind>(id: string, kind: K): Extract<Session, { kind: K }> | undefined {
    const session = this.sessions.get(id);
    return session?.kind === kind ? (session as Extract<Session, { kind: K }>) : undefined;
  }

  all(): IterableIterator<Session> {
    return this.sessions.values();
  }

  startSweeping(intervalMs = Math.min(30_000, Math.max(250, this.limits.idleMs / 4))): void {
    this.sweeper = setInterval(() => void this.sweep(), intervalMs);
    this.sweeper.unref();
  }

  /** Opens a session for an `initialize` request and answers it. */
  async open(call: CallContext, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    this.assertRoom();
    this.opening += 1;
    let session: StreamableSession | undefined;
    const server = this.createServer(call);
    const transport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        const now = this.clock.now();
        session = { kind: 'streamable', id, call, transport, server, openedAt: now, lastActivity: now, inFlight: 0 };
        this.sessions.set(id, session);
        this.events.opened?.(session);
      },
    });
    transport.onclose = () => this.forget(transport.sessionId, transport);
    try {
      await server.connect(transport);
      await this.track(undefined, res, () => transport.handleRequest(req, res, body));
    } finally {
      this.opening -= 1;
      // An initialize that failed (bad version, bad JSON) never got a session: free it now.
      if (!session) await server.close().catch(() => undefined);
    }
  }

  /**
   * Opens a 2024-11-05 HTTP+SSE session: `res` becomes its event stream, whose
   * first event names `endpoint` (with the session id) as where to POST.
   */
  async openSse(call: CallContext, res: ServerResponse, endpoint: string): Promise<SseSession> {
    this.assertRoom();
    const transport = new SseServerTransport(res, endpoint);
    const server = this.createServer(call);
    const now = this.clock.now();
    const session: SseSession = { kind: 'sse', id: transport.sessionId, call, transport, server, openedAt: now, lastActivity: now, inFlight: 0 };
    transport.onclose = () => this.forget(session.id, transport);
    // In the table before the endpoint event is written: a client may POST as soon as it reads it.
    this.sessions.set(session.id, session);
    try {
      // The stream is a request in flight for as long as it is open.
      await this.track(session, res, () => server.connect(transport));
    } catch (error) {
      this.sessions.delete(session.id);
      await server.close().catch(() => undefined);
      throw error;
    }
    if (!transport.closed) this.events.opened?.(session);
    return session;
  }

  private assertRoom(): void {
    if (this.sessions.size + this.opening >= this.limits.maxSessions) {
      throw new SwitchboardError('SESSION_LIMIT', 'Too many open sessions; retry shortly', { retryAfter: 5 });
    }
  }

  /** A transport closed (by its client, or by close()): the session leaves the table. */
  private forget(id: string | undefined, transport: Session['transport']): void {
    const closing = id ? this.sessions.get(id) : undefined;
    if (!id || !closing || closing.transport !== transport) return;
    this.sessions.delete(id);
    const reason = this.closeReasons.get(id) ?? 'client';
    this.closeReasons.delete(id);
    this.events.closed?.(closing, reason);
  }

  /** Hands a message POSTed to a legacy SSE session to its transport; the answer goes out on the stream. */
  deliver(session: SseSession, message: JSONRPCMessage): void {
    session.lastActivity = this.clock.now();
    session.transport.receive(message);
  }

  /** Routes a request to its Streamable HTTP session's transport. */
  async handle(session: StreamableSession, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    await this.track(session, res, () => session.transport.handleRequest(req, res, body));
  }

  private async track(session: Session | undefined, res: ServerResponse, work: () => Promise<void>): Promise<void> {
    if (session) {
      session.inFlight += 1;
      session.lastActivity = this.clock.now();
      // The transport may keep the response open (SSE); the request ends when the response does.
      const answering = res.req?.method === 'POST' ? (session.answering ??= { count: 0, done: [] }) : undefined;
      if (answering) answering.count += 1;
      let done = false;
      const end = () => {
        if (done) return;
        done = true;
        session.inFlight -= 1;
        session.lastActivity = this.clock.now();
        if (answering && --answering.count === 0) for (const wake of answering.done.splice(0)) wake();
      };
      res.once('close', end);
      res.once('finish', end);
    }
    await work();
  }

  async close(id: string, reason: CloseReason): Promise<void> {
    const session = this.sessions.get(id);
    if (!session) return;
    this.closeReasons.set(id, reason);
    try {
      await session.server.close();
    } catch (error) {
      this.log.warn({ err: error, session: id }, 'error while closing session');
    } finally {
      // close() normally fires onclose; make sure the entry is gone either way.
      if (this.sessions.delete(id)) {
        this.closeReasons.delete(id);
        this.events.closed?.(session, reason);
      }
    }
  }

  /**
   * Closes the chosen sessions once the requests they are answering have
   * had their answers written (at most `graceMs`): an answer on its way is
   * not cut off by the close. Messages of a legacy SSE session go out on its
   * stream as soon as they are sent, so a turn of the event loop is enough.
   */
  async closeWhereAnswered(predicate: (session: Session) => boolean, reason: CloseReason, graceMs: number): Promise<number> {
    const chosen = [...this.sessions.values()].filter(predicate);
    await new Promise((resolve) => setImmediate(resolve));
    await Promise.all(
      chosen.map(async (session) => {
        const answering = session.answering;
        if (answering && answering.count > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, graceMs);
            timer.unref();
            answering.done.push(() => {
              clearTimeout(timer);
              resolve();
            });
          });
        }
        await this.close(session.id, reason);
      }),
    );
    return chosen.length;
  }

  async closeWhere(predicate: (session: Session) => boolean, reason: CloseReason): Promise<number> {
    const chosen = [...this.sessions.values()].filter(predicate);
    await Promise.all(chosen.map((session) => this.close(session.id, reason)));
    return chosen.length;
  }

  /** Closes sessions with nothing in flight for longer than the idle time. */
  async sweep(): Promise<number> {
    const cutoff = this.clock.now() - this.limits.idleMs;
    return this.closeWhere((session) => session.inFlight === 0 && session.lastActivity <= cutoff, 'idle');
  }

  /** Tells sessions of the given personas that their tool list changed. */
  notifyToolsChanged(personaKeys: ReadonlySet<string>, keyOf: (call: CallContext) => string): number {
    let notified = 0;
    for (const session of this.sessions.values()) {
      if (!personaKeys.has(keyOf(session.call))) continue;
      notified += 1;
      session.server.sendToolListChanged().catch((error: unknown) => this.log.debug({ err: error, session: session.id }, 'list_changed not delivered'));
    }
    return notified;
  }

  async closeAll(reason: CloseReason = 'shutdown'): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await this.closeWhere(() => true, reason);
  }
}
