/**
 * The call context in the URL path, for platforms that cannot send per-call
 * headers: the same endpoint and checks, with the API key still in a header.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { initializeBody, rpcError } from './helpers/http.ts';
import { startTestServer, textOf, type Era, type TestServer } from './helpers/server.ts';
import { basicManifests, testToolKinds } from './helpers/test-tools.ts';

let server: TestServer;
let key: string;

beforeAll(async () => {
  server = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds });
  key = await server.key('acme');
});
afterAll(async () => server.close());

const contextUrl = (account: string, persona: string, call: string, query = '') =>
  new URL(`/ucp/v2/mcp/accounts/${encodeURIComponent(account)}/personas/${encodeURIComponent(persona)}/calls/${encodeURIComponent(call)}${query}`, server.url);

async function raw(url: URL, headers: Record<string, string>) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(initializeBody()) });
  const text = await response.text();
  const json = JSON.parse(text.startsWith('{') ? text : (/^data: (.*)$/m.exec(text)?.[1] ?? 'null')) as unknown;
  return { status: response.status, json, headers: response.headers, text };
}

describe.each<Era>(['legacy', 'modern'])('%s era client', (era) => {
  it('takes the account, persona, call and caller from the URL, the key from a header', async () => {
    const client = new Client({ name: 'path-test', version: '1.0.0' }, era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {});
    const url = contextUrl('acme', 'sales', 'sip:a84b4c76@pbx.example/1', '?caller_id_number=%2B1%20212%20555%200100');
    await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { 'X-API-Key': key } } }));
    const result = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect(textOf(result)).toBe('echo: hi');
    expect(result.structuredContent).toMatchObject({ account: 'acme', persona: 'sales', call: 'sip:a84b4c76@pbx.example/1', caller: '+12125550100' });
    await client.close();
  });
});

describe('checks', () => {
  it('needs the API key in a header', async () => {
    const response = await raw(contextUrl('acme', 'sales', 'c-1'), {});
    expect(response.status).toBe(401);
  });

  it('refuses a context header that disagrees with the path, and accepts one that agrees', async () => {
    const conflict = await raw(contextUrl('acme', 'sales', 'c-1'), { 'X-API-Key': key, 'x-call-id': 'c-2' });
    expect(conflict.status).toBe(400);
    expect(rpcError(conflict)?.message).toBe('The call_id header (c-2) differs from the call_id in the URL (c-1); send one or make them agree');
    const agreeing = await raw(contextUrl('acme', 'sales', 'c-1'), { 'X-API-Key': key, call_id: 'c-1' });
    expect(agreeing.status).toBe(200);
  });

  it('checks path values like headers, and refuses what the manifests do not have', async () => {
    const malformed = await raw(contextUrl('acme', 'sales desk', 'c-1'), { 'X-API-Key': key });
    expect(malformed.status).toBe(400);
    expect(rpcError(malformed)?.message).toMatch(/^Header persona_id is invalid/);
    const unknown = await raw(contextUrl('acme', 'nobody', 'c-1'), { 'X-API-Key': key });
    expect(unknown.status).toBe(404);
    const otherAccount = await raw(contextUrl('globex', 'reception', 'c-1'), { 'X-API-Key': key });
    expect(otherAccount.status).toBe(403);
  });
});
