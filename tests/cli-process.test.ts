/**
 * The `switchboard` command as a process, for what only a process shows:
 * the bin entry (its TypeScript loader, the command loaded when it runs),
 * exit codes as a shell sees them, and stdin. Every other CLI test runs the
 * same main() in the test's process (helpers/cli.ts runCli); serve, which
 * runs until a signal stops it, is tested as a process in cli-serve.test.ts
 * and serve-signals.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { runCli, runCliProcess } from './helpers/cli.ts';
import { REPO_ROOT, tempDir, writeManifests } from './helpers/server.ts';

describe('bin/switchboard.mjs', () => {
  it('runs a command through its TypeScript loader, printing what main() prints', async () => {
    const valid = await runCliProcess(['validate', 'personas']);
    expect(valid.stderr).toMatch(/^\d+ files valid: \d+ accounts, \d+ personas/);
    expect(valid.stderr.replace(/\(\d+ ms\)/, '')).toBe((await runCli(['validate', 'personas'])).stderr.replace(/\(\d+ ms\)/, ''));
    expect(valid.code).toBe(0);
  });

  it('loads only the command it runs: status loads neither the server nor its services', async () => {
    const record = path.join(tempDir('imports'), 'imports.txt');
    const recorder = path.join(REPO_ROOT, 'tests/helpers/import-recorder.mjs');
    const status = await runCliProcess(['status', '--url', 'http://127.0.0.1:9'], { env: { RECORD_IMPORTS: record, NODE_OPTIONS: `--import ${recorder}` } });
    expect(status.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9/);
    const loaded = new Set(fs.readFileSync(record, 'utf8').split('\n').filter((url) => url.includes('/engine/')).map((url) => path.relative(REPO_ROOT, new URL(url).pathname)));
    expect(loaded).toContain('engine/cli/commands/status.ts');
    for (const heavy of ['engine/server.ts', 'engine/services.ts', 'engine/cli/open.ts', 'engine/cli/commands/serve.ts', 'engine/cli/commands/validate.ts']) expect(loaded).not.toContain(heavy);
  });
});

describe('exit codes as a shell sees them', () => {
  it('1 when problems are found, 2 for a usage error', async () => {
    const dir = tempDir('exit-codes');
    writeManifests(dir, { 'acme/account.yaml': 'account_id: acme\ntimezone: Mars/Olympus\n' });
    const problems = await runCliProcess(['validate', dir]);
    expect(problems.stdout).toContain('acme/account.yaml:2:11: timezone:');
    expect(problems.code).toBe(1);

    const usage = await runCliProcess(['validate', dir, '--format', 'xml']);
    expect(usage.stderr).toBe('switchboard validate: --format must be one of text, json, github\n');
    expect(usage.code).toBe(2);
  });
});

describe('stdin', () => {
  it('reads nothing from it: a command ends while stdin stays open, as under a terminal nobody types in', async () => {
    const result = await runCliProcess(['office-hours', '--account', 'acme', '--persona', 'front-desk', '--at', '2026-12-25T10:00', '--personas', 'personas'], { keepStdinOpen: true });
    expect(result.stdout).toMatch(/^Office is closed/);
    expect(result.code).toBe(0);
  });
});
