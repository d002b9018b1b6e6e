/**
 * What the HTTP layer bounds, each case from an attack or fault-injection
 * run: bodies that never arrive (with and without a key), JSON-RPC batches
 * (counted per message, refused where the protocol revision has none),
 * failed keys and metrics tokens from one address, and paths whose
 * percent-encoding does not decode, on every route with parameters.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { FixedClock } from '../engine/clock.ts';
import { addressKey, AuthFailureLimiter } from '../engine/http/auth-failures.ts';
import { initializeBody, openSession, post, rpcError } from './helpers/http.ts';
import { rawExchange, requestHead } from './helpers/raw-socket.ts';
import { callHeaders, connect, startTestServer, textOf, type TestServer, type TestServerOptions } from './helpers/server.ts';
import { basicManifests, testToolKinds } from './helpers/test-tools.ts';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const start = async (options: TestServerOptions = {}): Promise<TestServer> => {
  server = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds, ...options });
  return server;
};

const logged = (s: TestServer) => s.logLines.map((line) => JSON.parse(line) as { level: string; event?: string; err?: unknown; msg: string });
/** Lines that report a fault of the server: errors, or anything with a stack. */
const faults = (s: TestServer) => logged(s).filter((line) => line.level === 'error' || line.level === 'fatal' || line.err !== undefined);

const listTools = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/list' });

describe('request bodies that do not arrive', () => {
  const partialBody = (headers: Record<string, string>) => ({ ...headers, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'Content-Length': '100' });

  it('answers a request without a valid key from its headers, never waiting for the body', async () => {
    const s = await start({ settings: { requestTimeoutSeconds: 600 } });
    const context = callHeaders({ key: 'unused' });
    delete (context as Record<string, string>)['X-API-Key'];
    for (const [path, headers] of [
      ['/ucp/v2/mcp', context],
      ['/ucp/v2/mcp', { ...context, 'X-API-Key': 'sb_not-a-key' }],
      ['/ucp/v2/sse?sessionId=x', context],
      ['/ucp/v2/accounts/acme/dnd/u-1', {}],
    ] as const) {
      const answer = await rawExchange(s.url, `${requestHead('POST', s.url, path, partialBody(headers))}{"jsonrpc"`, { untilAnswer: true });
      expect(answer.status, path).toBe(401);
    }
  });

  it('cuts off a body that stops arriving after the request timeout: 408, one info line, no stack', async () => {
    const s = await start({ settings: { requestTimeoutSeconds: 1 } });
    const headers = callHeaders({ key: await s.key() });
    const answer = await rawExchange(s.url, `${requestHead('POST', s.url, '/ucp/v2/mcp', partialBody(headers))}{"jsonrpc"`);
    expect(answer.status).toBe(408);
    const lines = logged(s);
    expect(lines.filter((line) => line.event === 'request_aborted')).toEqual([expect.objectContaining({ level: 'info', path: '/ucp/v2/mcp' })]);
    expect(faults(s)).toEqual([]);
    // The server goes on serving.
    const client = await connect(s, callHeaders({ key: await s.key() }));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'still here' } }))).toBe('echo: still here');
    await client.close();
  });

  it('keeps a session stream open longer than the request timeout', async () => {
    const s = await start({ settings: { requestTimeoutSeconds: 1 } });
    const headers = callHeaders({ key: await s.key() });
    const id = await openSession(s, headers);
    const controller = new AbortController();
    const stream = await fetch(s.mcpUrl, { headers: { ...headers, 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18', accept: 'text/event-stream' }, signal: controller.signal });
    expect(stream.status).toBe(200);
    // A request started after the stream is cut off by the timeout; the older stream is not.
    const cut = await rawExchange(s.url, `${requestHead('POST', s.url, '/ucp/v2/mcp', partialBody(headers))}{"jsonrpc"`);
    expect(cut.status).toBe(408);
    expect(s.running.sessions.get(id)?.inFlight).toBe(1);
    controller.abort();
  });
});

describe('JSON-RPC batches', () => {
  const batch = (n: number) => Array.from({ length: n }, (_, i) => listTools(100 + i));

  it('takes one token of the key rate per message of a batch', async () => {
    // A clock that stands still refills nothing: the key has its burst (twice the rate) and no more.
    const s = await start({ clock: new FixedClock(Date.parse('2026-03-02T15:00:00Z')), settings: { rateLimitPerSecond: 5 } });
    const headers = callHeaders({ key: await s.key() });
    const id = await openSession(s, headers, '2025-03-26'); // initialize and initialized: 2 of 10
    const session = { ...headers, 'mcp-session-id': id };
    const eight = await post(s, session, batch(8));
    expect(eight.status).toBe(200);
    const refused = await post(s, session, listTools(1));
    expect(refused.status).toBe(429);
    expect(rpcError(refused)?.data?.code).toBe('RATE_LIMITED');
  });

  it('refuses a batch larger than the key may ever send at once, naming the bound', async () => {
    const s = await start({ settings: { rateLimitPerSecond: 5 } });
    const headers = callHeaders({ key: await s.key() });
    const id = await openSession(s, headers, '2025-03-26');
    const response = await post(s, { ...headers, 'mcp-session-id': id }, batch(11));
    expect(response.status).toBe(400);
    expect(rpcError(response)?.message).toMatch(/11 messages, more than this API key may send at once \(10\)/);
  });

  it('takes batches only where the negotiated revision has them (2025-03-26)', async () => {
    const s = await start();
    const headers = callHeaders({ key: await s.key() });
    const march = await openSession(s, headers, '2025-03-26');
    expect((await post(s, { ...headers, 'mcp-session-id': march }, batch(2))).status).toBe(200);
    for (const version of ['2025-06-18', '2025-11-25']) {
      const id = await openSession(s, headers, version);
      // With the version header, and without it: the session's negotiated revision decides, not what the request claims.
      for (const claim of [{ 'mcp-protocol-version': version }, {}] as Record<string, string>[]) {
        const response = await post(s, { ...headers, 'mcp-session-id': id, ...claim }, batch(2));
        expect(response.status, version).toBe(400);
        expect(rpcError(response)?.data?.code).toBe('MESSAGE_INVALID');
        expect(rpcError(response)?.message).toBe(`Protocol revision ${version} has no JSON-RPC batches: send one message per request`);
      }
    }
    // Without a session the version header names the revision.
    const stateless = await post(s, { ...headers, 'mcp-protocol-version': '2025-06-18' }, batch(2));
    expect(stateless.status).toBe(400);
    expect(rpcError(stateless)?.data?.code).toBe('MESSAGE_INVALID');
  });
});

describe('failed authentications', () => {
  const start0 = (settings: TestServerOptions['settings'] = {}) => start({ clock: new FixedClock(Date.parse('2026-03-02T15:00:00Z')), settings: { authFailureLimit: 5, ...settings } });

  it('throttles an address after its failed keys, while keys in use behind it keep serving', async () => {
    const s = await start0();
    const inUse = await s.key();
    expect((await post(s, callHeaders({ key: inUse }), initializeBody())).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i += 1) statuses.push((await post(s, callHeaders({ key: `sb_guess-${i}` }), initializeBody())).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const throttled = await post(s, callHeaders({ key: 'sb_guess-9' }), initializeBody());
    expect(rpcError(throttled)?.data?.code).toBe('RATE_LIMITED');
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    // The key in use passes; a valid key never used waits like a guess, and so does the admin API.
    expect((await post(s, callHeaders({ key: inUse }), initializeBody())).status).toBe(200);
    expect((await post(s, callHeaders({ key: await s.key() }), initializeBody())).status).toBe(429);
    const admin = await fetch(new URL('/ucp/v2/accounts/acme/leads', s.url), { headers: { 'X-API-Key': await s.key('acme', 'admin') } });
    expect(admin.status).toBe(429);
    expect(s.logLines.join('\n')).not.toContain('sb_guess');
    // One warning when the address ran out, not one per refused request.
    expect(logged(s).filter((line) => line.event === 'auth_throttled')).toEqual([expect.objectContaining({ level: 'warn', address: '127.0.0.1' })]);
  });

  it('refills an address over a minute', async () => {
    const clock = new FixedClock(Date.parse('2026-03-02T15:00:00Z'));
    const s = await start({ clock, settings: { authFailureLimit: 2 } });
    for (let i = 0; i < 2; i += 1) await post(s, callHeaders({ key: 'sb_wrong' }), initializeBody());
    expect((await post(s, callHeaders({ key: await s.key() }), initializeBody())).status).toBe(429);
    clock.advance(30_000);
    expect((await post(s, callHeaders({ key: await s.key() }), initializeBody())).status).toBe(200);
  });

  it('counts wrong metrics tokens against the address too', async () => {
    const s = await start0({ metricsToken: 'weak-token' });
    const scrape = (token: string) => fetch(new URL('/metrics', s.url), { headers: { authorization: `Bearer ${token}` } });
    expect((await scrape('weak-token')).status).toBe(200);
    for (let i = 0; i < 5; i += 1) expect((await scrape(`guess-${i}`)).status).toBe(401);
    // Once throttled even the right token is not tried: a guess must not be compared.
    expect((await scrape('weak-token')).status).toBe(429);
  });

  it('keeps its table bounded, and counts IPv6 clients per /64', () => {
    const limiter = new AuthFailureLimiter(5, new FixedClock(0), undefined, 100);
    for (let i = 0; i < 1000; i += 1) limiter.failed(`10.0.${i >> 8}.${i & 255}`);
    expect(limiter.size).toBe(100);
    expect(addressKey('2001:db8:1:2::1')).toBe(addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff'));
    expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'));
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    const one = new AuthFailureLimiter(2, new FixedClock(0));
    for (let i = 0; i < 2; i += 1) one.failed('2001:db8:1:2::1');
    expect(() => one.admit('2001:db8:1:2::abcd', () => false)).toThrow(/Too many failed authentications/);
    expect(() => one.admit('2001:db8:1:2::abcd', () => true)).not.toThrow();
    // Attempts racing their look-ups each take a failure in advance: two admitted, the third refused before any has failed.
    const racing = new AuthFailureLimiter(2, new FixedClock(0));
    const pending = [racing.admit('192.0.2.9', () => false), racing.admit('192.0.2.9', () => false)];
    expect(() => racing.admit('192.0.2.9', () => false)).toThrow(/Too many failed authentications/);
    // A key that verifies gives its failure back.
    pending[0]?.(true);
    expect(() => racing.admit('192.0.2.9', () => false)).not.toThrow();
  });

  it('makes an attempt wait for the look-ups holding the last failures, then judges it on what they left', async () => {
    const limiter = new AuthFailureLimiter(2, new FixedClock(0));
    const held = [limiter.admit('192.0.2.10', () => false), limiter.admit('192.0.2.10', () => false)];
    let admitted: ((verified: boolean) => void) | undefined;
    const waiting = limiter.admitWhenChecked('192.0.2.10', () => false).then((settle) => (admitted = settle));
    await new Promise((resolve) => setImmediate(resolve));
    expect(admitted).toBeUndefined();
    held[0]?.(true);
    await waiting;
    expect(admitted).toBeTypeOf('function');
    // Both held failures real now: the next attempt is refused at once, without waiting.
    held[1]?.(false);
    admitted?.(false);
    await expect(limiter.admitWhenChecked('192.0.2.10', () => false)).rejects.toThrow(/Too many failed authentications/);
  });
});

describe('paths whose percent-encoding does not decode', () => {
  it('answers 400 on every route with parameters, and logs no fault', async () => {
    const s = await start();
    const key = await s.key('acme', 'admin');
    const cases: [string, string, Record<string, string>][] = [
      ['GET', '/ucp/v2/accounts/%ff/audit', {}],
      ['GET', '/ucp/v2/accounts/%E0%A4%A/leads', { 'X-API-Key': key }],
      ['GET', '/ucp/v2/accounts/acme/contacts/%C0%AF', { 'X-API-Key': key }],
      ['POST', '/ucp/v2/mcp/accounts/%ff/personas/front-desk/calls/c-1', { 'X-API-Key': key, 'Content-Type': 'application/json', 'Content-Length': '2' }],
      ['GET', '/ucp/v2/mcp/accounts/acme/personas/front-desk/calls/%', { 'X-API-Key': key }],
      ['GET', '/ucp/v2/sse/accounts/acme/personas/%ff/calls/c-1', { 'X-API-Key': key }],
      ['POST', '/ucp/v2/sse/accounts/acme/personas/front-desk/calls/%ff?sessionId=x', { 'X-API-Key': key, 'Content-Type': 'application/json', 'Content-Length': '2' }],
      ['POST', '/ucp/v2/pbx/%ff/twilio/status', { 'Content-Length': '2' }],
      ['POST', '/ucp/v2/pbx/acme/%ff/status', { 'Content-Length': '2' }],
      ['POST', '/ucp/v2/pbx/acme/twilio/a/%ff/b', { 'Content-Length': '2' }],
    ];
    for (const [method, path, headers] of cases) {
      const answer = await rawExchange(s.url, `${requestHead(method, s.url, path, { ...headers, Connection: 'close' })}${headers['Content-Length'] ? '{}' : ''}`);
      expect(answer.status, `${method} ${path}`).toBe(400);
      // The admin API's error body, or the JSON-RPC one on the MCP and legacy SSE endpoints.
      const body = JSON.parse(answer.text.slice(answer.text.indexOf('\r\n\r\n') + 4)) as { error: { code: string | number; data?: { code: string } } };
      expect(typeof body.error.code === 'string' ? body.error.code : body.error.data?.code, path).toBe('BAD_REQUEST');
    }
    expect(faults(s)).toEqual([]);
  });
});
