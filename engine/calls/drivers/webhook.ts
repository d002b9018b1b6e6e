/**
 * The webhook driver: each command is POSTed as JSON to the account's
 * call_control.url, signed with HMAC-SHA256 over "<timestamp>.<body>", with
 * an Idempotency-Key that stays the same across retries (and across a
 * re-send after a restart), so the PBX carries a command out at most once.
 *
 * Retries only where another attempt can help and cannot hurt: no connection,
 * no answer in time, 5xx, 408 and 429 (Retry-After honoured, capped); a 4xx
 * is the PBX's final word. The PBX's answer decides the result; when no
 * attempt got an answer and one may have reached the PBX, the result says
 * so ("unanswered") instead of guessing.
 */
import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Clock } from '../../clock.ts';
import type { WebhookCallControl } from '../../manifests/types.ts';
import type { SecretSource } from '../../secrets.ts';
import { VERSION } from '../../version.ts';
import { DEFAULT_WEBHOOK_RETRIES, DEFAULT_WEBHOOK_TIMEOUT_SECONDS, type CommandRecord, type FailureOutcome, type SuccessOutcome } from '../types.ts';
import { cleanReason, commandPayload } from '../views.ts';
import type { OutboundClient } from '../../outbound/client.ts';
import { missingSecret, type CallControlDriver, type DriverFactory, type DriverHealth, type DriverScope, type SendRequest, type SendResult } from './driver.ts';
import { readOutcome } from './outcome-field.ts';
import { postToPbx, PbxUnreachable } from './pbx-http.ts';

export type WebhookAnswer =
  /** 2xx: carried out. */
  | { kind: 'done'; outcome?: SuccessOutcome }
  /** 202: taken on; the outcome follows as an acknowledgement. */
  | { kind: 'accepted' }
  /** The PBX answered that it did not carry it out. */
  | { kind: 'refused'; reason: string; outcome?: FailureOutcome }
  /** Not carried out: no attempt reached the PBX, or every answer was an error. */
  | { kind: 'unavailable'; reason: string }
  /** No answer, and an attempt may have reached the PBX. */
  | { kind: 'unanswered'; reason: string };

export interface WebhookDeps {
  secrets: SecretSource;
  clock: Clock;
  outbound: OutboundClient;
  /** Told about every attempt and how it ended (null: it got a final answer). */
  onAttempt(attempt: number, failure: string | null): void;
}

export const SIGNATURE_HEADER = 'X-Switchboard-Signature';
export const TIMESTAMP_HEADER = 'X-Switchboard-Timestamp';
const BACKOFF_BASE_MS = 250;
const RETRY_AFTER_CAP_MS = 5_000;

/** "v1=" + hex HMAC-SHA256 of "<timestamp>.<body>" under the secret. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

const retryableStatus = (status: number): boolean => status >= 500 || status === 408 || status === 429;

function retryAfterMs(header: string | string[] | undefined, now: number): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), RETRY_AFTER_CAP_MS) : undefined;
}

function reasonOf(body: string, status: number): string {
  const fallback = `HTTP ${status}`;
  try {
    const parsed = JSON.parse(body) as { reason?: unknown; error?: unknown; message?: unknown };
    const error = parsed.error as { message?: unknown } | string | undefined;
    return cleanReason(parsed.reason ?? (typeof error === 'object' ? error?.message : error) ?? parsed.message, fallback);
  } catch {
    return fallback;
  }
}

/** A 2xx answer: done, unless its JSON says {"success": false}; an `outcome` it names is kept when it fits. */
function successAnswer(body: string, status: number): WebhookAnswer {
  let parsed: { success?: unknown; reason?: unknown; outcome?: unknown } = {};
  try {
    parsed = body.trim() ? (JSON.parse(body) as typeof parsed) : {};
  } catch {
    // A 2xx with a body that is not JSON still means "done".
  }
  if (parsed === null || typeof parsed !== 'object') parsed = {};
  if (parsed.success === false) {
    const outcome = readOutcome(parsed.outcome, false);
    return { kind: 'refused', reason: cleanReason(parsed.reason, 'refused by the phone system'), ...(outcome.ok && outcome.value ? { outcome: outcome.value as FailureOutcome } : {}) };
  }
  if (status === 202) return { kind: 'accepted' };
  const outcome = readOutcome(parsed.outcome, true);
  return { kind: 'done', ...(outcome.ok && outcome.value ? { outcome: outcome.value as SuccessOutcome } : {}) };
}

export async function sendWebhook(command: CommandRecord, settings: WebhookCallControl, deps: WebhookDeps, budgetMs: number, signal?: AbortSignal): Promise<WebhookAnswer> {
  const url = settings.url;
  const secret = settings.secret ? deps.secrets.get(settings.secret) : undefined;
  if (!url || !secret) return { kind: 'unavailable', reason: url ? 'the signing secret is not set on the server' : 'no webhook URL is configured' };

  const body = JSON.stringify(commandPayload(command, settings));
  const attempts = 1 + (settings.retries ?? DEFAULT_WEBHOOK_RETRIES);
  const timeoutMs = (settings.timeout_seconds ?? DEFAULT_WEBHOOK_TIMEOUT_SECONDS) * 1000;
  const deadline = performance.now() + budgetMs;
  let mayHaveArrived = false;
  let lastFailure = 'no attempt was made';

  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    const remaining = deadline - performance.now();
    if (remaining <= 0) break;
    const timestamp = String(Math.floor(deps.clock.now() / 1000));
    const headers = {
      'content-type': 'application/json',
      'user-agent': `Switchboard/${VERSION}`,
      'idempotency-key': command.idempotencyKey,
      [TIMESTAMP_HEADER.toLowerCase()]: timestamp,
      [SIGNATURE_HEADER.toLowerCase()]: signWebhook(secret, timestamp, body),
      'x-switchboard-attempt': String(attempt),
    };
    let waitMs = BACKOFF_BASE_MS * 2 ** (attempt - 1);
    try {
      const answer = await postToPbx(deps.outbound, url, body, headers, Math.min(timeoutMs, remaining), signal);
      if (answer.status >= 200 && answer.status < 300) {
        deps.onAttempt(attempt, null);
        return successAnswer(answer.body, answer.status);
      }
      if (!retryableStatus(answer.status)) {
        deps.onAttempt(attempt, null);
        return { kind: 'refused', reason: answer.status >= 300 && answer.status < 400 ? `unexpected redirect (HTTP ${answer.status})` : reasonOf(answer.body, answer.status) };
      }
      lastFailure = `HTTP ${answer.status}`;
      waitMs = retryAfterMs(answer.headers['retry-after'], Date.now()) ?? waitMs;
    } catch (error) {
      if (!(error instanceof PbxUnreachable)) throw error;
      if (error.kind === 'aborted') return { kind: 'unanswered', reason: 'cancelled before the phone system answered' };
      if (error.kind === 'no_answer') mayHaveArrived = true;
      lastFailure = error.kind === 'no_answer' ? `no answer (${error.code})` : `could not connect (${error.code})`;
    }
    deps.onAttempt(attempt, lastFailure);
    if (attempt === attempts || deadline - performance.now() <= waitMs) break;
    try {
      await sleep(waitMs, undefined, signal ? { signal } : {});
    } catch {
      return { kind: 'unanswered', reason: 'cancelled before the phone system answered' };
    }
  }
  return mayHaveArrived ? { kind: 'unanswered', reason: lastFailure } : { kind: 'unavailable', reason: lastFailure };
}

/** Longest one command may take, retries included. */
const WEBHOOK_BUDGET_MS = 60_000;

/**
 * The webhook driver of one account. Up unless its URL or signing secret is
 * missing: whether the PBX answers is only known by sending.
 */
class WebhookDriver implements CallControlDriver {
  readonly keepsCaller = true;
  private readonly startedAt: number;

  constructor(private readonly scope: DriverScope<WebhookCallControl>) {
    this.startedAt = scope.clock.now();
  }

  health(): DriverHealth {
    const secret = this.scope.settings.secret;
    if (!this.scope.secrets.get(secret)) return { state: 'down', reason: missingSecret(secret), since: this.startedAt };
    return { state: 'up', reason: null, since: this.startedAt };
  }

  async send(request: SendRequest): Promise<SendResult> {
    const { command } = request;
    const { sink } = this.scope;
    // From the first POST on, the PBX may act on it.
    sink.delivered(command.id);
    const answer = await sendWebhook(
      command,
      this.scope.settings,
      { secrets: this.scope.secrets, clock: this.scope.clock, outbound: this.scope.outbound, onAttempt: (attempt, failure) => sink.attempt(command.id, attempt, failure) },
      WEBHOOK_BUDGET_MS,
      request.signal,
    );
    switch (answer.kind) {
      case 'done':
        return { kind: 'done', verdict: { success: true, ...(answer.outcome ? { outcome: answer.outcome } : {}) } };
      case 'refused':
        return { kind: 'done', verdict: { success: false, reason: answer.reason, ...(answer.outcome ? { outcome: answer.outcome } : {}) } };
      case 'unavailable':
        return { kind: 'done', verdict: { success: false, outcome: 'failed', reason: answer.reason } };
      case 'accepted':
        return { kind: 'sent' };
      case 'unanswered':
        return { kind: 'unanswered', reason: answer.reason };
    }
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}

export const webhookDriver: DriverFactory<WebhookCallControl> = {
  name: 'webhook',
  connection: 'request',
  secretNames: (settings) => [settings.secret],
  // The PBX's program gets the mode, the summary and the warm settings in the command, and carries the transfer out.
  warm: () => true,
  create: (scope) => new WebhookDriver(scope),
};
