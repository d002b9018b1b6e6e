/**
 * The v2 TypeScript SDK client pinned to protocol 2026-07-28: no session,
 * every request on its own; tools/list_changed comes over the subscription
 * the client opens by itself.
 */
import { connect, eventually } from '../helpers/server.ts';
import { sdkClientSuite } from './matrix.ts';

sdkClientSuite('v2 SDK client, 2026-07-28', async (matrix, persona, onListChanged) => {
  const client = await connect(matrix.server, matrix.headers(persona), 'modern', { listChanged: { tools: { onChanged: onListChanged } } });
  await eventually(() => ((client as unknown as { autoOpenedSubscription?: unknown }).autoOpenedSubscription ? true : undefined), 3000, 'subscription');
  return client;
});
