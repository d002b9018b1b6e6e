/**
 * Why a sync did not complete, sorted into the few kinds an operator acts
 * on (status shows the kind and a message; the scheduler backs off on all of
 * them and honours Retry-After). Messages quote what the provider said, on
 * one line and capped, and are masked of secret values before they are
 * stored or logged (sync.ts).
 *
 * `ResyncRequired` is not a failure: the provider no longer accepts the
 * stored cursor, and the sync starts over with a full read.
 */
import { oneLine } from '../../plain-text.ts';
import { maskKnownSecrets } from '../../secrets.ts';
import type { HttpFailure, HttpResponse } from './http.ts';

export type FailureKind = 'config' | 'auth' | 'rate_limited' | 'upstream' | 'network' | 'protocol' | 'cancelled' | 'internal';

export class SourceFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    /** The provider's Retry-After, in ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'SourceFailure';
  }
}

export class ResyncRequired extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'ResyncRequired';
  }
}

/** Retry-After as delta-seconds or an HTTP date, in ms from `now`. */
export function retryAfterMs(value: string | string[] | undefined, now: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function fromHttpFailure(error: HttpFailure): SourceFailure {
  if (error.kind === 'aborted') return new SourceFailure('cancelled', error.message);
  if (error.kind === 'invalid_url') return new SourceFailure('config', `${error.message}; check api_base_url and token_url`);
  if (error.kind === 'refused') return new SourceFailure('config', `${error.message}; an operator can allow it with SWITCHBOARD_OUTBOUND_ALLOW`);
  if (error.kind === 'too_large') return new SourceFailure('protocol', error.message);
  return new SourceFailure('network', error.message);
}

export interface ProviderError {
  /** Google's status (RESOURCE_EXHAUSTED), Graph's code (syncStateNotFound), OAuth's error (invalid_grant). */
  code: string | undefined;
  message: string | undefined;
  /** google.rpc.ErrorInfo reasons (EXPIRED_SYNC_TOKEN). */
  reasons: string[];
}

/** The error a provider put in a JSON body: {error: {code, status, message, details}} or OAuth's {error, error_description}. */
export function providerError(body: Buffer): ProviderError {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return { code: undefined, message: undefined, reasons: [] };
  }
  const error = (value as { error?: unknown; error_description?: unknown } | null)?.error;
  const text = (field: unknown) => (typeof field === 'string' && field ? field : undefined);
  if (typeof error === 'string') return { code: error, message: text((value as { error_description?: unknown }).error_description), reasons: [] };
  if (!error || typeof error !== 'object') return { code: undefined, message: undefined, reasons: [] };
  const fields = error as { status?: unknown; code?: unknown; message?: unknown; details?: unknown };
  const details = Array.isArray(fields.details) ? (fields.details as { reason?: unknown }[]) : [];
  return {
    code: text(fields.status) ?? text(fields.code),
    message: text(fields.message),
    reasons: details.map((detail) => detail?.reason).filter((reason): reason is string => typeof reason === 'string'),
  };
}

/** "429 RESOURCE_EXHAUSTED: Quota exceeded" (capped, one line, no closing full stop: more may follow). Secrets are masked before the cap, which would leave part of one. */
export function describeAnswer(status: number, error: ProviderError): string {
  const message = error.message?.trim().replace(/[.\s]+$/, '');
  const parts = [String(status), error.code, message ? `: ${maskKnownSecrets(message)}` : ''].filter(Boolean);
  return oneLine(parts.join(' ').replace(' :', ':')).slice(0, 300);
}

/** A failure for an HTTP answer that is not a success, by its status. */
export function failureForAnswer(service: string, response: HttpResponse, now: number): SourceFailure {
  const error = providerError(response.body);
  const answer = `${service} answered ${describeAnswer(response.status, error)}`;
  const retryAfter = retryAfterMs(response.headers['retry-after'], now);
  if (response.status === 401) return new SourceFailure('auth', `${answer}; the access token was refused`);
  if (response.status === 403) return new SourceFailure('auth', `${answer}; check that the API is enabled for the OAuth client and the refresh token grants the needed scope`);
  if (response.status === 429) return new SourceFailure('rate_limited', answer, retryAfter);
  if (response.status >= 500) return new SourceFailure('upstream', answer, retryAfter);
  return new SourceFailure('protocol', answer);
}
