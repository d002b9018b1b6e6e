/**
 * A large `switchboard contacts import` beside a running server: it commits
 * in chunks, so the server's own writes (create_lead) go on while it runs;
 * and an import that fails part-way says what it saved, which a second run
 * completes without duplicates.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BIN, runCli, runCliProcess, type CliResult } from './helpers/cli.ts';
import { callHeaders, connect, eventually, REPO_ROOT, startTestServer, tempDir, textOf, type TestServer } from './helpers/server.ts';
import { basicManifests } from './helpers/test-tools.ts';
import { sql } from '../engine/store/sql.ts';

let server: TestServer;
let files: string;

beforeAll(async () => {
  server = await startTestServer({ personas: basicManifests });
  files = tempDir('import-chunks');
});
afterAll(async () => {
  await server.close();
  fs.rmSync(files, { recursive: true, force: true });
});

/** A CSV of `rows` distinct contacts with ids, as an address-book export would have them. */
function bigCsv(name: string, rows: number): string {
  const lines = ['id,name,mobile'];
  for (let i = 0; i < rows; i++) lines.push(`c-${i},Caller ${i},+1 212 ${200 + Math.floor(i / 10_000)} ${String(i % 10_000).padStart(4, '0')}`);
  const file = path.join(files, name);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const nativeContacts = async (account: string): Promise<number> =>
  Number((await server.running.services.store.get<{ n: number }>(sql`SELECT count(*) AS n FROM contacts WHERE account_id = ${account} AND source = 'native'`))?.n ?? 0);

describe('a large import', () => {
  it('commits in chunks: a create_lead during the import is answered while the import goes on', async () => {
    const rows = 20_000;
    const file = bigCsv('big.csv', rows);
    let finished = false;
    // A process of its own beside the server's, as an operator runs it.
    const importing = runCliProcess(['contacts', 'import', '--account', 'acme', file, '--data', server.dataDir, '--personas', server.personasDir]).then((result) => {
      finished = true;
      return result;
    });

    // Some contacts are there (a chunk committed) and the import is still running.
    await eventually(async () => ((await nativeContacts('acme')) > 0 ? true : undefined), 15_000, 'the first committed chunk');
    const client = await connect(server, callHeaders({ key: await server.key('acme'), account: 'acme', persona: 'front-desk', call: 'during-import' }));
    const lead = await client.callTool({ name: 'create_lead', arguments: { name: 'Dana Caller', intent: 'A quote for a boiler' } });
    await client.close();
    expect(lead.isError, textOf(lead)).toBeFalsy();
    // Written while the import holds no lock between its chunks, not after the whole file.
    expect(finished).toBe(false);
    expect(await nativeContacts('acme')).toBeLessThan(rows);

    const result = await importing;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`Imported ${rows} contacts into account acme from ${file} (csv): ${rows} new, 0 updated, 0 unchanged.`);
    expect(await nativeContacts('acme')).toBe(rows);
  }, 60_000);
});

/** The CLI with a limit on the size of the files it writes: a disk that fills up part-way through. */
function runCliWithFileLimit(args: string[], limitBytes: number): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `ulimit -f ${Math.floor(limitBytes / 512)}; exec "$0" "$@"`, process.execPath, BIN, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('an import that fails part-way', () => {
  it('says where it stopped and what it saved, and the same import again completes it', async () => {
    const data = tempDir('import-partial');
    expect((await runCli(['keys', 'create', '--account', 'acme', '--data', data])).code).toBe(0);
    const rows = 10_000;
    const file = bigCsv('partial.csv', rows);
    const args = ['contacts', 'import', '--account', 'acme', file, '--data', data, '--personas', server.personasDir];

    // The write-ahead log of the import may grow to 1 MB: several chunks fit, the whole file does not.
    const failed = await runCliWithFileLimit(args, 1024 * 1024);
    expect(failed.code).toBe(2);
    expect(failed.stderr).not.toMatch(/SqliteError|\n\s+at /);
    const stop = /^switchboard contacts: the import stopped at line (\d+): cannot write (\S+): .*\((SQLITE_FULL|SQLITE_IOERR\w*)\).*; the (\d+) contacts before it are saved \((\d+) new, 0 updated, 0 unchanged\); importing the same file again adds the rest\n$/.exec(failed.stderr);
    expect(stop, failed.stderr).not.toBeNull();
    const [, line, dbFile, , saved, created] = stop as RegExpExecArray;
    expect(dbFile).toBe(path.join(data, 'switchboard.db'));
    expect(Number(saved)).toBeGreaterThan(0);
    expect(Number(created)).toBe(Number(saved));
    // The header is line 1: the rows before the one it stopped at are exactly those saved.
    expect(Number(line)).toBe(Number(saved) + 2);

    const again = await runCli(args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`Imported ${rows} contacts into account acme from ${file} (csv): ${rows - Number(saved)} new, 0 updated, ${saved} unchanged.`);
  }, 60_000);
});
