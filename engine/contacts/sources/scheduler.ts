/**
 * The background job that keeps every configured contact source synced:
 * each source on its own schedule (its interval after a success, a backoff
 * after a failure, both persisted, so a restart neither hammers an API nor
 * forgets one), a few syncs at a time in total and fewer per account, each
 * bounded by the sync deadline. A slow or failing book therefore delays
 * only itself: it holds one slot for at most the deadline, and its backoff
 * keeps it out of the way afterwards.
 *
 * A once-a-second tick compares due times with the clock (a FixedClock in
 * tests moves them); `trigger` runs one source now. When a reload drops a
 * source from a loaded account's manifest, its contacts and state are
 * removed; an account that failed to load keeps everything.
 */
import type { AppContext, BackgroundJob } from '../../app-context.ts';
import { isSwitchboardError, SwitchboardError } from '../../errors.ts';
import type { Snapshot } from '../../manifests/snapshot.ts';
import { resolveSources, type ResolvedSource } from './config.ts';
import { ContactSourceSync, LEASE_MS, SHUTDOWN, type SyncOutcome } from './sync.ts';

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
  private sources: { generation: number; list: ResolvedSource[] } = { generation: -1, list: [] };
  private readonly onReload = (_report: unknown, snapshot: Snapshot) => this.reconcile(snapshot);

  constructor(private readonly context: Pick<AppContext, 'registry' | 'services'>) {
    const { services } = context;
    this.sync = new ContactSourceSync({ db: services.db, contacts: services.contacts, secrets: services.secrets, clock: services.clock, log: services.log, outbound: services.outbound });
  }

  start(): void {
    this.reconcile(this.context.registry.current());
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

  /** Runs the source now; CONFLICT when it is being synced already, NOT_FOUND when it is not configured. */
  trigger(accountId: string, name: string, options: { full?: boolean } = {}): Promise<SyncOutcome> {
    const source = this.configured(accountId).find((candidate) => candidate.name === name);
    if (!source) {
      const names = this.configured(accountId).map((candidate) => candidate.name);
      throw new SwitchboardError('NOT_FOUND', `account ${accountId} has no contact source ${name}${names.length ? `; its sources: ${names.join(', ')}` : ' (contact_sources in account.yaml)'}`);
    }
    if (this.running.has(keyOf(accountId, name))) throw new SwitchboardError('CONFLICT', `contact source ${name} of account ${accountId} is being synced already; try again when that sync has ended`);
    // run() claims the lease before it returns, so a CONFLICT from another process is thrown here.
    const controller = new AbortController();
    const done = this.sync.run(source, { full: options.full ?? false, signal: controller.signal });
    this.track(source, controller, done);
    return done;
  }

  private tick(): void {
    if (this.stopped) return;
    try {
      this.startDue();
    } catch (error) {
      this.context.services.log.error({ event: 'contact_sync_error', err: error }, 'could not start contact source syncs');
    }
  }

  private startDue(): void {
    const now = this.context.services.clock.now();
    const due: { source: ResolvedSource; at: number }[] = [];
    for (const source of this.configured()) {
      if (this.running.has(keyOf(source.accountId, source.name))) continue;
      const state = this.sync.states.get(source.accountId, source.name);
      if (state?.runningSince != null && now - state.runningSince < LEASE_MS) continue; // another process syncs it
      const at = state?.nextAttemptAt ?? 0;
      if (at <= now) due.push({ source, at });
    }
    due.sort((a, b) => a.at - b.at);
    for (const { source } of due) {
      if (this.running.size >= MAX_CONCURRENT) break;
      if ([...this.running.values()].filter((run) => run.accountId === source.accountId).length >= MAX_PER_ACCOUNT) continue;
      const controller = new AbortController();
      let done: Promise<SyncOutcome>;
      try {
        done = this.sync.run(source, { signal: controller.signal });
      } catch (error) {
        if (isSwitchboardError(error) && error.code === 'CONFLICT') continue;
        throw error;
      }
      this.track(source, controller, done);
    }
  }

  private track(source: ResolvedSource, controller: AbortController, run: Promise<SyncOutcome>): void {
    const key = keyOf(source.accountId, source.name);
    const done = run
      .catch((error: unknown) => {
        this.context.services.log.error({ event: 'contact_sync_error', account: source.accountId, source: source.name, err: error }, 'contact source sync failed unexpectedly');
        return undefined;
      })
      .finally(() => this.running.delete(key));
    this.running.set(key, { accountId: source.accountId, controller, done });
  }

  /** Removes the contacts and state of sources a loaded account no longer lists. */
  private reconcile(snapshot: Snapshot): void {
    for (const account of snapshot.accounts.values()) {
      const names = new Set(resolveSources(account).map((source) => source.name));
      for (const state of this.sync.states.forAccount(account.id)) {
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
    const ids = this.sync.states.contactIds(accountId, name);
    for (let start = 0; start < ids.length; start += PURGE_CHUNK) {
      contacts.batch(() => {
        for (const id of ids.slice(start, start + PURGE_CHUNK)) contacts.deleteContact(accountId, name, id);
      });
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.sync.states.remove(accountId, name);
    this.sync.forget(accountId, name);
    log.info({ event: 'contact_source_removed', account: accountId, source: name, contacts: ids.length }, 'contact source no longer configured: its contacts were removed');
  }
}
