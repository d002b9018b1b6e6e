import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { post } from './helpers/http.ts';
import { callHeaders, connect, eventually, startTestServer, type TestServer } from './helpers/server.ts';
import { basicManifests, sensitiveToolKinds } from './helpers/test-tools.ts';

/** The value of one series in Prometheus text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.keys(present).length !== Object.keys(labels).length) continue;
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) return Number(match[3]);
  }
  return undefined;
}

async function scrape(server: TestServer, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(new URL('/metrics', server.url), { headers });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return response.text();
}

describe('GET /metrics on a loopback bind without a token', () => {
  let server: TestServer;
  let key: string;

  beforeAll(async () => {
    server = await startTestServer({ personas: basicManifests, toolKinds: sensitiveToolKinds });
    key = await server.key('acme');
  });
  afterAll(async () => server.close());

  it('counts tool calls by tool and outcome, with latency histograms and per-account totals', async () => {
    const client = await connect(server, callHeaders({ key, call: 'metrics-1' }), 'modern');
    await client.callTool({ name: 'echo', arguments: { text: 'a' } });
    await client.callTool({ name: 'echo', arguments: { text: 'b' } });
    await client.callTool({ name: 'echo', arguments: { text: 'c', fail: true } });
    await client.callTool({ name: 'echo', arguments: { text: false } });
    await client.callTool({ name: 'echo_pin', arguments: { text: 'd', pin: '1' } });
    await client.close();

    const text = await scrape(server);
    expect(sample(text, 'switchboard_tool_calls_total', { tool: 'echo', outcome: 'ok' })).toBe(2);
    expect(sample(text, 'switchboard_tool_calls_total', { tool: 'echo', outcome: 'TOOL_REFUSED' })).toBe(1);
    expect(sample(text, 'switchboard_tool_calls_total', { tool: 'echo', outcome: 'TOOL_ARGUMENTS' })).toBe(1);
    expect(sample(text, 'switchboard_tool_calls_total', { tool: 'echo_pin', outcome: 'ok' })).toBe(1);
    expect(sample(text, 'switchboard_account_tool_calls_total', { account: 'acme', status: 'ok' })).toBe(3);
    expect(sample(text, 'switchboard_account_tool_calls_total', { account: 'acme', status: 'error' })).toBe(1);
    expect(sample(text, 'switchboard_account_tool_calls_total', { account: 'acme', status: 'invalid_arguments' })).toBe(1);
    expect(sample(text, 'switchboard_tool_call_duration_seconds_count', { tool: 'echo', status: 'ok' })).toBe(2);
    expect(sample(text, 'switchboard_tool_call_duration_seconds_bucket', { tool: 'echo', status: 'ok', le: '+Inf' })).toBe(2);
    expect(sample(text, 'switchboard_tool_call_duration_seconds_bucket', { tool: 'echo', status: 'ok', le: '10' })).toBe(2);
    // Never a call id or key in a label.
    expect(text).not.toContain('metrics-1');
    expect(text).not.toContain(key);
  });

  it('counts HTTP requests by route template and status, refused ones included', async () => {
    const before = await scrape(server);
    const refused = await post(server, { 'X-API-Key': 'sb_wrong' }, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    expect(refused.status).toBe(401);
    await fetch(new URL('/ucp/v2/accounts/acme/audit', server.url));
    await fetch(new URL('/no/such/path', server.url));
    const after = await scrape(server);
    const delta = (labels: Record<string, string>) => (sample(after, 'switchboard_http_requests_total', labels) ?? 0) - (sample(before, 'switchboard_http_requests_total', labels) ?? 0);
    expect(delta({ method: 'POST', route: '/ucp/v2/mcp', status: '401' })).toBe(1);
    expect(delta({ method: 'GET', route: '/ucp/v2/accounts/{account}/*', status: '401' })).toBe(1);
    expect(delta({ method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(delta({ method: 'GET', route: '/metrics', status: '200' })).toBe(1);
  });

  it('shows live sessions and open streams by protocol era', async () => {
    const legacy = await connect(server, callHeaders({ key, call: 'live-1' }), 'legacy');
    await eventually(async () => {
      const text = await scrape(server);
      return sample(text, 'switchboard_mcp_sessions', { era: '2025' }) === 1 && sample(text, 'switchboard_mcp_streams', { era: '2025' }) === 1 ? true : undefined;
    });
    await (legacy as unknown as { transport: StreamableHTTPClientTransport }).transport.terminateSession();
    await legacy.close();
    const text = await eventually(async () => {
      const current = await scrape(server);
      return sample(current, 'switchboard_mcp_sessions', { era: '2025' }) === 0 && sample(current, 'switchboard_mcp_streams', { era: '2025' }) === 0 ? current : undefined;
    });
    expect(sample(text, 'switchboard_mcp_requests_in_flight', { era: '2026' })).toBe(0);
  });

  it('counts manifest reloads, reload errors and current problems', async () => {
    const before = await scrape(server);
    expect(sample(before, 'switchboard_manifest_problems')).toBe(0);
    expect(sample(before, 'switchboard_manifest_personas')).toBe(3);
    const reloads = sample(before, 'switchboard_manifest_reloads_total') ?? NaN;
    fs.writeFileSync(path.join(server.personasDir, 'acme/sales.yaml'), 'persona_id: sales\nname: [unclosed\n');
    const text = await eventually(async () => {
      const current = await scrape(server);
      return (sample(current, 'switchboard_manifest_reloads_total') ?? 0) > reloads ? current : undefined;
    });
    expect(sample(text, 'switchboard_manifest_reload_errors_total')).toBe(1);
    expect(sample(text, 'switchboard_manifest_problems')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'switchboard_manifest_reload_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    // The file in error keeps its last good version.
    expect(sample(text, 'switchboard_manifest_personas')).toBe(3);
    fs.writeFileSync(path.join(server.personasDir, 'acme/sales.yaml'), 'persona_id: sales\n');
    await eventually(async () => (sample(await scrape(server), 'switchboard_manifest_problems') === 0 ? true : undefined));
  });

  it('renders what other modules record through the typed methods', async () => {
    const { metrics } = server.running.services;
    metrics.outboundRequest('api_tool', 'ok', 0.03);
    metrics.outboundRequest('api_tool', 'timeout', 10.5);
    metrics.callControlCommand('transfer', 'ok');
    metrics.callControlCommand('transfer', 'ok');
    metrics.callControlCommand('hangup', 'timeout');
    metrics.contactSyncSucceeded('globex', 'clinic-google', 412, Date.parse('2026-05-01T08:00:00Z'));
    metrics.contactSyncFailed('globex', 'clinic-outlook');
    const text = await scrape(server);
    expect(sample(text, 'switchboard_outbound_request_duration_seconds_count', { purpose: 'api_tool', outcome: 'ok' })).toBe(1);
    expect(sample(text, 'switchboard_outbound_request_duration_seconds_bucket', { purpose: 'api_tool', outcome: 'ok', le: '0.05' })).toBe(1);
    expect(sample(text, 'switchboard_outbound_request_duration_seconds_bucket', { purpose: 'api_tool', outcome: 'timeout', le: '10' })).toBe(0);
    expect(sample(text, 'switchboard_call_control_commands_total', { kind: 'transfer', outcome: 'ok' })).toBe(2);
    expect(sample(text, 'switchboard_call_control_commands_total', { kind: 'hangup', outcome: 'timeout' })).toBe(1);
    const google = { account: 'globex', source: 'clinic-google' };
    const outlook = { account: 'globex', source: 'clinic-outlook' };
    expect(sample(text, 'switchboard_contact_sync_last_success_timestamp_seconds', google)).toBe(Date.parse('2026-05-01T08:00:00Z') / 1000);
    expect(sample(text, 'switchboard_contact_sync_contacts', google)).toBe(412);
    expect(sample(text, 'switchboard_contact_sync_healthy', google)).toBe(1);
    expect(sample(text, 'switchboard_contact_sync_errors_total', google)).toBe(0);
    expect(sample(text, 'switchboard_contact_sync_healthy', outlook)).toBe(0);
    expect(sample(text, 'switchboard_contact_sync_errors_total', outlook)).toBe(1);
    metrics.forgetContactSource('globex', 'clinic-outlook');
    expect(sample(await scrape(server), 'switchboard_contact_sync_healthy', outlook)).toBeUndefined();
  });

  it('includes the process and Node.js runtime metrics', async () => {
    const text = await scrape(server);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sample(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  });
});

describe('metrics access', () => {
  it('requires the bearer token when one is set', async () => {
    const server = await startTestServer({ personas: basicManifests, toolKinds: sensitiveToolKinds, settings: { metricsToken: 'scrape-token-1' } });
    try {
      const url = new URL('/metrics', server.url);
      const missing = await fetch(url);
      expect(missing.status).toBe(401);
      expect(await missing.json()).toMatchObject({ error: { code: 'AUTH_KEY_MISSING' } });
      const wrong = await fetch(url, { headers: { authorization: 'Bearer scrape-token-2' } });
      expect(wrong.status).toBe(401);
      expect(await wrong.json()).toMatchObject({ error: { code: 'AUTH_KEY_INVALID' } });
      const text = await scrape(server, { authorization: 'Bearer scrape-token-1' });
      expect(sample(text, 'switchboard_manifest_accounts')).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('refuses to serve metrics without a token on a bind beyond loopback', async () => {
    const server = await startTestServer({ personas: basicManifests, toolKinds: sensitiveToolKinds, settings: { host: '0.0.0.0', allowedHosts: ['127.0.0.1'] } });
    try {
      const response = await fetch(new URL('/metrics', server.url));
      expect(response.status).toBe(403);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('METRICS_TOKEN_REQUIRED');
      expect(body.error.message).toContain('--metrics-token');
    } finally {
      await server.close();
    }
  });
});

describe('metrics fed by the capabilities themselves', () => {
  it('counts outbound API requests, refused transfers and PBX commands from real tool calls', async () => {
    const api = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{"status":"shipped"}');
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    const server = await startTestServer({
      personas: {
        'acme/account.yaml': 'account_id: acme\ntimezone: America/New_York\ndefault_country: US\nusers:\n  - { id: u-1, name: Ann Lee, extension: "101" }\n',
        'acme/desk.yaml': `persona_id: desk\ntools:\n  - type: api_request\n    name: order_status\n    description: Order status.\n    method: GET\n    url: ${apiUrl}/orders/1\n`,
      },
      settings: { outboundAllow: ['127.0.0.1'] },
    });
    try {
      const client = await connect(server, callHeaders({ key: await server.key('acme'), persona: 'desk' }));
      expect((await client.callTool({ name: 'order_status', arguments: {} })).isError).toBeFalsy();
      expect((await client.callTool({ name: 'transfer_call', arguments: { destination_number: '+1 900 555 0123' } })).isError).toBe(true);
      await client.close();
      const text = await scrape(server);
      expect(sample(text, 'switchboard_outbound_request_duration_seconds_count', { purpose: 'api_tool', outcome: 'ok' })).toBe(1);
      expect(sample(text, 'switchboard_call_control_commands_total', { kind: 'transfer', outcome: 'refused' })).toBe(1);
    } finally {
      await server.close();
      api.close();
    }
  });
});
