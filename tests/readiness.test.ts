/**
 * /readyz tells the truth about the node: not ready without an account, with
 * a database that refuses writes, or with a disk below the free space it must
 * keep, each with a reason `switchboard status` prints. One account's trouble
 * (its phone system unreachable, its secret missing) is shown for that
 * account in the detail, `status` and the metrics, and the node stays ready.
 */
import path from 'node:path';

import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';

import { raw, sql } from '../engine/store/sql.ts';
import { runCli } from './helpers/cli.ts';
import { eventually, startTestServer, tempDir, type TestServer, type TestServerOptions } from './helpers/server.ts';
import { basicManifests, testToolKinds } from './helpers/test-tools.ts';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

interface Ready {
  status: string;
  checks: Record<string, boolean>;
  reasons: string[];
  manifests: { accounts: number };
  storage: { free_bytes: number | null; min_free_bytes: number; database_error: string | null; disk_error: string | null };
  phone_systems: { account: string; state: string; reason: string | null }[];
}
const readyz = async () => {
  const response = await fetch(new URL('/readyz', server!.url));
  return { code: response.status, body: (await response.json()) as Ready };
};
const start = async (options: TestServerOptions = {}) => {
  server = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds, ...options });
};

it('is ready with accounts, a writable database and room on the disk', async () => {
  await start();
  const { code, body } = await readyz();
  expect(code).toBe(200);
  expect(body.checks).toEqual({ manifests: true, database: true, disk: true, accepting: true });
  expect(body.reasons).toEqual([]);
  expect(body.storage.free_bytes).toBeGreaterThan(0);
  expect(body.storage).toMatchObject({ min_free_bytes: 64 * 1024 * 1024, database_error: null, disk_error: null });
});

it('stays ready while another process holds the write lock, and its probe write commits once the lock is let go', async () => {
  await start();
  const other = new BetterSqlite3(path.join(server!.dataDir, 'switchboard.db'));
  other.exec('BEGIN IMMEDIATE');
  try {
    // A backup or a sqlite3 shell writing for a moment is no fault of this node: the probe's write waits for it off the event loop.
    const { code, body } = await readyz();
    expect(code).toBe(200);
    expect(body.checks).toEqual({ manifests: true, database: true, disk: true, accepting: true });
  } finally {
    other.exec('COMMIT');
    other.close();
  }
  const probed = await eventually(async () => (await server!.running.services.store.get<{ checked_at: number }>(sql`SELECT checked_at FROM readiness_probe`)) ?? undefined);
  expect(probed.checked_at).toBeGreaterThan(0);
});

describe('not ready', () => {
  it('with no account loaded: an empty or missing manifests directory on start', async () => {
    await start({ personas: {} });
    const empty = await readyz();
    expect(empty.code).toBe(503);
    expect(empty.body.checks.manifests).toBe(false);
    expect(empty.body.reasons).toEqual(['no account is loaded, so every call would be refused']);
    await server!.close();

    await start({ settings: { personasDir: path.join(tempDir('readiness'), 'nowhere') } });
    const missing = await readyz();
    expect(missing.code).toBe(503);
    expect(missing.body.manifests.accounts).toBe(0);
    const status = await runCli(['status', '--url', server!.url]);
    expect(status.stdout).toContain('not_ready at');
    expect(status.stdout).toContain('  not ready: no account is loaded');
    expect(status.stdout).toMatch(/the manifests directory .*nowhere does not exist/);
    expect(status.code).toBe(2);
  });

  it('while the database refuses writes, and ready again once it takes them', async () => {
    await start();
    const { store } = server!.running.services;
    // What a read-only remount or a file that can no longer be written does to SQLite's writes, with its
    // message, made here by triggers on the probe's table: the engine's write connection is its worker's.
    const refuse = (event: string) => sql`CREATE TRIGGER refuse_${raw(event)} BEFORE ${raw(event)} ON readiness_probe BEGIN SELECT RAISE(ABORT, 'attempt to write a readonly database'); END`;
    await store.run(refuse('INSERT'));
    await store.run(refuse('UPDATE'));
    const refused = await eventually(async () => {
      const ready = await readyz();
      return ready.code === 503 ? ready : undefined;
    }, 5000, 'not ready');
    expect(refused.body.checks).toMatchObject({ database: false, manifests: true, disk: true });
    expect(refused.body.reasons).toEqual(['the database cannot be written: attempt to write a readonly database']);
    expect(refused.body.storage.database_error).toBe('attempt to write a readonly database');
    await store.run(sql`DROP TRIGGER refuse_INSERT`);
    await store.run(sql`DROP TRIGGER refuse_UPDATE`);
    await eventually(async () => ((await readyz()).code === 200 ? true : undefined), 5000, 'ready again');
  });

  it('while the disk has less free space than it must keep', async () => {
    // More than any disk this runs on holds: the free space found is below it.
    await start({ settings: { minFreeDiskMb: 1_000_000_000 } });
    const { code, body } = await readyz();
    expect(code).toBe(503);
    expect(body.checks).toMatchObject({ disk: false, database: true, manifests: true });
    expect(body.reasons).toHaveLength(1);
    expect(body.reasons[0]).toMatch(/^the data directory's disk has \d+ MiB free, less than the 1000000000 MiB it must keep \(--min-free-disk-mb\)$/);
    const status = await runCli(['status', '--url', server!.url]);
    expect(status.stdout).toMatch(/not ready: the data directory's disk has \d+ MiB free/);
    expect(status.code).toBe(2);
  });
});

it("stays ready when one account's phone system is down for a missing secret, and shows it for that account", async () => {
  await start({
    personas: {
      ...basicManifests,
      'globex/account.yaml': `${basicManifests['globex/account.yaml']}call_control:\n  driver: webhook\n  url: https://pbx.example.com/switchboard\n  secret: GLOBEX_PBX_SECRET\n`,
    },
  });
  const { code, body } = await readyz();
  expect(code).toBe(200);
  expect(body.reasons).toEqual([]);
  expect(body.phone_systems.find((entry) => entry.account === 'globex')).toMatchObject({ state: 'down', reason: 'secret GLOBEX_PBX_SECRET is not set (environment variable or secrets file)' });
  const status = await runCli(['status', '--url', server!.url]);
  expect(status.stdout).toContain('ready at');
  expect(status.stdout).toContain('globex: webhook down (secret GLOBEX_PBX_SECRET is not set (environment variable or secrets file))');
  // Ready, and still something to fix: the secret is listed with what fails without it, and status exits 1.
  expect(status.stdout).toContain('  globex: GLOBEX_PBX_SECRET for call control (webhook): the webhook driver cannot reach the phone system, so transfers and hang-ups fail at once\n');
  expect(status.code).toBe(1);
  const metrics = await (await fetch(new URL('/metrics', server!.url))).text();
  expect(metrics).toContain('switchboard_call_control_up{account="globex",driver="webhook"} 0');
});
