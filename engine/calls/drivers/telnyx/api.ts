/**
 * The Telnyx REST requests this driver makes (commands on a call leg, a
 * dial, and a cheap authenticated GET that checks the API key) as a small
 * client over the
 * project's outbound client, so the SSRF guard, metrics and deadlines apply
 * to them like to every other request; the vendor SDK would bring 37 MB for
 * two calls and its own HTTP stack around all of that.
 *
 * Every answer is sorted into what the driver must tell apart: Telnyx took
 * it (2xx); Telnyx refused it (an error status with the first entry of the
 * documented `{"errors": [{"code", "title", "detail"}]}` body); or no answer,
 * and then whether the request may have reached Telnyx at all. Automatic
 * retries stay off: only the driver knows whether another attempt is safe.
 */
import { cleanReason } from '../../views.ts';
import { OutboundError, type OutboundClient } from '../../../outbound/client.ts';
import { VERSION } from '../../../version.ts';
import type { ApiError } from './outcomes.ts';

export const DEFAULT_API_BASE = 'https://api.telnyx.com';

/** The call commands the driver sends (POST /v2/calls/{call_control_id}/actions/{action}). */
export type CallAction = 'transfer' | 'hangup' | 'playback_start' | 'playback_stop' | 'speak' | 'gather' | 'gather_using_speak' | 'gather_using_audio' | 'bridge';

export type ApiAnswer =
  /** `data`: the answer's "data" object, when it has one (a dial's new call_control_id is there). */
  | { kind: 'ok'; status: number; data?: Record<string, unknown> }
  | ({ kind: 'error' } & ApiError)
  /** No HTTP answer; `mayHaveArrived` false when the request cannot have reached Telnyx. */
  | { kind: 'unreachable'; mayHaveArrived: boolean; code: string }
  | { kind: 'aborted' };

const MAX_ANSWER_BYTES = 64 * 1024;
/** Failures that happen before a byte of the request leaves: the request cannot have arrived. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/** A path segment as RFC 3986 allows it: call_control_id values ("v3:…") keep their colon. */
const segment = (value: string): string => value.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@]+/g, encodeURIComponent);

function readError(status: number, body: Buffer): ApiError {
  let first: { code?: unknown; title?: unknown; detail?: unknown } | undefined;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: unknown };
    if (Array.isArray(parsed.errors) && parsed.errors[0] && typeof parsed.errors[0] === 'object') first = parsed.errors[0] as typeof first;
  } catch {
    // Not JSON (a proxy's error page): the status says what there is to say.
  }
  const text = (value: unknown): string | null => (typeof value === 'string' || typeof value === 'number' ? cleanReason(String(value), '') || null : null);
  const code = text(first?.code);
  return { status, code: code && /^[A-Za-z0-9_.-]{1,20}$/.test(code) ? code : null, title: text(first?.title), detail: text(first?.detail) };
}

/** The "data" object of a 2xx answer, if the body is JSON with one. */
function readData(body: Buffer): Record<string, unknown> | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { data?: unknown };
    return parsed.data && typeof parsed.data === 'object' && !Array.isArray(parsed.data) ? (parsed.data as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export class TelnyxApi {
  private readonly base: string;

  constructor(
    private readonly outbound: OutboundClient,
    apiBase: string | undefined,
  ) {
    this.base = (apiBase ?? DEFAULT_API_BASE).replace(/\/+$/, '');
  }

  /** The host requests go to, for health reasons (never with credentials). */
  get host(): string {
    try {
      return new URL(this.base).host;
    } catch {
      return this.base;
    }
  }

  /** POST /v2/calls/{call_control_id}/actions/{action} with a JSON body. */
  action(apiKey: string, callControlId: string, action: CallAction, body: Record<string, unknown>, timeoutMs: number, signal?: AbortSignal): Promise<ApiAnswer> {
    return this.send(apiKey, 'POST', `/v2/calls/${segment(callControlId)}/actions/${action}`, JSON.stringify(body), timeoutMs, signal);
  }

  /** POST /v2/calls: a new outbound leg; the answer's data holds its call_control_id. */
  dial(apiKey: string, body: Record<string, unknown>, timeoutMs: number, signal?: AbortSignal): Promise<ApiAnswer> {
    return this.send(apiKey, 'POST', '/v2/calls', JSON.stringify(body), timeoutMs, signal);
  }

  /** GET /v2/calls/{call_control_id}: whether the leg is still up (data.is_alive). */
  callStatus(apiKey: string, callControlId: string, timeoutMs: number): Promise<ApiAnswer> {
    return this.send(apiKey, 'GET', `/v2/calls/${segment(callControlId)}`, undefined, timeoutMs);
  }

  /** GET /v2/balance: the cheapest request that needs a valid API key. */
  checkKey(apiKey: string, timeoutMs: number, signal?: AbortSignal): Promise<ApiAnswer> {
    return this.send(apiKey, 'GET', '/v2/balance', undefined, timeoutMs, signal);
  }

  private async send(apiKey: string, method: 'GET' | 'POST', path: string, body: string | undefined, timeoutMs: number, signal?: AbortSignal): Promise<ApiAnswer> {
    const headers: Record<string, string> = { authorization: `Bearer ${apiKey}`, accept: 'application/json', 'user-agent': `Switchboard/${VERSION}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      const response = await this.outbound.request({
        method,
        url: `${this.base}${path}`,
        headers,
        ...(body !== undefined ? { body } : {}),
        timeoutMs,
        maxBytes: MAX_ANSWER_BYTES,
        retries: 0,
        maxRedirects: 0,
        purpose: 'call_control',
        ...(signal ? { signal } : {}),
      });
      if (response.status >= 200 && response.status < 300) {
        const data = readData(response.body);
        return data ? { kind: 'ok', status: response.status, data } : { kind: 'ok', status: response.status };
      }
      return { kind: 'error', ...readError(response.status, response.body) };
    } catch (error) {
      if (!(error instanceof OutboundError)) throw error;
      if (error.kind === 'aborted') return { kind: 'aborted' };
      if (error.kind === 'refused') return { kind: 'unreachable', mayHaveArrived: false, code: 'ADDRESS_NOT_ALLOWED' };
      if (error.kind === 'invalid_url') return { kind: 'unreachable', mayHaveArrived: false, code: 'INVALID_URL' };
      const code = error.details.code ?? error.kind.toUpperCase();
      const notSent = error.kind === 'network' && (NOT_CONNECTED.has(code) || code.includes('CERT') || code.startsWith('ERR_TLS'));
      return { kind: 'unreachable', mayHaveArrived: !notSent, code };
    }
  }
}
