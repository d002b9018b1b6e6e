/**
 * `switchboard contacts sync` and `contacts sources` as an operator runs
 * them (the real CLI in a child process, real YAML and SQLite files, a fake
 * People API on loopback), alone and beside a running server that shares
 * the database; and the manifest checks of contact_sources.
 */
import path from 'node:path';

import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { systemClock } from '../engine/clock.ts';
import { accountYaml, lookup, secretEnv, statusOf, waitForState } from './helpers/contact-sources.ts';
import { FakeGoogle, person } from './helpers/fake-google.ts';
import { runCli } from './helpers/cli.ts';
import { startTestServer, tempDir, writeManifests } from './helpers/server.ts';

const credentials = { clientId: 'cli-client-id-4411.apps.example', clientSecret: 'GOCSPX-cli-secret-value', refreshToken: '1//cli-refresh-token-value' };
// The fake Google listens on loopback, which the outbound guard refuses unless allowed.
const env = { ...secretEnv('ACME_GOOGLE', credentials), SWITCHBOARD_OUTBOUND_ALLOW: '127.0.0.1' };

let google: FakeGoogle;
let personas: string;
let data: string;

const cli = (...args: string[]) => runCli(['contacts', ...args, '--account', 'acme', '--personas', personas, '--data', data], { env });

beforeAll(async () => {
  google = await new FakeGoogle(systemClock, credentials).start();
  google.connections.put('people/c1', person('Jane Doe', [['+1 212 555 0100', 'work']], 'Doe Plumbing'));
  google.connections.put('people/c2', person('Bob Stone', [['646 555 0142', 'mobile']]));
  google.connections.put('people/c3', person('Nobody', []));
  personas = tempDir('sources-cli-personas');
  data = tempDir('sources-cli-data');
  writeManifests(personas, {
    'acme/account.yaml': accountYaml('acme', 'US', [{ type: 'google', name: 'acme-google', secrets: 'ACME_GOOGLE', apiBaseUrl: google.url, tokenUrl: google.tokenUrl }]),
    'acme/front-desk.yaml': 'persona_id: front-desk\n',
    'bare/account.yaml': 'account_id: bare\ntimezone: UTC\n',
  });
});

afterAll(async () => google?.close());

describe('switchboard contacts sync and sources', () => {
  it('shows a source that never synced, syncs it, and shows the result', async () => {
    const before = await cli('sources');
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(/^NAME\s+TYPE\s+STATE\s+CONTACTS\s+LAST SUCCESS\s+NEXT ATTEMPT\nacme-google\s+google\s+pending\s+0\s+-\s+now\n$/);

    const sync = await cli('sync');
    expect(sync.stderr).toBe('');
    expect(sync.code).toBe(0);
    expect(sync.stdout).toBe('acme-google: full sync, 2 contacts (2 new, 0 updated, 0 unchanged, 0 removed, 1 left out without a name or a usable phone number).\n');

    const after = await cli('sources', '--json');
    expect(JSON.parse(after.stdout)).toMatchObject({ account: 'acme', sources: [{ name: 'acme-google', state: 'ok', contacts: 2, consecutive_failures: 0, last_result: { mode: 'full' } }] });

    const list = await cli('list', '--source', 'acme-google');
    expect(list.stdout).toContain('Jane Doe');
    expect(list.stdout).toContain('acme-google');
  });

  it('syncs incrementally, or fully with --full, and prints JSON', async () => {
    google.connections.remove('people/c2');
    const incremental = await cli('sync', '--json');
    expect(incremental.code).toBe(0);
    expect(JSON.parse(incremental.stdout)).toMatchObject({ account: 'acme', outcomes: [{ ok: true, source: 'acme-google', mode: 'incremental', deleted: 1, contacts: 1 }], conflicts: [] });
    const full = await cli('sync', '--full', '--source', 'acme-google', '--json');
    expect(JSON.parse(full.stdout).outcomes[0]).toMatchObject({ ok: true, mode: 'full', unchanged: 1, contacts: 1 });
  });

  it('exits 1 on a failed sync, names the problem and shows no secret', async () => {
    google.revoked = true;
    const failed = await cli('sync');
    google.revoked = false;
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^acme-google: sync failed \(auth\): the token endpoint answered 400 invalid_grant: Token has been expired or revoked; the refresh token was revoked or has expired: grant access again and update the refresh_token secret; the server tries again after \d{4}-/);
    const sources = await cli('sources');
    expect(sources.stdout).toMatch(/acme-google\s+google\s+failing\s+1 /);
    expect(sources.stdout).toContain('acme-google: 1 failed attempt, last at ');
    for (const output of [failed.stdout, failed.stderr, sources.stdout]) for (const secret of Object.values(credentials)) expect(output).not.toContain(secret);
  });

  it('refuses to sync a source another process is syncing', async () => {
    const db = new BetterSqlite3(path.join(data, 'switchboard.db'));
    db.prepare('UPDATE contact_source_state SET running_since = ?, running_owner = ? WHERE source = ?').run(Date.now(), 'another-process', 'acme-google');
    const busy = await cli('sync');
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain('acme-google: contact source acme-google of account acme is being synced already (since ');
    expect((await cli('sources')).stdout).toMatch(/acme-google\s+google\s+syncing/);
    db.prepare('UPDATE contact_source_state SET running_since = NULL, running_owner = NULL').run();
    db.close();
  });

  it('explains unknown sources and accounts without sources', async () => {
    const unknown = await cli('sync', '--source', 'outlook');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('switchboard contacts: account acme has no contact source outlook; its sources: acme-google\n');
    const bare = await runCli(['contacts', 'sync', '--account', 'bare', '--personas', personas, '--data', data]);
    expect(bare.code).toBe(0);
    expect(bare.stdout).toBe('Account bare has no contact_sources in its account.yaml.\n');
  });

  it('shares the database with a running server: a CLI sync shows in the server', async () => {
    const server = await startTestServer({ personas, env, settings: { outboundAllow: ['127.0.0.1'] } });
    try {
      const adminKey = await server.key('acme', 'admin');
      await waitForState(server, adminKey, 'acme', 'acme-google', 'ok');
      google.connections.put('people/c4', person('Dina Park', [['332 555 0101', 'work']]));
      const sync = await runCli(['contacts', 'sync', '--account', 'acme', '--personas', server.personasDir, '--data', server.dataDir], { env });
      expect(sync.stdout).toMatch(/^acme-google: incremental sync, 2 contacts \(1 new,/);
      expect(await statusOf(server, adminKey, 'acme', 'acme-google')).toMatchObject({ state: 'ok', contacts: 2, last_result: { mode: 'incremental', created: 1 } });
      const { data: found } = await lookup(server, await server.key('acme'), 'acme', 'front-desk', '332-555-0101');
      expect(found.contacts[0]).toMatchObject({ name: 'Dina Park', source: 'acme-google' });
    } finally {
      await server.close();
    }
  });
});

describe('contact_sources in account.yaml', () => {
  it('refuses the name native and properties of the other type', async () => {
    const dir = tempDir('sources-validate');
    writeManifests(dir, {
      'acme/account.yaml': [
        'account_id: acme',
        'timezone: UTC',
        'contact_sources:',
        '  - type: google',
        '    name: native',
        '    tenant: contoso.example',
        '    credentials: { client_id: A_ID, client_secret: A_SECRET, refresh_token: A_REFRESH }',
        '  - type: microsoft',
        '    other_contacts: true',
        '    credentials: { client_id: A_ID, client_secret: A_SECRET, refresh_token: A_REFRESH }',
        '',
      ].join('\n'),
    });
    const result = await runCli(['validate', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('acme/account.yaml:5:11: contact_sources[0].name: "native" is reserved for the account\'s own contacts; choose another name');
    expect(result.stdout).toContain('acme/account.yaml:6:13: contact_sources[0].tenant: tenant applies to microsoft sources only');
    expect(result.stdout).toContain('acme/account.yaml:9:21: contact_sources[1].other_contacts: other_contacts applies to google sources only');
  });
});
