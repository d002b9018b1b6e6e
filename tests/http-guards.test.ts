/**
 * What the HTTP layer refuses before MCP sees a request: foreign Host and
 * Origin headers (DNS rebinding), oversized and non-JSON bodies, and clients
 * over their rate.
 */
import http from 'node:http';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { initializeBody, openSession, post, rpcError } from './helpers/http.ts';
import { callHeaders, startTestServer, type TestServer } from './helpers/server.ts';
import { basicManifests, testToolKinds } from './helpers/test-tools.ts';

let server: TestServer;
let key: string;

beforeAll(async () => {
  server = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds, settings: { bodyLimitBytes: 4096, rateLimitPerSecond: 1000 } });
  key = await server.key('acme');
});
afterAll(async () => server.close());

describe('DNS rebinding protection', () => {
  it('refuses a Host that is not this server', async () => {
    // fetch() cannot set Host; a plain node:http request can.
    const body = JSON.stringify(initializeBody());
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = http.request(server.mcpUrl, { method: 'POST', headers: { ...callHeaders({ key }), host: 'attacker.example', 'content-type': 'application/json', accept: 'application/json, text/event-stream' } }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      });
      request.on('error', reject);
      request.end(body);
    });
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.body).error.data.code).toBe('HOST_NOT_ALLOWED');
  });

  it('refuses a browser Origin that is not allowed, and accepts a localhost one', async () => {
    const refused = await post(server, { ...callHeaders({ key }), origin: 'http://attacker.example' }, initializeBody());
    expect(refused.status).toBe(403);
    expect(rpcError(refused)?.data?.code).toBe('ORIGIN_NOT_ALLOWED');
    const local = await post(server, { ...callHeaders({ key }), origin: 'http://localhost:3000' }, initializeBody());
    expect(local.status).toBe(200);
  });
});

describe('request bodies', () => {
  it('refuses a body over the limit with 413', async () => {
    const headers = callHeaders({ key });
    const session = await openSession(server, headers);
    const body = { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(10_000) } } };
    const response = await post(server, { ...headers, 'mcp-session-id': session }, body);
    expect(response.status).toBe(413);
    expect(rpcError(response)?.data?.code).toBe('BODY_TOO_LARGE');
  });

  it('answers invalid JSON with a parse error', async () => {
    const response = await post(server, callHeaders({ key }), undefined, { raw: '{"jsonrpc": "2.0", ' });
    expect(response.status).toBe(400);
    expect(rpcError(response)?.code).toBe(-32700);
  });

  it('answers a body that is not JSON with 415', async () => {
    const headers = callHeaders({ key });
    const session = await openSession(server, headers);
    const inSession = await post(server, { ...headers, 'mcp-session-id': session }, undefined, { contentType: 'text/plain', raw: 'hello' });
    expect(inSession.status).toBe(415);
    const stateless = await post(server, headers, undefined, { contentType: 'text/plain', raw: 'hello' });
    expect(stateless.status).toBe(415);
  });
});

describe('rate limit', () => {
  it('answers 429 with Retry-After past the per-key rate', async () => {
    const limited = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds, settings: { rateLimitPerSecond: 2 } });
    try {
      const limitedKey = await limited.key('acme');
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 8; i += 1) {
        const response = await post(limited, callHeaders({ key: limitedKey }), initializeBody());
        statuses.push(response.status);
        if (response.status === 429) retryAfter = response.headers.get('retry-after');
      }
      expect(statuses.slice(0, 4)).toEqual([200, 200, 200, 200]);
      expect(statuses).toContain(429);
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
      // Another key has its own bucket.
      expect((await post(limited, callHeaders({ key: await limited.key('acme') }), initializeBody())).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
