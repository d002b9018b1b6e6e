/**
 * Manifest trees that would mislead a loader that trusts them: a huge file
 * (checked by size before a byte is read, reported at its path, its last good
 * version kept; `validate` exits 1), and two files claiming one persona or one
 * account (refused together, naming both, whatever their names sort like; the
 * version in force stays).
 */
import fs from 'node:fs';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { runCli } from './helpers/cli.ts';
import { callHeaders, connect, eventually, startTestServer, tempDir, writeManifests, type TestServer } from './helpers/server.ts';
import { basicManifests, testToolKinds } from './helpers/test-tools.ts';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A sparse file: its size is real, and it takes no disk space or time to make. */
const makeHuge = (file: string, bytes: number) => {
  fs.writeFileSync(file, 'persona_id: sales\n');
  fs.truncateSync(file, bytes);
};
const MiB = 1024 * 1024;

const snapshot = () => server!.running.registry.current();
async function reloaded(): Promise<ReturnType<typeof snapshot>> {
  const before = snapshot().generation;
  await server!.running.registry.reload();
  return eventually(() => (snapshot().generation > before ? snapshot() : undefined));
}

describe('a huge file in the tree', () => {
  // 600 MiB: past the longest string Node can hold, where a whole read used to fail and the persona vanished.
  it.each([2 * MiB, 600 * MiB])('of %d bytes is reported at its path and its last good version stays', async (bytes) => {
    server = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds });
    makeHuge(path.join(server.personasDir, 'acme/sales.yaml'), bytes);
    const after = await reloaded();
    expect(after.problems.map((problem) => `${problem.file}:${problem.line}:${problem.column}: ${problem.message}`)).toEqual([
      `acme/sales.yaml:1:1: is ${(bytes / MiB).toFixed(1)} MiB, larger than the 1.0 MiB limit of a manifest; it was not read`,
    ]);
    expect(after.files.get('acme/sales.yaml')).toEqual({ kind: 'persona', valid: false, servingLastGood: true });
    const client = await connect(server, callHeaders({ key: await server.key('acme'), persona: 'sales' }), 'modern');
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['echo']);
    await client.close();
  });

  it('fails validate with the file named', async () => {
    const dir = tempDir('validate');
    writeManifests(dir, basicManifests);
    makeHuge(path.join(dir, 'acme/sales.yaml'), 600 * MiB);
    const result = await runCli(['validate', dir]);
    expect(result.stdout).toBe(`${dir}/acme/sales.yaml:1:1: is 600.0 MiB, larger than the 1.0 MiB limit of a manifest; it was not read\n`);
    expect(result.code).toBe(1);
  });
});

describe('two files with one persona_id', () => {
  it('refuses both, names both, and keeps the version in force, whichever sorts first', async () => {
    server = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds });
    const key = await server.key('acme');
    // "copy" sorts before "front-desk": file order used to hand it the persona.
    writeManifests(server.personasDir, { 'acme/copy.yaml': 'persona_id: front-desk\n', 'acme/zz-later.yaml': 'persona_id: sales\n' });
    const after = await reloaded();
    expect(after.problems.map((problem) => `${problem.file}:${problem.line}:${problem.column}: ${problem.path}: ${problem.message}`)).toEqual([
      'acme/copy.yaml:1:13: persona_id: persona "front-desk" is defined in both acme/copy.yaml and acme/front-desk.yaml: neither file is loaded until one is renamed or removed; the version in force stays',
      'acme/front-desk.yaml:1:13: persona_id: persona "front-desk" is defined in both acme/copy.yaml and acme/front-desk.yaml: neither file is loaded until one is renamed or removed; the version in force stays',
      'acme/sales.yaml:1:13: persona_id: persona "sales" is defined in both acme/sales.yaml and acme/zz-later.yaml: neither file is loaded until one is renamed or removed; the version in force stays',
      'acme/zz-later.yaml:1:13: persona_id: persona "sales" is defined in both acme/sales.yaml and acme/zz-later.yaml: neither file is loaded until one is renamed or removed; the version in force stays',
    ]);
    expect(after.personas.get('acme\u0000front-desk')?.file).toBe('acme/front-desk.yaml');
    expect(after.personas.get('acme\u0000sales')?.file).toBe('acme/sales.yaml');
    expect(Object.fromEntries(after.files)).toMatchObject({
      'acme/copy.yaml': { valid: false, servingLastGood: false },
      'acme/front-desk.yaml': { valid: false, servingLastGood: true },
      'acme/zz-later.yaml': { valid: false, servingLastGood: false },
      'acme/sales.yaml': { valid: false, servingLastGood: true },
    });
    // Calls to the persona go on.
    const client = await connect(server, callHeaders({ key }), 'modern');
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['echo']);
    await client.close();

    // Removing the copy settles it: the real file is loaded again.
    fs.rmSync(path.join(server.personasDir, 'acme/copy.yaml'));
    fs.rmSync(path.join(server.personasDir, 'acme/zz-later.yaml'));
    expect((await reloaded()).problems).toEqual([]);
  });

  it('serves neither on a first load, since nothing was in force', async () => {
    const dir = tempDir('validate');
    writeManifests(dir, { ...basicManifests, 'acme/copy.yaml': 'persona_id: front-desk\n' });
    const result = await runCli(['validate', dir, '--format', 'json']);
    const report = JSON.parse(result.stdout) as { personas: number; problems: { file: string }[] };
    expect(report.problems.map((problem) => problem.file)).toEqual([`${dir}/acme/copy.yaml`, `${dir}/acme/front-desk.yaml`]);
    expect(report.personas).toBe(2);
    expect(result.code).toBe(1);
  });
});

describe('account.yaml beside account.yml', () => {
  it('refuses both and keeps the account in force', async () => {
    server = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds });
    writeManifests(server.personasDir, { 'acme/account.yml': 'account_id: acme\ntimezone: Asia/Tokyo\n' });
    const after = await reloaded();
    expect(after.problems.map((problem) => `${problem.file}: ${problem.message}`)).toEqual([
      'acme/account.yaml: both acme/account.yaml and acme/account.yml define the account of acme/: neither is loaded until one is removed; the version in force stays',
      'acme/account.yml: both acme/account.yaml and acme/account.yml define the account of acme/: neither is loaded until one is removed; the version in force stays',
    ]);
    expect(after.accounts.get('acme')?.manifest.timezone).toBe('America/New_York');
    expect(after.personas.size).toBe(3);
  });
});
