/**
 * Whether this node can still keep what calls produce: the store takes a
 * committed write, and (SQLite) the disk under the database file has room.
 * /readyz asks on every probe of a load balancer; the answer is kept for a
 * moment, so the cost is one small committed write every PROBE_INTERVAL_MS
 * at most.
 *
 * The write goes through the store engine like every other write, so it
 * proves what calls need: on SQLite that the write worker can still commit
 * to the file, on PostgreSQL that the database takes writes (a failover that
 * left this node on a read-only standby does not). A write that has not
 * finished within PROBE_WAIT_MS (another process holding SQLite's write lock,
 * a slow commit) is not waited for: /readyz answers with what was known, and
 * the write's outcome is kept when it comes.
 *
 * Both checks are needed with SQLite: in WAL mode a write into space the WAL
 * file already holds succeeds on a full disk, so the probe alone would say
 * "writable" until the first write that needs a new block; and free space
 * alone says nothing of a read-only remount or a file that can no longer be
 * written. PostgreSQL's disk is the database server's: its own monitoring
 * watches it, and a full one shows here as a failed write.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { StoreEngine } from './engine.ts';
import { sql } from './sql.ts';

export const PROBE_INTERVAL_MS = 2000;
/** Longest /readyz waits for the probe's write before answering with what was known. */
export const PROBE_WAIT_MS = 1000;
export const DEFAULT_MIN_FREE_DISK_BYTES = 64 * 1024 * 1024;

export interface StorageState {
  /** The probe write committed (or could not be tried because another process held the write lock). */
  writable: boolean;
  /** The engine's message when it did not, e.g. "attempt to write a readonly database". */
  databaseError: string | null;
  /** Free bytes for this process on the database file's file system; null when it cannot be told (or PostgreSQL). */
  freeBytes: number | null;
  minFreeBytes: number;
  diskOk: boolean;
  diskError: string | null;
}

type WriteState = Pick<StorageState, 'writable' | 'databaseError'>;

/** What `work` resolves with, or undefined once `ms` have passed without an answer (the work goes on). */
export async function within<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** SQLite's lock error, or the store's STORE_UNAVAILABLE whose cause it is (another process held the write lock past the wait). */
const isLockBusy = (error: unknown): boolean =>
  [error, (error as { cause?: unknown } | null)?.cause].some((candidate) => {
    const code = (candidate as { code?: unknown } | null)?.code;
    return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
  });

export class StorageProbe {
  private last: StorageState | undefined;
  private lastWrite: WriteState | undefined;
  private lastAt = -Infinity;
  private writing: Promise<WriteState> | undefined;
  /** The SQLite file whose disk is watched; undefined with PostgreSQL. */
  private readonly file: string | undefined;

  constructor(
    private readonly store: StoreEngine,
    private readonly minFreeBytes: number,
    private readonly now: () => number = Date.now,
  ) {
    this.file = store.dialect === 'sqlite' ? store.location : undefined;
  }

  async check(): Promise<StorageState> {
    const now = this.now();
    if (this.last && now - this.lastAt < PROBE_INTERVAL_MS) return this.last;
    this.writing ??= this.probeWrite(now).finally(() => {
      this.writing = undefined;
    });
    const [write, disk] = await Promise.all([within(this.writing, PROBE_WAIT_MS), this.freeSpace()]);
    this.last = {
      // Still waiting: what was known stands (a lock held by the CLI or a backup is no fault of this node).
      ...(write ?? this.lastWrite ?? { writable: true, databaseError: null }),
      freeBytes: disk.freeBytes,
      minFreeBytes: this.minFreeBytes,
      diskOk: disk.error === null && (disk.freeBytes ?? Infinity) >= this.minFreeBytes,
      diskError: disk.error,
    };
    this.lastAt = now;
    return this.last;
  }

  private async probeWrite(now: number): Promise<WriteState> {
    try {
      await this.store.run(sql`INSERT INTO readiness_probe (id, checked_at) VALUES (1, ${now}) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`);
      this.lastWrite = { writable: true, databaseError: null };
    } catch (error) {
      // A lock another process held past the wait is no fault of this node either: keep what was known.
      if (!isLockBusy(error)) this.lastWrite = { writable: false, databaseError: (error as Error).message };
    }
    return this.lastWrite ?? { writable: true, databaseError: null };
  }

  private async freeSpace(): Promise<{ freeBytes: number | null; error: string | null }> {
    if (!this.file) return { freeBytes: null, error: null };
    try {
      const stats = await fs.promises.statfs(path.dirname(this.file));
      return { freeBytes: stats.bavail * stats.bsize, error: null };
    } catch (error) {
      return { freeBytes: null, error: `the data directory cannot be examined (${(error as NodeJS.ErrnoException).code ?? 'error'})` };
    }
  }
}
