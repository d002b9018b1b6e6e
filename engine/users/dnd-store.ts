/**
 * Do-Not-Disturb state of users: live state in SQLite, written by the PBX
 * (admin API) or a person (CLI), read by check_user_availability and by
 * transfers to a user. A DND with an `until` time ends by itself at that time.
 */
import type { Clock } from '../clock.ts';
import type { Database } from '../store/database.ts';

export interface DndState {
  /** Whether the user is on Do-Not-Disturb now. */
  enabled: boolean;
  reason: string | null;
  /** When a timed DND ends (ms since epoch), if it has an end. */
  until: number | null;
  /** When the state was last set, or null if it never was. */
  updatedAt: number | null;
  /** Who set it: "api:<key id>", "cli", … */
  updatedBy: string | null;
}

interface DndRow {
  enabled: number;
  reason: string | null;
  until: number | null;
  updated_at: number;
  updated_by: string;
}

export interface SetDnd {
  enabled: boolean;
  reason?: string | null;
  until?: number | null;
  by: string;
}

export class DndStore {
  private readonly select;
  private readonly upsert;
  private readonly remove;

  constructor(
    db: Database,
    private readonly clock: Clock,
  ) {
    this.select = db.prepare<[string, string], DndRow>('SELECT enabled, reason, until, updated_at, updated_by FROM user_dnd WHERE account_id = ? AND user_id = ?');
    this.upsert = db.prepare(
      `INSERT INTO user_dnd (account_id, user_id, enabled, reason, until, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (account_id, user_id) DO UPDATE SET enabled = excluded.enabled, reason = excluded.reason, until = excluded.until,
         updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
    );
    this.remove = db.prepare('DELETE FROM user_dnd WHERE account_id = ? AND user_id = ?');
  }

  get(accountId: string, userId: string): DndState {
    const row = this.select.get(accountId, userId);
    if (!row) return { enabled: false, reason: null, until: null, updatedAt: null, updatedBy: null };
    const expired = row.until !== null && row.until <= this.clock.now();
    return {
      enabled: row.enabled === 1 && !expired,
      reason: expired ? null : row.reason,
      until: expired ? null : row.until,
      updatedAt: row.updated_at,
      updatedBy: row.updated_by,
    };
  }

  set(accountId: string, userId: string, change: SetDnd): DndState {
    this.upsert.run(accountId, userId, change.enabled ? 1 : 0, change.reason ?? null, change.until ?? null, this.clock.now(), change.by);
    return this.get(accountId, userId);
  }

  /** Clears DND (the user is available). */
  clear(accountId: string, userId: string, by: string): DndState {
    return this.set(accountId, userId, { enabled: false, by });
  }

  /** Forgets the user's row entirely (user removed from the account). */
  forget(accountId: string, userId: string): void {
    this.remove.run(accountId, userId);
  }
}
