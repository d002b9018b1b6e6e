/**
 * Warm transfers on FreeSWITCH: the caller hears hold music while a new leg
 * rings the destination; whoever answers hears a briefing and accepts or
 * declines; only an accepted call is put through, and otherwise the caller
 * is taken off hold, back with the agent.
 *
 *   1. `api uuid_broadcast <caller> endless_playback::<music> aleg`: the
 *      caller's channel plays the hold music until broken (held).
 *   2. `bgapi originate {origination_uuid=<leg>,...,sip_h_X-Switchboard-Summary='...'}<endpoint> &park()`
 *      rings the destination (dialing, ringing); its job answers "+OK" once
 *      the leg is answered (answered), or "-ERR <cause>" (busy, no answer...).
 *   3. `sendmsg <leg>` executes the briefing on the parked leg (speak, a
 *      playback of the briefing URL, or a beep), then the `event` application
 *      fires a CUSTOM switchboard::warm event with this transfer's token: the
 *      briefing has been played (briefed), in order because each sendmsg
 *      holds the event lock.
 *   4. accept dtmf: a DTMF event of the leg, 1 accepts and 2 declines, within
 *      accept_timeout_seconds after the briefing. accept stay: the end of the
 *      briefing accepts; hanging up before declines.
 *   5. accepted: `api uuid_bridge <caller> <leg>` (which stops the hold music)
 *      puts them together (bridged); the agent's leg, left alone, is hung up
 *      by FreeSWITCH as after a bridge transfer. Otherwise the leg is hung up
 *      (`uuid_kill`) and `api uuid_break <caller>` stops the music: the
 *      caller is back with the agent (returned) before the verdict is given.
 *
 * The caller hanging up while held hangs up the new leg and ends the call.
 * Every state has a time limit (the ring time and its grace, the briefing
 * limit, the accept time), so a lost event cannot keep a caller on hold; a
 * caller who cannot be taken off hold because the connection is down is
 * taken off hold as soon as it is up again.
 */
import { randomUUID } from 'node:crypto';

import type { Logger } from '../../../logging.ts';
import type { Verdict } from '../../types.ts';
import { BRIEFING_LIMIT_MS, briefingUrl, SUMMARY_HEADER, WARM_REASONS, ACCEPT_DIGIT, DECLINE_DIGIT, notReturned, type WarmSettings, type WarmStep } from '../../warm.ts';
import { fillTemplate, type DriverSink, type SendRequest, type SendResult } from '../driver.ts';
import { causeVerdict, DIAL, failed, readResult, SAFE_CALLER } from './causes.ts';
import { EslError, type EslConnection } from './connection.ts';
import type { EslEvent } from './parser.ts';
import { BRIDGE_GRACE_MS } from './transfers.ts';
import { briefedEventApp, briefingPlan, holdStream, originateVariable, summaryVariable, WARM_EVENT_SUBCLASS, type BriefingApp } from './warm-commands.ts';

/** How long a job is remembered after the transfer was given up, to hang up a leg that answers after all. */
const FORGET_AFTER_MS = 10 * 60_000;

/**
 * holding: the hold music is being started. dialing: the destination rings.
 * briefing: answered, the briefing plays. deciding: played, waiting for a
 * key. bridging: uuid_bridge sent. over: decided; nobody may be put through.
 */
type State = 'holding' | 'dialing' | 'briefing' | 'deciding' | 'bridging' | 'over';

interface Warm {
  commandId: number;
  callRef: string;
  destination: string;
  leg: string;
  job: string;
  /** Matches the briefing's end event to this transfer. */
  token: string;
  accept: WarmSettings['accept'];
  acceptSeconds: number;
  apps: BriefingApp[];
  state: State;
  settled: boolean;
  /** The caller's hold music is (or may be) playing. */
  held: boolean;
  /** We hung the leg up ourselves: its hang-up says nothing about the destination. */
  killing: boolean;
  steps: Set<string>;
  ringSeconds: number;
  timer?: NodeJS.Timeout;
}

export interface WarmTransferSettings {
  endpointTemplate: string | undefined;
  ttsEngine: string | undefined;
  warm: WarmSettings;
}


export class WarmTransfers {
  private readonly jobs = new Map<string, Warm>();
  private readonly legs = new Map<string, Warm>();
  private readonly callers = new Map<string, Warm>();
  /** Callers and legs left on hold or up when the connection was down: put right once it is up. */
  private stranded: { caller?: string; leg?: string }[] = [];

  constructor(
    private readonly settings: WarmTransferSettings,
    private readonly sink: DriverSink,
    private readonly log: Logger,
    private readonly current: () => EslConnection | undefined,
  ) {}

  /** Holds the caller and rings the destination; the verdict follows from the events. */
  async start(connection: EslConnection, request: SendRequest): Promise<SendResult> {
    const { command, callRef } = request;
    const { warm } = this.settings;
    const destination = command.destination ?? '';
    if (!DIAL.test(destination)) return { kind: 'done', verdict: failed(`"${destination.slice(0, 40)}" cannot be dialed on FreeSWITCH`) };
    const endpoint = fillTemplate(this.settings.endpointTemplate ?? 'user/{destination}', { destination });
    if (/\s/.test(endpoint)) return { kind: 'done', verdict: failed('the endpoint_template must not contain spaces') };
    const music = holdStream(warm.musicOnHold);
    if (!music.ok) return { kind: 'done', verdict: failed(music.reason) };
    const summary = command.summary ?? '';
    const url = warm.briefingUrl ? briefingUrl(warm.briefingUrl, { summary, caller: request.caller, callId: command.callId, destination }) : null;
    const plan = briefingPlan(warm, this.settings.ttsEngine, summary, url);
    if (!plan.ok) return { kind: 'done', verdict: failed(plan.reason) };
    if (this.callers.has(callRef)) return { kind: 'done', verdict: failed('a warm transfer of this call is already under way') };

    const pending: Warm = {
      commandId: command.id,
      callRef,
      destination,
      leg: randomUUID(),
      job: randomUUID(),
      token: randomUUID(),
      accept: warm.accept,
      acceptSeconds: warm.acceptTimeoutSeconds,
      apps: plan.value.apps,
      state: 'holding',
      settled: false,
      held: false,
      killing: false,
      steps: new Set(),
      ringSeconds: Math.max(1, Math.ceil(request.ringTimeoutMs / 1000)),
    };
    // Known as the caller's before anything is sent, so a hang-up while the music starts is seen.
    this.callers.set(callRef, pending);
    this.sink.delivered(command.id);

    let reply: string;
    try {
      reply = await connection.api(`uuid_broadcast ${callRef} endless_playback::${music.value} aleg`);
    } catch (error) {
      this.forget(pending);
      // Whether the music started is unknown: it is stopped as soon as there is a connection again.
      this.strand({ caller: callRef });
      return { kind: 'unanswered', reason: `the connection to FreeSWITCH broke before it answered (${(error as Error).message})` };
    }
    const held = readResult(reply);
    if (pending.state === 'over') return { kind: 'sent' };
    if (!held.ok) {
      this.forget(pending);
      const reason = /invalid uuid/i.test(held.text) ? `the caller's channel is no longer in FreeSWITCH (${held.text})` : `FreeSWITCH could not put the caller on hold (${held.text})`;
      return { kind: 'done', verdict: failed(reason) };
    }
    pending.held = true;
    this.step(pending, 'held', { music: music.value });

    const variables = [`origination_uuid=${pending.leg}`, `originate_timeout=${pending.ringSeconds}`, 'ignore_early_media=true', ...plan.value.variables];
    if (request.caller && SAFE_CALLER.test(request.caller)) variables.push(`origination_caller_id_number=${request.caller}`);
    const header = summaryVariable(summary);
    if (header) variables.push(originateVariable(`sip_h_${SUMMARY_HEADER}`, header));
    pending.state = 'dialing';
    // Recorded before the originate is sent: FreeSWITCH's ringing can come before its answer to bgapi.
    this.step(pending, 'dialing', { leg: pending.leg, job: pending.job });
    this.jobs.set(pending.job, pending);
    this.legs.set(pending.leg, pending);
    this.arm(pending, request.ringTimeoutMs + BRIDGE_GRACE_MS, () => this.overdue(pending));
    try {
      reply = await connection.bgapi(`originate {${variables.join(',')}}${endpoint} &park()`, pending.job);
    } catch (error) {
      if (error instanceof EslError && error.kind === 'invalid') {
        await this.end(pending, failed(error.message));
        return { kind: 'sent' };
      }
      // The job may have started: the ring timer hangs its leg up and takes the caller off hold.
      this.log.warn({ event: 'esl_warm_unanswered', command: pending.commandId, reason: (error as Error).message }, 'no answer to the originate of a warm transfer');
      return { kind: 'sent' };
    }
    if (!reply.startsWith('+OK')) {
      await this.end(pending, failed(`FreeSWITCH refused the command (${readResult(reply).text})`));
      return { kind: 'sent' };
    }
    return { kind: 'sent' };
  }

  /** A BACKGROUND_JOB; false when it is not one of ours. */
  onJob(event: EslEvent): boolean {
    const pending = this.jobs.get(event.headers.get('job-uuid') ?? '');
    if (!pending) return false;
    this.jobs.delete(pending.job);
    const result = readResult(event.body);
    if (pending.state === 'dialing') {
      if (result.ok) void this.brief(pending);
      else void this.end(pending, causeVerdict(result.cause, result.text));
    } else if (pending.state === 'over' && result.ok) {
      // Answered after the transfer was given up: nobody may be put through now.
      void this.kill(pending);
    }
    return true;
  }

  /** A channel event of a new leg, or the hang-up of a caller on hold; true when it was ours. */
  onChannel(event: EslEvent): boolean {
    const uuid = event.headers.get('unique-id') ?? '';
    if (event.name === 'CHANNEL_HANGUP_COMPLETE') {
      const held = this.callers.get(uuid);
      if (held && held.state !== 'over') {
        void this.callerLeft(held);
        return true;
      }
      const pending = this.legs.get(uuid);
      if (!pending) return false;
      this.legs.delete(uuid);
      if (!pending.killing) void this.legHungUp(pending, event.headers.get('hangup-cause') ?? '');
      return true;
    }
    const pending = this.legs.get(uuid);
    if (!pending) return false;
    if (event.name === 'CHANNEL_PROGRESS' || event.name === 'CHANNEL_PROGRESS_MEDIA') {
      if (pending.state === 'dialing') this.step(pending, 'ringing');
    } else if (event.name === 'CHANNEL_ANSWER') {
      this.step(pending, 'answered');
    }
    return true;
  }

  /** A DTMF event: the key the target pressed (accept dtmf). */
  onDtmf(event: EslEvent): boolean {
    const pending = this.legs.get(event.headers.get('unique-id') ?? '');
    if (!pending) return false;
    if (pending.accept !== 'dtmf' || (pending.state !== 'briefing' && pending.state !== 'deciding')) return true;
    const digit = event.headers.get('dtmf-digit') ?? '';
    if (digit === ACCEPT_DIGIT) void this.accept(pending);
    else if (digit === DECLINE_DIGIT) void this.decline(pending, failed(WARM_REASONS.declined, 'rejected'), { digit });
    return true;
  }

  /** The CUSTOM event the briefing's last application fires. */
  onCustom(event: EslEvent): boolean {
    if (event.headers.get('event-subclass') !== WARM_EVENT_SUBCLASS) return false;
    const pending = this.legs.get(event.headers.get('unique-id') ?? '');
    if (pending && pending.token === event.headers.get('switchboard-briefing')) this.briefed(pending, true);
    return true;
  }

  /** The connection is up (again): callers left on hold while it was down are taken off it, legs left up are hung up. */
  async connected(): Promise<void> {
    const connection = this.current();
    if (!connection || this.stranded.length === 0) return;
    const work = this.stranded;
    this.stranded = [];
    for (const { caller, leg } of work) {
      if (leg) await connection.api(`uuid_kill ${leg}`).catch(() => undefined);
      if (caller) await connection.api(`uuid_break ${caller}`).catch(() => undefined);
    }
    this.log.info({ event: 'esl_warm_recovered', count: work.length }, 'took callers left on hold off it after the connection came back');
  }

  /** Gives every transfer in flight up: the leg hung up, the caller off hold (no verdicts: this instance is stopping). */
  async stop(): Promise<void> {
    const open = new Set([...this.callers.values(), ...this.legs.values(), ...this.jobs.values()]);
    const connection = this.current();
    const work: Promise<unknown>[] = [];
    for (const pending of open) {
      clearTimeout(pending.timer);
      if (pending.state === 'over') continue;
      pending.state = 'over';
      pending.settled = true;
      if (!connection) continue;
      work.push(connection.api(`uuid_kill ${pending.leg}`).catch(() => undefined));
      if (pending.held) work.push(connection.api(`uuid_break ${pending.callRef}`).catch(() => undefined));
    }
    await Promise.all(work);
    this.jobs.clear();
    this.legs.clear();
    this.callers.clear();
  }

  /** The leg answered: the briefing is executed on it, then the application that reports its end. */
  private async brief(pending: Warm): Promise<void> {
    pending.state = 'briefing';
    this.step(pending, 'answered');
    // Longer than this and the briefing counts as heard: an endless stream must not keep the caller on hold.
    this.arm(pending, BRIEFING_LIMIT_MS, () => this.briefed(pending, false));
    const connection = this.current();
    if (!connection) return this.end(pending, failed('the connection to FreeSWITCH was lost before the briefing'), true);
    // All queued at once, in order: event-lock makes each application run to its end before the next is
    // taken off the leg's queue, so the end event cannot come before the briefing has played.
    const sent = [...pending.apps, briefedEventApp(pending.token)].map((app) =>
      connection.command(`sendmsg ${pending.leg}`, { 'call-command': 'execute', 'execute-app-name': app.name, 'execute-app-arg': app.arg, 'event-lock': 'true' }),
    );
    let replies: string[];
    try {
      replies = await Promise.all(sent);
    } catch (error) {
      return this.end(pending, failed(`the connection to FreeSWITCH broke during the briefing (${(error as Error).message})`), true);
    }
    if (pending.state !== 'briefing') return;
    const refused = replies.find((reply) => !reply.startsWith('+OK'));
    if (refused === undefined) return;
    if (/invalid session id/i.test(refused)) return this.decline(pending, failed(WARM_REASONS.hungUpDuringBriefing, 'rejected'), {}, false);
    return this.end(pending, failed(`FreeSWITCH could not play the briefing (${readResult(refused).text})`), true);
  }

  /** The briefing has been played (or its time is up): stay accepts, dtmf waits for a key. */
  private briefed(pending: Warm, complete: boolean): void {
    if (pending.state !== 'briefing') return;
    this.step(pending, 'briefed', complete ? undefined : { complete: false });
    if (pending.accept === 'stay') {
      void this.accept(pending);
      return;
    }
    pending.state = 'deciding';
    const seconds = pending.acceptSeconds;
    this.arm(pending, seconds * 1000, () => this.decline(pending, failed(WARM_REASONS.notAccepted(seconds), 'rejected')));
  }

  private async accept(pending: Warm): Promise<void> {
    if (pending.state !== 'briefing' && pending.state !== 'deciding') return;
    // A key pressed while the briefing still played: it was heard as far as the target wanted.
    if (pending.state === 'briefing') this.step(pending, 'briefed', { complete: false });
    pending.state = 'bridging';
    clearTimeout(pending.timer);
    this.step(pending, 'accepted');
    const connection = this.current();
    if (!connection) return this.end(pending, failed('the connection to FreeSWITCH was lost before the caller could be put through'), true);
    let body: string;
    try {
      body = await connection.api(`uuid_bridge ${pending.callRef} ${pending.leg}`);
    } catch (error) {
      // Whether FreeSWITCH bridged is unknown: no verdict, so the agent hears "not confirmed".
      this.log.warn({ event: 'esl_bridge_unanswered', command: pending.commandId, reason: (error as Error).message }, 'no answer to uuid_bridge');
      pending.state = 'over';
      return this.forget(pending);
    }
    const result = readResult(body);
    if (!result.ok) return this.end(pending, failed(`FreeSWITCH could not put the caller through to ${pending.destination} (${result.text})`), true);
    pending.state = 'over';
    pending.held = false;
    this.step(pending, 'bridged');
    this.settle(pending, { success: true, outcome: 'connected' });
    this.forget(pending);
  }

  /** The target said no (a key, a hang-up, silence): `killLeg` unless the leg is gone already. */
  private decline(pending: Warm, verdict: Verdict & { success: false }, detail: Record<string, unknown> = {}, killLeg = true): Promise<void> {
    if (pending.state === 'over' || pending.state === 'bridging') return Promise.resolve();
    this.step(pending, 'declined', { reason: verdict.reason, ...detail });
    return this.end(pending, verdict, killLeg);
  }

  private async legHungUp(pending: Warm, cause: string): Promise<void> {
    switch (pending.state) {
      case 'dialing':
        return this.end(pending, causeVerdict(cause, 'the new leg hung up'));
      case 'briefing':
        return this.decline(pending, failed(WARM_REASONS.hungUpDuringBriefing, 'rejected'), {}, false);
      case 'deciding':
        return this.decline(pending, failed(WARM_REASONS.declined, 'rejected'), {}, false);
      default:
        // bridging: uuid_bridge's answer decides.
        return undefined;
    }
  }

  /** The caller hung up while held: the new leg goes too, and so does the call. */
  private async callerLeft(pending: Warm): Promise<void> {
    pending.state = 'over';
    pending.held = false;
    clearTimeout(pending.timer);
    this.callers.delete(pending.callRef);
    await this.kill(pending);
    this.sink.callEnded(pending.callRef, WARM_REASONS.callerHungUp);
    this.settle(pending, failed(WARM_REASONS.callerHungUp));
    this.forget(pending, FORGET_AFTER_MS);
  }

  /** The ring time and its grace are over without a word: the leg is hung up so it cannot be briefed later. */
  private async overdue(pending: Warm): Promise<void> {
    if (pending.state !== 'dialing') return;
    pending.state = 'over';
    const killed = await this.kill(pending);
    const verdict = killed === 'gone' ? failed('FreeSWITCH gave no result for the new leg in time, and the leg is not up') : failed(`nobody answered within ${pending.ringSeconds} seconds`, 'no_answer');
    await this.giveBack(pending, verdict);
  }

  /** Ends a transfer that did not put the caller through: the leg hung up (when `killLeg`), the caller off hold, then the verdict. */
  private async end(pending: Warm, verdict: Verdict & { success: false }, killLeg = false): Promise<void> {
    if (pending.state === 'over') return;
    pending.state = 'over';
    clearTimeout(pending.timer);
    if (killLeg) await this.kill(pending);
    await this.giveBack(pending, verdict);
  }

  private async giveBack(pending: Warm, verdict: Verdict & { success: false }): Promise<void> {
    const back = await this.returnCaller(pending);
    // "The caller is back with you" must be true: a caller still on hold makes it a plain failure that says so.
    this.settle(pending, back.ok ? verdict : failed(notReturned(verdict.reason, back.why)));
    this.forget(pending, FORGET_AFTER_MS);
  }

  /** Stops the hold music: the caller is with the agent again. */
  private async returnCaller(pending: Warm): Promise<{ ok: true } | { ok: false; why: string }> {
    if (!pending.held) return { ok: true };
    const connection = this.current();
    if (!connection) {
      this.strand({ caller: pending.callRef });
      return { ok: false, why: 'the connection to FreeSWITCH is down; it will be once the connection is back' };
    }
    let body: string;
    try {
      body = await connection.api(`uuid_break ${pending.callRef}`);
    } catch (error) {
      this.strand({ caller: pending.callRef });
      return { ok: false, why: (error as Error).message };
    }
    const result = readResult(body);
    // No such channel: the caller has gone; their hang-up ends the call.
    if (!result.ok && !/no such channel/i.test(result.text)) return { ok: false, why: result.text };
    pending.held = false;
    if (result.ok) this.step(pending, 'returned');
    return { ok: true };
  }

  private async kill(pending: Warm): Promise<'killed' | 'gone' | 'unknown'> {
    pending.killing = true;
    const connection = this.current();
    if (!connection) {
      this.strand({ leg: pending.leg });
      return 'unknown';
    }
    try {
      const result = readResult(await connection.api(`uuid_kill ${pending.leg}`));
      return result.ok ? 'killed' : /no such channel/i.test(result.text) ? 'gone' : 'unknown';
    } catch {
      this.strand({ leg: pending.leg });
      return 'unknown';
    }
  }

  private strand(entry: { caller?: string; leg?: string }): void {
    this.stranded.push(entry);
    this.log.warn({ event: 'esl_warm_stranded', ...entry }, 'a warm transfer could not be undone for want of a connection; it will be once the connection is back');
  }

  private settle(pending: Warm, verdict: Verdict): void {
    if (pending.settled) return;
    pending.settled = true;
    this.sink.settle(pending.commandId, verdict);
  }

  private step(pending: Warm, step: WarmStep, detail?: Record<string, unknown>): void {
    if (pending.steps.has(step)) return;
    pending.steps.add(step);
    this.sink.step(pending.commandId, step, detail);
  }

  private arm(pending: Warm, ms: number, work: () => unknown): void {
    clearTimeout(pending.timer);
    pending.timer = setTimeout(() => void work(), ms);
    pending.timer.unref();
  }

  /** Drops the record now, or keeps its job for `afterMs` to recognise a leg answering late. */
  private forget(pending: Warm, afterMs = 0): void {
    clearTimeout(pending.timer);
    if (this.callers.get(pending.callRef) === pending) this.callers.delete(pending.callRef);
    if (this.legs.get(pending.leg) === pending) this.legs.delete(pending.leg);
    if (afterMs <= 0 || !this.jobs.has(pending.job)) {
      this.jobs.delete(pending.job);
      return;
    }
    pending.timer = setTimeout(() => this.jobs.delete(pending.job), afterMs);
    pending.timer.unref();
  }
}
