/**
 * Simulated calls for the console's try panel: call-control tools (transfers,
 * hang-ups) tried there run their own code, through a CallControl of their
 * own, but against a phone system that only pretends: it answers every
 * command at once with the outcome the operator picked (connected, busy, no
 * answer, declined, failed), and nothing reaches the account's real phone
 * system. The simulated calls and their commands live in a scratch SQLite
 * file of their own (a temporary directory, removed at shutdown), never in
 * the calls the PBX and the admin API see; so a test call id cannot collide
 * with a real call, and the hang-up job never sends a simulated hang-up.
 *
 * Everything else a tool does is real: the manifests, the transfer policy,
 * DND, the office hours, the leads a create_lead writes. The simulated phone
 * system keeps or hands over the caller as the account's real driver does,
 * so on_no_answer fallbacks are tried exactly when they would be.
 *
 * Opened on the first simulated try, not at start: most servers never need it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { CallControl } from '../calls/control.ts';
import type { CallControlDriver, DriverFactory, SendRequest, SendResult } from '../calls/drivers/driver.ts';
import type { DriverName, FailureOutcome, SuccessOutcome } from '../calls/types.ts';
import { callView, commandView, eventView } from '../calls/views.ts';
import type { Logger } from '../logging.ts';
import type { Registry } from '../manifests/registry.ts';
import { Metrics } from '../observability/metrics.ts';
import type { Services } from '../services.ts';
import { SqliteEngine } from '../store/sqlite/engine.ts';
import { ToolDispatcher, type ToolCallObserver } from '../tools/dispatch.ts';

export const SIMULATED_OUTCOMES = ['connected', 'busy', 'no_answer', 'rejected', 'failed'] as const;
export type SimulatedOutcome = (typeof SIMULATED_OUTCOMES)[number];

/** Simulated calls whose chosen outcome is remembered. */
const MAX_REMEMBERED_CALLS = 1000;

const outcomeKey = (accountId: string, callId: string): string => `${accountId}\u0000${callId}`;

/** The verdict the simulated phone system gives a command. */
export function simulatedResult(kind: 'transfer' | 'hangup', outcome: SimulatedOutcome): SendResult {
  if (kind === 'hangup' || outcome === 'connected') return { kind: 'done', verdict: { success: true, ...(kind === 'transfer' ? { outcome: 'connected' as SuccessOutcome } : {}) } };
  const reasons: Record<Exclude<SimulatedOutcome, 'connected'>, string> = {
    busy: 'the destination is busy (simulated)',
    no_answer: 'nobody answered (simulated)',
    rejected: 'the destination declined the call (simulated)',
    failed: 'the phone system could not place the call (simulated)',
  };
  return { kind: 'done', verdict: { success: false, outcome: outcome as FailureOutcome, reason: reasons[outcome] } };
}

interface Opened {
  store: SqliteEngine;
  dir: string;
  calls: CallControl;
  dispatcher: ToolDispatcher;
  /** The simulated driver under every name an account's call_control may give (filled before each reconcile). */
  factories: Map<DriverName, DriverFactory>;
}

export interface SimulatedCallsDeps {
  services: Services;
  registry: Registry;
  log: Logger;
  /** Aborted at forced shutdown, like the server's own dispatcher. */
  shutdownSignal?: AbortSignal;
  /** Sees every simulated tool call (the audit trail). */
  observe: ToolCallObserver;
}

export class SimulatedCalls {
  private opening: Promise<Opened> | undefined;
  private readonly outcomes = new Map<string, SimulatedOutcome>();

  constructor(private readonly deps: SimulatedCallsDeps) {}

  /** A dispatcher whose tools reach the simulated phone system; commands of the call get `outcome`. */
  async dispatcherFor(accountId: string, callId: string, outcome: SimulatedOutcome): Promise<ToolDispatcher> {
    const opened = await this.open();
    const key = outcomeKey(accountId, callId);
    this.outcomes.delete(key);
    this.outcomes.set(key, outcome);
    // The outcome of the calls tried last; an older call asked again is answered "connected".
    for (const old of this.outcomes.keys()) {
      if (this.outcomes.size <= MAX_REMEMBERED_CALLS) break;
      this.outcomes.delete(old);
    }
    const accounts = this.deps.registry.current().accounts;
    for (const account of accounts.values()) {
      const name = account.manifest.call_control?.driver ?? 'events';
      if (!opened.factories.has(name)) opened.factories.set(name, this.factory(name));
    }
    opened.calls.drivers.reconcile(accounts);
    return opened.dispatcher;
  }

  /** The simulated call with its commands and history, as GET /calls/{call_id} shows a real one; null when it has none. */
  async view(accountId: string, callId: string) {
    if (!this.opening) return null;
    const { calls } = await this.opening;
    const call = await calls.store.call(accountId, callId);
    if (!call) return null;
    const [commands, events] = await Promise.all([calls.store.commandsOfCall(accountId, callId), calls.store.eventsOfCall(accountId, callId)]);
    const settings = calls.settingsOf(accountId);
    return { call: callView(call), commands: commands.map((command) => commandView(command, settings)), events: events.map(eventView) };
  }

  async close(): Promise<void> {
    const opening = this.opening;
    this.opening = undefined;
    if (!opening) return;
    const opened = await opening.catch(() => undefined);
    if (!opened) return;
    await opened.calls.drivers.stopAll();
    await opened.store.close();
    fs.rmSync(opened.dir, { recursive: true, force: true });
  }

  private open(): Promise<Opened> {
    this.opening ??= this.create().catch((error: unknown) => {
      this.opening = undefined;
      throw error;
    });
    return this.opening;
  }

  private async create(): Promise<Opened> {
    const { services, registry, log } = this.deps;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-simulated-calls-'));
    let store: SqliteEngine;
    try {
      store = await SqliteEngine.open(path.join(dir, 'calls.sqlite'), { synchronous: 'normal' });
    } catch (error) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    const factories = new Map<DriverName, DriverFactory>();
    // Its own metrics: simulated commands are not the phone system's.
    const calls = new CallControl({
      store,
      clock: services.clock,
      log: log.child({ simulated: true }),
      secrets: services.secrets,
      outbound: services.outbound,
      metrics: new Metrics(),
      dnd: services.dnd,
      driverFactories: factories,
    });
    const dispatcher = new ToolDispatcher({ registry, services: { ...services, calls }, log, ...(this.deps.shutdownSignal ? { shutdownSignal: this.deps.shutdownSignal } : {}) });
    dispatcher.observe(this.deps.observe);
    return { store, dir, calls, dispatcher, factories };
  }

  private factory(name: DriverName): DriverFactory {
    const real = this.deps.services.calls;
    const outcomeOf = (accountId: string, callId: string): SimulatedOutcome => this.outcomes.get(outcomeKey(accountId, callId)) ?? 'connected';
    return {
      name,
      connection: 'request',
      secretNames: () => [],
      create(scope): CallControlDriver {
        // As the account's real driver: whether a transfer nobody answers leaves the caller with the agent.
        const keepsCaller = real.keepsCaller(scope.accountId);
        const since = scope.clock.now();
        return {
          keepsCaller,
          health: () => ({ state: 'up', reason: null, since }),
          send: (request: SendRequest) => Promise.resolve(simulatedResult(request.command.kind, outcomeOf(request.command.accountId, request.command.callId))),
          stop: () => Promise.resolve(),
        };
      },
    };
  }
}
