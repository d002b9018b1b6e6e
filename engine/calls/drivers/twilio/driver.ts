/**
 * The twilio driver: call control for calls that run on Twilio
 * Programmable Voice, where the caller's CallSid is the call's id.
 *
 * A transfer updates the caller's call with TwiML <Dial>: the new leg rings
 * for the ring time; Twilio requests the <Number url> (or <Sip url>) when
 * it is answered (connected), and the <Dial action> when it ends, with
 * DialCallStatus. Busy, no answer or a failure send the caller back to the
 * agent through return_url (updating the call ended the agent's media
 * stream, so "back" means the voice bridge's TwiML connects it again);
 * without return_url the call ends. A hang-up sets Status=completed.
 *
 * All of it needs the server's public URL, which Twilio calls back; without
 * it the driver is down and says why. See callbacks.ts for what Twilio
 * calls, health.ts for how the credentials are kept checked.
 */
import type { TwilioCallControl } from '../../../manifests/types.ts';
import type { CommandRecord } from '../../types.ts';
import { fillTemplate, missingSecret, type CallbackAnswer, type CallbackRequest, type CallControlDriver, type DriverFactory, type DriverHealth, type DriverScope, type SendRequest, type SendResult } from '../driver.ts';
import { handleCallback } from './callbacks.ts';
import { CREDENTIALS_REFUSED, NO_PUBLIC_URL, TwilioHealth, unreachableReason } from './health.ts';
import { callAlreadyOver, updateRefusal } from './outcomes.ts';
import { CALL_SID, DEFAULT_API_BASE, updateCall, type TwilioAccess, type TwilioAnswer } from './rest.ts';
import { dialTwiml, type DialPlan } from './twiml.ts';

/** Transfers remembered for the callbacks' consistency check; older ones are forgotten first. */
const MAX_REMEMBERED = 1000;

const notCallSid = (ref: string): string =>
  `"${ref.slice(0, 64)}" is not a Twilio CallSid (CA followed by 32 hex digits): the voice bridge must use the CallSid as call_id, or register the call with pbx_call_ref`;

type Target = { kind: 'number' | 'sip'; address: string } | { error: string };

/** What to dial: E.164 numbers as <Number>, extensions through endpoint_template as <Sip>. */
function targetOf(command: CommandRecord, settings: TwilioCallControl): Target {
  const destination = command.destination ?? '';
  if (command.destinationType === 'e164') return { kind: 'number', address: destination };
  if (!settings.endpoint_template) return { error: `extension ${destination} cannot be dialed through Twilio: call_control.endpoint_template is not set` };
  return { kind: 'sip', address: fillTemplate(settings.endpoint_template, { destination }) };
}

class TwilioDriver implements CallControlDriver {
  readonly keepsCaller: boolean;
  private readonly status: TwilioHealth;
  private readonly sent = new Map<number, string>();

  constructor(private readonly scope: DriverScope<TwilioCallControl>) {
    this.keepsCaller = Boolean(scope.settings.return_url);
    this.status = new TwilioHealth(
      {
        clock: scope.clock,
        log: scope.log,
        accountId: scope.accountId,
        tokenName: scope.settings.auth_token,
        token: () => this.token(),
        access: (token) => this.access(token),
        onChange: (health) => scope.sink.healthChanged(health),
      },
      scope.callbackBase !== undefined,
    );
  }

  health(): DriverHealth {
    return this.status.get();
  }

  async send(request: SendRequest): Promise<SendResult> {
    if (!this.scope.callbackBase) return { kind: 'not_sent', reason: NO_PUBLIC_URL };
    const token = this.token();
    if (!token) return { kind: 'not_sent', reason: missingSecret(this.scope.settings.auth_token) };
    if (!CALL_SID.test(request.callRef)) return { kind: 'done', verdict: { success: false, outcome: 'failed', reason: notCallSid(request.callRef) } };
    return request.command.kind === 'hangup' ? this.hangup(request, token) : this.transfer(request, token, this.scope.callbackBase);
  }

  callback(request: CallbackRequest): Promise<CallbackAnswer> {
    const { sink, log, accountId, settings } = this.scope;
    return Promise.resolve(handleCallback(request, { sink, log, accountId, token: () => this.token(), returnUrl: settings.return_url, sent: this.sent }));
  }

  stop(): Promise<void> {
    this.status.stop();
    return Promise.resolve();
  }

  private token(): string | undefined {
    return this.scope.secrets.get(this.scope.settings.auth_token) || undefined;
  }

  private access(token: string): TwilioAccess {
    const { settings, outbound } = this.scope;
    return { outbound, apiBase: settings.api_base ?? DEFAULT_API_BASE, accountSid: settings.account_sid, authToken: token };
  }

  private async transfer(request: SendRequest, token: string, callbackBase: string): Promise<SendResult> {
    const { command, callRef } = request;
    const target = targetOf(command, this.scope.settings);
    if ('error' in target) return { kind: 'done', verdict: { success: false, outcome: 'failed', reason: target.error } };
    const query = `?command=${command.id}`;
    const plan: DialPlan = {
      timeoutSeconds: Math.max(1, Math.ceil(request.ringTimeoutMs / 1000)),
      actionUrl: `${callbackBase}/dial-result${query}`,
      answeredUrl: `${callbackBase}/answered${query}`,
      progressUrl: `${callbackBase}/progress${query}`,
      callerId: this.scope.settings.caller_id,
      target,
    };
    this.remember(command.id, callRef);
    this.scope.sink.delivered(command.id);
    const answer = await updateCall(this.access(token), callRef, { Twiml: dialTwiml(plan) }, request.signal);
    this.scope.sink.attempt(command.id, 1, answer.kind === 'ok' || answer.kind === 'error' ? null : answer.kind === 'aborted' ? 'cancelled' : `no answer from Twilio (${answer.code})`);
    if (answer.kind === 'ok') {
      this.scope.sink.step(command.id, 'dialing', { to: target.address });
      return { kind: 'sent' };
    }
    this.sent.delete(command.id);
    if (answer.kind === 'error' && answer.status !== 401 && answer.status < 500 && answer.status !== 429) {
      const refusal = updateRefusal(answer);
      if (refusal.callGone) this.scope.sink.callEnded(callRef, refusal.reason);
      return { kind: 'done', verdict: { success: false, outcome: 'failed', reason: refusal.reason } };
    }
    return this.unusable(answer, token);
  }

  private async hangup(request: SendRequest, token: string): Promise<SendResult> {
    const { command, callRef } = request;
    this.scope.sink.delivered(command.id);
    const answer = await updateCall(this.access(token), callRef, { Status: 'completed' }, request.signal);
    this.scope.sink.attempt(command.id, 1, answer.kind === 'ok' || answer.kind === 'error' ? null : answer.kind === 'aborted' ? 'cancelled' : `no answer from Twilio (${answer.code})`);
    if (answer.kind === 'ok') return { kind: 'done', verdict: { success: true } };
    if (answer.kind === 'error' && callAlreadyOver(answer)) return { kind: 'done', verdict: { success: true } };
    if (answer.kind === 'error' && answer.status !== 401 && answer.status < 500 && answer.status !== 429) {
      return { kind: 'done', verdict: { success: false, reason: updateRefusal(answer).reason } };
    }
    return this.unusable(answer, token);
  }

  /** An answer that says nothing about the call: bad credentials, Twilio unreachable or failing, cancelled. */
  private unusable(answer: Exclude<TwilioAnswer, { kind: 'ok' }>, token: string): SendResult {
    switch (answer.kind) {
      case 'error':
        if (answer.status === 401) {
          this.status.refused(token);
          return { kind: 'not_sent', reason: CREDENTIALS_REFUSED };
        }
        // 429: Twilio did not take it. 5xx: it may or may not have.
        if (answer.status === 429) return { kind: 'done', verdict: { success: false, outcome: 'failed', reason: 'Twilio is limiting requests right now (HTTP 429)' } };
        return { kind: 'unanswered', reason: `Twilio answered HTTP ${answer.status}${answer.code ? ` (error ${answer.code})` : ''}` };
      case 'unreachable':
        if (!answer.sent) {
          this.status.unreachable(answer.code);
          return { kind: 'not_sent', reason: unreachableReason(answer.code) };
        }
        return { kind: 'unanswered', reason: `no answer from Twilio's API (${answer.code})` };
      case 'aborted':
        return { kind: 'unanswered', reason: 'cancelled before Twilio answered' };
    }
  }

  private remember(id: number, callRef: string): void {
    if (this.sent.size >= MAX_REMEMBERED) this.sent.delete(this.sent.keys().next().value as number);
    this.sent.set(id, callRef);
  }
}

export const twilioDriver: DriverFactory<TwilioCallControl> = {
  name: 'twilio',
  connection: 'request',
  secretNames: (settings) => [settings.auth_token],
  create: (scope) => new TwilioDriver(scope),
};
