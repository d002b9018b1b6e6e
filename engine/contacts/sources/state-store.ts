/**
 * The sync state of each contact source in SQLite (contact_source_state),
 * and the reads of the contact index a sync needs about its own source
 * (which ids it holds, how many). Every transition a sync makes is one
 * statement: claim the lease, then record success, failure or an
 * interruption, each of which releases it. A record only applies while the
 * recording process still holds the lease.
 */
import type { Database } from '../../store/database.ts';
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
  private readonly one;
  private readonly ofAccount;
  private readonly claimStatement;
  private readonly successStatement;
  private readonly failureStatement;
  private readonly interruptedStatement;
  private readonly removeStatement;
  private readonly refreshRead;
  private readonly refreshWrite;
  private readonly ids;
  private readonly count;

  constructor(db: Database) {
    this.one = db.prepare<[string, string], StateRow>('SELECT * FROM contact_source_state WHERE account_id = ? AND source = ?');
    this.ofAccount = db.prepare<[string], StateRow>('SELECT * FROM contact_source_state WHERE account_id = ? ORDER BY source');
    // The upsert only takes a lease that is free or void; `changes` tells whether it did.
    this.claimStatement = db.prepare(
      `INSERT INTO contact_source_state (account_id, source, type, config_key, last_attempt_at, running_since, running_owner)
       VALUES (@account, @source, @type, @configKey, @now, @now, @owner)
       ON CONFLICT (account_id, source) DO UPDATE SET type = excluded.type, last_attempt_at = excluded.last_attempt_at,
         running_since = excluded.running_since, running_owner = excluded.running_owner
       WHERE running_since IS NULL OR running_since < @voidBefore`,
    );
    const mine = 'WHERE account_id = @account AND source = @source AND running_owner = @owner';
    this.successStatement = db.prepare(
      `UPDATE contact_source_state SET cursor = @cursor, config_key = @configKey, contact_count = @count, last_success_at = @now,
         last_full_sync_at = CASE WHEN @full THEN @now ELSE last_full_sync_at END, last_result = @result, consecutive_failures = 0,
         next_attempt_at = @next, running_since = NULL, running_owner = NULL ${mine}`,
    );
    this.failureStatement = db.prepare(
      `UPDATE contact_source_state SET contact_count = @count, last_error_kind = @kind, last_error = @message, last_error_at = @now,
         consecutive_failures = consecutive_failures + 1, next_attempt_at = @next, running_since = NULL, running_owner = NULL ${mine}`,
    );
    this.interruptedStatement = db.prepare(`UPDATE contact_source_state SET contact_count = @count, next_attempt_at = @now, running_since = NULL, running_owner = NULL ${mine}`);
    this.removeStatement = db.prepare('DELETE FROM contact_source_state WHERE account_id = ? AND source = ?');
    this.refreshRead = db.prepare<[string, string], { refresh_token: string | null; refresh_lineage: string | null }>(
      'SELECT refresh_token, refresh_lineage FROM contact_source_state WHERE account_id = ? AND source = ?',
    );
    this.refreshWrite = db.prepare('UPDATE contact_source_state SET refresh_token = ?, refresh_lineage = ? WHERE account_id = ? AND source = ?');
    this.ids = db.prepare<[string, string], { source_id: string }>('SELECT source_id FROM contacts WHERE account_id = ? AND source = ?');
    this.count = db.prepare<[string, string], { n: number }>('SELECT COUNT(*) AS n FROM contacts WHERE account_id = ? AND source = ?');
  }

  get(accountId: string, source: string): SourceState | undefined {
    const row = this.one.get(accountId, source);
    return row ? fromRow(row) : undefined;
  }

  forAccount(accountId: string): SourceState[] {
    return this.ofAccount.all(accountId).map(fromRow);
  }

  /** Takes the source's lease for `owner`; false while another process's lease is younger than `leaseMs`. */
  claim(source: ResolvedSource, owner: string, now: number, leaseMs: number): boolean {
    const params = { account: source.accountId, source: source.name, type: source.type, configKey: source.configKey, now, owner, voidBefore: now - leaseMs };
    return this.claimStatement.run(params).changes > 0;
  }

  recordSuccess(source: ResolvedSource, owner: string, success: { cursor: string; result: SyncResult; now: number; next: number }): void {
    this.successStatement.run({
      account: source.accountId,
      source: source.name,
      owner,
      cursor: success.cursor,
      configKey: source.configKey,
      count: this.contactCount(source.accountId, source.name),
      now: success.now,
      full: success.result.mode === 'full' ? 1 : 0,
      result: JSON.stringify(success.result),
      next: success.next,
    });
  }

  recordFailure(source: ResolvedSource, owner: string, failure: { kind: FailureKind; message: string; now: number; next: number }): void {
    this.failureStatement.run({ account: source.accountId, source: source.name, owner, count: this.contactCount(source.accountId, source.name), ...failure });
  }

  /** Released without a verdict (the server is stopping): due again at once. */
  recordInterrupted(source: ResolvedSource, owner: string, now: number): void {
    this.interruptedStatement.run({ account: source.accountId, source: source.name, owner, count: this.contactCount(source.accountId, source.name), now });
  }

  remove(accountId: string, source: string): void {
    this.removeStatement.run(accountId, source);
  }

  /** The sealed refresh token kept for the source, with the lineage it was kept for. */
  refreshToken(accountId: string, source: string): { sealed: string; lineage: string } | undefined {
    const row = this.refreshRead.get(accountId, source);
    return row?.refresh_token && row.refresh_lineage ? { sealed: row.refresh_token, lineage: row.refresh_lineage } : undefined;
  }

  saveRefreshToken(accountId: string, source: string, kept: { sealed: string; lineage: string } | undefined): void {
    this.refreshWrite.run(kept?.sealed ?? null, kept?.lineage ?? null, accountId, source);
  }

  /** The source ids the index holds for this source. */
  contactIds(accountId: string, source: string): string[] {
    return this.ids.all(accountId, source).map((row) => row.source_id);
  }

  contactCount(accountId: string, source: string): number {
    return this.count.get(accountId, source)?.n ?? 0;
  }
}
