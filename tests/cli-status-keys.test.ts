/**
 * `switchboard status` against a running server, and `switchboard keys`.
 */
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './helpers/cli.ts';
import { eventually, startTestServer, tempDir, writeManifests, type TestServer } from './helpers/server.ts';
import { basicManifests, testToolKinds } from './helpers/test-tools.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds });
});
afterAll(async () => server.close());

describe('switchboard status', () => {
  it('reports a ready server, then a broken file served from its last good version', async () => {
    const ok = await runCli(['status', '--url', server.url]);
    expect(ok.code).toBe(0);
    // Each account's phone system is listed; with no call-events consumer connected, the events driver is down and says why.
    expect(ok.stdout).toMatch(
      /^ready at http:\/\/127\.0\.0\.1:\d+\nmanifests: generation 1, loaded \S+, 2 accounts, 3 personas\nsessions: 0\ndisk: \d+ MiB free \(at least 64 MiB kept\)\nphone systems:\n {2}acme: events down \(no phone system is connected to the call-events stream\) since \S+\n {2}globex: events down \(no phone system is connected to the call-events stream\) since \S+\n$/,
    );

    writeManifests(server.personasDir, { 'acme/sales.yaml': 'persona_id: sales\nglobal_tools:\n  hangup_call: maybe\n' });
    await eventually(() => (server.running.registry.current().problems.length ? true : undefined));
    const broken = await runCli(['status', '--url', server.url]);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain('problems (1):\n  acme/sales.yaml:3:16: global_tools.hangup_call: invalid value; expected true or false, or a mapping with enabled and description.\n');
    expect(broken.stdout).toContain('last good version in force for: acme/sales.yaml');
  });

  it('exits 2 when no server answers', async () => {
    const result = await runCli(['status', '--url', 'http://127.0.0.1:9']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9/);
  });
});

describe('switchboard keys', () => {
  it('creates, lists and revokes keys, showing a key only once', async () => {
    const data = ['--data', server.dataDir];
    const created = await runCli(['keys', 'create', '--account', 'globex', '--role', 'admin', '--name', 'pbx', '--json', ...data]);
    expect(created.code).toBe(0);
    const record = JSON.parse(created.stdout) as { id: string; key: string; role: string; account: string };
    expect(record).toMatchObject({ account: 'globex', role: 'admin' });
    expect(record.key).toMatch(/^sb_[A-Za-z0-9_-]{32}$/);

    const listed = await runCli(['keys', 'list', '--account', 'globex', '--json', ...data]);
    const keys = JSON.parse(listed.stdout) as { id: string; name: string; revokedAt: string | null }[];
    expect(keys).toEqual([expect.objectContaining({ id: record.id, name: 'pbx', revokedAt: null })]);
    expect(listed.stdout).not.toContain(record.key);

    const revoked = await runCli(['keys', 'revoke', record.id, ...data]);
    expect(revoked.stdout).toBe(`Revoked key ${record.id} of account globex.\n`);
    const table = await runCli(['keys', 'list', '--account', 'globex', ...data]);
    expect(table.stdout).toMatch(new RegExp(`^ID\\s+ACCOUNT\\s+ROLE\\s+NAME\\s+CREATED\\s+LAST USED\\s+REVOKED\\n${record.id}\\s+globex\\s+admin\\s+pbx\\s+\\S+Z\\s+-\\s+\\S+Z\\n$`));
  });

  it('refuses an account no manifest declares, reading the personas directory serve reads; --force creates it with a warning', async () => {
    const data = tempDir('keys-unknown-account');
    const refused = await runCli(['keys', 'create', '--account', 'initech', '--data', data], { env: { SWITCHBOARD_PERSONAS: server.personasDir } });
    expect(refused.stderr).toBe(
      `switchboard keys: no manifest declares account "initech" in ${server.personasDir} (accounts there: acme, globex). Check the spelling, point --personas or SWITCHBOARD_PERSONAS at the manifests the server serves, or give --force to create the key before the account is deployed\n`,
    );
    expect(refused.code).toBe(2);
    // Refused before the database was opened: nothing was written.
    expect(fs.existsSync(path.join(data, 'switchboard.db'))).toBe(false);

    const elsewhere = await runCli(['keys', 'create', '--account', 'acme', '--data', data, '--personas', path.join(data, 'no-manifests-here')]);
    expect(elsewhere.stderr).toContain(`no manifest declares account "acme" in ${data}/no-manifests-here (the manifests directory ${data}/no-manifests-here does not exist).`);
    expect(elsewhere.code).toBe(2);

    const forced = await runCli(['keys', 'create', '--account', 'initech', '--force', '--json', '--data', data, '--personas', server.personasDir]);
    expect(forced.code).toBe(0);
    expect(forced.stderr).toBe(`warning: no manifest declares account "initech" in ${server.personasDir} (accounts there: acme, globex); the key is created anyway (--force) and is accepted once a manifest declares the account\n`);
    expect(JSON.parse(forced.stdout)).toMatchObject({ account: 'initech', role: 'mcp' });

    // Once the account is deployed, the key made ahead of it works.
    writeManifests(server.personasDir, { 'initech/account.yaml': 'account_id: initech\ntimezone: America/Chicago\n', 'initech/desk.yaml': 'persona_id: desk\n' });
    const declared = await runCli(['keys', 'create', '--account', 'initech', '--data', data, '--personas', server.personasDir]);
    expect(declared.stderr).toBe('');
    expect(declared.code).toBe(0);
    fs.rmSync(path.join(server.personasDir, 'initech'), { recursive: true });
  });

  it('refuses a bad role and an unknown key id', async () => {
    const badRole = await runCli(['keys', 'create', '--account', 'acme', '--role', 'root', '--data', server.dataDir]);
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toBe('switchboard keys: --role must be one of mcp, admin\n');
    const unknown = await runCli(['keys', 'revoke', 'key_nope', '--data', server.dataDir]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('switchboard keys: no key has id key_nope\n');
  });

  it('names the PostgreSQL database it cannot open, and never its password', async () => {
    // Port 9 on loopback: nothing listens there.
    const result = await runCli(['keys', 'list', '--database', 'postgres://switchboard:pg-s3cret@127.0.0.1:9/switchboard']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'switchboard keys: cannot open the PostgreSQL database 127.0.0.1:9/switchboard: connect ECONNREFUSED 127.0.0.1:9. Check --database (SWITCHBOARD_DATABASE_URL), and that the database server runs and lets this user in\n',
    );
  });
});
