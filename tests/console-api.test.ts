/**
 * The console's server side, through its real interfaces: the page and its
 * files with their headers, the admin endpoints it reads (manifests with
 * their problems and git commit, the exact tools/list, the try panel against
 * a local API and a simulated phone system, the phone system's state), and
 * the read-only change stream, on one node and across two nodes sharing a
 * PostgreSQL database. The browser itself is driven in tests/console/.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { payloads, type ChangeKind } from '../engine/console/changes.ts';
import { readGitHead } from '../engine/manifests/git-head.ts';
import { auditRows } from './helpers/admin.ts';
import { engineTested } from './helpers/engines.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { callHeaders, connect, eventually, startTestServer, textOf, writeManifests, type TestServer } from './helpers/server.ts';
import { startUpstream, type Upstream } from './helpers/upstream.ts';

const TOKEN = 'shop-token-7f3a9c2e5b1d';

const manifests = (api: string): Record<string, string> => ({
  'acme/account.yaml': `
account_id: acme
name: Acme Plumbing
timezone: America/New_York
default_country: US
users:
  - { id: u-100, name: Dana Reyes, extension: "100" }
  - { id: u-101, name: Sam Ortiz, extension: "101" }
transfer_policy:
  allow: ["1XX"]
call_control:
  driver: events
  timeout_seconds: 2
`,
  'acme/front-desk.yaml': `
persona_id: front-desk
name: Front desk
global_tools:
  transfer_call:
    on_no_answer: fallback
    fallback:
      - user: u-100
tools:
  - type: api_request
    name: order_status
    description: Look up an order.
    method: GET
    url: ${api}/orders/{{order_number}}
    headers:
      Authorization: Bearer {{secret.SHOP_TOKEN}}
    variables:
      - { name: order_number, type: text, required: true, description: The order number }
      - { name: store, type: dropdown, options: [downtown, airport] }
    response:
      template: "Order {{order_number}} is {{status}}."
      pick:
        status: /status
  - type: api_request
    name: unset_secret
    description: Needs a secret nobody set.
    method: GET
    url: ${api}/unset
    headers:
      Authorization: Bearer {{secret.NOBODY_SET_THIS}}
`,
  'globex/account.yaml': 'account_id: globex\ntimezone: Europe/London\n',
  'globex/reception.yaml': 'persona_id: reception\n',
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read field by field, their shapes are checked by tests/openapi.test.ts
type Json = any;

let upstream: Upstream;
let server: TestServer;
let admin: string;
const clients: Client[] = [];

const base = (account = 'acme') => `/ucp/v2/accounts/${account}`;

async function get(path: string, key: string | null = admin): Promise<{ status: number; body: Json }> {
  const response = await fetch(new URL(path, server.url), { headers: key ? { 'X-API-Key': key } : {} });
  return { status: response.status, body: await response.json() };
}

async function tryTool(tool: string, body: Record<string, unknown>, persona = 'front-desk'): Promise<{ status: number; body: Json }> {
  const response = await fetch(new URL(`${base()}/personas/${persona}/tools/${tool}/try`, server.url), {
    method: 'POST',
    headers: { 'X-API-Key': admin, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** Reads GET /changes until closed; `kinds` collects every kind it was told of. */
async function openChanges(target: TestServer, key: string, account = 'acme'): Promise<{ kinds: string[]; text: () => string; close(): void }> {
  const controller = new AbortController();
  const response = await fetch(new URL(`${base(account)}/changes`, target.url), { headers: { 'X-API-Key': key, Accept: 'text/event-stream' }, signal: controller.signal });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const kinds: string[] = [];
  let text = '';
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text += value;
        for (const match of value.matchAll(/^data: (.+)$/gm)) kinds.push(...(JSON.parse(match[1]!) as { kinds: string[] }).kinds);
      }
    } catch {
      // closed
    }
  })();
  await eventually(() => (text.includes(': connected') ? true : undefined), 5000, 'the change stream to open');
  return { kinds, text: () => text, close: () => controller.abort() };
}

beforeAll(async () => {
  upstream = await startUpstream('127.0.0.1', (request) => ({ body: { status: request.target.includes('A-1') ? 'shipped' : 'unknown', token: request.headers.authorization } }));
  server = await startTestServer({ personas: manifests(upstream.base), settings: { outboundAllow: ['127.0.0.1'] }, env: { SHOP_TOKEN: TOKEN } });
  admin = await server.key('acme', 'admin');
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await server?.close();
  await upstream?.close();
});

describe('the page', () => {
  it('is served from the package with a strict policy, compressed, revalidated, and small', async () => {
    const page = await fetch(new URL('/ucp/v2/console', server.url), { headers: { 'Accept-Encoding': 'gzip' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const policy = page.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("style-src 'self'");
    expect(policy).toContain("form-action 'none'");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).not.toContain('unsafe');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await page.text();
    // No inline script or style, nothing from another origin.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    expect(html).not.toMatch(/https?:\/\//);

    const again = await fetch(new URL('/ucp/v2/console', server.url), { headers: { 'If-None-Match': page.headers.get('etag')! } });
    expect(again.status).toBe(304);

    // Every file the page and its modules name is served; what a first load fetches, gzip-compressed, stays under 200 KB.
    const names = new Set([...html.matchAll(/\/ucp\/v2\/console\/([\w.-]+)/g)].map((match) => match[1]!));
    const dir = path.join(import.meta.dirname, '../engine/console/ui');
    for (const file of fs.readdirSync(dir).filter((name) => name.endsWith('.js'))) {
      for (const match of fs.readFileSync(path.join(dir, file), 'utf8').matchAll(/from '\.\/([\w.-]+)'/g)) names.add(match[1]!);
    }
    // fetch decompresses: the bytes on the wire are the Content-Length of the gzip-encoded answer.
    const wireSize = (response: Response): number => {
      expect(response.headers.get('content-encoding')).toBe('gzip');
      return Number(response.headers.get('content-length'));
    };
    let gzipped = wireSize(page);
    for (const name of names) {
      const response = await fetch(new URL(`/ucp/v2/console/${name}`, server.url), { headers: { 'Accept-Encoding': 'gzip' } });
      expect(response.status, name).toBe(200);
      expect(response.headers.get('content-security-policy')).toBe(policy);
      gzipped += wireSize(response);
      expect((await response.arrayBuffer()).byteLength, name).toBeGreaterThan(0);
    }
    expect(names).toContain('view-tools.js');
    expect(gzipped).toBeLessThan(200 * 1024);

    const missing = await fetch(new URL('/ucp/v2/console/nope.js', server.url));
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });
});

describe('what the console reads', () => {
  it('refuses no key, a wrong key, a key of another account and a key that is not an admin key', async () => {
    expect((await get(`${base()}/manifests`, null)).status).toBe(401);
    expect((await get(`${base()}/manifests`, 'sb_not_a_key')).body.error.code).toBe('AUTH_KEY_INVALID');
    expect((await get(`${base()}/manifests`, await server.key('globex', 'admin'))).body.error.code).toBe('AUTH_WRONG_ACCOUNT');
    expect((await get(`${base()}/changes`, await server.key('acme', 'mcp'))).body.error.code).toBe('AUTH_ROLE');
  });

  it("shows the account's own manifests only, when they were loaded, and no commit outside a git checkout", async () => {
    const { status, body } = await get(`${base()}/manifests`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ account_id: 'acme', git: null, serving_last_good: false, problems: [], account: { name: 'Acme Plumbing', users: 2, call_control_driver: 'events' } });
    expect(Date.parse(body.loaded_at)).toBeGreaterThan(Date.now() - 60_000);
    expect(body.personas.map((persona: Json) => persona.persona_id)).toEqual(['front-desk']);
    expect(body.files.map((file: Json) => file.file)).toEqual(['acme/account.yaml', 'acme/front-desk.yaml']);
  });

  it('gives the exact tools/list a client of the persona gets', async () => {
    const client = await connect(server, callHeaders({ key: admin, call: 'console-list' }), 'modern');
    clients.push(client);
    const listed = await client.listTools();
    const { body } = await get(`${base()}/personas/front-desk/tools`);
    expect(body.tools_list.tools).toEqual(listed.tools);
    expect(body.tool_types).toMatchObject({ order_status: 'api_request', transfer_call: 'global' });
    expect((await get(`${base()}/personas/nobody/tools`)).body.error.code).toBe('UNKNOWN_PERSONA');
  });

  it("tells the phone system's state as this node sees it", async () => {
    const { body } = await get(`${base()}/phone-system`);
    expect(body).toMatchObject({ account_id: 'acme', driver: 'events', state: 'down' });
    expect(body.reason).toMatch(/stream/);
  });
});

describe('the try panel', () => {
  it('shows the request of an API tool with its secret masked, and sends it only when asked', async () => {
    const dry = await tryTool('order_status', { arguments: { order_number: 'A-1' }, dry_run: true, call_id: 'try-dry' });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ kind: 'api_request', sent: false, result: null, request: { method: 'GET', url: `${upstream.base}/orders/A-1` } });
    expect(dry.body.request.headers.Authorization).toBe('Bearer ***');
    expect(JSON.stringify(dry.body)).not.toContain(TOKEN);
    expect(upstream.requests).toHaveLength(0);

    const sent = await tryTool('order_status', { arguments: { order_number: 'A-1', store: 'airport' }, call_id: 'try-sent', caller_id_number: '(212) 555-0100' });
    expect(sent.body).toMatchObject({ sent: true, result: { is_error: false, text: 'Order A-1 is shipped.' } });
    expect(upstream.requests).toHaveLength(1);
    expect(upstream.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(JSON.stringify(sent.body)).not.toContain(TOKEN);
    // Recorded like a call's tool call, with the admin key and the test call id.
    const [row] = await auditRows(server, admin, { call: 'try-sent' }, 1);
    expect(row).toMatchObject({ tool: 'order_status', status: 'ok', arguments: { order_number: 'A-1', store: 'airport' }, text: 'Order A-1 is shipped.' });
    expect(row!.key_id).not.toBe('cli');

    const unset = await tryTool('unset_secret', { call_id: 'try-unset' });
    expect(unset.body).toMatchObject({ sent: false, missing_secrets: ['NOBODY_SET_THIS'], result: { is_error: true, error_code: 'SECRET_MISSING' } });
    expect(upstream.requests).toHaveLength(1);

    const invalid = await tryTool('order_status', { arguments: { order_number: 'A-1', store: 'moon' } });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.message).toContain('store');
    expect((await tryTool('order_status', { arguments: {}, call: 'sideways' })).body.error.details).toEqual({ field: 'call' });
    expect((await tryTool('no_such_tool', {})).body.error.code).toBe('NOT_FOUND');
  });

  it('runs call control against a simulated call: its outcome, its fallbacks, and nothing among the real calls', async () => {
    const busy = await tryTool('transfer_call', { arguments: { destination_number: '101' }, call_id: 'try-sim', simulated_outcome: 'busy' });
    expect(busy.status).toBe(200);
    expect(busy.body).toMatchObject({ kind: 'tool', call: 'simulated', result: { is_error: true, structured_content: { error: { outcome: 'busy' } } } });
    expect(busy.body.result.text).toContain('is busy');
    // busy at 101, then the manifest's fallback (Dana, 100), which the simulated phone system also finds busy.
    const dialed = busy.body.simulated_call.commands.map((command: Json) => [command.destination, command.outcome]);
    expect(dialed).toEqual([
      ['101', 'busy'],
      ['100', 'busy'],
    ]);
    expect(busy.body.simulated_call.call.state).toBe('active');
    const connected = await tryTool('transfer_call', { arguments: { destination_number: '101' }, call_id: 'try-sim' });
    expect(connected.body.simulated_call.call).toMatchObject({ state: 'transferred', transferred_to: '101' });
    const again = await tryTool('hangup_call', { call_id: 'try-sim' });
    expect(again.body.result).toMatchObject({ is_error: true, error_code: 'CALL_ENDED' });

    expect((await get(`${base()}/calls/try-sim`)).status).toBe(404);
    // The real call goes to the account's phone system: no PBX holds the events stream, so it fails at once.
    const real = await tryTool('transfer_call', { arguments: { destination_number: '101' }, call_id: 'try-real', call: 'real' });
    expect(real.body).toMatchObject({ call: 'real', simulated_call: null, result: { is_error: true } });
    expect(real.body.result.text).toMatch(/not connected|could not/i);
    expect((await get(`${base()}/calls/try-real`)).body.commands).toHaveLength(1);
    expect((await tryTool('transfer_call', { arguments: { destination_number: '101' }, dry_run: true })).body.error.details).toEqual({ field: 'dry_run' });
  });
});

describe('the change stream', () => {
  it('tells of tool calls, DND changes and reloads, and never carries a command', async () => {
    const changes = await openChanges(server, admin);
    const client = await connect(server, callHeaders({ key: await server.key('acme'), call: 'console-live' }), 'modern');
    clients.push(client);
    expect(textOf(await client.callTool({ name: 'create_lead', arguments: { name: 'Jane Doe', intent: 'Leaking pipe' } }))).toContain('Jane Doe');
    await eventually(() => (['audit', 'calls', 'leads'].every((kind) => changes.kinds.includes(kind)) ? true : undefined), 5000, 'audit, calls and leads');

    const dnd = await fetch(new URL(`${base()}/users/u-100/dnd`, server.url), { method: 'PUT', headers: { 'X-API-Key': admin, 'Content-Type': 'application/json' }, body: '{}' });
    expect(dnd.status).toBe(200);
    await eventually(() => (changes.kinds.includes('users') ? true : undefined), 5000, 'users');

    // A call the PBX registers through the admin API.
    changes.kinds.length = 0;
    const registered = await fetch(new URL(`${base()}/calls`, server.url), { method: 'POST', headers: { 'X-API-Key': admin, 'Content-Type': 'application/json' }, body: JSON.stringify({ call_id: 'pbx-1' }) });
    expect(registered.status).toBe(201);
    await eventually(() => (changes.kinds.includes('calls') ? true : undefined), 5000, 'calls');
    expect(changes.kinds).not.toContain('audit');

    writeManifests(server.personasDir, { 'acme/front-desk.yaml': 'persona_id: front-desk\nhangup_delay_seconds: lots\n' });
    await eventually(() => (changes.kinds.includes('manifests') ? true : undefined), 5000, 'manifests');
    const broken = (await get(`${base()}/manifests`)).body;
    expect(broken.serving_last_good).toBe(true);
    expect(broken.problems[0]).toMatchObject({ file: 'acme/front-desk.yaml', line: 2 });
    expect(broken.problems[0].text).toMatch(/^acme\/front-desk\.yaml:2:\d+: /);
    expect(broken.files.find((file: Json) => file.file === 'acme/front-desk.yaml')).toMatchObject({ valid: false, serving_last_good: true });
    // Another account's problem is not this account's business.
    writeManifests(server.personasDir, { 'globex/reception.yaml': 'persona_id: [\n' });
    await eventually(async () => ((await get(`${base('globex')}/manifests`, await server.key('globex', 'admin'))).body.problems.length ? true : undefined), 5000, "globex's problem");
    expect((await get(`${base()}/manifests`)).body.problems.map((problem: Json) => problem.file)).toEqual(['acme/front-desk.yaml']);

    expect(changes.text()).not.toContain('event: command');
    changes.close();
  });

  it('shows the git commit the manifests were checked out at', async () => {
    const git = (...args: string[]) => execFileSync('git', ['-C', server.personasDir, ...args], { encoding: 'utf8' }).trim();
    git('init', '-q', '-b', 'live');
    git('-c', 'user.email=ops@example.com', '-c', 'user.name=ops', 'commit', '-q', '--allow-empty', '-m', 'manifests');
    const commit = git('rev-parse', 'HEAD');
    writeManifests(server.personasDir, { 'acme/front-desk.yaml': 'persona_id: front-desk\n' });
    await eventually(async () => ((await get(`${base()}/manifests`)).body.git?.commit === commit ? true : undefined), 5000, 'the commit');
    expect((await get(`${base()}/manifests`)).body.git).toEqual({ commit, branch: 'live' });

    // Read from git's files as git keeps them: a packed ref, a detached HEAD, a worktree's .git file.
    git('pack-refs', '--all');
    expect(fs.existsSync(path.join(server.personasDir, '.git/refs/heads/live'))).toBe(false);
    expect(await readGitHead(path.join(server.personasDir, 'acme'))).toEqual({ commit, branch: 'live' });
    git('checkout', '-q', '--detach');
    expect(await readGitHead(server.personasDir)).toEqual({ commit, branch: null });
    const worktree = path.join(server.dataDir, 'worktree');
    git('-c', 'user.email=ops@example.com', '-c', 'user.name=ops', 'worktree', 'add', '-q', '-b', 'staging', worktree);
    expect(fs.statSync(path.join(worktree, '.git')).isFile()).toBe(true);
    expect(await readGitHead(worktree)).toEqual({ commit, branch: 'staging' });
    expect(await readGitHead(server.dataDir)).toBeNull();
  });
});

describe('notices between nodes', () => {
  it("fit PostgreSQL's payload limit however many accounts changed at once, and lose none", () => {
    const notices = Array.from({ length: 400 }, (_, index) => ({ account: `account-${index}-${'x'.repeat(40)}`, kinds: ['audit', 'calls', 'leads'] as ChangeKind[] }));
    const sent = payloads(notices);
    expect(sent.length).toBeGreaterThan(1);
    for (const payload of sent) expect(Buffer.byteLength(payload)).toBeLessThan(8000);
    expect(sent.flatMap((payload) => (JSON.parse(payload) as { changes: unknown[] }).changes)).toEqual(notices);
  });
});

describe.runIf(engineTested('postgres'))('several nodes on one PostgreSQL database', () => {
  it("a console on one node hears of the other node's tool calls and DND changes", async () => {
    const database = await freshDatabase();
    const personas = { 'acme/account.yaml': 'account_id: acme\ntimezone: UTC\nusers:\n  - { id: u-1, name: Ann Lee, extension: "101" }\n', 'acme/desk.yaml': 'persona_id: desk\n' };
    const a = await startTestServer({ personas, settings: { databaseUrl: database.url } });
    const b = await startTestServer({ personas, settings: { databaseUrl: database.url } });
    try {
      const onB = await openChanges(b, await b.key('acme', 'admin'));
      const client = await connect(a, callHeaders({ key: await a.key('acme'), persona: 'desk', call: 'node-a-call' }), 'modern');
      await client.callTool({ name: 'is_office_open', arguments: {} });
      await client.close();
      await eventually(() => (onB.kinds.includes('audit') ? true : undefined), 10_000, 'the tool call of node A on node B');
      const set = await fetch(new URL('/ucp/v2/accounts/acme/users/u-1/dnd', a.url), { method: 'PUT', headers: { 'X-API-Key': await a.key('acme', 'admin'), 'Content-Type': 'application/json' }, body: '{}' });
      expect(set.status).toBe(200);
      await eventually(() => (onB.kinds.includes('users') ? true : undefined), 10_000, 'the DND set on node A, on node B');
      onB.close();
    } finally {
      await a.close();
      await b.close();
      await database.drop();
    }
  });
});
