import { defineConfig } from 'vitest/config';

import { BROWSER, CLIENT_MATRIX, CLUSTER, DEPLOY, GUIDES, POSTGRES_ONLY, RELIABILITY } from './tests/suites.ts';

/**
 * npm test: unit and integration tests against the wire-level fakes, on
 * SQLite; no PostgreSQL, nginx or other clients to install (tests/suites.ts
 * says what runs where). Files share worker processes, each file with a
 * module graph of its own and held to stopping what it starts
 * (tests/setup/each-file.ts). Half again as many workers as cores: most of a
 * test's time is spent waiting on servers, timers and child processes.
 */
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    exclude: [...RELIABILITY, ...BROWSER, ...CLIENT_MATRIX, ...CLUSTER, ...DEPLOY, ...GUIDES, ...POSTGRES_ONLY, 'node_modules/**'],
    env: { SWITCHBOARD_TEST_ENGINES: 'sqlite' },
    setupFiles: ['tests/setup/each-file.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    isolate: false,
    maxWorkers: '150%',
  },
});
