/**
 * `switchboard migrate`: moves a node's data between its SQLite file and
 * PostgreSQL, for going from one node to several (--to) and back (--from),
 * and proves the copy (engine/store/copy/). Refuses while anything else uses
 * either database (a server on the SQLite file, nodes on PostgreSQL), and a
 * target that already holds data unless told to replace it. Exit 0 only when
 * every table matches on both sides; 1 when the copy was made but does not
 * match; 2 when nothing could be compared (refused, failed).
 */
import { databaseFile, resolveSettings } from '../../config.ts';
import { SwitchboardError } from '../../errors.ts';
import { copyDatabase, type CopyReport, type TableCheck } from '../../store/copy/copy.ts';
import { PostgresSide } from '../../store/copy/postgres-side.ts';
import { SqliteSide } from '../../store/copy/sqlite-side.ts';
import { planTables } from '../../store/copy/tables.ts';
import { type CliIO, dataFlag, EXIT, jsonFlag, parseFlags, print, printJson, table } from '../command.ts';

/** A postgres:// URL, checked here so that a mistake is said naming the flag it came from. */
function postgresUrl(raw: string, flag: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || !/^postgres(ql)?:$/.test(url.protocol) || !url.hostname || url.pathname.length < 2) {
    throw new SwitchboardError('BAD_REQUEST', `${flag} must be a postgres:// URL with a host and a database, such as postgres://switchboard@db.example:5432/switchboard`);
  }
  return raw;
}

const short = (checksum: string): string => checksum.slice(0, 16);
const seconds = (ms: number): string => (ms / 1000).toFixed(2);

function row(check: TableCheck): string[] {
  const rows = check.source.rows === check.target.rows ? String(check.source.rows) : `${check.source.rows} → ${check.target.rows}`;
  const checksum = check.source.checksum === check.target.checksum ? short(check.source.checksum) : `${short(check.source.checksum)} → ${short(check.target.checksum)}`;
  const next = !check.nextId ? '-' : check.nextId.target >= check.nextId.least ? String(check.nextId.target) : `${check.nextId.target} (must be ≥ ${check.nextId.least})`;
  return [check.table, rows, checksum, next, check.ok ? 'ok' : 'DIFFERS'];
}

function printReport(report: CopyReport, io: CliIO): void {
  const rows = report.tables.reduce((sum, check) => sum + check.source.rows, 0);
  const what = `${report.tables.length} tables, ${rows} row${rows === 1 ? '' : 's'}`;
  print(
    io.stdout,
    report.copied
      ? `Copied ${report.source} to ${report.target} (${what}) in ${seconds(report.durationMs)} s, then compared them:`
      : `Compared ${report.source} with ${report.target} (${what}) in ${seconds(report.durationMs)} s:`,
  );
  print(io.stdout, '');
  print(io.stdout, table([['TABLE', 'ROWS', 'CHECKSUM (SHA-256)', 'NEXT ID', 'CHECK'], ...report.tables.map(row)]));
  print(io.stdout, '');
  if (report.postgresOnly.length) print(io.stdout, `Only PostgreSQL has ${report.postgresOnly.join(', ')}: left as they are, not compared.`);
  const differ = report.tables.filter((check) => !check.ok);
  if (!differ.length) {
    print(io.stdout, 'Every table matches: the same rows with the same checksum on both sides, and generated ids continue past every id the source gave.');
    return;
  }
  print(
    io.stdout,
    `${differ.length} of ${report.tables.length} tables differ (${differ.map((check) => check.table).join(', ')}): ${report.target} is not a faithful copy of ${report.source}. Do not start nodes on it; copy again with --force (with every node stopped).`,
  );
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseFlags(
    argv,
    { ...dataFlag, ...jsonFlag, to: { type: 'string' }, from: { type: 'string' }, force: { type: 'boolean' }, 'verify-only': { type: 'boolean' }, 'database-ca': { type: 'string' } },
    false,
  );
  if (Boolean(values.to) === Boolean(values.from)) {
    throw new SwitchboardError('BAD_REQUEST', 'give one of --to postgres://… (SQLite into PostgreSQL) or --from postgres://… (PostgreSQL into SQLite)');
  }
  const toPostgres = Boolean(values.to);
  const flag = toPostgres ? '--to' : '--from';
  const url = postgresUrl((values.to ?? values.from) as string, flag);
  const verifyOnly = values['verify-only'] ?? false;
  // The environment's database URL is the nodes' setting, not this command's: --to or --from names the database.
  const { SWITCHBOARD_DATABASE_URL: _ignored, ...env } = io.env;
  const settings = resolveSettings({ ...(values.data ? { data: values.data } : {}), ...(values['database-ca'] ? { 'database-ca': values['database-ca'] } : {}) }, env, io.cwd);
  const file = databaseFile(settings.dataDir);

  // The SQLite source is locked first (a running server is the likeliest refusal); a SQLite target is made
  // only once PostgreSQL has been reached, so a wrong URL leaves no empty file behind.
  let sqlite: SqliteSide | undefined;
  let postgres: PostgresSide | undefined;
  try {
    if (toPostgres) sqlite = SqliteSide.open(file, { create: false, checkReferences: true });
    postgres = await PostgresSide.open(url, { caFile: settings.databaseCa, setting: flag });
    sqlite ??= SqliteSide.open(file, { create: !verifyOnly, checkReferences: false });
    const plan = planTables(sqlite.schema(), await postgres.schema());
    const [source, target] = toPostgres ? [sqlite, postgres] : [postgres, sqlite];
    const report = await copyDatabase(source, target, plan, {
      force: values.force ?? false,
      verifyOnly,
      onNotice: (text) => print(io.stderr, `warning: ${text}`),
      ...((io.stderr as { isTTY?: boolean }).isTTY ? { onProgress: (name: string, rows: number) => print(io.stderr, `copying ${name} (${rows} rows)`) } : {}),
    });
    if (values.json) {
      const { durationMs, ...facts } = report;
      printJson(io.stdout, { ...facts, seconds: Number(seconds(durationMs)) });
    } else {
      printReport(report, io);
    }
    return report.ok ? EXIT.ok : EXIT.problems;
  } finally {
    await sqlite?.close();
    await postgres?.close();
  }
}
