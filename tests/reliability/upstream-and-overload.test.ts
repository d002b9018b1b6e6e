/**
 * Failures outside Switchboard stay contained: an API that hangs or is down
 * fails its own tool within the tool's timeout while other tools and other
 * accounts keep answering; and past the session cap new sessions get 503
 * with Retry-After until sessions end.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Client } from '@modelcontextprotocol/client';
import { expect, it } from 'vitest';

import { initializeBody, openSession, post } from '../helpers/http.ts';
import { callHeaders, connect, eventually, startTestServer, textOf } from '../helpers/server.ts';

const apiPersona = (slowUrl: string, downUrl: string) => `persona_id: api
office_hours: { monday: 24h, tuesday: 24h, wednesday: 24h, thursday: 24h, friday: 24h, saturday: 24h, sunday: 24h }
tools:
  - type: api_request
    name: slow_api
    description: An API that never answers.
    method: GET
    url: ${slowUrl}/orders
    timeout_seconds: 1
  - type: api_request
    name: down_api
    description: An API whose server is down.
    method: GET
    url: ${downUrl}/orders
    timeout_seconds: 1
`;

it('contains a hanging or dead upstream API to its own tool', async () => {
  const hanging = http.createServer(() => undefined); // accepts, never answers
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  const slowUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
  const server = await startTestServer({
    personas: {
      'acme/account.yaml': 'account_id: acme\ntimezone: America/New_York\n',
      'acme/api.yaml': apiPersona(slowUrl, 'http://127.0.0.1:1'),
      'globex/account.yaml': 'account_id: globex\ntimezone: Europe/London\ndefault_country: GB\n',
      'globex/desk.yaml': 'persona_id: desk\n',
    },
    settings: { outboundAllow: ['127.0.0.1'], rateLimitPerSecond: 0 },
  });
  const clients: Client[] = [];
  try {
    const acme = await connect(server, callHeaders({ key: await server.key('acme'), persona: 'api' }));
    const globex = await connect(server, callHeaders({ key: await server.key('globex'), account: 'globex', persona: 'desk' }), 'modern');
    clients.push(acme, globex);

    let slowDone = false;
    const slow = acme.callTool({ name: 'slow_api', arguments: {} }).finally(() => (slowDone = true));
    // While the slow call hangs, other tools of the same session and of another account answer.
    let answeredMeanwhile = 0;
    while (!slowDone) {
      const [own, other] = await Promise.all([acme.callTool({ name: 'is_office_open', arguments: {} }), globex.callTool({ name: 'lookup_contact', arguments: { phone_number: '020 7946 0958' } })]);
      expect(textOf(own)).toBe('Office is open 24 hours today. We are open around the clock.');
      expect(other.isError).toBeFalsy();
      if (!slowDone) answeredMeanwhile += 1;
    }
    const slowResult = await slow;
    expect(slowResult.isError).toBe(true);
    expect(slowResult.structuredContent).toMatchObject({ error: { code: 'TOOL_TIMEOUT' } });
    expect(answeredMeanwhile).toBeGreaterThan(5);

    const down = await acme.callTool({ name: 'down_api', arguments: {} });
    expect(down.isError).toBe(true);
    expect(down.structuredContent).toMatchObject({ error: { code: 'TOOL_UPSTREAM' } });
    expect(textOf(down)).not.toMatch(/127\.0\.0\.1/);
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await server.close();
    hanging.closeAllConnections();
    hanging.close();
  }
});

it('answers 503 with Retry-After at the session cap and recovers as sessions end', async () => {
  const server = await startTestServer({ settings: { maxSessions: 20, rateLimitPerSecond: 0 } });
  try {
    const headers = callHeaders({ key: await server.key('acme') });
    const sessions = await Promise.all(Array.from({ length: 20 }, () => openSession(server, headers)));
    const refused = await Promise.all(Array.from({ length: 10 }, () => post(server, headers, initializeBody())));
    for (const response of refused) {
      expect(response.status).toBe(503);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    // Work on open sessions goes on at the cap.
    const listed = await post(server, { ...headers, 'mcp-session-id': sessions[0] as string, 'mcp-protocol-version': '2025-06-18' }, { jsonrpc: '2.0', id: 5, method: 'tools/list' });
    expect(listed.status).toBe(200);

    await Promise.all(sessions.slice(0, 5).map((id) => post(server, { ...headers, 'mcp-session-id': id }, undefined, { method: 'DELETE' })));
    await eventually(() => (server.running.sessions.size === 15 ? true : undefined));
    const reopened = await Promise.all(Array.from({ length: 5 }, () => openSession(server, headers)));
    expect(reopened).toHaveLength(5);
    expect((await post(server, headers, initializeBody())).status).toBe(503);
  } finally {
    await server.close();
  }
});
