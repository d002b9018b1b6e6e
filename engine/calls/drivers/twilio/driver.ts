/**
 * The twilio driver: call control for calls that run on Twilio
 * Programmable Voice, where the caller's CallSid is the call's id.
 *
 * A transfer updates the caller's call with TwiML <Dial>: the new leg rings
 * for the ring time; Twilio requests the <Number url> (or <Sip url>) when
 * it is answered (connected), and the <Dial action> when it ends, with
 * DialCallStatus. Busy, no answer or a failure send the caller back to the
 * agent (updating the call ended the agent's media stream, so "back" means
 * a new <Connect><Stream> to stream_url, or the voice bridge's TwiML at
 * return_url); without either the call ends. A hang-up sets
 * Status=completed. A warm transfer holds the caller in a conference while
 * the destination is briefed (warm.ts).
 *
 * All of it needs the server's public URL, which Twilio calls back; without
 * it the driver is down and says why. See callbacks.ts for what Twilio
 * calls, health.ts for how the credentials are kept checked.
 */
import type { TwilioCallControl } from '../../../manifests/types.ts';
import { missingSecret, type CallbackAnswer, type CallbackRequest, type CallControlDriver, type DriverFactory, type DriverHealth, type DriverScope, type SendRequest, type SendResult } from '../driver.ts';
import { handleCallback } from './callbacks.ts';
import { CREDENTIALS_REFUSED, NO_PUBLIC_URL, TwilioHealth, unreachableReason } from './health.ts';
import { callAlreadyOver, updateRefusal } from './outcomes.ts';
import { CALL_SID, DEFAULT_API_BASE, updateCall, type TwilioAccess, type TwilioAnswer } from './rest.ts';
import { targetOf } from './targets.ts';
import { dialTwiml, wayBackOf, type DialPlan } from './twiml.ts';
import { NO_WAY_BACK, WarmTransfers } from './warm.ts';

/** Transfers remembered for the callbacks' consistency check; older ones are forgotten first. */
const MAX_REMEMBERED = 1000;

const notCallSid = (ref: string): string =>
  `"${ref.slice(0, 64)}" is not a Twilio CallSid (CA followed by 32 hex digits): the voice bridge must use the CallSid as call_id, or register the call with pbx_call_ref`;

class TwilioDriver implements CallControlDriver {
  readonly keepsCaller: boolean;
  private readonly status: TwilioHealth;
  private readonly sent = new Map<number, string>();
  private readonly warm: WarmTransfers | undefined;

  constructor(private readonly scope: DriverScope<TwilioCallControl>) {
    this.keepsCaller = wayBackOf(scope.settings) !== undefined;
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
    this.warm = scope.callbackBase
      ? new WarmTransfers({
          accountId: scope.accountId,
          settings: scope.settings,
          sink: scope.sink,
          log: scope.log,
          now: () => scope.clock.now(),
          callbackBase: scope.callbackBase,
          access: () => {
            const token = this.token();
            return token ? this.access(token) : undefined;
          },
          unusable: (answer) => void this.unusable(answer, this.token() ?? ''),
          ...(scope.commandOf ? { commandOf: scope.commandOf } : {}),
        })
      : undefined;
  }

  health(): DriverHealth {
    return this.status.get();
  }

  async send(request: SendRequest): Promise<SendResult> {
    if (!this.scope.callbackBase) return { kind: 'not_sent', reason: NO_PUBLIC_URL };
    const token = this.token();
    if (!token) return { kind: 'not_sent', reason: missingSecret(this.scope.settings.auth_token) };
    if (!CALL_SID.test(request.callRef)) return { kind: 'done', verdict: { success: false, outcome: 'failed', reason: notCallSid(request.callRef) } };
    if (request.command.kind === 'hangup') return this.hangup(request, token);
    if (request.command.mode === 'warm' && this.warm) {
      const started = await this.warm.start(request, this.access(token));
      return started.kind === 'result' ? started.result : this.notUpdated(started.answer, request.callRef, token);
    }
    return this.transfer(request, token, this.scope.callbackBase);
  }

  callback(request: CallbackRequest): Promise<CallbackAnswer> {
    const { sink, log, accountId, settings } = this.scope;
    return handleCallback(request, { sink, log, accountId, token: () => this.token(), way: wayBackOf(settings), sent: this.sent, warm: this.warm });
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
    // A new stream to the agent carries the call id; the action URL brings it back (signed).
    const actionQuery = this.scope.settings.stream_url ? `${query}&call=${encodeURIComponent(command.callId)}` : query;
    const plan: DialPlan = {
      timeoutSeconds: Math.max(1, Math.ceil(request.ringTimeoutMs / 1000)),
      actionUrl: `${callbackBase}/dial-result${actionQuery}`,
      answeredUrl: `${callbackBase}/answered${query}`,
      progressUrl: `${callbackBase}/progress${query}`,
      callerId: this.scope.settings.caller_id,
      target: { kind: target.kind, address: target.dialed },
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
    return this.notUpdated(answer, callRef, token);
  }

  /** The caller's call could not be given new TwiML: refused (the call may be over), or an answer that says nothing of the call. */
  private notUpdated(answer: Exclude<TwilioAnswer, { kind: 'ok' }>, callRef: string, token: string): SendResult {
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
  // A warm transfer holds the caller in a conference, which ends the agent's stream: without a way back, nobody declining could be survived.
  warm: (settings) => wayBackOf(settings) !== undefined || NO_WAY_BACK,
  create: (scope) => new TwilioDriver(scope),
};
