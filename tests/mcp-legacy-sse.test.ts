/**
 * The 2024-11-05 HTTP+SSE transport at /ucp/v2/sse, through the v1 SDK's
 * SSEClientTransport (what older voice bridges use) and through raw HTTP for
 * the wire format and what no SDK client sends: the same key, context,
 * path form, limits and session binding as the Streamable HTTP endpoint, one
 * session table with it (cap, list_changed, end of call, shutdown).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { afterEach, describe, expect, it } from 'vitest';

import { FixedClock } from '../engine/clock.ts';
import { SseServerTransport } from '../engine/mcp/sse-transport.ts';
import { initializeBody, openSession, post } from './helpers/http.ts';
import { adminRequest } from './helpers/pbx.ts';
import { callHeaders, eventually, startTestServer, textOf, writeManifests, type TestServerOptions, type TestServer } from './helpers/server.ts';
import { basicManifests, testToolKinds } from './helpers/test-tools.ts';

let server: TestServer | undefined;
const clients: Client[] = [];
const streams: LegacyStream[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close().catch(() => undefined)));
  for (const stream of streams.splice(0)) stream.close();
  await server?.close();
  server = undefined;
});

const start = async (options: TestServerOptions = {}): Promise<TestServer> => {
  server = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds, ...options });
  return server;
};

const sseUrl = (s: TestServer, path = '/ucp/v2/sse') => new URL(path, s.url);
const contextPath = (account: string, persona: string, call: string) =>
  `/ucp/v2/sse/accounts/${encodeURIComponent(account)}/personas/${encodeURIComponent(persona)}/calls/${encodeURIComponent(call)}`;

/** A v1 SDK client over the legacy transport. */
async function legacyClient(s: TestServer, headers: Record<string, string>, path?: string, options: ConstructorParameters<typeof Client>[1] = {}): Promise<Client> {
  const client = new Client({ name: 'legacy-sse-test', version: '1.0.0' }, options);
  await client.connect(new SSEClientTransport(sseUrl(s, path), { requestInit: { headers } }));
  clients.push(client);
  return client;
}

interface SseEvent {
  event: string;
  data: string;
}

/** The stream read by hand: every event and comment, in order. */
class LegacyStream {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  ended = false;
  text = '';
  private taken = 0;

  private constructor(
    readonly status: number,
    readonly headers: Headers,
    private readonly controller: AbortController,
  ) {}

  static async open(url: URL, headers: Record<string, string>): Promise<LegacyStream> {
    const controller = new AbortController();
    const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
    const stream = new LegacyStream(response.status, response.headers, controller);
    streams.push(stream);
    if (response.status !== 200) {
      stream.text = await response.text();
      stream.ended = true;
      return stream;
    }
    void stream.read(response.body!.pipeThrough(new TextDecoderStream()).getReader());
    return stream;
  }

  private async read(reader: ReadableStreamDefaultReader<string>): Promise<void> {
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
            const match = /^(event|data): ?(.*)$/.exec(line);
            if (match) fields[match[1] as string] = match[2] as string;
          }
          if (fields.data !== undefined) this.events.push({ event: fields.event ?? 'message', data: fields.data });
        }
      }
    } catch {
      // aborted by close()
    }
    this.ended = true;
  }

  get json(): { error?: { code: number; message: string; data?: Record<string, unknown> } } {
    return JSON.parse(this.text) as never;
  }

  /** The URL the endpoint event names. */
  async endpoint(): Promise<string> {
    const first = await eventually(() => this.events[0], 3000, 'endpoint event');
    expect(first.event).toBe('endpoint');
    return first.data;
  }

  /** The next `message` event not yet taken, parsed. */
  async next(): Promise<Record<string, unknown>> {
    const found = await eventually(() => this.events.slice(1).filter((event) => event.event === 'message')[this.taken], 3000, 'message event');
    this.taken += 1;
    return JSON.parse(found.data) as Record<string, unknown>;
  }

  close(): void {
    this.controller.abort();
  }
}

async function send(s: TestServer, endpoint: string, headers: Record<string, string>, body: unknown, init: { raw?: string; contentType?: string } = {}) {
  const response = await fetch(new URL(endpoint, s.url), {
    method: 'POST',
    headers: { 'content-type': init.contentType ?? 'application/json', ...headers },
    body: init.raw ?? JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: (text ? JSON.parse(text) : undefined) as { error?: { code: number; message: string; data?: Record<string, unknown> } } | undefined };
}

/** Opens a stream and initializes its session by hand; returns the stream and its POST URL. */
async function initialized(s: TestServer, headers: Record<string, string>, protocolVersion = '2024-11-05') {
  const stream = await LegacyStream.open(sseUrl(s), headers);
  const endpoint = await stream.endpoint();
  expect((await send(s, endpoint, headers, initializeBody(protocolVersion))).status).toBe(202);
  const answer = await stream.next();
  expect((await send(s, endpoint, headers, { jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
  return { stream, endpoint, answer };
}

const listTools = { jsonrpc: '2.0', id: 2, method: 'tools/list' };

describe('the v1 SDK client over HTTP+SSE', () => {
  it('initializes, lists the tools and calls them, with every error text readable', async () => {
    const s = await start();
    const client = await legacyClient(s, callHeaders({ key: await s.key(), persona: 'sales', call: 'call-legacy-1', caller: '(212) 555-0100' }));
    expect(client.getServerVersion()?.name).toBe('switchboard');
    expect(client.getServerCapabilities()?.tools?.listChanged).toBe(true);
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['echo']);

    const good = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect(good.isError).toBeFalsy();
    expect(textOf(good)).toBe('echo: hi');
    expect(good.structuredContent).toMatchObject({ account: 'acme', persona: 'sales', call: 'call-legacy-1', caller: '+12125550100' });

    const invalid = await client.callTool({ name: 'echo', arguments: { text: true } });
    expect(invalid.isError).toBe(true);
    expect(textOf(invalid)).toBe('Invalid arguments: "text" must be a string. Correct them and call the tool again.');
    const refused = await client.callTool({ name: 'echo', arguments: { text: 'x', fail: true } });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toBe('Refused on purpose.');
    const slow = await client.callTool({ name: 'echo', arguments: { text: 'x', delay_ms: 3000 } });
    expect(slow.isError).toBe(true);
    expect(textOf(slow)).toMatch(/^The tool did not answer within 1 second\. /);
    await expect(client.callTool({ name: 'nope', arguments: {} })).rejects.toThrow(/Unknown tool: nope/);
    // Nothing the client sent ended the session.
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'still here' } }))).toBe('echo: still here');
    expect([...s.running.sessions.all()].map((session) => session.kind)).toEqual(['sse']);
  });

  it('gets tools/list_changed after a manifest edit on disk, then the new tools', async () => {
    const s = await start({ personas: { ...basicManifests, 'acme/account.yaml': `${basicManifests['acme/account.yaml']}queues:\n  - { id: q-sales, name: Sales, extension: "600" }\n` } });
    let changes = 0;
    const client = await legacyClient(s, callHeaders({ key: await s.key() }), undefined, { listChanged: { tools: { autoRefresh: false, onChanged: () => (changes += 1) } } });
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['echo']);
    writeManifests(s.personasDir, { 'acme/front-desk.yaml': 'persona_id: front-desk\ntools:\n  - type: transfer_to_queue\n    name: transfer_to_sales\n    description: Send the caller to sales.\n    queue: q-sales\n' });
    await eventually(() => (changes > 0 ? true : undefined), 5000, 'list_changed');
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['echo', 'transfer_to_sales']);
    expect(textOf(await client.callTool({ name: 'transfer_to_sales', arguments: {} }))).toBe('would transfer to Sales');
  });

  it('takes the call context from the path, the key from a header', async () => {
    const s = await start();
    const call = 'sip:a84b4c76@pbx.example/1';
    const client = await legacyClient(s, { 'X-API-Key': await s.key() }, `${contextPath('acme', 'sales', call)}?caller_id_number=%2B1%20212%20555%200100`);
    const result = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect(result.structuredContent).toMatchObject({ account: 'acme', persona: 'sales', call, caller: '+12125550100' });
  });

  it('is refused with 401 for a wrong key and 403 for a key of another account', async () => {
    const s = await start();
    await expect(legacyClient(s, callHeaders({ key: 'sb_not_a_key' }))).rejects.toMatchObject({ code: 401 });
    await expect(legacyClient(s, callHeaders({ key: await s.key('globex') }))).rejects.toMatchObject({ code: 403 });
    expect(s.running.sessions.size).toBe(0);
  });

  it('ends the session when the client closes its stream', async () => {
    const s = await start();
    const client = await legacyClient(s, callHeaders({ key: await s.key() }));
    expect(s.running.sessions.size).toBe(1);
    await client.close();
    await eventually(() => (s.running.sessions.size === 0 ? true : undefined), 3000, 'session end');
  });

  it('serves the call again after its stream dropped, when the client reconnects without a new initialize', async () => {
    const s = await start();
    const client = await legacyClient(s, callHeaders({ key: await s.key(), call: 'call-blip' }));
    const [dropped] = [...s.running.sessions.all()];
    await s.running.sessions.close(dropped!.id, 'idle');
    // EventSource reconnects by itself; the v1 transport then POSTs to the URL the new stream names.
    const reopened = await eventually(() => [...s.running.sessions.all()].find((session) => session.id !== dropped!.id), 10_000, 'reconnection');
    expect(reopened.call.callId).toBe('call-blip');
    // The session exists as soon as the server opened the stream; the client POSTs to it once it has read the
    // stream's endpoint event. Its transport keeps that URL in a private field, read here only to wait for it.
    const transport = (client as unknown as { transport: { _endpoint?: URL } }).transport;
    await eventually(() => (transport._endpoint?.searchParams.get('sessionId') === reopened.id ? true : undefined), 10_000, 'the new endpoint event');
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'after the blip' } }))).toBe('echo: after the blip');
  });

  it('is closed when its call ends (DELETE of the call on the admin API)', async () => {
    const s = await start();
    const headers = callHeaders({ key: await s.key(), call: 'call-to-end' });
    const { stream, endpoint } = await initialized(s, headers);
    await legacyClient(s, callHeaders({ key: await s.key(), call: 'call-that-goes-on' }));
    expect(s.running.sessions.size).toBe(2);
    const ended = await adminRequest(s.url, await s.key('acme', 'admin'), 'DELETE', '/ucp/v2/accounts/acme/calls/call-to-end', { reason: 'caller hung up' });
    expect(ended.status).toBe(200);
    expect(ended.body.sessions_closed).toBe(1);
    await eventually(() => (stream.ended ? true : undefined), 3000, 'stream end');
    expect([...s.running.sessions.all()].map((session) => session.call.callId)).toEqual(['call-that-goes-on']);
    const after = await send(s, endpoint, headers, listTools);
    expect(after.status).toBe(404);
    expect(after.json?.error?.data?.code).toBe('SESSION_NOT_FOUND');
  });
});

describe('the wire', () => {
  it('names the POST URL in the endpoint event and answers on the stream, in every protocol version it negotiates', async () => {
    const s = await start();
    const headers = callHeaders({ key: await s.key() });
    for (const version of ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25']) {
      const stream = await LegacyStream.open(sseUrl(s), headers);
      expect(stream.status).toBe(200);
      expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(stream.headers.get('x-accel-buffering')).toBe('no');
      const endpoint = await stream.endpoint();
      // The node's name first, so that a balancer in front of several nodes can send the POSTs to this one.
      expect(endpoint).toBe(`/ucp/v2/sse?sessionId=${s.running.context.settings.nodeName}.${endpoint.split('.').pop()}`);
      expect(endpoint.split('.').pop()).toMatch(/^[0-9a-f-]{36}$/);
      const accepted = await send(s, endpoint, headers, initializeBody(version, 'init-1'));
      expect(accepted.status).toBe(202);
      expect(accepted.text).toBe('');
      expect(await stream.next()).toMatchObject({ jsonrpc: '2.0', id: 'init-1', result: { protocolVersion: version, serverInfo: { name: 'switchboard' } } });
      stream.close();
    }
  });

  it('offers its newest 2025 version to a client that asks for one it does not speak', async () => {
    const s = await start();
    const { answer } = await initialized(s, callHeaders({ key: await s.key() }), '2099-01-01');
    expect((answer.result as { protocolVersion: string }).protocolVersion).toBe('2025-11-25');
  });

  it('names a POST URL in the path form for a stream opened in the path form', async () => {
    const s = await start();
    const key = await s.key();
    const path = contextPath('acme', 'front-desk', 'c/1@pbx');
    const stream = await LegacyStream.open(sseUrl(s, path), { 'X-API-Key': key });
    const endpoint = await stream.endpoint();
    expect(endpoint.startsWith(`${path}?sessionId=`)).toBe(true);
    expect((await send(s, endpoint, { 'X-API-Key': key }, initializeBody('2024-11-05'))).status).toBe(202);
    expect((await stream.next()).result).toBeDefined();
  });

  it('refuses bodies that are not one JSON-RPC message, with the same limits as the MCP endpoint, and keeps the session', async () => {
    const s = await start({ settings: { bodyLimitBytes: 4096 } });
    const headers = callHeaders({ key: await s.key() });
    const { stream, endpoint } = await initialized(s, headers);
    const cases: [unknown, { raw?: string; contentType?: string }, number, string, RegExp][] = [
      [undefined, { raw: '{"jsonrpc": "2.0", ' }, 400, 'BODY_INVALID_JSON', /^Parse error/],
      [{ hello: 'world' }, {}, 400, 'MESSAGE_INVALID', /^The body is not a JSON-RPC 2\.0 message/],
      [[listTools, listTools], {}, 400, 'MESSAGE_INVALID', /batches are not accepted/],
      [undefined, { raw: 'tools/list', contentType: 'text/plain' }, 400, 'MESSAGE_INVALID', /Content-Type: application\/json/],
      [{ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(5000) } } }, {}, 413, 'BODY_TOO_LARGE', /too large/],
      [{ jsonrpc: '2.0', id: 4, method: 'tools/call', params: JSON.parse(`${'{"a":'.repeat(80)}1${'}'.repeat(80)}`) as unknown }, {}, 400, 'BODY_TOO_DEEP', /nested more than 64 levels/],
    ];
    for (const [body, init, status, code, message] of cases) {
      const refused = await send(s, endpoint, headers, body, init);
      expect(refused.status, code).toBe(status);
      expect(refused.json?.error?.data?.code).toBe(code);
      expect(refused.json?.error?.message).toMatch(message);
    }
    expect((await send(s, endpoint, headers, listTools)).status).toBe(202);
    expect(await stream.next()).toMatchObject({ id: 2, result: { tools: [{ name: 'echo' }] } });
  });

  it('refuses a POST with another key or call context, an unknown session, and sessions of the other transport', async () => {
    const s = await start();
    const key = await s.key();
    const headers = callHeaders({ key, call: 'call-a' });
    const { stream, endpoint } = await initialized(s, headers);
    const sessionId = new URL(endpoint, s.url).searchParams.get('sessionId') as string;

    for (const other of [{ ...headers, 'X-API-Key': await s.key() }, { ...headers, call_id: 'call-b' }, { ...headers, persona_id: 'sales' }]) {
      const refused = await send(s, endpoint, other, listTools);
      expect(refused.status).toBe(403);
      expect(refused.json?.error).toMatchObject({ message: 'This session belongs to another API key or call context', data: { code: 'SESSION_BINDING' } });
    }
    const otherCallPath = await send(s, `${contextPath('acme', 'front-desk', 'call-b')}?sessionId=${sessionId}`, { 'X-API-Key': key }, listTools);
    expect(otherCallPath.status).toBe(403);
    const sameCallPath = await send(s, `${contextPath('acme', 'front-desk', 'call-a')}?sessionId=${sessionId}`, { 'X-API-Key': key }, listTools);
    expect(sameCallPath.status).toBe(202);
    expect(await stream.next()).toMatchObject({ id: 2 });
    // Headers a POST leaves out are the session's.
    expect((await send(s, endpoint, { 'X-API-Key': key }, listTools)).status).toBe(202);

    const unknown = await send(s, '/ucp/v2/sse?sessionId=no-such-session', headers, listTools);
    expect(unknown.status).toBe(404);
    expect(unknown.json?.error?.data?.code).toBe('SESSION_NOT_FOUND');
    const none = await send(s, '/ucp/v2/sse', headers, initializeBody());
    expect(none.status).toBe(400);
    expect(none.json?.error?.message).toMatch(/^POST needs the sessionId the stream's endpoint event names/);

    const streamableId = await openSession(s, headers);
    expect((await send(s, `/ucp/v2/sse?sessionId=${streamableId}`, headers, listTools)).status).toBe(404);
    expect((await post(s, { ...headers, 'mcp-session-id': sessionId }, listTools)).status).toBe(404);
  });

  it('answers refusals before the stream opens like the MCP endpoint does', async () => {
    const s = await start();
    const key = await s.key();
    const cases: [Record<string, string>, string, number, string][] = [
      [{}, '/ucp/v2/sse', 401, 'AUTH_KEY_MISSING'],
      [callHeaders({ key: 'sb_wrong' }), '/ucp/v2/sse', 401, 'AUTH_KEY_INVALID'],
      [{ Authorization: `Bearer ${await s.key('globex')}`, account_id: 'acme', persona_id: 'front-desk', call_id: 'c-1' }, '/ucp/v2/sse', 403, 'AUTH_WRONG_ACCOUNT'],
      [callHeaders({ key: await s.key('acme', 'admin') }), '/ucp/v2/sse', 200, ''],
      [{ 'X-API-Key': key, account_id: 'acme', persona_id: 'front-desk' }, '/ucp/v2/sse', 400, 'CONTEXT_HEADER_MISSING'],
      [callHeaders({ key, persona: 'no such persona' }), '/ucp/v2/sse', 400, 'CONTEXT_HEADER_INVALID'],
      [callHeaders({ key, persona: 'nobody' }), '/ucp/v2/sse', 404, 'UNKNOWN_PERSONA'],
      [{ 'X-API-Key': key, 'x-call-id': 'c-2' }, contextPath('acme', 'sales', 'c-1'), 400, 'CONTEXT_HEADER_INVALID'],
    ];
    for (const [headers, path, status, code] of cases) {
      const stream = await LegacyStream.open(sseUrl(s, path), headers);
      expect(stream.status, `${path} ${code}`).toBe(status);
      if (status === 200) continue;
      expect(stream.json).toMatchObject({ jsonrpc: '2.0', id: null, error: { data: { code } } });
      // The same refusal, word for word, as the Streamable HTTP endpoint gives.
      const mcpPath = path.replace('/ucp/v2/sse', '/ucp/v2/mcp');
      const mcp = await fetch(new URL(mcpPath, s.url), { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(initializeBody()) });
      expect(mcp.status).toBe(status);
      expect(((await mcp.json()) as { error: unknown }).error).toEqual(stream.json.error);
    }
    const deleted = await fetch(sseUrl(s), { method: 'DELETE', headers: callHeaders({ key }) });
    expect(deleted.status).toBe(405);
  });

  it("takes the stream and every POST from the key's rate limit", async () => {
    const s = await start({ clock: new FixedClock(Date.parse('2026-03-02T15:00:00Z')), settings: { rateLimitPerSecond: 1 } });
    const headers = callHeaders({ key: await s.key() });
    const stream = await LegacyStream.open(sseUrl(s), headers);
    const endpoint = await stream.endpoint();
    expect((await send(s, endpoint, headers, initializeBody())).status).toBe(202);
    const limited = await send(s, endpoint, headers, listTools);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(limited.json?.error?.data?.code).toBe('RATE_LIMITED');
  });

  it('counts against the session cap with Streamable HTTP sessions: 503 and Retry-After past it', async () => {
    const s = await start({ settings: { maxSessions: 2 } });
    const headers = callHeaders({ key: await s.key() });
    await openSession(s, headers);
    const first = await LegacyStream.open(sseUrl(s), headers);
    await first.endpoint();
    const refused = await LegacyStream.open(sseUrl(s), headers);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(refused.json.error?.data?.code).toBe('SESSION_LIMIT');
    expect((await post(s, headers, initializeBody())).status).toBe(503);
    first.close();
    await eventually(() => (s.running.sessions.size === 1 ? true : undefined), 3000, 'session end');
    const again = await LegacyStream.open(sseUrl(s), headers);
    expect(again.status).toBe(200);
  });

  it('is not idle while its stream is open, by the rule of Streamable HTTP sessions', async () => {
    const clock = new FixedClock(Date.parse('2026-03-02T15:00:00Z'));
    const s = await start({ clock, settings: { sessionIdleSeconds: 60 } });
    const headers = callHeaders({ key: await s.key() });
    const { endpoint } = await initialized(s, headers);
    const idleStreamable = await openSession(s, headers);
    clock.advance(61_000);
    expect(await s.running.sessions.sweep()).toBe(1);
    expect(s.running.sessions.get(idleStreamable)).toBeUndefined();
    expect((await send(s, endpoint, headers, listTools)).status).toBe(202);
  });

  it('is counted as a session and an open stream in the metrics, its POSTs under their route', async () => {
    const s = await start();
    await initialized(s, callHeaders({ key: await s.key() }));
    const metrics = await (await fetch(new URL('/metrics', s.url))).text();
    expect(metrics).toMatch(/^switchboard_mcp_sessions\{era="2025"\} 1$/m);
    expect(metrics).toMatch(/^switchboard_mcp_streams\{era="2025"\} 1$/m);
    expect(metrics).toMatch(/^switchboard_http_requests_total\{method="POST",route="\/ucp\/v2\/sse",status="202"\} 2$/m);
  });

  it('ends its stream at shutdown', async () => {
    const s = await start();
    const { stream } = await initialized(s, callHeaders({ key: await s.key() }));
    await s.close();
    server = undefined;
    await eventually(() => (stream.ended ? true : undefined), 3000, 'stream end');
  });
});

describe('SseServerTransport', () => {
  it('writes the endpoint event, messages and heartbeats, and reports its close once', async () => {
    let transport: SseServerTransport | undefined;
    const host = http.createServer((_req, res) => {
      transport = new SseServerTransport(res, '/post-here', 20);
      void transport.start();
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    try {
      const stream = await LegacyStream.open(new URL(`http://127.0.0.1:${(host.address() as AddressInfo).port}/`), {});
      expect(await stream.endpoint()).toBe(`/post-here?sessionId=${transport!.sessionId}`);
      await eventually(() => (stream.comments.includes('heartbeat') ? true : undefined), 3000, 'heartbeat');
      await transport!.send({ jsonrpc: '2.0', id: 1, result: { text: 'two\nlines' } });
      expect(await stream.next()).toEqual({ jsonrpc: '2.0', id: 1, result: { text: 'two\nlines' } });
      let closes = 0;
      transport!.onclose = () => (closes += 1);
      stream.close();
      await eventually(() => (transport!.closed ? true : undefined), 3000, 'close');
      await transport!.close();
      expect(closes).toBe(1);
      await expect(transport!.send({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' })).rejects.toThrow(/Not connected/);
    } finally {
      host.closeAllConnections();
      await new Promise((resolve) => host.close(resolve));
    }
  });
});
