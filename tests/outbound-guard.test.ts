/**
 * The SSRF guard of the outbound HTTP client: through API tools on a real
 * server (refused by default, let through by the operator's allow list,
 * redirects checked hop by hop) and through the client's own API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AddressPolicy } from '../engine/outbound/address-policy.ts';
import { OutboundClient, OutboundError } from '../engine/outbound/client.ts';
import { callHeaders, connect, startTestServer, textOf, type TestServer } from './helpers/server.ts';
import { startUpstream, type Upstream } from './helpers/upstream.ts';

const account = 'acme/account.yaml';
const accountYaml = 'account_id: acme\ntimezone: America/New_York\n';

function persona(tools: Record<string, string>): string {
  const entries = Object.entries(tools).map(([name, url]) => `  - { type: api_request, name: ${name}, description: Calls ${name}., method: GET, url: "${url}" }`);
  return `persona_id: guarded\ntools:\n${entries.join('\n')}\n`;
}

let upstream: Upstream;
/** A second API on another loopback address, which the allow list does not cover. */
let other: Upstream;

beforeAll(async () => {
  upstream = await startUpstream('127.0.0.1');
  other = await startUpstream('127.0.0.2');
});
afterAll(async () => {
  await upstream.close();
  await other.close();
});

async function callAll(server: TestServer, names: string[]) {
  const client = await connect(server, callHeaders({ key: await server.key('acme'), persona: 'guarded' }));
  const results = [];
  for (const name of names) results.push(await client.callTool({ name, arguments: {} }));
  await client.close();
  return results;
}

describe('API tools without an allow list', () => {
  let server: TestServer;
  beforeAll(async () => {
    const tools = {
      loopback: `${upstream.base}/a`,
      metadata: 'http://169.254.169.254/latest/meta-data/',
      mapped: `http://[::ffff:127.0.0.1]:${upstream.port}/a`,
      named: `http://localhost:${upstream.port}/a`,
      private_net: 'http://10.1.2.3/a',
      unspecified: `http://0.0.0.0:${upstream.port}/a`,
    };
    server = await startTestServer({ personas: { [account]: accountYaml, 'acme/guarded.yaml': persona(tools) } });
  });
  afterAll(async () => server.close());

  it('refuses loopback, metadata, mapped, private and unspecified addresses, literal or resolved', async () => {
    upstream.reset();
    const names = ['loopback', 'metadata', 'mapped', 'named', 'private_net', 'unspecified'];
    const results = await callAll(server, names);
    for (const result of results) {
      expect(result.isError).toBe(true);
      expect((result.structuredContent as { error: { code: string } }).error.code).toBe('TOOL_REFUSED');
      expect(textOf(result)).toContain('not allowed to reach its service');
    }
    expect(upstream.requests).toHaveLength(0);
    const reasons = server.logLines.filter((line) => line.includes('"event":"outbound_refused"')).map((line) => (JSON.parse(line) as { reason: string }).reason);
    expect(reasons).toEqual([
      '127.0.0.1 is a loopback address',
      '169.254.169.254 is the cloud metadata address',
      '::ffff:7f00:1 is a loopback address',
      expect.stringMatching(/^localhost resolves to (127\.0\.0\.1, a loopback address|::1, a non-global IPv6 address \(loopback\))$/),
      '10.1.2.3 is a private address (RFC 1918)',
      '0.0.0.0 is an unspecified address (0.0.0.0/8)',
    ]);
  });
});

describe('API tools with the operator allow list', () => {
  let server: TestServer;
  beforeAll(async () => {
    const tools = { allowed: `${upstream.base}/ok`, redirected: `${upstream.base}/go-elsewhere`, redirected_home: `${upstream.base}/go-home` };
    server = await startTestServer({ personas: { [account]: accountYaml, 'acme/guarded.yaml': persona(tools) }, settings: { outboundAllow: ['127.0.0.1/32'] } });
  });
  afterAll(async () => server.close());

  it('lets the allowed address through and follows redirects only to allowed addresses', async () => {
    upstream.reset((request) => {
      if (request.target === '/go-elsewhere') return { status: 302, headers: { location: `${other.base}/private` } };
      if (request.target === '/go-home') return { status: 302, headers: { location: '/ok' } };
      return { body: { ok: true, at: request.target } };
    });
    other.reset();
    const [allowed, redirected, home] = await callAll(server, ['allowed', 'redirected', 'redirected_home']);
    expect(textOf(allowed)).toBe('{"ok":true,"at":"/ok"}');
    expect(redirected?.isError).toBe(true);
    expect(textOf(redirected)).toContain('not allowed to reach its service');
    expect(other.requests).toHaveLength(0);
    expect(textOf(home)).toBe('{"ok":true,"at":"/ok"}');
    expect(server.logLines.some((line) => line.includes('127.0.0.2 is a loopback address'))).toBe(true);
  });
});

describe('the outbound client', () => {
  const loopback = new OutboundClient({ allow: ['127.0.0.0/8'] });
  const strict = new OutboundClient();
  afterAll(() => {
    loopback.close();
    strict.close();
  });

  const failure = async (promise: Promise<unknown>): Promise<OutboundError> => {
    try {
      await promise;
    } catch (error) {
      if (error instanceof OutboundError) return error;
      throw error;
    }
    throw new Error('the request succeeded');
  };

  it('drops credentials on a redirect to another origin and refuses to resend a body there', async () => {
    upstream.reset((request) => ({ status: request.method === 'POST' ? 307 : 302, headers: { location: `${other.base}/landing` } }));
    other.reset();
    const response = await loopback.request({ method: 'GET', url: `${upstream.base}/start`, headers: { Authorization: 'Bearer abc12345', 'X-Api-Key': 'k-12345', Accept: 'application/json' } });
    expect(response.status).toBe(200);
    expect(response.url).toBe(`${other.base}/landing`);
    const seen = other.requests[0]?.headers ?? {};
    expect(seen).not.toHaveProperty('authorization');
    expect(seen).not.toHaveProperty('x-api-key');
    expect(seen.accept).toBe('application/json');

    other.reset();
    const refused = await failure(loopback.request({ method: 'POST', url: `${upstream.base}/start`, body: '{"a":1}', headers: { 'content-type': 'application/json' } }));
    expect(refused.kind).toBe('redirects');
    expect(other.requests).toHaveLength(0);
  });

  it('refuses a redirect whose Location holds user:password@, to another origin or the same, and sends nothing there', async () => {
    for (const location of [`http://shop:hunter22@127.0.0.2:${other.port}/landing`, `http://shop:hunter22@127.0.0.1:${upstream.port}/landing`, `http://shop@127.0.0.2:${other.port}/landing`]) {
      upstream.reset((request) => (request.target === '/start' ? { status: 302, headers: { location } } : {}));
      other.reset();
      const refused = await failure(loopback.request({ method: 'GET', url: `${upstream.base}/start`, retries: 2 }));
      expect(refused.kind, location).toBe('redirects');
      expect(refused.message).toContain('user name or password');
      expect(other.requests).toHaveLength(0);
      expect(upstream.requests.map((request) => request.target)).toEqual(['/start']);
    }
  });

  it('refuses a redirect to another scheme, without retrying', async () => {
    upstream.reset(() => ({ status: 302, headers: { location: 'file:///etc/passwd' } }));
    expect((await failure(loopback.request({ method: 'GET', url: `${upstream.base}/file`, retries: 2 }))).kind).toBe('refused');
    expect(upstream.requests).toHaveLength(1);
  });

  it('stops after maxRedirects', async () => {
    upstream.reset(() => ({ status: 302, headers: { location: '/again' } }));
    expect((await failure(loopback.request({ method: 'GET', url: `${upstream.base}/loop`, maxRedirects: 2 }))).kind).toBe('redirects');
    expect(upstream.requests).toHaveLength(3);
  });

  it('speaks http and https only and never sends credentials in the URL', async () => {
    expect((await failure(loopback.request({ method: 'GET', url: 'ftp://127.0.0.1/file' }))).kind).toBe('invalid_url');
    expect((await failure(loopback.request({ method: 'GET', url: 'file:///etc/passwd' }))).kind).toBe('invalid_url');
    expect((await failure(loopback.request({ method: 'GET', url: `http://user:pw@127.0.0.1:${upstream.port}/` }))).kind).toBe('invalid_url');
  });

  it('reaches a private address with allowPrivate, for the operator’s own configuration', async () => {
    upstream.reset();
    expect((await failure(strict.request({ method: 'GET', url: `${upstream.base}/x` }))).kind).toBe('refused');
    // https goes through its own agent, with the same checks before any TLS handshake.
    expect((await failure(strict.request({ method: 'GET', url: `https://127.0.0.1:${upstream.port}/x` }))).message).toBe('127.0.0.1 is a loopback address');
    expect((await failure(strict.request({ method: 'GET', url: `https://localhost:${upstream.port}/x` }))).kind).toBe('refused');
    const response = await strict.request({ method: 'GET', url: `${upstream.base}/x`, allowPrivate: true });
    expect(response.status).toBe(200);
    expect(upstream.requests).toHaveLength(1);
  });

  it('retries GET but never POST, whatever retries says', async () => {
    upstream.reset(() => ({ status: 502 }));
    expect((await loopback.request({ method: 'GET', url: `${upstream.base}/x`, retries: 2 })).attempts).toBe(3);
    upstream.reset(() => ({ status: 502 }));
    const post = await loopback.request({ method: 'POST', url: `${upstream.base}/x`, retries: 2, body: 'a' });
    expect(post).toMatchObject({ status: 502, attempts: 1 });
    expect(upstream.requests).toHaveLength(1);
  });
});

describe('the address policy', () => {
  it('refuses every non-global address and allows global ones', () => {
    const policy = new AddressPolicy();
    const refused = ['127.0.0.1', '127.5.5.5', '10.0.0.1', '172.16.0.1', '192.168.1.1', '100.64.0.1', '169.254.169.254', '169.254.1.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '240.0.0.1', '192.0.2.1', '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '64:ff9b::7f00:1', '2002:7f00:1::1', '2001:db8::1'];
    for (const address of refused) expect(policy.refusal(address), address).toBeDefined();
    for (const address of ['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8']) expect(policy.refusal(address), address).toBeUndefined();
  });

  it('allows what the operator lists: CIDRs, addresses, host names and suffixes', () => {
    const policy = new AddressPolicy(['10.20.0.0/16', '192.168.1.5', 'fd00::/8', 'crm.internal', '*.corp.example']);
    expect(policy.refusal('10.20.3.4')).toBeUndefined();
    expect(policy.refusal('::ffff:10.20.3.4')).toBeUndefined();
    expect(policy.refusal('10.21.0.1')).toBeDefined();
    expect(policy.refusal('192.168.1.5')).toBeUndefined();
    expect(policy.refusal('192.168.1.6')).toBeDefined();
    expect(policy.refusal('fd00::5')).toBeUndefined();
    expect(policy.refusal('127.0.0.1', 'crm.internal')).toBeUndefined();
    expect(policy.refusal('10.9.9.9', 'a.corp.example')).toBeUndefined();
    expect(policy.refusal('10.9.9.9', 'corp.example.evil')).toBeDefined();
    expect(() => new AddressPolicy(['10.0.0.0/33'])).toThrow(/not a valid CIDR/);
    expect(() => new AddressPolicy(['not a host!'])).toThrow(/neither a CIDR/);
  });
});
