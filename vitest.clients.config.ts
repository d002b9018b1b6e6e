import { defineConfig } from 'vitest/config';

import { CLIENT_MATRIX } from './tests/suites.ts';

/** npm run test:clients: the client matrix (tests/client-matrix/python/setup.sh installs the Python clients). */
export default defineConfig({
  test: {
    include: CLIENT_MATRIX,
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
  },
});
