import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { normalizeContact } from '../engine/contacts/input.ts';
import { admin } from './helpers/admin.ts';
import { callHeaders, connect, startTestServer, textOf, type Era, type TestServer } from './helpers/server.ts';
import { basicManifests } from './helpers/test-tools.ts';

let server: TestServer;
let acmeKey: string;
let globexKey: string;

interface LookupData {
  found: boolean;
  phone_number: string;
  contacts: { name: string; company: string | null; phone_numbers: { number: string; label: string | null }[]; source: string }[];
}

beforeAll(async () => {
  server = await startTestServer({ personas: basicManifests });
  acmeKey = await server.key('acme');
  globexKey = await server.key('globex');
  const acmeAdmin = await server.key('acme', 'admin');
  const globexAdmin = await server.key('globex', 'admin');
  const create = async (adminKey: string, account: string, body: unknown) => {
    const response = await admin(server, adminKey, 'POST', `${account}/contacts`, body);
    expect(response.status, response.text).toBe(201);
  };
  await create(acmeAdmin, 'acme', { name: 'Jane Doe', company: 'Doe Plumbing Supply', phone_numbers: [{ number: '(212) 555-0100', label: 'work' }, { number: '917 555 0123', label: 'mobile' }] });
  await create(acmeAdmin, 'acme', { name: 'Nigel Burke', phone_numbers: ['+44 20 7946 0958'] });
  await create(globexAdmin, 'globex', { name: 'Olivia Patel', company: 'Patel Pharmacy', phone_numbers: ['020 7946 0000', { number: '07700 900123', label: 'mobile' }] });
  await create(globexAdmin, 'globex', { name: 'Sam Carter', phone_numbers: ['+1 646 555 0142'] });
  // A contact synced from an external book lands in the same index, under its source's name.
  const synced = normalizeContact({ name: 'Jane Doe (Google)', phones: [{ number: '+12125550100', label: 'work' }] }, 'US').contact;
  await server.running.services.contacts.upsertContact('acme', 'clinic-google', 'people/c123', synced);
});
afterAll(async () => server.close());

async function lookup(account: 'acme' | 'globex', phoneNumber: unknown, era: Era = 'legacy') {
  const key = account === 'acme' ? acmeKey : globexKey;
  const client = await connect(server, callHeaders({ key, account, persona: account === 'acme' ? 'front-desk' : 'reception' }), era);
  try {
    const result = await client.callTool({ name: 'lookup_contact', arguments: { phone_number: phoneNumber } });
    return { result, text: textOf(result), data: result.structuredContent as LookupData };
  } finally {
    await client.close();
  }
}

describe('lookup_contact', () => {
  it.each([
    ['acme', '+1 (212) 555-0100', 'Jane Doe'],
    ['acme', '212-555-0100', 'Jane Doe'],
    ['acme', '(212) 555-0100', 'Jane Doe'],
    ['acme', '1-212-555-0100', 'Jane Doe'],
    ['acme', '212.555.0100', 'Jane Doe'],
    ['acme', '+12125550100', 'Jane Doe'],
    ['acme', '917-555-0123', 'Jane Doe'],
    ['acme', '0044 20 7946 0958', 'Nigel Burke'],
    ['acme', '011 44 20 7946 0958', 'Nigel Burke'],
    ['globex', '020 7946 0000', 'Olivia Patel'],
    ['globex', '+44 (0)20 7946 0000', 'Olivia Patel'],
    ['globex', '0044 20 7946 0000', 'Olivia Patel'],
    ['globex', '07700 900123', 'Olivia Patel'],
    ['globex', '+447700900123', 'Olivia Patel'],
    ['globex', '001 646 555 0142', 'Sam Carter'],
  ] as const)('in %s, %s finds %s', async (account, written, name) => {
    const { result, data } = await lookup(account, written);
    expect(result.isError).toBeFalsy();
    expect(data.found).toBe(true);
    expect(data.contacts[0]!.name).toBe(name);
  });

  it('returns name, phone numbers, company and source, native contacts first', async () => {
    const { text, data } = await lookup('acme', '212 555 0100', 'modern');
    expect(data).toEqual({
      found: true,
      phone_number: '+12125550100',
      contacts: [
        {
          name: 'Jane Doe',
          company: 'Doe Plumbing Supply',
          phone_numbers: [
            { number: '+12125550100', label: 'work' },
            { number: '+19175550123', label: 'mobile' },
          ],
          source: 'native',
        },
        { name: 'Jane Doe (Google)', company: null, phone_numbers: [{ number: '+12125550100', label: 'work' }], source: 'clinic-google' },
      ],
    });
    expect(text).toBe('2 contacts found for +1 212 555 0100: Jane Doe, company Doe Plumbing Supply; source: native | Jane Doe (Google); source: clinic-google.');
  });

  it('reads out one match with its numbers', async () => {
    const { text } = await lookup('globex', '07700900123');
    expect(text).toBe('Contact found: Olivia Patel, company Patel Pharmacy, phone numbers +44 20 7946 0000, +44 7700 900123 (mobile); source: native.');
  });

  it('answers "no contact found" as a normal result', async () => {
    const { result, text, data } = await lookup('acme', '+1 212 555 0199');
    expect(result.isError).toBeFalsy();
    expect(text).toBe('No contact found for +1 212 555 0199.');
    expect(data).toEqual({ found: false, phone_number: '+12125550199', contacts: [] });
  });

  it('keeps accounts apart', async () => {
    expect((await lookup('globex', '+1 212 555 0100')).data.found).toBe(false);
    expect((await lookup('acme', '+44 7700 900123')).data.found).toBe(false);
  });

  it.each<[string, unknown, RegExp]>([
    ['a number that cannot be read', 'call me maybe', /"call me maybe" is not a phone number that can be read\. Pass the number with its country code, e\.g\. \+12125550100/],
    ['too few digits', '12', /is not a phone number that can be read/],
    ['a list instead of a string', ['2125550100'], /"phone_number" must be a string/],
    ['an empty string', '', /"phone_number" must not be empty/],
    ['a huge string', '5'.repeat(500), /"phone_number" must be at most 64 characters/],
    ['null', null, /"phone_number" must be a string/],
  ])('refuses %s with a tool error that says what to pass', async (_what, value, message) => {
    const { result, text } = await lookup('acme', value);
    expect(result.isError).toBe(true);
    expect(text).toMatch(message);
  });

  it('reads a number sent as a JSON number like the digits it spells', async () => {
    const asNumber = await lookup('acme', 2125550100);
    expect(asNumber.result.isError).toBeFalsy();
    expect(asNumber.text).toBe((await lookup('acme', '2125550100')).text);
  });

  it('refuses a call without phone_number', async () => {
    const client = await connect(server, callHeaders({ key: acmeKey }));
    const result = await client.callTool({ name: 'lookup_contact', arguments: {} });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/"phone_number" is required/);
    await client.close();
  });
});
