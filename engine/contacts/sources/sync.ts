/**
 * One sync of one contact source, as the scheduler and `switchboard
 * contacts sync` run it: take the source's lease, read its changes from the
 * stored cursor (or everything), write them into the contact index, record
 * the outcome and when to try next.
 *
 * The index never loses its last good data to a failed sync. Pages are
 * written as they arrive, in transactions of 100 contacts (a lookup never
 * waits long for the writer), and what a page says is true in the book, so
 * a sync that fails half-way leaves correct, newer contacts behind. What only a complete read
 * can tell - which contacts are gone - is applied after the read completed:
 * a full read removes the source's contacts it did not see, at the end. The
 * cursor moves only on success, so the next attempt reads the same changes
 * again (writes are idempotent).
 */
import { randomUUID } from 'node:crypto';

import type { Clock } from '../../clock.ts';
import { isSwitchboardError, SwitchboardError } from '../../errors.ts';
import type { Logger } from '../../logging.ts';
import { maskKnownSecrets, maskSecrets, type SecretSource } from '../../secrets.ts';
import type { StoreEngine } from '../../store/engine.ts';
import type { ContactSyncMetrics } from '../../vocabulary/metric-sinks.ts';
import { normalizeContact } from '../input.ts';
import type { ContactStore, ContactWrite } from '../store.ts';
import type { ResolvedSource } from './config.ts';
import { ResyncRequired, SourceFailure, fromHttpFailure, type FailureKind } from './failures.ts';
import { googleProvider } from './google.ts';
import type { OutboundClient } from '../../outbound/client.ts';
import { HttpFailure, sendThrough, type Send } from './http.ts';
import { graphScope, microsoftProvider } from './microsoft.ts';
import { AccessTokens, type OAuthClient } from './oauth.ts';
import { lineageOf, seal, unseal } from './refresh-tokens.ts';
import type { ContactChange, ContactProvider } from './provider.ts';
import { SourceStateStore, type SyncCounts, type SyncResult } from './state-store.ts';

/** The longest a sync may run; its lease is void a minute later. */
export const SYNC_DEADLINE_MS = 15 * 60_000;
export const LEASE_MS = SYNC_DEADLINE_MS + 60_000;
const BACKOFF_BASE_MS = 60_000;
const BACKOFF_MAX_MS = 6 * 3_600_000;
const RETRY_AFTER_MAX_MS = 24 * 3_600_000;
/** Contacts written per transaction: small enough that a lookup waits at most a few milliseconds for the writer. */
const WRITE_CHUNK = 100;
const DELETE_CHUNK = 500;

/** The abort reason of a server that is stopping: the sync is interrupted, not failed. */
export const SHUTDOWN = Symbol('shutdown');

export type SyncOutcome =
  | ({ ok: true; account: string; source: string; contacts: number; durationMs: number; nextAttemptAt: number } & SyncResult)
  | { ok: false; account: string; source: string; kind: FailureKind | 'interrupted'; message: string; consecutiveFailures: number; durationMs: number; nextAttemptAt: number };

export interface SyncOptions {
  /** Read everything, not only the changes since the stored cursor. */
  full?: boolean;
  signal?: AbortSignal;
  /** The scheduler's syncs: refused (CONFLICT) when the source is not due, as when another node has just synced it. */
  onlyIfDue?: boolean;
}

export interface SyncDeps {
  store: StoreEngine;
  contacts: ContactStore;
  secrets: SecretSource;
  clock: Clock;
  log: Logger;
  /** The shared outbound client; `send` replaces it in benchmarks. */
  outbound: OutboundClient;
  metrics?: ContactSyncMetrics;
  send?: Send;
  random?: () => number;
}

/** Exponential from one minute, capped at six hours, half of it random; never sooner than Retry-After. */
export function backoffMs(failures: number, retryAfterMs: number | undefined, random: () => number): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 20));
  const delay = ceiling / 2 + (random() * ceiling) / 2;
  return Math.round(Math.max(delay, Math.min(retryAfterMs ?? 0, RETRY_AFTER_MAX_MS)));
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const CREDENTIALS = ['client_id', 'client_secret', 'refresh_token'] as const;

export class ContactSourceSync {
  readonly states: SourceStateStore;
  /** Identifies this process's leases. */
  readonly owner = randomUUID();
  private readonly tokens = new Map<string, { fingerprint: string; tokens: AccessTokens }>();
  private readonly send: Send;
  private readonly random: () => number;

  constructor(private readonly deps: SyncDeps) {
    this.states = new SourceStateStore(deps.store);
    this.send = deps.send ?? sendThrough(deps.outbound);
    this.random = deps.random ?? Math.random;
  }

  /**
   * Starts one sync now (a full one when asked, or when there is no usable
   * cursor): resolves once the source's lease is taken, with the sync's
   * outcome to come in `done`. Rejects with CONFLICT when another sync of
   * the source holds the lease (in this process, another, or on another
   * node); every other failure is an outcome, recorded in the state.
   */
  async start(source: ResolvedSource, options: SyncOptions = {}): Promise<{ done: Promise<SyncOutcome> }> {
    if (!(await this.states.claim(source, this.owner, this.deps.clock.now(), LEASE_MS, { onlyIfDue: options.onlyIfDue ?? false }))) {
      const since = (await this.states.get(source.accountId, source.name))?.runningSince;
      throw new SwitchboardError('CONFLICT', `contact source ${source.name} of account ${source.accountId} is being synced already${since ? ` (since ${new Date(since).toISOString()})` : ''}; try again when that sync has ended`);
    }
    return { done: this.execute(source, options) };
  }

  /** One sync, start to end (CONFLICT as for `start`). */
  async run(source: ResolvedSource, options: SyncOptions = {}): Promise<SyncOutcome> {
    return (await this.start(source, options)).done;
  }

  private async execute(source: ResolvedSource, options: { full?: boolean; signal?: AbortSignal }): Promise<SyncOutcome> {
    const { clock, log } = this.deps;
    const started = performance.now();
    const signal = AbortSignal.any([AbortSignal.timeout(SYNC_DEADLINE_MS), ...(options.signal ? [options.signal] : [])]);
    const durationMs = () => Math.round(performance.now() - started);
    const context = { account: source.accountId, source: source.name, type: source.type };
    let masks: string[] = [];
    try {
      const client = this.oauthClient(source);
      masks = [client.clientId, client.clientSecret, client.refreshToken];
      const tokens = this.tokensFor(source, client);
      const provider = source.type === 'google' ? googleProvider(source, { tokens, send: this.send, clock }) : microsoftProvider(source, { tokens, send: this.send, clock });
      const state = await this.states.get(source.accountId, source.name);
      const cursor = !options.full && state?.configKey === source.configKey ? state.cursor : null;
      let result: SyncResult & { cursor: string };
      try {
        result = await this.pass(source, provider, cursor, signal);
      } catch (error) {
        if (!(error instanceof ResyncRequired) || cursor === null) throw error;
        log.info({ event: 'contact_sync_resync', ...context, reason: error.message }, 'contact source asks for a full sync');
        result = { ...(await this.pass(source, provider, null, signal)), resynced: true };
      }
      const now = clock.now();
      const next = now + source.intervalMs - Math.round(this.random() * source.intervalMs * 0.1);
      const { cursor: nextCursor, ...summary } = result;
      await this.states.recordSuccess(source, this.owner, { cursor: nextCursor, result: summary, now, next });
      const contacts = await this.states.contactCount(source.accountId, source.name);
      this.deps.metrics?.contactSyncSucceeded(source.accountId, source.name, contacts, now);
      log.info({ event: 'contact_sync', ...context, ...summary, contacts, durationMs: durationMs() }, 'contact source synced');
      return { ok: true, account: source.accountId, source: source.name, ...summary, contacts, durationMs: durationMs(), nextAttemptAt: next };
    } catch (error) {
      masks.push(...this.liveTokens(source));
      return this.failed(source, this.asFailure(error, signal), masks, durationMs(), context);
    }
  }

  /** Forgets cached access tokens of sources no longer configured. */
  forget(accountId: string, name: string): void {
    this.tokens.delete(`${accountId}\u0000${name}`);
    this.deps.metrics?.forgetContactSource(accountId, name);
  }

  private async failed(source: ResolvedSource, failure: SourceFailure | 'interrupted', masks: string[], durationMs: number, context: Record<string, string>): Promise<SyncOutcome> {
    const now = this.deps.clock.now();
    const base = { ok: false as const, account: source.accountId, source: source.name, durationMs };
    const failures = (await this.states.get(source.accountId, source.name))?.consecutiveFailures ?? 0;
    if (failure === 'interrupted') {
      await this.states.recordInterrupted(source, this.owner, now);
      return { ...base, kind: 'interrupted', message: 'the sync was interrupted because the server is stopping', consecutiveFailures: failures, nextAttemptAt: now };
    }
    const message = maskSecrets(failure.message, masks);
    const next = now + backoffMs(failures + 1, failure.retryAfterMs, this.random);
    await this.states.recordFailure(source, this.owner, { kind: failure.kind, message, now, next });
    this.deps.metrics?.contactSyncFailed(source.accountId, source.name);
    this.deps.log.warn({ event: 'contact_sync_failed', ...context, kind: failure.kind, consecutiveFailures: failures + 1, nextAttemptAt: new Date(next).toISOString() }, message);
    return { ...base, kind: failure.kind, message, consecutiveFailures: failures + 1, nextAttemptAt: next };
  }

  private asFailure(error: unknown, signal: AbortSignal): SourceFailure | 'interrupted' {
    if (signal.aborted && signal.reason === SHUTDOWN) return 'interrupted';
    if (signal.aborted) return new SourceFailure('network', `the sync did not finish within ${SYNC_DEADLINE_MS / 60_000} minutes`);
    if (error instanceof SourceFailure) return error;
    if (error instanceof HttpFailure) return fromHttpFailure(error);
    if (error instanceof ResyncRequired) return new SourceFailure('protocol', `${error.message} during a full sync`);
    this.deps.log.error({ event: 'contact_sync_error', err: error }, 'contact source sync failed unexpectedly');
    return new SourceFailure('internal', maskKnownSecrets(`unexpected error: ${(error as Error).message}`).slice(0, 300));
  }

  private oauthClient(source: ResolvedSource): OAuthClient {
    const values = CREDENTIALS.map((field) => {
      const name = source.entry.credentials[field];
      const value = this.deps.secrets.get(name);
      if (!value) throw new SourceFailure('config', `secret ${name} (credentials.${field}) is not set (environment variable or secrets file)`);
      return value;
    }) as [string, string, string];
    return {
      tokenUrl: source.tokenUrl,
      clientId: values[0],
      clientSecret: values[1],
      refreshToken: values[2],
      ...(source.type === 'microsoft' ? { scope: graphScope(source) } : {}),
    };
  }

  /** One token cache per source, replaced when its credentials change. */
  private tokensFor(source: ResolvedSource, client: OAuthClient): AccessTokens {
    const key = `${source.accountId}\u0000${source.name}`;
    const fingerprint = JSON.stringify(client);
    const cached = this.tokens.get(key);
    if (cached?.fingerprint === fingerprint) return cached.tokens;
    const lineage = lineageOf(client.refreshToken);
    const { accountId, name } = source;
    const tokens = new AccessTokens(client, this.send, this.deps.clock, {
      load: async () => {
        const kept = await this.states.refreshToken(accountId, name);
        return kept?.lineage === lineage ? unseal(kept.sealed, client.clientSecret) : undefined;
      },
      save: (token) => this.states.saveRefreshToken(accountId, name, { sealed: seal(token, client.clientSecret), lineage }),
      clear: () => this.states.saveRefreshToken(accountId, name, undefined),
    });
    this.tokens.set(key, { fingerprint, tokens });
    return tokens;
  }

  private liveTokens(source: ResolvedSource): string[] {
    return this.tokens.get(`${source.accountId}\u0000${source.name}`)?.tokens.held() ?? [];
  }

  private async pass(source: ResolvedSource, provider: ContactProvider, cursor: string | null, signal: AbortSignal): Promise<SyncResult & { cursor: string }> {
    const counts: SyncCounts = { created: 0, updated: 0, unchanged: 0, deleted: 0, skipped: 0 };
    const seen = cursor === null ? new Set<string>() : undefined;
    const next = await provider.read(
      cursor,
      async (items, toChange) => {
        for (let start = 0; start < items.length; start += WRITE_CHUNK) {
          const changes = items.slice(start, start + WRITE_CHUNK).map(toChange).filter((change) => change !== undefined);
          await this.apply(source, changes, counts, seen);
          await yieldToEventLoop();
        }
      },
      signal,
    );
    if (seen) await this.removeUnseen(source, seen, counts, signal);
    return { mode: seen ? 'full' : 'incremental', resynced: false, ...counts, cursor: next };
  }

  /** One transaction. In an incremental sync a contact that lost its last usable number leaves the index. */
  private async apply(source: ResolvedSource, changes: ContactChange[], counts: SyncCounts, seen: Set<string> | undefined): Promise<void> {
    const { contacts } = this.deps;
    const writes: ContactWrite[] = [];
    let skipped = 0;
    for (const change of changes) {
      if (change.kind === 'delete') {
        seen?.delete(change.id);
        writes.push({ kind: 'delete', sourceId: change.id });
        continue;
      }
      try {
        const { contact } = normalizeContact(change.input, source.defaultCountry);
        writes.push({ kind: 'upsert', sourceId: change.id, contact });
        seen?.add(change.id);
      } catch (error) {
        if (!isSwitchboardError(error)) throw error;
        skipped += 1;
        if (!seen) writes.push({ kind: 'delete', sourceId: change.id });
      }
    }
    const outcomes = await contacts.transaction((tx) => contacts.write(tx, source.accountId, source.name, writes));
    // Counted once committed, as the outcomes of a chunk that failed were never true.
    counts.skipped += skipped;
    for (const outcome of outcomes) {
      if (outcome.kind === 'upsert') counts[outcome.change] += 1;
      else if (outcome.deleted) counts.deleted += 1;
    }
  }

  private async removeUnseen(source: ResolvedSource, seen: Set<string>, counts: SyncCounts, signal: AbortSignal): Promise<void> {
    const stale = (await this.states.contactIds(source.accountId, source.name)).filter((id) => !seen.has(id));
    for (let start = 0; start < stale.length; start += DELETE_CHUNK) {
      signal.throwIfAborted();
      counts.deleted += await this.deps.contacts.deleteMany(source.accountId, source.name, stale.slice(start, start + DELETE_CHUNK));
      await yieldToEventLoop();
    }
  }
}
