import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { normalizeContact } from '../engine/contacts/input.ts';
import { admin } from './helpers/admin.ts';
import { callHeaders, connect, startTestServer, textOf, type TestServer } from './helpers/server.ts';
import { basicManifests } from './helpers/test-tools.ts';

let server: TestServer;
let acmeAdmin: string;
let globexAdmin: string;

beforeAll(async () => {
  server = await startTestServer({ personas: basicManifests });
  acmeAdmin = await server.key('acme', 'admin');
  globexAdmin = await server.key('globex', 'admin');
});
afterAll(async () => server.close());

const acme = (method: string, route: string, body?: unknown) => admin(server, acmeAdmin, method, `acme/contacts${route}`, body);

describe('contacts admin API', () => {
  it('creates, reads, replaces, patches and deletes a native contact', async () => {
    const created = await acme('POST', '', { name: 'Ada Lovelace', company: 'Analytical Engines', phone_numbers: ['(212) 555-0111', { number: '+1 917 555 0111', label: 'Mobile' }] });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      id: expect.stringMatching(/^ct_/),
      name: 'Ada Lovelace',
      company: 'Analytical Engines',
      phone_numbers: [
        { number: '+12125550111', label: null },
        { number: '+19175550111', label: 'mobile' },
      ],
      source: 'native',
    });
    const id = created.json.id as string;

    expect((await acme('GET', `/${id}`)).json).toEqual(created.json);

    const replaced = await acme('PUT', `/${id}`, { name: 'Ada King', phone_numbers: ['212 555 0112'] });
    expect(replaced.status).toBe(200);
    expect(replaced.json).toMatchObject({ id, name: 'Ada King', company: null, phone_numbers: [{ number: '+12125550112', label: null }] });

    const patched = await acme('PATCH', `/${id}`, { company: 'Countess of Lovelace' });
    expect(patched.json).toMatchObject({ id, name: 'Ada King', company: 'Countess of Lovelace', phone_numbers: [{ number: '+12125550112', label: null }] });

    // The index follows every change: the old number no longer finds her, the new one does.
    expect((await acme('GET', '?phone=212-555-0111')).json.contacts).toEqual([]);
    expect((await acme('GET', '?phone=212-555-0112')).json.contacts.map((c: { id: string }) => c.id)).toEqual([id]);

    expect((await acme('DELETE', `/${id}`)).status).toBe(204);
    expect((await acme('GET', `/${id}`)).status).toBe(404);
    expect((await acme('DELETE', `/${id}`)).status).toBe(404);
    expect((await acme('GET', '?phone=212-555-0112')).json.contacts).toEqual([]);
  });

  it('upserts by source_id: the same id again updates instead of duplicating', async () => {
    const first = await acme('POST', '', { source_id: 'crm-42', name: 'Grace Hopper', phone_numbers: ['+1 212 555 0142'] });
    const second = await acme('POST', '', { source_id: 'crm-42', name: 'Grace B. Hopper', phone_numbers: ['+1 212 555 0142'] });
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.json).toMatchObject({ id: first.json.id, name: 'Grace B. Hopper', source_id: 'crm-42' });
    expect((await acme('GET', '?phone=%2B12125550142')).json.contacts).toHaveLength(1);
    const changeId = await acme('PATCH', `/${first.json.id}`, { source_id: 'crm-43' });
    expect(changeId.status).toBe(400);
  });

  it.each<[string, unknown, RegExp]>([
    ['no phone number that parses', { name: 'X', phone_numbers: ['hello'] }, /at least one phone number.*"hello" could not be read/],
    ['one number that does not parse', { name: 'X', phone_numbers: ['+12125550150', '12'] }, /phone number "12" could not be read/],
    ['no phone numbers', { name: 'X', phone_numbers: [] }, /at least one phone number/],
    ['no name', { phone_numbers: ['+12125550150'] }, /name and phone_numbers are required/],
    ['a blank name', { name: '   ', phone_numbers: ['+12125550150'] }, /name is required/],
    ['a name too long', { name: 'n'.repeat(201), phone_numbers: ['+12125550150'] }, /name must be at most 200 characters/],
    ['a company too long', { name: 'X', company: 'c'.repeat(201), phone_numbers: ['+12125550150'] }, /company must be at most 200 characters/],
    ['a number too long', { name: 'X', phone_numbers: ['1'.repeat(65)] }, /longer than 64 characters/],
    ['too many numbers', { name: 'X', phone_numbers: Array.from({ length: 21 }, (_, i) => `+1212555${String(1000 + i)}`) }, /at most 20 phone numbers/],
    ['phone_numbers not an array', { name: 'X', phone_numbers: '+12125550150' }, /phone_numbers must be an array/],
    ['a number of the wrong type', { name: 'X', phone_numbers: [2125550150] }, /phone_numbers\[0\] must be a string/],
    ['a name of the wrong type', { name: 7, phone_numbers: ['+12125550150'] }, /name must be a string/],
    ['an unknown field', { name: 'X', phone_numbers: ['+12125550150'], email: 'x@example.com' }, /unknown field email/],
    ['an array body', [{ name: 'X' }], /send a JSON object/],
  ])('refuses %s with 400 and a clear message', async (_what, body, message) => {
    const response = await acme('POST', '', body);
    expect(response.status).toBe(400);
    expect(response.json.error.code).toBe('BAD_REQUEST');
    expect(response.json.error.message).toMatch(message);
  });

  it('refuses a body that is not JSON', async () => {
    const response = await acme('POST', '', '{"name": ');
    expect(response.status).toBe(400);
    expect(response.json.error.code).toBe('BODY_INVALID_JSON');
  });

  it('lists by name in pages, and filters by source', async () => {
    const names = ['delta', 'Alpha', 'charlie', 'bravo', 'alpha'];
    for (const [index, name] of names.entries()) {
      await admin(server, globexAdmin, 'POST', 'globex/contacts', { name, phone_numbers: [`07700 90010${index}`] });
    }
    const synced = normalizeContact({ name: 'echo', phones: [{ number: '07700 900999' }] }, 'GB').contact;
    await server.running.services.contacts.upsertContact('globex', 'clinic-outlook', 'AAMk-1', synced);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; json: { contacts: { name: string }[]; next_cursor: string | null } } = await admin(
        server,
        globexAdmin,
        'GET',
        `globex/contacts?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      seen.push(...page.json.contacts.map((contact) => contact.name));
      cursor = page.json.next_cursor;
    } while (cursor);
    expect(seen).toEqual(['Alpha', 'alpha', 'bravo', 'charlie', 'delta', 'echo']);

    const outlook = await admin(server, globexAdmin, 'GET', 'globex/contacts?source=clinic-outlook');
    expect(outlook.json.contacts.map((contact: { name: string; source: string; source_id: string }) => [contact.name, contact.source, contact.source_id])).toEqual([
      ['echo', 'clinic-outlook', 'AAMk-1'],
    ]);

    for (const query of ['limit=0', 'limit=x', 'limit=%2010', 'cursor=garbage', 'phone=not-a-number', 'sorce=native']) {
      const response = await admin(server, globexAdmin, 'GET', `globex/contacts?${query}`);
      expect(response.status, query).toBe(400);
    }
  });

  it('pages past a contact whose name is as long as allowed, in any script', async () => {
    // The cursor carries the last name of the page; 200 characters of CJK or quotes make a long one.
    const names = ['語'.repeat(200), '"'.repeat(200), 'z-last'];
    for (const [index, name] of names.entries()) {
      expect((await admin(server, acmeAdmin, 'POST', 'acme/contacts', { name, phone_numbers: [`+1 646 555 01${20 + index}`], source_id: `long-${index}` })).status).toBe(201);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; text: string; json: { contacts: { name: string }[]; next_cursor: string | null } } = await acme('GET', `?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status, page.text).toBe(200);
      seen.push(...page.json.contacts.map((contact) => contact.name));
      cursor = page.json.next_cursor;
    } while (cursor);
    expect(seen).toEqual(expect.arrayContaining(names));
    for (const index of names.keys()) {
      const [contact] = (await acme('GET', `?phone=%2B1646555012${index}`)).json.contacts as { id: string }[];
      expect((await acme('DELETE', `/${contact!.id}`)).status).toBe(204);
    }
  });

  it('reads synced contacts but refuses to change them (the next sync would undo it)', async () => {
    const synced = normalizeContact({ name: 'Synced Sue', phones: [{ number: '+12125550160' }] }, 'US').contact;
    const { contact } = await server.running.services.contacts.upsertContact('acme', 'acme-google', 'people/c9', synced);
    expect((await acme('GET', `/${contact.id}`)).json).toMatchObject({ name: 'Synced Sue', source: 'acme-google' });
    for (const [method, body] of [
      ['PUT', { name: 'Changed', phone_numbers: ['+12125550160'] }],
      ['PATCH', { name: 'Changed' }],
      ['DELETE', undefined],
    ] as const) {
      const response = await acme(method, `/${contact.id}`, body);
      expect(response.status, method).toBe(409);
      expect(response.json.error.message).toContain('synced from acme-google');
    }
  });

  it('keeps accounts apart', async () => {
    const mine = await acme('POST', '', { name: 'Private Person', phone_numbers: ['+1 212 555 0170'] });
    const foreign = await admin(server, globexAdmin, 'GET', 'acme/contacts');
    expect(foreign.status).toBe(403);
    expect(foreign.json.error).toEqual({ code: 'AUTH_WRONG_ACCOUNT', message: 'This API key does not belong to the account in the path' });
    expect((await admin(server, globexAdmin, 'GET', `globex/contacts/${mine.json.id}`)).status).toBe(404);
    expect((await admin(server, globexAdmin, 'DELETE', `globex/contacts/${mine.json.id}`)).status).toBe(404);
    expect((await admin(server, globexAdmin, 'GET', 'globex/contacts?phone=%2B12125550170')).json.contacts).toEqual([]);
    expect((await acme('GET', `/${mine.json.id}`)).status).toBe(200);
    // An MCP key is not an admin key.
    expect((await admin(server, await server.key('acme'), 'GET', 'acme/contacts')).status).toBe(403);
  });

  it('makes a contact created over the API findable by lookup_contact at once', async () => {
    await acme('POST', '', { name: 'Fresh Fred', company: 'Fred & Co', phone_numbers: ['646.555.0188'] });
    const client = await connect(server, callHeaders({ key: await server.key('acme') }));
    const result = await client.callTool({ name: 'lookup_contact', arguments: { phone_number: '+1 646 555 0188' } });
    expect(textOf(result)).toBe('Contact found: Fresh Fred, company Fred & Co, phone number +1 646 555 0188; source: native.');
    await client.close();
  });
});
