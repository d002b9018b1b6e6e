/**
 * With several nodes, each holds the sessions it opened; the end of a call
 * learned on one node (the PBX's DELETE of the call, a confirmed hang-up)
 * closes the call's sessions on every node, not only its own.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';

import { adminRequest } from './helpers/pbx.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { callHeaders, connect, eventually, startTestServer, type TestServer } from './helpers/server.ts';
import { basicManifests } from './helpers/test-tools.ts';

let a: TestServer;
let b: TestServer;
let drop: () => Promise<void>;

beforeAll(async () => {
  const database = await freshDatabase();
  drop = database.drop;
  a = await startTestServer({ personas: basicManifests, settings: { databaseUrl: database.url } });
  b = await startTestServer({ personas: basicManifests, settings: { databaseUrl: database.url } });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await drop();
});

it('closes the sessions of a call on every node when one node learns the call is over', async () => {
  const client = await connect(a, callHeaders({ key: await a.key(), call: 'across-1' }));
  const other = await connect(a, callHeaders({ key: await a.key(), call: 'across-2' }));
  expect(a.running.sessions.size).toBe(2);
  const ended = await adminRequest(b.url, await b.key('acme', 'admin'), 'DELETE', '/ucp/v2/accounts/acme/calls/across-1', { reason: 'caller hung up' });
  expect(ended.status).toBe(200);
  await eventually(() => ([...a.running.sessions.all()].every((session) => session.call.callId !== 'across-1') ? true : undefined), 5000, 'the session on the other node to close');
  expect([...a.running.sessions.all()].map((session) => session.call.callId)).toEqual(['across-2']);
  await expect(client.listTools()).rejects.toThrow();
  expect((await other.listTools()).tools.length).toBeGreaterThan(0);
});
