/**
 * Microsoft contact sources end to end: a real server syncs Outlook contacts
 * from a fake Microsoft Graph (tests/helpers/fake-graph.ts) with the delta
 * query, and lookup_contact finds them over MCP.
 */
import fs from 'node:fs';
import path from 'node:path';

import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FixedClock } from '../engine/clock.ts';
import { accountYaml, lookup, secretEnv, statusOf, syncNow, waitForState } from './helpers/contact-sources.ts';
import { FakeGraph, graphContact } from './helpers/fake-graph.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

const clock = new FixedClock(Date.parse('2026-03-02T09:00:00Z'));
const credentials = { clientId: '3f1c9a2e-ms-client-id', clientSecret: 'ms~client~secret~value', refreshToken: '0.AXEA-ms-refresh-token' };

let graph: FakeGraph;
let shared: FakeGraph;
let server: TestServer;
let key: string;
let adminKey: string;

const deltaRequests = (fake: FakeGraph) => fake.apiRequests(/\/contacts\/delta$/);
const find = (number: string) => lookup(server, key, 'globex', 'reception', number);

beforeAll(async () => {
  graph = await new FakeGraph(clock, credentials).start();
  shared = await new FakeGraph(clock, credentials).start();
  graph.contacts.put('AAMkADc1', graphContact('Olivia Patel', { mobile: '07700 900123', business: ['020 7946 0000'] }, 'Patel Pharmacy'));
  graph.contacts.put('AAMkADc2', graphContact('Sam Carter', { home: ['+1 646 555 0142'] }));
  graph.contacts.put('AAMkADc3', { givenName: 'Nina', surname: 'Brooks', businessPhones: ['0161 496 0000'], homePhones: [], mobilePhone: null });
  graph.contacts.put('AAMkADc4', graphContact('No Number', {}));
  graph.contacts.put('AAMkADc5', graphContact('Tom Reid', { business: ['0113 496 0001'] }));
  shared.contacts.put('AAMkADs1', graphContact('Referrer Clinic', { business: ['0121 496 0002'] }));

  server = await startTestServer({
    // The fake Google and Microsoft servers listen on loopback, which the outbound guard refuses unless allowed.
    settings: { outboundAllow: ['127.0.0.1'] },
    clock,
    personas: {
      'globex/account.yaml': accountYaml('globex', 'GB', [
        { type: 'microsoft', name: 'globex-outlook', secrets: 'GLOBEX_MS', apiBaseUrl: graph.url, tokenUrl: graph.tokenUrl('globex.example'), extra: { tenant: 'globex.example' } },
        {
          type: 'microsoft',
          name: 'referrers',
          secrets: 'GLOBEX_MS',
          apiBaseUrl: shared.url,
          tokenUrl: shared.tokenUrl('globex.example'),
          extra: { user: 'reception@globex.example', folder: 'AAMkFolder1=' },
        },
      ]),
      'globex/reception.yaml': 'persona_id: reception\n',
    },
    env: secretEnv('GLOBEX_MS', credentials),
  });
  key = await server.key('globex');
  adminKey = await server.key('globex', 'admin');
  await waitForState(server, adminKey, 'globex', 'globex-outlook', 'ok');
  await waitForState(server, adminKey, 'globex', 'referrers', 'ok');
});

afterAll(async () => {
  await server?.close();
  await graph?.close();
  await shared?.close();
});

describe('Microsoft contact source', () => {
  it('reads a full delta round page by page and lookup_contact finds the contacts under the source name', async () => {
    const status = await statusOf(server, adminKey, 'globex', 'globex-outlook');
    expect(status).toMatchObject({ type: 'microsoft', contacts: 4, last_result: { mode: 'full', created: 4, skipped: 1 } });
    const requests = deltaRequests(graph);
    expect(requests.map((request) => request.path)).toEqual(Array(requests.length).fill('/v1.0/me/contacts/delta'));
    expect(requests[0]!.query.get('$select')).toBe('displayName,givenName,surname,companyName,businessPhones,homePhones,mobilePhone');
    expect(requests.every((request) => request.headers.prefer === 'odata.maxpagesize=500')).toBe(true);
    expect(graph.scopes).toEqual([`${graph.url}/Contacts.Read offline_access`]);
    expect(graph.tokenRequests[0]!.path).toBe('/globex.example/oauth2/v2.0/token');

    const olivia = await find('07700 900123');
    expect(olivia.data.contacts).toEqual([
      {
        name: 'Olivia Patel',
        company: 'Patel Pharmacy',
        phone_numbers: [
          { number: '+447700900123', label: 'mobile' },
          { number: '+442079460000', label: 'work' },
        ],
        source: 'globex-outlook',
      },
    ]);
    expect((await find('0161 496 0000')).data.contacts[0]).toMatchObject({ name: 'Nina Brooks', source: 'globex-outlook' });
    expect((await find('001 646 555 0142')).data.contacts[0]).toMatchObject({ name: 'Sam Carter', phone_numbers: [{ number: '+16465550142', label: 'home' }] });
  });

  it('follows nextLink across small pages', async () => {
    graph.maxPageSize = 2;
    const before = deltaRequests(graph).length;
    expect(await syncNow(server, adminKey, 'globex', 'globex-outlook', true)).toMatchObject({ ok: true, mode: 'full', created: 0, unchanged: 4, deleted: 0 });
    const round = deltaRequests(graph).slice(before);
    expect(round).toHaveLength(3);
    expect(round.slice(1).every((request) => request.query.has('$skiptoken') && !request.query.has('$select'))).toBe(true);
  });

  it('resumes from the delta link with only the changes, removals included', async () => {
    graph.contacts.put('AAMkADc2', graphContact('Sam Carter', { home: ['+1 646 555 0143'] }, 'Carter Labs'));
    graph.contacts.put('AAMkADc6', graphContact('Uma Shah', { mobile: '07700 900456' }));
    graph.contacts.remove('AAMkADc5');
    const before = deltaRequests(graph).length;
    const outcome = await syncNow(server, adminKey, 'globex', 'globex-outlook');
    expect(outcome).toMatchObject({ ok: true, mode: 'incremental', created: 1, updated: 1, deleted: 1, contacts: 4 });
    expect(deltaRequests(graph)[before]!.query.has('$deltatoken')).toBe(true);
    expect((await find('0113 496 0001')).data.found).toBe(false);
    expect((await find('+1 646 555 0143')).data.contacts[0]).toMatchObject({ name: 'Sam Carter', company: 'Carter Labs' });
    expect((await find('07700 900456')).data.contacts[0]).toMatchObject({ name: 'Uma Shah', source: 'globex-outlook' });
  });

  it('keeps the newest refresh token, sealed, and uses it once the granted one has run out', async () => {
    const issued = [...graph.refreshTokens].filter((token) => token !== credentials.refreshToken);
    expect(issued.length).toBeGreaterThan(0);
    const db = new BetterSqlite3(path.join(server.dataDir, 'switchboard.db'), { readonly: true });
    const row = db.prepare('SELECT refresh_token FROM contact_source_state WHERE source = ?').get('globex-outlook') as { refresh_token: string };
    db.close();
    expect(row.refresh_token).toMatch(/^v1\./);
    const files = fs.readdirSync(server.dataDir).map((file) => fs.readFileSync(path.join(server.dataDir, file)).toString('latin1'));
    for (const token of [...issued, credentials.refreshToken, credentials.clientSecret]) expect(files.some((content) => content.includes(token))).toBe(false);

    graph.refreshTokens.delete(credentials.refreshToken);
    graph.revokeAccessTokens();
    expect(await syncNow(server, adminKey, 'globex', 'globex-outlook')).toMatchObject({ ok: true });
    expect(issued).toContain(new URLSearchParams(graph.tokenRequests.at(-1)!.body).get('refresh_token'));
    graph.refreshTokens.add(credentials.refreshToken);
  });

  it.each(['gone', 'sync-state-not-found'] as const)('starts over with a full round when Graph refuses the delta token (%s)', async (answer) => {
    graph.expiredAnswer = answer;
    const [id, number] = answer === 'gone' ? ['AAMkADc6', '07700 900456'] : ['AAMkADc3', '0161 496 0000'];
    graph.contacts.forget(id);
    graph.contacts.expireTokens();
    const outcome = await syncNow(server, adminKey, 'globex', 'globex-outlook');
    expect(outcome).toMatchObject({ ok: true, mode: 'full', resynced: true, deleted: 1 });
    expect((await find(number)).data.found).toBe(false);
  });

  it("reads a shared user's contact folder with the Shared permission", async () => {
    expect(deltaRequests(shared)[0]!.path).toBe('/v1.0/users/reception%40globex.example/contactFolders/AAMkFolder1%3D/contacts/delta');
    expect(shared.scopes[0]).toBe(`${shared.url}/Contacts.Read.Shared offline_access`);
    expect((await find('0121 496 0002')).data.contacts[0]).toMatchObject({ name: 'Referrer Clinic', source: 'referrers' });
  });

  it('refuses to follow a link to another host', async () => {
    graph.fail({ status: 200, body: { value: [], '@odata.nextLink': 'https://graph.attacker.example/v1.0/me/contacts/delta?$skiptoken=x' } });
    const outcome = await syncNow(server, adminKey, 'globex', 'globex-outlook');
    expect(outcome).toMatchObject({ ok: false, kind: 'protocol' });
    expect(outcome.message).toContain('a link to another host');
    expect(await syncNow(server, adminKey, 'globex', 'globex-outlook')).toMatchObject({ ok: true });
  });

  it('reports throttling, server errors and a revoked grant, and keeps serving', async () => {
    graph.fail({ status: 429, headers: { 'retry-after': '90' }, body: { error: { code: 'TooManyRequests', message: 'Please retry again later.' } } });
    const throttled = await syncNow(server, adminKey, 'globex', 'globex-outlook');
    expect(throttled).toMatchObject({ ok: false, kind: 'rate_limited' });
    expect(Date.parse(throttled.next_attempt_at) - clock.now()).toBeGreaterThanOrEqual(90_000);
    expect(throttled.message).toBe('Microsoft Graph answered 429 TooManyRequests: Please retry again later');

    graph.fail({ status: 503, body: { error: { code: 'serviceNotAvailable', message: 'Service unavailable' } } });
    expect(await syncNow(server, adminKey, 'globex', 'globex-outlook')).toMatchObject({ ok: false, kind: 'upstream', consecutive_failures: 2 });

    graph.revoked = true;
    graph.revokeAccessTokens();
    const revoked = await syncNow(server, adminKey, 'globex', 'globex-outlook');
    expect(revoked).toMatchObject({ ok: false, kind: 'auth', consecutive_failures: 3 });
    expect(revoked.message).toContain('AADSTS700082');
    for (const secret of Object.values(credentials)) expect(JSON.stringify(revoked)).not.toContain(secret);
    expect((await find('07700 900123')).data.contacts[0]).toMatchObject({ name: 'Olivia Patel' });

    graph.revoked = false;
    expect(await syncNow(server, adminKey, 'globex', 'globex-outlook')).toMatchObject({ ok: true });
    expect(await statusOf(server, adminKey, 'globex', 'globex-outlook')).toMatchObject({ state: 'ok', consecutive_failures: 0, last_error: { kind: 'auth' } });
  });
});
