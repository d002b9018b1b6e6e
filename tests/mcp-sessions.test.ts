/**
 * 2025-era sessions: binding to key and call, DELETE, idle expiry, the cap and
 * each account's and key's share of it, abandoned handshakes, clients that
 * open a session per tool call, and every 2025 protocol version.
 */
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';

import { FixedClock } from '../engine/clock.ts';
import { resolveSettings } from '../engine/config.ts';
import { initializeBody, openSession, post, rpcError } from './helpers/http.ts';
import { callHeaders, connect, eventually, startTestServer, textOf, type TestServer } from './helpers/server.ts';
import { basicManifests, testToolKinds } from './helpers/test-tools.ts';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const start = async (settings = {}) => {
  server = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds, settings });
  return server;
};

const listTools = { jsonrpc: '2.0', id: 2, method: 'tools/list' };

describe('sessions', () => {
  it.each(['2025-03-26', '2025-06-18', '2025-11-25'])('serve protocol version %s with a session id', async (version) => {
    const s = await start();
    const headers = callHeaders({ key: await s.key() });
    const id = await openSession(s, headers, version);
    const listed = await post(s, { ...headers, 'mcp-session-id': id, 'mcp-protocol-version': version }, listTools);
    expect(listed.status).toBe(200);
    expect((listed.json as { result: { tools: { name: string }[] } }).result.tools.map((tool) => tool.name)).toEqual(['echo']);
  });

  it('refuses a session used with another key or another call', async () => {
    const s = await start();
    const headers = callHeaders({ key: await s.key(), call: 'call-a' });
    const id = await openSession(s, headers);
    const otherKey = await post(s, { ...headers, 'X-API-Key': await s.key(), 'mcp-session-id': id }, listTools);
    expect(otherKey.status).toBe(403);
    expect(rpcError(otherKey)?.data?.code).toBe('SESSION_BINDING');
    const otherCall = await post(s, { ...headers, call_id: 'call-b', 'mcp-session-id': id }, listTools);
    expect(otherCall.status).toBe(403);
    const otherPersona = await post(s, { ...headers, persona_id: 'sales', 'mcp-session-id': id }, listTools);
    expect(otherPersona.status).toBe(403);
    const same = await post(s, { ...headers, 'mcp-session-id': id }, listTools);
    expect(same.status).toBe(200);
  });

  it('answers an unknown session id with 404 so the client starts over', async () => {
    const s = await start();
    const response = await post(s, { ...callHeaders({ key: await s.key() }), 'mcp-session-id': 'no-such-session' }, listTools);
    expect(response.status).toBe(404);
  });

  it("names each session after its node, and answers a session of another node with 404", async () => {
    const s = await start({ nodeName: 'edge-1' });
    const headers = callHeaders({ key: await s.key() });
    const id = await openSession(s, headers);
    expect(id).toMatch(/^edge-1\.[0-9a-f-]{36}$/);
    expect((await post(s, { ...headers, 'mcp-session-id': id }, listTools)).status).toBe(200);
    // What a balancer sends here when that session's node is gone: unknown, so the client starts over.
    const elsewhere = await post(s, { ...headers, 'mcp-session-id': id.replace(/^edge-1\./, 'edge-2.') }, listTools);
    expect(elsewhere.status).toBe(404);
    expect(rpcError(elsewhere)?.data?.code).toBe('SESSION_NOT_FOUND');
  });

  it('ends a session on DELETE and frees it', async () => {
    const s = await start();
    const client = await connect(s, callHeaders({ key: await s.key() }));
    expect(s.running.sessions.size).toBe(1);
    const transport = (client as unknown as { transport: StreamableHTTPClientTransport }).transport;
    const id = transport.sessionId as string;
    await transport.terminateSession();
    await eventually(() => (s.running.sessions.size === 0 ? true : undefined), 2000, 'session removal');
    const after = await post(s, { ...callHeaders({ key: await s.key() }), 'mcp-session-id': id }, listTools);
    expect(after.status).toBe(404);
    await client.close();
  });

  it('closes idle sessions after the idle time', async () => {
    const s = await start({ sessionIdleSeconds: 1 });
    const headers = callHeaders({ key: await s.key() });
    const id = await openSession(s, headers);
    expect(s.running.sessions.get(id)).toBeDefined();
    await eventually(() => (s.running.sessions.get(id) ? undefined : true), 5000, 'idle expiry');
    const after = await post(s, { ...headers, 'mcp-session-id': id }, listTools);
    expect(after.status).toBe(404);
  });

  it('refuses sessions past the cap with 503 and Retry-After, and recovers when one ends', async () => {
    const s = await start({ maxSessions: 2 });
    const headers = callHeaders({ key: await s.key() });
    const first = await openSession(s, headers);
    await openSession(s, headers);
    const refused = await post(s, headers, initializeBody());
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    await post(s, { ...headers, 'mcp-session-id': first }, undefined, { method: 'DELETE' });
    await eventually(() => (s.running.sessions.size === 1 ? true : undefined), 2000, 'session end');
    await openSession(s, headers);
  });

  it('gives each key and each account a share of the sessions: one at its share leaves the others served', async () => {
    const s = await start({ maxSessions: 10, maxSessionsPerAccount: 6, maxSessionsPerKey: 4 });
    const flooding = callHeaders({ key: await s.key('acme') });
    for (let i = 0; i < 4; i += 1) await openSession(s, flooding);
    const overKey = await post(s, flooding, initializeBody());
    expect(overKey.status).toBe(429);
    expect(overKey.headers.get('retry-after')).toBe('5');
    expect(rpcError(overKey)?.data?.code).toBe('SESSION_QUOTA');
    expect(rpcError(overKey)?.message).toMatch(/^This API key has 4 open sessions/);
    // Another key of the account has room until the account's share is reached.
    const sibling = callHeaders({ key: await s.key('acme') });
    for (let i = 0; i < 2; i += 1) await openSession(s, sibling);
    const overAccount = await post(s, sibling, initializeBody());
    expect(overAccount.status).toBe(429);
    expect(rpcError(overAccount)?.message).toMatch(/^This account has 6 open sessions/);
    // Every other account is served.
    const other = await connect(s, callHeaders({ key: await s.key('globex'), account: 'globex', persona: 'reception' }));
    expect(textOf(await other.callTool({ name: 'echo', arguments: { text: 'served' } }))).toBe('echo: served');
    await other.close();
  });

  it('counts the subscription streams of 2026-07-28 clients against the same shares while they are open', async () => {
    const s = await start({ maxSessionsPerAccount: 2, maxSessionsPerKey: 2 });
    const headers = callHeaders({ key: await s.key('acme') });
    const subscribed = async () => {
      const client = await connect(s, headers, 'modern', { listChanged: { tools: { onChanged: () => undefined } } });
      await eventually(() => ((client as unknown as { autoOpenedSubscription?: unknown }).autoOpenedSubscription ? true : undefined), 3000, 'subscription');
      return client;
    };
    const first = await subscribed();
    const second = await subscribed();
    const refused = await post(s, headers, initializeBody());
    expect(refused.status).toBe(429);
    expect(rpcError(refused)?.data?.code).toBe('SESSION_QUOTA');
    await first.close();
    await eventually(async () => ((await post(s, headers, initializeBody())).status === 200 ? true : undefined), 3000, 'a slot given back');
    await second.close();
  });

  it('closes a session that made no request after initialize once the unused time is past, and keeps used ones', async () => {
    const clock = new FixedClock(Date.parse('2026-03-02T15:00:00Z'));
    server = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds, clock, settings: { sessionUnusedSeconds: 60, sessionIdleSeconds: 900 } });
    const headers = callHeaders({ key: await server.key() });
    const abandoned = await openSession(server, headers);
    const used = await openSession(server, headers);
    expect((await post(server, { ...headers, 'mcp-session-id': used }, listTools)).status).toBe(200);
    clock.advance(61_000);
    await server.running.sessions.sweep();
    expect((await post(server, { ...headers, 'mcp-session-id': abandoned }, listTools)).status).toBe(404);
    expect((await post(server, { ...headers, 'mcp-session-id': used }, listTools)).status).toBe(200);
  });

  it('serves clients that open a new session for every tool call, without leaking sessions', async () => {
    const s = await start();
    const key = await s.key();
    for (let i = 0; i < 20; i += 1) {
      const client = await connect(s, callHeaders({ key, call: 'call-repeat' }));
      expect(textOf(await client.callTool({ name: 'echo', arguments: { text: `n${i}` } }))).toBe(`echo: n${i}`);
      const transport = (client as unknown as { transport: StreamableHTTPClientTransport }).transport;
      await transport.terminateSession();
      await client.close();
    }
    await eventually(() => (s.running.sessions.size === 0 ? true : undefined), 2000, 'all sessions closed');
  });

  it('answers a tool error as a result and an unknown tool as a protocol error', async () => {
    const s = await start();
    const client = await connect(s, callHeaders({ key: await s.key() }));
    const invalid = await client.callTool({ name: 'echo', arguments: { text: true } });
    expect(invalid.isError).toBe(true);
    expect(textOf(invalid)).toBe('Invalid arguments: "text" must be a string. Correct them and call the tool again.');
    const refused = await client.callTool({ name: 'echo', arguments: { text: 'x', fail: true } });
    expect(refused.isError).toBe(true);
    expect(refused.structuredContent).toMatchObject({ error: { code: 'TOOL_REFUSED', message: 'Refused on purpose.' } });
    const slow = await client.callTool({ name: 'echo', arguments: { text: 'x', delay_ms: 3000 } });
    expect(slow.isError).toBe(true);
    expect(textOf(slow)).toMatch(/^The tool did not answer within 1 second\. /);
    await expect(client.callTool({ name: 'nope', arguments: {} })).rejects.toThrow(/Unknown tool: nope/);
    await client.close();
  });
});

describe('session settings', () => {
  it('refuses a share given larger than what contains it, and lets a smaller cap win over a default share', () => {
    expect(() => resolveSettings({ 'max-sessions': '100', 'max-sessions-per-account': '200' }, {})).toThrow('--max-sessions-per-account (200) must not exceed --max-sessions (100)');
    expect(() => resolveSettings({}, { SWITCHBOARD_MAX_SESSIONS_PER_KEY: '2000' })).toThrow(/^--max-sessions-per-key \(2000\) must not exceed --max-sessions-per-account \(1000\)/);
    expect(resolveSettings({ 'max-sessions': '100' }, {})).toMatchObject({ maxSessions: 100, maxSessionsPerAccount: 1000, maxSessionsPerKey: 500, sessionUnusedSeconds: 60 });
  });
});
