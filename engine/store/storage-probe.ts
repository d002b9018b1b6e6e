/**
 * Whether this node can still keep what calls produce: the database takes a
 * committed write, and the disk under the data directory has room. /readyz
 * asks on every probe of a load balancer; the answer is kept for a moment,
 * so the cost is one small committed write every PROBE_INTERVAL_MS at most.
 *
 * Both are needed: in WAL mode a write into space the WAL file already holds
 * succeeds on a full disk, so the probe alone would say "writable" until the
 * first write that needs a new block; and free space alone says nothing of a
 * read-only remount or a file that can no longer be written.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { Database } from './database.ts';

export const PROBE_INTERVAL_MS = 2000;
export const DEFAULT_MIN_FREE_DISK_BYTES = 64 * 1024 * 1024;

export interface StorageState {
  /** The probe write committed (or could not be tried because another process held the write lock). */
  writable: boolean;
  /** SQLite's message when it did not, e.g. "attempt to write a readonly database". */
  databaseError: string | null;
  /** Free bytes for this process on the data directory's file system; null when it cannot be told. */
  freeBytes: number | null;
  minFreeBytes: number;
  diskOk: boolean;
  diskError: string | null;
}

export class StorageProbe {
  private last: StorageState | undefined;
  private lastAt = -Infinity;

  constructor(
    private readonly db: Database,
    private readonly minFreeBytes: number,
    private readonly now: () => number = Date.now,
  ) {}

  check(): StorageState {
    const now = this.now();
    if (this.last && now - this.lastAt < PROBE_INTERVAL_MS) return this.last;
    const write = this.probeWrite(now);
    const disk = this.freeSpace();
    this.last = {
      ...write,
      freeBytes: disk.freeBytes,
      minFreeBytes: this.minFreeBytes,
      diskOk: disk.error === null && (disk.freeBytes ?? Infinity) >= this.minFreeBytes,
      diskError: disk.error,
    };
    this.lastAt = now;
    return this.last;
  }

  private probeWrite(now: number): { writable: boolean; databaseError: string | null } {
    // Never wait for another process's write lock here: the event loop would wait with it.
    const busyTimeout = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma('busy_timeout = 0');
    try {
      this.db.prepare('INSERT INTO readiness_probe (id, checked_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at').run(now);
      return { writable: true, databaseError: null };
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      // A lock held by the CLI or a backup is no fault of this node: keep what was known.
      if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return { writable: this.last?.writable ?? true, databaseError: this.last?.databaseError ?? null };
      return { writable: false, databaseError: (error as Error).message };
    } finally {
      this.db.pragma(`busy_timeout = ${busyTimeout}`);
    }
  }

  private freeSpace(): { freeBytes: number | null; error: string | null } {
    if (this.db.memory) return { freeBytes: null, error: null };
    try {
      const stats = fs.statfsSync(path.dirname(this.db.name));
      return { freeBytes: stats.bavail * stats.bsize, error: null };
    } catch (error) {
      return { freeBytes: null, error: `the data directory cannot be examined (${(error as NodeJS.ErrnoException).code ?? 'error'})` };
    }
  }
}
