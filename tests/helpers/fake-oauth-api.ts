/**
 * What the fake Google and Microsoft servers share: a loopback HTTP server
 * with an OAuth 2.0 token endpoint (refresh_token grant, RFC 6749 section 6)
 * that issues expiring bearer tokens on the test's clock, an API that
 * refuses missing or expired tokens, a log of every request, and injectable
 * faults (the next N matching requests answer a given status, hang up, or
 * wait until the test lets them go on).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Clock } from '../../engine/clock.ts';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Fault {
  /** Answer with this status (default: answer normally, after `hold`). */
  status?: number;
  /** Close the connection without an answer. */
  drop?: boolean;
  /** Wait for this before answering: a slow provider. */
  hold?: Promise<unknown>;
  body?: unknown;
  headers?: Record<string, string>;
  /** Which requests it hits (default: any). */
  when?: (request: RecordedRequest) => boolean;
  /** How many times (default 1). */
  times?: number;
}

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  refreshToken: string;
}

export interface JsonAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export abstract class FakeOAuthApi {
  url = '';
  readonly requests: RecordedRequest[] = [];
  readonly tokenRequests: RecordedRequest[] = [];
  /** The refresh token has been revoked: the token endpoint answers invalid_grant. */
  revoked = false;
  /** Refresh tokens the endpoint accepts: the granted one and those it handed out since. */
  readonly refreshTokens = new Set<string>();
  tokenLifetimeSeconds = 3599;
  private readonly faults: Fault[] = [];
  private readonly tokenFaults: Fault[] = [];
  private readonly accessTokens = new Map<string, number>();
  private issued = 0;
  private readonly server = http.createServer((req, res) => void this.handle(req, res));

  constructor(
    protected readonly clock: Clock,
    protected readonly credentials: ClientCredentials,
  ) {
    this.refreshTokens.add(credentials.refreshToken);
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The next matching API request(s) answer with this fault. */
  fail(fault: Fault): void {
    this.faults.push({ times: 1, ...fault });
  }

  failToken(fault: Fault): void {
    this.tokenFaults.push({ times: 1, ...fault });
  }

  /** Every access token issued so far stops working (as when a user signs out everywhere). */
  revokeAccessTokens(): void {
    this.accessTokens.clear();
  }

  /** API requests (not token requests) whose path matches. */
  apiRequests(path?: RegExp): RecordedRequest[] {
    return this.requests.filter((request) => !path || path.test(request.path));
  }

  protected abstract isTokenPath(path: string): boolean;
  /** Checks grant parameters beyond client and refresh token (Microsoft's scope); a message refuses. */
  protected abstract checkGrant(form: URLSearchParams): string | undefined;
  protected abstract tokenAnswer(accessToken: string, form: URLSearchParams): Record<string, unknown>;
  protected abstract invalidGrant(): JsonAnswer;
  protected abstract unauthorized(): JsonAnswer;
  protected abstract api(request: RecordedRequest): JsonAnswer;

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', this.url);
    const request: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
    const token = this.isTokenPath(url.pathname);
    (token ? this.tokenRequests : this.requests).push(request);
    const fault = this.takeFault(token ? this.tokenFaults : this.faults, request);
    if (fault?.hold) await fault.hold;
    if (fault?.drop) {
      req.socket.destroy();
      return;
    }
    const answer =
      fault?.status !== undefined
        ? { status: fault.status, body: fault.body ?? { error: { code: fault.status, message: 'injected fault' } }, ...(fault.headers ? { headers: fault.headers } : {}) }
        : token
          ? this.grant(request)
          : this.authorized(request);
    res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8', ...answer.headers });
    res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
  }

  private takeFault(faults: Fault[], request: RecordedRequest): Fault | undefined {
    const index = faults.findIndex((fault) => !fault.when || fault.when(request));
    if (index < 0) return undefined;
    const fault = faults[index]!;
    fault.times = (fault.times ?? 1) - 1;
    if (fault.times <= 0) faults.splice(index, 1);
    return fault;
  }

  private grant(request: RecordedRequest): JsonAnswer {
    if (request.method !== 'POST' || !String(request.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
      return { status: 400, body: { error: 'invalid_request', error_description: 'POST a form' } };
    }
    const form = new URLSearchParams(request.body);
    if (form.get('grant_type') !== 'refresh_token') return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'grant_type must be refresh_token' } };
    if (form.get('client_id') !== this.credentials.clientId || form.get('client_secret') !== this.credentials.clientSecret) {
      return { status: 401, body: { error: 'invalid_client', error_description: 'The OAuth client was not found.' } };
    }
    if (this.revoked || !this.refreshTokens.has(form.get('refresh_token') ?? '')) return this.invalidGrant();
    const refused = this.checkGrant(form);
    if (refused) return { status: 400, body: { error: 'invalid_scope', error_description: refused } };
    this.issued += 1;
    const accessToken = `at-${this.issued}-${Math.random().toString(36).slice(2)}`;
    this.accessTokens.set(accessToken, this.clock.now() + this.tokenLifetimeSeconds * 1000);
    const answer = this.tokenAnswer(accessToken, form);
    if (typeof answer.refresh_token === 'string') this.refreshTokens.add(answer.refresh_token);
    return { status: 200, body: answer };
  }

  private authorized(request: RecordedRequest): JsonAnswer {
    const token = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''))?.[1];
    const expiresAt = token ? this.accessTokens.get(token) : undefined;
    if (expiresAt === undefined || expiresAt <= this.clock.now()) return this.unauthorized();
    return this.api(request);
  }
}

/** Opaque tokens that carry state, as real page and sync tokens do. */
export const encodeToken = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

export function decodeToken<T>(token: string): T | undefined {
  try {
    return JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * A changing collection with a version per change: a full read lists what
 * exists now; a read since version V lists what changed after V, deleted
 * entries as tombstones. `forget` deletes without a tombstone (what only a
 * full read can reveal).
 */
export class VersionedBook<T> {
  version = 1;
  /** Tokens older than this are expired. */
  oldestValid = 0;
  private readonly entries = new Map<string, { value: T; version: number }>();
  private readonly tombstones = new Map<string, number>();

  put(id: string, value: T): void {
    this.version += 1;
    this.entries.set(id, { value, version: this.version });
    this.tombstones.delete(id);
  }

  remove(id: string): void {
    this.version += 1;
    this.entries.delete(id);
    this.tombstones.set(id, this.version);
  }

  forget(id: string): void {
    this.entries.delete(id);
  }

  /** Every token handed out so far is expired. */
  expireTokens(): void {
    this.version += 1;
    this.oldestValid = this.version;
  }

  /** Live entries changed after `since` (all when undefined), then ids deleted after it; in a stable order. */
  changes(since: number | undefined): { live: { id: string; value: T }[]; deleted: string[] } {
    const live = [...this.entries].filter(([, entry]) => since === undefined || entry.version > since).map(([id, entry]) => ({ id, value: entry.value }));
    const deleted = since === undefined ? [] : [...this.tombstones].filter(([, version]) => version > since).map(([id]) => id);
    live.sort((a, b) => a.id.localeCompare(b.id));
    return { live, deleted: deleted.sort() };
  }
}
