/**
 * API keys. A key is shown once, when it is created; the store keeps only its
 * SHA-256. A request's key is looked up by hash in the store (a primary-key
 * read: on SQLite the main thread's read connection, on PostgreSQL one round
 * trip) and the answer kept for a second, so a revocation by the CLI, or on
 * another node sharing the database, is seen by a running server within that
 * second.
 */
import { createHash, randomBytes } from 'node:crypto';

import type { Clock } from '../clock.ts';
import { SwitchboardError } from '../errors.ts';
import type { Executor, StoreEngine } from '../store/engine.ts';
import { dialect, raw, sql } from '../store/sql.ts';

export type KeyRole = 'mcp' | 'admin';
export const KEY_ROLES: readonly KeyRole[] = ['mcp', 'admin'];

export interface ApiKeyRecord {
  id: string;
  accountId: string;
  role: KeyRole;
  name: string | null;
  createdAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

interface ApiKeyRow {
  id: string;
  account_id: string;
  role: KeyRole;
  name: string | null;
  created_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

const toRecord = (row: ApiKeyRow): ApiKeyRecord => ({
  id: row.id,
  accountId: row.account_id,
  role: row.role,
  name: row.name,
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
  lastUsedAt: row.last_used_at,
});

export const hashKey = (key: string): string => createHash('sha256').update(key).digest('hex');

/** Whether a key of `role` may act as `needed` (admin includes mcp). */
export const roleAllows = (role: KeyRole, needed: KeyRole): boolean => role === 'admin' || role === needed;

export interface NewKey {
  accountId: string;
  role?: KeyRole;
  name?: string;
}

const LAST_USED_FLUSH_MS = 10_000;
const VERIFY_CACHE_MS = 1000;
/** Bounds the cache against a flood of random keys. */
const MAX_RECENT_KEYS = 10_000;
/** How long a key that verified counts as in use: it passes an address whose failed authentications are being throttled. */
const IN_USE_MS = 24 * 60 * 60 * 1000;

/**
 * Held while the first key is made: two nodes starting together on an empty
 * PostgreSQL table must not both make one. SQLite's write worker runs one
 * transaction at a time, so it needs no lock.
 */
const LOCK_KEYS = dialect({ sqlite: raw('SELECT 1'), postgres: raw('LOCK TABLE api_keys IN SHARE ROW EXCLUSIVE MODE') });

export class ApiKeyStore {
  private readonly pendingLastUse = new Map<string, number>();
  private readonly recent = new Map<string, { at: number; record: ApiKeyRecord | undefined }>();
  /** Look-ups under way, by the presented key: requests that arrive together with one key share one query. */
  private readonly lookups = new Map<string, Promise<ApiKeyRecord | undefined>>();
  /** Keys that verified, by the presented key: only valid keys get in, so it is as small as the key table. */
  private readonly inUse = new Map<string, { id: string; at: number }>();
  /** Counts revocations: a look-up that began before one does not put its answer in the cache. */
  private revocations = 0;
  private lastFlush = 0;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: StoreEngine,
    private readonly clock: Clock,
  ) {}

  async create(input: NewKey): Promise<{ record: ApiKeyRecord; key: string }> {
    return this.insert(this.store, input);
  }

  /**
   * Makes a key only when the table has none (the key a new server prints
   * once); undefined when there already is one. One transaction, so that of
   * several nodes starting on one empty database only one makes it.
   */
  async createFirst(input: NewKey): Promise<{ record: ApiKeyRecord; key: string } | undefined> {
    return this.store.transaction(async (tx) => {
      await tx.run(LOCK_KEYS);
      const existing = await tx.get(sql`SELECT id FROM api_keys LIMIT 1`);
      return existing ? undefined : this.insert(tx, input);
    });
  }

  private async insert(executor: Executor, input: NewKey): Promise<{ record: ApiKeyRecord; key: string }> {
    const role = input.role ?? 'mcp';
    if (!KEY_ROLES.includes(role)) throw new SwitchboardError('BAD_REQUEST', `role must be one of ${KEY_ROLES.join(', ')}`);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(input.accountId)) {
      throw new SwitchboardError('BAD_REQUEST', 'account id must be 1-64 characters of letters, digits, "_", "." or "-"');
    }
    const key = `sb_${randomBytes(24).toString('base64url')}`;
    const id = `key_${randomBytes(6).toString('hex')}`;
    const now = this.clock.now();
    const name = input.name ?? null;
    await executor.run(sql`INSERT INTO api_keys (id, account_id, role, name, hash, created_at) VALUES (${id}, ${input.accountId}, ${role}, ${name}, ${hashKey(key)}, ${now})`);
    return { key, record: { id, accountId: input.accountId, role, name, createdAt: now, revokedAt: null, lastUsedAt: null } };
  }

  async list(accountId?: string): Promise<ApiKeyRecord[]> {
    const rows = accountId
      ? await this.store.all<ApiKeyRow>(sql`SELECT * FROM api_keys WHERE account_id = ${accountId} ORDER BY created_at, id`)
      : await this.store.all<ApiKeyRow>(sql`SELECT * FROM api_keys ORDER BY account_id, created_at, id`);
    return rows.map(toRecord);
  }

  async count(): Promise<number> {
    const row = await this.store.get<{ n: number }>(sql`SELECT count(*) AS n FROM api_keys`);
    return Number(row?.n ?? 0);
  }

  /** Revokes a key; returns the record, or undefined when no key has that id. */
  async revoke(id: string): Promise<ApiKeyRecord | undefined> {
    await this.store.run(sql`UPDATE api_keys SET revoked_at = ${this.clock.now()} WHERE id = ${id} AND revoked_at IS NULL`);
    this.revocations += 1;
    this.recent.clear();
    for (const [key, seen] of this.inUse) if (seen.id === id) this.inUse.delete(key);
    const row = await this.store.get<ApiKeyRow>(sql`SELECT * FROM api_keys WHERE id = ${id}`);
    return row ? toRecord(row) : undefined;
  }

  /**
   * The live record of a presented key, or undefined when unknown or revoked.
   * Answers are kept for a second: a voice agent sends its key with every
   * request, and a revocation (by any process sharing the database) still
   * takes effect within that second.
   */
  async verify(key: string): Promise<ApiKeyRecord | undefined> {
    const now = this.clock.now();
    // Kept by the presented key itself, so a repeat does not even hash it; the process holds it anyway.
    const known = this.recent.get(key);
    const record = known && now - known.at < VERIFY_CACHE_MS && now >= known.at ? known.record : await this.lookUp(key, now);
    if (record) {
      this.inUse.set(key, { id: record.id, at: now });
      this.noteUse(record.id);
    }
    return record;
  }

  private lookUp(key: string, now: number): Promise<ApiKeyRecord | undefined> {
    let lookup = this.lookups.get(key);
    if (!lookup) {
      const revocations = this.revocations;
      lookup = this.store
        .get<ApiKeyRow>(sql`SELECT * FROM api_keys WHERE hash = ${hashKey(key)}`)
        .then((row) => {
          const record = row && row.revoked_at === null ? toRecord(row) : undefined;
          // A revocation while the query ran may have been of this key: its answer is not kept.
          if (revocations === this.revocations) {
            if (this.recent.size >= MAX_RECENT_KEYS) this.recent.clear();
            this.recent.set(key, { at: now, record });
          }
          return record;
        })
        .finally(() => this.lookups.delete(key));
      this.lookups.set(key, lookup);
    }
    return lookup;
  }

  /**
   * Whether this presented key verified within the last day. Only a cheap
   * lookup, no hash and no query: it is asked while an address is throttled
   * for failed keys, to keep serving the clients already in use behind it.
   */
  isInUse(key: string): boolean {
    const seen = this.inUse.get(key);
    return seen !== undefined && this.clock.now() - seen.at < IN_USE_MS;
  }

  /** Last-use times are batched: one write per key every few seconds, not one per request. */
  private noteUse(id: string): void {
    const now = this.clock.now();
    this.pendingLastUse.set(id, now);
    if (now - this.lastFlush >= LAST_USED_FLUSH_MS) void this.flushLastUse();
  }

  /**
   * Writes the batched last-use times (the server calls it once more when it
   * stops). A failed write keeps them for the next flush: a last-use time is
   * a hint for the operator, never a reason to fail a request.
   */
  flushLastUse(): Promise<void> {
    this.lastFlush = this.clock.now();
    for (const [key, seen] of this.inUse) if (this.lastFlush - seen.at >= IN_USE_MS) this.inUse.delete(key);
    // One flush at a time, each taking what is pending when it starts.
    this.flushing = this.flushing.then(() => this.writeLastUse());
    return this.flushing;
  }

  private async writeLastUse(): Promise<void> {
    if (this.pendingLastUse.size === 0) return;
    const entries = [...this.pendingLastUse];
    this.pendingLastUse.clear();
    try {
      // Not durable on its own: the next durable commit carries it, as with the audit trail.
      await this.store.transaction(
        async (tx) => {
          // Never backwards: another node, or a flush before this one, may have written a later time.
          for (const [id, at] of entries) await tx.run(sql`UPDATE api_keys SET last_used_at = ${at} WHERE id = ${id} AND (last_used_at IS NULL OR last_used_at < ${at})`);
        },
        { durable: false },
      );
    } catch {
      for (const [id, at] of entries) if ((this.pendingLastUse.get(id) ?? -Infinity) < at) this.pendingLastUse.set(id, at);
    }
  }
}
