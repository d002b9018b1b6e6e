/**
 * Transfers in flight on FreeSWITCH, and what their jobs and channel events
 * mean for them.
 *
 * blind: `bgapi uuid_transfer <caller> <destination> XML <context>`; the
 * BACKGROUND_JOB says whether the caller's channel went into the dialplan
 * (handed_over); the dialplan decides what busy or no answer do.
 *
 * bridge: `bgapi originate {origination_uuid=<leg>,...}<endpoint> &park()`
 * rings the destination on a leg of our own; the job answers "+OK <leg>"
 * once the destination answered (then `uuid_bridge <caller> <leg>` puts the
 * caller through) or "-ERR <cause>". The leg's own events (ringing, answer,
 * bridge, hang-up) record the steps, and a hang-up of the leg that comes
 * before the job settles the transfer from its cause. Whatever happens, the
 * caller stays with the agent until the bridge succeeds.
 *
 * A summary given with the transfer travels as the SIP header
 * X-Switchboard-Summary: a `sip_h_` variable of the new leg (bridge), or of
 * the caller's channel before uuid_transfer (blind), which FreeSWITCH copies
 * onto the INVITE of the leg the dialplan bridges it to.
 *
 * Nothing is carried out late: a leg that answers after the ring time (plus
 * a grace), after the caller hung up, or after we gave up on it, is hung up
 * instead of bridged.
 */
import { randomUUID } from 'node:crypto';

import type { Logger } from '../../../logging.ts';
import type { Verdict } from '../../types.ts';
import { SUMMARY_HEADER } from '../../warm.ts';
import { fillTemplate, type DriverSink, type SendRequest, type SendResult } from '../driver.ts';
import { causeVerdict, DIAL, failed, readResult, SAFE_CALLER } from './causes.ts';
import { EslError, type EslConnection } from './connection.ts';
import type { EslEvent } from './parser.ts';
import { originateVariable, summaryVariable } from './warm-commands.ts';

/** Beyond the ring time, how long a leg may take to be answered before it is given up. */
export const BRIDGE_GRACE_MS = 5_000;
/** How long a job is remembered after it was given up, to hang up a leg that answers after all. */
const FORGET_AFTER_MS = 10 * 60_000;

interface Pending {
  kind: 'blind' | 'bridge';
  commandId: number;
  callRef: string;
  destination: string;
  job: string;
  leg?: string;
  /** dialing: the job runs; bridging: uuid_bridge was sent; over: nobody may be put through any more. */
  state: 'dialing' | 'bridging' | 'over';
  settled: boolean;
  /** We hung the leg up ourselves: its hang-up cause says nothing about the destination. */
  killing?: boolean;
  steps: Set<string>;
  ringSeconds: number;
  timer?: NodeJS.Timeout;
}


export interface TransferSettings {
  method: 'blind' | 'bridge';
  context: string;
  endpointTemplate: string | undefined;
}

export class Transfers {
  private readonly jobs = new Map<string, Pending>();
  private readonly legs = new Map<string, Pending>();

  constructor(
    private readonly settings: TransferSettings,
    private readonly sink: DriverSink,
    private readonly log: Logger,
    private readonly current: () => EslConnection | undefined,
  ) {}

  /** Sends the transfer on `connection`; the verdict follows from the job and channel events. */
  async start(connection: EslConnection, request: SendRequest): Promise<SendResult> {
    const { command, callRef } = request;
    const destination = command.destination ?? '';
    if (!DIAL.test(destination)) return { kind: 'done', verdict: failed(`"${destination.slice(0, 40)}" cannot be dialed on FreeSWITCH`) };
    const ringMs = request.ringTimeoutMs;
    const pending: Pending = { kind: this.settings.method, commandId: command.id, callRef, destination, job: randomUUID(), state: 'dialing', settled: false, steps: new Set(), ringSeconds: Math.max(1, Math.ceil(ringMs / 1000)) };
    const summary = summaryVariable(command.summary);
    let line: string;
    if (pending.kind === 'blind') {
      line = `uuid_transfer ${callRef} ${destination} XML ${this.settings.context}`;
      // The header is a courtesy: a failure here is the transfer's to report, not this variable's.
      if (summary) await connection.api(`uuid_setvar ${callRef} sip_h_${SUMMARY_HEADER} ${summary}`).catch(() => undefined);
    } else {
      const endpoint = fillTemplate(this.settings.endpointTemplate ?? 'user/{destination}', { destination });
      if (/\s/.test(endpoint)) return { kind: 'done', verdict: failed('the endpoint_template must not contain spaces') };
      pending.leg = randomUUID();
      const variables = [`origination_uuid=${pending.leg}`, `originate_timeout=${pending.ringSeconds}`, 'ignore_early_media=true'];
      if (request.caller && SAFE_CALLER.test(request.caller)) variables.push(`origination_caller_id_number=${request.caller}`);
      if (summary) variables.push(originateVariable(`sip_h_${SUMMARY_HEADER}`, summary));
      line = `originate {${variables.join(',')}}${endpoint} &park()`;
      this.legs.set(pending.leg, pending);
    }
    this.jobs.set(pending.job, pending);
    pending.timer = setTimeout(() => void this.overdue(pending), ringMs + BRIDGE_GRACE_MS);
    pending.timer.unref();
    this.sink.delivered(command.id);
    let reply: string;
    try {
      reply = await connection.bgapi(line, pending.job);
    } catch (error) {
      if (error instanceof EslError && error.kind === 'invalid') {
        this.forget(pending);
        return { kind: 'done', verdict: failed(error.message) };
      }
      // The job may have started: it is kept, so a late leg is still hung up rather than bridged.
      return { kind: 'unanswered', reason: `the connection to FreeSWITCH broke before it answered (${(error as Error).message})` };
    }
    if (!reply.startsWith('+OK')) {
      this.forget(pending);
      return { kind: 'done', verdict: failed(`FreeSWITCH refused the command (${readResult(reply).text})`) };
    }
    if (pending.kind === 'bridge') this.step(pending, 'dialing', { leg: pending.leg, job: pending.job });
    return { kind: 'sent' };
  }

  /** A BACKGROUND_JOB; false when it is not one of ours (every client subscribed sees every job). */
  onJob(event: EslEvent): boolean {
    const pending = this.jobs.get(event.headers.get('job-uuid') ?? '');
    if (!pending) return false;
    this.jobs.delete(pending.job);
    const result = readResult(event.body);
    if (pending.kind === 'blind') {
      if (result.ok) this.settle(pending, { success: true, outcome: 'handed_over' });
      else if (/no such channel/i.test(result.text)) this.settle(pending, failed(`the caller's channel is no longer in FreeSWITCH (${result.text})`));
      else this.settle(pending, failed(`FreeSWITCH could not transfer the call (${result.text})`));
      this.forget(pending);
      return true;
    }
    if (!result.ok) {
      this.settle(pending, causeVerdict(result.cause, result.text));
      this.forget(pending);
    } else if (pending.state === 'dialing') {
      void this.bridge(pending);
    } else {
      // Answered after we gave up on it, or after the caller left: nobody may be put through now.
      void this.kill(pending);
      this.forget(pending);
    }
    return true;
  }

  /** A channel event; true when it was about one of our new legs. */
  onChannel(event: EslEvent): boolean {
    const uuid = event.headers.get('unique-id') ?? '';
    if (event.name === 'CHANNEL_HANGUP_COMPLETE') {
      const leg = this.legs.get(uuid);
      if (!leg) {
        this.callerGone(uuid);
        return false;
      }
      this.legs.delete(uuid);
      if (!leg.killing) this.settle(leg, causeVerdict(event.headers.get('hangup-cause') ?? '', 'the new leg hung up'));
      return true;
    }
    const pending = this.legs.get(uuid) ?? this.legs.get(event.headers.get('other-leg-unique-id') ?? '');
    if (!pending) return false;
    switch (event.name) {
      case 'CHANNEL_PROGRESS':
      case 'CHANNEL_PROGRESS_MEDIA':
        this.step(pending, 'ringing');
        break;
      case 'CHANNEL_ANSWER':
        this.step(pending, 'answered');
        break;
      case 'CHANNEL_BRIDGE':
        this.step(pending, 'bridged');
        break;
      default:
        break;
    }
    return true;
  }

  stop(): void {
    for (const pending of this.jobs.values()) clearTimeout(pending.timer);
    this.jobs.clear();
    this.legs.clear();
  }

  private async bridge(pending: Pending): Promise<void> {
    pending.state = 'bridging';
    this.step(pending, 'answered');
    const connection = this.current();
    if (!connection) {
      this.settle(pending, failed('the connection to FreeSWITCH was lost before the caller could be put through'));
      return this.forget(pending);
    }
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
    if (result.ok) {
      this.settle(pending, { success: true, outcome: 'connected' });
    } else {
      this.settle(pending, failed(`FreeSWITCH could not put the caller through to ${pending.destination} (${result.text})`));
      await this.kill(pending);
    }
    this.forget(pending);
  }

  /** The ring time and its grace are over without a word: the leg is hung up so it cannot be bridged later. */
  private async overdue(pending: Pending): Promise<void> {
    if (pending.state !== 'dialing') return;
    if (pending.kind === 'blind') return this.forget(pending, FORGET_AFTER_MS);
    pending.state = 'over';
    const killed = await this.kill(pending);
    if (killed === 'killed') this.settle(pending, failed(`nobody answered within ${pending.ringSeconds} seconds`, 'no_answer'));
    else if (killed === 'gone') this.settle(pending, failed('FreeSWITCH gave no result for the new leg in time, and the leg is not up'));
    this.forget(pending, FORGET_AFTER_MS);
  }

  private callerGone(uuid: string): void {
    for (const pending of this.jobs.values()) {
      if (pending.callRef !== uuid || pending.kind !== 'bridge' || pending.state !== 'dialing') continue;
      pending.state = 'over';
      this.settle(pending, failed('the caller hung up before the transfer was completed'));
      void this.kill(pending);
    }
  }

  private async kill(pending: Pending): Promise<'killed' | 'gone' | 'unknown'> {
    const connection = this.current();
    if (!connection || !pending.leg) return 'unknown';
    pending.killing = true;
    try {
      const result = readResult(await connection.api(`uuid_kill ${pending.leg}`));
      return result.ok ? 'killed' : /no such channel/i.test(result.text) ? 'gone' : 'unknown';
    } catch {
      return 'unknown';
    }
  }

  private settle(pending: Pending, verdict: Verdict): void {
    if (pending.settled) return;
    pending.settled = true;
    pending.state = 'over';
    this.sink.settle(pending.commandId, verdict);
  }

  private step(pending: Pending, step: string, detail?: Record<string, unknown>): void {
    if (pending.steps.has(step)) return;
    pending.steps.add(step);
    this.sink.step(pending.commandId, step, detail);
  }

  /** Drops the record now, or after `afterMs` (kept to recognise a late job). */
  private forget(pending: Pending, afterMs = 0): void {
    clearTimeout(pending.timer);
    const drop = (): void => {
      this.jobs.delete(pending.job);
      if (pending.leg && this.legs.get(pending.leg) === pending) this.legs.delete(pending.leg);
    };
    if (afterMs <= 0) return drop();
    pending.timer = setTimeout(drop, afterMs);
    pending.timer.unref();
  }
}
