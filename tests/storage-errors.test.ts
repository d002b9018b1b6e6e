/**
 * A data directory the process cannot write, and a disk that fills up: every
 * command that writes (and the server at start) says which file and what to
 * do, with exit 2 (3 for serve, which did not start) and no SqliteError stack.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BIN, runCli, type CliResult } from './helpers/cli.ts';
import { EXAMPLE_PERSONAS, REPO_ROOT, tempDir } from './helpers/server.ts';

/**
 * Runs the CLI so that it cannot write `dir`: as an unprivileged user when
 * the tests run as root (who writes anywhere), else after taking the write
 * bits away; `fileLimitBytes` caps the size of every file it writes, as a
 * full disk would.
 */
function runRestricted(args: string[], options: { fileLimitBytes?: number } = {}): Promise<CliResult> {
  const root = process.getuid?.() === 0;
  const limit = options.fileLimitBytes === undefined ? '' : `ulimit -f ${Math.floor(options.fileLimitBytes / 512)}; `;
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `${limit}exec "$0" "$@"`, process.execPath, BIN, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '' },
      ...(root && options.fileLimitBytes === undefined ? { uid: 65534, gid: 65534 } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let base: string;
let data: string;
let keyId: string;

beforeAll(async () => {
  base = tempDir('storage');
  fs.chmodSync(base, 0o755);
  data = path.join(base, 'data');
  const created = await runCli(['keys', 'create', '--account', 'acme', '--json', '--data', data]);
  keyId = (JSON.parse(created.stdout) as { id: string }).id;
  // Readable by everyone (the unprivileged user reads the database), writable by nobody but root.
  fs.chmodSync(data, 0o555);
  fs.chmodSync(path.join(data, 'switchboard.db'), 0o444);
  fs.mkdirSync(path.join(base, 'read-only-target'), { mode: 0o555 });
});
afterAll(() => {
  fs.chmodSync(data, 0o755);
  fs.chmodSync(path.join(base, 'read-only-target'), 0o755);
  fs.rmSync(base, { recursive: true, force: true });
});

const noStack = (result: CliResult, code = 2) => {
  expect(result.stderr).not.toMatch(/SqliteError|node_modules|\n\s+at /);
  expect(result.code).toBe(code);
};

describe('a read-only data directory', () => {
  it.each([
    ['keys', ['keys', 'create', '--account', 'acme']],
    ['keys', ['keys', 'revoke', 'KEY_ID']],
    ['dnd', ['dnd', 'set', '--account', 'acme', '--user', 'u-100', '--personas', EXAMPLE_PERSONAS]],
    ['contacts', ['contacts', 'import', '--account', 'acme', 'CSV', '--personas', EXAMPLE_PERSONAS]],
    ['serve', ['serve', '--port', '0', '--personas', EXAMPLE_PERSONAS]],
  ])('%s: names the file and says how to fix it', async (command, args) => {
    const csv = path.join(base, 'contacts.csv');
    fs.writeFileSync(csv, 'name,phone\nJane Doe,+12125550100\n');
    fs.chmodSync(csv, 0o644);
    const result = await runRestricted([...args.map((arg) => (arg === 'KEY_ID' ? keyId : arg === 'CSV' ? csv : arg)), '--data', data]);
    noStack(result, command === 'serve' ? 3 : 2);
    expect(result.stderr).toMatch(
      new RegExp(`^switchboard ${command}: cannot write ${data}/switchboard\\.db: ${data} or the file is read-only for this user \\(SQLITE_\\w+\\)\\. Give the user that runs switchboard write access to ${data} .*or point --data at a directory it can write\\n$`),
    );
  });

  it('backup: names the target directory it cannot write', async () => {
    fs.chmodSync(data, 0o755);
    try {
      const target = path.join(base, 'read-only-target', 'copy.db');
      const result = await runRestricted(['backup', target, '--data', data]);
      noStack(result);
      expect(result.stderr).toMatch(new RegExp(`^switchboard backup: cannot write ${target}: ${path.dirname(target)} or the file is read-only for this user \\(SQLITE_\\w+\\)`));
    } finally {
      fs.chmodSync(data, 0o555);
    }
  });
});

describe('a full disk', () => {
  it('keys create: names the file, says the disk may be full', async () => {
    const writable = tempDir('storage-full');
    expect((await runCli(['keys', 'create', '--account', 'acme', '--data', writable])).code).toBe(0);
    // 4 KB per file: not even SQLite's shared-memory index fits.
    const result = await runRestricted(['keys', 'create', '--account', 'acme', '--data', writable], { fileLimitBytes: 4096 });
    noStack(result);
    expect(result.stderr).toMatch(new RegExp(`^switchboard keys: cannot write ${writable}/switchboard\\.db: the disk (is full \\(SQLITE_FULL\\)|failed the write \\(SQLITE_IOERR_\\w+\\); it may be full)\\. `));
    fs.rmSync(writable, { recursive: true, force: true });
  });
});
