/**
 * The v1 TypeScript SDK client (@modelcontextprotocol/sdk 1.x) over
 * Streamable HTTP, what most Node voice bridges and mcp-remote are built on.
 * Unlike the v2 client it checks structuredContent against the tool's
 * outputSchema on error results too, and throws -32602 when they do not
 * match; it has seen each outputSchema once tools/list ran. Every error must
 * still come through as its text.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import { sdkClientSuite } from './matrix.ts';

sdkClientSuite('v1 SDK client', async (matrix, persona, onListChanged) => {
  const client = new Client({ name: 'matrix-sdk-v1', version: '1.0.0' });
  client.setNotificationHandler(ToolListChangedNotificationSchema, onListChanged);
  await client.connect(new StreamableHTTPClientTransport(new URL(matrix.url), { requestInit: { headers: matrix.headers(persona) } }));
  // tools/list before any call, as a bridge does: from then on the client checks structured content against each outputSchema.
  await client.listTools();
  return client;
});
