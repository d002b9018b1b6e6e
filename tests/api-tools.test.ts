/**
 * API Request tools end to end: an official MCP client calls a persona's
 * api_request tools on a real server, which calls a real local HTTP API.
 * The API listens on 127.0.0.1, so the server allows exactly that address.
 */
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { planApiRequest } from '../engine/tools/custom/api-request/plan.ts';
import type { ToolCallEvent } from '../engine/tools/dispatch.ts';
import { openSession, post } from './helpers/http.ts';
import { callHeaders, connect, startTestServer, textOf, type TestServer } from './helpers/server.ts';
import { startUpstream, type Upstream } from './helpers/upstream.ts';

const TOKEN = 'shop-token-7f3a9c2e51';
/** A secret that looks different once percent- or form-encoded. */
const ODD_SECRET = 'odd/secret+value=1&"x"';

function manifests(base: string): Record<string, string> {
  return {
    'acme/account.yaml': 'account_id: acme\ntimezone: America/New_York\ndefault_country: US\n',
    'acme/api.yaml': `persona_id: api
global_tools: { transfer_call: false, is_office_open: false, lookup_contact: false, check_user_availability: false, create_lead: false, hangup_call: false }
tools:
  - type: api_request
    name: order_status
    description: Look up an order.
    method: GET
    url: ${base}/orders/{{order_number}}
    query:
      store: "{{store}}"
      note: "{{note}}"
    headers:
      Authorization: Bearer {{secret.SHOP_TOKEN}}
      X-Caller: "{{caller_id_number}}"
      X-Note: "{{note}}"
    variables:
      - { name: order_number, type: text, required: true, description: The order number }
      - { name: store, type: dropdown, options: [downtown, airport], default: downtown }
      - { name: note, type: text, max_length: 100 }
    response:
      pick: { status: /status, eta: delivery.eta, first_item: /items/0/name }
      template: "Order {{order_number}} is {{status}}{{#if eta}}, expected {{eta}}{{/if}}."
  - type: api_request
    name: check_values
    description: Checks values of every type.
    method: GET
    url: ${base}/check/{{code}}
    query: { amount: "{{amount}}", count: "{{count}}", kind: "{{kind}}" }
    variables:
      - { name: code, type: text, required: true, min_length: 2, max_length: 8, pattern: "^[A-Z0-9]+$", description: A code }
      - { name: amount, type: number, minimum: 0.5, maximum: 99.5 }
      - { name: count, type: number, integer: true, minimum: 1, maximum: 3, default: 1 }
      - { name: kind, type: dropdown, options: [a, b], required: true }
  - type: api_request
    name: book_visit
    description: Book a visit.
    method: POST
    url: ${base}/visits
    headers: { Authorization: "Bearer {{secret.SHOP_TOKEN}}" }
    body:
      phone: "{{caller_id_number}}"
      call: "{{call_id}}"
      persona: "{{account_id}}/{{persona_id}}"
      visit:
        technicians: "{{technicians}}"
        fee: "{{fee}}"
        problem: "{{problem}}"
        label: "{{technicians}} x {{problem}}"
        tags: ["{{problem}}", fixed, 3]
        urgent: true
    variables:
      - { name: technicians, type: number, integer: true, minimum: 1, maximum: 3, default: 1 }
      - { name: fee, type: number, minimum: 0 }
      - { name: problem, type: text, required: true, max_length: 500 }
  - type: api_request
    name: leave_note
    description: Leave a note.
    method: PUT
    url: ${base}/notes
    body_encoding: form
    body: { name: "{{name}}", comment: "{{comment}}", channel: phone }
    variables:
      - { name: name, type: text, required: true }
      - { name: comment, type: text }
  - type: api_request
    name: echo_back
    description: The API echoes the request.
    method: GET
    url: ${base}/echo
    query: { text: "{{text}}" }
    headers: { X-Api-Key: "{{secret.SHOP_TOKEN}}" }
    variables:
      - { name: text, type: text }
  - type: api_request
    name: signed_query
    description: Sends a secret as a query parameter.
    method: GET
    url: ${base}/signed/{{secret.ODD_SECRET}}
    query: { api_key: "{{secret.ODD_SECRET}}" }
  - type: api_request
    name: unconfigured
    description: Needs a secret that is not set.
    method: GET
    url: ${base}/unconfigured
    headers: { Authorization: "Bearer {{secret.NOT_SET_ANYWHERE}}" }
  - type: api_request
    name: slow
    description: Takes its time.
    method: GET
    url: ${base}/slow
    timeout_seconds: 0.5
  - type: api_request
    name: small
    description: Accepts small answers only.
    method: GET
    url: ${base}/small
    response: { max_bytes: 1024 }
  - type: api_request
    name: flaky_get
    description: GET with retries.
    method: GET
    url: ${base}/flaky
    retries: 2
  - type: api_request
    name: flaky_put
    description: PUT with a retry.
    method: PUT
    url: ${base}/flaky
    retries: 1
    body: { value: 1 }
  - type: api_request
    name: flaky_post
    description: POST, never retried.
    method: POST
    url: ${base}/flaky
    body: { value: 1 }
  - type: api_request
    name: greeting
    description: Answer shaped by a template without pick.
    method: GET
    url: ${base}/greeting
    response: { template: "{{greeting}}, {{name}}!" }
  - type: api_request
    name: plain
    description: Answer passed on as it is.
    method: DELETE
    url: ${base}/plain/{{id}}
    variables: [{ name: id, type: text, required: true }]
`,
  };
}

let upstream: Upstream;
let server: TestServer;
let client: Client;
const events: ToolCallEvent[] = [];

const call = (name: string, args: Record<string, unknown> = {}) => client.callTool({ name, arguments: args });
const errorOf = (result: Awaited<ReturnType<typeof call>>) => (result.structuredContent as { error: { code: string; retryable: boolean; http_status?: number; reason?: string } }).error;

beforeAll(async () => {
  upstream = await startUpstream();
  server = await startTestServer({ personas: manifests(upstream.base), settings: { outboundAllow: ['127.0.0.1'] }, env: { SHOP_TOKEN: TOKEN, ODD_SECRET } });
  server.running.dispatcher.observe((event) => events.push(event));
  client = await connect(server, callHeaders({ key: await server.key('acme'), persona: 'api', call: 'call-42', caller: '(212) 555-0100' }));
});
afterAll(async () => {
  await client.close();
  await server.close();
  await upstream.close();
});
beforeEach(() => {
  upstream.reset();
  events.length = 0;
});

describe('the tool as the model sees it', () => {
  it('turns variables into a JSON Schema with their limits, defaults and descriptions', async () => {
    const { tools } = await client.listTools();
    const check = tools.find((tool) => tool.name === 'check_values');
    expect(check?.inputSchema).toEqual({
      type: 'object',
      properties: {
        code: { type: 'string', minLength: 2, maxLength: 8, pattern: '^[A-Z0-9]+$', description: 'A code' },
        amount: { type: 'number', minimum: 0.5, maximum: 99.5 },
        count: { type: 'integer', minimum: 1, maximum: 3, default: 1 },
        kind: { type: 'string', enum: ['a', 'b'], maxLength: 1 },
      },
      required: ['code', 'kind'],
      additionalProperties: false,
    });
    const order = tools.find((tool) => tool.name === 'order_status');
    expect((order?.inputSchema.properties as Record<string, { maxLength?: number }>).order_number?.maxLength).toBe(256);
    expect(order?.annotations).toMatchObject({ readOnlyHint: true, idempotentHint: true, openWorldHint: true });
    expect(tools.find((tool) => tool.name === 'book_visit')?.annotations).toMatchObject({ readOnlyHint: false, idempotentHint: false });
  });

  it('checks arguments before any request is made', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ kind: 'a' }, '"code" is required'],
      [{ code: 'ab', kind: 'a' }, '"code" has the wrong format'],
      [{ code: 'A', kind: 'a' }, '"code" must be at least 2 characters'],
      [{ code: 'AB', kind: 'c' }, '"kind" must be one of a, b'],
      [{ code: 'AB', kind: 'a', amount: 100 }, '"amount" must be <= 99.5'],
      [{ code: 'AB', kind: 'a', count: 1.5 }, '"count" must be a whole number'],
      [{ code: 'AB', kind: 'a', amount: '3' }, '"amount" must be a number'],
    ];
    for (const [args, message] of cases) {
      const result = await call('check_values', args);
      expect(result.isError).toBe(true);
      expect(textOf(result)).toContain(message);
    }
    expect(upstream.requests).toHaveLength(0);
  });

  it('refuses numbers JSON cannot carry (1e309 parses to Infinity), bounded or not, before any request', async () => {
    const headers = callHeaders({ key: await server.key('acme'), persona: 'api', call: 'call-inf' });
    const session = await openSession(server, headers);
    const raw = (id: number, name: string, args: string) => `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"${name}","arguments":${args}}}`;
    const cases: [string, string, string][] = [
      ['book_visit', '{"problem":"leak","fee":1e309}', '"fee" must be a finite number'],
      ['book_visit', '{"problem":"leak","fee":-1e309,"technicians":2}', '"fee" must be a finite number'],
      ['check_values', '{"code":"AB","kind":"a","amount":1e400}', '"amount" must be a finite number'],
    ];
    for (const [index, [name, args, message]] of cases.entries()) {
      const response = await post(server, { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' }, undefined, { raw: raw(index + 2, name, args) });
      const result = (response.json as { result: { isError?: boolean; content: { text: string }[] } }).result;
      expect(result.isError, args).toBe(true);
      expect(result.content[0]?.text).toContain(message);
    }
    expect(upstream.requests).toHaveLength(0);
    expect(() => planApiRequest({ type: 'api_request', name: 't', description: 'd', method: 'GET', url: 'https://api.example.com/x', variables: [{ name: 'fee', type: 'number', maximum: Infinity }] })).toThrow(
      'maximum must be a finite number, not Infinity',
    );
  });

  it('sends numbers, dropdowns and defaults as typed', async () => {
    const result = await call('check_values', { code: 'AB12', kind: 'b', amount: 2.5 });
    expect(result.isError).toBeFalsy();
    expect(upstream.requests[0]?.target).toBe('/check/AB12?amount=2.5&count=1&kind=b');
    const none = await call('check_values', { code: 'ZZ', kind: 'a' });
    expect(none.isError).toBeFalsy();
    expect(upstream.requests[1]?.target).toBe('/check/ZZ?count=1&kind=a');
  });
});

describe('encoding for each place a value lands', () => {
  it('keeps a path value inside its segment, whatever it holds', async () => {
    upstream.reset(() => ({ body: { status: 'shipped' } }));
    await call('order_status', { order_number: '../admin?x=1#frag' });
    await call('order_status', { order_number: 'A/B "quoted" {braces} Zoë ✓' });
    expect(upstream.requests.map((request) => request.target)).toEqual([
      '/orders/..%2Fadmin%3Fx%3D1%23frag?store=downtown',
      '/orders/A%2FB%20%22quoted%22%20%7Bbraces%7D%20Zo%C3%AB%20%E2%9C%93?store=downtown',
    ]);
  });

  it('refuses a value that would be a whole . or .. segment', async () => {
    for (const value of ['..', '.']) {
      const result = await call('order_status', { order_number: value });
      expect(result.isError).toBe(true);
      expect(errorOf(result).code).toBe('TOOL_ARGUMENTS');
      expect(textOf(result)).toContain('"order_number" cannot be "." or ".."');
    }
    expect(upstream.requests).toHaveLength(0);
  });

  it('form-encodes query values and leaves empty ones out', async () => {
    upstream.reset(() => ({ body: { status: 'open' } }));
    await call('order_status', { order_number: 'A1', store: 'airport', note: 'a&b=c +d' });
    const target = upstream.requests[0]?.target ?? '';
    expect(target).toBe('/orders/A1?store=airport&note=a%26b%3Dc+%2Bd');
    expect(new URL(target, 'http://x').searchParams.get('note')).toBe('a&b=c +d');
    await call('order_status', { order_number: 'A1' });
    expect(upstream.requests[1]?.target).toBe('/orders/A1?store=downtown');
  });

  it('sends header values as given and the caller in E.164; leaves empty headers out', async () => {
    upstream.reset(() => ({ body: { status: 'open' } }));
    await call('order_status', { order_number: 'A1', note: 'Zoë said "hi"' });
    const headers = upstream.requests[0]?.headers ?? {};
    expect(headers['x-caller']).toBe('+12125550100');
    expect(headers['x-note']).toBe('Zoë said "hi"');
    expect(headers.authorization).toBe(`Bearer ${TOKEN}`);
    await call('order_status', { order_number: 'A2' });
    expect(upstream.requests[1]?.headers).not.toHaveProperty('x-note');
  });

  it('refuses CR, LF and other control characters (C1 included) in header values and sends nothing', async () => {
    for (const note of ['x\r\nX-Injected: 1', 'x\nHost: evil.example', 'bell\u0007', 'next line\u0085X-Injected: 1', 'csi\u009b31m', 'del\u007f']) {
      const result = await call('order_status', { order_number: 'A1', note });
      expect(result.isError).toBe(true);
      expect(errorOf(result).code).toBe('TOOL_ARGUMENTS');
      expect(textOf(result)).toContain('"note" must not contain line breaks or control characters');
    }
    const wide = await call('order_status', { order_number: 'A1', note: 'check ✓' });
    expect(textOf(wide)).toContain('"note" holds characters that cannot be sent in the X-Note header');
    expect(upstream.requests).toHaveLength(0);
  });

  it('builds the JSON body as a structure: numbers stay numbers, text cannot break out', async () => {
    const problem = 'leak", "admin": true, "x": {"y": "} ] \\ Zoë';
    const result = await call('book_visit', { technicians: 2, fee: 12.5, problem });
    expect(result.isError).toBeFalsy();
    const request = upstream.requests[0];
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(JSON.parse(request?.body ?? '')).toEqual({
      phone: '+12125550100',
      call: 'call-42',
      persona: 'acme/api',
      visit: { technicians: 2, fee: 12.5, problem, label: `2 x ${problem}`, tags: [problem, 'fixed', 3], urgent: true },
    });
  });

  it('applies defaults in the body and leaves out optional values not given', async () => {
    await call('book_visit', { problem: '{{secret.SHOP_TOKEN}}' });
    const body = JSON.parse(upstream.requests[0]?.body ?? '') as { visit: Record<string, unknown> };
    expect(body.visit.technicians).toBe(1);
    expect(body.visit).not.toHaveProperty('fee');
    // A placeholder in a value is text, never rendered again.
    expect(body.visit.problem).toBe('{{secret.SHOP_TOKEN}}');
  });

  it('sends a form body, form-encoded, without empty fields', async () => {
    await call('leave_note', { name: 'Zoë & Co', comment: 'a=b&c' });
    const request = upstream.requests[0];
    expect(request?.method).toBe('PUT');
    expect(request?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request?.body).toBe('name=Zo%C3%AB+%26+Co&comment=a%3Db%26c&channel=phone');
    await call('leave_note', { name: 'Sam' });
    expect(upstream.requests[1]?.body).toBe('name=Sam&channel=phone');
  });
});

describe('answers', () => {
  it('renders the response template with picked fields (pointer and dotted path)', async () => {
    upstream.reset(() => ({ body: { status: 'shipped', delivery: { eta: 'Friday' }, items: [{ name: 'Pipe' }], internal: 'x' } }));
    const result = await call('order_status', { order_number: 'A-1' });
    expect(textOf(result)).toBe('Order A-1 is shipped, expected Friday.');
    expect(result.structuredContent).toEqual({ http_status: 200, data: { status: 'shipped', eta: 'Friday', first_item: 'Pipe' } });
    upstream.reset(() => ({ body: { status: 'packed' } }));
    const partial = await call('order_status', { order_number: 'A-2' });
    expect(textOf(partial)).toBe('Order A-2 is packed.');
    expect(partial.structuredContent).toEqual({ http_status: 200, data: { status: 'packed', eta: null, first_item: null } });
  });

  it('refuses an answer that is not JSON when fields are picked', async () => {
    upstream.reset(() => ({ body: '<html>maintenance</html>', headers: { 'content-type': 'text/html' } }));
    const result = await call('order_status', { order_number: 'A-1' });
    expect(result.isError).toBe(true);
    expect(errorOf(result).code).toBe('TOOL_UPSTREAM_INVALID');
  });

  it('passes an answer without template on as compact JSON or text', async () => {
    upstream.reset(() => ({ body: { deleted: true, id: 'x1' } }));
    const json = await call('plain', { id: 'x1' });
    expect(textOf(json)).toBe('{"deleted":true,"id":"x1"}');
    expect(json.structuredContent).toEqual({ http_status: 200, data: { deleted: true, id: 'x1' } });
    upstream.reset(() => ({ body: '  Deleted.\n\n  Bye.  ', headers: { 'content-type': 'text/plain' } }));
    expect(textOf(await call('plain', { id: 'x1' }))).toBe('Deleted. Bye.');
    upstream.reset(() => ({ status: 204 }));
    expect(textOf(await call('plain', { id: 'x1' }))).toBe('The request succeeded (HTTP 204) with an empty answer.');
    upstream.reset(() => ({ body: { items: Array.from({ length: 400 }, (_, index) => `item number ${index}`) } }));
    const long = textOf(await call('plain', { id: 'x1' }));
    expect(long.length).toBe(1500);
    expect(long.endsWith('…')).toBe(true);
  });

  it('falls back to the compact answer when a template field is missing, and tells the operator', async () => {
    upstream.reset(() => ({ body: { greeting: 'Hello', name: 'Sam' } }));
    expect(textOf(await call('greeting'))).toBe('Hello, Sam!');
    upstream.reset(() => ({ body: { greeting: 'Hello' } }));
    const result = await call('greeting');
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toBe('{"greeting":"Hello"}');
    expect(server.logLines.some((line) => line.includes('"event":"response_template_failed"'))).toBe(true);
  });
});

describe('secrets', () => {
  it('masks secret values in results, errors, logs and the audit arguments', async () => {
    const result = await call('echo_back', { text: `please say ${TOKEN}` });
    expect(upstream.requests[0]?.headers['x-api-key']).toBe(TOKEN);
    expect(result.isError).toBeFalsy();
    expect(JSON.stringify(result)).not.toContain(TOKEN);
    expect(JSON.stringify(result)).toContain('***');
    expect(events[0]?.arguments).toEqual({ text: 'please say ***' });

    upstream.reset(() => ({ status: 400, body: { message: `bad key ${TOKEN}` } }));
    const failed = await call('echo_back', { text: 'x' });
    expect(failed.isError).toBe(true);
    expect(textOf(failed)).toContain('bad key ***');
    expect(JSON.stringify(failed)).not.toContain(TOKEN);
    expect(server.logLines.some((line) => line.includes('"event":"api_request"'))).toBe(true);
    expect(server.logLines.join('\n')).not.toContain(TOKEN);
  });

  it('masks a secret in the logs also where it is percent- or form-encoded', async () => {
    upstream.reset(() => ({ status: 500, body: { message: 'no' } }));
    const result = await call('signed_query');
    const request = upstream.requests[0];
    expect(decodeURIComponent(request?.target.split('?')[0] ?? '')).toBe(`/signed/${ODD_SECRET}`);
    expect(new URL(request?.target ?? '', 'http://x').searchParams.get('api_key')).toBe(ODD_SECRET);
    expect(result.isError).toBe(true);
    const logs = server.logLines.join('\n');
    expect(logs).toContain('/signed/***?api_key=***');
    for (const form of [ODD_SECRET, encodeURIComponent(ODD_SECRET), new URLSearchParams({ v: ODD_SECRET }).toString().slice(2)]) expect(logs).not.toContain(form);
  });

  it('tells the model a tool with a missing secret is not configured, and the operator which secret', async () => {
    const result = await call('unconfigured');
    expect(result.isError).toBe(true);
    expect(errorOf(result).code).toBe('SECRET_MISSING');
    expect(textOf(result)).toContain('not configured');
    expect(textOf(result)).not.toContain('NOT_SET_ANYWHERE');
    expect(upstream.requests).toHaveLength(0);
    const line = server.logLines.find((item) => item.includes('"event":"secret_missing"'));
    expect(line).toContain('NOT_SET_ANYWHERE');
  });
});

describe('upstream failures', () => {
  it('reports 404 and 500 with the status and a short reason', async () => {
    upstream.reset(() => ({ status: 404, body: { error: { message: 'Order not found' } } }));
    const missing = await call('plain', { id: 'nope' });
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toContain('HTTP 404: Order not found');
    expect(errorOf(missing)).toMatchObject({ code: 'TOOL_NOT_FOUND', retryable: false, http_status: 404, reason: 'Order not found' });

    upstream.reset(() => ({ status: 500, body: `Internal error\n${'trace line\n'.repeat(2000)}`, headers: { 'content-type': 'text/plain' } }));
    const broken = await call('plain', { id: 'x' });
    expect(textOf(broken)).toContain('HTTP 500: Internal error trace line');
    expect(textOf(broken).length).toBeLessThan(400);
    expect(errorOf(broken)).toMatchObject({ code: 'TOOL_UPSTREAM', retryable: true, http_status: 500 });

    upstream.reset(() => ({ status: 502, body: '<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>', headers: { 'content-type': 'text/html' } }));
    expect(textOf(await call('plain', { id: 'x' }))).toContain('HTTP 502: 502 Bad Gateway');
  });

  it('answers a slow API with a time-out', async () => {
    upstream.reset(() => ({ delayMs: 3000, body: { late: true } }));
    const result = await call('slow');
    expect(result.isError).toBe(true);
    expect(errorOf(result).code).toBe('TOOL_TIMEOUT');
    expect(textOf(result)).toContain('did not answer within 0.5 seconds');
  });

  it('refuses an answer larger than max_bytes, with or without Content-Length', async () => {
    for (const chunked of [false, true]) {
      upstream.reset(() => ({ body: 'x'.repeat(5000), chunked, headers: { 'content-type': 'text/plain' } }));
      const result = await call('small');
      expect(result.isError).toBe(true);
      expect(errorOf(result).code).toBe('TOOL_UPSTREAM_INVALID');
      expect(textOf(result)).toContain('larger than this tool accepts (1024 bytes)');
    }
    upstream.reset(() => ({ body: 'x'.repeat(1024), headers: { 'content-type': 'text/plain' } }));
    expect((await call('small')).isError).toBeFalsy();
  });

  it('retries idempotent methods after 5xx, 429 and dropped connections, never POST', async () => {
    const failTwice = (_request: unknown, index: number) => (index === 0 ? { status: 503 } : index === 1 ? { status: 429, headers: { 'retry-after': '0' } } : { body: { ok: true } });
    upstream.reset(failTwice);
    expect(textOf(await call('flaky_get'))).toBe('{"ok":true}');
    expect(upstream.requests).toHaveLength(3);

    upstream.reset((_request, index) => (index === 0 ? { hangUp: true } : { body: { ok: true } }));
    expect((await call('flaky_put')).isError).toBeFalsy();
    expect(upstream.requests.map((request) => request.method)).toEqual(['PUT', 'PUT']);

    upstream.reset(failTwice);
    const post = await call('flaky_post');
    expect(post.isError).toBe(true);
    expect(textOf(post)).toContain('HTTP 503');
    expect(upstream.requests).toHaveLength(1);

    upstream.reset(() => ({ status: 400, body: { message: 'bad' } }));
    expect((await call('flaky_get')).isError).toBe(true);
    expect(upstream.requests).toHaveLength(1);
  });
});
