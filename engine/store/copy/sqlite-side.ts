/**
 * The SQLite file in a copy (`switchboard migrate`): the source of `--to`,
 * the target of `--from`.
 *
 * Nobody else may have the file open while it is copied, and nobody may open
 * it until the copy is done: a server writing during the copy would leave its
 * writes out of it, and a server starting on the target would find half of
 * one. SQLite tells, with its own locks: every connection to a database in
 * WAL mode holds a shared lock on the file for as long as it is open (that
 * is how SQLite's last connection knows it is the last), so the exclusive
 * lock this side takes (locking_mode=EXCLUSIVE, then a write transaction) is
 * granted only when no server, CLI command or sqlite3 shell has the file
 * open, and is held until the copy is closed: a server started meanwhile
 * waits and then fails to open it. This holds for processes on one machine
 * (containers sharing a volume on one kernel included); SQLite's locks, and
 * so SQLite itself, do not work across a network file system.
 *
 * The file is migrated on open (as a server would on start), so its columns
 * are those of this version, as PostgreSQL's are.
 */
import fs from 'node:fs';
import path from 'node:path';

import BetterSqlite3 from 'better-sqlite3';

import { SwitchboardError } from '../../errors.ts';
import { migrate } from '../database.ts';
import { withStorage } from '../storage-errors.ts';
import { quoteIdent, type CopySide, type Ids, type SqliteTableInfo, type Table, type TableReader, type TableWriter } from './tables.ts';

/** How long to wait for a connection that is closing anyway (a CLI command finishing), before calling the file in use. */
const LOCK_WAIT_MS = 3000;

type Statement = BetterSqlite3.Statement<unknown[], unknown>;

export class SqliteSide implements CopySide {
  readonly description: string;
  private readonly statements = new Map<string, Statement>();

  private constructor(private readonly db: BetterSqlite3.Database, readonly file: string) {
    this.description = file;
  }

  /**
   * Opens the file for a copy and locks it; refuses a file another
   * connection has open. `create`: a target, made (with the schema) when
   * missing; otherwise the file must exist. `checkReferences`: a source,
   * whose rows must all satisfy their foreign keys, as PostgreSQL will ask.
   */
  static open(file: string, options: { create: boolean; checkReferences: boolean }): SqliteSide {
    if (!options.create && !fs.existsSync(file)) {
      throw new SwitchboardError('BAD_REQUEST', `no database at ${file}; point --data (SWITCHBOARD_DATA) at the node's data directory`);
    }
    return withStorage(file, () => {
      if (options.create) fs.mkdirSync(path.dirname(file), { recursive: true });
      const db = new BetterSqlite3(file, { fileMustExist: !options.create });
      try {
        lockExclusively(db, file);
        db.pragma('synchronous = FULL');
        db.pragma('foreign_keys = ON');
        migrate(db);
        if (options.checkReferences) refuseBrokenReferences(db, file);
        return new SqliteSide(db, file);
      } catch (error) {
        db.close();
        throw error;
      }
    });
  }

  /** The tables, as SQLite describes them. */
  schema(): SqliteTableInfo[] {
    const tables = this.db
      .prepare<[], { name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> 'schema_migrations' ORDER BY name")
      .all();
    return tables.map(({ name, sql }) => {
      const columns = this.db.prepare<[], { name: string; pk: number }>(`SELECT name, pk FROM pragma_table_info(${quoteLiteral(name)}) ORDER BY cid`).all();
      const references = this.db.prepare<[], { table: string }>(`SELECT DISTINCT "table" FROM pragma_foreign_key_list(${quoteLiteral(name)})`).all();
      return {
        name,
        columns: columns.map((column) => column.name),
        key: columns
          .filter((column) => column.pk > 0)
          .sort((a, b) => a.pk - b.pk)
          .map((column) => column.name),
        references: references.map((reference) => reference.table),
        autoincrement: /\bAUTOINCREMENT\b/i.test(sql),
      };
    });
  }

  private prepared(text: string): Statement {
    let statement = this.statements.get(text);
    if (!statement) this.statements.set(text, (statement = this.db.prepare(text)));
    return statement;
  }

  private number(text: string, ...values: unknown[]): number {
    return Number((this.prepared(text).pluck().get(...values) as number | null) ?? 0);
  }

  async occupied(tables: readonly Table[]): Promise<{ table: string; rows: number }[]> {
    return tables.map((table) => ({ table: table.name, rows: this.number(`SELECT count(*) FROM ${quoteIdent(table.name)}`) })).filter((entry) => entry.rows > 0);
  }

  /** The lock keeps every other connection out: what is read is one consistent view. */
  async read<T>(work: (reader: TableReader) => Promise<T>): Promise<T> {
    return work({
      count: async (table) => this.number(`SELECT count(*) FROM ${quoteIdent(table.name)}`),
      batches: (table, size) => this.batches(table, size),
      ids: async (table) => this.ids(table),
    });
  }

  private async *batches(table: Table, size: number): AsyncIterable<unknown[][]> {
    const order = table.key.map((column) => (table.textKey.includes(column) ? `${quoteIdent(column)} COLLATE BINARY` : quoteIdent(column))).join(', ');
    // A fresh statement: an iterating statement cannot be used for anything else until it is done.
    const statement = this.db.prepare(`SELECT ${table.columns.map(quoteIdent).join(', ')} FROM ${quoteIdent(table.name)} ORDER BY ${order}`).raw(true);
    let batch: unknown[][] = [];
    for (const row of statement.iterate() as IterableIterator<unknown[]>) {
      batch.push(row);
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
  }

  private ids(table: Table): Ids {
    if (!table.generatedId) return { max: 0, issued: 0 };
    const max = this.number(`SELECT coalesce(max(${quoteIdent(table.generatedId)}), 0) FROM ${quoteIdent(table.name)}`);
    const issued = table.autoincrement ? Math.max(max, this.number('SELECT seq FROM sqlite_sequence WHERE name = ?', table.name)) : max;
    return { max, issued };
  }

  /** The lock already keeps everyone out: no table lock to take. */
  async write(_tables: readonly Table[], work: (writer: TableWriter) => Promise<void>): Promise<void> {
    const writer: TableWriter = {
      clear: async (cleared) => {
        for (const table of [...cleared].reverse()) this.db.exec(`DELETE FROM ${quoteIdent(table.name)}`);
        const names = cleared.map((table) => table.name);
        this.prepared(`DELETE FROM sqlite_sequence WHERE name IN (${names.map(() => '?').join(', ')})`).run(...names);
      },
      insert: async (table, rows) => {
        const statement = this.prepared(`INSERT INTO ${quoteIdent(table.name)} (${table.columns.map(quoteIdent).join(', ')}) VALUES (${table.columns.map(() => '?').join(', ')})`);
        for (const row of rows) statement.run(...row);
      },
      continueIds: async (table, issued) => {
        // Without AUTOINCREMENT SQLite hands out one above the highest id present, which the rows copied already set.
        if (!table.autoincrement || issued <= 0) return;
        if (this.prepared('UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?').run(issued, table.name).changes === 0) {
          this.prepared('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)').run(table.name, issued);
        }
      },
    };
    this.db.exec('BEGIN IMMEDIATE');
    try {
      await work(writer);
      this.db.exec('COMMIT');
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw error;
    }
  }

  keepsIssuedIds(table: Table): boolean {
    return table.autoincrement;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

const quoteLiteral = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/**
 * Takes the exclusive lock on the file and keeps it until the connection
 * closes; refuses when another connection has the file open.
 */
function lockExclusively(db: BetterSqlite3.Database, file: string): void {
  db.pragma(`busy_timeout = ${LOCK_WAIT_MS}`);
  db.pragma('locking_mode = EXCLUSIVE');
  try {
    // The mode the server uses (a new target is created in it); a no-op for a file already in WAL mode.
    db.pragma('journal_mode = WAL');
    // The first write transaction in exclusive mode takes the lock on the file, and never lets it go.
    db.exec('BEGIN IMMEDIATE');
    db.exec('COMMIT');
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY')) {
      throw new SwitchboardError(
        'CONFLICT',
        `${file} is in use: a switchboard server (or a CLI command, or a sqlite3 shell) has it open. Stop it first: migrate copies a database nobody writes, and keeps it locked while it copies so that no server starts on it meanwhile`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** Rows whose foreign key points nowhere: PostgreSQL would refuse them halfway through the copy, so they are named first. */
function refuseBrokenReferences(db: BetterSqlite3.Database, file: string): void {
  const broken = db.prepare<[], { table: string; parent: string; n: number }>('SELECT "table", parent, count(*) AS n FROM pragma_foreign_key_check GROUP BY "table", parent ORDER BY "table", parent').all();
  if (!broken.length) return;
  throw new SwitchboardError(
    'CONFLICT',
    `${file} has rows that refer to rows that do not exist (${broken.map((entry) => `${entry.n} of ${entry.table} to ${entry.parent}`).join(', ')}); PostgreSQL would refuse them. Nothing was copied`,
  );
}
