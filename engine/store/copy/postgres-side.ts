/**
 * The PostgreSQL database in a copy (`switchboard migrate`): the target of
 * `--to`, the source of `--from`.
 *
 * Nodes must not use the database while it is copied: a node writing to the
 * source during the copy would leave its writes out of it, and one writing
 * to the target would mix its rows with the copy. Every running node holds
 * at least one connection to the database at all times (the one it listens
 * for notifications on), so a database with client connections other than
 * this one is in use, and is refused, naming who is connected
 * (pg_stat_activity: nodes call themselves "switchboard"). Connect to the
 * database itself, not through a connection pooler, whose own connections
 * would count.
 *
 * One connection (a pool of one) does everything, without a statement
 * time-out: the copy is one long transaction; reading is one REPEATABLE READ
 * transaction, so every table is read as of one moment, through a cursor per
 * table (one sort, then batches). Text keys are ordered COLLATE "C", byte by
 * byte as SQLite orders them.
 */
import { SwitchboardError } from '../../errors.ts';
import type { Executor } from '../engine.ts';
import { openPostgres } from '../open.ts';
import type { PostgresEngine } from '../postgres/engine.ts';
import { join, list, raw, sql } from '../sql.ts';
import { quoteIdent, type CopySide, type Ids, type PostgresTableInfo, type Table, type TableReader, type TableWriter } from './tables.ts';

/** Values per INSERT statement, well under PostgreSQL's 65,535 parameters. */
const VALUES_PER_INSERT = 30_000;

interface Connected {
  application: string;
  address: string | null;
}

export class PostgresSide implements CopySide {
  readonly description: string;
  private cursors = 0;

  private constructor(private readonly engine: PostgresEngine) {
    this.description = `PostgreSQL ${engine.location}`;
  }

  /**
   * Connects (applying the migrations, so the schema is this version's) and
   * refuses a database other clients are connected to. `setting` names the
   * flag the URL came from, for the message when it cannot be opened.
   */
  static async open(url: string, options: { caFile?: string | undefined; setting: string }): Promise<PostgresSide> {
    const engine = await openPostgres({ url, poolSize: 1, statementTimeoutMs: 0, caFile: options.caFile, applicationName: 'switchboard migrate' }, options.setting);
    const side = new PostgresSide(engine);
    try {
      await side.refuseIfInUse();
    } catch (error) {
      await engine.close();
      throw error;
    }
    return side;
  }

  private async refuseIfInUse(): Promise<void> {
    const others = await this.engine.all<Connected>(sql`
      SELECT coalesce(nullif(application_name, ''), 'a client') AS application, host(client_addr) AS address
      FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND coalesce(backend_type, 'client backend') = 'client backend'
      ORDER BY backend_start`);
    if (!others.length) return;
    const groups = new Map<string, number>();
    for (const other of others) {
      const who = `${other.application} from ${other.address ?? 'a local socket'}`;
      groups.set(who, (groups.get(who) ?? 0) + 1);
    }
    const named = [...groups].map(([who, count]) => (count > 1 ? `${count} × ${who}` : who)).join(', ');
    throw new SwitchboardError(
      'CONFLICT',
      `${this.description} is in use: ${others.length} other connection${others.length === 1 ? '' : 's'} to the database (${named}). Stop every switchboard node that uses it (and end other sessions) first: migrate copies a database nobody writes. Connect to the database itself, not through a connection pooler`,
    );
  }

  /** The tables, as PostgreSQL describes them. */
  async schema(): Promise<PostgresTableInfo[]> {
    const rows = await this.engine.all<{ table_name: string; column_name: string; text: boolean; identity: boolean }>(sql`
      SELECT c.table_name, c.column_name, c.data_type IN ('text', 'character varying', 'character') AS text, c.is_identity = 'YES' AS identity
      FROM information_schema.columns c
      JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name <> 'schema_migrations'
      ORDER BY c.table_name, c.ordinal_position`);
    const tables = new Map<string, PostgresTableInfo>();
    for (const row of rows) {
      let table = tables.get(row.table_name);
      if (!table) tables.set(row.table_name, (table = { name: row.table_name, columns: [] }));
      table.columns.push({ name: row.column_name, text: row.text, identity: row.identity });
    }
    return [...tables.values()];
  }

  async occupied(tables: readonly Table[]): Promise<{ table: string; rows: number }[]> {
    const counts: { table: string; rows: number }[] = [];
    for (const table of tables) counts.push({ table: table.name, rows: await count(this.engine, table) });
    return counts.filter((entry) => entry.rows > 0);
  }

  async read<T>(work: (reader: TableReader) => Promise<T>): Promise<T> {
    return this.engine.transaction(async (tx) => {
      await tx.run(sql`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`);
      await tx.run(sql`SET LOCAL statement_timeout = 0`);
      // Every float as the shortest text that reads back as the same number (the default since PostgreSQL 12).
      await tx.run(sql`SET LOCAL extra_float_digits = 3`);
      return work({
        count: (table) => count(tx, table),
        batches: (table, size) => this.batches(tx, table, size),
        ids: (table) => ids(tx, table),
      });
    });
  }

  private async *batches(tx: Executor, table: Table, size: number): AsyncIterable<unknown[][]> {
    const cursor = raw(`switchboard_copy_${++this.cursors}`);
    const order = table.key.map((column) => (table.textKey.includes(column) ? `${quoteIdent(column)} COLLATE "C"` : quoteIdent(column))).join(', ');
    await tx.run(sql`DECLARE ${cursor} NO SCROLL CURSOR FOR SELECT ${raw(table.columns.map(quoteIdent).join(', '))} FROM ${raw(quoteIdent(table.name))} ORDER BY ${raw(order)}`);
    try {
      for (;;) {
        const rows = await tx.all<Record<string, unknown>>(sql`FETCH FORWARD ${raw(String(size))} FROM ${cursor}`);
        if (!rows.length) return;
        yield rows.map((row) => table.columns.map((column) => row[column]));
      }
    } finally {
      // After a failure the transaction is aborted and the cursor gone with it.
      await tx.run(sql`CLOSE ${cursor}`).catch(() => undefined);
    }
  }

  async write(tables: readonly Table[], work: (writer: TableWriter) => Promise<void>): Promise<void> {
    await this.engine.transaction(async (tx) => {
      await tx.run(sql`SET LOCAL statement_timeout = 0`);
      await tx.run(sql`SET LOCAL lock_timeout = '10s'`);
      // A node that starts during the copy waits for it, then sees all of it.
      await tx.run(sql`LOCK TABLE ${raw(tables.map((table) => quoteIdent(table.name)).join(', '))} IN ACCESS EXCLUSIVE MODE`);
      await work({
        clear: async (cleared) => {
          await tx.run(sql`TRUNCATE ${raw(cleared.map((table) => quoteIdent(table.name)).join(', '))} RESTART IDENTITY`);
        },
        insert: async (table, rows) => {
          const perStatement = Math.max(1, Math.floor(VALUES_PER_INSERT / table.columns.length));
          const columns = raw(table.columns.map(quoteIdent).join(', '));
          for (let start = 0; start < rows.length; start += perStatement) {
            const values = rows.slice(start, start + perStatement).map((row) => list(row));
            await tx.run(sql`INSERT INTO ${raw(quoteIdent(table.name))} (${columns}) VALUES ${join(values, ', ')}`);
          }
        },
        continueIds: async (table, issued) => {
          if (!table.generatedId) return;
          const column = raw(quoteIdent(table.generatedId));
          // The next id is one above both the highest copied and the highest the source ever handed out.
          await tx.get(sql`
            SELECT setval(pg_get_serial_sequence(${quoteIdent(table.name)}, ${table.generatedId}), greatest(present.n, ${issued}::bigint, 1), greatest(present.n, ${issued}::bigint) > 0)
            FROM (SELECT coalesce(max(${column}), 0)::bigint AS n FROM ${raw(quoteIdent(table.name))}) present`);
        },
      });
    });
  }

  keepsIssuedIds(table: Table): boolean {
    return table.generatedId !== null;
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}

async function count(executor: Executor, table: Table): Promise<number> {
  return (await executor.get<{ n: number }>(sql`SELECT count(*) AS n FROM ${raw(quoteIdent(table.name))}`))?.n ?? 0;
}

async function ids(tx: Executor, table: Table): Promise<Ids> {
  if (!table.generatedId) return { max: 0, issued: 0 };
  const max = (await tx.get<{ n: number }>(sql`SELECT coalesce(max(${raw(quoteIdent(table.generatedId))}), 0)::bigint AS n FROM ${raw(quoteIdent(table.name))}`))?.n ?? 0;
  const sequence = (await tx.get<{ name: string | null }>(sql`SELECT pg_get_serial_sequence(${quoteIdent(table.name)}, ${table.generatedId}) AS name`))?.name;
  if (!sequence) return { max, issued: max };
  // The name PostgreSQL gives back is already quoted as an identifier.
  const state = await tx.get<{ last_value: number; is_called: boolean }>(sql`SELECT last_value, is_called FROM ${raw(sequence)}`);
  const issued = state ? (state.is_called ? state.last_value : state.last_value - 1) : 0;
  return { max, issued: Math.max(max, issued) };
}
