/**
 * Contacts with a whole server on PostgreSQL, through its real interfaces:
 * `switchboard contacts import` (a child process, SWITCHBOARD_DATABASE_URL)
 * writes a file of more than two chunks into the database the server uses;
 * lookup_contact over MCP finds imported contacts and those the server's
 * background job synced from the fake People API, native ones first; the
 * admin API's sync trigger reads a change; a second node on the database
 * finds the same contacts and is refused a sync the first node runs; two
 * POSTs of one new person at once make one contact; and the rows are in
 * PostgreSQL.
 */
import fs from 'node:fs';
import path from 'node:path';

import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { systemClock } from '../engine/clock.ts';
import { IMPORT_CHUNK_ROWS } from '../engine/contacts/import.ts';
import { admin } from './helpers/admin.ts';
import { runCli } from './helpers/cli.ts';
import { accountYaml, lookup, secretEnv, statusOf, syncNow, waitForState } from './helpers/contact-sources.ts';
import { serverDatabase } from './helpers/engines.ts';
import { FakeGoogle, person } from './helpers/fake-google.ts';
import { startTestServer, tempDir, type TestServer } from './helpers/server.ts';

const credentials = { clientId: 'pg-client.apps.example', clientSecret: 'GOCSPX-pg-client-secret-value', refreshToken: '1//pg-refresh-token-value' };

let database: Awaited<ReturnType<typeof serverDatabase>>;
let google: FakeGoogle;
let server: TestServer;
let files: string;

beforeAll(async () => {
  database = await serverDatabase('postgres');
  google = await new FakeGoogle(systemClock, credentials).start();
  google.maxPageSize = 2;
  google.connections.put('people/c1', person('Jane Doe', [['(212) 555-0100', 'work']], 'Doe Plumbing'));
  google.connections.put('people/c2', person('Bob Stone', [['646-555-0142', 'mobile']]));
  google.connections.put('people/c3', person('Carla Ruiz', [['718 555 0199', 'home']]));
  server = await startTestServer({
    settings: { ...database.settings, outboundAllow: ['127.0.0.1'] },
    personas: {
      'acme/account.yaml': accountYaml('acme', 'US', [{ type: 'google', name: 'acme-google', secrets: 'ACME_GOOGLE', apiBaseUrl: google.url, tokenUrl: google.tokenUrl }]),
      'acme/front-desk.yaml': 'persona_id: front-desk\n',
    },
    env: secretEnv('ACME_GOOGLE', credentials),
  });
  files = tempDir('contacts-postgres');
});
afterAll(async () => {
  await server?.close();
  await google?.close();
  await database?.drop();
  if (files) fs.rmSync(files, { recursive: true, force: true });
});

it('imports into PostgreSQL, finds imported and synced contacts with lookup_contact, syncs on demand, and makes one contact of two POSTs at once', async () => {
  const key = await server.key('acme');
  const adminKey = await server.key('acme', 'admin');
  const databaseUrl = database.settings.databaseUrl!;

  // More than two chunks, a row that cannot be used, and a number Google has too.
  const rows = 2 * IMPORT_CHUNK_ROWS + 7;
  const lines = ['id,name,company,mobile', 'jd,Jane Doe,Doe Plumbing Supply,212 555 0100', 'broken,No Number,,not a number'];
  for (let i = 1; i < rows; i++) lines.push(`c-${i},Caller ${i},,+1 332 555 ${String(i).padStart(4, '0')}`);
  const file = path.join(files, 'book.csv');
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  const imported = await runCli(['contacts', 'import', '--account', 'acme', file, '--personas', server.personasDir, '--data', server.dataDir], { env: { SWITCHBOARD_DATABASE_URL: databaseUrl } });
  expect(imported.code, imported.stderr).toBe(1);
  expect(imported.stdout).toContain(`Imported ${rows} contacts into account acme from ${file} (csv): ${rows} new, 0 updated, 0 unchanged.`);
  expect(imported.stderr).toContain(`${file}: line 3: a contact needs at least one phone number`);

  const caller = await lookup(server, key, 'acme', 'front-desk', '(332) 555-1003');
  expect(caller.text).toBe('Contact found: Caller 1003, phone number +1 332 555 1003 (mobile); source: native.');
  expect((await lookup(server, key, 'acme', 'front-desk', '+1 332 555 9999')).data.found).toBe(false);

  // The background job synced the Google book at start-up; native contacts come first.
  await waitForState(server, adminKey, 'acme', 'acme-google', 'ok');
  expect((await lookup(server, key, 'acme', 'front-desk', '646 555 0142')).data.contacts).toEqual([
    { name: 'Bob Stone', company: null, phone_numbers: [{ number: '+16465550142', label: 'mobile' }], source: 'acme-google' },
  ]);
  const jane = await lookup(server, key, 'acme', 'front-desk', '212-555-0100');
  expect(jane.data.contacts.map((contact) => [contact.name, contact.company, contact.source])).toEqual([
    ['Jane Doe', 'Doe Plumbing Supply', 'native'],
    ['Jane Doe', 'Doe Plumbing', 'acme-google'],
  ]);

  google.connections.put('people/c4', person('Dina Park', [['917 555 0101', 'work']]));
  google.connections.remove('people/c3');
  expect(await syncNow(server, adminKey, 'acme', 'acme-google')).toMatchObject({ ok: true, mode: 'incremental', created: 1, deleted: 1, contacts: 3 });
  expect((await lookup(server, key, 'acme', 'front-desk', '917-555-0101')).data.contacts.map((contact) => contact.name)).toEqual(['Dina Park']);
  expect((await lookup(server, key, 'acme', 'front-desk', '718 555 0199')).data.found).toBe(false);
  expect(await statusOf(server, adminKey, 'acme', 'acme-google')).toMatchObject({ state: 'ok', contacts: 3, last_result: { mode: 'incremental' } });

  // A second node on the same database: it finds what the first wrote, and a sync the first runs holds the source for both.
  const second = await startTestServer({
    settings: { ...database.settings, outboundAllow: ['127.0.0.1'] },
    personas: { 'acme/account.yaml': fs.readFileSync(path.join(server.personasDir, 'acme/account.yaml'), 'utf8'), 'acme/front-desk.yaml': 'persona_id: front-desk\n' },
    env: secretEnv('ACME_GOOGLE', credentials),
  });
  try {
    expect((await lookup(second, key, 'acme', 'front-desk', '917-555-0101')).data.contacts.map((contact) => contact.name)).toEqual(['Dina Park']);
    let release!: () => void;
    // The first node's sync waits at its first page.
    google.fail({ hold: new Promise<void>((resolve) => (release = resolve)) });
    const started = await admin(server, adminKey, 'POST', 'acme/contact-sources/acme-google/sync', { full: true });
    expect(started.status, started.text).toBe(202);
    expect(started.json.source.state).toBe('syncing');
    const refused = await admin(second, adminKey, 'POST', 'acme/contact-sources/acme-google/sync', { wait: true });
    expect(refused.status).toBe(409);
    expect(refused.json.error.message).toMatch(/^contact source acme-google of account acme is being synced already \(since /);
    expect((await statusOf(second, adminKey, 'acme', 'acme-google')).state).toBe('syncing');
    release();
    const done = await waitForState(second, adminKey, 'acme', 'acme-google', 'ok');
    expect(done.last_result).toMatchObject({ mode: 'full', unchanged: 3 });
  } finally {
    await second.close();
  }

  // Two POSTs of one new person at once: the second adds to the first instead of making a twin.
  const posts = await Promise.all([
    admin(server, adminKey, 'POST', 'acme/contacts', { name: 'Eve Moss', phone_numbers: ['+1 415 555 0100'] }),
    admin(server, adminKey, 'POST', 'acme/contacts', { name: 'EVE MOSS', phone_numbers: ['+1 415 555 0100', { number: '+1 415 555 0101', label: 'mobile' }] }),
  ]);
  expect(posts.map((response) => response.status).sort()).toEqual([200, 201]);
  const eve = await lookup(server, key, 'acme', 'front-desk', '415 555 0100');
  expect(eve.data.contacts).toHaveLength(1);
  expect(eve.data.contacts[0]!.phone_numbers.map((phone) => phone.number)).toEqual(['+14155550100', '+14155550101']);

  // The rows are in PostgreSQL.
  const direct = new pg.Client({ connectionString: databaseUrl });
  await direct.connect();
  try {
    const counts = await direct.query<{ source: string; n: string }>("SELECT source, count(*) AS n FROM contacts WHERE account_id = 'acme' GROUP BY source ORDER BY source");
    expect(counts.rows).toEqual([
      { source: 'acme-google', n: '3' },
      { source: 'native', n: String(rows + 1) },
    ]);
    const state = await direct.query("SELECT running_owner, consecutive_failures FROM contact_source_state WHERE source = 'acme-google'");
    expect(state.rows).toEqual([{ running_owner: null, consecutive_failures: 0 }]);
  } finally {
    await direct.end();
  }
}, 60_000);
