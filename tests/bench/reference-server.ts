/**
 * The reference for throughput figures: a bare MCP server built with the same
 * SDK and adapters as Switchboard, one no-op tool, no authentication, no
 * validation beyond the SDK's, no audit. 2025-era sessions are kept the way
 * the SDK's documentation shows (a map from session id to transport, one
 * McpServer per session); everything else goes to createMcpHandler.
 *
 *   npx tsx tests/bench/reference-server.ts [port]    # prints the URL when listening
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';

import { NodeStreamableHTTPServerTransport, toNodeHandler } from '@modelcontextprotocol/node';
import { createMcpHandler, isInitializeRequest, McpServer } from '@modelcontextprotocol/server';
import express from 'express';
import * as z from 'zod/v4';

function buildServer(): McpServer {
  const server = new McpServer({ name: 'reference', version: '1.0.0' });
  server.registerTool('noop', { description: 'Does nothing', inputSchema: z.object({ text: z.string().optional() }) }, async () => ({
    content: [{ type: 'text', text: 'ok' }],
  }));
  return server;
}

export function referenceApp(): express.Express {
  const sessions = new Map<string, NodeStreamableHTTPServerTransport>();
  const stateless = toNodeHandler(createMcpHandler(() => buildServer()));

  const app = express();
  app.use(express.json());
  const route = async (req: express.Request, res: express.Response) => {
    const sessionId = req.headers['mcp-session-id'] as string | undefined;
    if (sessionId && sessions.has(sessionId)) {
      await sessions.get(sessionId)!.handleRequest(req, res, req.body);
      return;
    }
    if (!sessionId && req.method === 'POST' && isInitializeRequest(req.body)) {
      const transport = new NodeStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, transport);
        },
      });
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
      };
      await buildServer().connect(transport);
      await transport.handleRequest(req, res, req.body);
      return;
    }
    if (sessionId) {
      res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
      return;
    }
    await stateless(req, res, req.body);
  };
  app.post('/mcp', route);
  app.get('/mcp', route);
  app.delete('/mcp', route);
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const server = referenceApp().listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
    console.log(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
  });
  process.on('SIGTERM', () => process.exit(0));
}
