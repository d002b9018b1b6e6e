import fs from 'node:fs';
import path from 'node:path';

import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { sql } from '../engine/store/sql.ts';
import { runCli } from './helpers/cli.ts';
import { callHeaders, connect, eventually, startTestServer, tempDir, type TestServer } from './helpers/server.ts';
import { basicManifests, testToolKinds } from './helpers/test-tools.ts';

let server: TestServer;
let outDir: string;

beforeAll(async () => {
  server = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds });
  outDir = tempDir('backup-out');
});
afterAll(async () => {
  await server.close();
  fs.rmSync(outDir, { recursive: true, force: true });
});

const auditCount = (db: BetterSqlite3.Database): number => (db.prepare('SELECT count(*) AS n FROM audit_log').get() as { n: number }).n;

it('copies the database while the server is writing; the copy opens, passes its check and has the rows', async () => {
  const client = await connect(server, callHeaders({ key: await server.key('acme'), call: 'during-backup' }), 'modern');
  let writing = true;
  let calls = 0;
  const writer = (async () => {
    while (writing) {
      await client.callTool({ name: 'echo', arguments: { text: `row ${calls}` } });
      calls += 1;
    }
  })();
  await eventually(async () => ((await server.running.services.store.get<{ n: number }>(sql`SELECT count(*) AS n FROM audit_log`))?.n ?? 0) >= 20 || undefined);

  const file = path.join(outDir, 'switchboard-backup.db');
  const result = await runCli(['backup', file, '--data', server.dataDir]);
  writing = false;
  await writer;
  await client.close();

  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/^Backed up .*switchboard\.db to .*switchboard-backup\.db: [\d.]+ KB in [\d.]+ s, integrity ok/);
  expect(fs.existsSync(`${file}-wal`)).toBe(false);
  expect(fs.readdirSync(outDir)).toEqual(['switchboard-backup.db']);

  const copy = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  try {
    expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(copy.pragma('journal_mode', { simple: true })).toBe('delete');
    expect(auditCount(copy)).toBeGreaterThanOrEqual(20);
    expect(copy.prepare("SELECT count(*) AS n FROM schema_migrations WHERE name = '008-audit'").get()).toEqual({ n: 1 });
    expect((copy.prepare('SELECT count(*) AS n FROM api_keys').get() as { n: number }).n).toBeGreaterThanOrEqual(1);
  } finally {
    copy.close();
  }
});

it('refuses to replace an existing file unless --force, and reports JSON with --json', async () => {
  const file = path.join(outDir, 'existing.db');
  fs.writeFileSync(file, 'not a database');
  const refused = await runCli(['backup', file, '--data', server.dataDir]);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain('exists; pass --force to replace it');
  expect(fs.readFileSync(file, 'utf8')).toBe('not a database');

  const forced = await runCli(['backup', file, '--force', '--json', '--data', server.dataDir]);
  expect(forced.code).toBe(0);
  const report = JSON.parse(forced.stdout) as { file: string; bytes: number; seconds: number; integrity: string };
  expect(report).toMatchObject({ file, integrity: 'ok', bytes: fs.statSync(file).size });
  const copy = new BetterSqlite3(file, { readonly: true });
  expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
  copy.close();
});

it('says so when there is no database or no such directory', async () => {
  const empty = tempDir('backup-empty');
  const noDatabase = await runCli(['backup', path.join(outDir, 'x.db'), '--data', empty]);
  expect(noDatabase.code).toBe(2);
  expect(noDatabase.stderr).toContain('no database at');
  const noDirectory = await runCli(['backup', path.join(outDir, 'missing', 'x.db'), '--data', server.dataDir]);
  expect(noDirectory.code).toBe(2);
  expect(noDirectory.stderr).toContain('does not exist');
  const noFile = await runCli(['backup', '--data', server.dataDir]);
  expect(noFile.code).toBe(2);
  expect(noFile.stderr).toContain('switchboard backup FILE');
  fs.rmSync(empty, { recursive: true, force: true });
});

it('refuses with PostgreSQL named (--database or SWITCHBOARD_DATABASE_URL) and points to pg_dump, never showing the URL', async () => {
  const file = path.join(outDir, 'postgres.db');
  const refusal =
    'switchboard backup: the data is in PostgreSQL (--database or SWITCHBOARD_DATABASE_URL is set) and backup copies only the SQLite file: back it up with pg_dump, e.g. pg_dump --format=custom --file=switchboard.dump "$SWITCHBOARD_DATABASE_URL" (docs/operations.md, Backups and restore)\n';
  const byFlag = await runCli(['backup', file, '--data', server.dataDir, '--database', 'postgres://switchboard:pg-s3cret@db.example:5432/switchboard']);
  expect(byFlag).toMatchObject({ code: 2, stdout: '', stderr: refusal });
  const byEnvironment = await runCli(['backup', file, '--data', server.dataDir], { env: { SWITCHBOARD_DATABASE_URL: 'postgres://switchboard:pg-s3cret@db.example:5432/switchboard' } });
  expect(byEnvironment).toMatchObject({ code: 2, stdout: '', stderr: refusal });
  expect(fs.existsSync(file)).toBe(false);
});
