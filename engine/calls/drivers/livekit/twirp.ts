/**
 * A small client of LiveKit's server API: Twirp over HTTP with JSON bodies
 * (POST {url}/twirp/livekit.<Service>/<Method>), each request carrying a
 * fresh access token with the grants that one method needs.
 *
 * Written here rather than taken from livekit-server-sdk because the SDK's
 * clients call fetch themselves: that would bypass the project's outbound
 * client (SSRF guard, deadlines, answer size cap, metrics), and it would
 * bring protobuf along for three JSON calls.
 *
 * One attempt per request, never an automatic retry: a transfer is not
 * idempotent, and LiveKit answers a busy destination with HTTP 429
 * (resource_exhausted), which a generic retry would dial again. Failures
 * to get an answer say whether the request can have reached LiveKit.
 */
import { OutboundError, type OutboundClient } from '../../../outbound/client.ts';
import { VERSION } from '../../../version.ts';
import { cleanReason } from '../../views.ts';
import type { TwirpFailure } from './outcomes.ts';
import { accessToken, type Grants } from './token.ts';

export type TwirpAnswer =
  | { kind: 'ok'; body: Record<string, unknown> }
  | ({ kind: 'error' } & TwirpFailure)
  /** No answer. `sent`: "no" when it cannot have reached LiveKit, "maybe" when it may have, "aborted" when the caller stopped waiting. */
  | { kind: 'unreachable'; sent: 'no' | 'maybe' | 'aborted'; reason: string };

export interface TwirpCall {
  service: 'livekit.SIP' | 'livekit.RoomService';
  method: string;
  body: Record<string, unknown>;
  grants: Grants;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/** ListParticipants answers carry every participant's tracks and attributes: room for a busy room, but bounded. */
const MAX_ANSWER_BYTES = 512 * 1024;
const MAX_META_ENTRIES = 16;
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/** Twirp's error codes by HTTP status, for answers without a Twirp JSON body (a proxy, the auth middleware). */
const CODE_OF_STATUS: Record<number, string> = { 401: 'unauthenticated', 403: 'permission_denied', 404: 'bad_route', 408: 'deadline_exceeded', 429: 'resource_exhausted', 503: 'unavailable' };

/** The API base of a LiveKit URL: wss:// is the same server as https:// (ws:// as http://), without a trailing slash. */
export function apiBase(url: string): string {
  const parsed = new URL(url.replace(/^ws(s?):\/\//i, 'http$1://'));
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
}

function readFailure(status: number, text: string, token: string): TwirpFailure {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const body = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  const meta: Record<string, string> = {};
  if (body.meta && typeof body.meta === 'object') {
    for (const [key, value] of Object.entries(body.meta as Record<string, unknown>).slice(0, MAX_META_ENTRIES)) {
      if (typeof value === 'string' && key !== 'error_details') meta[key.slice(0, 64)] = value.slice(0, 200);
    }
  }
  // An error text may quote the request's token (LiveKit's auth errors have): never keep it.
  const msg = typeof body.msg === 'string' ? cleanReason(body.msg.split(token).join('<token>'), '') : '';
  const code = typeof body.code === 'string' && /^[a-z_]{1,40}$/.test(body.code) ? body.code : (CODE_OF_STATUS[status] ?? (status >= 500 ? 'internal' : 'unknown'));
  return { status, code, msg, meta };
}

function unreachable(error: OutboundError, timeoutMs: number, base: string): TwirpAnswer {
  switch (error.kind) {
    case 'aborted':
      return { kind: 'unreachable', sent: 'aborted', reason: 'cancelled before LiveKit answered' };
    case 'refused':
      return { kind: 'unreachable', sent: 'no', reason: `the outbound policy does not allow the address of LiveKit at ${base} (add it to the outbound allow list)` };
    case 'invalid_url':
      return { kind: 'unreachable', sent: 'no', reason: 'the LiveKit URL is not valid' };
    case 'timeout':
      return { kind: 'unreachable', sent: 'maybe', reason: `no answer from LiveKit at ${base} within ${Math.round(timeoutMs / 1000)} seconds` };
    case 'too_large':
      return { kind: 'unreachable', sent: 'maybe', reason: "LiveKit's answer was larger than allowed" };
    default: {
      const code = error.details.code ?? error.kind.toUpperCase();
      // A refused connection or a certificate problem means the request never left.
      const notSent = NOT_CONNECTED.has(code) || code.includes('CERT') || code.startsWith('ERR_TLS');
      return { kind: 'unreachable', sent: notSent ? 'no' : 'maybe', reason: `${notSent ? 'cannot reach' : 'lost the connection to'} LiveKit at ${base} (${code})` };
    }
  }
}

export class TwirpClient {
  constructor(
    private readonly outbound: OutboundClient,
    private readonly base: string,
    private readonly apiKey: string,
  ) {}

  async call(secret: string, call: TwirpCall): Promise<TwirpAnswer> {
    const token = accessToken(this.apiKey, secret, call.grants);
    let response;
    try {
      response = await this.outbound.request({
        method: 'POST',
        url: `${this.base}/twirp/${call.service}/${call.method}`,
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}`, 'user-agent': `Switchboard/${VERSION}` },
        body: JSON.stringify(call.body),
        timeoutMs: call.timeoutMs,
        maxBytes: MAX_ANSWER_BYTES,
        retries: 0,
        maxRedirects: 0,
        purpose: 'call_control',
        ...(call.signal ? { signal: call.signal } : {}),
      });
    } catch (error) {
      if (error instanceof OutboundError) return unreachable(error, call.timeoutMs, this.base);
      throw error;
    }
    const text = response.body.toString('utf8');
    if (response.status >= 200 && response.status < 300) {
      let body: unknown;
      try {
        body = text.trim() ? JSON.parse(text) : {};
      } catch {
        body = undefined;
      }
      if (body && typeof body === 'object' && !Array.isArray(body)) return { kind: 'ok', body: body as Record<string, unknown> };
      return { kind: 'error', status: response.status, code: 'malformed_response', msg: 'the answer is not a JSON object', meta: {} };
    }
    if (response.status >= 300 && response.status < 400) return { kind: 'error', status: response.status, code: 'redirect', msg: `unexpected redirect (HTTP ${response.status})`, meta: {} };
    return { kind: 'error', ...readFailure(response.status, text, token) };
  }
}
