/**
 * Do-Not-Disturb state of users: live state on the store engine (SQLite or
 * PostgreSQL), written by the PBX (admin API, or the phone system's presence
 * events) or a person (CLI), read by check_user_availability and by
 * transfers to a user. A DND with an `until` time ends by itself at that
 * time. Every write has committed when its promise resolves, and answers
 * with the state it wrote (RETURNING), not with a second read.
 */
import type { Clock } from '../clock.ts';
import type { Executor, StoreEngine } from '../store/engine.ts';
import { forUpdate, list, sql } from '../store/sql.ts';

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

const COLUMNS = sql`enabled, reason, until, updated_at, updated_by`;

export class DndStore {
  /** The last presence change asked for per user, so changes of one user are written in the order the phone system sent them. */
  private readonly presenceQueue = new Map<string, Promise<unknown>>();
  private readonly listeners: ((accountId: string, userId: string) => void)[] = [];

  constructor(
    private readonly store: StoreEngine,
    private readonly clock: Clock,
  ) {}

  /** Told after a change of a user's DND is written (the console's live view); changes inside a caller's transaction are told by that caller. */
  onChanged(listener: (accountId: string, userId: string) => void): void {
    this.listeners.push(listener);
  }

  private changed(accountId: string, userId: string): void {
    for (const listener of this.listeners) {
      try {
        listener(accountId, userId);
      } catch {
        // The write is committed: a listener that fails must not turn it into an error.
      }
    }
  }

  private state(row: DndRow | undefined): DndState {
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

  async get(accountId: string, userId: string, db: Executor = this.store): Promise<DndState> {
    return this.state(await db.get<DndRow>(sql`SELECT ${COLUMNS} FROM user_dnd WHERE account_id = ${accountId} AND user_id = ${userId}`));
  }

  /** The state of each of the given users, in one query (the admin API's and the CLI's user lists). */
  async getMany(accountId: string, userIds: readonly string[]): Promise<Map<string, DndState>> {
    const rows = await this.store.all<DndRow & { user_id: string }>(
      sql`SELECT user_id, ${COLUMNS} FROM user_dnd WHERE account_id = ${accountId} AND user_id IN ${list(userIds)}`,
    );
    const found = new Map(rows.map((row) => [row.user_id, row]));
    return new Map(userIds.map((userId) => [userId, this.state(found.get(userId))]));
  }

  async set(accountId: string, userId: string, change: SetDnd, db: Executor = this.store): Promise<DndState> {
    const row = await db.get<DndRow>(
      sql`INSERT INTO user_dnd (account_id, user_id, enabled, reason, until, updated_at, updated_by)
          VALUES (${accountId}, ${userId}, ${change.enabled ? 1 : 0}, ${change.reason ?? null}, ${change.until ?? null}, ${this.clock.now()}, ${change.by})
          ON CONFLICT (account_id, user_id) DO UPDATE SET enabled = excluded.enabled, reason = excluded.reason, until = excluded.until,
            updated_at = excluded.updated_at, updated_by = excluded.updated_by
          RETURNING ${COLUMNS}`,
    );
    if (db === this.store) this.changed(accountId, userId);
    return this.state(row);
  }

  /** Clears DND (the user is available). */
  clear(accountId: string, userId: string, by: string): Promise<DndState> {
    return this.set(accountId, userId, { enabled: false, by });
  }

  /** Forgets the user's row entirely (user removed from the account). */
  async forget(accountId: string, userId: string): Promise<void> {
    await this.store.run(sql`DELETE FROM user_dnd WHERE account_id = ${accountId} AND user_id = ${userId}`);
  }

  /**
   * What the phone system reports (a DND key, a presence status): written
   * only when it changes whether the user is on DND, so a repeated report
   * keeps who set it and when. Reports for one user are applied one after
   * another in the order they came (a fast on-off-on ends on), each read and
   * write in one transaction, so an admin's change in between is not undone
   * by a stale read. Resolves with whether it wrote.
   */
  follow(accountId: string, userId: string, enabled: boolean, by: string): Promise<boolean> {
    const key = JSON.stringify([accountId, userId]);
    const previous = this.presenceQueue.get(key) ?? Promise.resolve();
    const next = previous.then(
      () => this.followNow(accountId, userId, enabled, by),
      () => this.followNow(accountId, userId, enabled, by),
    );
    this.presenceQueue.set(key, next);
    const done = (): void => {
      if (this.presenceQueue.get(key) === next) this.presenceQueue.delete(key);
    };
    next.then(done, done);
    return next;
  }

  private async followNow(accountId: string, userId: string, enabled: boolean, by: string): Promise<boolean> {
    const wrote = await this.store.transaction(async (tx) => {
      const row = await tx.get<DndRow>(sql`SELECT ${COLUMNS} FROM user_dnd WHERE account_id = ${accountId} AND user_id = ${userId}${forUpdate}`);
      if (this.state(row).enabled === enabled) return false;
      await this.set(accountId, userId, { enabled, by }, tx);
      return true;
    });
    if (wrote) this.changed(accountId, userId);
    return wrote;
  }
}
