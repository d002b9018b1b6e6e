import { defineConfig } from 'vitest/config';

import { GUIDES } from './tests/suites.ts';

/** npm run test:guides: docs/integrations/ run block by block against a real switchboard serve. */
export default defineConfig({
  test: {
    include: GUIDES,
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
  },
});
