/**
 * Warm transfer over ARI (engine/calls/warm.ts has what every phone system
 * shares). The caller is moved from the bridge it shares with the agent
 * into a holding bridge of its own with music on hold, which also takes the
 * caller's voice away from the agent; a new leg to the destination is
 * originated into this driver's Stasis application (originate.ts, with the
 * summary as the SIP header X-Switchboard-Summary). When the leg answers
 * (StasisStart), it hears the briefing: Asterisk has no text-to-speech of
 * its own, so either the audio at briefing_url (played as sound:<url>, which
 * res_http_media_cache fetches) or, with briefing header, a beep that says
 * "a transfer is waiting" while the phone shows the header. Then the
 * destination accepts (DTMF 1, or staying on the line through the briefing
 * with accept: stay) or declines (DTMF 2, hanging up, no key in time).
 *
 * Accepted: a mixing bridge takes the caller and the leg, the holding
 * bridge goes, and from then on the pair is kept together as a blind bridge
 * transfer keeps it (bridge.ts): either side hanging up hangs up the other.
 * Declined, busy, not answered, failed: the leg is hung up, the music stops
 * and the caller is put back into the agent's bridge (or, when the caller
 * was in none, taken out of the holding bridge) before the verdict is
 * given, so the agent never hears "back with you" before it is true.
 * The caller hanging up while held ends the call first, then the leg is
 * hung up and the transfer settled as failed.
 *
 * Each step goes to the sink (held, dialing, ringing, answered, briefed,
 * accepted or declined, bridged or returned) and so into the call's history.
 */
import type { Verdict } from '../../types.ts';
import { ACCEPT_DIGIT, BRIEFING_LIMIT_MS, briefingUrl, DECLINE_DIGIT, notReturned, WARM_REASONS, warmSettingsOf, type WarmSettings } from '../../warm.ts';
import type { SendRequest, SendResult } from '../driver.ts';
import { fillTemplate } from '../driver.ts';
import type { BridgeTransfers } from './bridge.ts';
import { destroyBridgeQuietly, hangUpQuietly, ownId, unreachedResult, type AriContext } from './context.ts';
import type { AriEvent } from './messages.ts';
import { originateLeg } from './originate.ts';
import { restRefusal, unansweredLeg } from './outcomes.ts';
import { AriUnreachable, segment } from './rest.ts';

/** ringing: the leg is dialed. briefing: it answered and hears the briefing. deciding: the briefing played, a key is awaited. over: settled or being settled. */
type Phase = 'holding' | 'ringing' | 'briefing' | 'deciding' | 'over';

interface Warm {
  commandId: number;
  callRef: string;
  legId: string;
  holdId: string;
  /** The bridge the caller shared with the agent, where it goes back; null when it was in none. */
  agentBridge: string | null;
  endpoint: string;
  ringMs: number;
  settings: WarmSettings;
  /** What the briefing plays (sound:<url>, or a beep), and under which playback id. */
  media: string;
  briefing: 'url' | 'header';
  playbackId: string;
  phase: Phase;
  rang: boolean;
  /** The leg was originated (so there is a channel to hang up). */
  dialed: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** Whether the transfer was settled meanwhile (the caller hung up while a request was on its way): read after every await. */
const isOver = (warm: Warm): boolean => warm.phase === 'over';

/** Played to the destination with briefing header: a short tone, then the decision. */
const BEEP = 'sound:beep';

export class WarmTransfers {
  /** By the caller's channel id. */
  private readonly byCaller = new Map<string, Warm>();

  constructor(
    private readonly ctx: AriContext,
    private readonly bridge: BridgeTransfers,
  ) {}

  /** Whether a warm transfer holds this caller now (its hang-up is then "while on hold"). */
  holds(callRef: string): boolean {
    const warm = this.byCaller.get(callRef);
    return warm !== undefined && warm.phase !== 'over';
  }

  async start(request: SendRequest): Promise<SendResult> {
    const { command, callRef } = request;
    const { sink, settings } = this.ctx;
    if (this.holds(callRef)) return { kind: 'done', verdict: { success: false, outcome: 'failed', reason: 'a warm transfer of this caller is already under way' } };
    const warmSettings = warmSettingsOf(settings);
    const endpoint = fillTemplate(settings.endpoint_template ?? '', { destination: command.destination ?? '' });
    const url = warmSettings.briefing === 'url' && warmSettings.briefingUrl ? briefingUrl(warmSettings.briefingUrl, { summary: command.summary ?? '', caller: request.caller, callId: command.callId, destination: command.destination ?? '' }) : null;
    const warm: Warm = {
      commandId: command.id,
      callRef,
      legId: ownId('leg', command.id),
      holdId: ownId('hold', command.id),
      agentBridge: null,
      endpoint,
      ringMs: request.ringTimeoutMs,
      settings: warmSettings,
      // ARI splits a list of media on commas: one in the URL must stay part of it.
      media: url ? `sound:${url.replace(/,/g, '%2C')}` : BEEP,
      briefing: url ? 'url' : 'header',
      playbackId: ownId('playback', command.id),
      phase: 'holding',
      rang: false,
      dialed: false,
      timer: undefined,
    };
    this.byCaller.set(callRef, warm);
    const options = request.signal ? { signal: request.signal } : {};
    try {
      warm.agentBridge = await this.bridgeOf(callRef, options);
      const created = await this.ctx.rest.request('POST', '/bridges', { type: 'holding', bridgeId: warm.holdId, name: `switchboard-hold-${command.id}` }, options);
      if (created.status !== 200) return this.refusedBeforeHold(warm, restRefusal('create a holding bridge', created.status, created.message));
      sink.delivered(command.id);
      const held = await this.ctx.rest.request('POST', `/bridges/${segment(warm.holdId)}/addChannel`, { channel: callRef }, options);
      if (held.status !== 204) return this.refusedBeforeHold(warm, restRefusal('put the caller on hold', held.status, held.message));
    } catch (error) {
      this.byCaller.delete(callRef);
      void destroyBridgeQuietly(this.ctx, warm.holdId);
      return unreachedResult(error);
    }
    const musicProblem = await this.startMusic(warm);
    if (musicProblem) this.ctx.log.warn({ event: 'ari_moh_failed', command: command.id, reason: musicProblem }, 'the caller is on hold without music');
    sink.step(command.id, 'held', { bridge_id: warm.holdId, music_on_hold: warmSettings.musicOnHold ?? 'default', ...(musicProblem ? { music_problem: musicProblem } : {}) });
    if (isOver(warm)) return { kind: 'sent' };

    warm.phase = 'ringing';
    sink.step(command.id, 'dialing', { endpoint, channel_id: warm.legId, ...(command.summary ? { summary_header: true } : {}) });
    let answer;
    try {
      answer = await originateLeg(this.ctx, request, { endpoint, channelId: warm.legId, kind: 'warm' });
    } catch (error) {
      // Whether the leg exists is unknown: hang it up in case, and bring the caller back.
      warm.dialed = !(error instanceof AriUnreachable) || error.reached;
      const reason = error instanceof AriUnreachable ? error.reason : String(error);
      void this.finish(warm, { success: false, outcome: 'failed', reason });
      return { kind: 'sent' };
    }
    if (answer.status !== 200) {
      void this.finish(warm, { success: false, outcome: 'failed', reason: restRefusal(`dial ${endpoint}`, answer.status, answer.message) });
      return { kind: 'sent' };
    }
    warm.dialed = true;
    if (isOver(warm)) {
      // The caller hung up while the POST was on its way.
      void hangUpQuietly(this.ctx, warm.legId);
      return { kind: 'sent' };
    }
    this.arm(warm, warm.ringMs, () => void this.finish(warm, { success: false, outcome: 'no_answer', reason: `not answered within ${Math.round(warm.ringMs / 100) / 10} seconds` }));
    return { kind: 'sent' };
  }

  /** Whether the event was about a leg of a warm transfer; acts on it if so. */
  onEvent(event: AriEvent): boolean {
    switch (event.type) {
      case 'StasisStart': {
        const warm = this.byLeg(event.channel.id);
        if (warm) void this.answered(warm);
        return warm !== undefined;
      }
      case 'ChannelStateChange':
        return this.ringing(event.channel.id, event.channel.state === 'Ringing');
      case 'Dial':
        return this.ringing(event.peer.id, event.dialstatus === 'RINGING');
      case 'ChannelDtmfReceived': {
        const warm = this.byLeg(event.channel.id);
        if (warm) this.pressed(warm, event.digit);
        return warm !== undefined;
      }
      case 'PlaybackFinished': {
        const warm = [...this.byCaller.values()].find((candidate) => candidate.playbackId === event.playbackId);
        if (warm) this.briefed(warm, event.state === 'failed' ? 'Asterisk could not play the briefing (PlaybackFinished: failed)' : null);
        return warm !== undefined;
      }
      case 'ChannelDestroyed': {
        const warm = this.byLeg(event.channel.id);
        if (warm) this.legGone(warm, event.cause, event.causeText);
        return warm !== undefined;
      }
      default:
        return false;
    }
  }

  /** The held caller hung up (the call's end is reported before this): the leg goes, and the transfer has failed. */
  callerGone(callRef: string): void {
    const warm = this.byCaller.get(callRef);
    if (!warm || warm.phase === 'over') return;
    warm.phase = 'over';
    clearTimeout(warm.timer);
    this.byCaller.delete(callRef);
    if (warm.dialed) void hangUpQuietly(this.ctx, warm.legId);
    void destroyBridgeQuietly(this.ctx, warm.holdId);
    this.ctx.sink.settle(warm.commandId, { success: false, outcome: 'failed', reason: WARM_REASONS.callerHungUp });
  }

  /** Transfers under way are given up: legs hung up, callers back with the agent. */
  async stop(): Promise<void> {
    await Promise.all([...this.byCaller.values()].filter((warm) => warm.phase !== 'over').map((warm) => this.finish(warm, { success: false, outcome: 'failed', reason: 'call control stopped while the transfer was under way' })));
  }

  private byLeg(channelId: string): Warm | undefined {
    for (const warm of this.byCaller.values()) if (warm.legId === channelId) return warm;
    return undefined;
  }

  /** The bridge the caller is in now (the agent's), from GET /bridges. */
  private async bridgeOf(callRef: string, options: { signal?: AbortSignal }): Promise<string | null> {
    const answer = await this.ctx.rest.request('GET', '/bridges', {}, options);
    if (answer.status !== 200 || !Array.isArray(answer.json)) return null;
    for (const bridge of answer.json as { id?: unknown; channels?: unknown }[]) {
      if (typeof bridge.id === 'string' && Array.isArray(bridge.channels) && bridge.channels.includes(callRef)) return bridge.id;
    }
    return null;
  }

  /** POST /bridges/{hold}/moh; a problem in words, or null. Without music the caller still waits, in silence: not a reason to give up the transfer. */
  private async startMusic(warm: Warm): Promise<string | null> {
    try {
      const music = await this.ctx.rest.request('POST', `/bridges/${segment(warm.holdId)}/moh`, { mohClass: warm.settings.musicOnHold ?? undefined });
      return music.status === 204 ? null : restRefusal('start music on hold', music.status, music.message);
    } catch (error) {
      return error instanceof AriUnreachable ? error.reason : String(error);
    }
  }

  /** Asterisk refused before the caller was held: nothing to undo but the holding bridge. */
  private refusedBeforeHold(warm: Warm, reason: string): SendResult {
    warm.phase = 'over';
    this.byCaller.delete(warm.callRef);
    void destroyBridgeQuietly(this.ctx, warm.holdId);
    return { kind: 'done', verdict: { success: false, outcome: 'failed', reason } };
  }

  private arm(warm: Warm, ms: number, work: () => void): void {
    clearTimeout(warm.timer);
    warm.timer = setTimeout(work, ms);
    warm.timer.unref();
  }

  private ringing(channelId: string, isRinging: boolean): boolean {
    const warm = this.byLeg(channelId);
    if (!warm) return false;
    if (isRinging && !warm.rang && warm.phase === 'ringing') {
      warm.rang = true;
      this.ctx.sink.step(warm.commandId, 'ringing', { channel_id: warm.legId });
    }
    return true;
  }

  /** The destination picked up: the briefing plays (bounded, in case its end is never reported). */
  private async answered(warm: Warm): Promise<void> {
    if (warm.phase !== 'ringing') {
      // Answered after the transfer was given up: nobody is waiting for it.
      if (warm.phase === 'over') void hangUpQuietly(this.ctx, warm.legId);
      return;
    }
    warm.phase = 'briefing';
    clearTimeout(warm.timer);
    this.ctx.sink.step(warm.commandId, 'answered', { channel_id: warm.legId });
    this.arm(warm, BRIEFING_LIMIT_MS, () => {
      void this.ctx.rest.request('DELETE', `/playbacks/${segment(warm.playbackId)}`).catch(() => undefined);
      this.briefed(warm, null);
    });
    try {
      const played = await this.ctx.rest.request('POST', `/channels/${segment(warm.legId)}/play`, { media: warm.media, playbackId: warm.playbackId });
      // 201 Created with the playback, as res_ari answers a play.
      if (played.status !== 201 && played.status !== 200) this.briefed(warm, restRefusal('play the briefing', played.status, played.message));
    } catch (error) {
      this.briefed(warm, error instanceof AriUnreachable ? error.reason : String(error));
    }
  }

  /** The briefing is over (played, failed, or cut short by its limit): accept: stay accepts now, dtmf waits for a key. */
  private briefed(warm: Warm, problem: string | null): void {
    if (warm.phase !== 'briefing') return;
    warm.phase = 'deciding';
    clearTimeout(warm.timer);
    this.ctx.sink.step(warm.commandId, 'briefed', { briefing: warm.briefing, ...(problem ? { problem } : {}) });
    if (warm.settings.accept === 'stay') {
      void this.accept(warm);
      return;
    }
    const seconds = warm.settings.acceptTimeoutSeconds;
    this.arm(warm, seconds * 1000, () => this.decline(warm, WARM_REASONS.notAccepted(seconds), { key: null }));
  }

  /** A key of the destination: 1 accepts and 2 declines, during the briefing too (it need not be heard to the end). */
  private pressed(warm: Warm, digit: string): void {
    if (warm.settings.accept !== 'dtmf' || (warm.phase !== 'briefing' && warm.phase !== 'deciding')) return;
    if (digit !== ACCEPT_DIGIT && digit !== DECLINE_DIGIT) return;
    if (warm.phase === 'briefing') {
      void this.ctx.rest.request('DELETE', `/playbacks/${segment(warm.playbackId)}`).catch(() => undefined);
      this.ctx.sink.step(warm.commandId, 'briefed', { briefing: warm.briefing, cut_short_by: digit });
    }
    warm.phase = 'deciding';
    if (digit === ACCEPT_DIGIT) void this.accept(warm);
    else this.decline(warm, WARM_REASONS.declined, { key: digit });
  }

  private decline(warm: Warm, reason: string, detail: Record<string, unknown>): void {
    if (warm.phase === 'over') return;
    this.ctx.sink.step(warm.commandId, 'declined', { reason, ...detail });
    void this.finish(warm, { success: false, outcome: 'rejected', reason });
  }

  /** The leg ended: before the answer it says why (busy, no answer); after it, the destination declined. */
  private legGone(warm: Warm, cause: number | undefined, causeText: string | undefined): void {
    warm.dialed = false;
    switch (warm.phase) {
      case 'ringing': {
        const { outcome, reason } = unansweredLeg(cause, causeText);
        void this.finish(warm, { success: false, outcome, reason });
        return;
      }
      case 'briefing':
        this.decline(warm, WARM_REASONS.hungUpDuringBriefing, { hung_up: true });
        return;
      case 'deciding':
        this.decline(warm, WARM_REASONS.declined, { hung_up: true });
        return;
      default:
        return;
    }
  }

  /** Accepted: the caller and the destination share a mixing bridge; the agent's leg is already out (the caller left its bridge when held). */
  private async accept(warm: Warm): Promise<void> {
    if (warm.phase === 'over') return;
    warm.phase = 'over';
    clearTimeout(warm.timer);
    const { sink, rest } = this.ctx;
    sink.step(warm.commandId, 'accepted', { channel_id: warm.legId });
    const bridgeId = ownId('bridge', warm.commandId);
    let failure: string | undefined;
    try {
      const created = await rest.request('POST', '/bridges', { type: 'mixing', bridgeId, name: `switchboard-transfer-${warm.commandId}` });
      if (created.status !== 200) failure = restRefusal('create a bridge', created.status, created.message);
      else {
        const added = await rest.request('POST', `/bridges/${segment(bridgeId)}/addChannel`, { channel: `${warm.callRef},${warm.legId}` });
        if (added.status !== 204) failure = restRefusal('bridge the caller with the destination', added.status, added.message);
      }
    } catch (error) {
      failure = error instanceof AriUnreachable ? error.reason : String(error);
    }
    if (failure) {
      await destroyBridgeQuietly(this.ctx, bridgeId);
      warm.phase = 'deciding';
      await this.finish(warm, { success: false, outcome: 'failed', reason: failure });
      return;
    }
    this.byCaller.delete(warm.callRef);
    await destroyBridgeQuietly(this.ctx, warm.holdId);
    this.bridge.keepTogether({ bridgeId, callRef: warm.callRef, legId: warm.legId });
    sink.step(warm.commandId, 'bridged', { bridge_id: bridgeId });
    sink.settle(warm.commandId, { success: true, outcome: 'connected' });
  }

  /** Not connected: the leg is hung up and the caller back with the agent, then the verdict. */
  private async finish(warm: Warm, verdict: Verdict & { success: false }): Promise<void> {
    if (warm.phase === 'over') return;
    warm.phase = 'over';
    clearTimeout(warm.timer);
    if (warm.dialed) await hangUpQuietly(this.ctx, warm.legId);
    const problem = await this.returnCaller(warm);
    this.byCaller.delete(warm.callRef);
    this.ctx.sink.settle(warm.commandId, problem ? { ...verdict, outcome: 'failed', reason: notReturned(verdict.reason, problem) } : verdict);
  }

  /** Music off, the caller into the agent's bridge again (or out of the holding bridge), the holding bridge gone. Null when done. */
  private async returnCaller(warm: Warm): Promise<string | null> {
    const { rest, sink, log } = this.ctx;
    let problem: string | null = null;
    try {
      await rest.request('DELETE', `/bridges/${segment(warm.holdId)}/moh`);
      const back = warm.agentBridge
        ? await rest.request('POST', `/bridges/${segment(warm.agentBridge)}/addChannel`, { channel: warm.callRef })
        : await rest.request('POST', `/bridges/${segment(warm.holdId)}/removeChannel`, { channel: warm.callRef });
      if (back.status !== 204) problem = restRefusal(warm.agentBridge ? "return the caller to the agent's bridge" : 'take the caller off hold', back.status, back.message);
    } catch (error) {
      problem = error instanceof AriUnreachable ? error.reason : String(error);
    }
    await destroyBridgeQuietly(this.ctx, warm.holdId);
    if (problem) log.warn({ event: 'ari_warm_return_failed', command: warm.commandId, reason: problem }, 'a caller held for a warm transfer could not be returned to the agent');
    else sink.step(warm.commandId, 'returned', { bridge_id: warm.agentBridge });
    return problem;
  }
}
