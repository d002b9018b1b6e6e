/**
 * Graceful shutdown: a tool call in flight finishes and is answered; new
 * requests are refused; sessions and the database are closed.
 */
import { expect, it } from 'vitest';

import { sql } from '../engine/store/sql.ts';
import { callHeaders, connect, eventually, startTestServer, textOf } from './helpers/server.ts';
import { basicManifests, testToolKinds } from './helpers/test-tools.ts';

it('finishes the tool call in flight, then stops', async () => {
  const server = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds, settings: { shutdownGraceSeconds: 5 } });
  const client = await connect(server, callHeaders({ key: await server.key() }));
  const inFlight = client.callTool({ name: 'echo', arguments: { text: 'last words', delay_ms: 400 } });
  await eventually(() => (server.running.dispatcher.inFlight === 1 ? true : undefined), 5000, 'the tool call in flight');
  const closing = server.close();
  expect(textOf(await inFlight)).toBe('echo: last words');
  await closing;
  expect(server.running.sessions.size).toBe(0);
  // The store is closed: nothing more is written after shutdown.
  await expect(server.running.services.store.run(sql`DELETE FROM audit_log`)).rejects.toThrow('the store is closed');
  await expect(fetch(new URL('/healthz', server.url))).rejects.toThrow();
});
