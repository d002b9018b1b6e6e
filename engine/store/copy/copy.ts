/**
 * Copies one database into the other (`switchboard migrate`): the SQLite
 * file of a single node into PostgreSQL, or back; then proves the copy.
 *
 * The copy is one transaction on the target: every table, parents first,
 * in batches, each row with its own ids (a lead's seq, a command's id, an
 * event's id), then each generated id made to continue past the highest the
 * source ever handed out (so no command id is issued twice, which streams
 * and PBX integrations rely on). A copy that fails leaves the target as it
 * was; a target that already holds rows is refused unless the operator asks
 * to replace them (--force), which empties them inside the same transaction.
 *
 * Then both sides are read again, each through its own driver, and compared
 * table by table: the number of rows, a checksum over the rows in key order
 * (checksum.ts), and that the target's next id is not one the source has
 * given. The source is read as of one moment throughout (SQLite: locked;
 * PostgreSQL: one REPEATABLE READ transaction), so what is compared is what
 * was copied. `verifyOnly` compares without copying.
 */
import { SwitchboardError } from '../../errors.ts';
import { TableDigest } from './checksum.ts';
import type { CopySide, Table, TableReader } from './tables.ts';

/** Rows read at a time. */
const BATCH_ROWS = 1000;

export interface CopyOptions {
  /** Replace what the target holds. */
  force: boolean;
  /** Only compare. */
  verifyOnly: boolean;
  /** Told before anything is replaced. */
  onNotice?: (text: string) => void;
  /** Told as each table's copy starts. */
  onProgress?: (table: string, rows: number) => void;
}

export interface TableCheck {
  table: string;
  source: { rows: number; checksum: string };
  target: { rows: number; checksum: string };
  /** For a table with generated ids: the id the target hands out next, and the least it may be. */
  nextId: { target: number; least: number } | null;
  ok: boolean;
}

export interface CopyReport {
  source: string;
  target: string;
  copied: boolean;
  /** Tables whose rows the copy replaced (--force). */
  replaced: { table: string; rows: number }[];
  tables: TableCheck[];
  /** PostgreSQL tables SQLite does not have: neither copied nor compared. */
  postgresOnly: string[];
  durationMs: number;
  ok: boolean;
}

const counted = (entries: { table: string; rows: number }[]): string => entries.map((entry) => `${entry.table}: ${entry.rows} row${entry.rows === 1 ? '' : 's'}`).join(', ');

export async function copyDatabase(source: CopySide, target: CopySide, plan: { tables: Table[]; postgresOnly: string[] }, options: CopyOptions): Promise<CopyReport> {
  const started = performance.now();
  const { tables } = plan;
  const occupied = options.verifyOnly ? [] : await target.occupied(tables);
  if (occupied.length && !options.force) {
    throw new SwitchboardError(
      'CONFLICT',
      `${target.description} already holds data (${counted(occupied)}); copying into it would mix two databases. Copy into an empty one, or pass --force to replace what it holds with the copy (in one transaction: a copy that fails leaves it as it is)`,
    );
  }
  if (occupied.length) {
    options.onNotice?.(`${target.description} holds data (${counted(occupied)}); --force: every table the copy fills is emptied and filled from ${source.description}, in the copy's one transaction (a copy that fails leaves what it holds)`);
  }

  const checks = await source.read(async (from) => {
    if (!options.verifyOnly) {
      await target.write(tables, async (to) => {
        if (occupied.length) await to.clear(tables);
        for (const table of tables) {
          if (options.onProgress) options.onProgress(table.name, await from.count(table));
          try {
            for await (const batch of from.batches(table, BATCH_ROWS)) await to.insert(table, batch);
            if (table.generatedId) await to.continueIds(table, (await from.ids(table)).issued);
          } catch (error) {
            if (error instanceof SwitchboardError) throw error;
            throw new SwitchboardError('INTERNAL', `copying table ${table.name} failed: ${(error as Error).message}. Nothing was copied: ${target.description} is as it was`, { cause: error });
          }
        }
      });
    }
    return target.read((to) => compare(tables, from, to, target));
  });

  return {
    source: source.description,
    target: target.description,
    copied: !options.verifyOnly,
    replaced: occupied,
    tables: checks,
    postgresOnly: plan.postgresOnly,
    durationMs: performance.now() - started,
    ok: checks.every((check) => check.ok),
  };
}

async function compare(tables: readonly Table[], from: TableReader, to: TableReader, target: CopySide): Promise<TableCheck[]> {
  const checks: TableCheck[] = [];
  for (const table of tables) {
    const source = await digest(from, table);
    const copy = await digest(to, table);
    let nextId: TableCheck['nextId'] = null;
    if (table.generatedId) {
      const given = await from.ids(table);
      // A target that never reuses an id must continue past every id the source gave; one that does (SQLite without AUTOINCREMENT), past those present.
      nextId = { target: (await to.ids(table)).issued + 1, least: (target.keepsIssuedIds(table) ? given.issued : given.max) + 1 };
    }
    const ok = source.rows === copy.rows && source.checksum === copy.checksum && (!nextId || nextId.target >= nextId.least);
    checks.push({ table: table.name, source, target: copy, nextId, ok });
  }
  return checks;
}

async function digest(reader: TableReader, table: Table): Promise<{ rows: number; checksum: string }> {
  const rows = await reader.count(table);
  const digest = new TableDigest();
  for await (const batch of reader.batches(table, BATCH_ROWS)) for (const row of batch) digest.add(row);
  return { rows, checksum: digest.hex() };
}
