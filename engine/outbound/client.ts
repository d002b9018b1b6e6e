/**
 * The one HTTP client for requests Switchboard makes to other systems: API
 * tools, the PBX webhook driver, contact-source syncs. Built on got, with the
 * safety every caller needs and none should re-implement:
 *
 * - Only http and https, no proxies from the environment, no UNIX sockets.
 * - An SSRF guard on the address actually connected to: the agents check IP
 *   literals before connecting and resolve host names through a lookup that
 *   refuses non-global addresses (address-policy.ts), on the first request and
 *   on every redirect hop. `outboundAllow` lets the operator through to
 *   internal hosts; `allowPrivate` skips the guard for a request to an
 *   address the operator configured (never for one a persona author or a
 *   caller can influence).
 * - A deadline for the whole exchange (redirects and retries included), a
 *   cap on the response body (more is an error, not a truncation; bodies are
 *   not decompressed, so the cap is what crosses the wire), and at most
 *   `maxRedirects` redirects. A redirect to another origin drops every header
 *   but Accept, Content-Type and User-Agent, and is refused when it would
 *   resend a request body. A URL with user:password@ is refused, the first
 *   one and every redirect's (got would send it as Authorization: Basic).
 * - Retries only for idempotent methods (GET, HEAD, PUT, DELETE) and only
 *   after a network error, a 5xx or a 429, within the deadline.
 *
 * Usage:
 *
 *   const response = await services.outbound.request({
 *     method: 'POST', url, headers, body: JSON.stringify(payload),
 *     timeoutMs: 5000, maxBytes: 65536, retries: 0, signal,
 *   });
 *   response.status; response.body (Buffer)
 *
 * Every HTTP status comes back as a response; the caller decides what a 404
 * means. Failures to get one throw `OutboundError` with a `kind`.
 */
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';

import got, { type Response } from 'got';

import { VERSION } from '../version.ts';
import type { OutboundOutcome, OutboundPurpose } from '../vocabulary/metric-sinks.ts';
import { maskKnownSecrets } from '../secrets.ts';
import { AddressPolicy } from './address-policy.ts';
import { OutboundError, type OutboundFailure } from './errors.ts';
import { guardedConnect, GuardedHttpAgent, GuardedHttpsAgent } from './guarded-agents.ts';

export { OutboundError, type OutboundFailure };

export type OutboundMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface OutboundRequest {
  method: OutboundMethod;
  url: string | URL;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** The whole exchange, redirects and retries included (default 5000). */
  timeoutMs?: number;
  /** Largest response body accepted (default 65536); more is an error. */
  maxBytes?: number;
  /** Further attempts after a network error, 5xx or 429; honoured for GET, HEAD, PUT and DELETE only (default 0). */
  retries?: number;
  /** Redirects followed at most (default 3; 0 returns the redirect itself). */
  maxRedirects?: number;
  /** Skip the address guard: only for addresses from the operator's own configuration. */
  allowPrivate?: boolean;
  signal?: AbortSignal;
  /** What the request is for, in metrics. */
  purpose?: OutboundPurpose;
}

export interface OutboundResponse {
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
  attempts: number;
}

export const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_BYTES = 64 * 1024;
export const DEFAULT_MAX_REDIRECTS = 3;

const IDEMPOTENT = new Set<OutboundMethod>(['GET', 'HEAD', 'PUT', 'DELETE']);
const CROSS_ORIGIN_SAFE_HEADERS = new Set(['accept', 'content-type', 'user-agent']);
/** Network errors that another attempt will not cure. */
const PERMANENT_NETWORK_CODES = new Set(['ENOTFOUND', 'ERR_INVALID_URL', 'EPROTO', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'ERR_TLS_CERT_ALTNAME_INVALID']);

function findCause(error: unknown): OutboundError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current instanceof Error; depth++) {
    if (current instanceof OutboundError) return current;
    current = current.cause;
  }
  return undefined;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** Seconds of a Retry-After header (seconds form only), in ms. */
const retryAfterMs = (value: string | undefined): number | undefined => (value && /^\d{1,4}$/.test(value.trim()) ? Number(value) * 1000 : undefined);

export interface OutboundClientOptions {
  /** The operator's allow list (settings.outboundAllow). */
  allow?: readonly string[];
  /** Told how every request ended (metrics). */
  observe?: (purpose: OutboundPurpose, outcome: OutboundOutcome, seconds: number) => void;
}

const outcomeOf = (result: OutboundResponse | OutboundError): OutboundOutcome => {
  if (!(result instanceof OutboundError)) return result.status < 400 ? 'ok' : 'http_error';
  if (result.kind === 'refused') return 'blocked';
  if (result.kind === 'timeout') return 'timeout';
  return 'network_error';
};

export class OutboundClient {
  readonly policy: AddressPolicy;
  private readonly guarded: { http: http.Agent; https: https.Agent };
  private readonly open = { http: new http.Agent({ keepAlive: true, maxSockets: 64 }), https: new https.Agent({ keepAlive: true, maxSockets: 64 }) };

  private readonly observe: OutboundClientOptions['observe'];

  constructor(options: OutboundClientOptions = {}) {
    this.policy = new AddressPolicy(options.allow);
    this.observe = options.observe;
    this.guarded = { http: new GuardedHttpAgent(this.policy), https: new GuardedHttpsAgent(this.policy) };
  }

  /**
   * The guarded agent for a URL's scheme, for clients that open their own
   * HTTP connections (a WebSocket upgrade to a phone system): the same
   * address policy as every request of this client.
   */
  agentFor(url: URL): http.Agent {
    return url.protocol === 'https:' || url.protocol === 'wss:' ? this.guarded.https : this.guarded.http;
  }

  /** A TCP connection to host:port through the address policy (FreeSWITCH's event socket). */
  connect(host: string, port: number): net.Socket {
    return guardedConnect(this.policy, host, port);
  }

  async request(request: OutboundRequest): Promise<OutboundResponse> {
    if (!this.observe) return this.send(request);
    const started = performance.now();
    try {
      const response = await this.send(request);
      this.observe(request.purpose ?? 'api_tool', outcomeOf(response), (performance.now() - started) / 1000);
      return response;
    } catch (error) {
      if (error instanceof OutboundError) this.observe(request.purpose ?? 'api_tool', outcomeOf(error), (performance.now() - started) / 1000);
      throw error;
    }
  }

  private async send(request: OutboundRequest): Promise<OutboundResponse> {
    const url = parseUrl(request.url);
    // Whole milliseconds: AbortSignal.timeout throws on a fraction, and callers pass what is left of a deadline.
    const timeoutMs = Math.max(1, Math.ceil(request.timeoutMs ?? DEFAULT_TIMEOUT_MS));
    const deadlineAt = Date.now() + timeoutMs;
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, deadline]) : deadline;
    const retries = IDEMPOTENT.has(request.method) ? Math.max(0, request.retries ?? 0) : 0;

    for (let attempt = 1; ; attempt++) {
      let outcome: OutboundResponse | OutboundError;
      try {
        outcome = { ...(await this.attempt(url, request, signal)), attempts: attempt };
      } catch (error) {
        outcome = this.failure(error, { signal, deadline, timeoutMs, host: url.hostname });
      }
      const retryable = outcome instanceof OutboundError ? outcome.kind === 'network' && !PERMANENT_NETWORK_CODES.has(outcome.details.code ?? '') : outcome.status >= 500 || outcome.status === 429;
      if (!retryable || attempt > retries || signal.aborted) {
        if (outcome instanceof OutboundError) throw outcome;
        return outcome;
      }
      const backoff = (outcome instanceof OutboundError ? undefined : retryAfterMs(String(outcome.headers['retry-after'] ?? ''))) ?? 100 * 2 ** (attempt - 1);
      if (Date.now() + backoff >= deadlineAt) {
        // No time for another attempt: the last answer stands.
        if (outcome instanceof OutboundError) throw outcome;
        return outcome;
      }
      await sleep(backoff, signal);
    }
  }

  /** Closes idle keep-alive sockets (the CLI calls this before it exits). */
  close(): void {
    for (const agent of [this.guarded.http, this.guarded.https, this.open.http, this.open.https]) agent.destroy();
  }

  private async attempt(url: URL, request: OutboundRequest, signal: AbortSignal): Promise<Omit<OutboundResponse, 'attempts'>> {
    const maxBytes = request.maxBytes ?? DEFAULT_MAX_BYTES;
    const hasBody = request.body !== undefined;
    const pending = got(url, {
      method: request.method,
      headers: { 'user-agent': `Switchboard/${VERSION}`, ...lowerCaseKeys(request.headers ?? {}) },
      ...(hasBody ? { body: request.body } : {}),
      agent: request.allowPrivate ? this.open : this.guarded,
      http2: false,
      decompress: false,
      responseType: 'buffer',
      throwHttpErrors: false,
      retry: { limit: 0 },
      followRedirect: (request.maxRedirects ?? DEFAULT_MAX_REDIRECTS) > 0,
      maxRedirects: request.maxRedirects ?? DEFAULT_MAX_REDIRECTS,
      methodRewriting: true,
      signal,
      hooks: {
        beforeRedirect: [
          (options, response) => {
            // got itself refuses a redirect to another scheme (ERR_UNSUPPORTED_PROTOCOL).
            const next = options.url as URL;
            // got turns user:password@ of a Location into an Authorization: Basic header: refused like the first URL.
            if (next.username || next.password || hasUserInfo(response.headers.location, response.url)) {
              throw new OutboundError('redirects', 'redirect to a URL with a user name or password; credentials are never taken from a URL', { host: next.hostname });
            }
            const from = new URL(response.url);
            if (next.origin === from.origin) return;
            if (options.body !== undefined) throw new OutboundError('redirects', `redirect to another origin (${next.host}) would resend the request body`, { host: next.hostname });
            for (const name of Object.keys(options.headers)) if (!CROSS_ORIGIN_SAFE_HEADERS.has(name.toLowerCase())) delete options.headers[name];
          },
        ],
      },
    });
    let tooLarge = false;
    pending.on('downloadProgress', (progress) => {
      if (!tooLarge && ((progress.total ?? 0) > maxBytes || progress.transferred > maxBytes)) {
        tooLarge = true;
        pending.cancel();
      }
    });
    let response: Response<Buffer>;
    try {
      response = await pending;
    } catch (error) {
      if (tooLarge) throw new OutboundError('too_large', `response body is larger than ${maxBytes} bytes`, { host: url.hostname, limit: maxBytes });
      throw error;
    }
    return { status: response.statusCode, statusText: response.statusMessage ?? '', headers: response.headers, body: response.body, url: response.url };
  }

  private failure(error: unknown, context: { signal: AbortSignal; deadline: AbortSignal; timeoutMs: number; host: string }): OutboundError {
    const own = findCause(error);
    if (own) return own;
    if (context.deadline.aborted) return new OutboundError('timeout', `no answer within ${context.timeoutMs} ms`, { host: context.host });
    if (context.signal.aborted) return new OutboundError('aborted', 'request cancelled', { host: context.host });
    const code = (error as { code?: string }).code ?? 'ERR_NETWORK';
    if (code === 'ERR_TOO_MANY_REDIRECTS') return new OutboundError('redirects', 'too many redirects', { host: context.host, code });
    if (code === 'ERR_UNSUPPORTED_PROTOCOL') return new OutboundError('refused', `redirect to a URL that is not http or https`, { host: context.host, code });
    if (code === 'ETIMEDOUT') return new OutboundError('timeout', `no answer within ${context.timeoutMs} ms`, { host: context.host, code });
    // Masked before the cut, which would leave part of a secret the message quoted (a URL's query).
    return new OutboundError('network', maskKnownSecrets(`${code}: ${(error as Error).message}`).slice(0, 300), { host: context.host, code });
  }
}

function parseUrl(value: string | URL): URL {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new OutboundError('invalid_url', 'not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OutboundError('invalid_url', `only http and https URLs can be requested, not ${url.protocol}`);
  if (url.username || url.password) throw new OutboundError('invalid_url', 'URLs with user name or password are not sent; put credentials in a header');
  return url;
}

/** Whether a Location holds user:password@: on a same-origin hop got swaps them for the first URL's (none), so options.url does not show them. */
function hasUserInfo(location: string | undefined, base: string): boolean {
  if (!location) return false;
  try {
    const url = new URL(Buffer.from(location, 'binary').toString(), base);
    return Boolean(url.username || url.password);
  } catch {
    return false;
  }
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}
