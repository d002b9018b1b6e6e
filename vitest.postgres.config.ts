import { defineConfig } from 'vitest/config';

import { postgresFiles } from './tests/suites.ts';

/** npm run test:postgres: the store and server tests on PostgreSQL (tests/global-setup.ts starts one). */
export default defineConfig({
  test: {
    globalSetup: ['tests/global-setup.ts'],
    include: postgresFiles(),
    env: { SWITCHBOARD_TEST_ENGINES: 'postgres' },
    // As in npm test (vitest.config.ts): shared worker processes, a module graph for each file.
    setupFiles: ['tests/setup/each-file.ts'],
    isolate: false,
    maxWorkers: '150%',
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
  },
});
