/**
 * The v1 TypeScript SDK client over the 2024-11-05 HTTP+SSE transport
 * (SSEClientTransport against /ucp/v2/sse), what older voice platforms and
 * bridges speak. The same checks of structured content as over Streamable
 * HTTP, and list_changed over the event stream.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import { sdkClientSuite } from './matrix.ts';

sdkClientSuite('v1 SDK client over HTTP+SSE', async (matrix, persona, onListChanged) => {
  const client = new Client({ name: 'matrix-sdk-v1-sse', version: '1.0.0' });
  client.setNotificationHandler(ToolListChangedNotificationSchema, onListChanged);
  await client.connect(new SSEClientTransport(new URL('/ucp/v2/sse', matrix.url), { requestInit: { headers: matrix.headers(persona) } }));
  await client.listTools();
  return client;
});
