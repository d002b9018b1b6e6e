/**
 * API keys. A key is shown once, when it is created; the store keeps only its
 * SHA-256. Every request looks its key up by hash in SQLite (a primary-key
 * read, microseconds), so a revocation by the CLI is seen by a running server
 * on its next request.
 */
import { createHash, randomBytes } from 'node:crypto';

import type { Clock } from '../clock.ts';
import { SwitchboardError } from '../errors.ts';
import type { Database } from '../store/database.ts';

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

const LAST_USED_FLUSH_MS = 10_000;
const VERIFY_CACHE_MS = 1000;
/** Bounds the cache against a flood of random keys. */
const MAX_RECENT_KEYS = 10_000;
/** How long a key that verified counts as in use: it passes an address whose failed authentications are being throttled. */
const IN_USE_MS = 24 * 60 * 60 * 1000;

export class ApiKeyStore {
  private readonly byHash;
  private readonly pendingLastUse = new Map<string, number>();
  private readonly recent = new Map<string, { at: number; record: ApiKeyRecord | undefined }>();
  /** Keys that verified, by the presented key: only valid keys get in, so it is as small as the key table. */
  private readonly inUse = new Map<string, { id: string; at: number }>();
  private lastFlush = 0;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {
    this.byHash = db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE hash = ?');
  }

  create(input: { accountId: string; role?: KeyRole; name?: string }): { record: ApiKeyRecord; key: string } {
    const role = input.role ?? 'mcp';
    if (!KEY_ROLES.includes(role)) throw new SwitchboardError('BAD_REQUEST', `role must be one of ${KEY_ROLES.join(', ')}`);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(input.accountId)) {
      throw new SwitchboardError('BAD_REQUEST', 'account id must be 1-64 characters of letters, digits, "_", "." or "-"');
    }
    const key = `sb_${randomBytes(24).toString('base64url')}`;
    const id = `key_${randomBytes(6).toString('hex')}`;
    const now = this.clock.now();
    this.db
      .prepare('INSERT INTO api_keys (id, account_id, role, name, hash, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(id, input.accountId, role, input.name ?? null, hashKey(key), now);
    return {
      key,
      record: { id, accountId: input.accountId, role, name: input.name ?? null, createdAt: now, revokedAt: null, lastUsedAt: null },
    };
  }

  list(accountId?: string): ApiKeyRecord[] {
    const rows = accountId
      ? this.db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE account_id = ? ORDER BY created_at, id').all(accountId)
      : this.db.prepare<[], ApiKeyRow>('SELECT * FROM api_keys ORDER BY account_id, created_at, id').all();
    return rows.map(toRecord);
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM api_keys').get() as { n: number }).n;
  }

  /** Revokes a key; returns the record, or undefined when no key has that id. */
  revoke(id: string): ApiKeyRecord | undefined {
    this.db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(this.clock.now(), id);
    this.recent.clear();
    for (const [key, seen] of this.inUse) if (seen.id === id) this.inUse.delete(key);
    const row = this.db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE id = ?').get(id);
    return row ? toRecord(row) : undefined;
  }

  /**
   * The live record of a presented key, or undefined when unknown or revoked.
   * Answers are kept for a second: a voice agent sends its key with every
   * request, and a revocation (by any process sharing the file) still takes
   * effect within that second.
   */
  verify(key: string): ApiKeyRecord | undefined {
    const now = this.clock.now();
    // Kept by the presented key itself, so a repeat does not even hash it; the process holds it anyway.
    let known = this.recent.get(key);
    if (!known || now - known.at >= VERIFY_CACHE_MS || now < known.at) {
      const row = this.byHash.get(hashKey(key));
      known = { at: now, record: row && row.revoked_at === null ? toRecord(row) : undefined };
      if (this.recent.size >= MAX_RECENT_KEYS) this.recent.clear();
      this.recent.set(key, known);
    }
    if (known.record) {
      this.inUse.set(key, { id: known.record.id, at: now });
      this.noteUse(known.record.id);
    }
    return known.record;
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
    if (now - this.lastFlush >= LAST_USED_FLUSH_MS) this.flushLastUse();
  }

  flushLastUse(): void {
    if (this.pendingLastUse.size === 0) return;
    const update = this.db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?');
    const entries = [...this.pendingLastUse];
    this.pendingLastUse.clear();
    this.lastFlush = this.clock.now();
    for (const [key, seen] of this.inUse) if (this.lastFlush - seen.at >= IN_USE_MS) this.inUse.delete(key);
    this.db.transaction(() => {
      for (const [id, at] of entries) update.run(at, id);
    })();
  }
}
