/**
 * Before and after every test file (vitest setupFiles). Test files share a
 * worker process (isolate: false): Node, its native modules and the
 * packages in node_modules load once per worker instead of once per file,
 * which was most of the suite's time. What would carry over is held here:
 *
 * - Each file gets a module graph of its own (vi.resetModules): engine and
 *   helper modules are evaluated anew, so module state (the secret values
 *   handed out, caches, counters) starts empty, as in a process of its own.
 * - A file must leave nothing running that it started (a server, a socket,
 *   a timer, a child process, a worker): it fails naming what is left, before
 *   the next file runs in the same process.
 */
import { setTimeout as delay } from 'node:timers/promises';

import { afterAll, beforeAll, vi } from 'vitest';

vi.resetModules();

/** What keeps the event loop alive, by type, with how many of each. */
const running = (): Map<string, number> => {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
};

let before = new Map<string, number>();
beforeAll(() => {
  before = running();
});

afterAll(async () => {
  const left = () =>
    [...running()]
      .filter(([type, count]) => count > (before.get(type) ?? 0))
      .map(([type, count]) => `${count - (before.get(type) ?? 0)} ${type}`);
  // Sockets and child processes take a turn or two of the event loop to close.
  for (const deadline = Date.now() + 5000; left().length && Date.now() < deadline; ) await delay(20);
  if (left().length) throw new Error(`this test file left ${left().join(', ')} running: close what it starts (in afterAll or afterEach)`);
});
