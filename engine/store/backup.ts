/**
 * A consistent copy of the live database, taken while the server writes.
 *
 * SQLite's online backup API copies the pages inside one read transaction
 * (all pages in a single step: a copy in small steps restarts whenever the
 * server commits in between, and may never finish on a busy node). In WAL
 * mode a reader does not block writers, so the server keeps answering calls.
 * The copy is written beside the target under a temporary name, switched to
 * a self-contained rollback journal (no -wal file to carry along), checked
 * with `PRAGMA integrity_check`, and only then renamed onto the target: a
 * failed or interrupted backup never leaves a half-written file under the
 * name a restore would use.
 *
 * SQLite only: with PostgreSQL the data lives in the database server, which
 * pg_dump backs up; `switchboard backup` refuses and says so.
 */
import fs from 'node:fs';
import path from 'node:path';

import BetterSqlite3 from 'better-sqlite3';

import { SwitchboardError } from '../errors.ts';
import { storageFailure } from './storage-errors.ts';

export interface BackupResult {
  source: string;
  file: string;
  bytes: number;
  durationMs: number;
  integrity: 'ok';
}

const ALL_PAGES = 0x7fffffff;
const sidecars = (file: string): string[] => [`${file}-wal`, `${file}-shm`, `${file}-journal`];

function removeWithSidecars(file: string): void {
  for (const name of [file, ...sidecars(file)]) fs.rmSync(name, { force: true });
}

export async function backupDatabase(source: string, target: string, options: { force?: boolean } = {}): Promise<BackupResult> {
  const started = performance.now();
  const file = path.resolve(target);
  if (!fs.existsSync(source)) throw new SwitchboardError('BAD_REQUEST', `no database at ${source}; point --data at the server's data directory`);
  if (path.resolve(source) === file) throw new SwitchboardError('BAD_REQUEST', 'the backup file must not be the database itself');
  if (!fs.existsSync(path.dirname(file))) throw new SwitchboardError('BAD_REQUEST', `directory ${path.dirname(file)} does not exist`);
  if (fs.existsSync(file) && !options.force) throw new SwitchboardError('CONFLICT', `${file} exists; pass --force to replace it`);

  const partial = `${file}.partial-${process.pid}`;
  removeWithSidecars(partial);
  try {
    const db = new BetterSqlite3(source, { readonly: true, fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      await db.backup(partial, { progress: () => ALL_PAGES });
    } finally {
      db.close();
    }
    const copy = new BetterSqlite3(partial);
    try {
      copy.pragma('journal_mode = DELETE');
      const result = copy.pragma('integrity_check', { simple: true });
      if (result !== 'ok') throw new SwitchboardError('INTERNAL', `the copy failed its integrity check (${String(result)}); the database was not copied`);
    } finally {
      copy.close();
    }
    // A stale -wal beside the target would be replayed into the new file on open.
    for (const name of sidecars(file)) fs.rmSync(name, { force: true });
    fs.renameSync(partial, file);
  } catch (error) {
    removeWithSidecars(partial);
    if (error instanceof SwitchboardError) throw error;
    // The source is only read: a read-only directory or a full disk is the target's.
    throw storageFailure(error, file) ?? new SwitchboardError('INTERNAL', `backup failed: ${(error as Error).message}`, { cause: error });
  }
  return { source, file, bytes: fs.statSync(file).size, durationMs: performance.now() - started, integrity: 'ok' };
}
