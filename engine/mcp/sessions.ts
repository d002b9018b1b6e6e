/**
 * Sessions of 2025-era clients: one transport and one `Server` per session,
 * bound when it opens to the API key and call context. Two kinds share the
 * table: Streamable HTTP sessions (the SDK's transport, opened by
 * `initialize`) and sessions of the 2024-11-05 HTTP+SSE transport (ours,
 * opened by a GET of the legacy stream). Sharing it gives both one cap, one
 * idle sweep, one shutdown, and the same tools/list_changed and end-of-call
 * handling, all of which go through the session's `Server`.
 *
 * The table is bounded three ways: the server's cap (past it a new session
 * gets 503), and a share per account and per API key (past it that account's
 * or key's new sessions get 429 while every other account is still served),
 * so one tenant's abandoned sessions cannot lock the others out. The
 * subscription streams of 2026-07-28 clients take slots of the same bounds
 * while they are open (`holdStream`). A session
 * with no request in flight for the idle time is closed; one that made no
 * request at all after its initialize (an abandoned handshake, or a flood of
 * them) is closed after the much shorter unused time. Closing goes through
 * `server.close()` so the transport, its streams and timers are freed, not
 * just the map entry. A session holding its GET stream open has a request in
 * flight and is not idle: its client is connected. A legacy session always
 * holds its stream (the stream is the session), so it ends when the stream
 * does, and its heartbeats end it when the peer is gone.
 *
 * Several nodes: a session lives in the memory of the node that opened it
 * and is not continued elsewhere (docs/operations.md says why). Its id
 * starts with the node's name (`<node>.<uuid>`), so a balancer sends its
 * requests back to that node; another node answers 404, as for any session
 * it does not hold, and the client opens a new one. The shares of an account
 * and a key are cluster-wide numbers: each node allows its part of them,
 * the share divided by the live nodes (rounded up). The server's cap is what
 * one process holds and stays per node.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS, type JSONRPCMessage, type Server } from '@modelcontextprotocol/server';

import type { Clock } from '../clock.ts';
import { SwitchboardError } from '../errors.ts';
import type { Logger } from '../logging.ts';
import type { CallContext } from '../vocabulary/call-context.ts';
import type { ServerFactory } from './server-factory.ts';
import { SSE_HEARTBEAT_MS, SseServerTransport } from './sse-transport.ts';

interface SessionBase {
  readonly id: string;
  readonly call: CallContext;
  readonly server: Server;
  readonly openedAt: number;
  lastActivity: number;
  inFlight: number;
  /** Whether the client has made a request since initialize: until then the session is closed after the unused time. */
  used: boolean;
  /** POSTed requests still being answered (a GET stream is not one), and who waits for them. */
  answering?: { count: number; done: (() => void)[] };
}

/** A Streamable HTTP session: every request goes through the SDK transport. */
export interface StreamableSession extends SessionBase {
  readonly kind: 'streamable';
  readonly transport: NodeStreamableHTTPServerTransport;
  /** The protocol revision its initialize negotiated: it decides, among other things, whether batches exist. */
  readonly protocolVersion: string;
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
  /** Sessions one account may hold (its share of maxSessions). */
  maxPerAccount: number;
  /** Sessions one API key may hold. */
  maxPerKey: number;
  idleMs: number;
  /** How long a session that made no request after initialize is kept. */
  unusedMs: number;
}

/** The node this table belongs to: its name starts every session id; the live nodes divide the shares. */
export interface SessionNode {
  readonly name: string;
  /** Nodes alive on the database now, this one included (1 without a cluster). */
  liveNodes(): number;
}

export interface SessionManagerEvents {
  opened?: (session: Session) => void;
  closed?: (session: Session, reason: CloseReason) => void;
}

export type CloseReason = 'client' | 'idle' | 'unused' | 'call_ended' | 'shutdown' | 'persona_removed';

/** The revision a server answers an initialize with: the one asked for when it speaks it, else its latest 2025-era one (as the SDK's Server does). */
export const negotiatedVersion = (requested: unknown): string =>
  typeof requested === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;

/**
 * What one of `nodes` live nodes allows of a cluster-wide share: rounded up, so no node
 * refuses a share of one and the cluster allows at most nodes - 1 sessions over the share.
 */
export const nodeShare = (share: number, nodes: number): number => Math.ceil(share / Math.max(1, nodes));

/** A POST that only completes the handshake: it does not make a session used. */
const isHandshakeOnly = (body: unknown): boolean => {
  const method = (body as { method?: unknown } | null)?.method;
  return method === 'notifications/initialized' || method === 'initialize';
};

export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  /** Slots taken: sessions in the table plus those being opened, which count before they have an id. */
  private taken = 0;
  /** Slots taken per account and per key; an entry leaves at zero, so the maps are as small as the set of tenants with sessions. */
  private readonly perAccount = new Map<string, number>();
  private readonly perKey = new Map<string, number>();
  private readonly closeReasons = new Map<string, CloseReason>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly createServer: ServerFactory,
    private readonly limits: SessionLimits,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly node: SessionNode,
    private readonly events: SessionManagerEvents = {},
  ) {}

  /** A new session id: this node's name, then 122 random bits from the system CSPRNG (so it cannot be guessed). */
  private newId(): string {
    return `${this.node.name}.${randomUUID()}`;
  }

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

  startSweeping(intervalMs = Math.min(30_000, Math.max(250, Math.min(this.limits.idleMs, this.limits.unusedMs) / 4))): void {
    this.sweeper = setInterval(() => void this.sweep(), intervalMs);
    this.sweeper.unref();
  }

  /** Opens a session for an `initialize` request and answers it. */
  async open(call: CallContext, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    this.take(call);
    let session: StreamableSession | undefined;
    const server = this.createServer(call);
    const transport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: () => this.newId(),
      onsessioninitialized: (id) => {
        const now = this.clock.now();
        const protocolVersion = negotiatedVersion((body as { params?: { protocolVersion?: unknown } }).params?.protocolVersion);
        session = { kind: 'streamable', id, call, transport, server, openedAt: now, lastActivity: now, inFlight: 0, used: false, protocolVersion };
        this.sessions.set(id, session);
        this.events.opened?.(session);
      },
    });
    transport.onclose = () => this.forget(transport.sessionId, transport);
    try {
      await server.connect(transport);
      await this.track(undefined, res, () => transport.handleRequest(req, res, body));
    } finally {
      // An initialize that failed (bad version, bad JSON) never got a session: free it and its slot now.
      if (!session) {
        this.give(call);
        await server.close().catch(() => undefined);
      }
    }
  }

  /**
   * Opens a 2024-11-05 HTTP+SSE session: `res` becomes its event stream, whose
   * first event names `endpoint` (with the session id) as where to POST.
   */
  async openSse(call: CallContext, res: ServerResponse, endpoint: string): Promise<SseSession> {
    this.take(call);
    const transport = new SseServerTransport(res, endpoint, SSE_HEARTBEAT_MS, this.newId());
    const server = this.createServer(call);
    const now = this.clock.now();
    const session: SseSession = { kind: 'sse', id: transport.sessionId, call, transport, server, openedAt: now, lastActivity: now, inFlight: 0, used: false };
    transport.onclose = () => this.forget(session.id, transport);
    // In the table before the endpoint event is written: a client may POST as soon as it reads it.
    this.sessions.set(session.id, session);
    try {
      // The stream is a request in flight for as long as it is open.
      await this.track(session, res, () => server.connect(transport));
    } catch (error) {
      this.remove(session.id);
      await server.close().catch(() => undefined);
      throw error;
    }
    if (!transport.closed) this.events.opened?.(session);
    return session;
  }

  /**
   * Takes a slot for a new session of this call's account and key, or
   * refuses: the account's and the key's shares first (429: only they are
   * over, and their own sessions ending frees room), then the server's cap (503).
   */
  private take(call: CallContext): void {
    const nodes = Math.max(1, this.node.liveNodes());
    const onThisNode = nodes > 1 ? ` on this node (its part of ${nodes} nodes)` : '';
    const account = this.perAccount.get(call.accountId) ?? 0;
    if (account >= nodeShare(this.limits.maxPerAccount, nodes)) {
      throw new SwitchboardError('SESSION_QUOTA', `This account has ${account} open sessions${onThisNode}, as many as it may hold; end sessions it no longer uses (DELETE) or retry shortly`, { retryAfter: 5 });
    }
    const key = this.perKey.get(call.keyId) ?? 0;
    if (key >= nodeShare(this.limits.maxPerKey, nodes)) {
      throw new SwitchboardError('SESSION_QUOTA', `This API key has ${key} open sessions${onThisNode}, as many as one key may hold; end sessions it no longer uses (DELETE) or retry shortly`, { retryAfter: 5 });
    }
    if (this.taken >= this.limits.maxSessions) {
      throw new SwitchboardError('SESSION_LIMIT', 'Too many open sessions; retry shortly', { retryAfter: 5 });
    }
    this.taken += 1;
    this.perAccount.set(call.accountId, account + 1);
    this.perKey.set(call.keyId, key + 1);
  }

  /**
   * A stream held open outside the table, a 2026-07-28 `subscriptions/listen`, takes a slot of the same
   * cap and shares for as long as it is open: such a stream lasts a call, as a session does, and a client
   * opening them by the thousand must be held as one opening sessions would be.
   */
  holdStream(call: CallContext, res: ServerResponse): void {
    this.take(call);
    res.once('close', () => this.give(call));
  }

  /** Gives back the slot of a session that left the table, or of one that never got into it. */
  private give(call: CallContext): void {
    this.taken -= 1;
    for (const [counts, name] of [
      [this.perAccount, call.accountId],
      [this.perKey, call.keyId],
    ] as const) {
      const left = (counts.get(name) ?? 1) - 1;
      if (left > 0) counts.set(name, left);
      else counts.delete(name);
    }
  }

  /** Takes a session out of the table and gives its slot back; false when it was not there. */
  private remove(id: string): boolean {
    const session = this.sessions.get(id);
    if (!session) return false;
    this.sessions.delete(id);
    this.give(session.call);
    return true;
  }

  /** A transport closed (by its client, or by close()): the session leaves the table. */
  private forget(id: string | undefined, transport: Session['transport']): void {
    const closing = id ? this.sessions.get(id) : undefined;
    if (!id || !closing || closing.transport !== transport) return;
    this.remove(id);
    const reason = this.closeReasons.get(id) ?? 'client';
    this.closeReasons.delete(id);
    this.events.closed?.(closing, reason);
  }

  /** Hands a message POSTed to a legacy SSE session to its transport; the answer goes out on the stream. */
  deliver(session: SseSession, message: JSONRPCMessage): void {
    session.lastActivity = this.clock.now();
    if (!isHandshakeOnly(message)) session.used = true;
    session.transport.receive(message);
  }

  /** Routes a request to its Streamable HTTP session's transport. */
  async handle(session: StreamableSession, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    // A GET stream, a request or an answer makes the session used; completing the handshake does not.
    if (req.method !== 'POST' || !isHandshakeOnly(body)) session.used = true;
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
      if (this.remove(id)) {
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

  /** Closes sessions with nothing in flight for longer than the idle time, and those never used for longer than the unused time. */
  async sweep(): Promise<number> {
    const now = this.clock.now();
    const unused = await this.closeWhere((session) => session.inFlight === 0 && !session.used && session.lastActivity <= now - this.limits.unusedMs, 'unused');
    const idle = await this.closeWhere((session) => session.inFlight === 0 && session.lastActivity <= now - this.limits.idleMs, 'idle');
    return unused + idle;
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
