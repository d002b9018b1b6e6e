/**
 * Which test files each vitest configuration runs. `npm test`
 * (vitest.config.ts) runs the unit and integration tests against the
 * wire-level fakes, on SQLite, with nothing to install; each heavier suite,
 * which needs real external parts, has its configuration and npm script, and
 * .ci/run calls every one after `npm test`. tests/suites.test.ts holds every
 * test file to a suite and every suite to a script that CI runs.
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');

/** npm run test:cluster: several nodes on PostgreSQL behind a real nginx. */
export const CLUSTER = ['tests/cluster*.test.ts'];

/** npm run test:deploy: the ways to deploy, with the tools they use: npm (the package installed), rsync and git (manifests), nginx (its configuration checked). */
export const DEPLOY = ['tests/package-install.test.ts', 'tests/deploy-*.test.ts'];

/** npm run test:guides: the integration guides as a reader follows them, every shell block run against a real `switchboard serve`. */
export const GUIDES = ['tests/integration-guides.test.ts'];

/** npm run test:clients: MCP clients of other SDKs and languages (Python, Gemini, OpenAI Agents, the Inspector). */
export const CLIENT_MATRIX = ['tests/client-matrix/**/*.test.ts'];

/** npm run test:reliability and npm run test:browser, with configurations of their own. */
export const RELIABILITY = ['tests/reliability/**'];
export const BROWSER = ['tests/console/**'];

/** Files that are about PostgreSQL alone: npm run test:postgres only. */
export const POSTGRES_ONLY = ['tests/*-postgres.test.ts', 'tests/migrate.test.ts', 'tests/store-unavailable.test.ts'];

/**
 * npm run test:postgres: every file that opens PostgreSQL (through
 * helpers/engines.ts or helpers/postgres.ts), outside the cluster suite. In
 * the files that test both engines, ENGINE_KINDS is postgres there and
 * sqlite in npm test, so each half runs in one suite.
 */
export function postgresFiles(): string[] {
  return fs
    .readdirSync(path.join(ROOT, 'tests'))
    .filter((name) => name.endsWith('.test.ts') && !name.startsWith('cluster'))
    .filter((name) => /from '\.\/helpers\/(engines|postgres)\.ts'/.test(fs.readFileSync(path.join(ROOT, 'tests', name), 'utf8')))
    .map((name) => `tests/${name}`);
}
