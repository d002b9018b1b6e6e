/**
 * Call control across the nodes sharing one database, for the persistent
 * connections (drivers/held.ts): sending a command through the node that
 * holds the account's connection (handoff.ts) and taking, as the holder,
 * the commands other nodes hand over. Notifications wake; the store decides:
 *
 *   call_control_send    a node asks the holder to take a command (the holder takes it, sends, answers)
 *   call_control_sent    a handed-over command's send ended (its result is in the store)
 *   call_control_health  a holder published a new health of its connection
 *
 * After this node's notification connection comes back, what it may have
 * missed is read again: commands of its accounts nobody took, and the
 * connections' health.
 */
import type { ClusterNode } from '../cluster/cluster.ts';
import type { Logger } from '../logging.ts';
import type { SendRequest, SendResult } from './drivers/driver.ts';
import { ConnectionView, HEALTH_CHANNEL, type HeldDriver, type HeldSend } from './drivers/held.ts';
import { CLAIM_WAIT_MS, HandoffStore, pollUntil, SEND_CHANNEL, SENT_CHANNEL } from './handoff.ts';
import type { CommandRecord, DriverName } from './types.ts';

/** Commands older than this are not taken in a catch-up: whoever asked has stopped waiting for a taker. */
const CATCH_UP_WINDOW_MS = 30_000;
/** Handed-over commands are forgotten after a day (a job of one node at a time). */
const FORGET_AFTER_MS = 86_400_000;
/** Past the ring time, how long a node waits for the holder's answer to a send. */
const SEND_MARGIN_MS = 60_000;

export interface AcrossNodesDeps {
  cluster: ClusterNode;
  log: Logger;
  now(): number;
  /** The request the driver gets for a pending command (its call's reference, caller and ring time); undefined if there is no such command. */
  requestFor(id: number): Promise<SendRequest | undefined>;
  /** Records, on the holder, what a send said at once about a command another node asked for (a verdict, or that it was not sent). */
  apply(command: CommandRecord, result: SendResult, driver: DriverName): Promise<void>;
  /** What a driver says, with secrets masked. */
  mask(result: SendResult): SendResult;
}

export class AcrossNodes implements HeldSend {
  readonly view: ConnectionView;
  private readonly handoffs: HandoffStore;
  private readonly held = new Map<string, HeldDriver>();
  private readonly wakers = new Map<number, Set<() => void>>();
  private readonly taking = new Set<Promise<unknown>>();

  constructor(private readonly deps: AcrossNodesDeps) {
    const { cluster, log } = deps;
    this.handoffs = new HandoffStore(cluster.store);
    this.view = new ConnectionView(cluster.store, { now: deps.now }, log, cluster.timing.heartbeatMs);
  }

  register(held: HeldDriver): void {
    this.held.set(held.accountId, held);
  }

  unregister(held: HeldDriver): void {
    if (this.held.get(held.accountId) === held) this.held.delete(held.accountId);
  }

  /** Sends with the holder's driver: here when this node holds the connection, else handed to the node that does. */
  async send(held: HeldDriver, request: SendRequest): Promise<SendResult> {
    const { command } = request;
    const fence = held.fence;
    const { cluster, log } = this.deps;
    if (fence !== undefined && (await this.handoffs.claim(command.id, command.accountId, cluster, fence))) return this.sendHere(held, request, false);
    // A hang-up sent again (the hang-up job's recovery at start) whose first taker died before it answered: sent anew.
    if (fence !== undefined && command.kind === 'hangup' && (await this.handoffs.reclaim(command.id, command.accountId, cluster, fence))) return this.sendHere(held, request, false);
    if (fence === undefined) {
      await cluster.store.notify(SEND_CHANNEL, JSON.stringify({ account: command.accountId, command: command.id, from: cluster.instance })).catch((error: unknown) => {
        log.warn({ err: error, event: 'call_control_handoff_failed', command: command.id }, 'could not ask the node holding the connection to send a command');
      });
    }
    return this.awaitResult(command, request);
  }

  /** Listens for hand-overs, answers and health news; resolves with a function that stops listening. */
  async listen(): Promise<() => Promise<void>> {
    const { store } = this.deps.cluster;
    // One after another: they share the one notification connection.
    const stops = [
      await store.listen(SEND_CHANNEL, (payload) => this.onAsked(payload)),
      await store.listen(SENT_CHANNEL, (payload) => this.wake(Number(payload))),
      await store.listen(HEALTH_CHANNEL, (payload) => void this.view.refresh([payload])),
    ];
    this.view.start();
    let stopped = false;
    store.onReconnect(() => {
      if (stopped) return;
      void this.view.refresh();
      void this.catchUp();
    });
    return async () => {
      stopped = true;
      this.view.stop();
      for (const stop of stops) await stop();
      await Promise.all([...this.taking]);
    };
  }

  /** Forgets hand-overs older than a day; run by one node at a time. */
  forgetOld(): Promise<number> {
    return this.handoffs.forgetOlderThan(FORGET_AFTER_MS);
  }

  private onAsked(payload: string): void {
    let asked: { account?: unknown; command?: unknown };
    try {
      asked = JSON.parse(payload) as typeof asked;
    } catch {
      return;
    }
    if (typeof asked.account !== 'string' || typeof asked.command !== 'number') return;
    this.take(asked.account, asked.command);
  }

  /** As the holder: takes the command (unless another row came first), sends it and answers. */
  private take(accountId: string, id: number): void {
    const held = this.held.get(accountId);
    const fence = held?.fence;
    if (!held || fence === undefined) return;
    const work = (async () => {
      if (!(await this.handoffs.claim(id, accountId, this.deps.cluster, fence))) return;
      const request = await this.deps.requestFor(id);
      if (!request || request.command.accountId !== accountId) return this.answer(id, { kind: 'not_sent', reason: `no command ${id} of this account` });
      if (request.command.status !== 'pending') return this.answer(id, { kind: 'not_sent', reason: `the command is ${request.command.status} already` });
      await this.sendHere(held, request, true);
    })()
      .catch((error: unknown) => this.deps.log.error({ err: error, event: 'call_control_handoff_failed', account: accountId, command: id }, 'a command handed over by another node could not be sent'))
      .finally(() => this.taking.delete(work));
    this.taking.add(work);
  }

  /** The holder's send; for another node's command its immediate word is recorded here too, so it is kept if that node is gone. */
  private async sendHere(held: HeldDriver, request: SendRequest, forAnother: boolean): Promise<SendResult> {
    const { log } = this.deps;
    let result: SendResult;
    try {
      result = this.deps.mask(await held.sendHere(request));
    } catch (error) {
      log.error({ err: error, event: 'call_control_driver_error', account: held.accountId, driver: held.driverName, command: request.command.id }, 'a call-control driver failed while sending');
      result = { kind: 'unanswered', reason: 'the driver failed while sending' };
    }
    if (forAnother && (result.kind === 'done' || result.kind === 'not_sent')) {
      await this.deps.apply(request.command, result, held.driverName).catch((error: unknown) => log.error({ err: error, event: 'call_control_report_failed', command: request.command.id }, 'the outcome of a handed-over command could not be recorded'));
    }
    await this.answer(request.command.id, result);
    return result;
  }

  private async answer(id: number, result: SendResult): Promise<void> {
    try {
      await this.handoffs.answer(id, result);
      await this.deps.cluster.store.notify(SENT_CHANNEL, String(id));
    } catch (error) {
      this.deps.log.warn({ err: error, event: 'call_control_handoff_answer_failed', command: id }, 'the result of a handed-over command could not be written; the node that asked reads it as unanswered');
    }
    this.wake(id);
  }

  /** As the asking node: the holder's result, read from the store. */
  private async awaitResult(command: CommandRecord, request: SendRequest): Promise<SendResult> {
    const started = Date.now();
    const deadline = started + CLAIM_WAIT_MS + request.ringTimeoutMs + SEND_MARGIN_MS;
    const notTaken = (why: string): SendResult => ({ kind: 'not_sent', reason: why });
    const check = async (): Promise<SendResult | undefined> => {
      const state = await this.handoffs.state(command.id);
      if (!state) {
        if (Date.now() - started < CLAIM_WAIT_MS && !request.signal?.aborted) return undefined;
        const gaveUp = notTaken(request.signal?.aborted ? 'cancelled before the node holding the connection to the phone system took it' : `the node holding the connection to the phone system did not take the command within ${CLAIM_WAIT_MS / 1000} seconds`);
        return (await this.handoffs.giveUp(command.id, command.accountId, gaveUp)) ? gaveUp : undefined;
      }
      if (state.result) return state.result;
      if (!state.holderAlive) return { kind: 'unanswered', reason: `node ${state.holder ?? 'unknown'} took the command, then lost the connection to the phone system before it answered` };
      return undefined;
    };
    const result = await pollUntil(check, (listener) => this.onWake(command.id, listener), () => deadline, request.signal).catch((error: unknown) => {
      this.deps.log.warn({ err: error, event: 'call_control_handoff_failed', command: command.id }, 'could not read the result of a handed-over command');
      return undefined;
    });
    if (result) return result;
    // Given up (cancelled, or past the deadline): a command nobody took yet must not be taken later.
    const last = await check().catch(() => undefined);
    return last ?? { kind: 'unanswered', reason: request.signal?.aborted ? 'cancelled before the node holding the connection answered' : 'no answer from the node holding the connection to the phone system' };
  }

  /** After the notification connection came back: takes the recent commands of held accounts that nobody took. */
  private async catchUp(): Promise<void> {
    const held = [...this.held.values()].filter((driver) => driver.fence !== undefined);
    if (!held.length) return;
    try {
      const drivers = [...new Set(held.map((driver) => driver.driverName))];
      const now = this.deps.now();
      for (const command of await this.handoffs.unclaimed(held.map((driver) => driver.accountId), drivers)) {
        if (now - command.createdAt <= CATCH_UP_WINDOW_MS) this.take(command.accountId, command.id);
      }
    } catch (error) {
      this.deps.log.warn({ err: error, event: 'call_control_catch_up_failed' }, 'could not read the commands handed over while notifications were down');
    }
  }

  private onWake(id: number, listener: () => void): () => void {
    let set = this.wakers.get(id);
    if (!set) this.wakers.set(id, (set = new Set()));
    const listeners = set;
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (!listeners.size && this.wakers.get(id) === listeners) this.wakers.delete(id);
    };
  }

  private wake(id: number): void {
    for (const listener of [...(this.wakers.get(id) ?? [])]) listener();
  }
}

