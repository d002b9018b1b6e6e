/**
 * How contact sources and sync outcomes are shown: JSON for the admin API
 * and `--json` (snake_case, ISO times), and lines for the CLI. Built from the
 * manifest (what is configured) and the stored state (what happened), so the
 * server and a CLI process show the same. Nothing here holds a secret: the
 * state has none, and error messages were masked before they were stored.
 */
import { oneLine } from '../../plain-text.ts';
import type { ResolvedSource } from './config.ts';
import type { SourceState } from './state-store.ts';
import { LEASE_MS, type SyncOutcome } from './sync.ts';

const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export type SourceCondition = 'pending' | 'syncing' | 'ok' | 'failing';

export function sourceCondition(state: SourceState | undefined, now: number): SourceCondition {
  if (state?.runningSince != null && now - state.runningSince < LEASE_MS) return 'syncing';
  if (state?.consecutiveFailures) return 'failing';
  return state?.lastSuccessAt ? 'ok' : 'pending';
}

export function sourceStatusJson(source: ResolvedSource, state: SourceState | undefined, now: number) {
  const result = state?.lastResult;
  return {
    name: source.name,
    type: source.type,
    state: sourceCondition(state, now),
    contacts: state?.contactCount ?? 0,
    sync_interval_minutes: source.intervalMs / 60_000,
    last_attempt_at: iso(state?.lastAttemptAt),
    last_success_at: iso(state?.lastSuccessAt),
    last_full_sync_at: iso(state?.lastFullSyncAt),
    /** null: due now. */
    next_attempt_at: iso(state?.nextAttemptAt),
    consecutive_failures: state?.consecutiveFailures ?? 0,
    last_result: result
      ? { mode: result.mode, resynced: result.resynced, created: result.created, updated: result.updated, unchanged: result.unchanged, deleted: result.deleted, skipped: result.skipped }
      : null,
    last_error: state?.lastError ? { kind: state.lastError.kind, message: state.lastError.message, at: iso(state.lastError.at) } : null,
  };
}

export type SourceStatusJson = ReturnType<typeof sourceStatusJson>;

export function outcomeJson(outcome: SyncOutcome) {
  const common = { account: outcome.account, source: outcome.source, duration_ms: outcome.durationMs, next_attempt_at: iso(outcome.nextAttemptAt) };
  if (!outcome.ok) return { ok: false, ...common, kind: outcome.kind, message: outcome.message, consecutive_failures: outcome.consecutiveFailures };
  const { mode, resynced, created, updated, unchanged, deleted, skipped, contacts } = outcome;
  return { ok: true, ...common, mode, resynced, created, updated, unchanged, deleted, skipped, contacts };
}

/** "clinic-google: full sync, 120 contacts (3 new, 1 updated, 116 unchanged, 2 removed, 1 left out)." */
export function describeOutcome(outcome: SyncOutcome): string {
  if (!outcome.ok) {
    const retry = outcome.kind === 'interrupted' ? '' : `; the server tries again after ${iso(outcome.nextAttemptAt)}`;
    return `${outcome.source}: sync failed (${outcome.kind}): ${outcome.message}${retry}`;
  }
  const mode = outcome.mode === 'full' ? (outcome.resynced ? 'full sync (the stored sync state had expired)' : 'full sync') : 'incremental sync';
  const left = outcome.skipped ? `, ${outcome.skipped} left out without a name or a usable phone number` : '';
  return `${outcome.source}: ${mode}, ${outcome.contacts} contact${outcome.contacts === 1 ? '' : 's'} (${outcome.created} new, ${outcome.updated} updated, ${outcome.unchanged} unchanged, ${outcome.deleted} removed${left}).`;
}

/** Table rows for `contacts sources`, then one line per last error. */
export function describeStatuses(statuses: readonly SourceStatusJson[]): { rows: string[][]; errors: string[] } {
  const rows = [['NAME', 'TYPE', 'STATE', 'CONTACTS', 'LAST SUCCESS', 'NEXT ATTEMPT']];
  const errors: string[] = [];
  for (const status of statuses) {
    rows.push([status.name, status.type, status.state, String(status.contacts), status.last_success_at ?? '-', status.next_attempt_at ?? 'now']);
    if (status.last_error && status.state === 'failing') {
      errors.push(`${status.name}: ${status.consecutive_failures} failed attempt${status.consecutive_failures === 1 ? '' : 's'}, last at ${status.last_error.at} (${status.last_error.kind}): ${oneLine(status.last_error.message)}`);
    }
  }
  return { rows, errors };
}
