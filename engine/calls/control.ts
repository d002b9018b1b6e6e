/**
 * The call-control service: owns the rules of a call's life and of the
 * commands sent to the phone system about it. Tools, the admin API, the
 * hang-up job and the drivers (through their sink) go through it; it is the
 * only writer of the calls tables.
 *
 * Every change that must hold together (the call's new state, the command,
 * its event) is one SQLite transaction, committed before any answer leaves.
 * Conditional updates (state IN (...), status = 'pending') settle races: two
 * transfers at once, a verdict against a time-out, the phone system ending a
 * call while a hang-up waits. Waiting for a verdict is in-process
 * (waiters.ts, woken by `settle`), with SQLite as the truth.
 *
 * Which phone system a command goes to is the account's driver in the pool;
 * nothing here depends on which driver that is.
 *
 * Whatever a driver says (reasons, steps, health) is masked on its way in
 * (`fromDriver`): drivers quote their phone system, which may quote a
 * credential back, and these texts reach the call history, the logs and
 * the agent.
 */
import { EventEmitter } from 'node:events';

import type { Clock } from '../clock.ts';
import { SwitchboardError } from '../errors.ts';
import type { Logger } from '../logging.ts';
import type { AccountEntry } from '../manifests/snapshot.ts';
import type { CallControlSettings } from '../manifests/types.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { OutboundClient } from '../outbound/client.ts';
import { knownSecretsMask, maskKnownSecrets, type SecretSource } from '../secrets.ts';
import type { Database } from '../store/database.ts';
import type { CallContext } from '../tools/types.ts';
import type { DndStore } from '../users/dnd-store.ts';
import type { DriverHealth, DriverScope, DriverSink, SendResult } from './drivers/driver.ts';
import { EventStreams } from './drivers/events.ts';
import { builtinDrivers } from './drivers/index.ts';
import { DriverPool } from './drivers/pool.ts';
import { HangupRunner } from './hangup-job.ts';
import { CallStore } from './store.ts';
import {
  DEFAULT_ACK_TIMEOUT_SECONDS,
  DEFAULT_RING_TIMEOUT_SECONDS,
  TRANSFER_MARGIN_MS,
  type CallRecord,
  type CallState,
  type CommandOutcome,
  type CommandRecord,
  type Destination,
  type DriverName,
  type TransferOutcome,
  type Verdict,
} from './types.ts';
import { CommandWaiters } from './waiters.ts';

export interface CallControlDeps {
  db: Database;
  clock: Clock;
  log: Logger;
  secrets: SecretSource;
  /** The SSRF-guarded client: a PBX on a private address must be in the operator's outbound allow list. */
  outbound: OutboundClient;
  metrics: Metrics;
  /** Presence reported by a phone system lands here. */
  dnd: DndStore;
  /** The server's public base URL, where phone systems send callbacks (twilio, telnyx). */
  publicUrl?: string | undefined;
}

interface CallControlEvents {
  /** The call is over (a confirmed hang-up, or the phone system said so): its sessions may close. */
  ended: [accountId: string, callId: string];
  hangupScheduled: [];
}

/** The tool's own limit for a hang-up; transfers compute theirs from their ring time. */
export const CALL_CONTROL_TOOL_TIMEOUT_MS = 75_000;
/** How long the hang-up job waits for a hang-up's verdict with drivers other than events. */
const HANGUP_WAIT_MS = 15_000;
/** A hang-up not handed to any phone system within this long is withdrawn rather than carried out late. */
export const HANGUP_STALE_MS = 60_000;
const LIVE_STATES: readonly CallState[] = ['active', 'transferring', 'transferred', 'ending'];

/** A driver's word with every secret value the server has handed out masked. */
const fromDriver = {
  text: (text: string): string => maskKnownSecrets(text),
  verdict: (verdict: Verdict): Verdict => (verdict.success ? verdict : { ...verdict, reason: maskKnownSecrets(verdict.reason) }),
  result: (result: SendResult): SendResult => {
    if (result.kind === 'done') return { kind: 'done', verdict: fromDriver.verdict(result.verdict) };
    if (result.kind === 'sent') return result;
    return { ...result, reason: maskKnownSecrets(result.reason) };
  },
  health: (health: DriverHealth): DriverHealth => (health.reason === null ? health : { ...health, reason: maskKnownSecrets(health.reason) }),
  detail: (detail: Record<string, unknown> | undefined): Record<string, unknown> | null => (detail ? (knownSecretsMask().maskDeep(detail) as Record<string, unknown>) : null),
};
const STEP = /^[a-z_]{1,32}$/;

/** What the tool needs to start a transfer. */
export interface TransferRequest {
  destination: Destination;
  ringTimeoutMs: number;
}

export class CallControl {
  readonly store: CallStore;
  readonly streams: EventStreams;
  readonly hangups: HangupRunner;
  readonly drivers: DriverPool;
  private readonly waiters = new CommandWaiters();
  private readonly events = new EventEmitter<CallControlEvents>();

  constructor(private readonly deps: CallControlDeps) {
    this.store = new CallStore(deps.db);
    this.streams = new EventStreams(this.store, deps.clock, deps.log, (command) => this.stillDue(command));
    this.hangups = new HangupRunner(this, deps.clock, deps.log);
    this.drivers = new DriverPool(builtinDrivers(this.streams), (account, settings) => this.scopeFor(account, settings), deps.log);
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
  register(accountId: string, callId: string, personaId: string | null, caller: string | null, pbxCallRef: string | null = null): { call: CallRecord; created: boolean } {
    return this.transaction(() => {
      if (this.store.call(accountId, callId)?.state === 'ended') {
        throw new SwitchboardError('CONFLICT', `Call ${callId} has ended; a call id cannot be used again`);
      }
      const result = this.store.ensureCall({ accountId, callId, personaId, caller, source: 'pbx', pbxCallRef }, this.now());
      if (result.created) this.store.addEvent(accountId, callId, 'call_registered', this.now(), null, { persona_id: personaId, caller_id_number: caller, pbx_call_ref: pbxCallRef });
      return result;
    });
  }

  /**
   * The PBX reports the call over. A hang-up still waiting is dropped and
   * commands not yet handed to the PBX are withdrawn; commands already
   * delivered stay open, so their outcome is still recorded. With `notify`,
   * listeners hear of it (the call's MCP sessions close); the admin route
   * closes them itself, to report how many.
   */
  end(accountId: string, callId: string, reason: string, notify = false): CallRecord {
    const withdrawn: number[] = [];
    const stillOpen: number[] = [];
    let endedNow = false;
    const call = this.transaction(() => {
      const { call: before } = this.store.ensureCall({ accountId, callId, personaId: null, caller: null, source: 'pbx' }, this.now());
      if (before.state === 'ended') return before;
      endedNow = true;
      this.store.setState(accountId, callId, LIVE_STATES, 'ended', this.now(), { endReason: reason });
      for (const command of this.store.pendingOfCall(accountId, callId)) {
        if (this.store.withdrawUndelivered(command.id, 'the call ended', this.now())) {
          withdrawn.push(command.id);
          this.store.addEvent(accountId, callId, 'command_withdrawn', this.now(), command.id, { type: command.kind, reason: 'the call ended' });
        } else {
          stillOpen.push(command.id);
        }
      }
      this.store.addEvent(accountId, callId, 'call_ended', this.now(), null, { reason, previous_state: before.state });
      return this.store.call(accountId, callId) as CallRecord;
    });
    // Tools waiting on this call's commands answer now (the call is over) instead of at their time limit.
    [...withdrawn, ...stillOpen].forEach((id) => this.waiters.wake(id));
    if (notify && endedNow) this.events.emit('ended', accountId, callId);
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

  /** Records a step of a tool's own (a fallback taken), for the call's history. */
  note(call: CallRecord, type: string, detail: Record<string, unknown>): void {
    this.store.addEvent(call.accountId, call.callId, type, this.now(), null, detail);
  }

  /** The account's call_control settings as its driver runs them (the events driver without a block). */
  settingsOf(accountId: string): CallControlSettings | undefined {
    return this.drivers.of(accountId)?.settings;
  }

  /** The connection health of the account's phone system. */
  healthOf(accountId: string): DriverHealth {
    const health = this.drivers.of(accountId)?.driver.health();
    return health ? fromDriver.health(health) : { state: 'down', reason: 'call control is not running on this server', since: this.now() };
  }

  /** Whether a transfer that is not answered leaves the caller with the agent (so a fallback can follow). */
  keepsCaller(accountId: string): boolean {
    return this.drivers.of(accountId)?.driver.keepsCaller ?? false;
  }

  /** active -> transferring with a queued command, or undefined if the call was not active. */
  startTransfer(call: CallRecord, request: TransferRequest): CommandRecord | undefined {
    return this.transaction(() => {
      if (!this.store.setState(call.accountId, call.callId, ['active'], 'transferring', this.now())) return undefined;
      return this.queue(call, 'transfer', request.destination, request.ringTimeoutMs);
    });
  }

  /** active -> ending with a hang-up due after the delay; false if the call was not active. */
  scheduleHangup(call: CallRecord, hangupAt: number): boolean {
    const scheduled = this.transaction(() => {
      if (!this.store.setState(call.accountId, call.callId, ['active'], 'ending', this.now(), { hangupAt })) return false;
      this.store.addEvent(call.accountId, call.callId, 'hangup_scheduled', this.now(), null, { hangup_at: new Date(hangupAt).toISOString() });
      return true;
    });
    if (scheduled) this.events.emit('hangupScheduled');
    return scheduled;
  }

  /** Queues the hang-up of a call whose delay has passed (recording how late, if at all); undefined if it is no longer due. */
  startHangup(call: CallRecord): CommandRecord | undefined {
    return this.transaction(() => {
      if (!this.store.takeHangup(call.accountId, call.callId, this.now())) return undefined;
      return this.queue(call, 'hangup', undefined, null, { late_ms: Math.max(0, this.now() - (call.hangupAt ?? this.now())) });
    });
  }

  private queue(call: CallRecord, kind: 'transfer' | 'hangup', destination: Destination | undefined, ringTimeoutMs: number | null, detail: Record<string, unknown> = {}): CommandRecord {
    const driver: DriverName = this.drivers.of(call.accountId)?.name ?? 'events';
    const command = this.store.insertCommand(
      {
        accountId: call.accountId,
        callId: call.callId,
        personaId: call.personaId,
        kind,
        destination: destination?.dial ?? null,
        destinationType: destination?.type ?? null,
        target: destination?.target ?? null,
        driver,
        ringTimeoutMs,
      },
      this.now(),
    );
    this.store.addEvent(call.accountId, call.callId, 'command_queued', this.now(), command.id, { type: kind, destination: command.destination, driver, ...detail });
    return command;
  }

  /**
   * How long a transfer waits for its verdict: its ring time plus a margin
   * for the phone system's own delays. With the events and webhook drivers
   * the margin is call_control.timeout_seconds, the time the PBX integration
   * has to answer after ringing ends.
   */
  transferWaitMs(accountId: string, ringMs: number): number {
    const settings = this.settingsOf(accountId);
    const margin = settings && (settings.driver === 'events' || settings.driver === 'webhook') && settings.timeout_seconds !== undefined ? settings.timeout_seconds * 1000 : TRANSFER_MARGIN_MS;
    return ringMs + margin;
  }

  /** How long the hang-up job waits for a hang-up's verdict. */
  hangupWaitMs(accountId: string): number {
    const settings = this.settingsOf(accountId);
    return settings?.driver === 'events' ? (settings.timeout_seconds ?? DEFAULT_ACK_TIMEOUT_SECONDS) * 1000 : HANGUP_WAIT_MS;
  }

  /**
   * Sends the command with the account's driver and waits up to `waitMs` for
   * the phone system's verdict. A driver that is down is not even asked:
   * the command fails at once, so the agent can tell the caller instead of
   * leaving them in dead air.
   */
  async execute(command: CommandRecord, options: { waitMs: number; signal?: AbortSignal | undefined }): Promise<CommandOutcome> {
    const entry = this.drivers.of(command.accountId);
    const health = this.healthOf(command.accountId);
    if (!entry || health.state === 'down') {
      return this.notSent(command, `the phone system is not connected: ${health.reason ?? 'no reason given'}`);
    }
    const call = this.store.call(command.accountId, command.callId);
    let result: SendResult;
    try {
      result = fromDriver.result(
        await entry.driver.send({
          command,
          callRef: call?.pbxCallRef ?? command.callId,
          caller: call?.caller ?? null,
          ringTimeoutMs: command.ringTimeoutMs ?? DEFAULT_RING_TIMEOUT_SECONDS * 1000,
          ...(options.signal ? { signal: options.signal } : {}),
        }),
      );
    } catch (error) {
      this.deps.log.error({ err: error, event: 'call_control_driver_error', account: command.accountId, driver: entry.name, command: command.id }, 'a call-control driver failed while sending');
      result = { kind: 'unanswered', reason: 'the driver failed while sending' };
    }
    switch (result.kind) {
      case 'done':
        return this.settle(command.id, result.verdict, entry.name);
      case 'not_sent':
        return this.notSent(command, result.reason);
      case 'unanswered':
        return this.unconfirmed(command, result.reason);
      case 'sent':
        return this.awaitSettlement(command.id, options.waitMs, options.signal);
    }
  }

  /** Waits for the verdict of a command already sent (a tool asking again for the same transfer). */
  awaitOutcome(command: CommandRecord, options: { waitMs: number; signal?: AbortSignal | undefined }): Promise<CommandOutcome> {
    return this.awaitSettlement(command.id, options.waitMs, options.signal);
  }

  private notSent(command: CommandRecord, reason: string): CommandOutcome {
    const outcome = this.settle(command.id, { success: false, outcome: 'failed', reason }, 'driver');
    return outcome.status === 'failed' ? { ...outcome, notSent: true } : outcome;
  }

  /** The PBX's acknowledgement of a command (SSE consumers, or a webhook PBX that answered 202). */
  acknowledge(accountId: string, id: number, verdict: Verdict): { outcome: CommandOutcome; repeated: boolean } {
    const command = this.store.command(id);
    if (!command || command.accountId !== accountId) throw new SwitchboardError('NOT_FOUND', `No command ${id} in this account`);
    if (command.status === 'withdrawn') {
      throw new SwitchboardError('CONFLICT', `Command ${id} was withdrawn (${command.reason ?? 'no reason'}) and must not be carried out`);
    }
    if (command.status !== 'pending') {
      if ((command.status === 'succeeded') !== verdict.success) throw new SwitchboardError('CONFLICT', `Command ${id} was already acknowledged as ${command.status}`);
      return { outcome: this.outcomeOf(id), repeated: true };
    }
    return { outcome: this.settle(id, verdict, 'ack'), repeated: false };
  }

  /**
   * Records the phone system's final word and moves the call on; a command
   * settled before keeps its first outcome. A transfer's success counts even
   * after the tool stopped waiting (the call had gone back to active); a
   * failure returns the call to active unless a newer transfer is under way.
   */
  settle(id: number, verdict: Verdict, via: string): CommandOutcome {
    let ended: CommandRecord | undefined;
    this.transaction(() => {
      const command = this.store.command(id);
      if (!command) return;
      const outcome: TransferOutcome | null = verdict.success ? (verdict.outcome ?? (command.kind === 'transfer' ? 'connected' : null)) : (verdict.outcome ?? 'failed');
      const reason = verdict.success ? null : verdict.reason;
      if (!this.store.settle(id, verdict.success ? 'succeeded' : 'failed', outcome, reason, this.now())) return;
      const { accountId, callId } = command;
      const now = this.now();
      if (command.kind === 'transfer') {
        if (verdict.success) this.store.setState(accountId, callId, ['transferring', 'active'], 'transferred', now, { transferredTo: command.destination ?? '' });
        else if (!this.store.pendingOfCall(accountId, callId).some((other) => other.kind === 'transfer' && other.id > id)) this.store.setState(accountId, callId, ['transferring'], 'active', now);
      } else if (verdict.success) {
        if (this.store.setState(accountId, callId, ['ending'], 'ended', now, { endReason: 'hangup' })) ended = command;
      } else {
        this.store.setState(accountId, callId, ['ending'], 'active', now);
      }
      this.store.addEvent(accountId, callId, verdict.success ? 'command_succeeded' : 'command_failed', now, id, { type: command.kind, via, outcome, ...(reason ? { reason } : {}) });
      this.deps.metrics.callControlCommand(command.kind, verdict.success ? 'ok' : 'failed');
    });
    this.waiters.wake(id);
    if (ended) this.events.emit('ended', ended.accountId, ended.callId);
    return this.outcomeOf(id);
  }

  private outcomeOf(id: number): CommandOutcome {
    const command = this.store.command(id) as CommandRecord;
    if (command.status === 'succeeded') return { status: 'succeeded', outcome: command.outcome === 'handed_over' ? 'handed_over' : command.outcome === 'connected' ? 'connected' : null, command };
    if (command.status === 'pending') return { status: 'unconfirmed', command };
    const outcome = command.outcome && command.outcome !== 'connected' && command.outcome !== 'handed_over' ? command.outcome : 'failed';
    return { status: 'failed', reason: command.reason ?? 'no reason given', outcome, command };
  }

  /**
   * Waits for the command's verdict. A command that no phone system took in
   * time is withdrawn (the model is told it failed, so it must not happen
   * later); one that was delivered stays open but no longer holds the call.
   */
  private async awaitSettlement(id: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<CommandOutcome> {
    if (this.store.command(id)?.status === 'pending') await this.waiters.waitFor(id, timeoutMs, signal);
    const command = this.store.command(id) as CommandRecord;
    if (command.status !== 'pending' || signal?.aborted) return this.outcomeOf(id);
    // Woken by the end of the call: a verdict may still come and is recorded, but nobody waits for it.
    if (this.store.call(command.accountId, command.callId)?.state === 'ended') return this.outcomeOf(id);
    this.deps.metrics.callControlCommand(command.kind, 'timeout');
    if (command.deliveredAt === null && this.withdraw(command, 'no phone system connection took the command in time')) return this.outcomeOf(id);
    return this.unconfirmed(command, `no word from the phone system within ${Math.round(timeoutMs / 1000)} seconds`);
  }

  /**
   * A command sent without a verdict. A transfer no longer holds the call in
   * 'transferring' (so hangup_call and another transfer work); its verdict,
   * if it ever comes, is still recorded.
   */
  private unconfirmed(command: CommandRecord, reason: string): CommandOutcome {
    this.transaction(() => {
      if (command.kind === 'transfer') this.store.setState(command.accountId, command.callId, ['transferring'], 'active', this.now());
      this.store.addEvent(command.accountId, command.callId, 'command_unconfirmed', this.now(), command.id, { type: command.kind, reason });
    });
    return this.outcomeOf(command.id);
  }

  private withdraw(command: CommandRecord, reason: string): boolean {
    const withdrawn = this.transaction(() => {
      if (!this.store.withdrawUndelivered(command.id, reason, this.now())) return false;
      // Nothing will happen to the call: it is the agent's again, for another transfer or hang-up.
      this.store.setState(command.accountId, command.callId, command.kind === 'transfer' ? ['transferring'] : ['ending'], 'active', this.now());
      this.store.addEvent(command.accountId, command.callId, 'command_withdrawn', this.now(), command.id, { type: command.kind, reason });
      return true;
    });
    if (withdrawn) this.waiters.wake(command.id);
    return withdrawn;
  }

  /** Whether a pending events command is still to go to a stream that connects; a stale hang-up is withdrawn instead. */
  private stillDue(command: CommandRecord): boolean {
    if (command.kind !== 'hangup' || command.deliveredAt !== null || this.now() - command.createdAt < HANGUP_STALE_MS) return true;
    this.withdraw(command, `no phone system took the hang-up within ${HANGUP_STALE_MS / 1000} seconds`);
    return false;
  }

  private scopeFor(account: AccountEntry, settings: CallControlSettings): DriverScope {
    const { clock, secrets, outbound, publicUrl } = this.deps;
    return {
      accountId: account.id,
      settings,
      sink: this.sinkFor(account, settings.driver),
      clock,
      log: this.deps.log.child({ account: account.id, driver: settings.driver }),
      secrets,
      outbound,
      callbackBase: publicUrl ? `${publicUrl}/ucp/v2/pbx/${encodeURIComponent(account.id)}/${settings.driver}` : undefined,
      extensions: [...account.users.values()].map((user) => user.extension),
    };
  }

  /** What one account's driver may do: only ever to that account's commands and calls. */
  private sinkFor(account: AccountEntry, driver: DriverName): DriverSink {
    const accountId = account.id;
    const owned = (id: number): CommandRecord | undefined => {
      const command = this.store.command(id);
      return command?.accountId === accountId ? command : undefined;
    };
    const log = this.deps.log;
    return {
      delivered: (id) => {
        if (owned(id)) this.store.markDelivered(id, this.now());
      },
      attempt: (id, attempt, failure) => {
        const command = owned(id);
        if (!command) return;
        this.store.countAttempt(id);
        if (failure) this.store.addEvent(accountId, command.callId, 'command_attempt_failed', this.now(), id, { attempt, failure: fromDriver.text(failure) });
      },
      settle: (id, verdict) => {
        if (owned(id)) this.settle(id, fromDriver.verdict(verdict), driver);
      },
      step: (id, step, detail) => {
        const command = owned(id);
        if (command && STEP.test(step)) this.store.addEvent(accountId, command.callId, `command_${step}`, this.now(), id, fromDriver.detail(detail));
      },
      callEnded: (ref, reason) => {
        const call = this.store.callByRef(accountId, ref);
        if (call) this.end(accountId, call.callId, fromDriver.text(reason), true);
      },
      presence: (extension, dnd) => {
        for (const user of account.users.values()) {
          if (user.extension !== extension) continue;
          void this.deps.dnd.follow(accountId, user.id, dnd, `pbx:${driver}`).catch((error: unknown) => log.warn({ err: error, event: 'presence_not_stored', account: accountId, user: user.id }, 'DND from the phone system was not stored'));
        }
      },
      healthChanged: (health) => {
        const entry = { event: 'call_control_health', account: accountId, driver, state: health.state, reason: fromDriver.health(health).reason };
        if (health.state === 'down') log.warn(entry, 'phone system connection is down');
        else log.info(entry, `phone system connection is ${health.state}`);
      },
    };
  }
}
