/**
 * Hang-ups wait for their grace delay in the store, not in a timer, so a
 * restart cannot drop one: the runner sends every hang-up whose time has
 * come, including those that fell due while the server was down (the event
 * records how late), and at start it re-sends webhook hang-ups a stopped
 * process left unanswered, under their original idempotency key.
 *
 * Several processes may run the job on one PostgreSQL database: each reads
 * the due hang-ups, and each hang-up is claimed by a conditional update
 * (`takeHangup`), so only one of them sends it.
 *
 * The background job wakes the runner when the next hang-up is due, when a
 * tool schedules one, and at least every second while any is waiting (a
 * safety net against clock changes, and a retry when the store failed).
 * Tests drive `runDue()` directly.
 *
 * The runner knows call control only through `HangupCommands`, callbacks
 * call control gives it when it makes the runner: the hang-ups waiting in
 * the store, the claim of one, and its send.
 */
import type { Clock } from '../clock.ts';
import type { Logger } from '../logging.ts';
import type { BackgroundJob } from '../vocabulary/jobs.ts';
import type { CallRecord, CommandOutcome, CommandRecord } from './types.ts';

const MAX_SLEEP_MS = 1_000;

/** What the runner asks of call control. */
export interface HangupCommands {
  /** Calls whose hang-up is due at `now`. */
  due(now: number): Promise<CallRecord[]>;
  /** Hang-up commands a previous process sent without getting a verdict. */
  unsettled(): Promise<CommandRecord[]>;
  /** When the next hang-up falls due; null when none waits. */
  nextDueAt(): Promise<number | null>;
  /** Claims a due hang-up and queues its command; undefined when it is no longer due or another process claimed it. */
  claim(call: CallRecord): Promise<CommandRecord | undefined>;
  /** Sends the command and waits for its verdict as long as the account's phone system needs. */
  send(command: CommandRecord, signal: AbortSignal): Promise<CommandOutcome>;
}

export class HangupRunner {
  private readonly sending = new Set<Promise<void>>();
  private stopping = new AbortController();

  constructor(
    private readonly commands: HangupCommands,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Sends every hang-up that is due now; resolves when their sends have ended. */
  async runDue(): Promise<number> {
    const started = await this.startDue();
    await Promise.all(started);
    return started.length;
  }

  /** Claims and starts sending every hang-up that is due now, without waiting for verdicts (the job's tick must not wait on one call's PBX). */
  async startDue(): Promise<Promise<void>[]> {
    const now = this.clock.now();
    const started: Promise<void>[] = [];
    for (const call of await this.commands.due(now)) {
      const command = await this.commands.claim(call);
      if (!command) continue;
      const lateMs = now - (call.hangupAt ?? now);
      if (lateMs > MAX_SLEEP_MS) this.log.warn({ event: 'hangup_late', account: command.accountId, call: command.callId, lateMs }, 'hang-up sent late (the server was not running when it was due)');
      started.push(this.send(command));
    }
    return started;
  }

  /** Re-sends hang-ups that a previous process sent without getting a verdict. */
  async recover(): Promise<number> {
    const pending = await this.commands.unsettled();
    await Promise.all(pending.map((command) => this.send(command)));
    return pending.length;
  }

  nextDueAt(): Promise<number | null> {
    return this.commands.nextDueAt();
  }

  /** Aborts sends in flight and waits for them; what they did not finish is picked up at the next start. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.all([...this.sending]);
    this.stopping = new AbortController();
  }

  private send(command: CommandRecord): Promise<void> {
    const work = this.commands
      .send(command, this.stopping.signal)
      .then((outcome) => {
        const log = { event: 'hangup_sent', account: command.accountId, call: command.callId, command: command.id, status: outcome.status };
        if (outcome.status === 'failed') this.log.warn({ ...log, reason: outcome.reason }, 'the phone system did not hang up the call');
        else this.log.info(log, 'hang-up sent');
      })
      .catch((error: unknown) => this.log.error({ err: error, event: 'hangup_failed', command: command.id }, 'sending a hang-up failed'))
      .finally(() => this.sending.delete(work));
    this.sending.add(work);
    return work;
  }
}

/**
 * The background job that runs the hang-up runner on time; `onScheduled`
 * subscribes to call control's news of a hang-up a tool scheduled.
 */
export function hangupJob(hangups: HangupRunner, onScheduled: (listener: () => void) => void, clock: Clock, log: Logger): BackgroundJob {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = true;

  const wakeIn = (ms: number): void => {
    clearTimeout(timer);
    timer = setTimeout(tick, Math.min(Math.max(ms, 0), MAX_SLEEP_MS));
    timer.unref();
  };
  const schedule = async (): Promise<void> => {
    if (stopped) return;
    let next: number | null;
    try {
      next = await hangups.nextDueAt();
    } catch (error) {
      // The store failed: try again shortly rather than leave a hang-up waiting for the next tool call.
      log.error({ err: error, event: 'hangup_job_failed' }, 'the hang-up job could not read when the next hang-up is due');
      next = clock.now() + MAX_SLEEP_MS;
    }
    if (stopped) return;
    if (next === null) clearTimeout(timer);
    else wakeIn(next - clock.now());
  };
  const tick = (): void => {
    if (stopped) return;
    running = running
      .then(() => hangups.startDue())
      .catch((error: unknown) => log.error({ err: error, event: 'hangup_job_failed' }, 'the hang-up job could not start due hang-ups'))
      .then(schedule);
  };

  return {
    name: 'call-hangups',
    start() {
      stopped = false;
      onScheduled(tick);
      running = hangups
        .recover()
        .catch((error: unknown) => log.error({ err: error, event: 'hangup_job_failed' }, 'the hang-up job could not re-send unanswered hang-ups'))
        .finally(tick);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await hangups.stop();
      await running.catch(() => undefined);
    },
  };
}
