/**
 * openapi/admin.yaml against the server it describes. The routes the running
 * Express app has and the operations the document names must be the same
 * set. Then every documented operation runs against a real server (a fake
 * Google book behind a contact source, an MCP client making calls, a PBX
 * reading the call-events stream), and each answer must have a status the
 * document lists for that operation, a documented content type and a body
 * its schema accepts, for successes and errors alike. The copies the server
 * serves must be the file.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { Client } from '@modelcontextprotocol/client';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';

import { systemClock } from '../engine/clock.ts';
import { isMcpPath, MCP_PATH } from '../engine/http/errors.ts';
import { VERSION } from '../engine/version.ts';
import { auditRows } from './helpers/admin.ts';
import { secretEnv, waitForState } from './helpers/contact-sources.ts';
import { FakeGoogle, person } from './helpers/fake-google.ts';
import { signTwilioRequest } from './helpers/fake-twilio.ts';
import { routesOf } from './helpers/routes.ts';
import { callHeaders, connect, REPO_ROOT, startTestServer, textOf, type TestServer } from './helpers/server.ts';

interface ResponseSpec {
  $ref?: string;
  content?: Record<string, { schema?: unknown; example?: unknown }>;
}
interface Operation {
  tags?: string[];
  responses: Record<string, ResponseSpec>;
  'x-guide'?: string;
}
interface OpenApi {
  openapi: string;
  info: { version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { responses: Record<string, ResponseSpec> };
}

const document = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, 'openapi/admin.yaml'), 'utf8')) as OpenApi;
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
ajv.addSchema(document, 'admin');

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch'];
const operations = Object.entries(document.paths).flatMap(([route, item]) =>
  HTTP_METHODS.filter((method) => item[method]).map((method) => ({ method, route, operation: item[method] as Operation })),
);

/** A JSON pointer into the document, as a URI fragment. */
const pointer = (...parts: string[]): string => parts.map((part) => `/${encodeURIComponent(part.replace(/~/g, '~0').replace(/\//g, '~1'))}`).join('');

function validatorAt(fragment: string): ValidateFunction {
  const validate = ajv.getSchema(`admin#${fragment}`);
  if (!validate) throw new Error(`no schema at ${fragment}`);
  return validate;
}

/** The documented answer of an operation for a status, and where it is in the document. */
function documentedResponse(method: string, route: string, status: number): { fragment: string; spec: ResponseSpec } {
  const operation = document.paths[route]?.[method];
  expect(operation, `${method.toUpperCase()} ${route} is documented`).toBeDefined();
  const spec = operation!.responses[String(status)];
  expect(spec, `${method.toUpperCase()} ${route} documents status ${status}`).toBeDefined();
  if (!spec!.$ref) return { fragment: pointer('paths', route, method, 'responses', String(status)), spec: spec! };
  const name = spec!.$ref.replace('#/components/responses/', '');
  return { fragment: pointer('components', 'responses', name), spec: document.components.responses[name]! };
}

interface Exercised {
  method: string;
  route: string;
  status: number;
}
const exercised: Exercised[] = [];

/** Checks an answer against the document; returns the body (parsed when JSON). */
function matchDocument(method: string, route: string, status: number, contentType: string, text: string): unknown {
  exercised.push({ method, route, status });
  const { fragment, spec } = documentedResponse(method, route, status);
  const what = `${method.toUpperCase()} ${route} ${status}`;
  if (!spec.content) {
    expect(text, `${what} has no body`).toBe('');
    return undefined;
  }
  const media = contentType.split(';')[0]!.trim();
  expect(Object.keys(spec.content), `${what} answers ${media}`).toContain(media);
  if (media !== 'application/json') return text;
  const body: unknown = JSON.parse(text);
  const validate = validatorAt(`${fragment}${pointer('content', media, 'schema')}`);
  expect(validate(body), `${what}: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 2000)}`).toBe(true);
  return body;
}

interface Ask {
  /** The admin key of acme unless given; null sends none. */
  key?: string | null;
  params?: Record<string, string>;
  query?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read field by field after schema validation
type Json = any;

let server: TestServer;
let google: FakeGoogle;
let adminKey: string;
let mcpKey: string;
let globexAdmin: string;
const clients: Client[] = [];

const concrete = (route: string, params: Record<string, string>): string =>
  route.replace(/\{(\w+)\}/g, (_match, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no value for {${name}}`);
    return encodeURIComponent(value);
  });

/** One request; the answer must match the document, and its status `expected`. */
async function ask(method: string, route: string, expected: number, options: Ask = {}): Promise<{ body: Json; headers: Headers }> {
  const key = options.key === undefined ? adminKey : options.key;
  const url = new URL(concrete(route, { account: 'acme', ...options.params }) + (options.query ? `?${options.query}` : ''), server.url);
  const response = await fetch(url, {
    method: method.toUpperCase(),
    headers: { ...(key ? { 'X-API-Key': key } : {}), ...(options.body === undefined ? {} : { 'Content-Type': 'application/json' }), ...options.headers },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  expect(response.status, `${method.toUpperCase()} ${url.pathname}${url.search}: ${text.slice(0, 500)}`).toBe(expected);
  return { body: matchDocument(method, route, response.status, response.headers.get('content-type') ?? '', text), headers: response.headers };
}

const USERS = '/ucp/v2/accounts/{account}/users';
const DND = '/ucp/v2/accounts/{account}/users/{user}/dnd';
const LEADS = '/ucp/v2/accounts/{account}/leads';
const CONTACTS = '/ucp/v2/accounts/{account}/contacts';
const CONTACT = '/ucp/v2/accounts/{account}/contacts/{id}';
const SOURCES = '/ucp/v2/accounts/{account}/contact-sources';
const SYNC = '/ucp/v2/accounts/{account}/contact-sources/{name}/sync';
const CALLS = '/ucp/v2/accounts/{account}/calls';
const CALL = '/ucp/v2/accounts/{account}/calls/{call_id}';
const EVENTS = '/ucp/v2/accounts/{account}/call-events';
const ACK = '/ucp/v2/accounts/{account}/call-events/{id}/ack';
const AUDIT = '/ucp/v2/accounts/{account}/audit';
const PBX_CALLBACK = '/ucp/v2/pbx/{account}/{driver}/{*rest}';
const MANIFESTS = '/ucp/v2/accounts/{account}/manifests';
const PHONE_SYSTEM = '/ucp/v2/accounts/{account}/phone-system';
const TOOLS = '/ucp/v2/accounts/{account}/personas/{persona}/tools';
const TRY = '/ucp/v2/accounts/{account}/personas/{persona}/tools/{tool}/try';
const CHANGES = '/ucp/v2/accounts/{account}/changes';
const CONSOLE = '/ucp/v2/console';
const CONSOLE_ASSET = '/ucp/v2/console/{asset}';
const TWILIO_TOKEN = 'globex-twilio-auth-token';

const credentials = { clientId: 'acme-client.apps.example', clientSecret: 'GOCSPX-acme-secret', refreshToken: '1//acme-refresh-token' };

const manifests = (googleUrl: string, tokenUrl: string): Record<string, string> => ({
  'acme/account.yaml': `
account_id: acme
timezone: America/New_York
default_country: US
users:
  - { id: u-100, name: Dana Reyes, extension: "100" }
  - { id: u-101, name: Sam Ortiz, extension: "101" }
call_control:
  driver: events
  timeout_seconds: 5
contact_sources:
  - type: google
    name: acme-google
    credentials: { client_id: ACME_GOOGLE_CLIENT_ID, client_secret: ACME_GOOGLE_CLIENT_SECRET, refresh_token: ACME_GOOGLE_REFRESH_TOKEN }
    api_base_url: ${googleUrl}
    token_url: ${tokenUrl}
  - type: google
    name: acme-unset
    credentials: { client_id: ACME_UNSET_CLIENT_ID, client_secret: ACME_UNSET_CLIENT_SECRET, refresh_token: ACME_UNSET_REFRESH_TOKEN }
    api_base_url: ${googleUrl}
    token_url: ${tokenUrl}
`,
  'acme/front-desk.yaml': 'persona_id: front-desk\n',
  // A phone system that calls back, for the signed callback route; its API is a loopback port nothing listens on.
  'globex/account.yaml': `
account_id: globex
timezone: Europe/London
default_country: GB
call_control:
  driver: twilio
  account_sid: AC0123456789abcdef0123456789abcdef
  auth_token: GLOBEX_TWILIO_TOKEN
  api_base: http://127.0.0.1:9
`,
  'globex/reception.yaml': 'persona_id: reception\n',
});

async function mcpClient(call: string): Promise<Client> {
  const client = await connect(server, callHeaders({ key: mcpKey, call, caller: '+1 212 555 0123' }), 'modern');
  clients.push(client);
  return client;
}

beforeAll(async () => {
  google = await new FakeGoogle(systemClock, credentials).start();
  google.connections.put('people/c1', person('Jane Doe', [['(212) 555-0100', 'work']], 'Doe Plumbing'));
  google.connections.put('people/c2', person('Bob Stone', [['646-555-0142', 'mobile']]));
  server = await startTestServer({
    personas: manifests(google.url, google.tokenUrl),
    // The fake Google listens on loopback, which the outbound guard refuses unless allowed.
    settings: { outboundAllow: ['127.0.0.1'] },
    env: { ...secretEnv('ACME_GOOGLE', credentials), GLOBEX_TWILIO_TOKEN: TWILIO_TOKEN },
  });
  adminKey = await server.key('acme', 'admin');
  mcpKey = await server.key('acme');
  globexAdmin = await server.key('globex', 'admin');
  const client = await mcpClient('oa-lead');
  const lead = await client.callTool({ name: 'create_lead', arguments: { name: 'Jane Doe', intent: 'Leaking pipe' } });
  expect(lead.isError, textOf(lead)).toBeFalsy();
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await server?.close();
  await google?.close();
});

describe('openapi/admin.yaml', () => {
  it('is OpenAPI 3.1 of this version, well-formed, and every $ref in it resolves', () => {
    expect(document.openapi).toMatch(/^3\.1\./);
    expect(document.info.version).toBe(VERSION);
    const refs: string[] = [];
    const walk = (value: unknown, where = ''): void => {
      if (Array.isArray(value)) value.forEach((item, index) => walk(item, `${where}/${index}`));
      else if (value && typeof value === 'object') {
        for (const [key, inner] of Object.entries(value)) {
          // An unquoted comma in a YAML flow mapping splits a text into keys without values.
          expect(inner, `${where}/${key}`).not.toBeNull();
          if (key === 'description') expect(typeof inner, `${where}/${key}`).toBe('string');
          if (key === '$ref' && typeof inner === 'string') refs.push(inner);
          else walk(inner, `${where}/${key}`);
        }
      }
    };
    walk(document);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      const target = ref.replace(/^#\//, '').split('/').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], document);
      expect(target, ref).toBeDefined();
    }
  });

  it('names, for every operation, a section of the guides that exists', () => {
    const slug = (heading: string): string =>
      heading
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-');
    for (const { method, route, operation } of operations) {
      const guide = operation['x-guide'];
      expect(guide, `${method.toUpperCase()} ${route} has x-guide`).toMatch(/^docs\/[a-z-]+\.md#[\w-]+$/);
      const [file, anchor] = guide!.split('#') as [string, string];
      const headings = fs
        .readFileSync(path.join(REPO_ROOT, file), 'utf8')
        .split('\n')
        .filter((line) => /^#{1,6} /.test(line))
        .map((line) => slug(line.replace(/^#+ /, '')));
      expect(headings, `${guide} (for ${method.toUpperCase()} ${route})`).toContain(anchor);
    }
  });

  it('documents every route the server has, and the server has every route it documents', async () => {
    const routes = await routesOf(server.url);
    // MCP is described by the MCP specification, not here; its routes prove the walk sees app-level routes.
    expect(routes).toContainEqual({ method: 'post', path: MCP_PATH });
    // The MCP endpoints (Streamable HTTP and legacy SSE, with or without the call context in the path) are not part of the admin API.
    const real = routes.filter((route) => !isMcpPath(route.path)).map((route) => `${route.method.toUpperCase()} ${route.path}`);
    expect(real).toContain(`GET ${AUDIT}`);
    const documented = operations.map(({ method, route }) => `${method.toUpperCase()} ${route}`);
    expect([...new Set(real)].sort()).toEqual([...documented].sort());
  });
});

describe('answers of the running server match the document', () => {
  it('operations: health, readiness, metrics and the document itself', async () => {
    expect((await ask('get', '/healthz', 200, { key: null })).body).toMatchObject({ status: 'ok', version: VERSION });
    const ready = (await ask('get', '/readyz', 200, { key: null })).body;
    // The test server listens on loopback, so the detail is included (and validated).
    expect(ready).toMatchObject({ status: 'ready', problems: [], files: { 'acme/account.yaml': { kind: 'account', valid: true } } });
    expect((await ask('get', '/metrics', 200, { key: null })).body).toContain('switchboard_');
    const yaml = await ask('get', '/ucp/v2/openapi.yaml', 200, { key: null });
    expect(YAML.parse(yaml.body as string)).toEqual(document);
    expect((await ask('get', '/ucp/v2/openapi.json', 200, { key: null })).body).toEqual(document);
    const foreign = await ask('get', '/ucp/v2/openapi.json', 403, { key: null, headers: { Origin: 'https://evil.example' } });
    expect(foreign.body.error.code).toBe('ORIGIN_NOT_ALLOWED');
  });

  it('users and Do-Not-Disturb', async () => {
    expect((await ask('get', USERS, 200)).body.users.map((user: Json) => user.user_id)).toEqual(['u-100', 'u-101']);
    const until = new Date(Date.now() + 3_600_000).toISOString();
    const set = await ask('put', DND, 200, { params: { user: 'u-100' }, body: { reason: 'In a meeting', until } });
    expect(set.body).toMatchObject({ user_id: 'u-100', available: false, dnd: { enabled: true, reason: 'In a meeting' } });
    expect(Math.abs(Date.parse(set.body.dnd.until) - Date.parse(until))).toBeLessThan(1000);
    expect((await ask('get', DND, 200, { params: { user: 'u-100' } })).body.dnd.enabled).toBe(true);
    expect((await ask('delete', DND, 200, { params: { user: 'u-100' } })).body).toMatchObject({ available: true, dnd: { enabled: false } });

    expect((await ask('get', DND, 404, { params: { user: 'u-999' } })).body.error).toMatchObject({ code: 'NOT_FOUND', details: { user_id: 'u-999' } });
    expect((await ask('put', DND, 400, { params: { user: 'u-100' }, body: { until: '2020-01-01T00:00:00Z' } })).body.error.message).toMatch(/^until: /);
    expect((await ask('get', USERS, 401, { key: null })).body.error.code).toBe('AUTH_KEY_MISSING');
    expect((await ask('get', USERS, 403, { key: globexAdmin })).body.error.code).toBe('AUTH_WRONG_ACCOUNT');
    expect((await ask('get', USERS, 403, { key: mcpKey })).body.error.code).toBe('AUTH_ROLE');
  });

  it('leads, as JSON and as CSV', async () => {
    const page = await ask('get', LEADS, 200, { query: 'limit=1' });
    expect(page.body.leads).toHaveLength(1);
    expect(page.body.leads[0]).toMatchObject({ phone_number: '+12125550123', cases: [{ call_id: 'oa-lead', intent: 'Leaking pipe' }] });
    const csv = await ask('get', LEADS, 200, { query: 'format=csv' });
    const example = document.paths[LEADS]!.get!.responses['200']!.content!['text/csv']!.example as string;
    const [header, row] = (csv.body as string).split('\r\n');
    expect(header).toBe(example.split('\n')[0]);
    expect(row).toContain(page.body.leads[0].id);
    expect(csv.headers.get('content-disposition')).toBe('attachment; filename="leads-acme.csv"');

    expect((await ask('get', LEADS, 400, { query: 'format=xml' })).body.error.message).toContain('format');
    expect((await ask('get', LEADS, 400, { query: 'limt=5' })).body.error.message).toContain('limt');
  });

  it('contacts', async () => {
    const input = { name: 'Ada Lovelace', company: 'Analytical Engines', phone_numbers: ['(212) 555-0111', { number: '+1 917 555 0111', label: 'mobile' }], source_id: 'crm-1' };
    const created = await ask('post', CONTACTS, 201, { body: input });
    const id = created.body.id as string;
    expect((await ask('post', CONTACTS, 200, { body: { ...input, name: 'Ada King' } })).body).toMatchObject({ id, name: 'Ada King' });
    await waitForState(server, adminKey, 'acme', 'acme-google', 'ok');
    expect((await ask('get', CONTACTS, 200, { query: 'limit=1' })).body.next_cursor).not.toBeNull();
    expect((await ask('get', CONTACTS, 200, { query: 'phone=%2B12125550111' })).body).toMatchObject({ phone_number: '+12125550111', contacts: [{ id }], next_cursor: null });
    expect((await ask('get', CONTACT, 200, { params: { id } })).body.source).toBe('native');
    expect((await ask('put', CONTACT, 200, { params: { id }, body: { name: 'Ada Lovelace', phone_numbers: ['212 555 0112'] } })).body.company).toBeNull();
    expect((await ask('patch', CONTACT, 200, { params: { id }, body: { company: 'Analytical Engines' } })).body.company).toBe('Analytical Engines');
    await ask('delete', CONTACT, 204, { params: { id } });

    const gone = await ask('get', CONTACT, 404, { params: { id } });
    // Another account's contact is answered exactly like one that does not exist.
    const globexContact = await fetch(new URL('/ucp/v2/accounts/globex/contacts', server.url), {
      method: 'POST',
      headers: { 'X-API-Key': globexAdmin, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'Olivia Patel', phone_numbers: ['020 7946 0000'] }),
    });
    const foreignId = ((await globexContact.json()) as { id: string }).id;
    const foreign = await ask('get', CONTACT, 404, { params: { id: foreignId } });
    expect(foreign.body.error.message).toBe(gone.body.error.message.replace(id, foreignId));
    const [synced] = (await ask('get', CONTACTS, 200, { query: 'source=acme-google&limit=1' })).body.contacts as { id: string }[];
    expect((await ask('patch', CONTACT, 409, { params: { id: synced!.id }, body: { company: 'Elsewhere' } })).body.error.code).toBe('CONFLICT');
    expect((await ask('post', CONTACTS, 400, { body: { name: 'No Numbers' } })).body.error.message).toContain('phone_numbers');
  });

  it('contact sources, with a sync that succeeds and one that fails', async () => {
    await waitForState(server, adminKey, 'acme', 'acme-google', 'ok');
    const list = await ask('get', SOURCES, 200);
    expect(list.body.sources.map((source: Json) => [source.name, source.state])).toEqual([
      ['acme-google', 'ok'],
      ['acme-unset', 'failing'],
    ]);
    const finished = await ask('post', SYNC, 200, { params: { name: 'acme-google' }, body: { full: true, wait: true } });
    expect(finished.body.outcome).toMatchObject({ ok: true, mode: 'full', contacts: 2 });
    const failed = await ask('post', SYNC, 200, { params: { name: 'acme-unset' }, body: { wait: true } });
    expect(failed.body.outcome).toMatchObject({ ok: false, kind: 'config' });
    expect((await ask('post', SYNC, 202, { params: { name: 'acme-google' } })).body.source.name).toBe('acme-google');
    await waitForState(server, adminKey, 'acme', 'acme-google', 'ok');

    expect((await ask('post', SYNC, 404, { params: { name: 'nope' } })).body.error.message).toContain('acme-google');
    expect((await ask('post', SYNC, 400, { params: { name: 'acme-google' }, body: { full: 'yes' } })).body.error.message).toContain('full');
  });

  it('calls, the call-events stream and acknowledgements', async () => {
    const client = await mcpClient('oa-transfer');
    // The stream is open before the transfer is asked for: with no phone system connected it would fail at once.
    let transfer: ReturnType<typeof client.callTool> | undefined;
    const event = await firstCommand(() => (transfer = client.callTool({ name: 'transfer_call', arguments: { destination_number: '101' } })));
    expect(event.data).toMatchObject({ type: 'transfer', call_id: 'oa-transfer', destination: '101', destination_type: 'extension' });
    expect((await ask('post', ACK, 200, { params: { id: event.id }, body: { success: true } })).body).toMatchObject({ already_acknowledged: false, call: { state: 'transferred' } });
    expect((await ask('post', ACK, 200, { params: { id: event.id }, body: { success: true } })).body.already_acknowledged).toBe(true);
    expect((await ask('post', ACK, 409, { params: { id: event.id }, body: { success: false, reason: 'busy' } })).body.error.code).toBe('CONFLICT');
    expect((await transfer)?.isError).toBeFalsy();
    const detail = await ask('get', CALL, 200, { params: { call_id: 'oa-transfer' } });
    expect(detail.body.commands).toMatchObject([{ id: Number(event.id), status: 'succeeded' }]);
    expect(detail.body.events.map((item: Json) => item.type)).toEqual(['call_started', 'command_queued', 'command_succeeded']);

    expect((await ask('post', CALLS, 201, { body: { call_id: 'oa-pbx', persona_id: 'front-desk', caller_id_number: '(646) 555-0123' } })).body.call.caller_id_number).toBe('+16465550123');
    await ask('post', CALLS, 200, { body: { call_id: 'oa-pbx' } });
    const page = await ask('get', CALLS, 200, { query: 'limit=1' });
    expect(page.body.calls.map((call: Json) => call.call_id)).toHaveLength(1);
    expect(page.body.next_cursor).not.toBeNull();
    expect((await ask('delete', CALL, 200, { params: { call_id: 'oa-pbx' }, body: { reason: 'caller hung up' } })).body).toMatchObject({ call: { state: 'ended', end_reason: 'caller hung up' }, sessions_closed: 0 });

    expect((await ask('post', CALLS, 409, { body: { call_id: 'oa-pbx' } })).body.error.code).toBe('CONFLICT');
    expect((await ask('post', CALLS, 400, { body: {} })).body.error.message).toContain('call_id');
    expect((await ask('get', CALL, 404, { params: { call_id: 'oa-nobody' } })).body.error.code).toBe('NOT_FOUND');
    expect((await ask('post', ACK, 404, { params: { id: '999999' }, body: { success: true } })).body.error.code).toBe('NOT_FOUND');
    expect((await ask('get', EVENTS, 400, { headers: { 'Last-Event-ID': 'latest' } })).body.error.message).toContain('Last-Event-ID');
  });

  it('signed callbacks of phone systems', async () => {
    const callback = async (account: string, driver: string, rest: string, params: Record<string, string>, sign = true): Promise<unknown> => {
      const url = new URL(`/ucp/v2/pbx/${account}/${driver}/${rest}`, server.url).toString();
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...(sign ? { 'X-Twilio-Signature': signTwilioRequest(TWILIO_TOKEN, url, params) } : {}) },
        body: new URLSearchParams(params).toString(),
      });
      return matchDocument('post', PBX_CALLBACK, response.status, response.headers.get('content-type') ?? '', await response.text());
    };
    // A call status Twilio signed, about a call this node does not know: taken, nothing to answer.
    const status = { CallSid: 'CA00000000000000000000000000000001', CallStatus: 'completed' };
    expect(await callback('globex', 'twilio', 'status', status)).toBeUndefined();
    expect(await callback('globex', 'twilio', 'status', status, false)).toBe('invalid signature');
    // An account whose driver takes no callbacks, or a driver it does not have.
    expect(((await callback('acme', 'events', 'status', status)) as Json).error.code).toBe('NOT_FOUND');
    expect(((await callback('globex', 'telnyx', 'events', status)) as Json).error.code).toBe('NOT_FOUND');
  });

  it('the audit trail', async () => {
    await auditRows(server, adminKey, {}, 2);
    const page = await ask('get', AUDIT, 200, { query: 'limit=1' });
    expect(page.body.entries[0]).toMatchObject({ account_id: 'acme', persona_id: 'front-desk' });
    expect(page.body.next_cursor).not.toBeNull();
    expect((await ask('get', AUDIT, 400, { query: 'since=soon' })).body.error.message).toContain('since');
    expect((await ask('get', AUDIT, 403, { key: globexAdmin })).body.error.code).toBe('AUTH_WRONG_ACCOUNT');
  });

  it("the console's page and what it reads", async () => {
    expect((await ask('get', CONSOLE, 200, { key: null })).body).toContain('<script type="module" src="/ucp/v2/console/console.js">');
    expect((await ask('get', CONSOLE_ASSET, 200, { key: null, params: { asset: 'console.css' } })).body).toContain(':root');
    expect((await ask('get', CONSOLE_ASSET, 404, { key: null, params: { asset: 'nope.js' } })).body.error.code).toBe('NOT_FOUND');

    const view = await ask('get', MANIFESTS, 200);
    expect(view.body).toMatchObject({ account_id: 'acme', problems: [], personas: [{ persona_id: 'front-desk' }] });
    expect((await ask('get', MANIFESTS, 403, { key: globexAdmin })).body.error.code).toBe('AUTH_WRONG_ACCOUNT');
    expect((await ask('get', PHONE_SYSTEM, 200)).body).toMatchObject({ account_id: 'acme', driver: 'events' });
    expect((await ask('get', TOOLS, 200, { params: { persona: 'front-desk' } })).body.tool_types.transfer_call).toBe('global');
    expect((await ask('get', TOOLS, 404, { params: { persona: 'nobody' } })).body.error.code).toBe('UNKNOWN_PERSONA');

    const tried = await ask('post', TRY, 200, { params: { persona: 'front-desk', tool: 'transfer_call' }, body: { arguments: { destination_number: '101' }, call_id: 'oa-try' } });
    expect(tried.body).toMatchObject({ kind: 'tool', call: 'simulated', simulated_call: { call: { call_id: 'oa-try', state: 'transferred' } } });
    expect((await ask('post', TRY, 400, { params: { persona: 'front-desk', tool: 'transfer_call' }, body: { call: 'sideways' } })).body.error.details).toEqual({ field: 'call' });
    expect((await ask('post', TRY, 404, { params: { persona: 'front-desk', tool: 'nope' }, body: {} })).body.error.code).toBe('NOT_FOUND');

    // The change stream: its headers, and a notice after a tool call, checked against the document.
    const controller = new AbortController();
    const response = await fetch(new URL(concrete(CHANGES, { account: 'acme' }), server.url), { headers: { 'X-API-Key': adminKey }, signal: controller.signal });
    expect(response.status).toBe(200);
    matchDocument('get', CHANGES, response.status, response.headers.get('content-type') ?? '', '');
    expect(response.headers.get('x-accel-buffering')).toBe('no');
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    let asked = false;
    while (!text.includes('event: changed')) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended: ${text}`);
      text += value;
      if (!asked && text.includes(': connected')) {
        asked = true;
        await (await mcpClient('oa-changes')).callTool({ name: 'is_office_open', arguments: {} });
      }
    }
    controller.abort();
    expect(text.startsWith('retry: 2000\n: connected\n\n')).toBe(true);
    const data: unknown = JSON.parse(/event: changed\ndata: (.+)\n/.exec(text)![1]!);
    const validate = validatorAt(pointer('paths', CHANGES, 'get', 'responses', '200', 'content', 'text/event-stream', 'x-sse-events', 'changed', 'data'));
    expect(validate(data), ajv.errorsText(validate.errors)).toBe(true);
  });

  it('covered every documented operation with a success, and every family with an error', () => {
    for (const { method, route } of operations) {
      expect(
        exercised.some((item) => item.method === method && item.route === route && item.status < 300),
        `${method.toUpperCase()} ${route} answered with success`,
      ).toBe(true);
    }
    const tagOf = (method: string, route: string): string => document.paths[route]![method]!.tags![0]!;
    for (const tag of new Set(operations.map(({ operation }) => operation.tags![0]!))) {
      expect(
        exercised.some((item) => tagOf(item.method, item.route) === tag && item.status >= 400),
        `${tag}: an error answer`,
      ).toBe(true);
    }
  });
});

/**
 * Opens the call-events stream like a PBX, runs `onceOpen` when the stream
 * says it is connected, and reads the first command; the stream and the event
 * must match the document.
 */
async function firstCommand(onceOpen: () => void): Promise<{ id: string; data: Json }> {
  const controller = new AbortController();
  const response = await fetch(new URL(concrete(EVENTS, { account: 'acme' }), server.url), { headers: { 'X-API-Key': adminKey, Accept: 'text/event-stream' }, signal: controller.signal });
  expect(response.status).toBe(200);
  matchDocument('get', EVENTS, response.status, response.headers.get('content-type') ?? '', '');
  expect(response.headers.get('x-accel-buffering')).toBe('no');
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  let block: string | undefined;
  while (!block) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the stream ended before a command: ${text}`);
    const connected = !text.includes(': connected') && (text + value).includes(': connected');
    text += value;
    if (connected) onceOpen();
    block = text.split('\n\n').find((candidate) => candidate.includes('event: command'));
  }
  controller.abort();
  expect(text.startsWith('retry: 2000\n: connected\n\n')).toBe(true);
  const fields = Object.fromEntries(block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]));
  const data: unknown = JSON.parse(fields.data as string);
  const validate = validatorAt(`${pointer('paths', EVENTS, 'get', 'responses', '200', 'content', 'text/event-stream', 'x-sse-events', 'command', 'data')}`);
  expect(validate(data), ajv.errorsText(validate.errors)).toBe(true);
  expect(fields.id).toBe(String((data as { id: number }).id));
  return { id: fields.id as string, data };
}
