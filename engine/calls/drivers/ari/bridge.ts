/**
 * transfer_method bridge: the caller stays with the agent until the
 * destination answers. A new channel is originated into this driver's
 * Stasis application (POST /channels with app, appArgs, callerId, timeout
 * and a channelId we choose, so its events are recognised even when they
 * arrive before the answer to the POST; originate.ts, which also sends the
 * model's summary as a SIP header). When it enters Stasis it has
 * answered; a mixing bridge is created and the caller and the new leg are
 * added to it, which takes the caller out of the voice bridge's bridge and
 * so releases the agent's media. A leg destroyed before that says why by
 * its hang-up cause (busy, no answer, declined) and the caller is still
 * with the agent, so another destination can be tried.
 *
 * A bridge left with one party is of no use: when either channel of a
 * connected transfer goes, the other is hung up and the bridge destroyed.
 */
import type { SendRequest, SendResult } from '../driver.ts';
import { fillTemplate } from '../driver.ts';
import { destroyBridgeQuietly, hangUpQuietly, ownId, unreachedResult, type AriContext } from './context.ts';
import type { AriEvent } from './messages.ts';
import { originateLeg } from './originate.ts';
import { unansweredLeg, restRefusal } from './outcomes.ts';
import { AriUnreachable, segment } from './rest.ts';

interface Leg {
  commandId: number;
  callRef: string;
  id: string;
  ringMs: number;
  timer: NodeJS.Timeout | undefined;
  rang: boolean;
  answered: boolean;
  settled: boolean;
}

export interface Pair {
  bridgeId: string;
  callRef: string;
  legId: string;
}

/** Connected transfers remembered at most, in case some channel's end was missed while disconnected. */
const MAX_PAIRS = 1000;

export class BridgeTransfers {
  private readonly legs = new Map<string, Leg>();
  private readonly pairs = new Map<string, Pair>();

  constructor(private readonly ctx: AriContext) {}

  async start(request: SendRequest): Promise<SendResult> {
    const { command } = request;
    const { settings, sink } = this.ctx;
    const endpoint = fillTemplate(settings.endpoint_template ?? '', { destination: command.destination ?? '' });
    const leg: Leg = { commandId: command.id, callRef: request.callRef, id: ownId('leg', command.id), ringMs: request.ringTimeoutMs, timer: undefined, rang: false, answered: false, settled: false };
    this.legs.set(leg.id, leg);
    sink.delivered(command.id);
    sink.step(command.id, 'dialing', { endpoint, channel_id: leg.id, ...(command.summary ? { summary_header: true } : {}) });
    let answer;
    try {
      answer = await originateLeg(this.ctx, request, { endpoint, channelId: leg.id, kind: 'transfer' });
    } catch (error) {
      if (error instanceof AriUnreachable && error.reached) this.abandon(leg);
      else this.legs.delete(leg.id);
      return unreachedResult(error);
    }
    if (answer.status !== 200) {
      this.legs.delete(leg.id);
      return { kind: 'done', verdict: { success: false, outcome: 'failed', reason: restRefusal(`dial ${endpoint}`, answer.status, answer.message) } };
    }
    this.armRingTimer(leg);
    return { kind: 'sent' };
  }

  /** Whether the event was about a channel of a transfer (a leg or a bridged pair); acts on it if so. */
  onEvent(event: AriEvent): boolean {
    switch (event.type) {
      case 'StasisStart': {
        const leg = this.legs.get(event.channel.id);
        if (leg) void this.answered(leg);
        return leg !== undefined;
      }
      case 'ChannelStateChange':
        return this.ringing(event.channel.id, event.channel.state === 'Ringing');
      case 'Dial':
        return this.ringing(event.peer.id, event.dialstatus === 'RINGING');
      case 'ChannelDestroyed': {
        const leg = this.legs.get(event.channel.id);
        if (leg) {
          this.legs.delete(leg.id);
          clearTimeout(leg.timer);
          if (!leg.settled && !leg.answered) {
            const { outcome, reason } = unansweredLeg(event.cause, event.causeText);
            this.settle(leg, { success: false, outcome, reason });
          }
        }
        return this.partnerGone(event.channel.id) || leg !== undefined;
      }
      default:
        return false;
    }
  }

  /** The caller's channel is gone: a leg still ringing for it is hung up, and its transfer has failed. */
  callerGone(callRef: string): void {
    for (const leg of this.legs.values()) {
      if (leg.callRef !== callRef || leg.answered) continue;
      this.legs.delete(leg.id);
      clearTimeout(leg.timer);
      this.settle(leg, { success: false, outcome: 'failed', reason: 'the caller hung up before the destination answered' });
      void hangUpQuietly(this.ctx, leg.id);
    }
  }

  /** After a reconnect: legs whose events may have been missed are looked up. */
  async reconcile(): Promise<void> {
    for (const leg of [...this.legs.values()]) {
      if (leg.answered || leg.settled) continue;
      try {
        const answer = await this.ctx.rest.request('GET', `/channels/${segment(leg.id)}`);
        if (answer.status === 404 && this.legs.delete(leg.id)) {
          clearTimeout(leg.timer);
          this.settle(leg, { success: false, outcome: 'failed', reason: 'the new leg ended while the connection to Asterisk was down' });
        } else if (answer.status === 200 && (answer.json as { state?: unknown } | undefined)?.state === 'Up') {
          void this.answered(leg);
        }
      } catch {
        // Still unreachable: the ring timer ends the leg.
      }
    }
  }

  /** Legs still ringing are hung up: no instance would be left to bridge them. */
  async stop(): Promise<void> {
    const ringing = [...this.legs.values()].filter((leg) => !leg.answered);
    for (const leg of this.legs.values()) clearTimeout(leg.timer);
    this.legs.clear();
    await Promise.all(ringing.map((leg) => hangUpQuietly(this.ctx, leg.id)));
  }

  /**
   * The originate may have reached Asterisk, but the agent is told the transfer is unconfirmed: a leg that
   * exists is hung up, and one that answers anyway is hung up then, never bridged late.
   */
  private abandon(leg: Leg): void {
    leg.settled = true;
    leg.timer = setTimeout(() => this.legs.delete(leg.id), leg.ringMs + 5_000);
    leg.timer.unref();
    void hangUpQuietly(this.ctx, leg.id);
  }

  private armRingTimer(leg: Leg): void {
    if (leg.settled || leg.answered || !this.legs.has(leg.id)) return;
    leg.timer = setTimeout(() => {
      if (leg.answered || !this.legs.delete(leg.id)) return;
      this.settle(leg, { success: false, outcome: 'no_answer', reason: `not answered within ${Math.round(leg.ringMs / 100) / 10} seconds` });
      void hangUpQuietly(this.ctx, leg.id);
    }, leg.ringMs);
    leg.timer.unref();
  }

  private ringing(channelId: string, isRinging: boolean): boolean {
    const leg = this.legs.get(channelId);
    if (!leg) return this.pairOf(channelId) !== undefined;
    if (isRinging && !leg.rang && !leg.answered && !leg.settled) {
      leg.rang = true;
      this.ctx.sink.step(leg.commandId, 'ringing', { channel_id: leg.id });
    }
    return true;
  }

  private settle(leg: Leg, verdict: Parameters<AriContext['sink']['settle']>[1]): void {
    if (leg.settled) return;
    leg.settled = true;
    this.ctx.sink.settle(leg.commandId, verdict);
  }

  /** The destination answered: bridge it with the caller. */
  private async answered(leg: Leg): Promise<void> {
    if (leg.answered) return;
    leg.answered = true;
    clearTimeout(leg.timer);
    const { sink, rest } = this.ctx;
    if (leg.settled) {
      // Answered just as its ring time ran out: too late, the agent was already told.
      this.legs.delete(leg.id);
      await hangUpQuietly(this.ctx, leg.id);
      return;
    }
    sink.step(leg.commandId, 'answered', { channel_id: leg.id });
    const bridgeId = ownId('bridge', leg.commandId);
    let failure: string | undefined;
    try {
      const created = await rest.request('POST', '/bridges', { type: 'mixing', bridgeId, name: `switchboard-transfer-${leg.commandId}` });
      if (created.status !== 200) failure = restRefusal('create a bridge', created.status, created.message);
      else {
        const added = await rest.request('POST', `/bridges/${segment(bridgeId)}/addChannel`, { channel: `${leg.callRef},${leg.id}` });
        if (added.status !== 204) failure = restRefusal('bridge the caller with the destination', added.status, added.message);
      }
    } catch (error) {
      failure = error instanceof AriUnreachable ? error.reason : String(error);
    }
    this.legs.delete(leg.id);
    if (failure) {
      this.settle(leg, { success: false, outcome: 'failed', reason: failure });
      await Promise.all([hangUpQuietly(this.ctx, leg.id), destroyBridgeQuietly(this.ctx, bridgeId)]);
      return;
    }
    this.remember({ bridgeId, callRef: leg.callRef, legId: leg.id });
    sink.step(leg.commandId, 'bridged', { bridge_id: bridgeId });
    this.settle(leg, { success: true, outcome: 'connected' });
  }

  /** A caller and a destination bridged by another path (a warm transfer): when either goes, the other is hung up. */
  keepTogether(pair: Pair): void {
    this.remember(pair);
  }

  private remember(pair: Pair): void {
    this.pairs.set(pair.bridgeId, pair);
    while (this.pairs.size > MAX_PAIRS) this.pairs.delete(this.pairs.keys().next().value as string);
  }

  private pairOf(channelId: string): Pair | undefined {
    for (const pair of this.pairs.values()) if (pair.callRef === channelId || pair.legId === channelId) return pair;
    return undefined;
  }

  /** One party of a connected transfer is gone: the other is hung up and the bridge destroyed. */
  private partnerGone(channelId: string): boolean {
    const pair = this.pairOf(channelId);
    if (!pair) return false;
    this.pairs.delete(pair.bridgeId);
    const other = pair.callRef === channelId ? pair.legId : pair.callRef;
    void Promise.all([hangUpQuietly(this.ctx, other), destroyBridgeQuietly(this.ctx, pair.bridgeId)]);
    return true;
  }
}
