/**
 * The sync state of each contact source on the store engine (contact_source_state),
 * and the reads of the contact index a sync needs about its own source
 * (which ids it holds, how many). Every transition a sync makes is one
 * statement: claim the lease, then record success, failure or an
 * interruption, each of which releases it. A record only applies while the
 * recording process still holds the lease. The lease is what keeps two
 * syncs of one source apart: the server and `switchboard contacts sync`, or
 * several nodes sharing one PostgreSQL database.
 */
import type { StoreEngine } from '../../store/engine.ts';
import { raw, sql, type Sql } from '../../store/sql.ts';
import type { ResolvedSource } from './config.ts';
import type { FailureKind } from './failures.ts';

export interface SyncCounts {
  created: number;
  updated: number;
  unchanged: number;
  deleted: number;
  /** Contacts left out: no name, or no number that reads as a phone number. */
  skipped: number;
}

export interface SyncResult extends SyncCounts {
  mode: 'full' | 'incremental';
  /** The provider refused the stored cursor, so an incremental sync became a full one. */
  resynced: boolean;
}

export interface SourceState {
  accountId: string;
  source: string;
  type: string;
  configKey: string;
  cursor: string | null;
  contactCount: number;
  lastAttemptAt: number | null;
  lastSuccessAt: number | null;
  lastFullSyncAt: number | null;
  lastResult: SyncResult | null;
  lastError: { kind: FailureKind; message: string; at: number } | null;
  consecutiveFailures: number;
  nextAttemptAt: number | null;
  runningSince: number | null;
}

interface StateRow {
  account_id: string;
  source: string;
  type: string;
  config_key: string;
  cursor: string | null;
  contact_count: number;
  last_attempt_at: number | null;
  last_success_at: number | null;
  last_full_sync_at: number | null;
  last_result: string | null;
  last_error_kind: string | null;
  last_error: string | null;
  last_error_at: number | null;
  consecutive_failures: number;
  next_attempt_at: number | null;
  running_since: number | null;
  running_owner: string | null;
}

function fromRow(row: StateRow): SourceState {
  return {
    accountId: row.account_id,
    source: row.source,
    type: row.type,
    configKey: row.config_key,
    cursor: row.cursor,
    contactCount: row.contact_count,
    lastAttemptAt: row.last_attempt_at,
    lastSuccessAt: row.last_success_at,
    lastFullSyncAt: row.last_full_sync_at,
    lastResult: row.last_result ? (JSON.parse(row.last_result) as SyncResult) : null,
    lastError: row.last_error_kind && row.last_error_at !== null ? { kind: row.last_error_kind as FailureKind, message: row.last_error ?? '', at: row.last_error_at } : null,
    consecutiveFailures: row.consecutive_failures,
    nextAttemptAt: row.next_attempt_at,
    runningSince: row.running_since,
  };
}

export class SourceStateStore {
  constructor(private readonly store: StoreEngine) {}

  async get(accountId: string, source: string): Promise<SourceState | undefined> {
    const row = await this.store.get<StateRow>(sql`SELECT * FROM contact_source_state WHERE account_id = ${accountId} AND source = ${source}`);
    return row ? fromRow(row) : undefined;
  }

  async forAccount(accountId: string): Promise<SourceState[]> {
    return (await this.store.all<StateRow>(sql`SELECT * FROM contact_source_state WHERE account_id = ${accountId} ORDER BY source`)).map(fromRow);
  }

  /** When each source that has a state is due, and whether a lease is on it: one read for the scheduler's tick. */
  async schedule(): Promise<{ accountId: string; source: string; nextAttemptAt: number | null; runningSince: number | null }[]> {
    const rows = await this.store.all<{ account_id: string; source: string; next_attempt_at: number | null; running_since: number | null }>(
      sql`SELECT account_id, source, next_attempt_at, running_since FROM contact_source_state`,
    );
    return rows.map((row) => ({ accountId: row.account_id, source: row.source, nextAttemptAt: row.next_attempt_at, runningSince: row.running_since }));
  }

  /**
   * Takes the source's lease for `owner`; false while another lease is
   * younger than `leaseMs`. One statement: the upsert only takes a lease
   * that is free or void, and the rows it changed tell whether it did. Two
   * claims at once (two nodes, or the server and the CLI) are settled by the
   * row: PostgreSQL makes the second wait for the first and then checks the
   * condition again against the row the first left; SQLite's writer runs
   * them one after the other. `onlyIfDue` (the scheduler's claims) also
   * refuses a source that is not due: another node may have synced it
   * between the scheduler's read and this claim.
   */
  async claim(source: ResolvedSource, owner: string, now: number, leaseMs: number, options: { onlyIfDue?: boolean } = {}): Promise<boolean> {
    const due = options.onlyIfDue ? sql` AND (contact_source_state.next_attempt_at IS NULL OR contact_source_state.next_attempt_at <= ${now})` : raw('');
    const changed = await this.store.run(
      sql`INSERT INTO contact_source_state (account_id, source, type, config_key, last_attempt_at, running_since, running_owner)
          VALUES (${source.accountId}, ${source.name}, ${source.type}, ${source.configKey}, ${now}, ${now}, ${owner})
          ON CONFLICT (account_id, source) DO UPDATE SET type = excluded.type, last_attempt_at = excluded.last_attempt_at,
            running_since = excluded.running_since, running_owner = excluded.running_owner
          WHERE (contact_source_state.running_since IS NULL OR contact_source_state.running_since < ${now - leaseMs})${due}`,
    );
    return changed > 0;
  }

  /** Records a sync that completed, releasing the lease; nothing when `owner` no longer holds it. */
  async recordSuccess(source: ResolvedSource, owner: string, success: { cursor: string; result: SyncResult; now: number; next: number }): Promise<void> {
    const fullAt = success.result.mode === 'full' ? success.now : null;
    await this.store.run(
      sql`UPDATE contact_source_state SET cursor = ${success.cursor}, config_key = ${source.configKey}, contact_count = ${countOf(source.accountId, source.name)},
            last_success_at = ${success.now}, last_full_sync_at = coalesce(${fullAt}, last_full_sync_at), last_result = ${JSON.stringify(success.result)},
            consecutive_failures = 0, next_attempt_at = ${success.next}, running_since = NULL, running_owner = NULL
          WHERE ${held(source, owner)}`,
    );
  }

  async recordFailure(source: ResolvedSource, owner: string, failure: { kind: FailureKind; message: string; now: number; next: number }): Promise<void> {
    await this.store.run(
      sql`UPDATE contact_source_state SET contact_count = ${countOf(source.accountId, source.name)}, last_error_kind = ${failure.kind}, last_error = ${failure.message},
            last_error_at = ${failure.now}, consecutive_failures = consecutive_failures + 1, next_attempt_at = ${failure.next}, running_since = NULL, running_owner = NULL
          WHERE ${held(source, owner)}`,
    );
  }

  /** Released without a verdict (the server is stopping): due again at once. */
  async recordInterrupted(source: ResolvedSource, owner: string, now: number): Promise<void> {
    await this.store.run(
      sql`UPDATE contact_source_state SET contact_count = ${countOf(source.accountId, source.name)}, next_attempt_at = ${now}, running_since = NULL, running_owner = NULL
          WHERE ${held(source, owner)}`,
    );
  }

  async remove(accountId: string, source: string): Promise<void> {
    await this.store.run(sql`DELETE FROM contact_source_state WHERE account_id = ${accountId} AND source = ${source}`);
  }

  /** The sealed refresh token kept for the source, with the lineage it was kept for. */
  async refreshToken(accountId: string, source: string): Promise<{ sealed: string; lineage: string } | undefined> {
    const row = await this.store.get<{ refresh_token: string | null; refresh_lineage: string | null }>(
      sql`SELECT refresh_token, refresh_lineage FROM contact_source_state WHERE account_id = ${accountId} AND source = ${source}`,
    );
    return row?.refresh_token && row.refresh_lineage ? { sealed: row.refresh_token, lineage: row.refresh_lineage } : undefined;
  }

  async saveRefreshToken(accountId: string, source: string, kept: { sealed: string; lineage: string } | undefined): Promise<void> {
    await this.store.run(
      sql`UPDATE contact_source_state SET refresh_token = ${kept?.sealed ?? null}, refresh_lineage = ${kept?.lineage ?? null} WHERE account_id = ${accountId} AND source = ${source}`,
    );
  }

  /** The source ids the index holds for this source. */
  async contactIds(accountId: string, source: string): Promise<string[]> {
    return (await this.store.all<{ source_id: string }>(sql`SELECT source_id FROM contacts WHERE account_id = ${accountId} AND source = ${source}`)).map((row) => row.source_id);
  }

  async contactCount(accountId: string, source: string): Promise<number> {
    return (await this.store.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM contacts WHERE account_id = ${accountId} AND source = ${source}`))?.n ?? 0;
  }
}

/** The number of contacts the index holds for a source, as a subquery (counted in the statement that records it). */
const countOf = (accountId: string, source: string): Sql => sql`(SELECT COUNT(*) FROM contacts WHERE account_id = ${accountId} AND source = ${source})`;

/** The source's row while `owner` holds its lease: a record applies only then. */
const held = (source: ResolvedSource, owner: string): Sql => sql`account_id = ${source.accountId} AND source = ${source.name} AND running_owner = ${owner}`;
