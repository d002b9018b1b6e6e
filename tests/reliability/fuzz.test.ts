/**
 * 10,000 fuzzed requests: broken JSON, invalid UTF-8, deep nesting, huge
 * strings, wrong JSON-RPC shapes, real tools with wrong arguments, foreign
 * sessions and headers. The server must answer every one without a 5xx, stay
 * up, and its memory must come back near where it started.
 */
import http from 'node:http';

import { expect, it } from 'vitest';

import { eventually, startTestServer } from '../helpers/server.ts';

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (max: number) => Math.floor(next() * max);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  return { next, int, pick };
}

type Rng = ReturnType<typeof random>;

const TOOLS = ['transfer_call', 'is_office_open', 'lookup_contact', 'check_user_availability', 'create_lead', 'hangup_call', 'order_status', 'book_visit', 'transfer_to_dana', 'nope'];
const METHODS = ['initialize', 'tools/list', 'tools/call', 'ping', 'server/discover', 'subscriptions/listen', 'resources/list', 'prompts/get', 'notifications/initialized', 'x/y', ''];

function anyValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 3 ? 6 : 9)) {
    case 0:
      return null;
    case 1:
      return rng.int(2) === 0;
    case 2:
      return rng.pick([0, -1, 1e308, -1e-308, 2 ** 53 + 1, 3.5]);
    case 3:
      return 'x'.repeat(rng.pick([0, 1, 100, 5000, 100_000]));
    case 4:
      return rng.pick(['', ' ', '\u0000', '\r\n', '☎', '\ud800', '{{secret.X}}', '../..', '+1 (212) 555-0100', "'; DROP TABLE leads; --"]);
    case 5:
      return rng.pick(['lead', 'customer', 'spam', 'other', 'LEAD']);
    case 6:
      return Array.from({ length: rng.int(4) }, () => anyValue(rng, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: rng.int(5) }, () => [rng.pick(['name', 'intent', 'phone_number', 'user_id', 'destination_number', 'order_number', '__proto__', 'constructor', 'x']), anyValue(rng, depth + 1)]));
  }
}

interface Fuzzed {
  body: Buffer;
  headers: Record<string, string>;
  method: 'POST' | 'GET' | 'DELETE';
}

function fuzzed(rng: Rng, context: Record<string, string>, sessions: string[]): Fuzzed {
  const headers: Record<string, string> = { ...context, 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const kind = rng.int(10);
  if (rng.int(20) === 0) delete headers[rng.pick(Object.keys(context))];
  if (rng.int(10) === 0) headers['mcp-session-id'] = rng.int(2) ? (rng.pick(sessions) ?? 'x') : `bogus-${rng.int(1000)}`;
  if (rng.int(10) === 0) headers['mcp-protocol-version'] = rng.pick(['2025-03-26', '2025-06-18', '2025-11-25', '2026-07-28', '1999-01-01', 'x']);
  if (rng.int(15) === 0) headers['content-type'] = rng.pick(['text/plain', 'application/xml', 'multipart/form-data', 'application/json; charset=latin1']);
  switch (kind) {
    case 0:
      return { headers, method: 'POST', body: Buffer.from(Array.from({ length: rng.int(300) }, () => rng.int(256))) };
    case 1: {
      const depth = rng.pick([100, 5000, 60_000]);
      return { headers, method: 'POST', body: Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`) };
    }
    case 2:
      return { headers, method: rng.pick(['GET', 'DELETE'] as const), body: Buffer.alloc(0) };
    case 3:
      return { headers, method: 'POST', body: Buffer.from(JSON.stringify(anyValue(rng))) };
    default: {
      const method = kind < 8 ? 'tools/call' : rng.pick(METHODS);
      const params = method === 'tools/call' ? { name: rng.pick(TOOLS), arguments: anyValue(rng) } : anyValue(rng);
      const message: Record<string, unknown> = { jsonrpc: rng.int(15) ? '2.0' : rng.pick(['1.0', 2, null]), method, params };
      if (rng.int(8)) message.id = rng.pick([rng.int(1e6), `id-${rng.int(1e6)}`, null, { a: 1 }]);
      if (rng.int(2) === 0 && method === 'tools/call') {
        headers['mcp-method'] = 'tools/call';
        headers['mcp-name'] = String((params as { name: string }).name);
        headers['mcp-protocol-version'] = '2026-07-28';
        (params as Record<string, unknown>)._meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
      }
      const text = rng.int(30) === 0 ? JSON.stringify([message, message]) : JSON.stringify(message);
      return { headers, method: 'POST', body: Buffer.from(text) };
    }
  }
}

function send(agent: http.Agent, url: URL, request: Fuzzed): Promise<{ status: number; sessionId?: string }> {
  return new Promise((resolve) => {
    const outgoing = http.request(url, { method: request.method, agent, headers: { ...request.headers, 'content-length': request.body.length } }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, sessionId: response.headers['mcp-session-id'] as string | undefined }));
    });
    outgoing.setTimeout(20_000, () => outgoing.destroy(new Error('timeout')));
    outgoing.on('error', () => resolve({ status: -1 }));
    outgoing.end(request.body);
  });
}

/** Heap in use after a full collection (the suite runs with --expose-gc). */
async function settledHeap(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc (npm run test:reliability)');
  for (let i = 0; i < 3; i += 1) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return process.memoryUsage().heapUsed;
}

it('survives 10,000 fuzzed requests without a 5xx, and gives its memory back', async () => {
  // Warnings and errors only: the kept log lines would otherwise be the memory that grows.
  const server = await startTestServer({ settings: { rateLimitPerSecond: 0, sessionIdleSeconds: 2 }, logLevel: 'warn' });
  const key = await server.key('acme');
  const url = server.mcpUrl;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const rng = random(20261124);
  const context = { 'x-api-key': key, account_id: 'acme', persona_id: 'front-desk', call_id: 'fuzz-call', caller_id_number: '+12125550100' };
  const sessions: string[] = [];
  const statuses = new Map<number, number>();

  const run = async (count: number) => {
    let sent = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (sent < count) {
          sent += 1;
          const answer = await send(agent, url, fuzzed(rng, context, sessions));
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          if (answer.sessionId && sessions.length < 50) sessions.push(answer.sessionId);
        }
      }),
    );
  };

  // Warm up (first compilations, caches), let its sessions expire, then take the baseline.
  await run(1000);
  await eventually(() => (server.running.sessions.size === 0 ? true : undefined), 10_000, 'idle sessions to close');
  const baseline = await settledHeap();
  await run(10_000);
  agent.destroy();
  await eventually(() => (server.running.sessions.size === 0 ? true : undefined), 10_000, 'idle sessions to close');
  const after = await settledHeap();

  const health = await fetch(new URL('/healthz', server.url));
  expect(health.status).toBe(200);
  const errors = server.logLines.filter((line) => /"level":"(error|fatal)"/.test(line));
  await server.close();
  const serverErrors = [...statuses].filter(([status]) => status >= 500 || status < 0);
  console.log('statuses', Object.fromEntries(statuses), `heap ${(baseline / 2 ** 20).toFixed(1)} -> ${(after / 2 ** 20).toFixed(1)} MiB`);
  expect(serverErrors).toEqual([]);
  expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(11_000);
  expect(errors).toEqual([]);
  // Back near the baseline: a leak of even 1 KiB per request would add 10 MiB.
  expect(after - baseline).toBeLessThan(4 * 2 ** 20);
});
