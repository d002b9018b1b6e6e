/**
 * A burst of first requests with a valid key from one address, on each
 * store engine. Every attempt takes a failure in advance while its key is
 * looked up (so guesses sent together cannot all pass before one fails);
 * with a look-up that takes a round trip (PostgreSQL), a voice bridge
 * opening more calls at once than the address has failures would be
 * refused unless attempts wait for the look-ups ahead of them.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { ENGINE_KINDS } from './helpers/engines.ts';
import { initializeBody, post } from './helpers/http.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { callHeaders, startTestServer, type TestServer } from './helpers/server.ts';

describe.each(ENGINE_KINDS)('a burst of first requests on %s', (kind) => {
  const closing: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const close of closing.reverse()) await close();
  });

  async function start(): Promise<TestServer> {
    const settings: Record<string, unknown> = { authFailureLimit: 2 };
    if (kind === 'postgres') {
      const database = await freshDatabase();
      closing.push(database.drop);
      settings.databaseUrl = database.url;
    }
    const server = await startTestServer({ settings });
    closing.push(() => server.close());
    return server;
  }

  it('answers every request made at once with a key no one has used yet, and refuses guesses past the limit', async () => {
    const server = await start();
    const fresh = await server.key();
    const burst = await Promise.all(Array.from({ length: 60 }, () => post(server, callHeaders({ key: fresh }), initializeBody())));
    expect(burst.map((answer) => answer.status)).toEqual(Array.from({ length: 60 }, () => 200));
    const guesses = await Promise.all(Array.from({ length: 20 }, (_, i) => post(server, callHeaders({ key: `sb_burst-${i}` }), initializeBody())));
    const statuses = guesses.map((answer) => answer.status).sort();
    expect(statuses).toEqual([...Array.from({ length: 2 }, () => 401), ...Array.from({ length: 18 }, () => 429)]);
  });
});
