/**
 * Every common way of putting new manifests on a node, done for real on disk
 * under a running server: rsync --delay-updates, a rename over a file, a
 * symbolic link re-pointed to a new release, a Kubernetes ConfigMap volume
 * (`..data` swapped), a directory replaced (rm and copy, mv into place, with a
 * gap between), an account directory replaced, or emptied and copied into
 * file by file. Each time the server serves the new files and keeps seeing
 * later edits; while the tree is gone or unreadable, the last good manifests
 * stay in force and the gap is reported, never served as "no accounts"; what
 * a half-copied tree lacks stays in force until a later scan confirms it is
 * gone. (git pull: deploy-pull.test.ts.)
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { afterEach, expect, it } from 'vitest';

import { callHeaders, connect, eventually, startTestServer, tempDir, writeManifests, type TestServer } from './helpers/server.ts';
import { basicManifests, testToolKinds } from './helpers/test-tools.ts';

let server: TestServer | undefined;
let root: string;
afterEach(async () => {
  await server?.close();
  server = undefined;
  fs.rmSync(root, { recursive: true, force: true });
});

/** Release n: the basic accounts plus a persona named after it. */
const release = (n: number): Record<string, string> => ({ ...basicManifests, [`acme/release-${n}.yaml`]: `persona_id: release-${n}\n` });
const writeRelease = (dir: string, n: number) => {
  fs.mkdirSync(dir, { recursive: true });
  writeManifests(dir, release(n));
};

/** A server watching `personas` under a fresh root, laid out by `lay` before it starts. */
async function serve(lay: (personas: string) => void): Promise<string> {
  root = tempDir('deploy');
  const personas = path.join(root, 'personas');
  lay(personas);
  server = await startTestServer({ personas: {}, toolKinds: testToolKinds, settings: { personasDir: personas } });
  return personas;
}

const snapshot = () => server!.running.registry.current();
const serves = (persona: string) => snapshot().personas.has(`acme\u0000${persona}`);

/** Waits until release n is served in place of every other release. */
async function served(n: number, what = `release ${n}`): Promise<void> {
  await eventually(() => (serves(`release-${n}`) && ![...snapshot().personas.keys()].some((key) => key.includes('release-') && !key.endsWith(`release-${n}`)) ? true : undefined), 5000, what);
}

/** A real client of the release's persona gets its tools; the new tree is watched too: an edit in it is served. */
async function servesAndWatches(personas: string, n: number): Promise<void> {
  const client = await connect(server!, callHeaders({ key: await server!.key('acme'), persona: `release-${n}` }), 'modern');
  expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['echo']);
  await client.close();
  writeManifests(personas, { 'acme/later-edit.yaml': 'persona_id: later-edit\n' });
  await eventually(() => (serves('later-edit') ? true : undefined), 5000, 'an edit made after the deploy');
  expect(snapshot().problems).toEqual([]);
}

interface Ready {
  status: string;
  manifests: { accounts: number; personas: number };
  problems: { file: string; text: string }[];
  files: Record<string, { servingLastGood: boolean }>;
}
const readyz = async () => {
  const response = await fetch(new URL('/readyz', server!.url));
  return { status: response.status, body: (await response.json()) as Ready };
};

it('rsync --delay-updates', async () => {
  const personas = await serve((dir) => writeRelease(dir, 1));
  const source = path.join(root, 'source');
  writeRelease(source, 2);
  execFileSync('rsync', ['-a', '--delete', '--delay-updates', `${source}/`, `${personas}/`]);
  await served(2);
  await servesAndWatches(personas, 2);
});

it('a rename over account.yaml and over a persona file', async () => {
  const personas = await serve((dir) => writeRelease(dir, 1));
  fs.writeFileSync(path.join(personas, 'acme/.account.yaml.new'), `${basicManifests['acme/account.yaml']}queues:\n  - { id: q-sales, name: Sales, extension: "600" }\n`);
  fs.renameSync(path.join(personas, 'acme/.account.yaml.new'), path.join(personas, 'acme/account.yaml'));
  fs.writeFileSync(path.join(personas, 'acme/.release.new'), 'persona_id: release-2\n');
  fs.renameSync(path.join(personas, 'acme/.release.new'), path.join(personas, 'acme/release-1.yaml'));
  await served(2);
  await eventually(() => (snapshot().accounts.get('acme')?.queues.has('q-sales') ? true : undefined), 5000, 'the new account.yaml');
  await servesAndWatches(personas, 2);
});

it('a symbolic link re-pointed to a new release', async () => {
  const personas = await serve((dir) => {
    writeRelease(path.join(root, 'releases/1'), 1);
    fs.symlinkSync('releases/1', dir);
  });
  await served(1);
  for (const n of [2, 3]) {
    writeRelease(path.join(root, `releases/${n}`), n);
    // ln -sfn releases/N personas.new && mv -T personas.new personas: rename(2) swaps the link atomically.
    fs.symlinkSync(`releases/${n}`, `${personas}.new`);
    fs.renameSync(`${personas}.new`, personas);
    await served(n);
  }
  // The old release can go once the link has moved on.
  fs.rmSync(path.join(root, 'releases/1'), { recursive: true });
  await servesAndWatches(personas, 3);
});

it('a Kubernetes ConfigMap volume: account directories are links into ..data, which is swapped', async () => {
  const personas = await serve((dir) => {
    writeRelease(path.join(dir, '..2026_01'), 1);
    fs.symlinkSync('..2026_01', path.join(dir, '..data'));
    for (const account of ['acme', 'globex']) fs.symlinkSync(`..data/${account}`, path.join(dir, account));
  });
  await served(1);
  writeRelease(path.join(personas, '..2026_02'), 2);
  fs.symlinkSync('..2026_02', path.join(personas, '..data_tmp'));
  fs.renameSync(path.join(personas, '..data_tmp'), path.join(personas, '..data'));
  fs.rmSync(path.join(personas, '..2026_01'), { recursive: true });
  await served(2);
  // The kubelet writes the next version the same way; an edit inside the live version is seen too.
  await servesAndWatches(path.join(personas, '..data'), 2);
});

it('rm -rf and cp of the whole directory', async () => {
  const personas = await serve((dir) => writeRelease(dir, 1));
  writeRelease(path.join(root, 'new'), 2);
  fs.rmSync(personas, { recursive: true });
  fs.cpSync(path.join(root, 'new'), personas, { recursive: true });
  await served(2);
  await servesAndWatches(personas, 2);
});

it('mv of a new directory into place', async () => {
  const personas = await serve((dir) => writeRelease(dir, 1));
  writeRelease(path.join(root, 'new'), 2);
  fs.renameSync(personas, path.join(root, 'old'));
  fs.renameSync(path.join(root, 'new'), personas);
  await served(2);
  // Edits to the old tree no longer count.
  writeManifests(path.join(root, 'old'), { 'acme/stale.yaml': 'persona_id: stale\n' });
  await servesAndWatches(personas, 2);
  expect(serves('stale')).toBe(false);
});

it('an account directory replaced', async () => {
  const personas = await serve((dir) => writeRelease(dir, 1));
  writeRelease(path.join(root, 'new'), 2);
  fs.rmSync(path.join(personas, 'acme'), { recursive: true });
  fs.cpSync(path.join(root, 'new/acme'), path.join(personas, 'acme'), { recursive: true });
  await served(2);
  await servesAndWatches(personas, 2);
});

it('a copy file by file into an emptied account directory: what it has not reached stays in force, what the release lacks goes after it', async () => {
  const personas = await serve((dir) => writeRelease(dir, 1));
  const removed: string[] = [];
  let held = false;
  server!.running.registry.on('reload', (report, next) => {
    removed.push(...report.removed);
    held ||= next.files.get('acme/account.yaml')?.removalPending === true;
  });
  const reloadAfter = async (change: () => void, what: string) => {
    const generation = snapshot().generation;
    change();
    await eventually(() => (snapshot().generation > generation ? true : undefined), 5000, what);
  };
  await reloadAfter(() => {
    fs.rmSync(path.join(personas, 'acme'), { recursive: true });
    fs.mkdirSync(path.join(personas, 'acme'));
  }, 'a reload of the emptied directory');
  // Personas first, account.yaml last; a reload sees the tree after each file.
  for (const file of ['acme/release-2.yaml', 'acme/sales.yaml', 'acme/front-desk.yaml', 'acme/account.yaml']) {
    await reloadAfter(() => writeManifests(personas, { [file]: release(2)[file]! }), `a reload after ${file}`);
    expect(snapshot().accounts.has('acme')).toBe(true);
    expect(serves('front-desk') && serves('sales')).toBe(true);
  }
  await served(2);
  expect(held).toBe(true);
  expect(removed).toEqual(['acme\u0000release-1']);
  expect(snapshot().problems).toEqual([]);
  await servesAndWatches(personas, 2);
});

it('keeps the last good manifests in force and reports it while the directory is gone, then serves the new one', async () => {
  const personas = await serve((dir) => writeRelease(dir, 1));
  const key = await server!.key('acme');
  fs.rmSync(personas, { recursive: true });
  const gap = await eventually(async () => {
    const ready = await readyz();
    return ready.body.problems.length ? ready : undefined;
  }, 5000, 'the gap reported');
  expect(gap.status).toBe(200);
  expect(gap.body.status).toBe('ready');
  expect(gap.body.manifests).toMatchObject({ accounts: 2, personas: 4 });
  expect(gap.body.problems.map((problem) => problem.text)).toEqual([
    `.:1:1: the manifests directory ${personas} does not exist; the last good manifests stay in force (2 accounts, 4 personas) until it is back`,
  ]);
  expect(gap.body.files['acme/release-1.yaml']).toEqual({ kind: 'persona', valid: false, servingLastGood: true });
  expect(server!.logLines.some((line) => line.includes('"event":"manifest_invalid"') && line.includes('does not exist; the last good manifests stay in force'))).toBe(true);
  await eventually(() => (server!.logLines.some((line) => line.includes('"event":"manifests_tree_unavailable"')) ? true : undefined), 5000, 'the watcher noticing');
  // Calls go on meanwhile.
  const client = await connect(server!, callHeaders({ key, persona: 'release-1' }), 'modern');
  expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['echo']);
  await client.close();

  writeRelease(personas, 2);
  await served(2);
  await servesAndWatches(personas, 2);
});

it('keeps the last good manifests while the directory cannot be read, or has been emptied', async () => {
  const personas = await serve((dir) => writeRelease(dir, 1));
  // A link that loops cannot be read by anyone (root included, unlike a mode of 000).
  fs.renameSync(personas, path.join(root, 'aside'));
  fs.symlinkSync('personas', personas);
  const unreadable = await eventually(() => (snapshot().problems.length ? snapshot() : undefined), 5000, 'the unreadable tree reported');
  expect(unreadable.problems.map((problem) => problem.message)).toEqual([
    `the manifests directory ${personas} cannot be read (ELOOP); the last good manifests stay in force (2 accounts, 4 personas) until it is back`,
  ]);
  expect(serves('release-1')).toBe(true);

  fs.rmSync(personas);
  fs.mkdirSync(personas);
  await eventually(() => (snapshot().problems[0]?.message.includes('holds no account directory') ? true : undefined), 5000, 'the emptied tree reported');
  expect(snapshot().accounts.size).toBe(2);
  expect(serves('release-1')).toBe(true);

  fs.cpSync(path.join(root, 'aside'), personas, { recursive: true });
  await eventually(() => (snapshot().problems.length === 0 ? true : undefined), 5000, 'the tree back');
  await servesAndWatches(personas, 1);
});

it('keeps the files of an account directory that cannot be read, and a file behind a broken link', async () => {
  await serve((dir) => {
    writeRelease(path.join(root, 'store'), 1);
    fs.mkdirSync(dir);
    fs.symlinkSync(path.join(root, 'store/globex'), path.join(dir, 'globex'));
    fs.mkdirSync(path.join(dir, 'acme'));
    for (const file of fs.readdirSync(path.join(root, 'store/acme'))) fs.symlinkSync(path.join(root, 'store/acme', file), path.join(dir, 'acme', file));
  });
  await served(1);
  expect(snapshot().personas.has('globex\u0000reception')).toBe(true);
  // The store moves away: every link now leads nowhere.
  fs.renameSync(path.join(root, 'store'), path.join(root, 'moved'));
  const broken = await eventually(() => (snapshot().problems.length ? snapshot() : undefined), 5000, 'the broken links reported');
  expect(broken.problems.map((problem) => `${problem.file}: ${problem.message}`)).toEqual([
    'acme/account.yaml: cannot be read (ENOENT: a symbolic link whose target cannot be reached)',
    'acme/front-desk.yaml: cannot be read (ENOENT: a symbolic link whose target cannot be reached)',
    'acme/release-1.yaml: cannot be read (ENOENT: a symbolic link whose target cannot be reached)',
    'acme/sales.yaml: cannot be read (ENOENT: a symbolic link whose target cannot be reached)',
    'globex: this account directory cannot be read (ENOENT: a symbolic link whose target cannot be reached); its files keep their last good versions',
  ]);
  expect([...broken.personas.keys()].sort()).toEqual(['acme\u0000front-desk', 'acme\u0000release-1', 'acme\u0000sales', 'globex\u0000reception']);
  expect(broken.files.get('globex/reception.yaml')).toEqual({ kind: 'persona', valid: false, servingLastGood: true });
  fs.renameSync(path.join(root, 'moved'), path.join(root, 'store'));
  await eventually(() => (snapshot().problems.length === 0 ? true : undefined), 5000, 'the links whole again');
});
