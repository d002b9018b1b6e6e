/**
 * The attack run against tenancy and limits, replayed at its scale: one key
 * abandoning sessions by the hundred, connections that never send their
 * body, JSON-RPC batch floods, failed keys by the thousand from one address,
 * and malformed percent-encoding on every route with parameters. Each must
 * leave the other accounts served, hold nothing for long, and log no fault.
 */
import fs from 'node:fs';
import path from 'node:path';

import { expect, it } from 'vitest';
import YAML from 'yaml';

import { FixedClock } from '../../engine/clock.ts';
import { initializeBody, openSession, post } from '../helpers/http.ts';
import { rawExchange, requestHead } from '../helpers/raw-socket.ts';
import { callHeaders, connect, REPO_ROOT, startTestServer, textOf, type TestServer } from '../helpers/server.ts';

const START = Date.parse('2026-03-02T15:00:00Z');

/** Runs `count` tasks, `width` at a time; returns their results in order. */
async function inWaves<T>(count: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < count; i += width) results.push(...(await Promise.all(Array.from({ length: Math.min(width, count - i) }, (_, j) => task(i + j)))));
  return results;
}

/** Log lines that report a fault of the server: errors, or anything with a stack. */
const faults = (server: TestServer) =>
  server.logLines.map((line) => JSON.parse(line) as { level: string; err?: unknown }).filter((line) => line.level === 'error' || line.level === 'fatal' || line.err !== undefined);

const tally = (statuses: number[]) => statuses.reduce<Record<number, number>>((counts, status) => ({ ...counts, [status]: (counts[status] ?? 0) + 1 }), {});

it('one key abandoning handshakes by the hundred holds its share only, other accounts are served, and the handshakes close within the unused time', async () => {
  const clock = new FixedClock(START);
  // The shipped shares: 5000 on the server, 1000 per account, 500 per key.
  const server = await startTestServer({ clock, settings: { rateLimitPerSecond: 0 }, logLevel: 'warn' });
  try {
    const attacker = [await server.key('acme'), await server.key('acme')];
    const opened = await inWaves(1200, 50, async (i) => (await post(server, callHeaders({ key: attacker[i % 2] as string }), initializeBody())).status);
    expect(tally(opened)).toEqual({ 200: 1000, 429: 200 });
    expect(server.running.sessions.size).toBe(1000);

    // Another account connects and works as if nothing happened.
    const globex = await connect(server, callHeaders({ key: await server.key('globex'), account: 'globex', persona: 'reception' }));
    expect((await globex.callTool({ name: 'is_office_open', arguments: {} })).isError).toBeFalsy();

    // The handshakes were never used: past the unused time they are gone, the connected client's session stays.
    clock.advance(61_000);
    await server.running.sessions.sweep();
    expect(server.running.sessions.size).toBe(1);
    expect((await globex.callTool({ name: 'is_office_open', arguments: {} })).isError).toBeFalsy();
    expect((await post(server, callHeaders({ key: attacker[0] as string }), initializeBody())).status).toBe(200);
    await globex.close();
    expect(faults(server)).toEqual([]);
  } finally {
    await server.close();
  }
});

it('connections that never send their body: refused at once without a key, cut off at the request timeout with one', async () => {
  const server = await startTestServer({ settings: { requestTimeoutSeconds: 2, rateLimitPerSecond: 0 }, logLevel: 'info' });
  try {
    const head = (headers: Record<string, string>) =>
      requestHead('POST', server.url, '/ucp/v2/mcp', { ...headers, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'Content-Length': '100' });
    const keyless = callHeaders({ key: 'x' });
    delete (keyless as Record<string, string>)['X-API-Key'];
    // Without a key: answered from the headers, and the connection closed after the answer, not held for a body.
    const refused = await Promise.all(Array.from({ length: 200 }, () => rawExchange(server.url, `${head(keyless)}{"js`)));
    expect(tally(refused.map((answer) => answer.status))).toEqual({ 401: 200 });
    expect(refused.every((answer) => /\r\nConnection: close\r\n/i.test(answer.text))).toBe(true);

    // With a key: the body is waited for up to the request timeout, then the connection is cut.
    const key = await server.key('acme');
    const stalled = await Promise.all(Array.from({ length: 50 }, () => rawExchange(server.url, `${head(callHeaders({ key }))}{"js`)));
    expect(tally(stalled.map((answer) => answer.status))).toEqual({ 408: 50 });
    const aborted = server.logLines.map((line) => JSON.parse(line) as { event?: string; level: string }).filter((line) => line.event === 'request_aborted');
    expect(aborted).toHaveLength(50);
    expect(aborted.every((line) => line.level === 'info')).toBe(true);

    const client = await connect(server, callHeaders({ key }));
    expect(textOf(await client.callTool({ name: 'is_office_open', arguments: {} }))).not.toBe('');
    await client.close();
    expect(faults(server)).toEqual([]);
  } finally {
    await server.close();
  }
});

it("a batch flood is held to the key's rate, message by message", async () => {
  // A clock that stands still: the key has its burst (twice the rate) and nothing refills.
  const server = await startTestServer({ clock: new FixedClock(START), settings: { rateLimitPerSecond: 200 }, logLevel: 'warn' });
  try {
    const headers = callHeaders({ key: await server.key('acme') });
    const id = await openSession(server, headers, '2025-03-26'); // 2 of the 400 tokens
    const batch = Array.from({ length: 100 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'is_office_open', arguments: {} } }));
    const statuses = await inWaves(50, 10, async () => (await post(server, { ...headers, 'mcp-session-id': id }, batch)).status);
    // 398 tokens left: three batches of 100 (one token taken at admission, 99 for the rest), then none.
    expect(tally(statuses)).toEqual({ 200: 3, 429: 47 });

    // Where the negotiated revision has no batches, none is taken at all.
    const other = callHeaders({ key: await server.key('acme') });
    const modern = await openSession(server, other, '2025-06-18');
    const refused = await inWaves(20, 10, async () => (await post(server, { ...other, 'mcp-session-id': modern }, batch.slice(0, 2))).status);
    expect(tally(refused)).toEqual({ 400: 20 });
    expect(faults(server)).toEqual([]);
  } finally {
    await server.close();
  }
});

it('failed keys by the thousand from one address: the shipped limit lets 30 through a minute, keys in use keep serving', async () => {
  const clock = new FixedClock(START);
  const server = await startTestServer({ clock, settings: { rateLimitPerSecond: 0 }, logLevel: 'info' });
  try {
    const inUse = callHeaders({ key: await server.key('acme') });
    expect((await post(server, inUse, initializeBody())).status).toBe(200);
    const guesses = await inWaves(1000, 50, async (i) => (await post(server, callHeaders({ key: `sb_${i.toString(36).padStart(32, '0')}` }), initializeBody())).status);
    expect(tally(guesses)).toEqual({ 401: 30, 429: 970 });
    expect((await post(server, inUse, initializeBody())).status).toBe(200);
    clock.advance(60_000);
    expect((await post(server, callHeaders({ key: 'sb_after-a-minute' }), initializeBody())).status).toBe(401);
    expect(faults(server)).toEqual([]);
  } finally {
    await server.close();
  }
});

it('malformed percent-encoding in any parameter of any route answers 400 and logs no fault', async () => {
  const server = await startTestServer({ logLevel: 'info' });
  try {
    const key = await server.key('acme', 'admin');
    const document = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, 'openapi/admin.yaml'), 'utf8')) as { paths: Record<string, Record<string, unknown>> };
    const context = '/accounts/{account}/personas/{persona}/calls/{call}';
    const routes: [string, string][] = [
      ...Object.entries(document.paths).flatMap(([template, operations]) =>
        Object.keys(operations)
          .filter((method) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
          .map((method) => [method.toUpperCase(), template] as [string, string]),
      ),
      ['POST', `/ucp/v2/mcp${context}`],
      ['GET', `/ucp/v2/mcp${context}`],
      ['DELETE', `/ucp/v2/mcp${context}`],
      ['GET', `/ucp/v2/sse${context}`],
      ['POST', `/ucp/v2/sse${context}`],
    ];
    const valid: Record<string, string> = { account: 'acme', persona: 'front-desk', call: 'c-1', driver: 'twilio', '*rest': 'status/x' };
    let tried = 0;
    for (const [method, template] of routes) {
      const params = [...template.matchAll(/\{([^}]+)\}/g)].map((match) => match[1] as string);
      for (const broken of params) {
        for (const bad of ['%ff', '%', '%e0%a4', '%C0%AF']) {
          const target = template.replace(/\{([^}]+)\}/g, (_, name: string) => (name === broken ? (name === '*rest' ? `a/${bad}` : bad) : (valid[name] ?? 'x')));
          const body = method === 'GET' || method === 'DELETE' ? '' : '{}';
          const headers = { 'X-API-Key': key, Connection: 'close', ...(body ? { 'Content-Type': 'application/json', 'Content-Length': String(body.length) } : {}) };
          const answer = await rawExchange(server.url, `${requestHead(method, server.url, target, headers)}${body}`);
          expect(answer.status, `${method} ${target}`).toBe(400);
          tried += 1;
        }
      }
    }
    expect(tried).toBeGreaterThan(80);
    expect(faults(server)).toEqual([]);
  } finally {
    await server.close();
  }
});
