import { defineConfig } from 'vitest/config';

/** The reliability suite: crash, fuzz, reload-storm and overload runs against real servers. */
export default defineConfig({
  test: {
    globalSetup: ['tests/global-setup.ts'],
    include: ['tests/reliability/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
    // The fuzz run measures the heap after a full garbage collection.
    execArgv: ['--expose-gc'],
  },
});
