import { defineConfig } from 'vitest/config';

/** The console in a real browser: Debian's Chromium driven by playwright-core (.ci/chromium.sh installs it). */
export default defineConfig({
  test: {
    globalSetup: ['tests/global-setup.ts'],
    include: ['tests/console/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
