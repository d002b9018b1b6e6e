/**
 * The telnyx driver: Telnyx Call Control v2 for one account.
 *
 * A transfer is POST /v2/calls/{caller's call_control_id}/actions/transfer:
 * Telnyx dials the destination on a new leg and bridges the caller to it
 * when it answers. A 200 means the new leg is being dialed; the verdict
 * comes by webhook (legs.ts) to `<public URL>/ucp/v2/pbx/<account>/telnyx/events`,
 * which the transfer names as its webhook_url. A failed transfer leaves the
 * caller's leg up, so the agent still has the caller and fallbacks apply
 * (keepsCaller). command_id is the command's idempotency key: Telnyx ignores
 * a command with the same command_id for the same call, so a re-send after
 * a restart cannot dial twice, and a request that could not connect is
 * simply tried once more.
 *
 * A blind transfer with the model's summary adds it to the new leg's INVITE
 * as the custom header X-Switchboard-Summary (printable ASCII, 200 bytes at
 * most), for phones that show it.
 *
 * A warm transfer (mode warm) holds the caller, dials the destination on a
 * leg of its own, briefs whoever answers and bridges the caller to them on
 * acceptance (warm.ts); it needs call_control.connection_id.
 *
 * A hang-up is POST …/actions/hangup; "call has already ended" counts as done.
 *
 * Down, so that commands fail at once with the reason, when the server has
 * no public URL (Telnyx could not report outcomes), the API key secret is
 * missing, the public key is not an Ed25519 key, Telnyx refuses the key or
 * cannot be reached (key-check.ts).
 */
import type { KeyObject } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import type { CommandRecord } from '../../types.ts';
import { SUMMARY_HEADER, summaryHeaderValue } from '../../warm.ts';
import {
  fillTemplate,
  HealthTracker,
  missingSecret,
  type CallbackAnswer,
  type CallbackRequest,
  type CallControlDriver,
  type DriverFactory,
  type DriverHealth,
  type DriverScope,
  type SendRequest,
  type SendResult,
} from '../driver.ts';
import { TelnyxApi, type ApiAnswer, type CallAction } from './api.ts';
import { CHECKING, KeyCheck } from './key-check.ts';
import { TransferLegs } from './legs.ts';
import { apiErrorReason, CALL_ENDED_CODE } from './outcomes.ts';
import { readPublicKey, signatureProblem } from './signature.ts';
import type { TelnyxCallControl } from '../../../manifests/types.ts';
import { NO_CONNECTION_ID, WarmTransfers } from './warm.ts';
import { commandState, readEvent } from './webhook-event.ts';

export const NO_PUBLIC_URL = "the server's public URL is not set (--public-url / SWITCHBOARD_PUBLIC_URL); Telnyx cannot report transfer outcomes";
export const BAD_PUBLIC_KEY = 'call_control.public_key is not an Ed25519 public key; copy the base64 public key from the Mission Control portal';
const REQUEST_TIMEOUT_MS = 8_000;
/** Attempts for a request that could not even connect (it cannot have arrived, so trying again is safe). */
const ATTEMPTS = 2;
const RETRY_DELAY_MS = 250;
/** Telnyx's bounds for timeout_secs. */
const MIN_RING_SECONDS = 5;
const MAX_RING_SECONDS = 600;
const E164 = /^\+[1-9]\d{6,14}$/;
const REFUSAL_LOG_INTERVAL_MS = 60_000;

export const ringSeconds = (ringTimeoutMs: number): number => Math.min(MAX_RING_SECONDS, Math.max(MIN_RING_SECONDS, Math.ceil(ringTimeoutMs / 1000)));

class TelnyxDriver implements CallControlDriver {
  readonly keepsCaller = true;
  private readonly api: TelnyxApi;
  private readonly publicKey: KeyObject | undefined;
  private readonly tracker: HealthTracker;
  private readonly keys: KeyCheck;
  private readonly legs: TransferLegs;
  private readonly warm: WarmTransfers;
  private blocked = false;
  private lastRefusalLog = 0;

  constructor(private readonly scope: DriverScope<TelnyxCallControl>) {
    this.api = new TelnyxApi(scope.outbound, scope.settings.api_base);
    this.publicKey = readPublicKey(scope.settings.public_key);
    this.tracker = new HealthTracker(scope.clock, (health) => scope.sink.healthChanged(health), { state: 'connecting', reason: CHECKING });
    this.keys = new KeyCheck(this.api, () => this.apiKey(), () => this.refresh(), scope.log);
    this.legs = new TransferLegs(scope.sink, scope.log, () => scope.clock.now(), scope.commandOf);
    this.warm = new WarmTransfers({
      api: this.api,
      scope,
      apiKey: () => this.apiKey(),
      handOver: (request, send) => this.attempts(request, send),
      unsuccessful: (answer, key) => this.unsuccessful(answer, key),
    });
    this.refresh();
    this.keys.start();
  }

  /** Read at every use, so a secret set later (SIGHUP) takes effect. */
  private apiKey(): string | undefined {
    return this.scope.secrets.get(this.scope.settings.api_key) || undefined;
  }

  /** What no request to Telnyx can fix. */
  private configProblem(): string | null {
    if (!this.scope.callbackBase) return NO_PUBLIC_URL;
    if (!this.publicKey) return BAD_PUBLIC_KEY;
    if (!this.apiKey()) return missingSecret(this.scope.settings.api_key);
    return null;
  }

  private refresh(): DriverHealth {
    const problem = this.configProblem();
    if (problem) {
      this.blocked = true;
      this.tracker.set('down', problem);
      return this.tracker.get();
    }
    if (this.blocked) {
      this.blocked = false;
      this.keys.checkNow();
    }
    const key = this.apiKey();
    if (key) this.keys.notice(key);
    this.tracker.set(this.keys.state.state, this.keys.state.reason);
    return this.tracker.get();
  }

  health(): DriverHealth {
    return this.refresh();
  }

  async send(request: SendRequest): Promise<SendResult> {
    const problem = this.configProblem();
    const key = this.apiKey();
    if (problem || !key) return { kind: 'not_sent', reason: problem ?? 'no API key' };
    if (request.command.kind !== 'transfer') return this.hangup(request, key);
    return request.command.mode === 'warm' ? this.warmTransfer(request, key) : this.transfer(request, key);
  }

  private warmTransfer(request: SendRequest, key: string): Promise<SendResult> {
    const to = this.dialString(request.command);
    if (!to.ok) return Promise.resolve({ kind: 'done', verdict: { success: false, outcome: 'failed', reason: to.reason } });
    return this.warm.send(request, key, { to: to.value, from: this.from(request), timeoutSecs: ringSeconds(request.ringTimeoutMs) });
  }

  /** The new leg's caller id: call_control.caller_id, else the caller's own number when it is E.164. */
  private from(request: SendRequest): string | undefined {
    return this.scope.settings.caller_id ?? (request.caller && E164.test(request.caller) ? request.caller : undefined);
  }

  private async transfer(request: SendRequest, key: string): Promise<SendResult> {
    const { command } = request;
    const to = this.dialString(command);
    if (!to.ok) return { kind: 'done', verdict: { success: false, outcome: 'failed', reason: to.reason } };
    const from = this.from(request);
    const header = command.summary ? summaryHeaderValue(command.summary) : '';
    const body = {
      to: to.value,
      ...(from ? { from } : {}),
      timeout_secs: ringSeconds(request.ringTimeoutMs),
      webhook_url: `${this.scope.callbackBase}/events`,
      // The new leg's state, on every webhook of that leg; the caller's leg keeps the state its owner gave it.
      target_leg_client_state: commandState(command.id),
      command_id: command.idempotencyKey,
      ...(header ? { custom_headers: [{ name: SUMMARY_HEADER, value: header }] } : {}),
    };
    this.legs.expect(command.id, request.callRef);
    const answer = await this.post(request, key, 'transfer', body);
    if (answer.kind === 'ok') return { kind: 'sent' };
    if (answer.kind !== 'aborted' && !(answer.kind === 'unreachable' && answer.mayHaveArrived)) this.legs.forget(command.id);
    return this.unsuccessful(answer, key);
  }

  private async hangup(request: SendRequest, key: string): Promise<SendResult> {
    const answer = await this.post(request, key, 'hangup', { command_id: request.command.idempotencyKey });
    if (answer.kind === 'ok' || (answer.kind === 'error' && answer.code === CALL_ENDED_CODE)) return { kind: 'done', verdict: { success: true } };
    return this.unsuccessful(answer, key);
  }

  /** An extension goes through endpoint_template; an E.164 number is dialed as it is. */
  private dialString(command: CommandRecord): { ok: true; value: string } | { ok: false; reason: string } {
    const destination = command.destination;
    if (!destination) return { ok: false, reason: 'the transfer has no destination' };
    if (command.destinationType === 'e164' || destination.startsWith('+')) return { ok: true, value: destination };
    const template = this.scope.settings.endpoint_template;
    if (!template) return { ok: false, reason: `extension ${destination} cannot be dialed: call_control.endpoint_template is not set` };
    return { ok: true, value: fillTemplate(template, { destination }) };
  }

  private post(request: SendRequest, key: string, action: CallAction, body: Record<string, unknown>): Promise<ApiAnswer> {
    // From the first attempt on, Telnyx may act on it.
    this.scope.sink.delivered(request.command.id);
    return this.attempts(request, () => this.api.action(key, request.callRef, action, body, REQUEST_TIMEOUT_MS, request.signal));
  }

  /** Sends the request that hands a command over, once more when it could not connect; each attempt is counted on the command. */
  private async attempts(request: SendRequest, send: () => Promise<ApiAnswer>): Promise<ApiAnswer> {
    const { command, signal } = request;
    const { sink } = this.scope;
    for (let attempt = 1; ; attempt += 1) {
      const answer = await send();
      const failure = answer.kind === 'unreachable' ? `${answer.mayHaveArrived ? 'no answer' : 'could not connect'} (${answer.code})` : answer.kind === 'aborted' ? 'cancelled' : null;
      sink.attempt(command.id, attempt, failure);
      if (answer.kind !== 'unreachable' || answer.mayHaveArrived || attempt >= ATTEMPTS) return answer;
      try {
        await sleep(RETRY_DELAY_MS, undefined, signal ? { signal } : {});
      } catch {
        return { kind: 'aborted' };
      }
    }
  }

  /** Any answer but 200 (and, for a hang-up, "already ended"). */
  private unsuccessful(answer: Exclude<ApiAnswer, { kind: 'ok' }>, key: string): SendResult {
    switch (answer.kind) {
      case 'aborted':
        return { kind: 'unanswered', reason: 'cancelled before Telnyx answered' };
      case 'unreachable':
        if (answer.mayHaveArrived) return { kind: 'unanswered', reason: `no answer from Telnyx (${answer.code})` };
        this.keys.unreachable(answer.code);
        return { kind: 'not_sent', reason: `cannot reach Telnyx at ${this.api.host} (${answer.code})` };
      case 'error': {
        const reason = apiErrorReason(answer);
        if (answer.status === 401) this.keys.refused(key, reason);
        return { kind: 'done', verdict: { success: false, outcome: 'failed', reason } };
      }
    }
  }

  /** POST …/telnyx/events: Telnyx's signed webhooks; anything else is refused. */
  async callback(request: CallbackRequest): Promise<CallbackAnswer> {
    if (request.path !== 'events') return { status: 404, contentType: 'text/plain', body: 'not found' };
    const problem = this.publicKey ? signatureProblem(this.publicKey, request.headers, request.body, this.scope.clock.now()) : BAD_PUBLIC_KEY;
    if (problem) {
      const now = this.scope.clock.now();
      // Logged at most once a minute: a wrong public_key shows up, a flood of forgeries does not fill the log.
      if (now - this.lastRefusalLog >= REFUSAL_LOG_INTERVAL_MS) {
        this.lastRefusalLog = now;
        this.scope.log.warn({ event: 'telnyx_webhook_refused', why: problem }, 'refused a webhook that is not signed with call_control.public_key');
      }
      return { status: 403, contentType: 'text/plain', body: 'invalid signature' };
    }
    const event = readEvent(request.body);
    if (event && !(await this.warm.handle(event))) await this.legs.handle(event);
    else this.scope.log.debug({ event: 'telnyx_webhook_unreadable' }, 'a signed Telnyx webhook without a readable event');
    return { status: 200 };
  }

  stop(): Promise<void> {
    this.keys.stop();
    this.warm.stop();
    return Promise.resolve();
  }
}

export const telnyxDriver: DriverFactory<TelnyxCallControl> = {
  name: 'telnyx',
  connection: 'request',
  secretNames: (settings) => [settings.api_key],
  // A warm transfer dials a leg of its own, which Telnyx places only from a named Voice API application.
  warm: (settings) => (typeof settings.connection_id === 'string' && settings.connection_id !== '') || NO_CONNECTION_ID,
  create: (scope) => new TelnyxDriver(scope),
};
