import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AuditRetentionJob } from '../engine/audit/retention.ts';
import { FixedClock } from '../engine/clock.ts';
import { openDatabase } from '../engine/store/database.ts';
import { sql } from '../engine/store/sql.ts';
import { adminGet, auditPage, auditRows, type AuditItem, type ErrorBody } from './helpers/admin.ts';
import { callHeaders, connect, eventually, startTestServer, tempDir, textOf, type TestServer } from './helpers/server.ts';
import { basicManifests, sensitiveToolKinds } from './helpers/test-tools.ts';

const T0 = Date.parse('2026-03-02T10:00:00.000Z');
const PBX_SECRET = 'pbx-s3cret-4711';
const manifests = {
  ...basicManifests,
  'acme/account.yaml': [
    'account_id: acme',
    'timezone: America/New_York',
    'default_country: US',
    'call_control:',
    '  driver: webhook',
    '  url: https://pbx.acme.example/switchboard',
    '  secret: ACME_PBX_SECRET',
    '',
  ].join('\n'),
};

const texts = (items: AuditItem[]) => items.map((item) => item.arguments.text);

const clock = new FixedClock(T0);
let server: TestServer;
let mcpKey: string;
let mcpKeyId: string;
let admin: string;

beforeAll(async () => {
  server = await startTestServer({ personas: manifests, toolKinds: sensitiveToolKinds, clock, env: { ACME_PBX_SECRET: PBX_SECRET } });
  const created = await server.running.keys.create({ accountId: 'acme', role: 'mcp' });
  mcpKey = created.key;
  mcpKeyId = created.record.id;
  admin = await server.key('acme', 'admin');
});
afterAll(async () => server.close());

describe('audit rows', () => {
  it('records successful, failed and invalid calls of both protocol eras with the text the model got', async () => {
    clock.set(T0);
    const legacy = await connect(server, callHeaders({ key: mcpKey, call: 'rec-1', persona: 'front-desk' }), 'legacy');
    await legacy.callTool({ name: 'echo', arguments: { text: 'hello' } });
    clock.advance(1000);
    const refused = await legacy.callTool({ name: 'echo', arguments: { text: 'no', fail: true } });
    expect(refused.isError).toBe(true);
    await legacy.close();
    clock.advance(1000);
    const modern = await connect(server, callHeaders({ key: mcpKey, call: 'rec-1', persona: 'sales' }), 'modern');
    const invalid = await modern.callTool({ name: 'echo', arguments: { text: true } });
    await modern.close();

    const rows = await auditRows(server, admin, { call: 'rec-1' }, 3);
    expect(rows.map((row) => [row.started_at, row.persona_id, row.tool, row.status, row.error_code])).toEqual([
      ['2026-03-02T10:00:02.000Z', 'sales', 'echo', 'invalid_arguments', 'TOOL_ARGUMENTS'],
      ['2026-03-02T10:00:01.000Z', 'front-desk', 'echo', 'error', 'TOOL_REFUSED'],
      ['2026-03-02T10:00:00.000Z', 'front-desk', 'echo', 'ok', null],
    ]);
    const [invalidRow, refusedRow, okRow] = rows as [AuditItem, AuditItem, AuditItem];
    expect(okRow).toMatchObject({ account_id: 'acme', call_id: 'rec-1', key_id: mcpKeyId, arguments: { text: 'hello' }, text: 'echo: hello' });
    expect(refusedRow).toMatchObject({ arguments: { text: 'no', fail: true }, text: textOf(refused) });
    expect(invalidRow).toMatchObject({ arguments: { text: true }, text: textOf(invalid) });
    for (const row of rows) expect(row.duration_ms).toBeGreaterThanOrEqual(0);
  });

  it('masks sensitive arguments and the values of secrets the manifests name, in the stored rows and in what the model gets', async () => {
    const client = await connect(server, callHeaders({ key: mcpKey, call: 'mask-1' }), 'modern');
    await client.callTool({ name: 'echo_pin', arguments: { text: 'check', pin: '987654' } });
    // A tool that echoes a secret (here the call-control secret, which no tool uses) still never shows it.
    const leaked = await client.callTool({ name: 'echo', arguments: { text: `token ${PBX_SECRET} here` } });
    expect(textOf(leaked)).toBe('echo: token *** here');
    expect(JSON.stringify(leaked)).not.toContain(PBX_SECRET);
    await client.close();

    const rows = await auditRows(server, admin, { call: 'mask-1' }, 2);
    expect(rows.map((row) => ({ tool: row.tool, arguments: row.arguments, text: row.text }))).toEqual([
      { tool: 'echo', arguments: { text: 'token *** here' }, text: 'echo: token *** here' },
      { tool: 'echo_pin', arguments: { text: 'check', pin: '[redacted]' }, text: 'echo: check' },
    ]);
    const stored = await server.running.services.store.all<{ data: string }>(sql`SELECT arguments || result_text AS data FROM audit_log WHERE call_id = 'mask-1'`);
    expect(stored).toHaveLength(2);
    for (const { data } of stored) {
      expect(data).not.toContain('987654');
      expect(data).not.toContain(PBX_SECRET);
    }
  });

  it('writes the row of a call cut short by shutdown before the database closes', async () => {
    const dataDir = path.join(tempDir('audit-shutdown'), 'data');
    const own = await startTestServer({ personas: basicManifests, toolKinds: sensitiveToolKinds, settings: { dataDir, shutdownGraceSeconds: 0 } });
    const client = await connect(own, callHeaders({ key: await own.key('acme'), call: 'last-call' }), 'modern');
    const running = client.callTool({ name: 'echo', arguments: { text: 'bye', delay_ms: 2000 } }).catch(() => undefined);
    await eventually(() => (own.running.dispatcher.inFlight > 0 ? true : undefined));
    // No grace: the call is aborted and its row recorded during shutdown itself.
    await own.running.close();
    await running;
    const db = openDatabase(path.join(dataDir, 'switchboard.db'));
    try {
      expect(db.prepare("SELECT tool, status, error_code FROM audit_log WHERE call_id = 'last-call'").all()).toEqual([{ tool: 'echo', status: 'error', error_code: 'TOOL_TIMEOUT' }]);
    } finally {
      db.close();
      await own.close();
      fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
    }
  });
});

describe('GET /ucp/v2/accounts/{account}/audit', () => {
  beforeAll(async () => {
    const base = T0 + 86_400_000;
    const calls: [number, string, string, Record<string, unknown>][] = [
      [base, 'filter-a', 'echo', { text: 'one' }],
      [base + 60_000, 'filter-a', 'echo_pin', { text: 'two', pin: '1111' }],
      [base + 120_000, 'filter-b', 'echo', { text: 'three', fail: true }],
      [base + 180_000, 'filter-b', 'echo', { text: 'four' }],
    ];
    for (const [at, call, tool, args] of calls) {
      clock.set(at);
      const client = await connect(server, callHeaders({ key: mcpKey, call }), 'modern');
      await client.callTool({ name: tool, arguments: args });
      await client.close();
    }
    await auditRows(server, admin, { since: new Date(base).toISOString() }, 4);
  });

  it('filters by call, tool, status and time', async () => {
    const base = T0 + 86_400_000;
    const since = new Date(base).toISOString();
    expect(texts((await auditPage(server, admin, { since, call: 'filter-a' })).entries)).toEqual(['two', 'one']);
    expect(texts((await auditPage(server, admin, { since, tool: 'echo_pin' })).entries)).toEqual(['two']);
    expect(texts((await auditPage(server, admin, { since, status: 'error' })).entries)).toEqual(['three']);
    expect(texts((await auditPage(server, admin, { since: new Date(base + 120_000).toISOString() })).entries)).toEqual(['four', 'three']);
    expect(texts((await auditPage(server, admin, { since, until: new Date(base + 120_000).toISOString() })).entries)).toEqual(['two', 'one']);
    // Durations count back from the server's clock, which stands at the last call.
    expect(texts((await auditPage(server, admin, { since: '90s' })).entries)).toEqual(['four', 'three']);
    expect(texts((await auditPage(server, admin, { since: '1d', call: 'filter-b', tool: 'echo', status: 'ok' })).entries)).toEqual(['four']);
  });

  it('pages newest first with limit and cursor, each row once, ties in time included', async () => {
    clock.set(T0 + 2 * 86_400_000);
    const client = await connect(server, callHeaders({ key: mcpKey, call: 'paging' }), 'modern');
    for (let i = 0; i < 5; i += 1) await client.callTool({ name: 'echo', arguments: { text: `same-${i}` } });
    clock.advance(1000);
    for (let i = 0; i < 2; i += 1) await client.callTool({ name: 'echo', arguments: { text: `later-${i}` } });
    await client.close();
    const all = await auditRows(server, admin, { call: 'paging' }, 7);
    expect(texts(all)).toEqual(['later-1', 'later-0', 'same-4', 'same-3', 'same-2', 'same-1', 'same-0']);

    const pages: AuditItem[][] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof auditPage>> = await auditPage(server, admin, { call: 'paging', limit: '3', ...(cursor ? { cursor } : {}) });
      pages.push(page.entries);
      cursor = page.next_cursor;
    } while (cursor);
    expect(pages.map((page) => page.length)).toEqual([3, 3, 1]);
    expect(pages.flat().map((item) => item.id)).toEqual(all.map((item) => item.id));
  });

  it('keeps every account to its own rows', async () => {
    const globexMcp = await server.key('globex');
    const globexAdmin = await server.key('globex', 'admin');
    const client = await connect(server, callHeaders({ key: globexMcp, account: 'globex', persona: 'reception', call: 'tenant-call' }), 'modern');
    await client.callTool({ name: 'echo', arguments: { text: 'globex only' } });
    await client.close();
    const globexRows = await auditRows(server, globexAdmin, {}, 1, 'globex');
    expect(globexRows.map((row) => [row.account_id, row.call_id])).toEqual([['globex', 'tenant-call']]);
    expect((await auditPage(server, admin, { call: 'tenant-call' })).entries).toEqual([]);

    const foreign = await adminGet<ErrorBody>(server, globexAdmin, '/ucp/v2/accounts/acme/audit');
    expect(foreign).toMatchObject({ status: 403, body: { error: { code: 'AUTH_WRONG_ACCOUNT' } } });
    const notAdmin = await adminGet<ErrorBody>(server, mcpKey, '/ucp/v2/accounts/acme/audit');
    expect(notAdmin).toMatchObject({ status: 403, body: { error: { code: 'AUTH_ROLE' } } });
    const anonymous = await adminGet<ErrorBody>(server, undefined, '/ucp/v2/accounts/acme/audit');
    expect(anonymous).toMatchObject({ status: 401, body: { error: { code: 'AUTH_KEY_MISSING' } } });
  });

  it.each([
    ['since=yesterday', 'since must be an ISO 8601 time'],
    ['until=2026-13-45', 'until must be an ISO 8601 time'],
    ['limit=0', 'limit must be a whole number from 1 to 200'],
    ['limit=500', 'limit must be a whole number from 1 to 200'],
    ['status=failed', 'status must be one of ok, error, invalid_arguments'],
    ['cursor=bm9wZQ', 'cursor is not one this server handed out'],
    ['calls=abc', 'unknown query parameter calls'],
    ['tool=a&tool=b', 'query parameter tool must be given once'],
  ])('answers %s with 400 and a message that names the problem', async (query, message) => {
    const response = await adminGet<ErrorBody>(server, admin, `/ucp/v2/accounts/acme/audit?${query}`);
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('BAD_REQUEST');
    expect(response.body.error.message).toContain(message);
  });
});

describe('retention', () => {
  it('deletes rows older than the retention at start and then on its interval, keeps younger ones', async () => {
    const dataDir = path.join(tempDir('audit-retention'), 'data');
    const retentionClock = new FixedClock(T0);
    const options = { personas: basicManifests, toolKinds: sensitiveToolKinds, clock: retentionClock, settings: { dataDir, auditRetentionDays: 30 } };

    const first = await startTestServer(options);
    const key = await first.key('acme');
    const adminKey = await first.key('acme', 'admin');
    for (const [day, text] of [[0, 'old'], [2, 'young']] as const) {
      retentionClock.set(T0 + day * 86_400_000);
      const client = await connect(first, callHeaders({ key, call: `day-${day}` }), 'modern');
      await client.callTool({ name: 'echo', arguments: { text } });
      await client.close();
    }
    await auditRows(first, adminKey, {}, 2);
    await first.running.close();

    // 31 days after the first call: only that one is past 30 days.
    retentionClock.set(T0 + 31 * 86_400_000);
    const second = await startTestServer(options);
    try {
      // The sweep at start runs beside the first requests: its log line says when it is done.
      await eventually(() => (second.logLines.some((line) => line.includes('"event":"audit_retention"')) ? true : undefined));
      expect(texts((await auditPage(second, adminKey)).entries)).toEqual(['young']);
      expect(second.logLines.some((line) => line.includes('"event":"audit_retention"') && line.includes('"deleted":1'))).toBe(true);

      // The sweep repeats on its interval (daily in a server; shortened here) against the moving clock.
      const client = await connect(second, callHeaders({ key, call: 'day-31' }), 'modern');
      await client.callTool({ name: 'echo', arguments: { text: 'fresh' } });
      await client.close();
      await auditRows(second, adminKey, {}, 2);
      const { audit, log, metrics } = second.running.services;
      const job = new AuditRetentionJob(audit, retentionClock, log, metrics, { retentionDays: 30, intervalMs: 20 });
      job.start();
      retentionClock.set(T0 + 33 * 86_400_000);
      await eventually(async () => {
        const left = texts((await auditPage(second, adminKey)).entries);
        return left.length === 1 ? left : undefined;
      });
      await job.stop();
      expect(texts((await auditPage(second, adminKey)).entries)).toEqual(['fresh']);
    } finally {
      await second.close();
      await first.close();
      fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
    }
  });
});
