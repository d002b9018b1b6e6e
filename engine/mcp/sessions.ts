/**
 * Sessions of 2025-era clients: one SDK transport and one `Server` per
 * session, bound at `initialize` to the API key and call context.
 *
 * The table is bounded (past the cap a new session gets 503 with Retry-After),
 * a session with no request in flight for the idle time is closed, and
 * closing goes through `server.close()` so the transport, its streams and
 * timers are freed, not just the map entry. A session holding its GET stream
 * open has a request in flight and is not idle: its client is connected.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import type { Server } from '@modelcontextprotocol/server';

import type { Clock } from '../clock.ts';
import { SwitchboardError } from '../errors.ts';
import type { Logger } from '../logging.ts';
import type { CallContext } from '../tools/types.ts';
import type { ServerFactory } from './server-factory.ts';

export interface Session {
  readonly id: string;
  readonly call: CallContext;
  readonly transport: NodeStreamableHTTPServerTransport;
  readonly server: Server;
  readonly openedAt: number;
  lastActivity: number;
  inFlight: number;
}

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

  all(): IterableIterator<Session> {
    return this.sessions.values();
  }

  startSweeping(intervalMs = Math.min(30_000, Math.max(250, this.limits.idleMs / 4))): void {
    this.sweeper = setInterval(() => void this.sweep(), intervalMs);
    this.sweeper.unref();
  }

  /** Opens a session for an `initialize` request and answers it. */
  async open(call: CallContext, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    if (this.sessions.size + this.opening >= this.limits.maxSessions) {
      throw new SwitchboardError('SESSION_LIMIT', 'Too many open sessions; retry shortly', { retryAfter: 5 });
    }
    this.opening += 1;
    let session: Session | undefined;
    const server = this.createServer(call);
    const transport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        const now = this.clock.now();
        session = { id, call, transport, server, openedAt: now, lastActivity: now, inFlight: 0 };
        this.sessions.set(id, session);
        this.events.opened?.(session);
      },
    });
    transport.onclose = () => {
      const id = transport.sessionId;
      const closing = id ? this.sessions.get(id) : undefined;
      if (!id || !closing) return;
      this.sessions.delete(id);
      const reason = this.closeReasons.get(id) ?? 'client';
      this.closeReasons.delete(id);
      this.events.closed?.(closing, reason);
    };
    try {
      await server.connect(transport);
      await this.track(undefined, res, () => transport.handleRequest(req, res, body));
    } finally {
      this.opening -= 1;
      // An initialize that failed (bad version, bad JSON) never got a session: free it now.
      if (!session) await server.close().catch(() => undefined);
    }
  }

  /** Routes a request to its session's transport. */
  async handle(session: Session, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    await this.track(session, res, () => session.transport.handleRequest(req, res, body));
  }

  private async track(session: Session | undefined, res: ServerResponse, work: () => Promise<void>): Promise<void> {
    if (session) {
      session.inFlight += 1;
      session.lastActivity = this.clock.now();
      // The transport may keep the response open (SSE); the request ends when the response does.
      let done = false;
      const end = () => {
        if (done) return;
        done = true;
        session.inFlight -= 1;
        session.lastActivity = this.clock.now();
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
