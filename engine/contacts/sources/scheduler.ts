/**
 * The background job that keeps every configured contact source synced:
 * each source on its own schedule (its interval after a success, a backoff
 * after a failure, both persisted, so a restart neither hammers an API nor
 * forgets one), a few syncs at a time in total and fewer per account, each
 * bounded by the sync deadline. A slow or failing book therefore delays
 * only itself: it holds one slot for at most the deadline, and its backoff
 * keeps it out of the way afterwards.
 *
 * A once-a-second tick reads every source's due time in one query and
 * compares it with the clock (a FixedClock in tests moves them); `trigger`
 * runs one source now. Each sync first takes the source's lease in the
 * store, so with several nodes on one PostgreSQL database a source is
 * synced by one of them at a time, not once per node. When a reload drops a
 * source from a loaded account's manifest, its contacts and state are
 * removed; an account that failed to load keeps everything.
 */
import { isSwitchboardError, SwitchboardError } from '../../errors.ts';
import type { Registry } from '../../manifests/registry.ts';
import type { Snapshot } from '../../manifests/snapshot.ts';
import type { BackgroundJob } from '../../vocabulary/jobs.ts';
import { resolveSources, type ResolvedSource } from './config.ts';
import { ContactSourceSync, LEASE_MS, SHUTDOWN, type SyncDeps, type SyncOptions, type SyncOutcome } from './sync.ts';

/** What the scheduler uses: the manifests in force and their reloads, and what a sync uses. */
export interface ContactSourceSchedulerContext {
  registry: Pick<Registry, 'current' | 'on' | 'off'>;
  services: Pick<SyncDeps, 'store' | 'contacts' | 'secrets' | 'clock' | 'log' | 'outbound' | 'metrics'>;
}

interface Running {
  accountId: string;
  controller: AbortController;
  done: Promise<SyncOutcome | undefined>;
}

const keyOf = (accountId: string, name: string): string => `${accountId}\u0000${name}`;
const PURGE_CHUNK = 500;
const TICK_MS = 1000;
/** Syncs running at once in this process. */
const MAX_CONCURRENT = 4;
/** Of those, at most this many of one account. */
const MAX_PER_ACCOUNT = 2;

export class ContactSourceScheduler implements BackgroundJob {
  readonly name = 'contact-sources';
  readonly sync: ContactSourceSync;
  private readonly running = new Map<string, Running>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** A tick still reading the schedule: the next one is skipped rather than run beside it. */
  private ticking = false;
  private sources: { generation: number; list: ResolvedSource[] } = { generation: -1, list: [] };
  private readonly onReload = (_report: unknown, snapshot: Snapshot) => {
    this.reconcile(snapshot).catch((error: unknown) => this.context.services.log.error({ event: 'contact_source_purge_failed', err: error }, 'could not read the contact sources to remove'));
  };

  constructor(private readonly context: ContactSourceSchedulerContext) {
    const { services } = context;
    this.sync = new ContactSourceSync({ store: services.store, contacts: services.contacts, secrets: services.secrets, clock: services.clock, log: services.log, outbound: services.outbound, metrics: services.metrics });
  }

  start(): void {
    this.onReload(undefined, this.context.registry.current());
    this.context.registry.on('reload', this.onReload);
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
    setImmediate(() => this.tick());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.context.registry.off('reload', this.onReload);
    for (const run of this.running.values()) run.controller.abort(SHUTDOWN);
    await Promise.allSettled([...this.running.values()].map((run) => run.done));
  }

  /** The sources of the current manifests, resolved once per snapshot. */
  configured(accountId?: string): ResolvedSource[] {
    const snapshot = this.context.registry.current();
    if (this.sources.generation !== snapshot.generation) {
      this.sources = { generation: snapshot.generation, list: [...snapshot.accounts.values()].flatMap(resolveSources) };
    }
    return accountId === undefined ? this.sources.list : this.sources.list.filter((source) => source.accountId === accountId);
  }

  /**
   * Runs the source now: resolves once its lease is taken (its state says
   * "syncing"), with the outcome to come in `done`. CONFLICT when it is
   * being synced already, NOT_FOUND when it is not configured.
   */
  async trigger(accountId: string, name: string, options: { full?: boolean } = {}): Promise<{ done: Promise<SyncOutcome> }> {
    const source = this.configured(accountId).find((candidate) => candidate.name === name);
    if (!source) {
      const names = this.configured(accountId).map((candidate) => candidate.name);
      throw new SwitchboardError('NOT_FOUND', `account ${accountId} has no contact source ${name}${names.length ? `; its sources: ${names.join(', ')}` : ' (contact_sources in account.yaml)'}`);
    }
    if (this.running.has(keyOf(accountId, name))) throw new SwitchboardError('CONFLICT', `contact source ${name} of account ${accountId} is being synced already; try again when that sync has ended`);
    // Tracked from before the lease is asked for, so that a second trigger or a tick meanwhile sees it running.
    return this.launch(source, { full: options.full ?? false });
  }

  private tick(): void {
    if (this.stopped || this.ticking) return;
    this.ticking = true;
    this.startDue()
      .catch((error: unknown) => {
        // A tick that was reading when the server stopped may find the store closed: nothing to report then.
        if (!this.stopped) this.context.services.log.error({ event: 'contact_sync_error', err: error }, 'could not start contact source syncs');
      })
      .finally(() => (this.ticking = false));
  }

  private async startDue(): Promise<void> {
    const configured = this.configured();
    if (!configured.length) return;
    // One read of every source's schedule per tick, not one per source.
    const states = new Map((await this.sync.states.schedule()).map((state) => [keyOf(state.accountId, state.source), state]));
    if (this.stopped) return;
    const now = this.context.services.clock.now();
    const due: { source: ResolvedSource; at: number }[] = [];
    for (const source of configured) {
      const key = keyOf(source.accountId, source.name);
      if (this.running.has(key)) continue;
      const state = states.get(key);
      if (state?.runningSince != null && now - state.runningSince < LEASE_MS) continue; // another process or node syncs it
      const at = state?.nextAttemptAt ?? 0;
      if (at <= now) due.push({ source, at });
    }
    due.sort((a, b) => a.at - b.at);
    for (const { source } of due) {
      if (this.running.size >= MAX_CONCURRENT) break;
      if ([...this.running.values()].filter((run) => run.accountId === source.accountId).length >= MAX_PER_ACCOUNT) continue;
      // A CONFLICT here is another process or node that took the lease, or synced the source, since the read: nothing to report.
      void this.launch(source, { onlyIfDue: true }).catch(() => undefined);
    }
  }

  /** Starts a sync, tracked in `running` at once and until it has ended (or its lease was refused). */
  private launch(source: ResolvedSource, options: Omit<SyncOptions, 'signal'>): Promise<{ done: Promise<SyncOutcome> }> {
    const key = keyOf(source.accountId, source.name);
    const controller = new AbortController();
    const started = this.sync.start(source, { ...options, signal: controller.signal });
    const done = started
      .then((run) => run.done)
      .catch((error: unknown) => {
        if (!(isSwitchboardError(error) && error.code === 'CONFLICT')) {
          this.context.services.log.error({ event: 'contact_sync_error', account: source.accountId, source: source.name, err: error }, 'contact source sync failed unexpectedly');
        }
        return undefined;
      })
      .finally(() => this.running.delete(key));
    this.running.set(key, { accountId: source.accountId, controller, done });
    return started;
  }

  /** Removes the contacts and state of sources a loaded account no longer lists. */
  private async reconcile(snapshot: Snapshot): Promise<void> {
    for (const account of snapshot.accounts.values()) {
      const names = new Set(resolveSources(account).map((source) => source.name));
      for (const state of await this.sync.states.forAccount(account.id)) {
        if (names.has(state.source)) continue;
        const running = this.running.get(keyOf(account.id, state.source));
        running?.controller.abort(SHUTDOWN);
        void (running?.done ?? Promise.resolve())
          .then(() => this.purge(account.id, state.source))
          .catch((error: unknown) => this.context.services.log.error({ event: 'contact_source_purge_failed', account: account.id, source: state.source, err: error }, 'could not remove a contact source'));
      }
    }
  }

  private async purge(accountId: string, name: string): Promise<void> {
    const { contacts, log } = this.context.services;
    let removed = 0;
    for (;;) {
      const deleted = await contacts.deleteSomeOfSource(accountId, name, PURGE_CHUNK);
      removed += deleted;
      if (deleted < PURGE_CHUNK) break;
    }
    await this.sync.states.remove(accountId, name);
    this.sync.forget(accountId, name);
    log.info({ event: 'contact_source_removed', account: accountId, source: name, contacts: removed }, 'contact source no longer configured: its contacts were removed');
  }
}
