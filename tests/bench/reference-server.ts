/**
 * The reference for throughput figures: a bare MCP server built with the same
 * SDK and adapters as Switchboard, one no-op tool, no authentication, no
 * validation beyond the SDK's, no audit, serving both protocol eras on one
 * endpoint the way the SDK's legacy-routing example does: every POST is
 * classified with isLegacyRequest; 2025-era traffic goes to a map of
 * sessions (one transport and one McpServer each), the rest to
 * createMcpHandler.
 *
 * routing 'direct' skips the classification for requests that carry a known
 * session id (what Switchboard does), to show how much of a ratio comes from
 * that alone.
 *
 *   npx tsx tests/bench/reference-server.ts [port] [example|direct]
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';

import { NodeStreamableHTTPServerTransport, toNodeHandler, toWebRequest } from '@modelcontextprotocol/node';
import { createMcpHandler, isInitializeRequest, isLegacyRequest, McpServer } from '@modelcontextprotocol/server';
import express from 'express';
import * as z from 'zod/v4';

function buildServer(): McpServer {
  const server = new McpServer({ name: 'reference', version: '1.0.0' });
  server.registerTool('noop', { description: 'Does nothing', inputSchema: z.object({ text: z.string().optional() }) }, async () => ({
    content: [{ type: 'text', text: 'ok' }],
  }));
  return server;
}

export type ReferenceRouting = 'example' | 'direct';

export function referenceApp(routing: ReferenceRouting = 'example'): express.Express {
  const sessions = new Map<string, NodeStreamableHTTPServerTransport>();
  const stateless = toNodeHandler(createMcpHandler(() => buildServer()));

  const app = express();
  app.use(express.json());
  const legacy = async (req: express.Request, res: express.Response) => {
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
    res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: Session ID required' }, id: null });
  };
  app.post('/mcp', async (req, res) => {
    const sessionId = req.headers['mcp-session-id'] as string | undefined;
    if (routing === 'direct' && sessionId && sessions.has(sessionId)) {
      await legacy(req, res);
      return;
    }
    const probe = await toWebRequest(req, req.body);
    await ((await isLegacyRequest(probe)) ? legacy(req, res) : stateless(req, res, req.body));
  });
  app.get('/mcp', (req, res) => void legacy(req, res));
  app.delete('/mcp', (req, res) => void legacy(req, res));
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const server = referenceApp((process.argv[3] ?? 'example') as ReferenceRouting).listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
    console.log(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
  });
  process.on('SIGTERM', () => process.exit(0));
}
