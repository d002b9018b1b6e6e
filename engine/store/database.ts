/**
 * The SQLite store: one file, WAL journal, a busy timeout so the CLI and the
 * server can write the same file, foreign keys on, and versioned migrations
 * applied at open. Migrations are the `.sql` files beside this module, applied
 * in file-name order, each once, each in its own transaction.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import BetterSqlite3 from 'better-sqlite3';

import { withStorage } from './storage-errors.ts';

export type Database = BetterSqlite3.Database;

export interface OpenOptions {
  /** fsync policy: 'full' survives power loss, 'normal' survives process crashes. */
  synchronous?: 'normal' | 'full';
  readonly?: boolean;
}

/** How long a statement waits for another connection's lock before SQLITE_BUSY (the CLI and the server share the file). */
export const BUSY_TIMEOUT_MS = 5000;

const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations', 'sqlite');

/**
 * Opens (and creates, and migrates) the database. A data directory that is
 * read-only, on a full disk or not a directory is a STORE_UNWRITABLE error
 * naming the file, not a SqliteError stack (storage-errors.ts).
 */
export function openDatabase(file: string, options: OpenOptions = {}): Database {
  return withStorage(file, () => {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new BetterSqlite3(file, { readonly: options.readonly ?? false });
    try {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      if (!options.readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
        db.pragma('foreign_keys = ON');
        migrate(db);
      }
      return db;
    } catch (error) {
      db.close();
      throw error;
    }
  });
}

export interface Migration {
  name: string;
  sql: string;
}

export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => ({ name: file.replace(/\.sql$/, ''), sql: fs.readFileSync(path.join(dir, file), 'utf8') }));
}

/** Applies pending migrations; safe when several processes open the file at once. */
export function migrate(db: Database, migrations: Migration[] = listMigrations()): string[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
  const applied: string[] = [];
  const isApplied = db.prepare<[string], { name: string }>('SELECT name FROM schema_migrations WHERE name = ?');
  const record = db.prepare('INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)');
  for (const migration of migrations) {
    if (isApplied.get(migration.name)) continue;
    // IMMEDIATE takes the write lock first, so a second process waits and then
    // sees the migration as applied instead of running it twice.
    const apply = db.transaction(() => {
      if (isApplied.get(migration.name)) return;
      db.exec(migration.sql);
      record.run(migration.name, Date.now());
      applied.push(migration.name);
    });
    apply.immediate();
  }
  return applied;
}
