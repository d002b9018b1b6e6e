/**
 * ARI's REST half: one request under <url>/ari with HTTP basic auth, through
 * the project's outbound client (address guard, deadline, answer size cap),
 * with redirects and automatic retries off: a repeated originate would ring
 * a second phone, so whether to try again is the caller's decision.
 *
 * ARI takes its parameters in the query string and answers errors as
 * {"message": "..."}; 204 means done without a body. A request that got no
 * answer says whether it can have reached Asterisk, because that decides
 * between "not sent" and "unanswered" for a command.
 */
import { OutboundError, type OutboundClient } from '../../../outbound/client.ts';

export interface AriCredentials {
  username: string;
  password: string;
}

export interface AriAnswer {
  status: number;
  /** The parsed JSON body, when there was one. */
  json: unknown;
  /** Asterisk's "message" on an error answer. */
  message: string | undefined;
}

/** No usable answer. `reached`: the request may have arrived (a time-out, a connection lost after sending). */
export class AriUnreachable extends Error {
  constructor(
    readonly reached: boolean,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'AriUnreachable';
  }
}

const MAX_ANSWER_BYTES = 256 * 1024;
const DEFAULT_TIMEOUT_MS = 5_000;
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/** A path segment as ARI reads it: percent-encoded, but with ':' kept (device names like Custom:DND100). */
export const segment = (value: string): string => encodeURIComponent(value).replace(/%3A/gi, ':');

/** The ARI base (<url>/ari) of an Asterisk HTTP server URL, whatever trailing slash it was written with. */
export function ariBase(url: string): URL {
  const base = new URL(url);
  base.pathname = `${base.pathname.replace(/\/+$/, '')}/ari`;
  base.search = '';
  base.hash = '';
  return base;
}

export function basicAuth(credentials: AriCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

export class AriRest {
  constructor(
    private readonly base: URL,
    private readonly outbound: OutboundClient,
    private readonly credentials: () => AriCredentials | undefined,
  ) {}

  /** Where a host problem is, for reasons: host and port, never the credentials. */
  get where(): string {
    return this.base.host;
  }

  /** `options.body`: a JSON body, for the parameters ARI takes only there (an originate's `variables`). */
  async request(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    query: Record<string, string | number | undefined> = {},
    options: { signal?: AbortSignal; timeoutMs?: number; body?: Record<string, unknown> } = {},
  ): Promise<AriAnswer> {
    const credentials = this.credentials();
    if (!credentials) throw new AriUnreachable(false, 'the ARI password is not set');
    const url = new URL(`${this.base.pathname}${path}`, this.base);
    for (const [name, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(name, String(value));
    let response;
    try {
      response = await this.outbound.request({
        method,
        url,
        headers: { authorization: basicAuth(credentials), accept: 'application/json', ...(options.body ? { 'content-type': 'application/json' } : {}) },
        ...(options.body ? { body: JSON.stringify(options.body) } : {}),
        timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        maxBytes: MAX_ANSWER_BYTES,
        retries: 0,
        maxRedirects: 0,
        purpose: 'call_control',
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      if (!(error instanceof OutboundError)) throw error;
      throw unreachable(error, this.base.host);
    }
    const text = response.body.toString('utf8');
    let json: unknown;
    try {
      json = text.trim() ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    const message = json !== null && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string' ? (json as { message: string }).message : undefined;
    return { status: response.status, json, message };
  }
}

function unreachable(error: OutboundError, host: string): AriUnreachable {
  switch (error.kind) {
    case 'refused':
      return new AriUnreachable(false, `the outbound address policy refuses ${host} (${error.message}); allow it with --outbound-allow (SWITCHBOARD_OUTBOUND_ALLOW)`);
    case 'invalid_url':
      return new AriUnreachable(false, `the ARI URL is not valid (${host})`);
    case 'timeout':
      return new AriUnreachable(true, `Asterisk at ${host} did not answer in time`);
    case 'aborted':
      return new AriUnreachable(true, 'cancelled before Asterisk answered');
    case 'too_large':
      return new AriUnreachable(true, `Asterisk at ${host} sent an answer too large to read`);
    default: {
      const code = error.details.code ?? error.kind.toUpperCase();
      const notSent = error.kind === 'network' && (NOT_CONNECTED.has(code) || code.includes('CERT') || code.startsWith('ERR_TLS'));
      return new AriUnreachable(!notSent, `cannot reach Asterisk at ${host} (${code})`);
    }
  }
}
