/**
 * Warm transfer on Twilio. The caller's call is on <Connect><Stream> to the
 * voice bridge; a warm transfer:
 *
 *   1. updates the caller's call with TwiML that puts it, alone, in a
 *      conference of its own (warm-twiml.ts, hold): the agent's media stream
 *      ends there, and the caller hears the wait music;            -> held
 *   2. creates the new leg with POST /Calls.json: its TwiML (given inline,
 *      so the summary travels only in the request to Twilio) plays the
 *      briefing when it answers, its status callback reports ringing,
 *      answered and its end;                                       -> dialing
 *   3. the briefing's <Redirect> says it has played (warm-briefed); with
 *      accept: dtmf the person is asked for a key (warm-decision, or
 *      warm-timeout when none came), with accept: stay they are put through
 *      at once;                                    -> briefed, accepted/declined
 *   4. accepted: the leg joins the conference, which starts
 *      (conference-start, warm-conference): the moment the two talk.
 *                                                -> bridged, connected
 *   5. declined, busy, no answer, failed, or the person hangs up before
 *      joining: the caller's call is updated back to the agent (a new
 *      <Connect><Stream> with stream_url, else a <Redirect> to return_url)
 *      before the verdict, so the agent has the caller when the tool answers.
 *                                                -> returned
 *   The caller hanging up while held (participant-leave, participant_hung_up)
 *   hangs up the new leg and ends the call.
 *
 * Why a call of its own and not the Participants API: a participant added
 * that way goes straight into the conference when it answers, with no TwiML
 * of its own, so it could hear a briefing (an announcement) but not answer
 * it with a key.
 *
 * Every URL carries the command id, the caller's CallSid and the call id;
 * Twilio signs them back, so a node that did not send the transfer (several
 * nodes behind a load balancer, or a restart) can still act: the store tells
 * it whether the transfer is still open. What only the sending node knows
 * is the new leg's CallSid (to hang it up at once when the caller leaves)
 * and whether the briefing had played when the person hung up.
 */
import type { Logger } from '../../../logging.ts';
import type { TwilioCallControl } from '../../../manifests/types.ts';
import type { FailureOutcome, Verdict } from '../../types.ts';
import { ACCEPT_DIGIT, briefingUrl, DECLINE_DIGIT, notReturned, WARM_REASONS, warmSettingsOf, type WarmSettings } from '../../warm.ts';
import type { CallbackAnswer, DriverScope, DriverSink, SendRequest, SendResult } from '../driver.ts';
import { NO_CONTENT, param, plain, twiml } from './answers.ts';
import { callAlreadyOver, dialResult, isFinalCallStatus, newCallRefusal, updateRefusal } from './outcomes.ts';
import { CALL_SID, createCall, updateCall, type TwilioAccess, type TwilioAnswer } from './rest.ts';
import { targetOf } from './targets.ts';
import { backToAgentTwiml, HANGUP_TWIML, wayBackOf } from './twiml.ts';
import { briefingTwiml, CALLER_LABEL, goneTwiml, holdTwiml, joinTwiml, MAX_INLINE_TWIML, promptTwiml, TARGET_LABEL, type Briefing } from './warm-twiml.ts';

export const NO_WAY_BACK = 'a warm transfer needs call_control.stream_url or return_url, to bring the caller back to the agent when nobody accepts';

/** What every URL of a warm transfer carries; Twilio's signature covers it. */
export interface WarmRef {
  commandId: number;
  callerSid: string;
  callId: string;
}

/**
 * Where a transfer stands, as this node knows it. open: still pending in
 * the store, but sent by another node (the step is not known here).
 */
type Phase = 'holding' | 'dialing' | 'briefed' | 'accepted' | 'bridged' | 'over' | 'open';

interface WarmState {
  ref: WarmRef;
  targetSid: string | null;
  phase: Phase;
  answered: boolean;
  since: number;
}

export interface WarmDeps {
  accountId: string;
  settings: TwilioCallControl;
  sink: DriverSink;
  log: Logger;
  now(): number;
  /** Where callbacks reach this server (public URL + /ucp/v2/pbx/{account}/twilio). */
  callbackBase: string;
  /** Twilio's API with the auth token now, or undefined when the secret is not set. */
  access(): TwilioAccess | undefined;
  /** A request that says nothing of the call (401, Twilio unreachable): for the driver's health. */
  unusable(answer: Exclude<TwilioAnswer, { kind: 'ok' }>): void;
  commandOf?: DriverScope['commandOf'];
}

/** How a warm transfer's start went: a send result, or a caller who could not be held (the driver reads that answer as it reads a blind transfer's). */
export type WarmStart = { kind: 'result'; result: SendResult } | { kind: 'not_held'; answer: Exclude<TwilioAnswer, { kind: 'ok' }> };

/** A transfer's state is kept while its new leg may still ring, be briefed and answer: 15 minutes is far beyond. */
const MEMORY_MS = 15 * 60_000;
const MAX_REMEMBERED = 1000;
const COMMAND_ID = /^[1-9][0-9]{0,14}$/;
const MAX_CALL_ID = 256;
const LEG_EVENTS = ['ringing', 'answered', 'completed'];

const failed = (reason: string): WarmStart => ({ kind: 'result', result: { kind: 'done', verdict: { success: false, outcome: 'failed', reason } } });
const isOpen = (phase: Phase): boolean => phase !== 'bridged' && phase !== 'over';

/** The conference's name: unique per transfer, and no personal data in it (Twilio asks for none). */
export const conferenceName = (ref: WarmRef): string => `switchboard-${ref.commandId}-${ref.callerSid.slice(2, 10).toLowerCase()}`;

function refQuery(ref: WarmRef): string {
  return `command=${ref.commandId}&caller=${ref.callerSid}&call=${encodeURIComponent(ref.callId)}`;
}

function refOf(query: URLSearchParams): WarmRef | undefined {
  const command = query.get('command') ?? '';
  const caller = query.get('caller') ?? '';
  const call = query.get('call') ?? '';
  if (!COMMAND_ID.test(command) || !CALL_SID.test(caller) || !call || call.length > MAX_CALL_ID) return undefined;
  return { commandId: Number(command), callerSid: caller, callId: call };
}

/** The account's own number on the caller's call: the number called (inbound) or the one that called (outbound). */
function accountNumberOf(call: Record<string, unknown>): string | undefined {
  const direction = typeof call.direction === 'string' ? call.direction : 'inbound';
  const number = direction.startsWith('outbound') ? call.from : call.to;
  return typeof number === 'string' && /^\+[1-9][0-9]{6,14}$/.test(number) ? number : undefined;
}

export class WarmTransfers {
  private readonly states = new Map<number, WarmState>();
  private readonly warm: WarmSettings;

  constructor(private readonly deps: WarmDeps) {
    this.warm = warmSettingsOf(deps.settings);
  }

  private urls(ref: WarmRef) {
    const at = (path: string): string => `${this.deps.callbackBase}/${path}?${refQuery(ref)}`;
    return { status: at('warm-status'), briefed: at('warm-briefed'), decision: at('warm-decision'), timeout: at('warm-timeout'), conference: at('warm-conference') };
  }

  private briefingOf(request: SendRequest, destination: string): Briefing {
    const summary = request.command.summary ?? '';
    const { briefing, briefingUrl: template, voice, language } = this.warm;
    if (briefing === 'tts' && summary) return { kind: 'say', text: summary, voice, language };
    if (briefing === 'url' && template) return { kind: 'play', url: briefingUrl(template, { summary, caller: request.caller, callId: request.command.callId, destination }) };
    // header: the summary went in the SIP INVITE only.
    return { kind: 'none' };
  }

  /** Holds the caller and dials the destination; the rest comes through the callbacks. */
  async start(request: SendRequest, access: TwilioAccess): Promise<WarmStart> {
    const { command, callRef } = request;
    const { sink, settings } = this.deps;
    const way = wayBackOf(settings);
    if (!way) return failed(NO_WAY_BACK);
    const target = targetOf(command, settings);
    if ('error' in target) return failed(target.error);
    const ref: WarmRef = { commandId: command.id, callerSid: callRef, callId: command.callId };
    const urls = this.urls(ref);
    const legTwiml = briefingTwiml(this.briefingOf(request, command.destination ?? ''), urls.briefed);
    if (legTwiml.length > MAX_INLINE_TWIML) return failed(`the briefing does not fit in the ${MAX_INLINE_TWIML} characters of TwiML Twilio takes (is call_control.warm.briefing_url too long?)`);

    const state = this.remember(ref);
    sink.delivered(command.id);
    const conference = conferenceName(ref);
    const held = await updateCall(access, callRef, { Twiml: holdTwiml(conference, urls.conference, this.warm.musicOnHold) }, request.signal);
    sink.attempt(command.id, 1, held.kind === 'ok' || held.kind === 'error' ? null : held.kind === 'aborted' ? 'cancelled' : `no answer from Twilio (${held.code})`);
    if (held.kind !== 'ok') {
      this.states.delete(command.id);
      return { kind: 'not_held', answer: held };
    }
    sink.step(command.id, 'held', { conference });

    const from = settings.caller_id ?? accountNumberOf(held.body);
    if (!from) return { kind: 'result', result: { kind: 'done', verdict: await this.giveBack(ref, state, { outcome: 'failed', reason: 'no number to call from: set call_control.caller_id' }) } };
    // Recorded before the request: Twilio's ringing callback may come (to any node) before its answer is read.
    sink.step(command.id, 'dialing', { to: target.address });
    // Not cancelled with the tool call: the caller is on hold now and must be dialed for, or brought back.
    const created = await createCall(access, {
      to: target.dialed,
      from,
      twiml: legTwiml,
      timeoutSeconds: Math.min(600, Math.max(1, Math.ceil(request.ringTimeoutMs / 1000))),
      statusCallback: urls.status,
      statusCallbackEvents: LEG_EVENTS,
    });
    const sid = created.kind === 'ok' && typeof created.body.sid === 'string' && CALL_SID.test(created.body.sid) ? created.body.sid : undefined;
    if (!sid) {
      if (created.kind !== 'ok') this.deps.unusable(created);
      const reason = created.kind === 'ok' ? 'Twilio did not say which call it created' : this.createFailure(created);
      return { kind: 'result', result: { kind: 'done', verdict: await this.giveBack(ref, state, { outcome: 'failed', reason }) } };
    }
    state.targetSid = sid;
    if (state.phase === 'holding') state.phase = 'dialing';
    return { kind: 'result', result: { kind: 'sent' } };
  }

  private createFailure(answer: Exclude<TwilioAnswer, { kind: 'ok' }>): string {
    switch (answer.kind) {
      case 'error':
        return answer.status === 401 ? 'Twilio refused the account SID or auth token' : newCallRefusal(answer);
      case 'unreachable':
        return `no answer from Twilio's API (${answer.code})`;
      case 'aborted':
        return 'cancelled before Twilio answered';
    }
  }

  /** A callback of a warm transfer (its signature already checked). */
  async callback(path: string, query: URLSearchParams, params: URLSearchParams): Promise<CallbackAnswer> {
    const ref = refOf(query);
    if (!ref) return plain(400, 'missing or invalid transfer reference');
    const state = this.states.get(ref.commandId);
    if (state && state.ref.callerSid !== ref.callerSid) {
      this.deps.log.warn({ event: 'twilio_callback_mismatch', account: this.deps.accountId, command: ref.commandId }, 'a Twilio callback names another call than its transfer');
      return plain(409, 'the callback does not belong to this transfer');
    }
    switch (path) {
      case 'warm-status':
        return this.legStatus(ref, state, params);
      case 'warm-briefed':
        return this.briefed(ref, state, params);
      case 'warm-decision':
        return this.decision(ref, state, param(params, 'Digits') ?? '');
      case 'warm-timeout':
        return this.decision(ref, state, null);
      case 'warm-conference':
        return this.conferenceEvent(ref, state, params);
      default:
        return plain(404, 'no such callback');
    }
  }

  /** Where the transfer stands: this node's memory, else the store (succeeded: the two talk; settled otherwise: over). */
  private async phaseOf(ref: WarmRef, state: WarmState | undefined): Promise<Phase> {
    if (state) return state.phase;
    if (!this.deps.commandOf) return 'open';
    const known = await this.deps.commandOf(ref.commandId);
    if (!known || known.callRef !== ref.callerSid) return 'over';
    return known.status === 'succeeded' ? 'bridged' : known.status === 'pending' ? 'open' : 'over';
  }

  private answered(ref: WarmRef, state: WarmState | undefined, legSid: string | null): void {
    if (state?.answered) return;
    if (state) state.answered = true;
    this.deps.sink.step(ref.commandId, 'answered', { call_sid: legSid });
  }

  /** The new leg's status callback: ringing, answered, and how it ended. */
  private async legStatus(ref: WarmRef, state: WarmState | undefined, params: URLSearchParams): Promise<CallbackAnswer> {
    const status = param(params, 'CallStatus');
    const legSid = param(params, 'CallSid');
    if (state && !state.targetSid && legSid && CALL_SID.test(legSid)) state.targetSid = legSid;
    const phase = await this.phaseOf(ref, state);
    if (!isOpen(phase)) return NO_CONTENT;
    if (status === 'ringing') this.deps.sink.step(ref.commandId, 'ringing', { call_sid: legSid });
    else if (status === 'in-progress') this.answered(ref, state, legSid);
    else if (status === 'completed') {
      // Answered, and gone before joining the caller.
      const reason = phase === 'briefed' || phase === 'accepted' ? WARM_REASONS.declined : WARM_REASONS.hungUpDuringBriefing;
      await this.decline(ref, state, reason, { call_status: status });
    } else if (isFinalCallStatus(status)) {
      const sipCode = Number(param(params, 'SipResponseCode') ?? '') || undefined;
      const result = dialResult(status ?? '', sipCode);
      if (!result.connected) {
        this.close(state);
        this.deps.sink.step(ref.commandId, 'leg_ended', { call_status: status, ...(sipCode ? { sip_response_code: sipCode } : {}) });
        this.deps.sink.settle(ref.commandId, await this.giveBack(ref, state, { outcome: result.outcome, reason: result.reason }));
      }
    }
    return NO_CONTENT;
  }

  /** The briefing has played to its end. */
  private async briefed(ref: WarmRef, state: WarmState | undefined, params: URLSearchParams): Promise<CallbackAnswer> {
    const { voice, language, accept, acceptTimeoutSeconds, briefing } = this.warm;
    if (!isOpen(await this.phaseOf(ref, state))) return twiml(goneTwiml(voice, language));
    if (state) this.answered(ref, state, param(params, 'CallSid'));
    this.deps.sink.step(ref.commandId, 'briefed', { briefing });
    if (state) state.phase = 'briefed';
    if (accept === 'stay') return this.accepted(ref, state, {});
    const urls = this.urls(ref);
    return twiml(promptTwiml(acceptTimeoutSeconds, urls.decision, urls.timeout, voice, language));
  }

  /** The key pressed after the briefing (or null: none within the accept timeout). */
  private async decision(ref: WarmRef, state: WarmState | undefined, digits: string | null): Promise<CallbackAnswer> {
    const { voice, language, acceptTimeoutSeconds } = this.warm;
    if (!isOpen(await this.phaseOf(ref, state))) return twiml(goneTwiml(voice, language));
    if (digits === ACCEPT_DIGIT) return this.accepted(ref, state, { digits });
    if (digits === DECLINE_DIGIT || digits === null) {
      await this.decline(ref, state, digits === null ? WARM_REASONS.notAccepted(acceptTimeoutSeconds) : WARM_REASONS.declined, digits === null ? {} : { digits });
      return twiml(HANGUP_TWIML);
    }
    // Another key: ask again.
    const urls = this.urls(ref);
    return twiml(promptTwiml(acceptTimeoutSeconds, urls.decision, urls.timeout, voice, language));
  }

  private accepted(ref: WarmRef, state: WarmState | undefined, detail: Record<string, unknown>): CallbackAnswer {
    this.deps.sink.step(ref.commandId, 'accepted', detail);
    if (state) state.phase = 'accepted';
    return twiml(joinTwiml(conferenceName(ref), this.urls(ref).conference));
  }

  /** The person said no (a key, silence, or hanging up): the caller goes back to the agent, then the verdict. */
  private async decline(ref: WarmRef, state: WarmState | undefined, reason: string, detail: Record<string, unknown>): Promise<void> {
    this.close(state);
    this.deps.sink.step(ref.commandId, 'declined', { reason, ...detail });
    this.deps.sink.settle(ref.commandId, await this.giveBack(ref, state, { outcome: 'rejected', reason }));
  }

  /**
   * The conference's events. conference-start: the caller and the
   * destination are in it together, the two talk. A destination joining
   * when the transfer is over (the caller gone, or back with the agent) is
   * alone in a conference of its own: it is hung up. The caller leaving,
   * other than by Switchboard's own update, is the caller hanging up.
   */
  private async conferenceEvent(ref: WarmRef, state: WarmState | undefined, params: URLSearchParams): Promise<CallbackAnswer> {
    const event = param(params, 'StatusCallbackEvent');
    const label = param(params, 'ParticipantLabel');
    const callSid = param(params, 'CallSid');
    const { sink } = this.deps;
    if (event === 'conference-start') {
      if (isOpen(await this.phaseOf(ref, state))) {
        if (state) state.phase = 'bridged';
        sink.step(ref.commandId, 'bridged', { conference: param(params, 'FriendlyName'), conference_sid: param(params, 'ConferenceSid') });
        sink.settle(ref.commandId, { success: true, outcome: 'connected' });
      }
      return NO_CONTENT;
    }
    if (event === 'participant-join' && label === TARGET_LABEL) {
      if ((await this.phaseOf(ref, state)) === 'over' && callSid && CALL_SID.test(callSid)) await this.hangUp(ref, callSid);
      return NO_CONTENT;
    }
    if (event === 'participant-leave' && label === CALLER_LABEL) {
      const why = param(params, 'ReasonParticipantLeft');
      // participant_updated_via_api: Switchboard gave the caller other TwiML (back to the agent).
      if (why === 'participant_updated_via_api') return NO_CONTENT;
      const phase = await this.phaseOf(ref, state);
      if (phase === 'bridged') sink.callEnded(ref.callerSid, why === 'participant_hung_up' ? 'the caller hung up' : 'the transferred call ended');
      else if (isOpen(phase)) await this.callerGone(ref, state);
      return NO_CONTENT;
    }
    this.deps.log.debug({ event: 'twilio_conference_event_ignored', account: this.deps.accountId, command: ref.commandId, what: event, label }, 'a conference event that changes nothing');
    return NO_CONTENT;
  }

  /** The caller hung up while held: the new leg is hung up, the call ends, the transfer fails. */
  private async callerGone(ref: WarmRef, state: WarmState | undefined): Promise<void> {
    this.close(state);
    if (state?.targetSid) await this.hangUp(ref, state.targetSid);
    this.deps.sink.callEnded(ref.callerSid, WARM_REASONS.callerHungUp);
    this.deps.sink.settle(ref.commandId, { success: false, outcome: 'failed', reason: WARM_REASONS.callerHungUp });
  }

  /**
   * The caller back with the agent, and the verdict to settle: the given
   * failure when the caller is back; the caller's hang-up when Twilio says
   * the call is over; otherwise a failure that says the caller could not be
   * brought back (never "back with you" when they are not).
   */
  private async giveBack(ref: WarmRef, state: WarmState | undefined, failure: { outcome: FailureOutcome; reason: string }): Promise<Verdict> {
    this.close(state);
    const { sink, settings } = this.deps;
    const way = wayBackOf(settings);
    const access = this.deps.access();
    if (!way || !access) return { success: false, outcome: 'failed', reason: notReturned(failure.reason, way ? 'the auth token secret is not set' : NO_WAY_BACK) };
    const answer = await updateCall(access, ref.callerSid, { Twiml: backToAgentTwiml(way, ref.callId) });
    if (answer.kind === 'ok') {
      sink.step(ref.commandId, 'returned', { via: way.kind === 'stream' ? 'stream_url' : 'return_url' });
      return { success: false, ...failure };
    }
    if (answer.kind === 'error' && callAlreadyOver(answer)) {
      sink.callEnded(ref.callerSid, WARM_REASONS.callerHungUp);
      return { success: false, outcome: 'failed', reason: WARM_REASONS.callerHungUp };
    }
    this.deps.unusable(answer);
    const why = answer.kind === 'error' ? updateRefusal(answer).reason : answer.kind === 'unreachable' ? `no answer from Twilio's API (${answer.code})` : 'cancelled';
    this.deps.log.error({ event: 'twilio_warm_return_failed', account: this.deps.accountId, command: ref.commandId }, 'a caller on hold could not be brought back to the agent');
    return { success: false, outcome: 'failed', reason: notReturned(failure.reason, why) };
  }

  private async hangUp(ref: WarmRef, legSid: string): Promise<void> {
    const access = this.deps.access();
    const answer = access ? await updateCall(access, legSid, { Status: 'completed' }) : undefined;
    if (answer?.kind === 'ok' || (answer?.kind === 'error' && callAlreadyOver(answer))) return;
    this.deps.log.warn({ event: 'twilio_warm_leg_hangup_failed', account: this.deps.accountId, command: ref.commandId, status: answer?.kind === 'error' ? answer.status : null }, 'the new leg of a warm transfer could not be hung up');
  }

  private close(state: WarmState | undefined): void {
    if (state) state.phase = 'over';
  }

  private remember(ref: WarmRef): WarmState {
    const now = this.deps.now();
    for (const [id, state] of this.states) if (now - state.since > MEMORY_MS || this.states.size >= MAX_REMEMBERED) this.states.delete(id);
    const state: WarmState = { ref, targetSid: null, phase: 'holding', answered: false, since: now };
    this.states.set(ref.commandId, state);
    return state;
  }
}
