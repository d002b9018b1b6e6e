/**
 * Limits that are the cluster's, with two nodes on one PostgreSQL database:
 * the per-key rate and the per-account and per-key session shares are divided
 * among the live nodes, each node allowing its part, and a node that leaves
 * gives its part back to the others. The server's session cap stays per node.
 *
 * The clock of both servers stands still, so a bucket refills nothing between
 * requests: what passes is exactly a node's burst.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FixedClock } from '../engine/clock.ts';
import { initializeBody, openSession, post, rpcError } from './helpers/http.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { callHeaders, eventually, startTestServer, type TestServer } from './helpers/server.ts';
import { basicManifests, testToolKinds } from './helpers/test-tools.ts';

let database: Awaited<ReturnType<typeof freshDatabase>>;
let a: TestServer;
let b: TestServer | undefined;

/** Whether the node has logged that it counts `nodes` live nodes. */
const counts = (server: TestServer, nodes: number) => server.logLines.some((line) => line.includes('"event":"live_nodes"') && line.includes(`"nodes":${nodes}`));

beforeAll(async () => {
  database = await freshDatabase();
  const start = (nodeName: string) =>
    startTestServer({
      personas: basicManifests,
      toolKinds: testToolKinds,
      clock: new FixedClock(Date.parse('2026-03-02T15:00:00Z')),
      settings: { databaseUrl: database.url, nodeName, rateLimitPerSecond: 5, maxSessions: 100, maxSessionsPerAccount: 6, maxSessionsPerKey: 4 },
    });
  a = await start('node-a');
  b = await start('node-b');
  // A counts B at its next heartbeat; B counted A when it started.
  await eventually(() => (counts(a, 2) ? true : undefined), 10_000, 'node-a to count two live nodes');
}, 30_000);

afterAll(async () => {
  await b?.close();
  await a?.close();
  await database?.drop();
});

const listTools = { jsonrpc: '2.0', id: 1, method: 'tools/list' };

/** Stateless requests with the key until one is refused; how many passed. */
async function passedBeforeRefusal(server: TestServer, key: string): Promise<number> {
  for (let passed = 0; passed < 100; passed++) {
    const response = await post(server, callHeaders({ key }), listTools);
    if (response.status === 429) {
      expect(rpcError(response)?.data?.code).toBe('RATE_LIMITED');
      return passed;
    }
    expect(response.status).toBe(200);
  }
  throw new Error('never refused');
}

describe('with two live nodes', () => {
  it("lets each node take its part of a key's rate: a burst of 5 on each where one node alone takes 10", async () => {
    const key = await a.key();
    expect(await passedBeforeRefusal(a, key)).toBe(5);
    // The other node has its own part of the same key's rate.
    expect(await passedBeforeRefusal(b!, key)).toBe(5);
  });

  it("lets each node hold its part of a key's and an account's sessions, and says so", async () => {
    const flooding = callHeaders({ key: await a.key() });
    for (let i = 0; i < 2; i++) await openSession(a, flooding);
    const overKey = await post(a, flooding, initializeBody());
    expect(overKey.status).toBe(429);
    expect(rpcError(overKey)?.data?.code).toBe('SESSION_QUOTA');
    expect(rpcError(overKey)?.message).toBe(
      'This API key has 2 open sessions on this node (its part of 2 nodes), as many as one key may hold; end sessions it no longer uses (DELETE) or retry shortly',
    );
    // The key's other part is on the other node.
    for (let i = 0; i < 2; i++) await openSession(b!, flooding);
    expect((await post(b!, flooding, initializeBody())).status).toBe(429);
    // The account's part on a node is 3 of its 6.
    const sibling = callHeaders({ key: await a.key() });
    await openSession(a, sibling);
    const overAccount = await post(a, sibling, initializeBody());
    expect(overAccount.status).toBe(429);
    expect(rpcError(overAccount)?.message).toMatch(/^This account has 3 open sessions on this node \(its part of 2 nodes\)/);
  });
});

describe('when a node leaves', () => {
  it('gives its part back to the nodes left', async () => {
    await b!.close();
    b = undefined;
    await eventually(() => (counts(a, 1) ? true : undefined), 10_000, 'node-a to count one live node');
    // A key new to node A gets the whole burst again.
    expect(await passedBeforeRefusal(a, await a.key())).toBe(10);
    // The account's share on node A is its whole 6 again (3 are open): 3 more sessions of a new key pass.
    const more = callHeaders({ key: await a.key() });
    for (let i = 0; i < 3; i++) await openSession(a, more);
    const overAccount = await post(a, more, initializeBody());
    expect(rpcError(overAccount)?.message).toMatch(/^This account has 6 open sessions, as many as it may hold/);
  });
});
