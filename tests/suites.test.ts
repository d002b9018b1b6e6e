/**
 * Every test runs in CI: each test file belongs to a vitest configuration,
 * each configuration to an npm script, and .ci/run calls each of those
 * scripts. And npm test stays what it says: none of the suites that need
 * real external parts (tests/suites.ts) runs in it.
 */
import fs from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { REPO_ROOT } from './helpers/server.ts';
import { BROWSER, CLIENT_MATRIX, CLUSTER, DEPLOY, GUIDES, POSTGRES_ONLY, RELIABILITY } from './suites.ts';

interface TestConfig {
  test?: { include?: string[]; exclude?: string[] };
}

const testFiles = (fs.readdirSync(path.join(REPO_ROOT, 'tests'), { recursive: true }) as string[])
  .filter((file) => file.endsWith('.test.ts'))
  .map((file) => `tests/${file.split(path.sep).join('/')}`)
  .sort();

const configNames = fs.readdirSync(REPO_ROOT).filter((name) => /^vitest(\.\w+)?\.config\.ts$/.test(name));

/** The test files a configuration runs: those its include matches and its exclude does not. */
async function filesOf(configName: string): Promise<string[]> {
  const { default: config } = (await import(path.join(REPO_ROOT, configName))) as { default: TestConfig };
  const { include = [], exclude = [] } = config.test ?? {};
  return testFiles.filter((file) => include.some((glob) => path.matchesGlob(file, glob)) && !exclude.some((glob) => path.matchesGlob(file, glob)));
}

const scripts = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
const ciSteps = fs
  .readFileSync(path.join(REPO_ROOT, '.ci', 'run'), 'utf8')
  .split('\n')
  .filter((line) => !line.trimStart().startsWith('#'))
  .join('\n');

/** The script that runs a configuration: `vitest run --config NAME`, or plain `vitest run` for vitest.config.ts. */
function scriptOf(configName: string): string | undefined {
  const runs = (command: string) => (configName === 'vitest.config.ts' ? /\bvitest run(?!.*--config)/.test(command) : command.includes(`--config ${configName}`));
  return Object.keys(scripts).find((name) => runs(scripts[name] as string) && (name === 'test' || ciSteps.includes(`npm run ${name}`)));
}

describe('the test suites', () => {
  it('run every test file', async () => {
    const covered = new Set<string>();
    for (const name of configNames) for (const file of await filesOf(name)) covered.add(file);
    expect(testFiles.length).toBeGreaterThan(50);
    expect(testFiles.filter((file) => !covered.has(file))).toEqual([]);
  });

  it('are each run by an npm script that .ci/run calls', () => {
    expect(configNames).toContain('vitest.config.ts');
    for (const name of configNames) expect(scriptOf(name), `a script that runs ${name} and that .ci/run calls`).toBeDefined();
    expect(scripts.test).toMatch(/\bvitest run\b/);
    expect(ciSteps).toMatch(/^npm test$/m);
  });

  it('keep what needs real external parts out of npm test', async () => {
    const heavy = [...CLUSTER, ...CLIENT_MATRIX, ...DEPLOY, ...GUIDES, ...RELIABILITY, ...BROWSER, ...POSTGRES_ONLY];
    const unit = await filesOf('vitest.config.ts');
    expect(unit.filter((file) => heavy.some((glob) => path.matchesGlob(file, glob)))).toEqual([]);
    expect(unit).toContain('tests/suites.test.ts');
  });
});
