/**
 * The call-control service: owns the rules of a call's life and of the
 * commands sent to the phone system about it. Tools, the admin API, the
 * hang-up job and the drivers (through their sink) go through it; it is the
 * only writer of the calls tables.
 *
 * Every change that must hold together (the call's new state, the command,
 * its event) is one store transaction (SQLite or PostgreSQL), committed
 * before any answer leaves. Conditional updates (state IN (...), status =
 * 'pending') settle races: two transfers at once, a verdict against a
 * time-out, the phone system ending a call while a hang-up waits. A
 * transaction that reads before it decides (is a newer transfer under way?
 * is the command still pending?) first locks the call's row (`lockCall`), so
 * on PostgreSQL, where several connections and nodes write at once, those
 * decisions about one call run one after another as they do with SQLite's
 * single writer. Waiting for a verdict is in-process (waiters.ts, woken by
 * `settle`), with the store as the truth; a verdict, a withdrawal or the end
 * of a call is also announced on the store's notification channel, so a tool
 * waiting in another process sharing a PostgreSQL database reads it at once
 * (`listen`) instead of at its time limit.
 *
 * Drivers report through their sink from socket handlers, synchronously;
 * each report is queued behind the account's earlier ones (so the history
 * keeps the order the phone system told it in) and a report that cannot be
 * written is logged at error with its command id, never dropped silently.
 *
 * Which phone system a command goes to is the account's driver in the pool;
 * nothing here depends on which driver that is.
 *
 * Whatever a driver says (reasons, steps, health) is masked on its way in
 * (`fromDriver`, in driver-reports.ts, which writes what drivers report in their order): drivers quote their phone system, which may quote a
 * credential back, and these texts reach the call history, the logs and
 * the agent.
 */
import { EventEmitter } from 'node:events';

import type { ClusterNode } from '../cluster/cluster.ts';
import type { Clock } from '../clock.ts';
import { SwitchboardError } from '../errors.ts';
import type { Logger } from '../logging.ts';
import type { AccountEntry } from '../manifests/entries.ts';
import type { CallControlSettings } from '../manifests/types.ts';
import type { OutboundClient } from '../outbound/client.ts';
import type { SecretSource } from '../secrets.ts';
import type { Executor, StoreEngine } from '../store/engine.ts';
import type { DndStore } from '../users/dnd-store.ts';
import type { CallContext } from '../vocabulary/call-context.ts';
import type { CallControlMetrics } from '../vocabulary/metric-sinks.ts';
import { AcrossNodes } from './across-nodes.ts';
import type { CallControlDriver, DriverFactory, DriverHealth, DriverScope, SendRequest, SendResult } from './drivers/driver.ts';
import { EventStreams } from './drivers/events.ts';
import { EventsAcrossNodes } from './drivers/events-nodes.ts';
import { HeldDriver } from './drivers/held.ts';
import { builtinDrivers } from './drivers/index.ts';
import { DriverPool } from './drivers/pool.ts';
import { HangupRunner } from './hangup-job.ts';
import { DriverReports, fromDriver } from './driver-reports.ts';
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
import { warmExtraMs, warmSettingsOf, type TransferMode } from './warm.ts';

export interface CallControlDeps {
  store: StoreEngine;
  clock: Clock;
  log: Logger;
  secrets: SecretSource;
  /** The SSRF-guarded client: a PBX on a private address must be in the operator's outbound allow list. */
  outbound: OutboundClient;
  metrics: CallControlMetrics;
  /** Presence reported by a phone system lands here. */
  dnd: DndStore;
  /** The server's public base URL, where phone systems send callbacks (twilio, telnyx). */
  publicUrl?: string | undefined;
  /** This node among those sharing the database (a serving node; the CLI and unit tests run without). */
  cluster?: ClusterNode | undefined;
  /**
   * The drivers an account's call_control may name: the built-in ones unless
   * given (the console's simulated phone system gives one of its own under
   * every name, so its calls never reach a real phone system).
   */
  driverFactories?: ReadonlyMap<DriverName, DriverFactory> | undefined;
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
/** Where the ids of commands that are no longer pending (or whose call ended) are announced to every process. */
export const SETTLED_CHANNEL = 'call_commands_settled';
/** A hang-up not handed to any phone system within this long is withdrawn rather than carried out late. */
export const HANGUP_STALE_MS = 60_000;
const LIVE_STATES: readonly CallState[] = ['active', 'transferring', 'transferred', 'ending'];


/** What the tool needs to start a transfer. */
export interface TransferRequest {
  destination: Destination;
  ringTimeoutMs: number;
  /** blind (default) or warm. */
  mode?: TransferMode;
  /** The model's summary of what the caller wants (required for warm, optional for blind). */
  summary?: string | null;
}

export class CallControl {
  readonly store: CallStore;
  readonly streams: EventStreams;
  readonly hangups: HangupRunner;
  readonly drivers: DriverPool;
  /** Commands of persistent connections carried out by the node that holds them; only with a cluster. */
  readonly acrossNodes: AcrossNodes | undefined;
  private readonly eventsAcrossNodes: EventsAcrossNodes | undefined;
  private readonly waiters = new CommandWaiters();
  private readonly events = new EventEmitter<CallControlEvents>();
  /** What drivers report, written in the order they reported it (driver-reports.ts). */
  private readonly reports: DriverReports;

  constructor(private readonly deps: CallControlDeps) {
    this.store = new CallStore(deps.store);
    this.reports = new DriverReports({
      store: this.store,
      log: deps.log,
      dnd: deps.dnd,
      now: () => this.now(),
      settle: (id, verdict, via) => this.settle(id, verdict, via),
      endCall: (accountId, callId, reason, notify) => this.endCall(accountId, callId, reason, notify),
    });
    this.streams = new EventStreams(
      this.store,
      deps.clock,
      deps.log,
      (command) => this.stillDue(command),
      (accountId) => this.settingsOf(accountId),
    );
    this.hangups = new HangupRunner(
      {
        due: (now) => this.store.dueHangups(now),
        unsettled: () => this.store.unsettledHangups(),
        nextDueAt: () => this.store.nextHangupAt(),
        claim: (call) => this.startHangup(call),
        send: (command, signal) => this.execute(command, { waitMs: this.hangupWaitMs(command.accountId), signal }),
      },
      deps.clock,
      deps.log,
    );
    const cluster = deps.cluster;
    this.eventsAcrossNodes = cluster ? new EventsAcrossNodes(cluster, this.streams, this.store, deps.log) : undefined;
    this.acrossNodes = cluster
      ? new AcrossNodes({
          cluster,
          log: deps.log,
          now: () => this.now(),
          requestFor: async (id) => {
            const command = await this.store.command(id);
            return command ? this.requestFor(command, undefined) : undefined;
          },
          apply: async (command, result, driver) => {
            if (result.kind === 'done') await this.settle(command.id, result.verdict, driver);
            else if (result.kind === 'not_sent') await this.settle(command.id, { success: false, outcome: 'failed', reason: result.reason }, 'driver');
          },
          mask: (result) => fromDriver.result(result),
        })
      : undefined;
    const across = this.acrossNodes;
    const hold =
      cluster && across
        ? (account: AccountEntry, settings: CallControlSettings, factory: DriverFactory, scope: DriverScope, create: (scope: DriverScope) => CallControlDriver) =>
            new HeldDriver({ accountId: account.id, driver: settings.driver, keepsCaller: factory.keepsCaller?.(settings) ?? false, cluster, scope, create, view: across.view, sender: across, log: deps.log })
        : undefined;
    this.drivers = new DriverPool(deps.driverFactories ?? builtinDrivers(this.streams, this.eventsAcrossNodes), (account, settings) => this.scopeFor(account, settings), deps.log, hold);
  }

  on<E extends keyof CallControlEvents>(event: E, listener: (...args: CallControlEvents[E]) => void): void {
    this.events.on(event, listener as never);
  }

  private now(): number {
    return this.deps.clock.now();
  }

  private transaction<T>(work: (tx: Executor) => Promise<T>): Promise<T> {
    return this.deps.store.transaction(work);
  }

  /** The call a tool runs in, created on first use. */
  ensureCall(context: CallContext): Promise<CallRecord> {
    return this.transaction(async (tx) => {
      const { call, created } = await this.store.ensureCall(
        { accountId: context.accountId, callId: context.callId, personaId: context.personaId, caller: context.callerE164 ?? context.callerIdNumber ?? null, source: 'tool' },
        this.now(),
        tx,
      );
      if (created) await this.store.addEvent(call.accountId, call.callId, 'call_started', this.now(), null, { persona_id: context.personaId }, tx);
      return call;
    });
  }

  /** The PBX announces a call. Registering it again is harmless; an ended call id cannot come back. */
  register(accountId: string, callId: string, personaId: string | null, caller: string | null, pbxCallRef: string | null = null): Promise<{ call: CallRecord; created: boolean }> {
    return this.transaction(async (tx) => {
      if ((await this.store.lockCall(accountId, callId, tx))?.state === 'ended') {
        throw new SwitchboardError('CONFLICT', `Call ${callId} has ended; a call id cannot be used again`);
      }
      const result = await this.store.ensureCall({ accountId, callId, personaId, caller, source: 'pbx', pbxCallRef }, this.now(), tx);
      if (result.created) await this.store.addEvent(accountId, callId, 'call_registered', this.now(), null, { persona_id: personaId, caller_id_number: caller, pbx_call_ref: pbxCallRef }, tx);
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
  async end(accountId: string, callId: string, reason: string, notify = false): Promise<CallRecord> {
    // What the account's driver reported before (a command delivered, say) is written first: it decides what is withdrawn.
    await this.reports.written(accountId);
    return this.endCall(accountId, callId, reason, notify);
  }

  private async endCall(accountId: string, callId: string, reason: string, notify: boolean): Promise<CallRecord> {
    const result = await this.transaction(async (tx) => {
      await this.store.ensureCall({ accountId, callId, personaId: null, caller: null, source: 'pbx' }, this.now(), tx);
      const before = (await this.store.lockCall(accountId, callId, tx)) as CallRecord;
      if (before.state === 'ended') return { call: before, endedNow: false, woken: [] as number[] };
      const woken: number[] = [];
      await this.store.setState(accountId, callId, LIVE_STATES, 'ended', this.now(), { endReason: reason }, tx);
      for (const command of await this.store.pendingOfCall(accountId, callId, tx)) {
        woken.push(command.id);
        if (await this.store.withdrawUndelivered(command.id, 'the call ended', this.now(), tx)) {
          await this.store.addEvent(accountId, callId, 'command_withdrawn', this.now(), command.id, { type: command.kind, reason: 'the call ended' }, tx);
        }
      }
      await this.store.addEvent(accountId, callId, 'call_ended', this.now(), null, { reason, previous_state: before.state }, tx);
      return { call: (await this.store.call(accountId, callId, tx)) as CallRecord, endedNow: true, woken };
    });
    // Tools waiting on this call's commands answer now (the call is over) instead of at their time limit.
    if (result.endedNow) this.announce(result.woken);
    if (notify && result.endedNow) this.events.emit('ended', accountId, callId);
    return result.call;
  }

  /** Records that a tool refused a command, and why. */
  async refuse(call: CallRecord, type: 'transfer' | 'hangup', reason: string, detail: Record<string, unknown> = {}): Promise<void> {
    await this.store.addEvent(call.accountId, call.callId, 'command_refused', this.now(), null, { type, reason, ...detail });
    this.deps.metrics.callControlCommand(type, 'refused');
  }

  /** Records that a tool asked again for a command still waiting for its answer (it is not sent twice). */
  async askedAgain(command: CommandRecord): Promise<void> {
    await this.store.addEvent(command.accountId, command.callId, 'command_asked_again', this.now(), command.id, { type: command.kind });
  }

  /** Records a step of a tool's own (a fallback taken), for the call's history. */
  async note(call: CallRecord, type: string, detail: Record<string, unknown>): Promise<void> {
    await this.store.addEvent(call.accountId, call.callId, type, this.now(), null, detail);
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

  /** active -> transferring with a queued command, or undefined if the call was not active (two transfers at once: one wins). */
  startTransfer(call: CallRecord, request: TransferRequest): Promise<CommandRecord | undefined> {
    return this.transaction(async (tx) => {
      if (!(await this.store.setState(call.accountId, call.callId, ['active'], 'transferring', this.now(), {}, tx))) return undefined;
      return this.queue(tx, call, 'transfer', request.destination, request.ringTimeoutMs, {}, { mode: request.mode ?? 'blind', summary: request.summary ?? null });
    });
  }

  /** active -> ending with a hang-up due after the delay; false if the call was not active. */
  async scheduleHangup(call: CallRecord, hangupAt: number): Promise<boolean> {
    const scheduled = await this.transaction(async (tx) => {
      if (!(await this.store.setState(call.accountId, call.callId, ['active'], 'ending', this.now(), { hangupAt }, tx))) return false;
      await this.store.addEvent(call.accountId, call.callId, 'hangup_scheduled', this.now(), null, { hangup_at: new Date(hangupAt).toISOString() }, tx);
      return true;
    });
    if (scheduled) this.events.emit('hangupScheduled');
    return scheduled;
  }

  /** Queues the hang-up of a call whose delay has passed (recording how late, if at all); undefined if it is no longer due or another process claimed it. */
  startHangup(call: CallRecord): Promise<CommandRecord | undefined> {
    return this.transaction(async (tx) => {
      if (!(await this.store.takeHangup(call.accountId, call.callId, this.now(), tx))) return undefined;
      return this.queue(tx, call, 'hangup', undefined, null, { late_ms: Math.max(0, this.now() - (call.hangupAt ?? this.now())) });
    });
  }

  private async queue(
    tx: Executor,
    call: CallRecord,
    kind: 'transfer' | 'hangup',
    destination: Destination | undefined,
    ringTimeoutMs: number | null,
    detail: Record<string, unknown> = {},
    transfer: { mode: TransferMode; summary: string | null } | undefined = undefined,
  ): Promise<CommandRecord> {
    const driver: DriverName = this.drivers.of(call.accountId)?.name ?? 'events';
    const command = await this.store.insertCommand(
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
        mode: transfer?.mode ?? null,
        summary: transfer?.summary ?? null,
      },
      this.now(),
      tx,
    );
    const mode = transfer ? { mode: transfer.mode } : {};
    await this.store.addEvent(call.accountId, call.callId, 'command_queued', this.now(), command.id, { type: kind, destination: command.destination, driver, ...mode, ...detail }, tx);
    return command;
  }

  /**
   * How long a transfer waits for its verdict: its ring time plus a margin
   * for the phone system's own delays. With the events and webhook drivers
   * the margin is call_control.timeout_seconds, the time the PBX integration
   * has to answer after ringing ends. A warm transfer also has the briefing
   * and the destination's answer to it.
   */
  transferWaitMs(accountId: string, ringMs: number, mode: TransferMode = 'blind'): number {
    const settings = this.settingsOf(accountId);
    const margin = settings && (settings.driver === 'events' || settings.driver === 'webhook') && settings.timeout_seconds !== undefined ? settings.timeout_seconds * 1000 : TRANSFER_MARGIN_MS;
    return ringMs + margin + (mode === 'warm' ? warmExtraMs(warmSettingsOf(settings)) : 0);
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
    let result: SendResult;
    try {
      result = fromDriver.result(await entry.driver.send(await this.requestFor(command, options.signal)));
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

  /** What the driver gets for a command: the call's reference at the phone system, the caller, the ring time. */
  private async requestFor(command: CommandRecord, signal: AbortSignal | undefined): Promise<SendRequest> {
    const call = await this.store.call(command.accountId, command.callId);
    return {
      command,
      callRef: call?.pbxCallRef ?? command.callId,
      caller: call?.caller ?? null,
      ringTimeoutMs: command.ringTimeoutMs ?? DEFAULT_RING_TIMEOUT_SECONDS * 1000,
      ...(signal ? { signal } : {}),
    };
  }

  /** Waits for the verdict of a command already sent (a tool asking again for the same transfer). */
  awaitOutcome(command: CommandRecord, options: { waitMs: number; signal?: AbortSignal | undefined }): Promise<CommandOutcome> {
    return this.awaitSettlement(command.id, options.waitMs, options.signal);
  }

  private async notSent(command: CommandRecord, reason: string): Promise<CommandOutcome> {
    const outcome = await this.settle(command.id, { success: false, outcome: 'failed', reason }, 'driver');
    return outcome.status === 'failed' ? { ...outcome, notSent: true } : outcome;
  }

  /** The PBX's acknowledgement of a command (SSE consumers, or a webhook PBX that answered 202). */
  async acknowledge(accountId: string, id: number, verdict: Verdict): Promise<{ outcome: CommandOutcome; repeated: boolean }> {
    const command = await this.store.command(id);
    if (!command || command.accountId !== accountId) throw new SwitchboardError('NOT_FOUND', `No command ${id} in this account`);
    if (command.status === 'pending') {
      const settled = await this.settleCommand(id, verdict, 'ack');
      if (settled.now) return { outcome: settled.outcome, repeated: false };
      // Another word, a time-out or the end of the call settled it between the read and the write: answer as if it had come first.
      return this.answerSettled(settled.outcome.command, verdict);
    }
    return this.answerSettled(command, verdict);
  }

  private async answerSettled(command: CommandRecord, verdict: Verdict): Promise<{ outcome: CommandOutcome; repeated: boolean }> {
    if (command.status === 'withdrawn') {
      throw new SwitchboardError('CONFLICT', `Command ${command.id} was withdrawn (${command.reason ?? 'no reason'}) and must not be carried out`);
    }
    if ((command.status === 'succeeded') !== verdict.success) throw new SwitchboardError('CONFLICT', `Command ${command.id} was already acknowledged as ${command.status}`);
    return { outcome: await this.outcomeOf(command.id), repeated: true };
  }

  /**
   * Records the phone system's final word and moves the call on; a command
   * settled before keeps its first outcome. A transfer's success counts even
   * after the tool stopped waiting (the call had gone back to active); a
   * failure returns the call to active unless a newer transfer is under way.
   */
  async settle(id: number, verdict: Verdict, via: string): Promise<CommandOutcome> {
    return (await this.settleCommand(id, verdict, via)).outcome;
  }

  /** `settle`, telling whether this word was the one recorded (`now`) or came after another. */
  private async settleCommand(id: number, verdict: Verdict, via: string): Promise<{ outcome: CommandOutcome; now: boolean }> {
    const known = await this.store.command(id);
    if (!known) throw new SwitchboardError('NOT_FOUND', `No command ${id}`);
    const { accountId, callId, kind } = known;
    const outcome: TransferOutcome | null = verdict.success ? (verdict.outcome ?? (kind === 'transfer' ? 'connected' : null)) : (verdict.outcome ?? 'failed');
    const reason = verdict.success ? null : verdict.reason;
    const settled = await this.transaction(async (tx) => {
      // The call's row first: a transfer starting meanwhile waits, so "is a newer transfer under way" below is still true when the state is written.
      await this.store.lockCall(accountId, callId, tx);
      const now = this.now();
      if (!(await this.store.settle(id, verdict.success ? 'succeeded' : 'failed', outcome, reason, now, tx))) return { now: false, ended: false };
      let ended = false;
      if (kind === 'transfer') {
        if (verdict.success) await this.store.setState(accountId, callId, ['transferring', 'active'], 'transferred', now, { transferredTo: known.destination ?? '' }, tx);
        else if (!(await this.store.pendingOfCall(accountId, callId, tx)).some((other) => other.kind === 'transfer' && other.id > id)) await this.store.setState(accountId, callId, ['transferring'], 'active', now, {}, tx);
      } else if (verdict.success) {
        ended = await this.store.setState(accountId, callId, ['ending'], 'ended', now, { endReason: 'hangup' }, tx);
      } else {
        await this.store.setState(accountId, callId, ['ending'], 'active', now, {}, tx);
      }
      await this.store.addEvent(accountId, callId, verdict.success ? 'command_succeeded' : 'command_failed', now, id, { type: kind, via, outcome, ...(reason ? { reason } : {}) }, tx);
      return { now: true, ended };
    });
    if (settled.now) this.deps.metrics.callControlCommand(kind, verdict.success ? 'ok' : 'failed');
    if (settled.now) this.announce([id]);
    else this.waiters.wake(id);
    if (settled.ended) this.events.emit('ended', accountId, callId);
    return { outcome: await this.outcomeOf(id), now: settled.now };
  }

  private async outcomeOf(id: number): Promise<CommandOutcome> {
    const command = (await this.store.command(id)) as CommandRecord;
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
    // Watching before reading: a verdict that lands while the status is read still wakes this waiter.
    const watch = this.waiters.watch(id, timeoutMs, signal);
    if ((await this.store.command(id))?.status === 'pending') await watch.done;
    else watch.cancel();
    const command = (await this.store.command(id)) as CommandRecord;
    if (command.status !== 'pending' || signal?.aborted) return this.outcomeOf(id);
    // Woken by the end of the call: a verdict may still come and is recorded, but nobody waits for it.
    if ((await this.store.call(command.accountId, command.callId))?.state === 'ended') return this.outcomeOf(id);
    this.deps.metrics.callControlCommand(command.kind, 'timeout');
    if (command.deliveredAt === null && (await this.withdraw(command, 'no phone system connection took the command in time'))) return this.outcomeOf(id);
    return this.unconfirmed(command, `no word from the phone system within ${Math.round(timeoutMs / 1000)} seconds`);
  }

  /**
   * A command sent without a verdict. A transfer no longer holds the call in
   * 'transferring' (so hangup_call and another transfer work); its verdict,
   * if it ever comes, is still recorded. A verdict that came while this was
   * decided wins: the command is then answered with it.
   */
  private async unconfirmed(command: CommandRecord, reason: string): Promise<CommandOutcome> {
    await this.transaction(async (tx) => {
      await this.store.lockCall(command.accountId, command.callId, tx);
      if ((await this.store.command(command.id, tx))?.status !== 'pending') return;
      if (command.kind === 'transfer') await this.store.setState(command.accountId, command.callId, ['transferring'], 'active', this.now(), {}, tx);
      await this.store.addEvent(command.accountId, command.callId, 'command_unconfirmed', this.now(), command.id, { type: command.kind, reason }, tx);
    });
    return this.outcomeOf(command.id);
  }

  private async withdraw(command: CommandRecord, reason: string): Promise<boolean> {
    // A driver's word that the command was delivered, reported before now, is written first: a delivered command is never withdrawn.
    await this.reports.written(command.accountId);
    const withdrawn = await this.transaction(async (tx) => {
      await this.store.lockCall(command.accountId, command.callId, tx);
      if (!(await this.store.withdrawUndelivered(command.id, reason, this.now(), tx))) return false;
      // Nothing will happen to the call: it is the agent's again, for another transfer or hang-up.
      await this.store.setState(command.accountId, command.callId, command.kind === 'transfer' ? ['transferring'] : ['ending'], 'active', this.now(), {}, tx);
      await this.store.addEvent(command.accountId, command.callId, 'command_withdrawn', this.now(), command.id, { type: command.kind, reason }, tx);
      return true;
    });
    if (withdrawn) this.announce([command.id]);
    return withdrawn;
  }

  /** Whether a pending events command is still to go to a stream that connects; a stale hang-up is withdrawn instead. */
  private async stillDue(command: CommandRecord): Promise<boolean> {
    if (command.kind !== 'hangup' || command.deliveredAt !== null || this.now() - command.createdAt < HANGUP_STALE_MS) return true;
    await this.withdraw(command, `no phone system took the hang-up within ${HANGUP_STALE_MS / 1000} seconds`);
    return false;
  }

  /**
   * Wakes the waiters of commands that are no longer pending, or whose call
   * ended, here and in every process sharing the store. Only then: a waiter
   * woken while its command is pending takes it as its time-out.
   */
  private announce(ids: readonly number[]): void {
    ids.forEach((id) => this.waiters.wake(id));
    if (!ids.length) return;
    // A lost announcement costs a waiter elsewhere its full wait, never a wrong answer: it reads the store then.
    this.deps.store.notify(SETTLED_CHANNEL, ids.join(',')).catch((error: unknown) => this.deps.log.warn({ err: error, event: 'call_control_announce_failed', commands: ids }, 'other processes were not told of settled commands'));
  }

  /**
   * Listens for commands settled by other processes sharing the store and,
   * on a node of a cluster, for what the other nodes hand over (commands for
   * a connection this node holds, queued commands for its call-events
   * streams, news of their connections); resolves with a function that
   * stops listening.
   */
  async listen(): Promise<() => Promise<void>> {
    const stops = [
      await this.deps.store.listen(SETTLED_CHANNEL, (payload) => {
        for (const id of payload.split(',')) if (/^\d+$/.test(id)) this.waiters.wake(Number(id));
      }),
    ];
    if (this.acrossNodes) stops.push(await this.acrossNodes.listen());
    if (this.eventsAcrossNodes) stops.push(await this.eventsAcrossNodes.listen());
    return async () => {
      for (const stop of stops) await stop();
    };
  }

  /** Resolves once the driver reports queued so far (of one account, or of all) are written: before a callback is answered, at shutdown. */
  reportsWritten(accountId?: string): Promise<void> {
    return this.reports.written(accountId);
  }

  private scopeFor(account: AccountEntry, settings: CallControlSettings): DriverScope {
    const { clock, secrets, outbound, publicUrl } = this.deps;
    return {
      accountId: account.id,
      settings,
      sink: this.reports.sinkFor(account, settings.driver),
      clock,
      log: this.deps.log.child({ account: account.id, driver: settings.driver }),
      secrets,
      outbound,
      callbackBase: publicUrl ? `${publicUrl}/ucp/v2/pbx/${encodeURIComponent(account.id)}/${settings.driver}` : undefined,
      extensions: [...account.users.values()].map((user) => user.extension),
      commandOf: async (id) => {
        const command = await this.store.command(id);
        if (command?.accountId !== account.id) return undefined;
        const call = await this.store.call(command.accountId, command.callId);
        return { status: command.status, callRef: call?.pbxCallRef ?? command.callId };
      },
    };
  }
}
