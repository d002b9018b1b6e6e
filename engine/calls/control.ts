/**
 * The call-control service: owns the rules of a call's life and of the
 * commands sent to the PBX about it. Tools, the admin API and the hang-up
 * job go through it; it is the only writer of the calls tables.
 *
 * Every change that must hold together (the call's new state, the command,
 * its event) is one SQLite transaction, committed before any answer leaves.
 * Conditional updates (state IN (...), status = 'pending') settle races: two
 * transfers at once, an acknowledgement against a time-out, the PBX ending
 * a call while a hang-up waits. Waiting for an acknowledgement is in-process
 * (waiters.ts, woken by `settle`), with SQLite as the truth.
 */
import { EventEmitter } from 'node:events';

import type { Clock } from '../clock.ts';
import { SwitchboardError } from '../errors.ts';
import type { Logger } from '../logging.ts';
import type { CallControlSettings } from '../manifests/types.ts';
import type { SecretSource } from '../secrets.ts';
import type { Database } from '../store/database.ts';
import type { CallContext } from '../tools/types.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { OutboundClient } from '../outbound/client.ts';
import { EventStreams } from './drivers/events.ts';
import { sendWebhook } from './drivers/webhook.ts';
import { HangupRunner } from './hangup-job.ts';
import { CallStore } from './store.ts';
import { DEFAULT_ACK_TIMEOUT_SECONDS, type CallRecord, type CallState, type CommandOutcome, type CommandRecord, type Destination } from './types.ts';
import { CommandWaiters } from './waiters.ts';

export interface CallControlDeps {
  db: Database;
  clock: Clock;
  log: Logger;
  secrets: SecretSource;
  /** The SSRF-guarded client: a PBX on a private address must be in the operator's outbound allow list. */
  outbound: OutboundClient;
  metrics: Metrics;
}

interface CallControlEvents {
  /** A hang-up was confirmed: the call is over. */
  ended: [accountId: string, callId: string];
  hangupScheduled: [];
}

/** Longest one webhook command may take, retries included; tools allow a little more. */
const WEBHOOK_BUDGET_MS = 60_000;
export const CALL_CONTROL_TOOL_TIMEOUT_MS = 75_000;
const LIVE_STATES: readonly CallState[] = ['active', 'transferring', 'transferred', 'ending'];

export class CallControl {
  readonly store: CallStore;
  readonly streams: EventStreams;
  readonly hangups: HangupRunner;
  private readonly waiters = new CommandWaiters();
  private readonly events = new EventEmitter<CallControlEvents>();

  constructor(private readonly deps: CallControlDeps) {
    this.store = new CallStore(deps.db);
    this.streams = new EventStreams(this.store, deps.clock, deps.log);
    this.hangups = new HangupRunner(this, deps.clock, deps.log);
  }

  on<E extends keyof CallControlEvents>(event: E, listener: (...args: CallControlEvents[E]) => void): void {
    this.events.on(event, listener as never);
  }

  private now(): number {
    return this.deps.clock.now();
  }

  private transaction<T>(work: () => T): T {
    return this.deps.db.transaction(work).immediate();
  }

  /** The call a tool runs in, created on first use. */
  ensureCall(context: CallContext): CallRecord {
    return this.transaction(() => {
      const { call, created } = this.store.ensureCall(
        { accountId: context.accountId, callId: context.callId, personaId: context.personaId, caller: context.callerE164 ?? context.callerIdNumber ?? null, source: 'tool' },
        this.now(),
      );
      if (created) this.store.addEvent(call.accountId, call.callId, 'call_started', this.now(), null, { persona_id: context.personaId });
      return call;
    });
  }

  /** The PBX announces a call. Registering it again is harmless; an ended call id cannot come back. */
  register(accountId: string, callId: string, personaId: string | null, caller: string | null): { call: CallRecord; created: boolean } {
    return this.transaction(() => {
      if (this.store.call(accountId, callId)?.state === 'ended') {
        throw new SwitchboardError('CONFLICT', `Call ${callId} has ended; a call id cannot be used again`);
      }
      const result = this.store.ensureCall({ accountId, callId, personaId, caller, source: 'pbx' }, this.now());
      if (result.created) this.store.addEvent(accountId, callId, 'call_registered', this.now(), null, { persona_id: personaId, caller_id_number: caller });
      return result;
    });
  }

  /**
   * The PBX reports the call over. A hang-up still waiting is dropped and
   * commands not yet handed to the PBX are withdrawn; commands already
   * delivered (streamed, or POSTed at least once) stay open, so their
   * outcome is still recorded.
   */
  end(accountId: string, callId: string, reason: string): CallRecord {
    const withdrawn: number[] = [];
    const call = this.transaction(() => {
      const { call: before } = this.store.ensureCall({ accountId, callId, personaId: null, caller: null, source: 'pbx' }, this.now());
      if (before.state === 'ended') return before;
      this.store.setState(accountId, callId, LIVE_STATES, 'ended', this.now(), { endReason: reason });
      for (const command of this.store.pendingOfCall(accountId, callId)) {
        if (this.store.withdrawUndelivered(command.id, 'the call ended', this.now())) {
          withdrawn.push(command.id);
          this.store.addEvent(accountId, callId, 'command_withdrawn', this.now(), command.id, { type: command.kind, reason: 'the call ended' });
        }
      }
      this.store.addEvent(accountId, callId, 'call_ended', this.now(), null, { reason, previous_state: before.state });
      return this.store.call(accountId, callId) as CallRecord;
    });
    withdrawn.forEach((id) => this.waiters.wake(id));
    return call;
  }

  /** Records that a tool refused a command, and why. */
  refuse(call: CallRecord, type: 'transfer' | 'hangup', reason: string, detail: Record<string, unknown> = {}): void {
    this.store.addEvent(call.accountId, call.callId, 'command_refused', this.now(), null, { type, reason, ...detail });
    this.deps.metrics.callControlCommand(type, 'refused');
  }

  /** Records that a tool asked again for a command still waiting for its answer (it is not sent twice). */
  askedAgain(command: CommandRecord): void {
    this.store.addEvent(command.accountId, command.callId, 'command_asked_again', this.now(), command.id, { type: command.kind });
  }

  /** active -> transferring with a queued command, or undefined if the call was not active. */
  startTransfer(call: CallRecord, destination: Destination, settings: CallControlSettings): CommandRecord | undefined {
    return this.transaction(() => {
      if (!this.store.setState(call.accountId, call.callId, ['active'], 'transferring', this.now())) return undefined;
      return this.queue(call, 'transfer', settings, destination);
    });
  }

  /** active -> ending with a hang-up due after the delay; false if the call was not active. */
  scheduleHangup(call: CallRecord, hangupAt: number, settings: CallControlSettings): boolean {
    const scheduled = this.transaction(() => {
      if (!this.store.setState(call.accountId, call.callId, ['active'], 'ending', this.now(), { hangupAt, hangupConfig: JSON.stringify(settings) })) return false;
      this.store.addEvent(call.accountId, call.callId, 'hangup_scheduled', this.now(), null, { hangup_at: new Date(hangupAt).toISOString() });
      return true;
    });
    if (scheduled) this.events.emit('hangupScheduled');
    return scheduled;
  }

  /** Queues the hang-up of a call whose delay has passed (recording how late, if at all); undefined if it is no longer due. */
  startHangup(call: CallRecord, settings: CallControlSettings): CommandRecord | undefined {
    return this.transaction(() => {
      if (!this.store.takeHangup(call.accountId, call.callId, this.now())) return undefined;
      return this.queue(call, 'hangup', settings, undefined, { late_ms: Math.max(0, this.now() - (call.hangupAt ?? this.now())) });
    });
  }

  private queue(call: CallRecord, kind: 'transfer' | 'hangup', settings: CallControlSettings, destination?: Destination, detail: Record<string, unknown> = {}): CommandRecord {
    const command = this.store.insertCommand(
      {
        accountId: call.accountId,
        callId: call.callId,
        personaId: call.personaId,
        kind,
        destination: destination?.dial ?? null,
        destinationType: destination?.type ?? null,
        target: destination?.target ?? null,
        driver: settings.driver,
      },
      this.now(),
    );
    this.store.addEvent(call.accountId, call.callId, 'command_queued', this.now(), command.id, { type: kind, destination: command.destination, driver: command.driver, ...detail });
    return command;
  }

  /**
   * Sends the command with the account's driver. With `awaitAck`, waits for
   * the PBX's word up to the time allowed. Sending a command again is safe:
   * a stream never gets a command twice, and a webhook re-send carries the
   * same idempotency key.
   */
  async execute(command: CommandRecord, settings: CallControlSettings, options: { awaitAck: boolean; signal?: AbortSignal }): Promise<CommandOutcome> {
    const ackTimeoutMs = (settings.timeout_seconds ?? DEFAULT_ACK_TIMEOUT_SECONDS) * 1000;
    if (command.driver === 'events') {
      this.streams.publish(command);
      if (!options.awaitAck) return this.outcomeOf(command.id);
      return this.awaitSettlement(command.id, ackTimeoutMs, options.signal, command.kind === 'transfer');
    }
    // From the first POST on, the PBX may act on it: the end of the call no longer withdraws it.
    this.store.markDelivered(command.id, this.now());
    const answer = await sendWebhook(
      command,
      settings,
      {
        secrets: this.deps.secrets,
        clock: this.deps.clock,
        outbound: this.deps.outbound,
        onAttempt: (attempt, failure) => {
          this.store.countAttempt(command.id);
          if (failure) this.store.addEvent(command.accountId, command.callId, 'command_attempt_failed', this.now(), command.id, { attempt, failure });
        },
      },
      WEBHOOK_BUDGET_MS,
      options.signal,
    );
    switch (answer.kind) {
      case 'done':
        return this.settle(command.id, true, null, 'webhook');
      case 'refused':
      case 'unavailable':
        return this.settle(command.id, false, answer.reason, 'webhook');
      case 'accepted':
        return options.awaitAck ? this.awaitSettlement(command.id, ackTimeoutMs, options.signal, false) : this.outcomeOf(command.id);
      case 'unanswered':
        this.deps.metrics.callControlCommand(command.kind, 'timeout');
        this.store.addEvent(command.accountId, command.callId, 'command_unconfirmed', this.now(), command.id, { reason: answer.reason });
        return this.outcomeOf(command.id);
    }
  }

  /** The PBX's acknowledgement of a command (SSE consumers, or a webhook PBX that answered 202). */
  acknowledge(accountId: string, id: number, success: boolean, reason: string | null): { outcome: CommandOutcome; repeated: boolean } {
    const command = this.store.command(id);
    if (!command || command.accountId !== accountId) throw new SwitchboardError('NOT_FOUND', `No command ${id} in this account`);
    if (command.status === 'withdrawn') {
      throw new SwitchboardError('CONFLICT', `Command ${id} was withdrawn (${command.reason ?? 'no reason'}) and must not be carried out`);
    }
    if (command.status !== 'pending') {
      if ((command.status === 'succeeded') !== success) throw new SwitchboardError('CONFLICT', `Command ${id} was already acknowledged as ${command.status}`);
      return { outcome: this.outcomeOf(id), repeated: true };
    }
    return { outcome: this.settle(id, success, reason, 'ack'), repeated: false };
  }

  /** Records the PBX's final word and moves the call on; a command settled before keeps its first outcome. */
  settle(id: number, success: boolean, reason: string | null, via: 'ack' | 'webhook'): CommandOutcome {
    let ended: CommandRecord | undefined;
    this.transaction(() => {
      const command = this.store.command(id);
      if (!command || !this.store.settle(id, success ? 'succeeded' : 'failed', success ? null : reason, this.now())) return;
      const { accountId, callId } = command;
      const now = this.now();
      if (command.kind === 'transfer') {
        if (success) this.store.setState(accountId, callId, ['transferring'], 'transferred', now, { transferredTo: command.destination ?? '' });
        else this.store.setState(accountId, callId, ['transferring'], 'active', now);
      } else if (success) {
        if (this.store.setState(accountId, callId, ['ending'], 'ended', now, { endReason: 'hangup' })) ended = command;
      } else {
        this.store.setState(accountId, callId, ['ending'], 'active', now);
      }
      this.store.addEvent(accountId, callId, success ? 'command_succeeded' : 'command_failed', now, id, { type: command.kind, via, ...(success ? {} : { reason }) });
      this.deps.metrics.callControlCommand(command.kind, success ? 'ok' : 'failed');
    });
    this.waiters.wake(id);
    if (ended) this.events.emit('ended', ended.accountId, ended.callId);
    return this.outcomeOf(id);
  }

  private outcomeOf(id: number): CommandOutcome {
    const command = this.store.command(id) as CommandRecord;
    if (command.status === 'succeeded') return { status: 'succeeded', command };
    if (command.status === 'pending') return { status: 'unconfirmed', command };
    return { status: 'failed', reason: command.reason ?? 'no reason given', command };
  }

  /**
   * Waits for the command's outcome. A transfer that no stream picked up in
   * time is withdrawn (the model is told it failed, so it must not happen
   * later); one that was delivered stays open: the PBX may still do it.
   */
  private async awaitSettlement(id: number, timeoutMs: number, signal: AbortSignal | undefined, withdrawIfUndelivered: boolean): Promise<CommandOutcome> {
    // Already settled: nothing to wait for.
    if (this.store.command(id)?.status === 'pending') await this.waiters.waitFor(id, timeoutMs, signal);
    const command = this.store.command(id) as CommandRecord;
    if (command.status !== 'pending' || signal?.aborted) return this.outcomeOf(id);
    this.deps.metrics.callControlCommand(command.kind, 'timeout');
    if (withdrawIfUndelivered && this.withdraw(command, 'no phone system connection took the command in time')) return this.outcomeOf(id);
    this.store.addEvent(command.accountId, command.callId, 'command_unconfirmed', this.now(), id, { waited_ms: timeoutMs });
    return this.outcomeOf(id);
  }

  private withdraw(command: CommandRecord, reason: string): boolean {
    const withdrawn = this.transaction(() => {
      if (!this.store.withdrawUndelivered(command.id, reason, this.now())) return false;
      if (command.kind === 'transfer') this.store.setState(command.accountId, command.callId, ['transferring'], 'active', this.now());
      this.store.addEvent(command.accountId, command.callId, 'command_withdrawn', this.now(), command.id, { type: command.kind, reason });
      return true;
    });
    if (withdrawn) this.waiters.wake(command.id);
    return withdrawn;
  }
}
