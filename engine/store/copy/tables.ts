/**
 * What `switchboard migrate` copies, and through what. The tables are those
 * of the SQLite schema (every one but SQLite's own and schema_migrations,
 * which each engine keeps for itself), matched against the PostgreSQL
 * schema: the two engines hold the same tables and columns (migrations are
 * written for both), and a difference stops the copy before anything is
 * written, since a column the other side lacks would be lost silently.
 *
 * Tables are copied parents first (the order of their foreign keys), so the
 * target checks every reference as rows arrive. Rows are read and compared
 * in primary-key order; a text key is ordered byte-wise on both engines
 * (SQLite's BINARY, PostgreSQL's "C" collation), so both sides list the
 * same rows in the same order whatever the database's locale.
 *
 * A side (sqlite-side.ts, postgres-side.ts) reads and writes rows as arrays
 * in the table's column order, so the copy and the checksum never depend on
 * how a driver names or orders columns.
 */
import { SwitchboardError } from '../../errors.ts';

export interface Table {
  name: string;
  /** In SQLite's column order; both sides read and write them in this order. */
  columns: string[];
  /** The primary key's columns, in key order. */
  key: string[];
  /** Key columns holding text, which PostgreSQL must order byte-wise to match SQLite. */
  textKey: string[];
  /** The column PostgreSQL fills from an identity sequence (ids nodes hand out), or null. */
  generatedId: string | null;
  /** SQLite remembers the highest id it handed out (AUTOINCREMENT), so an id is never given twice. */
  autoincrement: boolean;
}

/** A table as SQLite describes it. */
export interface SqliteTableInfo {
  name: string;
  columns: string[];
  key: string[];
  /** Tables its foreign keys refer to. */
  references: string[];
  autoincrement: boolean;
}

/** A table as PostgreSQL describes it. */
export interface PostgresTableInfo {
  name: string;
  columns: { name: string; text: boolean; identity: boolean }[];
}

/** The ids of a table's generated column: the highest present, and the highest ever handed out (not less). */
export interface Ids {
  max: number;
  issued: number;
}

export interface TableReader {
  count(table: Table): Promise<number>;
  /** Every row, as arrays in `table.columns` order, in primary-key order, `size` at a time. */
  batches(table: Table, size: number): AsyncIterable<unknown[][]>;
  /** For a table with a generated id. */
  ids(table: Table): Promise<Ids>;
}

export interface TableWriter {
  /** Empties the tables (--force), restarting their ids. */
  clear(tables: readonly Table[]): Promise<void>;
  insert(table: Table, rows: readonly unknown[][]): Promise<void>;
  /** Makes the table hand out ids above `issued` from now on. */
  continueIds(table: Table, issued: number): Promise<void>;
}

/** One database in a copy: the SQLite file or the PostgreSQL database. */
export interface CopySide {
  /** For the operator: the file, or "PostgreSQL host:port/database" (never a password). */
  readonly description: string;
  /** Tables that hold rows, with how many. */
  occupied(tables: readonly Table[]): Promise<{ table: string; rows: number }[]>;
  /** Runs `work` on one consistent view of the data. */
  read<T>(work: (reader: TableReader) => Promise<T>): Promise<T>;
  /** Runs `work` in one transaction: everything it writes commits together, or nothing does. */
  write(tables: readonly Table[], work: (writer: TableWriter) => Promise<void>): Promise<void>;
  /** Whether this side never hands out an id again once given (a sequence, AUTOINCREMENT), deleted row or not. */
  keepsIssuedIds(table: Table): boolean;
  close(): Promise<void>;
}

/** An identifier as both engines read it, quoted (names come from the schema, never from input). */
export const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/**
 * The tables to copy, parents first, with what each engine needs to know of
 * them; refuses schemas that differ. Tables only PostgreSQL has are left out
 * (returned as `postgresOnly`, for the report).
 */
export function planTables(sqlite: readonly SqliteTableInfo[], postgres: readonly PostgresTableInfo[]): { tables: Table[]; postgresOnly: string[] } {
  const byName = new Map(postgres.map((table) => [table.name, table]));
  const problems: string[] = [];
  const tables = new Map<string, Table>();
  for (const info of sqlite) {
    const other = byName.get(info.name);
    if (!other) {
      problems.push(`table ${info.name} is not in the PostgreSQL database`);
      continue;
    }
    const theirs = new Set(other.columns.map((column) => column.name));
    const onlySqlite = info.columns.filter((column) => !theirs.has(column));
    const onlyPostgres = [...theirs].filter((column) => !info.columns.includes(column));
    if (onlySqlite.length || onlyPostgres.length) {
      problems.push(
        `table ${info.name} has ${[onlySqlite.length ? `columns only SQLite has (${onlySqlite.join(', ')})` : '', onlyPostgres.length ? `columns only PostgreSQL has (${onlyPostgres.join(', ')})` : ''].filter(Boolean).join(' and ')}`,
      );
      continue;
    }
    const column = (name: string) => other.columns.find((candidate) => candidate.name === name);
    const identity = other.columns.filter((candidate) => candidate.identity).map((candidate) => candidate.name);
    tables.set(info.name, {
      name: info.name,
      columns: info.columns,
      key: info.key,
      textKey: info.key.filter((name) => column(name)?.text),
      generatedId: identity[0] ?? null,
      autoincrement: info.autoincrement,
    });
  }
  if (problems.length) {
    throw new SwitchboardError(
      'CONFLICT',
      `the SQLite and PostgreSQL schemas differ: ${problems.join('; ')}. Both must come from the same version of switchboard (each applies its migrations when opened); nothing was copied`,
    );
  }
  const postgresOnly = postgres.map((table) => table.name).filter((name) => !tables.has(name));
  return { tables: parentsFirst([...tables.values()], new Map(sqlite.map((info) => [info.name, info.references]))), postgresOnly };
}

/** Tables ordered so that every table comes after those its foreign keys refer to; otherwise by name. */
function parentsFirst(tables: Table[], references: Map<string, string[]>): Table[] {
  const ordered: Table[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const byName = new Map(tables.map((table) => [table.name, table]));
  const place = (table: Table): void => {
    if (placed.has(table.name) || visiting.has(table.name)) return;
    visiting.add(table.name);
    for (const parent of [...(references.get(table.name) ?? [])].sort()) {
      const referenced = byName.get(parent);
      if (referenced && parent !== table.name) place(referenced);
    }
    visiting.delete(table.name);
    placed.add(table.name);
    ordered.push(table);
  };
  [...tables].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).forEach(place);
  return ordered;
}
