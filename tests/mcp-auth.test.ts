/**
 * Who may call: API keys (missing, unknown, revoked, other account, role),
 * the context headers under every accepted name, and refusals that name what
 * is wrong without revealing other tenants.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './helpers/cli.ts';
import { initializeBody, post, rpcError } from './helpers/http.ts';
import { callHeaders, connect, eventually, startTestServer, textOf, type TestServer } from './helpers/server.ts';
import { basicManifests, testToolKinds } from './helpers/test-tools.ts';

let server: TestServer;
let acmeKey: string;

beforeAll(async () => {
  server = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds });
  acmeKey = await server.key('acme');
});
afterAll(async () => server.close());

describe('API keys', () => {
  it('refuses a request without a key with 401', async () => {
    const headers = callHeaders({ key: acmeKey });
    delete (headers as Record<string, string>)['X-API-Key'];
    const response = await post(server, headers, initializeBody());
    expect(response.status).toBe(401);
    expect(rpcError(response)?.message).toMatch(/X-API-Key/);
  });

  it('refuses an unknown key with 401', async () => {
    const response = await post(server, callHeaders({ key: 'sb_not-a-real-key' }), initializeBody());
    expect(response.status).toBe(401);
    expect(rpcError(response)?.data?.code).toBe('AUTH_KEY_INVALID');
  });

  it('refuses a key of another account with 403, before telling whether the account exists', async () => {
    const globexKey = await server.key('globex');
    for (const account of ['acme', 'no-such-account']) {
      const response = await post(server, callHeaders({ key: globexKey, account }), initializeBody());
      expect(response.status).toBe(403);
      expect(rpcError(response)?.data?.code).toBe('AUTH_WRONG_ACCOUNT');
    }
  });

  it('accepts an admin key for MCP and a bearer token in place of X-API-Key', async () => {
    const admin = await server.key('acme', 'admin');
    const byBearer = { ...callHeaders({ key: admin }), Authorization: `Bearer ${admin}` };
    delete (byBearer as Record<string, string>)['X-API-Key'];
    const response = await post(server, byBearer, initializeBody());
    expect(response.status).toBe(200);
  });

  it('refuses two different keys in X-API-Key and Authorization: Bearer, and takes the same one in both', async () => {
    const other = await server.key('acme');
    const both = await post(server, { ...callHeaders({ key: acmeKey }), Authorization: `Bearer ${other}` }, initializeBody());
    expect(both.status).toBe(401);
    expect(rpcError(both)?.message).toBe('X-API-Key and Authorization: Bearer carry different keys; send the key once');
    expect((await post(server, { ...callHeaders({ key: acmeKey }), Authorization: `Bearer ${acmeKey}` }, initializeBody())).status).toBe(200);
    // Another scheme is not a key: a proxy's Basic credentials are left alone.
    expect((await post(server, { ...callHeaders({ key: acmeKey }), Authorization: 'Basic dXNlcjpwYXNz' }, initializeBody())).status).toBe(200);
  });

  it('stops accepting a key revoked with the CLI while the server runs', async () => {
    const created = await runCli(['keys', 'create', '--account', 'acme', '--json', '--data', server.dataDir]);
    expect(created.code, created.stderr).toBe(0);
    const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
    const client = await connect(server, callHeaders({ key }));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'before' } }))).toBe('echo: before');

    expect((await runCli(['keys', 'revoke', id, '--data', server.dataDir])).code).toBe(0);
    const refused = await eventually(async () => {
      const response = await post(server, callHeaders({ key }), initializeBody());
      return response.status === 401 ? response : undefined;
    });
    expect(rpcError(refused)?.message).toMatch(/revoked/);
    await expect(client.callTool({ name: 'echo', arguments: { text: 'after' } })).rejects.toThrow();
    await client.close().catch(() => undefined);
  });

  it('never writes a key into the log', async () => {
    const key = await server.key('acme');
    await post(server, callHeaders({ key }), initializeBody());
    await post(server, callHeaders({ key: `${key}x` }), initializeBody());
    expect(server.logLines.length).toBeGreaterThan(0);
    expect(server.logLines.join('\n')).not.toContain(key);
  });
});

describe('context headers', () => {
  it.each([
    ['seed names with underscores', { account_id: 'acme', persona_id: 'front-desk', call_id: 'c-1', caller_id_number: '+12125550100' }],
    ['hyphenated names', { 'account-id': 'acme', 'persona-id': 'front-desk', 'call-id': 'c-1', 'caller-id-number': '+12125550100' }],
    ['x- prefixed names', { 'x-account-id': 'acme', 'x-persona-id': 'front-desk', 'x-call-id': 'c-1', 'x-caller-id-number': '+12125550100' }],
  ])('accepts %s', async (_label, context) => {
    const client = await connect(server, { 'X-API-Key': acmeKey, ...context });
    const result = await client.callTool({ name: 'echo', arguments: { text: 'x' } });
    expect(result.structuredContent).toMatchObject({ account: 'acme', persona: 'front-desk', call: 'c-1', caller: '+12125550100' });
    await client.close();
  });

  it.each(['account_id', 'persona_id', 'call_id'])('names the missing header %s', async (header) => {
    const headers: Record<string, string> = callHeaders({ key: acmeKey });
    delete headers[header];
    const response = await post(server, headers, initializeBody());
    expect(response.status).toBe(400);
    expect(rpcError(response)?.message).toBe(`Missing required header ${header}`);
  });

  it('refuses names of one header that disagree, and takes names that agree', async () => {
    const conflicting = await post(server, { ...callHeaders({ key: acmeKey }), 'account-id': 'globex' }, initializeBody());
    expect(conflicting.status).toBe(400);
    expect(rpcError(conflicting)?.data?.code).toBe('CONTEXT_HEADER_INVALID');
    expect(rpcError(conflicting)?.message).toBe('Header account_id was sent twice with different values (as account_id and as account-id); send it once');
    const callIds = await post(server, { ...callHeaders({ key: acmeKey, call: 'c-1' }), 'x-call-id': 'c-2' }, initializeBody());
    expect(rpcError(callIds)?.message).toMatch(/^Header call_id was sent twice with different values/);
    const agreeing = await post(server, { ...callHeaders({ key: acmeKey }), 'account-id': 'acme', 'x-account-id': ' acme' }, initializeBody());
    expect(agreeing.status).toBe(200);
  });

  it('refuses a malformed header value and names it', async () => {
    const response = await post(server, { ...callHeaders({ key: acmeKey }), persona_id: 'front desk!' }, initializeBody());
    expect(response.status).toBe(400);
    expect(rpcError(response)?.message).toMatch(/^Header persona_id is invalid/);
  });

  it('refuses a persona that is not in the loaded manifests', async () => {
    const response = await post(server, callHeaders({ key: acmeKey, persona: 'reception' }), initializeBody());
    expect(response.status).toBe(404);
    expect(rpcError(response)?.message).toBe('Persona "reception" is not configured for account "acme"');
  });

  it('leaves the caller number out when it is not a phone number', async () => {
    const client = await connect(server, callHeaders({ key: acmeKey, caller: 'anonymous' }), 'modern');
    const result = await client.callTool({ name: 'echo', arguments: { text: 'x' } });
    expect(result.structuredContent).toMatchObject({ caller: null });
    await client.close();
  });
});
