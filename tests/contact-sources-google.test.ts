/**
 * Google contact sources end to end: a real server syncs from a fake People
 * API (tests/helpers/fake-google.ts) through its background job or the admin
 * trigger, and lookup_contact finds the synced contacts over MCP. Time is a
 * FixedClock: the scheduler acts when the test moves it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FixedClock } from '../engine/clock.ts';
import { admin } from './helpers/admin.ts';
import { accountYaml, lookup, msFrom, secretEnv, statusOf, syncNow, waitForState, type Json } from './helpers/contact-sources.ts';
import { FakeGoogle, person } from './helpers/fake-google.ts';
import { eventually, startTestServer, type TestServer } from './helpers/server.ts';

const MINUTE = 60_000;
const clock = new FixedClock(Date.parse('2026-03-02T09:00:00Z'));
const acmeCredentials = { clientId: 'acme-client-7f3a.apps.example', clientSecret: 'GOCSPX-acme-client-secret-value', refreshToken: '1//acme-refresh-token-value' };
const globexCredentials = { clientId: 'globex-client-91b2.apps.example', clientSecret: 'GOCSPX-globex-client-secret', refreshToken: '1//globex-refresh-token-value' };

let google: FakeGoogle;
let slowGoogle: FakeGoogle;
let server: TestServer;
let acmeKey: string;
let acmeAdmin: string;
let globexAdmin: string;

const connectionRequests = () => google.apiRequests(/\/v1\/people\/me\/connections$/);
const lookupAcme = (number: string) => lookup(server, acmeKey, 'acme', 'front-desk', number);

beforeAll(async () => {
  google = await new FakeGoogle(clock, acmeCredentials).start();
  slowGoogle = await new FakeGoogle(clock, globexCredentials).start();
  google.maxPageSize = 2;
  google.connections.put('people/c1', {
    ...person('Jane Doe', [['(212) 555-0100', 'work'], ['917 555 0123', 'mobile']], 'Doe Plumbing'),
    phoneNumbers: [
      { value: '(212) 555-0100', canonicalForm: '+12125550100', type: 'work', formattedType: 'Work' },
      { value: '917 555 0123', type: 'mobile', formattedType: 'Mobile' },
      { value: '917 555 0124', type: 'workFax', formattedType: 'Work Fax' },
    ],
  });
  google.connections.put('people/c2', person('Bob Stone', [['646-555-0142', 'mobile']]));
  google.connections.put('people/c3', person('Carla Ruiz', [['718 555 0199', 'home']]));
  google.connections.put('people/c4', { organizations: [{ name: 'Acme Deliveries' }], phoneNumbers: [{ value: '212 555 0177', type: 'main' }] });
  google.connections.put('people/c5', person('Ghost Writer', [['not a number']]));
  google.otherContacts.put('otherContacts/c9', person('Pat Lee', [['+44 20 7946 0123']]));
  slowGoogle.connections.put('people/g1', person('Olivia Patel', [['020 7946 0000', 'work']]));

  server = await startTestServer({
    // The fake Google and Microsoft servers listen on loopback, which the outbound guard refuses unless allowed.
    settings: { outboundAllow: ['127.0.0.1'] },
    clock,
    personas: {
      'acme/account.yaml': accountYaml('acme', 'US', [
        { type: 'google', name: 'acme-google', secrets: 'ACME_GOOGLE', apiBaseUrl: google.url, tokenUrl: google.tokenUrl, extra: { other_contacts: true, sync_interval_minutes: 15 } },
      ]),
      'acme/front-desk.yaml': 'persona_id: front-desk\n',
      'globex/account.yaml': accountYaml('globex', 'GB', [
        { type: 'google', name: 'globex-google', secrets: 'GLOBEX_GOOGLE', apiBaseUrl: slowGoogle.url, tokenUrl: slowGoogle.tokenUrl },
        { type: 'google', name: 'globex-unset', secrets: 'GLOBEX_UNSET', apiBaseUrl: slowGoogle.url, tokenUrl: slowGoogle.tokenUrl },
      ]),
      'globex/reception.yaml': 'persona_id: reception\n',
    },
    env: { ...secretEnv('ACME_GOOGLE', acmeCredentials), ...secretEnv('GLOBEX_GOOGLE', globexCredentials) },
  });
  acmeKey = await server.key('acme');
  acmeAdmin = await server.key('acme', 'admin');
  globexAdmin = await server.key('globex', 'admin');
});

afterAll(async () => {
  await server?.close();
  await google?.close();
  await slowGoogle?.close();
});

describe('Google contact source', () => {
  it('syncs every page of connections and other contacts at startup, and lookup_contact finds them under the source name', async () => {
    const status = await waitForState(server, acmeAdmin, 'acme', 'acme-google', 'ok');
    expect(status).toMatchObject({ type: 'google', contacts: 5, consecutive_failures: 0, last_error: null, sync_interval_minutes: 15 });
    expect(status.last_result).toEqual({ mode: 'full', resynced: false, created: 5, updated: 0, unchanged: 0, deleted: 0, skipped: 1 });
    expect(msFrom(clock.now(), status.next_attempt_at)).toBeGreaterThan(13 * MINUTE);
    expect(msFrom(clock.now(), status.next_attempt_at)).toBeLessThanOrEqual(15 * MINUTE);

    // 5 connections at 2 a page: 3 pages, each repeating the first call's parameters.
    const pages = connectionRequests();
    expect(pages).toHaveLength(3);
    for (const page of pages) {
      expect(page.query.get('personFields')?.split(',')).toEqual(expect.arrayContaining(['names', 'phoneNumbers', 'organizations']));
      expect(page.query.get('requestSyncToken')).toBe('true');
      expect(page.query.get('syncToken')).toBeNull();
    }
    expect(pages.map((page) => page.query.has('pageToken'))).toEqual([false, true, true]);
    const others = google.apiRequests(/\/v1\/otherContacts$/);
    expect(others).toHaveLength(1);
    expect(others[0]!.query.get('readMask')).toBe('names,phoneNumbers,metadata');
    expect(google.tokenRequests).toHaveLength(1);

    const jane = await lookupAcme('212-555-0100');
    expect(jane.data.contacts).toEqual([
      {
        name: 'Jane Doe',
        company: 'Doe Plumbing',
        phone_numbers: [
          { number: '+12125550100', label: 'work' },
          { number: '+19175550123', label: 'mobile' },
          { number: '+19175550124', label: 'fax' },
        ],
        source: 'acme-google',
      },
    ]);
    expect(jane.text).toBe('Contact found: Jane Doe, company Doe Plumbing, phone numbers +1 212 555 0100 (work), +1 917 555 0123 (mobile), +1 917 555 0124 (fax); source: acme-google.');
    expect((await lookupAcme('+1 212 555 0177')).data.contacts[0]).toMatchObject({ name: 'Acme Deliveries', company: 'Acme Deliveries' });
    expect((await lookupAcme('011 44 20 7946 0123')).data.contacts[0]).toMatchObject({ name: 'Pat Lee', source: 'acme-google' });
  });

  it('lists native contacts before synced ones for the same number', async () => {
    const created = await admin(server, acmeAdmin, 'POST', 'acme/contacts', { name: 'Jane Doe (office)', phone_numbers: ['+1 212 555 0100'] });
    expect(created.status).toBe(201);
    const { data, text } = await lookupAcme('+12125550100');
    expect(data.contacts.map((contact) => contact.source)).toEqual(['native', 'acme-google']);
    expect(text).toBe('2 contacts found for +1 212 555 0100: Jane Doe (office); source: native | Jane Doe, company Doe Plumbing; source: acme-google.');
  });

  it('applies changes and deletions incrementally with the sync token, without a new access token', async () => {
    google.connections.put('people/c2', person('Bob Stone', [['646-555-0143', 'mobile']], 'Stone & Sons'));
    google.connections.put('people/c6', person('Dina Park', [['332 555 0101', 'work']]));
    google.connections.remove('people/c3');
    google.otherContacts.remove('otherContacts/c9');
    const before = connectionRequests().length;

    const outcome = await syncNow(server, acmeAdmin, 'acme', 'acme-google');
    expect(outcome).toMatchObject({ ok: true, mode: 'incremental', resynced: false, created: 1, updated: 1, deleted: 2, contacts: 4 });
    const incremental = connectionRequests().slice(before);
    expect(incremental.length).toBeGreaterThan(0);
    for (const request of incremental) expect(request.query.get('syncToken')).toBeTruthy();
    expect(google.tokenRequests).toHaveLength(1);

    expect((await lookupAcme('718 555 0199')).data.found).toBe(false);
    expect((await lookupAcme('+44 20 7946 0123')).data.found).toBe(false);
    expect((await lookupAcme('646 555 0142')).data.found).toBe(false);
    expect((await lookupAcme('646 555 0143')).data.contacts[0]).toMatchObject({ name: 'Bob Stone', company: 'Stone & Sons' });
    expect((await lookupAcme('332-555-0101')).data.contacts[0]).toMatchObject({ name: 'Dina Park', source: 'acme-google' });
  });

  it('syncs again on its own after the interval, refreshing the access token once it expires', async () => {
    const before = connectionRequests().length;
    clock.advance(16 * MINUTE);
    await eventually(() => (connectionRequests().length > before ? true : undefined), 10_000, 'a scheduled sync');
    await waitForState(server, acmeAdmin, 'acme', 'acme-google', 'ok');
    expect(google.tokenRequests).toHaveLength(1);

    const again = connectionRequests().length;
    clock.advance(60 * MINUTE);
    await eventually(() => (connectionRequests().length > again ? true : undefined), 10_000, 'a second scheduled sync');
    await waitForState(server, acmeAdmin, 'acme', 'acme-google', 'ok');
    expect(google.tokenRequests).toHaveLength(2);
  });

  it('replaces an access token the API refuses before its time, once', async () => {
    google.revokeAccessTokens();
    const tokens = google.tokenRequests.length;
    expect(await syncNow(server, acmeAdmin, 'acme', 'acme-google')).toMatchObject({ ok: true, mode: 'incremental' });
    expect(google.tokenRequests).toHaveLength(tokens + 1);
  });

  it.each(['gone', 'failed-precondition'] as const)('answers an expired sync token (%s) with a full sync that also removes contacts no longer there', async (answer) => {
    google.expiredAnswer = answer;
    const id = answer === 'gone' ? 'people/c6' : 'people/c2';
    const number = answer === 'gone' ? '332-555-0101' : '646 555 0143';
    google.connections.forget(id); // gone without a trace: only a full read can tell
    google.connections.expireTokens();
    expect((await lookupAcme(number)).data.found).toBe(true);
    const before = connectionRequests().length;

    const outcome = await syncNow(server, acmeAdmin, 'acme', 'acme-google');
    expect(outcome).toMatchObject({ ok: true, mode: 'full', resynced: true, deleted: 1 });
    const requests = connectionRequests().slice(before);
    expect(requests[0]!.query.get('syncToken')).toBeTruthy();
    expect(requests.slice(1).every((request) => request.query.get('syncToken') === null)).toBe(true);
    expect((await lookupAcme(number)).data.found).toBe(false);
    expect((await statusOf(server, acmeAdmin, 'acme', 'acme-google')).last_result).toMatchObject({ mode: 'full', resynced: true });
  });

  it('keeps the last good contacts when a full sync fails part-way, and removes them once one completes', async () => {
    google.connections.put('people/c7', person('Eve Stark', [['212 555 0133']]));
    google.connections.forget('people/c4');
    expect(google.connections.changes(undefined).live.length).toBeGreaterThan(google.maxPageSize);
    google.fail({ status: 503, when: (request) => request.query.has('pageToken'), headers: { 'retry-after': '30' } });

    const failed = await syncNow(server, acmeAdmin, 'acme', 'acme-google', true);
    expect(failed).toMatchObject({ ok: false, kind: 'upstream', consecutive_failures: 1 });
    expect(failed.message).toContain('503');
    expect((await lookupAcme('212 555 0177')).data.contacts[0]).toMatchObject({ name: 'Acme Deliveries' });
    const status = await statusOf(server, acmeAdmin, 'acme', 'acme-google');
    expect(status).toMatchObject({ state: 'failing', consecutive_failures: 1, last_error: { kind: 'upstream' } });

    expect(await syncNow(server, acmeAdmin, 'acme', 'acme-google', true)).toMatchObject({ ok: true, mode: 'full', resynced: false, deleted: 1 });
    expect((await lookupAcme('212 555 0177')).data.found).toBe(false);
    expect(await statusOf(server, acmeAdmin, 'acme', 'acme-google')).toMatchObject({ state: 'ok', consecutive_failures: 0 });
  });

  it('backs off for as long as a 429 Retry-After asks, serving the last good data meanwhile', async () => {
    google.fail({ status: 429, headers: { 'retry-after': '600' }, body: { error: { code: 429, message: 'Quota exceeded for quota metric \'Read requests\'.', status: 'RESOURCE_EXHAUSTED' } } });
    const outcome = await syncNow(server, acmeAdmin, 'acme', 'acme-google');
    expect(outcome).toMatchObject({ ok: false, kind: 'rate_limited', consecutive_failures: 1 });
    expect(outcome.message).toContain('429 RESOURCE_EXHAUSTED');
    expect(msFrom(clock.now(), outcome.next_attempt_at)).toBe(10 * MINUTE);
    expect((await lookupAcme('212-555-0100')).data.contacts.map((contact) => contact.source)).toEqual(['native', 'acme-google']);

    const before = connectionRequests().length;
    clock.advance(10 * MINUTE);
    await eventually(() => (connectionRequests().length > before ? true : undefined), 10_000, 'the retry after Retry-After');
    await waitForState(server, acmeAdmin, 'acme', 'acme-google', 'ok');
  });

  it('backs off exponentially, with jitter, after server errors and network failures', async () => {
    const delays: number[] = [];
    for (const fault of [{ status: 500 }, { status: 502 }, { drop: true }]) {
      google.fail(fault);
      const outcome = await syncNow(server, acmeAdmin, 'acme', 'acme-google');
      expect(outcome.ok).toBe(false);
      expect(outcome.kind).toBe(fault.drop ? 'network' : 'upstream');
      delays.push(msFrom(clock.now(), outcome.next_attempt_at));
    }
    // ceilings of 1, 2 and 4 minutes, each at least half of its ceiling
    delays.forEach((delay, index) => {
      expect(delay).toBeGreaterThanOrEqual(2 ** index * 30_000);
      expect(delay).toBeLessThanOrEqual(2 ** index * 60_000);
    });
    const status = await statusOf(server, acmeAdmin, 'acme', 'acme-google');
    expect(status).toMatchObject({ state: 'failing', consecutive_failures: 3, last_error: { kind: 'network' } });
    expect(status.last_error.message).toContain(`127.0.0.1`);
    expect(await syncNow(server, acmeAdmin, 'acme', 'acme-google')).toMatchObject({ ok: true });
  });

  it('reports a revoked refresh token and a missing secret without showing any secret, and keeps serving', async () => {
    google.revoked = true;
    google.revokeAccessTokens();
    const outcome = await syncNow(server, acmeAdmin, 'acme', 'acme-google');
    expect(outcome).toMatchObject({ ok: false, kind: 'auth' });
    expect(outcome.message).toContain('invalid_grant');
    expect(outcome.message).toContain('refresh_token secret');
    const status = await statusOf(server, acmeAdmin, 'acme', 'acme-google');
    expect(status).toMatchObject({ state: 'failing', last_error: { kind: 'auth' } });
    expect((await lookupAcme('917 555 0123')).data.contacts[0]).toMatchObject({ name: 'Jane Doe', source: 'acme-google' });

    const unset = await waitForState(server, globexAdmin, 'globex', 'globex-unset', 'failing');
    expect(unset.last_error).toMatchObject({ kind: 'config', message: 'secret GLOBEX_UNSET_CLIENT_ID (credentials.client_id) is not set (environment variable or secrets file)' });

    const secrets = [...Object.values(acmeCredentials), ...Object.values(globexCredentials)];
    const shown = [JSON.stringify(outcome), JSON.stringify(status), JSON.stringify(unset), ...server.logLines];
    for (const secret of secrets) expect(shown.filter((text) => text.includes(secret))).toEqual([]);
    google.revoked = false;
    expect(await syncNow(server, acmeAdmin, 'acme', 'acme-google')).toMatchObject({ ok: true });
  });

  it("does not hold up one account while another account's source is slow", async () => {
    let release!: () => void;
    slowGoogle.fail({ hold: new Promise<void>((resolve) => (release = resolve)) });
    const started = await admin(server, globexAdmin, 'POST', 'globex/contact-sources/globex-google/sync', { full: true });
    expect(started.status).toBe(202);
    expect(started.json.source.state).toBe('syncing');
    const busy = await admin(server, globexAdmin, 'POST', 'globex/contact-sources/globex-google/sync');
    expect(busy.status).toBe(409);
    expect(busy.json.error.message).toContain('is being synced already');

    expect(await syncNow(server, acmeAdmin, 'acme', 'acme-google')).toMatchObject({ ok: true });
    expect((await statusOf(server, globexAdmin, 'globex', 'globex-google')).state).toBe('syncing');
    release();
    const done = await waitForState(server, globexAdmin, 'globex', 'globex-google', 'ok');
    expect(done.last_result).toMatchObject({ mode: 'full' });
    expect((await lookup(server, await server.key('globex'), 'globex', 'reception', '020 7946 0000')).data.contacts[0]).toMatchObject({ name: 'Olivia Patel', source: 'globex-google' });
  });

  it('answers the admin API with clear errors', async () => {
    const unknown = await admin(server, acmeAdmin, 'POST', 'acme/contact-sources/nope/sync');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.message).toBe('account acme has no contact source nope; its sources: acme-google');
    const badBody = await admin(server, acmeAdmin, 'POST', 'acme/contact-sources/acme-google/sync', { full: 'yes' });
    expect(badBody.status).toBe(400);
    expect(badBody.json.error.message).toBe('full must be true or false');
    const extra = await admin(server, acmeAdmin, 'POST', 'acme/contact-sources/acme-google/sync', { fast: true });
    expect(extra.status).toBe(400);
    // Options sent with another content type are refused, not taken for "no options".
    const before = (await statusOf(server, acmeAdmin, 'acme', 'acme-google')).last_attempt_at;
    const plain = await fetch(new URL('/ucp/v2/accounts/acme/contact-sources/acme-google/sync', server.url), {
      method: 'POST',
      headers: { 'X-API-Key': acmeAdmin, 'Content-Type': 'text/plain' },
      body: '{"full": true}',
    });
    expect(plain.status).toBe(400);
    expect(await plain.json()).toEqual({ error: { code: 'BAD_REQUEST', message: 'body: send it as JSON with Content-Type: application/json', details: { field: 'body' } } });
    expect((await statusOf(server, acmeAdmin, 'acme', 'acme-google')).last_attempt_at).toBe(before);
    expect((await admin(server, globexAdmin, 'GET', 'acme/contact-sources')).status).toBe(403);
    expect((await admin(server, acmeKey, 'GET', 'acme/contact-sources')).status).toBe(403);
    const list = await admin(server, globexAdmin, 'GET', 'globex/contact-sources');
    expect(list.json.sources.map((source: Json) => source.name)).toEqual(['globex-google', 'globex-unset']);
  });

  it('removes the contacts and state of a source dropped from the manifest', async () => {
    const { writeManifests } = await import('./helpers/server.ts');
    writeManifests(server.personasDir, { 'acme/account.yaml': 'account_id: acme\ntimezone: America/New_York\ndefault_country: US\n' });
    await eventually(async () => ((await admin(server, acmeAdmin, 'GET', 'acme/contact-sources')).json.sources.length === 0 ? true : undefined), 10_000, 'the reload');
    await eventually(async () => ((await server.running.services.contacts.list('acme', { limit: 10, source: 'acme-google' })).contacts.length === 0 ? true : undefined), 10_000, 'the purge');
    const { data } = await lookupAcme('212-555-0100');
    expect(data.contacts.map((contact) => contact.source)).toEqual(['native']);
  });
});
