/**
 * A small client of Twilio's REST API (2010-04-01): the requests call
 * control needs, fetching the account (to check the credentials), updating
 * a call (new TwiML, or Status=completed to hang up) and creating one (the
 * new leg of a warm transfer). Form-encoded
 * bodies and HTTP basic auth with AccountSid:AuthToken, as Twilio documents.
 *
 * Not the official SDK: it has no base-URL option and would go around the
 * project's outbound client, and with it the SSRF guard, the metrics and the
 * deadlines. No retries here: updating a call is not idempotent, and the
 * driver decides what an answer (or its absence) means.
 */
import { OutboundError, type OutboundClient } from '../../../outbound/client.ts';
import { VERSION } from '../../../version.ts';
import { cleanReason } from '../../views.ts';
import type { TwilioError } from './outcomes.ts';

export interface TwilioAccess {
  outbound: OutboundClient;
  apiBase: string;
  accountSid: string;
  authToken: string;
}

export type TwilioAnswer =
  | { kind: 'ok'; body: Record<string, unknown> }
  | ({ kind: 'error' } & TwilioError)
  /** No HTTP answer. `sent` false: the request cannot have reached Twilio. */
  | { kind: 'unreachable'; sent: boolean; code: string }
  | { kind: 'aborted' };

export const DEFAULT_API_BASE = 'https://api.twilio.com';
const TIMEOUT_MS = 10_000;
const MAX_ANSWER_BYTES = 64 * 1024;
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
/** Twilio's SID of a call: "CA" and 32 hex digits. */
export const CALL_SID = /^CA[0-9a-fA-F]{32}$/;

function errorOf(status: number, text: string): TwilioError {
  let parsed: { code?: unknown; message?: unknown } = {};
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    // Not Twilio's JSON (a proxy's page): the status says enough.
  }
  const code = typeof parsed?.code === 'number' && Number.isInteger(parsed.code) ? parsed.code : null;
  return { status, code, message: cleanReason(parsed?.message, `HTTP ${status}`) };
}

/** A form body; pairs where a parameter repeats (StatusCallbackEvent). */
type Form = Record<string, string> | [string, string][];

async function request(access: TwilioAccess, method: 'GET' | 'POST', path: string, form: Form | undefined, signal?: AbortSignal): Promise<TwilioAnswer> {
  const url = `${access.apiBase.replace(/\/+$/, '')}/2010-04-01/Accounts/${encodeURIComponent(access.accountSid)}${path}`;
  const headers: Record<string, string> = {
    authorization: `Basic ${Buffer.from(`${access.accountSid}:${access.authToken}`).toString('base64')}`,
    accept: 'application/json',
    'user-agent': `Switchboard/${VERSION}`,
  };
  if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
  try {
    const response = await access.outbound.request({
      method,
      url,
      headers,
      ...(form ? { body: new URLSearchParams(form).toString() } : {}),
      timeoutMs: TIMEOUT_MS,
      maxBytes: MAX_ANSWER_BYTES,
      retries: 0,
      maxRedirects: 0,
      purpose: 'call_control',
      ...(signal ? { signal } : {}),
    });
    const text = response.body.toString('utf8');
    if (response.status >= 200 && response.status < 300) {
      try {
        const body = JSON.parse(text) as unknown;
        return { kind: 'ok', body: body && typeof body === 'object' ? (body as Record<string, unknown>) : {} };
      } catch {
        return { kind: 'ok', body: {} };
      }
    }
    return { kind: 'error', ...errorOf(response.status, text) };
  } catch (error) {
    if (!(error instanceof OutboundError)) throw error;
    if (error.kind === 'aborted') return { kind: 'aborted' };
    if (error.kind === 'refused') return { kind: 'unreachable', sent: false, code: 'ADDRESS_NOT_ALLOWED' };
    if (error.kind === 'invalid_url') return { kind: 'unreachable', sent: false, code: 'INVALID_URL' };
    const code = error.details.code ?? error.kind.toUpperCase();
    const sent = !(error.kind === 'network' && (NOT_CONNECTED.has(code) || code.includes('CERT') || code.startsWith('ERR_TLS')));
    return { kind: 'unreachable', sent, code };
  }
}

/** GET /Accounts/{AccountSid}.json: answers 401 when the SID and token do not match. */
export const fetchAccount = (access: TwilioAccess, signal?: AbortSignal): Promise<TwilioAnswer> => request(access, 'GET', '.json', undefined, signal);

/** POST /Accounts/{AccountSid}/Calls/{CallSid}.json with `Twiml` (new instructions) or `Status=completed` (hang up). */
export const updateCall = (access: TwilioAccess, callSid: string, form: { Twiml: string } | { Status: 'completed' }, signal?: AbortSignal): Promise<TwilioAnswer> =>
  request(access, 'POST', `/Calls/${encodeURIComponent(callSid)}.json`, form, signal);

/** What a new call is: TwiML run when it answers, and how its progress is reported. */
export interface NewCall {
  to: string;
  from: string;
  /** Run when the call answers (at most 4000 characters). */
  twiml: string;
  timeoutSeconds: number;
  statusCallback: string;
  /** Each event is a parameter of its own, as Twilio asks. */
  statusCallbackEvents: string[];
}

/** POST /Accounts/{AccountSid}/Calls.json: a new outbound call; 201 with its sid. */
export const createCall = (access: TwilioAccess, call: NewCall, signal?: AbortSignal): Promise<TwilioAnswer> =>
  request(
    access,
    'POST',
    '/Calls.json',
    [
      ['To', call.to],
      ['From', call.from],
      ['Twiml', call.twiml],
      ['Timeout', String(call.timeoutSeconds)],
      ['StatusCallback', call.statusCallback],
      ['StatusCallbackMethod', 'POST'],
      ...call.statusCallbackEvents.map((event): [string, string] => ['StatusCallbackEvent', event]),
    ],
    signal,
  );
