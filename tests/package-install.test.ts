/**
 * A repository of manifests runs the full `switchboard validate` (schemas and
 * every cross-check) from this package installed as a dependency, as
 * docs/manifests.md tells it to: pinned to a commit of this repository by
 * git, or from the tarball `npm pack` makes for a release. The package is
 * private and never published, so `npx switchboard` must find this install
 * (--no-install) and never fetch a package of that name from the registry.
 * Installed with --ignore-scripts: validate needs no SQLite binary, so no
 * C/C++ toolchain either.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import { EXAMPLE_PERSONAS, REPO_ROOT, tempDir, writeManifests } from './helpers/server.ts';

const run = promisify(execFile);
const INSTALL = ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--save-dev'];

/** A manifests repository: a package.json of its own and the example personas, with `spec` installed. */
async function manifestsRepository(spec: string): Promise<string> {
  const dir = tempDir('manifests-repo');
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'acme-switchboard-config', private: true }, null, 2));
  fs.cpSync(EXAMPLE_PERSONAS, path.join(dir, 'personas'), { recursive: true });
  await run('npm', [...INSTALL, spec], { cwd: dir, env: { ...process.env, npm_config_update_notifier: 'false' } });
  return dir;
}

/** What CI of the manifests repository runs, and what it must find. */
async function validates(dir: string): Promise<void> {
  const valid = await run('npx', ['--no-install', 'switchboard', 'validate', 'personas'], { cwd: dir });
  expect(valid.stderr).toMatch(/^5 files valid: 2 accounts, 3 personas/);

  // A cross-check the JSON Schemas alone cannot make: a persona names a user its account does not have.
  writeManifests(dir, { 'personas/acme/front-desk.yaml': fs.readFileSync(path.join(EXAMPLE_PERSONAS, 'acme/front-desk.yaml'), 'utf8').replace('user: u-100', 'user: u-999') });
  const broken = await run('npx', ['--no-install', 'switchboard', 'validate', 'personas', '--format', 'github'], { cwd: dir }).catch((error: { code: number; stdout: string }) => error);
  expect('code' in broken ? broken.code : 0).toBe(1);
  expect(broken.stdout).toMatch(/^::error file=personas\/acme\/front-desk\.yaml,line=\d+,col=\d+,title=tools\[0\]\.user::user "u-999" is not in acme\/account\.yaml$/m);
}

describe('switchboard as a dependency of a manifests repository', () => {
  it('from the tarball npm pack makes: bin, engine, schemas, and nothing the tests need', async () => {
    const packs = tempDir('pack');
    const packed = await run('npm', ['pack', '--pack-destination', packs, '--json'], { cwd: REPO_ROOT });
    const [report] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    const files = report!.files.map((file) => file.path);
    expect(files).toEqual(expect.arrayContaining(['bin/switchboard.mjs', 'engine/cli/main.ts', 'schemas/persona.schema.json', 'openapi/admin.yaml', 'package.json']));
    // The console is served from the package as it is: its page and scripts travel with the engine.
    expect(files).toEqual(expect.arrayContaining(['engine/console/ui/index.html', 'engine/console/ui/console.js', 'engine/console/ui/console.css']));
    expect(files.filter((file) => file.startsWith('tests/') || file.startsWith('node_modules/'))).toEqual([]);

    await validates(await manifestsRepository(path.join(packs, report!.filename)));
  }, 180_000);

  it('pinned to a commit by git', async () => {
    const { stdout } = await run('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT });
    const dir = await manifestsRepository(`git+file://${REPO_ROOT}#${stdout.trim()}`);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    expect(manifest.devDependencies.switchboard).toBe(`git+file://${REPO_ROOT}#${stdout.trim()}`);
    await validates(dir);
  }, 180_000);
});
