/**
 * The two transfer methods that hand the caller's channel over instead of
 * bridging it:
 *
 * redirect: POST /channels/{id}/redirect?endpoint=...; chan_pjsip answers
 * the channel's far end with a SIP REFER (a 302 before answer). From then
 * on the call is the far end's to place; Asterisk reports no busy or no
 * answer for it, so the verdict is handed_over on Asterisk's 204.
 *
 * continue: POST /channels/{id}/continue sends the channel out of Stasis to
 * context/destination/1 in the dialplan. Having left Stasis, its events
 * reach this application only because the driver subscribed to it first
 * (the driver does that before every transfer); the Dial events it then
 * takes part in as the caller say what became of the transfer. A dialplan
 * that reaches no Dial within the ring time (voicemail, an IVR) took the
 * call elsewhere: handed_over. The subscription is dropped once the verdict
 * is known.
 */
import type { Verdict } from '../../types.ts';
import type { SendRequest, SendResult } from '../driver.ts';
import { fillTemplate } from '../driver.ts';
import { unreachedResult, type AriContext } from './context.ts';
import type { AriEvent } from './messages.ts';
import { readDialStatus, restRefusal } from './outcomes.ts';
import { AriUnreachable, segment } from './rest.ts';

interface Continued {
  commandId: number;
  callRef: string;
  /** Dialed peers by channel id, with their final verdict once known. */
  peers: Map<string, Verdict | null>;
  steps: Set<string>;
  timer: NodeJS.Timeout | undefined;
}

/** How long after the ring time a Dial still ringing is waited for before the channel is let go. */
const LATE_DIAL_MS = 120_000;
/** When several peers fail, the one that says most about the destination. */
const FAILURE_ORDER = ['no_answer', 'busy', 'rejected', 'failed'];

/** The reason of an error answer about the caller's channel, in the words the agent gets. */
function channelRefusal(action: string, callRef: string, status: number, message: string | undefined): string {
  if (status === 404) return `Asterisk has no channel ${callRef} (the call may have ended, or call_id is not the caller's channel id)`;
  if (status === 409) return `the caller's channel ${callRef} is not in a Stasis application, so ARI cannot ${action}`;
  return restRefusal(action, status, message);
}

export class DialplanTransfers {
  private readonly continued = new Map<string, Continued>();

  constructor(
    private readonly ctx: AriContext,
    /** Drops the driver's subscription to a channel. */
    private readonly unsubscribe: (callRef: string) => void,
  ) {}

  async redirect(request: SendRequest): Promise<SendResult> {
    const { command } = request;
    const endpoint = fillTemplate(this.ctx.settings.endpoint_template ?? '', { destination: command.destination ?? '' });
    this.ctx.sink.delivered(command.id);
    try {
      const answer = await this.ctx.rest.request('POST', `/channels/${segment(request.callRef)}/redirect`, { endpoint }, request.signal ? { signal: request.signal } : {});
      if (answer.status === 204) return { kind: 'done', verdict: { success: true, outcome: 'handed_over' } };
      return { kind: 'done', verdict: { success: false, outcome: 'failed', reason: channelRefusal(`redirect the caller to ${endpoint}`, request.callRef, answer.status, answer.message) } };
    } catch (error) {
      return unreachedResult(error);
    }
  }

  /** Whether a StasisEnd of this channel is the continue this driver asked for (not the caller leaving). */
  isContinuing(channelId: string): boolean {
    return this.continued.has(channelId);
  }

  async continueInDialplan(request: SendRequest): Promise<SendResult> {
    const { command, callRef } = request;
    const context = this.ctx.settings.context ?? 'default';
    if (this.continued.has(callRef)) return { kind: 'done', verdict: { success: false, outcome: 'failed', reason: 'the caller was already sent to the dialplan' } };
    const entry: Continued = { commandId: command.id, callRef, peers: new Map(), steps: new Set(), timer: undefined };
    this.continued.set(callRef, entry);
    this.ctx.sink.delivered(command.id);
    let answer;
    try {
      answer = await this.ctx.rest.request('POST', `/channels/${segment(callRef)}/continue`, { context, extension: command.destination ?? '', priority: 1 }, request.signal ? { signal: request.signal } : {});
    } catch (error) {
      // The channel stays in Stasis unless the request arrived: then its Dial may still be read.
      if (error instanceof AriUnreachable && error.reached) this.arm(entry, request.ringTimeoutMs);
      else this.finish(entry, false);
      return unreachedResult(error);
    }
    if (answer.status !== 204) {
      this.finish(entry, false);
      return { kind: 'done', verdict: { success: false, outcome: 'failed', reason: channelRefusal(`send the caller to ${context},${command.destination ?? ''},1`, callRef, answer.status, answer.message) } };
    }
    this.arm(entry, request.ringTimeoutMs);
    return { kind: 'sent' };
  }

  onEvent(event: AriEvent): boolean {
    if (event.type !== 'Dial' || !event.caller) return false;
    const entry = this.continued.get(event.caller.id);
    if (!entry) return false;
    const reading = readDialStatus(event.dialstatus);
    if (!reading.final) {
      if (!entry.peers.has(event.peer.id)) entry.peers.set(event.peer.id, null);
      if (reading.step && !entry.steps.has(reading.step)) {
        entry.steps.add(reading.step);
        this.ctx.sink.step(entry.commandId, reading.step, { peer: event.peer.name || event.peer.id });
      }
      return true;
    }
    entry.peers.set(event.peer.id, reading.verdict);
    if (reading.verdict.success) {
      this.ctx.sink.step(entry.commandId, 'answered', { peer: event.peer.name || event.peer.id });
      this.conclude(entry, reading.verdict);
      return true;
    }
    const verdicts = [...entry.peers.values()];
    if (verdicts.every((verdict) => verdict !== null)) {
      const failures = verdicts.filter((verdict): verdict is Extract<Verdict, { success: false }> => verdict !== null && !verdict.success);
      failures.sort((a, b) => FAILURE_ORDER.indexOf(a.outcome ?? 'failed') - FAILURE_ORDER.indexOf(b.outcome ?? 'failed'));
      this.conclude(entry, failures[0] ?? reading.verdict);
    }
    return true;
  }

  /** The caller's channel is gone while its dialplan transfer was under way. */
  callerGone(callRef: string): void {
    const entry = this.continued.get(callRef);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.continued.delete(callRef);
    this.ctx.sink.settle(entry.commandId, { success: false, outcome: 'failed', reason: 'the caller hung up before the destination answered' });
  }

  stop(): void {
    for (const entry of this.continued.values()) clearTimeout(entry.timer);
    this.continued.clear();
  }

  /** No Dial by the end of the ring time: the dialplan took the call somewhere that does not dial. */
  private arm(entry: Continued, ringMs: number): void {
    entry.timer = setTimeout(() => {
      if (entry.peers.size === 0) {
        this.conclude(entry, { success: true, outcome: 'handed_over' });
        return;
      }
      entry.timer = setTimeout(() => this.finish(entry, true), LATE_DIAL_MS);
      entry.timer.unref();
    }, ringMs);
    entry.timer.unref();
  }

  private conclude(entry: Continued, verdict: Verdict): void {
    this.finish(entry, true);
    this.ctx.sink.settle(entry.commandId, verdict);
  }

  /** Stops following the transfer; `left`: the channel left for the dialplan, so its events are no longer wanted. */
  private finish(entry: Continued, left: boolean): void {
    clearTimeout(entry.timer);
    if (this.continued.get(entry.callRef) === entry) this.continued.delete(entry.callRef);
    if (left) this.unsubscribe(entry.callRef);
  }
}
