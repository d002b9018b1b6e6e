/**
 * Deploys under load: while 20 clients call tools, the manifests directory
 * goes through a dozen releases by every common pattern, each run by a
 * separate process as on a node. The atomic ones: a symbolic link
 * re-pointed, mv of a new tree into place, rsync --delay-updates. The others
 * copy file by file, with pauses longer than the reload debounce between
 * files, as a copy does on a loaded disk or a network mount: rm -rf then cp,
 * the directory emptied then refilled (account files last, too), cp over the
 * files in place, rsync without --delay-updates. A reload then sees a tree
 * half copied, or an account directory without its account.yaml. No call may
 * fail: what is missing only for a moment stays in force; and every release
 * is served in its turn, the one before it gone once the copy is over.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

import type { Client } from '@modelcontextprotocol/client';
import { expect, it } from 'vitest';

import { callHeaders, connect, EXAMPLE_PERSONAS, eventually, startTestServer, tempDir, textOf } from '../helpers/server.ts';

const run = promisify(execFile);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** sh -c script: copy $1 to $2 one file at a time (ls $3 orders them), 150 ms after each file. */
const SLOW_COPY = `set -e
mkdir -p "$2"
for account in $(ls $3 "$1"); do
  mkdir -p "$2/$account"
  for file in $(ls $3 "$1/$account"); do
    cp "$1/$account/$file" "$2/$account/$file"
    sleep 0.15
  done
done`;

it('serves every release of a dozen deploys to 20 calling clients without a failed call', async () => {
  const root = tempDir('deploy-storm');
  const personas = path.join(root, 'personas');
  const release = (n: number) => {
    const dir = path.join(root, `releases/${n}`);
    fs.cpSync(EXAMPLE_PERSONAS, dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `acme/release-${n}.yaml`), `persona_id: release-${n}\n`);
    return dir;
  };
  fs.mkdirSync(path.join(root, 'releases'));
  fs.symlinkSync(path.relative(root, release(1)), personas);
  const server = await startTestServer({ settings: { rateLimitPerSecond: 0, personasDir: personas }, logLevel: 'warn' });
  const key = await server.key('acme');
  const releasesServed = () => [...server.running.registry.current().personas.keys()].filter((key) => key.includes('release-'));
  // Release n in force, and no other: removals are confirmed by a later scan, so the old one goes a moment after the copy ends.
  const served = (n: number) => eventually(() => (releasesServed().join() === `acme\u0000release-${n}` ? true : undefined), 10_000, `release ${n} alone`);

  const clients: Client[] = [];
  for (let i = 0; i < 20; i += 1) {
    clients.push(await connect(server, callHeaders({ key, persona: i % 2 ? 'front-desk' : 'after-hours', call: `deploy-${i}` }), i % 4 === 0 ? 'modern' : 'legacy'));
  }
  let deploying = true;
  let calls = 0;
  const failures: string[] = [];
  const callers = clients.map(async (client) => {
    while (deploying) {
      try {
        const result = await client.callTool({ name: 'is_office_open', arguments: {} });
        calls += 1;
        if (result.isError || !textOf(result)) failures.push(textOf(result));
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
  });

  /**
   * A copy file by file, pausing after each file longer than the reload debounce; account
   * directories and their files in name order, or (reverse) each account's personas before its account.yaml.
   */
  const slowCopy = (from: string, to: string, order: 'names' | 'reverse' = 'names') =>
    run('sh', ['-c', SLOW_COPY, 'slow-copy', from, to, order === 'reverse' ? '-r' : '']);

  const swapLink = async (n: number) => {
    await run('ln', ['-sfn', path.relative(root, release(n)), `${personas}.new`]);
    await run('mv', ['-T', `${personas}.new`, personas]);
  };
  const removeThenCopy = async (n: number) => {
    const next = release(n);
    await run('rm', ['-rf', personas]);
    await pause(400);
    await slowCopy(next, personas);
  };
  const emptyThenCopy = async (n: number) => {
    const next = release(n);
    await run('sh', ['-c', 'rm -rf "$1"/*', 'empty', personas]);
    await slowCopy(next, personas, 'reverse');
  };
  const copyOver = async (n: number) => {
    const next = release(n);
    await slowCopy(next, personas);
    await run('sh', ['-c', 'cd "$2" && for file in */*; do [ -e "$1/$file" ] || rm "$file"; done', 'prune', next, personas]);
  };
  const moveIntoPlace = async (n: number) => {
    const next = release(n);
    await run('mv', [personas, path.join(root, `old-${n}`)]);
    await run('mv', [next, personas]);
  };
  const rsync = async (n: number) => {
    await run('rsync', ['-a', '--delete', '--delay-updates', `${release(n)}/`, `${personas}/`]);
  };
  const rsyncInPlace = async (n: number) => {
    await run('rsync', ['-a', '--delete', `${release(n)}/`, `${personas}/`]);
  };
  const backToLink = async (n: number) => {
    const next = release(n);
    await run('rm', ['-rf', personas]);
    await run('ln', ['-s', path.relative(root, next), personas]);
  };
  const plan = [swapLink, removeThenCopy, rsync, moveIntoPlace, emptyThenCopy, rsyncInPlace, copyOver, removeThenCopy, backToLink, swapLink, emptyThenCopy, swapLink];
  for (const [index, deploy] of plan.entries()) {
    const n = index + 2;
    await deploy(n);
    await served(n);
  }
  await pause(300);
  deploying = false;
  await Promise.all(callers);

  const final = server.running.registry.current();
  await Promise.all(clients.map((client) => client.close()));
  await server.close();
  fs.rmSync(root, { recursive: true, force: true });
  console.log(`${calls} calls during ${plan.length} deploys`);
  expect([...new Set(failures)].slice(0, 5)).toEqual([]);
  expect(final.problems).toEqual([]);
  expect([...final.personas.keys()].filter((key) => key.includes('release-'))).toEqual([`acme\u0000release-${plan.length + 1}`]);
  expect(calls).toBeGreaterThan(200);
});
