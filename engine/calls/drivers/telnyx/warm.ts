/**
 * Warm transfer on Telnyx Call Control: the caller is held, a leg of our own
 * dials the destination, the person who answers is briefed and accepts or
 * declines, and only then is the caller bridged to them. Telnyx has no hold
 * or consultation command, so it is built from plain commands:
 *
 *   hold       POST …/{caller}/actions/playback_start  music_on_hold, loop "infinity"
 *              (no music_on_hold: nothing is played; the caller hears silence)
 *   dial       POST /v2/calls  connection_id, to, from, timeout_secs, webhook_url
 *              (ours), link_to (the caller's leg: one call session), custom_headers
 *              X-Switchboard-Summary, client_state (warm state, below)
 *   answered   call.answered -> the briefing on the new leg:
 *                accept dtmf: gather_using_speak (tts) / gather_using_audio (url) /
 *                             gather (header), keys 1 or 2, one try
 *                accept stay: speak (tts) / playback_start (url) / nothing (header)
 *   verdict    call.gather.ended digits 1 -> accepted; 2 -> declined; timeout or
 *              another key -> not accepted in time; call.speak.ended /
 *              call.playback.ended completed (stay) -> accepted
 *   accepted   playback_stop on the caller, then POST …/{caller}/actions/bridge
 *              {call_control_id: new leg}: the caller is with the destination and
 *              the agent's media stream no longer speaks to anyone (as after a
 *              blind transfer); bridge answered 200 -> connected
 *   not taken  the new leg is hung up (declined, not in time), or it ended
 *              (busy, no answer, hung up during the briefing): playback_stop on
 *              the caller, who is back with the agent; then the verdict
 *
 * Telnyx may deliver a leg's webhooks to any node behind the load balancer,
 * so the new leg's client state carries all a node needs to go on (the
 * caller's leg, the phase, the summary and what a briefing URL is filled
 * with), and each command to that leg sets it anew (phase briefing, then
 * done when we hang it up ourselves). What only the node that saw it knows
 * (a transfer given up while its dial was unanswered, the briefing's time
 * limit, a caller who hung up while held) is kept here in memory.
 *
 * The caller's leg belongs to the voice bridge's application: its webhooks
 * reach Switchboard only when the bridge forwards them (docs/pbx/telnyx.md).
 * A forwarded call.hangup of a held caller ends the new leg at once;
 * otherwise Telnyx's "call has already ended" to playback_stop or bridge
 * tells the same, later. The summary is never logged.
 */
import type { Logger } from '../../../logging.ts';
import type { TelnyxCallControl } from '../../../manifests/types.ts';
import type { Verdict } from '../../types.ts';
import {
  ACCEPT_DIGIT,
  BRIEFING_LIMIT_MS,
  briefingUrl,
  DECLINE_DIGIT,
  SUMMARY_HEADER,
  SUMMARY_MAX_LENGTH,
  summaryHeaderValue,
  WARM_REASONS,
  warmSettingsOf,
  type WarmSettings,
} from '../../warm.ts';
import type { DriverScope, SendRequest, SendResult } from '../driver.ts';
import type { ApiAnswer, CallAction, TelnyxApi } from './api.ts';
import { apiErrorReason, CALL_ENDED_CODE, legHangup } from './outcomes.ts';
import { warmOfState, warmState, type TelnyxEvent, type WarmLegState, type WarmPhase } from './webhook-event.ts';

export const NO_CONNECTION_ID = 'a warm transfer dials the destination itself: set call_control.connection_id to the id of the Voice API application to dial from';
export const NO_FROM = 'a warm transfer dials the destination itself and needs a number to call from: set call_control.caller_id';

/** Telnyx's default voice for speak when the manifest names none. */
export const DEFAULT_VOICE = 'female';
const REQUEST_TIMEOUT_MS = 8_000;
const MAX_TRANSFERS = 2000;
const MAX_SEEN = 1000;
/** Longest a transfer is remembered: the longest ring (600 s), briefing and answer, with room. */
const MEMORY_MS = 20 * 60_000;

/** What the driver lends warm transfers. */
export interface WarmDeps {
  api: TelnyxApi;
  scope: DriverScope<TelnyxCallControl>;
  apiKey(): string | undefined;
  /** Sends the request that hands the command over, with the driver's attempts (counted on the command). */
  handOver(request: SendRequest, send: () => Promise<ApiAnswer>): Promise<ApiAnswer>;
  /** The driver's reading of an answer that is not 2xx (it also marks the driver down where that says so). */
  unsuccessful(answer: Exclude<ApiAnswer, { kind: 'ok' }>, key: string): SendResult;
}

/** The dial the driver has worked out: where, from which number, how long it may ring. */
export interface WarmDial {
  to: string;
  from: string | undefined;
  timeoutSecs: number;
}

/** A warm transfer as this node knows it. */
interface Transfer {
  command: number;
  callerLeg: string;
  /** The new leg's client state as last known (for the state a hang-up gives it). */
  state: WarmLegState | undefined;
  /** The new leg, once Telnyx named it. */
  target: string | undefined;
  since: number;
  answered: boolean;
  /** Decided (accepted, declined, failed, given up): later webhooks change nothing but may end the new leg. */
  finished: boolean;
  bridged: boolean;
  timer: NodeJS.Timeout | undefined;
}

const ended = (answer: ApiAnswer): boolean => answer.kind === 'error' && answer.code === CALL_ENDED_CODE;

/** The words the person taking the call hears: who is calling about what, and what to do. */
export function briefingText(summary: string, accept: WarmSettings['accept']): string {
  const about = summary.trim() ? ` ${summary.trim()}${/[.!?]$/.test(summary.trim()) ? '' : '.'}` : '';
  const what = accept === 'dtmf' ? 'Press 1 to take the call, or 2 to decline.' : 'Stay on the line to be connected, or hang up to decline.';
  return `A caller is being transferred to you.${about} ${what}`;
}

export class WarmTransfers {
  private readonly transfers = new Map<number, Transfer>();
  private readonly seen = new Set<string>();
  private readonly log: Logger;

  constructor(private readonly deps: WarmDeps) {
    this.log = deps.scope.log;
  }

  private get settings(): WarmSettings {
    return warmSettingsOf(this.deps.scope.settings);
  }

  /** Holds the caller and dials the destination; the rest comes by webhook. */
  async send(request: SendRequest, key: string, dial: WarmDial): Promise<SendResult> {
    const { command, callRef } = request;
    const { sink, settings, callbackBase } = this.deps.scope;
    const warm = this.settings;
    if (!settings.connection_id) return { kind: 'done', verdict: { success: false, outcome: 'failed', reason: NO_CONNECTION_ID } };
    if (!dial.from) return { kind: 'done', verdict: { success: false, outcome: 'failed', reason: NO_FROM } };
    const summary = (command.summary ?? '').slice(0, SUMMARY_MAX_LENGTH);
    const transfer = this.remember(command.id, callRef);
    // From the hold on, Telnyx acts on the caller's call.
    sink.delivered(command.id);

    if (warm.musicOnHold) {
      const held = await this.deps.api.action(key, callRef, 'playback_start', { audio_url: warm.musicOnHold, loop: 'infinity', command_id: commandId(command.id, 'hold') }, REQUEST_TIMEOUT_MS, request.signal);
      if (held.kind !== 'ok') {
        transfer.finished = true;
        this.forget(command.id);
        // Music that may have started must not outlive the transfer.
        if (held.kind === 'unreachable' && held.mayHaveArrived) await this.stopMusic(callRef, command.id, key);
        return this.deps.unsuccessful(held, key);
      }
    }
    sink.step(command.id, 'held', { music_on_hold: warm.musicOnHold ? 'playing' : 'none' });

    const state: WarmLegState = { command: command.id, callerLeg: callRef, phase: 'dialing', summary, callId: command.callId, callerNumber: request.caller, destination: command.destination ?? dial.to };
    transfer.state = state;
    const header = summaryHeaderValue(summary);
    const body = {
      connection_id: settings.connection_id,
      to: dial.to,
      from: dial.from,
      timeout_secs: dial.timeoutSecs,
      webhook_url: `${callbackBase}/events`,
      link_to: callRef,
      client_state: warmState(state),
      command_id: command.idempotencyKey,
      ...(header ? { custom_headers: [{ name: SUMMARY_HEADER, value: header }] } : {}),
    };
    const dialed = await this.deps.handOver(request, () => this.deps.api.dial(key, body, REQUEST_TIMEOUT_MS, request.signal));
    if (dialed.kind === 'ok') {
      const target = typeof dialed.data?.call_control_id === 'string' ? dialed.data.call_control_id : undefined;
      transfer.target ??= target;
      sink.step(command.id, 'dialing', { call_control_id: target ?? null, to: dial.to });
      // The caller hung up while the dial was on its way: the new leg has nobody to be put through to.
      if (transfer.finished && target) await this.hangUp(target, state, key);
      return { kind: 'sent' };
    }
    // Nothing rings, or nothing is known to: the caller comes back to the agent now. A leg
    // that rings all the same is hung up when it reports (the transfer stays remembered, finished).
    transfer.finished = true;
    if (!(dialed.kind === 'aborted' || (dialed.kind === 'unreachable' && dialed.mayHaveArrived))) this.forget(command.id);
    if (warm.musicOnHold) await this.stopMusic(callRef, command.id, key);
    sink.step(command.id, 'returned', {});
    return this.deps.unsuccessful(dialed, key);
  }

  /**
   * A webhook for warm transfers: one of a warm transfer's leg, or the
   * hang-up of a caller held here. False when it is neither (the blind path
   * reads it).
   */
  async handle(event: TelnyxEvent): Promise<boolean> {
    const state = warmOfState(event.clientState);
    if (!state) return event.type === 'call.hangup' && event.callControlId !== null && this.callerHungUp(event.callControlId);
    if (event.id !== null) {
      if (this.seen.has(event.id)) return true;
      this.seen.add(event.id);
      if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.values().next().value as string);
    }
    const target = event.callControlId;
    // done: we hung the leg up after the verdict; what it reports since changes nothing (its call.hangup is read below).
    if (!target || (state.phase === 'done' && event.type !== 'call.hangup')) return true;
    const known = this.transfers.get(state.command);
    if (known) {
      known.target ??= target;
      known.state ??= state;
    }
    switch (event.type) {
      case 'call.initiated':
        if (known?.finished) await this.withKey((key) => this.hangUp(target, state, key));
        return true;
      case 'call.answered':
        await this.answered(state, target);
        return true;
      case 'call.gather.ended':
        await this.gathered(state, target, event);
        return true;
      case 'call.speak.ended':
      case 'call.playback.ended':
        await this.briefingPlayed(state, target, event);
        return true;
      case 'call.hangup':
        await this.targetGone(state, event);
        return true;
      default:
        this.log.debug({ event: 'telnyx_event_ignored', type: event.type, command: state.command }, 'Telnyx event of a warm transfer leg not used');
        return true;
    }
  }

  stop(): void {
    for (const transfer of this.transfers.values()) clearTimeout(transfer.timer);
    this.transfers.clear();
  }

  /** The new leg answered: it hears the briefing (or, when the transfer is over already, is hung up). */
  private async answered(state: WarmLegState, target: string): Promise<void> {
    const transfer = this.remember(state.command, state.callerLeg, target);
    if (transfer.finished) {
      if (!transfer.bridged) await this.withKey((key) => this.hangUp(target, state, key));
      return;
    }
    transfer.answered = true;
    const { sink } = this.deps.scope;
    sink.step(state.command, 'answered', { call_control_id: target });
    const warm = this.settings;
    const briefing = this.briefingCommand(state, warm);
    if (!briefing) {
      // header: the summary was in the INVITE; there is nothing to play.
      sink.step(state.command, 'briefed', { briefing: 'header' });
      if (warm.accept === 'stay') return this.accept(state, target, {});
    }
    const limitMs = BRIEFING_LIMIT_MS + (warm.accept === 'dtmf' ? warm.acceptTimeoutSeconds * 1000 : 0);
    // The briefing may not hold the caller for ever (an audio URL that never ends, a gather Telnyx never closes).
    transfer.timer = setTimeout(() => {
      transfer.timer = undefined;
      void (warm.accept === 'dtmf' ? this.decline(state, target, WARM_REASONS.notAccepted(warm.acceptTimeoutSeconds), true) : this.accept(state, target, { briefing_limit: true }));
    }, limitMs);
    transfer.timer.unref();
    const gather = { valid_digits: `${ACCEPT_DIGIT}${DECLINE_DIGIT}`, minimum_digits: 1, maximum_digits: 1, maximum_tries: 1, timeout_millis: warm.acceptTimeoutSeconds * 1000 };
    const action: CallAction = briefing?.action ?? 'gather';
    const body = briefing ? { ...briefing.body, ...(warm.accept === 'dtmf' ? gather : {}) } : { ...gather, initial_timeout_millis: warm.acceptTimeoutSeconds * 1000 };
    const answer = await this.withKey((key) =>
      this.deps.api.action(key, target, action, { ...body, client_state: warmState({ ...state, phase: 'briefing' }), command_id: commandId(state.command, 'brief') }, REQUEST_TIMEOUT_MS),
    );
    // The leg already gone: its call.hangup says what became of it.
    if (!answer || answer.kind === 'ok' || ended(answer)) return;
    const why = answer.kind === 'error' ? apiErrorReason(answer) : answer.kind === 'unreachable' ? `no answer from Telnyx (${answer.code})` : 'cancelled';
    await this.notTaken(state, target, { success: false, outcome: 'failed', reason: `the briefing could not be played (${why})` }, 'declined');
  }

  /** The command that plays the briefing, with the words or audio for it; none for a header briefing. */
  private briefingCommand(state: WarmLegState, warm: WarmSettings): { action: CallAction; body: Record<string, unknown> } | undefined {
    const dtmf = warm.accept === 'dtmf';
    if (warm.briefing === 'tts') {
      const speech = { payload: briefingText(state.summary, warm.accept), payload_type: 'text', voice: warm.voice ?? DEFAULT_VOICE, ...(warm.language ? { language: warm.language } : {}) };
      return { action: dtmf ? 'gather_using_speak' : 'speak', body: speech };
    }
    if (warm.briefing === 'url' && warm.briefingUrl) {
      const audioUrl = briefingUrl(warm.briefingUrl, { summary: state.summary, caller: state.callerNumber, callId: state.callId, destination: state.destination });
      return { action: dtmf ? 'gather_using_audio' : 'playback_start', body: { audio_url: audioUrl } };
    }
    return undefined;
  }

  private async gathered(state: WarmLegState, target: string, event: TelnyxEvent): Promise<void> {
    const seconds = this.settings.acceptTimeoutSeconds;
    switch (event.status) {
      case 'valid':
        if (event.digits === ACCEPT_DIGIT) {
          this.briefed(state, event);
          return this.accept(state, target, { digits: event.digits });
        }
        if (event.digits === DECLINE_DIGIT) return this.decline(state, target, WARM_REASONS.declined, true, event);
        return this.decline(state, target, WARM_REASONS.notAccepted(seconds), true, event);
      case 'timeout':
      case 'invalid':
        return this.decline(state, target, WARM_REASONS.notAccepted(seconds), true, event);
      default:
        // call_hangup: the leg's call.hangup follows and says the rest; cancelled: a gather we replaced.
        return;
    }
  }

  /** accept: stay: the briefing played to its end with the person still on the line. */
  private async briefingPlayed(state: WarmLegState, target: string, event: TelnyxEvent): Promise<void> {
    if (this.settings.accept !== 'stay' || event.status === 'call_hangup' || event.status === 'cancelled') return;
    this.briefed(state, event);
    await this.accept(state, target, event.status === 'completed' ? {} : { briefing_status: event.status });
  }

  /** The briefing played (a header briefing was recorded as briefed when the leg answered). */
  private briefed(state: WarmLegState, event: TelnyxEvent | undefined): void {
    const warm = this.settings;
    if (this.transfers.get(state.command)?.finished || !this.briefingCommand(state, warm)) return;
    const status = event?.status;
    this.deps.scope.sink.step(state.command, 'briefed', { briefing: warm.briefing, ...(status && status !== 'valid' && status !== 'completed' ? { status } : {}) });
  }

  /** Accepted: the music stops and the caller is bridged to the new leg. */
  private async accept(state: WarmLegState, target: string, detail: Record<string, unknown>): Promise<void> {
    const transfer = this.decide(state, target);
    if (!transfer) return;
    const { sink } = this.deps.scope;
    sink.step(state.command, 'accepted', detail);
    const key = this.deps.apiKey();
    if (!key) return this.noKey(state);
    if (this.settings.musicOnHold) {
      const stopped = await this.stopMusic(state.callerLeg, state.command, key);
      if (ended(stopped)) return this.callerLeft(transfer, state, key);
    }
    const bridged = await this.deps.api.action(key, state.callerLeg, 'bridge', { call_control_id: target, command_id: commandId(state.command, 'bridge') }, REQUEST_TIMEOUT_MS);
    if (bridged.kind === 'ok') {
      transfer.bridged = true;
      sink.step(state.command, 'bridged', { call_control_id: target });
      sink.settle(state.command, { success: true, outcome: 'connected' });
      return;
    }
    // "Call has already ended" names neither leg: Telnyx is asked whether the caller's is still up.
    if (ended(bridged) && !(await this.callerAlive(state.callerLeg, key))) return this.callerLeft(transfer, state, key);
    if (ended(bridged)) {
      sink.step(state.command, 'returned', {});
      sink.settle(state.command, { success: false, outcome: 'failed', reason: 'the destination hung up before the caller was put through' });
      return;
    }
    if (bridged.kind === 'error') {
      await this.hangUp(target, state, key);
      sink.step(state.command, 'returned', {});
      sink.settle(state.command, { success: false, outcome: 'failed', reason: `Telnyx did not bridge the caller to the destination (${apiErrorReason(bridged)})` });
      return;
    }
    // No answer: the bridge may have happened; Telnyx's webhooks or the tool's wait decide.
    this.log.warn({ event: 'telnyx_bridge_unanswered', command: state.command }, 'Telnyx did not answer the bridge of a warm transfer');
  }

  /** Declined or not accepted in time: the new leg is hung up and the caller is back with the agent. */
  private async decline(state: WarmLegState, target: string, reason: string, briefed: boolean, event?: TelnyxEvent): Promise<void> {
    if (this.transfers.get(state.command)?.finished) return;
    if (briefed) this.briefed(state, event);
    await this.notTaken(state, target, { success: false, outcome: 'rejected', reason }, 'declined');
  }

  /** The new leg is done with (hung up unless it is gone already); the caller comes back; then the verdict. */
  private async notTaken(state: WarmLegState, target: string | null, verdict: Extract<Verdict, { success: false }>, step: 'declined' | 'hangup', detail: Record<string, unknown> = {}, legGone = false): Promise<void> {
    const transfer = this.decide(state, target ?? undefined);
    if (!transfer) return;
    const { sink } = this.deps.scope;
    sink.step(state.command, step, step === 'declined' ? { reason: verdict.reason } : detail);
    const key = this.deps.apiKey();
    if (!key) return this.noKey(state);
    if (target && !legGone) await this.hangUp(target, state, key);
    if (this.settings.musicOnHold) {
      const stopped = await this.stopMusic(state.callerLeg, state.command, key);
      if (ended(stopped)) return this.callerLeft(transfer, state, key, true);
    }
    sink.step(state.command, 'returned', {});
    sink.settle(state.command, verdict);
  }

  /** call.hangup of the new leg. */
  private async targetGone(state: WarmLegState, event: TelnyxEvent): Promise<void> {
    const transfer = this.transfers.get(state.command);
    const { sink, commandOf } = this.deps.scope;
    if (transfer?.bridged) {
      this.transfers.delete(state.command);
      sink.callEnded(state.callerLeg, 'the transferred call ended');
      return;
    }
    // We hung it up ourselves, after the verdict.
    if (state.phase === 'done') return;
    if (!transfer) {
      // Another node took the rest of this transfer: the store says whether it was bridged.
      const stored = await commandOf?.(state.command);
      if (stored?.status === 'succeeded') {
        sink.callEnded(stored.callRef, 'the transferred call ended');
        return;
      }
      if (stored && stored.status !== 'pending') return;
    } else if (transfer.finished) {
      return;
    }
    const detail = { call_control_id: event.callControlId, hangup_cause: event.hangupCause, sip_hangup_cause: event.sipHangupCause };
    if (state.phase === 'briefing' || transfer?.answered) {
      await this.notTaken(state, event.callControlId, { success: false, outcome: 'rejected', reason: WARM_REASONS.hungUpDuringBriefing }, 'declined', {}, true);
      return;
    }
    const failure = legHangup(event.hangupCause, event.sipHangupCause);
    await this.notTaken(state, event.callControlId, { success: false, outcome: failure.outcome, reason: failure.reason }, 'hangup', { ...detail, to: event.to }, true);
  }

  /** A forwarded call.hangup of a caller held here: the new leg is hung up and the call is over. */
  private callerHungUp(callerLeg: string): boolean {
    const transfer = [...this.transfers.values()].find((candidate) => candidate.callerLeg === callerLeg && !candidate.finished);
    if (!transfer) return false;
    transfer.finished = true;
    clearTimeout(transfer.timer);
    const { sink } = this.deps.scope;
    const target = transfer.target;
    const key = this.deps.apiKey();
    // The state the hang-up gives the leg (done) marks its call.hangup as ours, whichever node it reaches.
    if (target && key && transfer.state) void this.hangUp(target, transfer.state, key);
    sink.callEnded(callerLeg, WARM_REASONS.callEnded);
    sink.settle(transfer.command, { success: false, outcome: 'failed', reason: WARM_REASONS.callerHungUp });
    return true;
  }

  /** Telnyx says the caller's call is over: the new leg goes too, and so does the call. */
  private async callerLeft(transfer: Transfer, state: WarmLegState, key: string, legDone = false): Promise<void> {
    transfer.finished = true;
    if (transfer.target && !legDone) await this.hangUp(transfer.target, state, key);
    const { sink } = this.deps.scope;
    sink.callEnded(state.callerLeg, WARM_REASONS.callEnded);
    sink.settle(state.command, { success: false, outcome: 'failed', reason: WARM_REASONS.callerHungUp });
  }

  /** Marks the transfer decided here, or undefined when it already was. */
  private decide(state: WarmLegState, target: string | undefined): Transfer | undefined {
    const transfer = this.remember(state.command, state.callerLeg, target);
    if (transfer.finished) return undefined;
    transfer.finished = true;
    clearTimeout(transfer.timer);
    transfer.timer = undefined;
    return transfer;
  }

  private noKey(state: WarmLegState): void {
    this.log.warn({ event: 'telnyx_warm_no_key', command: state.command }, 'the Telnyx API key is not set: a warm transfer cannot go on');
  }

  private async hangUp(target: string, state: WarmLegState, key: string): Promise<void> {
    const answer = await this.deps.api.action(key, target, 'hangup', { client_state: warmState({ ...state, phase: 'done' satisfies WarmPhase }), command_id: commandId(state.command, 'end') }, REQUEST_TIMEOUT_MS);
    if (answer.kind !== 'ok' && !ended(answer)) this.log.warn({ event: 'telnyx_warm_hangup_failed', command: state.command, answer: answer.kind }, 'a warm transfer could not hang up its leg to the destination');
  }

  /** Whether the caller's leg is up; a leg Telnyx does not know is not. Unsure (no answer): up, so the caller is not given up on. */
  private async callerAlive(callerLeg: string, key: string): Promise<boolean> {
    const answer = await this.deps.api.callStatus(key, callerLeg, REQUEST_TIMEOUT_MS);
    if (answer.kind === 'ok') return answer.data?.is_alive !== false;
    return !(answer.kind === 'error' && (answer.status === 404 || ended(answer)));
  }

  private async stopMusic(callerLeg: string, command: number, key: string): Promise<ApiAnswer> {
    const answer = await this.deps.api.action(key, callerLeg, 'playback_stop', { command_id: commandId(command, 'unhold') }, REQUEST_TIMEOUT_MS);
    if (answer.kind !== 'ok' && !ended(answer)) this.log.warn({ event: 'telnyx_warm_unhold_failed', command, answer: answer.kind }, "the hold music could not be stopped on the caller's call");
    return answer;
  }

  private async withKey<T>(work: (key: string) => Promise<T>): Promise<T | undefined> {
    const key = this.deps.apiKey();
    if (!key) {
      this.log.warn({ event: 'telnyx_warm_no_key' }, 'the Telnyx API key is not set: a warm transfer cannot go on');
      return undefined;
    }
    return work(key);
  }

  private remember(command: number, callerLeg: string, target?: string): Transfer {
    const known = this.transfers.get(command);
    if (known) {
      known.target ??= target;
      return known;
    }
    const now = this.deps.scope.clock.now();
    for (const [id, old] of this.transfers) {
      if (now - old.since <= MEMORY_MS && this.transfers.size < MAX_TRANSFERS) break;
      clearTimeout(old.timer);
      this.transfers.delete(id);
    }
    const transfer: Transfer = { command, callerLeg, state: undefined, target, since: now, answered: false, finished: false, bridged: false, timer: undefined };
    this.transfers.set(command, transfer);
    return transfer;
  }

  /** A transfer that never reached Telnyx: no webhook of it will come. (Decided ones stay known, so late webhooks change nothing.) */
  private forget(command: number): void {
    clearTimeout(this.transfers.get(command)?.timer);
    this.transfers.delete(command);
  }
}

/** The command_id of one step of a warm transfer: Telnyx ignores a repeat on the same leg, whichever node sends it. */
const commandId = (command: number, step: string): string => `switchboard-${command}-${step}`;
