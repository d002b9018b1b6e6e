import { defineConfig } from 'vitest/config';

import { DEPLOY } from './tests/suites.ts';

/** npm run test:deploy: the package installed with npm, manifests deployed with rsync and git, the cluster's nginx configuration checked by nginx (.ci/nginx.sh). */
export default defineConfig({
  test: {
    include: DEPLOY,
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
  },
});
