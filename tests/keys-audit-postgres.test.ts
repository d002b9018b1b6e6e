/**
 * A whole server on PostgreSQL, through its real interfaces: the first key
 * made at start, a key that authenticates a tool call, a wrong key refused,
 * the call read back from the audit trail through the admin API and
 * `switchboard audit --database`, a key revoked by `switchboard keys revoke
 * --database` refused within the verify cache's second, and /readyz proving
 * a committed write: ready, then not ready while the database takes no writes
 * (what a failover onto a read-only standby looks like), then ready again.
 * The rows are in PostgreSQL, not in the SQLite file.
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { auditRows, type ErrorBody } from './helpers/admin.ts';
import { runCli } from './helpers/cli.ts';
import { serverDatabase } from './helpers/engines.ts';
import { initializeBody, post, rpcError } from './helpers/http.ts';
import { postgresUrl } from './helpers/postgres.ts';
import { callHeaders, connect, eventually, startTestServer, textOf, type TestServer } from './helpers/server.ts';
import { basicManifests, sensitiveToolKinds } from './helpers/test-tools.ts';

let database: Awaited<ReturnType<typeof serverDatabase>>;
let server: TestServer;
let url: string;

interface Ready {
  status: string;
  checks: Record<string, boolean>;
  reasons: string[];
  storage: { free_bytes: number | null; database_error: string | null; disk_error: string | null };
}
const readyz = async () => {
  const response = await fetch(new URL('/readyz', server.url));
  return { code: response.status, body: (await response.json()) as Ready };
};

/** Runs SQL as the cluster's owner, outside the database under test. */
async function asOwner(text: string): Promise<void> {
  const owner = new pg.Client({ connectionString: postgresUrl() });
  await owner.connect();
  try {
    await owner.query(text);
  } finally {
    await owner.end();
  }
}

beforeAll(async () => {
  database = await serverDatabase('postgres');
  url = database.settings.databaseUrl as string;
  server = await startTestServer({ personas: basicManifests, toolKinds: sensitiveToolKinds, settings: { ...database.settings, rateLimitPerSecond: 0 } });
});
afterAll(async () => {
  await server?.close();
  await database?.drop();
});

it('authenticates a tool call, audits it where the admin API and the CLI read it, and refuses a key revoked by the CLI', async () => {
  expect(server.logLines.some((line) => line.includes('"event":"bootstrap_key_created"'))).toBe(true);
  const key = await server.key('acme');
  const admin = await server.key('acme', 'admin');

  const wrong = await post(server, callHeaders({ key: `${key}x` }), initializeBody());
  expect(wrong.status).toBe(401);
  expect(rpcError(wrong)?.data?.code).toBe('AUTH_KEY_INVALID');

  const client = await connect(server, callHeaders({ key, call: 'pg-audit-1' }), 'modern');
  try {
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'on postgres' } }))).toBe('echo: on postgres');
    await client.callTool({ name: 'echo_pin', arguments: { text: 'pin check', pin: '13579' } });
  } finally {
    await client.close();
  }

  const rows = await auditRows(server, admin, { call: 'pg-audit-1' }, 2);
  expect(rows.map((row) => [row.tool, row.arguments, row.text, row.status])).toEqual([
    ['echo_pin', { text: 'pin check', pin: '[redacted]' }, 'echo: pin check', 'ok'],
    ['echo', { text: 'on postgres' }, 'echo: on postgres', 'ok'],
  ]);
  const foreign = await fetch(new URL('/ucp/v2/accounts/globex/audit', server.url), { headers: { 'X-API-Key': admin } });
  expect(foreign.status).toBe(403);
  expect(((await foreign.json()) as ErrorBody).error.code).toBe('AUTH_WRONG_ACCOUNT');

  // The CLI reads the same rows from PostgreSQL (the SQLite file in --data holds none of them).
  const cli = await runCli(['audit', '--account', 'acme', '--call', 'pg-audit-1', '--json', '--data', server.dataDir, '--database', url]);
  expect(cli.stderr).toBe('');
  expect((JSON.parse(cli.stdout) as { entries: { tool: string }[] }).entries.map((entry) => entry.tool)).toEqual(['echo_pin', 'echo']);
  const sqliteOnly = await runCli(['audit', '--account', 'acme', '--call', 'pg-audit-1', '--data', server.dataDir]);
  expect(sqliteOnly.stdout).toBe('No audit rows for account acme match.\n');

  const direct = new pg.Client({ connectionString: url });
  await direct.connect();
  try {
    expect((await direct.query("SELECT tool FROM audit_log WHERE call_id = 'pg-audit-1' ORDER BY id")).rows).toEqual([{ tool: 'echo' }, { tool: 'echo_pin' }]);
    const ids = (await direct.query<{ id: string }>("SELECT id FROM api_keys WHERE account_id = 'acme' AND role = 'mcp' AND name IS NULL")).rows.map((row) => row.id);
    expect(ids).toHaveLength(1);

    const revoked = await runCli(['keys', 'revoke', ids[0] as string, '--database', url]);
    expect(revoked.stdout).toBe(`Revoked key ${ids[0]} of account acme.\n`);
  } finally {
    await direct.end();
  }
  const refused = await eventually(async () => {
    const response = await post(server, callHeaders({ key }), initializeBody());
    return response.status === 401 ? response : undefined;
  });
  expect(rpcError(refused)?.message).toBe('Invalid or revoked API key');
});

it('is ready while PostgreSQL takes a committed write, and not while it takes none', async () => {
  const ready = await readyz();
  expect(ready.code).toBe(200);
  expect(ready.body.checks).toEqual({ manifests: true, database: true, disk: true, accepting: true });
  // The disk is the database server's: no free space of this node's to report.
  expect(ready.body.storage).toEqual({ free_bytes: null, min_free_bytes: 64 * 1024 * 1024, database_error: null, disk_error: null });

  const name = new URL(url).pathname.slice(1);
  const reconnect = `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}' AND pid <> pg_backend_pid()`;
  // New sessions of the database are read-only, as on a standby; the pool's open ones are ended so that it opens new ones.
  await asOwner(`ALTER DATABASE ${name} SET default_transaction_read_only = on`);
  await asOwner(reconnect);
  try {
    // The probe that meets a connection being ended says the database does not answer; the next ones reach the read-only sessions.
    const refused = await eventually(async () => {
      const answer = await readyz();
      return answer.code === 503 && !answer.body.reasons.includes('the database does not answer') ? answer : undefined;
    }, 10_000, 'not ready');
    expect(refused.body.checks).toMatchObject({ database: false, manifests: true, disk: true });
    expect(refused.body.reasons).toEqual(['the database cannot be written: cannot execute INSERT in a read-only transaction']);
  } finally {
    await asOwner(`ALTER DATABASE ${name} RESET default_transaction_read_only`);
    await asOwner(reconnect);
  }
  await eventually(async () => ((await readyz()).code === 200 ? true : undefined), 10_000, 'ready again');
});
