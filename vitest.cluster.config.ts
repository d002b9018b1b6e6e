import { defineConfig } from 'vitest/config';

import { CLUSTER } from './tests/suites.ts';

/** npm run test:cluster: nodes on one PostgreSQL database (tests/global-setup.ts starts it) behind a real nginx (.ci/nginx.sh). */
export default defineConfig({
  test: {
    globalSetup: ['tests/global-setup.ts'],
    include: CLUSTER,
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
  },
});
