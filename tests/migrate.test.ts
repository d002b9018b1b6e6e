/**
 * `switchboard migrate`, end to end: a node's SQLite file, filled through a
 * real server (keys, contacts, DND, a lead with its case, transfers with
 * their commands and events, the audit rows of every tool call), copied into
 * a fresh PostgreSQL database and compared (every row read back through
 * another driver equals the source's); refused while the server has the file
 * open and into a database that holds data unless --force; a copy altered
 * afterwards found by --verify-only; a server on PostgreSQL that finds the
 * data (an old key works, lookup_contact finds the contact, the lead is
 * listed, a new command's id continues past every id the SQLite node gave);
 * migrate --from refused while that server runs; and the way back into an
 * empty data directory, where a server on SQLite finds everything again.
 */
import fs from 'node:fs';
import path from 'node:path';

import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';

import type { CopyReport } from '../engine/store/copy/copy.ts';
import { openDatabase } from '../engine/store/database.ts';
import { admin } from './helpers/admin.ts';
import { runCli } from './helpers/cli.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { SseConsumer } from './helpers/pbx.ts';
import { callHeaders, connect, eventually, startTestServer, tempDir, textOf, type TestServer } from './helpers/server.ts';

const manifests: Record<string, string> = {
  'acme/account.yaml': `
account_id: acme
timezone: America/New_York
users:
  - { id: u-100, name: Dana Reyes, extension: "100" }
  - { id: u-101, name: Sam Ortiz, extension: "101" }
transfer_policy:
  allow: ["1XX", "+1NXXNXXXXXX"]
call_control:
  driver: events
  timeout_seconds: 5
`,
  'acme/front-desk.yaml': 'persona_id: front-desk\n',
};

let database: Awaited<ReturnType<typeof freshDatabase>>;
let url: string;
const cleanup: string[] = [];
let mcpKey: string;
let adminKey: string;
let dataDir: string;
let file: string;

const INT8 = 20;
const numbers = { getTypeParser: (oid: number, format?: string) => (oid === INT8 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) };

async function withPostgres<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  return withPostgresAt(url, work);
}

async function withPostgresAt<T>(at: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: at });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const sorted = (rows: unknown[][]): unknown[][] => rows.map((row) => JSON.stringify(row)).sort().map((row) => JSON.parse(row) as unknown[]);

/** Every row of every table, as each database holds it, read by its own driver. */
async function tablesOf(sqliteFile: string): Promise<{ sqlite: Record<string, unknown[][]>; postgres: Record<string, unknown[][]> }> {
  const db = new BetterSqlite3(sqliteFile, { readonly: true });
  const sqlite: Record<string, unknown[][]> = {};
  const columns: Record<string, string[]> = {};
  try {
    const names = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations'").all();
    for (const { name } of names) {
      columns[name] = db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${name}')`).all().map((column) => column.name);
      sqlite[name] = sorted(db.prepare(`SELECT * FROM "${name}"`).raw(true).all() as unknown[][]);
    }
  } finally {
    db.close();
  }
  const postgres = await withPostgres(async (client) => {
    const tables: Record<string, unknown[][]> = {};
    for (const [name, names] of Object.entries(columns)) {
      const result = await client.query<Record<string, unknown>>({ text: `SELECT * FROM "${name}"`, types: numbers });
      tables[name] = sorted(result.rows.map((row) => names.map((column) => row[column])));
    }
    return tables;
  });
  return { sqlite, postgres };
}

const migrate = async (...args: string[]) => {
  const result = await runCli(['migrate', ...args]);
  return { ...result, report: args.includes('--json') && result.stdout ? (JSON.parse(result.stdout) as CopyReport) : undefined };
};

beforeAll(async () => {
  database = await freshDatabase();
  url = database.url;
});
afterAll(async () => {
  for (const dir of cleanup) fs.rmSync(dir, { recursive: true, force: true });
  await database?.drop();
});

/** A server on `settings`' database; closed without removing the data directory, which the next step reads. */
async function serve(settings: Record<string, unknown>): Promise<TestServer> {
  const server = await startTestServer({ personas: manifests, settings: { rateLimitPerSecond: 0, ...settings } });
  // The server's own temporary directory (its manifests, and its data unless settings name another).
  cleanup.push(path.dirname(server.personasDir));
  return server;
}

let lastCommandId = 0;

it('copies a node filled through a real server into PostgreSQL, refusing while the server has the file open, and every row is the same there', async () => {
  const server = await serve({});
  dataDir = server.dataDir;
  file = path.join(dataDir, 'switchboard.db');
  mcpKey = await server.key('acme');
  adminKey = await server.key('acme', 'admin');
  const consumer = await SseConsumer.connect(server.url, 'acme', adminKey);
  try {
    expect((await admin(server, adminKey, 'POST', 'acme/contacts', { name: 'Ada Lovelace', company: 'Analytical Engines', phone_numbers: ['(212) 555-0111'] })).status).toBe(201);
    expect((await admin(server, adminKey, 'PUT', 'acme/users/u-101/dnd', { reason: 'dentist appointment' })).status).toBe(200);

    const client = await connect(server, callHeaders({ key: mcpKey, call: 'call-1', caller: '(212) 555-0142' }));
    try {
      const lead = await client.callTool({ name: 'create_lead', arguments: { name: 'Jane Doe', intent: 'Quote for a water heater', classification: 'lead' } });
      expect(lead.isError).toBeFalsy();
      expect(textOf(await client.callTool({ name: 'lookup_contact', arguments: { phone_number: '+12125550111' } }))).toContain('Ada Lovelace');
      const transfer = client.callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
      const command = await consumer.next();
      await consumer.ack(command.id, true);
      expect(textOf(await transfer)).toContain('transferred');
    } finally {
      await client.close();
    }
    const busy = await connect(server, callHeaders({ key: mcpKey, call: 'call-2', caller: '+12125550199' }));
    try {
      const transfer = busy.callTool({ name: 'transfer_call', arguments: { destination_number: '101' } });
      const command = await consumer.next();
      await consumer.ack(command.id, false, 'busy line');
      expect((await transfer).isError).toBe(true);
    } finally {
      await busy.close();
    }
    // Every tool call's audit row is written before the copy.
    await eventually(async () => ((await admin(server, adminKey, 'GET', 'acme/audit?limit=50')).json.entries.length >= 4 ? true : undefined));

    const refused = await migrate('--to', url, '--data', dataDir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(`switchboard migrate: ${file} is in use: a switchboard server (or a CLI command, or a sqlite3 shell) has it open. Stop it first: migrate copies a database nobody writes, and keeps it locked while it copies so that no server starts on it meanwhile\n`);
  } finally {
    consumer.close();
    await server.running.close();
  }

  // Ids handed out and gone (events deleted with their rows) must not be handed out again on PostgreSQL.
  const source = new BetterSqlite3(file);
  try {
    source.prepare("UPDATE sqlite_sequence SET seq = seq + 10 WHERE name = 'call_events'").run();
    lastCommandId = (source.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'call_commands'").get() as { seq: number }).seq;
  } finally {
    source.close();
  }
  expect(lastCommandId).toBe(2);

  const copied = await migrate('--to', url, '--data', dataDir, '--json');
  expect(copied.stderr).toBe('');
  expect(copied.code).toBe(0);
  const report = copied.report as CopyReport;
  expect(report).toMatchObject({ source: file, target: `PostgreSQL ${new URL(url).host}${new URL(url).pathname}`, copied: true, replaced: [], ok: true });
  const byTable = Object.fromEntries(report.tables.map((check) => [check.table, check]));
  for (const check of report.tables) {
    expect(check.ok, check.table).toBe(true);
    expect(check.target).toEqual(check.source);
  }
  expect(Object.fromEntries(['leads', 'lead_cases', 'contacts', 'contact_phones', 'user_dnd', 'calls', 'call_commands'].map((name) => [name, byTable[name]?.source.rows]))).toEqual({
    leads: 1,
    lead_cases: 1,
    contacts: 1,
    contact_phones: 1,
    user_dnd: 1,
    calls: 2,
    call_commands: 2,
  });
  expect(byTable.api_keys?.source.rows).toBe(3);
  expect(byTable.audit_log?.source.rows).toBeGreaterThanOrEqual(4);
  expect(byTable.call_events?.source.rows).toBeGreaterThanOrEqual(6);
  // Parents before children.
  const order = report.tables.map((check) => check.table);
  expect(order.indexOf('leads')).toBeLessThan(order.indexOf('lead_cases'));
  expect(order.indexOf('calls')).toBeLessThan(order.indexOf('call_commands'));
  expect(order.indexOf('contacts')).toBeLessThan(order.indexOf('contact_phones'));

  const { sqlite, postgres } = await tablesOf(file);
  expect(postgres).toEqual(sqlite);
  const events = sqlite.call_events as unknown[][];
  const maxEvent = Math.max(...events.map((row) => row[0] as number));
  expect(byTable.call_events?.nextId).toEqual({ target: maxEvent + 11, least: maxEvent + 11 });
  expect(byTable.call_commands?.nextId).toEqual({ target: lastCommandId + 1, least: lastCommandId + 1 });

  const text = await migrate('--to', url, '--data', dataDir, '--verify-only');
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(new RegExp(`^Compared ${file.replace(/[.]/g, '\\.')} with PostgreSQL .* \\(\\d+ tables, \\d+ rows\\) in [\\d.]+ s:\n\nTABLE +ROWS +CHECKSUM \\(SHA-256\\) +NEXT ID +CHECK\n`));
  expect(text.stdout).toMatch(/\nleads +1 +[0-9a-f]{16} +2 +ok\n/);
  expect(text.stdout).toContain('\nEvery table matches: the same rows with the same checksum on both sides, and generated ids continue past every id the source gave.\n');
});

it('finds a copy altered afterwards with --verify-only, and replaces a target that holds data only with --force', async () => {
  await withPostgres(async (client) => {
    await client.query("UPDATE leads SET name = 'Someone Else'");
    await client.query('DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)');
  });
  const verified = await migrate('--to', url, '--data', dataDir, '--verify-only', '--json');
  expect(verified.code).toBe(1);
  const report = verified.report as CopyReport;
  expect(report.copied).toBe(false);
  expect(report.tables.filter((check) => !check.ok).map((check) => check.table)).toEqual(['audit_log', 'leads']);
  const leads = report.tables.find((check) => check.table === 'leads');
  expect(leads?.target.rows).toBe(leads?.source.rows);
  expect(leads?.target.checksum).not.toBe(leads?.source.checksum);
  const audit = report.tables.find((check) => check.table === 'audit_log');
  expect(audit?.target.rows).toBe((audit?.source.rows ?? 0) - 1);

  const text = await migrate('--to', url, '--data', dataDir, '--verify-only');
  expect(text.code).toBe(1);
  expect(text.stdout).toMatch(/\nleads +1 +[0-9a-f]{16} → [0-9a-f]{16} +2 +DIFFERS\n/);
  expect(text.stdout).toContain(`2 of ${report.tables.length} tables differ (audit_log, leads): PostgreSQL`);

  const refused = await migrate('--to', url, '--data', dataDir);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toMatch(/^switchboard migrate: PostgreSQL \S+ already holds data \(api_keys: 3 rows, .*leads: 1 row.*\); copying into it would mix two databases\. Copy into an empty one, or pass --force/);

  const forced = await migrate('--to', url, '--data', dataDir, '--force', '--json');
  expect(forced.code).toBe(0);
  expect(forced.stderr).toMatch(/^warning: PostgreSQL \S+ holds data \(api_keys: 3 rows, .*\); --force: every table the copy fills is emptied and filled from /);
  expect(forced.report?.ok).toBe(true);
  expect(forced.report?.replaced).toContainEqual({ table: 'leads', rows: 1 });
  const { sqlite, postgres } = await tablesOf(file);
  expect(postgres).toEqual(sqlite);
});

it('serves the copied data from PostgreSQL: an old key works, the contact and the lead are found, and command ids continue', async () => {
  const server = await serve({ databaseUrl: url });
  const consumer = await SseConsumer.connect(server.url, 'acme', adminKey);
  try {
    // The keys came along: no first key is made.
    expect(server.logLines.some((line) => line.includes('"event":"bootstrap_key_created"'))).toBe(false);
    const client = await connect(server, callHeaders({ key: mcpKey, call: 'call-3', caller: '+12125550111' }));
    try {
      expect(textOf(await client.callTool({ name: 'lookup_contact', arguments: { phone_number: '(212) 555-0111' } }))).toBe('Contact found: Ada Lovelace, company Analytical Engines, phone number +1 212 555 0111; source: native.');
      expect(textOf(await client.callTool({ name: 'check_user_availability', arguments: { user_id: 'Sam' } }))).toBe('Sam Ortiz is on Do-Not-Disturb and cannot take calls now.');
      const transfer = client.callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
      const command = await consumer.next();
      expect(Number(command.id)).toBe(lastCommandId + 1);
      await consumer.ack(command.id, true);
      expect((await transfer).isError).toBeFalsy();
    } finally {
      await client.close();
    }
    const leads = (await admin(server, adminKey, 'GET', 'acme/leads')).json;
    expect(leads.leads).toHaveLength(1);
    expect(leads.leads[0]).toMatchObject({ name: 'Jane Doe', phone_number: '+12125550142' });
    expect(leads.leads[0].cases).toEqual([expect.objectContaining({ call_id: 'call-1', intent: 'Quote for a water heater' })]);
    const call = (await admin(server, adminKey, 'GET', 'acme/calls/call-1')).json;
    expect(call.commands.map((command: { id: number; status: string }) => [command.id, command.status])).toEqual([[1, 'succeeded']]);

    // Nodes are using the database: it is not copied back.
    const busyDir = tempDir('migrate-busy');
    cleanup.push(busyDir);
    const refused = await migrate('--from', url, '--data', busyDir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^switchboard migrate: PostgreSQL \S+ is in use: \d+ other connections? to the database \(.*switchboard from 127\.0\.0\.1.*\)\. Stop every switchboard node that uses it/);
  } finally {
    consumer.close();
    await server.running.close();
  }
});

it('copies PostgreSQL back into an empty data directory, where a server on SQLite finds everything', async () => {
  const back = tempDir('migrate-back');
  cleanup.push(back);
  const backFile = path.join(back, 'switchboard.db');
  const copied = await migrate('--from', url, '--data', back, '--json');
  expect(copied.stderr).toBe('');
  expect(copied.code).toBe(0);
  const report = copied.report as CopyReport;
  expect(report).toMatchObject({ source: expect.stringMatching(/^PostgreSQL /), target: backFile, copied: true, ok: true });
  expect(report.tables.find((check) => check.table === 'call_commands')?.source.rows).toBe(lastCommandId + 1);
  const { sqlite, postgres } = await tablesOf(backFile);
  expect(sqlite).toEqual(postgres);

  // A second copy into the same directory would mix the two.
  const again = await migrate('--from', url, '--data', back);
  expect(again.code).toBe(2);
  expect(again.stderr).toContain(`switchboard migrate: ${backFile} already holds data (`);
  // --force replaces it; the ids SQLite remembers handing out (AUTOINCREMENT) are those PostgreSQL gave.
  const replaced = await migrate('--from', url, '--data', back, '--force', '--json');
  expect(replaced.code).toBe(0);
  expect(replaced.stderr).toMatch(new RegExp(`^warning: ${backFile.replace(/[.]/g, '\\.')} holds data \\(api_keys: 3 rows, `));
  expect(replaced.report?.ok).toBe(true);
  expect(replaced.report?.tables.map((check) => check.source)).toEqual(report.tables.map((check) => check.source));

  const server = await serve({ dataDir: back });
  const consumer = await SseConsumer.connect(server.url, 'acme', adminKey);
  try {
    const client = await connect(server, callHeaders({ key: mcpKey, call: 'call-4', caller: '+12125550111' }));
    try {
      expect(textOf(await client.callTool({ name: 'lookup_contact', arguments: { phone_number: '(212) 555-0111' } }))).toContain('Ada Lovelace');
      const transfer = client.callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
      const command = await consumer.next();
      // SQLite's AUTOINCREMENT took over where PostgreSQL's sequence was.
      expect(Number(command.id)).toBe(lastCommandId + 2);
      await consumer.ack(command.id, true);
      await transfer;
    } finally {
      await client.close();
    }
    expect((await admin(server, adminKey, 'GET', 'acme/calls/call-3')).json.call).toMatchObject({ state: 'transferred' });
    expect((await admin(server, adminKey, 'GET', 'acme/leads')).json.leads).toHaveLength(1);
  } finally {
    consumer.close();
    await server.running.close();
  }
});

it('refuses what it cannot copy faithfully, and a copy that fails halfway leaves the target as it was', async () => {
  const target = await freshDatabase();
  const dir = tempDir('migrate-refused');
  cleanup.push(dir);
  const sourceFile = path.join(dir, 'switchboard.db');
  const rowsIn = (targetUrl: string) =>
    withPostgresAt(targetUrl, async (client) => {
      const tables = (await client.query<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name <> 'schema_migrations'")).rows;
      let total = 0;
      for (const { name } of tables) total += Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM "${name}"`)).rows[0]?.n);
      return total;
    });
  try {
    const db = openDatabase(sourceFile);
    db.prepare("INSERT INTO api_keys (id, account_id, role, hash, created_at) VALUES ('key_1', 'acme', 'mcp', 'hash-1', 1)").run();
    // A value PostgreSQL cannot hold in text: it refuses the row after api_keys has been copied.
    db.prepare("INSERT INTO leads (id, account_id, phone_e164, name, created_call_id, created_at, updated_at) VALUES ('ld_1', 'acme', '+12125550142', ?, 'call-1', 1, 1)").run('Jane\u0000Doe');
    db.close();

    const failed = await migrate('--to', target.url, '--data', dir);
    expect(failed.code).toBe(2);
    expect(failed.stderr).toMatch(/^switchboard migrate: copying table leads failed: invalid byte sequence for encoding "UTF8": 0x00\. Nothing was copied: PostgreSQL \S+ is as it was\n$/);
    expect(await rowsIn(target.url)).toBe(0);

    const edit = new BetterSqlite3(sourceFile);
    edit.prepare("UPDATE leads SET name = 'Jane Doe'").run();
    // A case whose lead is gone (written with the foreign keys off): PostgreSQL would refuse it.
    edit.pragma('foreign_keys = OFF');
    edit.prepare("INSERT INTO lead_cases (id, lead_id, account_id, persona_id, call_id, name, intent, created_at, updated_at) VALUES ('cs_1', 'ld_gone', 'acme', 'front-desk', 'call-9', 'Nobody', 'x', 1, 1)").run();
    edit.close();
    const orphans = await migrate('--to', target.url, '--data', dir);
    expect(orphans.code).toBe(2);
    expect(orphans.stderr).toBe(`switchboard migrate: ${sourceFile} has rows that refer to rows that do not exist (1 of lead_cases to leads); PostgreSQL would refuse them. Nothing was copied\n`);

    const fix = new BetterSqlite3(sourceFile);
    fix.prepare('DELETE FROM lead_cases').run();
    // A column this version of the PostgreSQL schema does not have would be lost.
    fix.prepare('ALTER TABLE leads ADD COLUMN nickname TEXT').run();
    fix.close();
    const differ = await migrate('--to', target.url, '--data', dir);
    expect(differ.code).toBe(2);
    expect(differ.stderr).toBe(
      'switchboard migrate: the SQLite and PostgreSQL schemas differ: table leads has columns only SQLite has (nickname). Both must come from the same version of switchboard (each applies its migrations when opened); nothing was copied\n',
    );
    expect(await rowsIn(target.url)).toBe(0);

    const usage = await migrate('--data', dir);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe('switchboard migrate: give one of --to postgres://… (SQLite into PostgreSQL) or --from postgres://… (PostgreSQL into SQLite)\n');
    const notPostgres = await migrate('--to', 'mysql://db.example/switchboard', '--data', dir);
    expect(notPostgres.stderr).toBe('switchboard migrate: --to must be a postgres:// URL with a host and a database, such as postgres://switchboard@db.example:5432/switchboard\n');
    const missing = await migrate('--to', target.url, '--data', path.join(dir, 'nothing-here'));
    expect(missing.stderr).toBe(`switchboard migrate: no database at ${path.join(dir, 'nothing-here', 'switchboard.db')}; point --data (SWITCHBOARD_DATA) at the node's data directory\n`);
    expect(fs.existsSync(path.join(dir, 'nothing-here'))).toBe(false);
  } finally {
    await target.drop();
  }
});
