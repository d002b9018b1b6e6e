import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { BIN } from './helpers/cli.ts';
import { callHeaders, connect, eventually, REPO_ROOT, startTestServer, tempDir, writeManifests, type TestServer } from './helpers/server.ts';
import { basicManifests, testToolKinds } from './helpers/test-tools.ts';

const SCRIPT = path.join(REPO_ROOT, 'deploy/switchboard-pull.sh');
let root: string;
let work: string;
let checkout: string;
let server: TestServer;

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' } }).trim();
const pull = () => spawnSync(SCRIPT, [checkout, 'personas'], { encoding: 'utf8', env: { ...process.env, SWITCHBOARD_BIN: BIN } });
const commit = (files: Record<string, string>, message: string) => {
  writeManifests(path.join(work, 'personas'), files);
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', message);
  git(work, 'push', '-q', 'origin', 'HEAD:main');
};

beforeAll(() => {
  root = tempDir('pull');
  const origin = path.join(root, 'origin.git');
  work = path.join(root, 'work');
  checkout = path.join(root, 'node');
  git(root, 'init', '-q', '--bare', '-b', 'main', origin);
  git(root, 'clone', '-q', origin, work);
  git(work, 'checkout', '-q', '-b', 'main');
  commit(basicManifests, 'accounts and personas');
  git(root, 'clone', '-q', '-b', 'main', origin, checkout);
});

beforeAll(async () => {
  // The server watches the checkout, as on a node.
  server = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds, settings: { personasDir: path.join(checkout, 'personas') } });
});
afterAll(async () => {
  await server.close();
  fs.rmSync(root, { recursive: true, force: true });
});

it('does nothing when the checkout is current', () => {
  const result = pull();
  expect(result.status).toBe(0);
  expect(result.stdout).toBe('');
});

it('fast-forwards to a new revision whose manifests are valid, and the server reloads it', async () => {
  commit({ 'acme/support.yaml': 'persona_id: support\n' }, 'add support');
  const result = pull();
  expect(result.stderr).toMatch(/^6 files valid/);
  expect(result.status).toBe(0);
  expect(result.stdout).toMatch(/^switchboard-pull: [0-9a-f]+ -> [0-9a-f]+\n$/);
  expect(fs.readFileSync(path.join(checkout, 'personas/acme/support.yaml'), 'utf8')).toBe('persona_id: support\n');

  // The running server picks the new persona up without a restart.
  const key = await server.key('acme');
  const client = await eventually(() => connect(server, callHeaders({ key, persona: 'support' }), 'modern').catch(() => undefined));
  expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['echo']);
  await client.close();
});

it('stays at the current revision when the new one is invalid', () => {
  const before = git(checkout, 'rev-parse', 'HEAD');
  commit({ 'acme/support.yaml': 'persona_id: support\nunknown_setting: true\n' }, 'break support');
  const result = pull();
  expect(result.status).toBe(1);
  expect(result.stderr).toContain('support.yaml');
  expect(result.stderr).toContain('has invalid manifests; staying at');
  expect(git(checkout, 'rev-parse', 'HEAD')).toBe(before);
  expect(fs.readFileSync(path.join(checkout, 'personas/acme/support.yaml'), 'utf8')).toBe('persona_id: support\n');

  // Rolling back is a revert in the repository; the node then moves on past the bad revision.
  git(work, 'revert', '--no-edit', 'HEAD');
  git(work, 'push', '-q', 'origin', 'HEAD:main');
  const reverted = pull();
  expect(reverted.status).toBe(0);
  expect(git(checkout, 'rev-parse', 'HEAD')).toBe(git(work, 'rev-parse', 'HEAD'));
});
