/**
 * One person, one answer: what a new user who imports the example CSV of
 * docs/contacts.md and then follows the walkthrough gets. Blank rows of a
 * spreadsheet's CSV are not errors; a contact added over the admin API for
 * a person the native contacts already have is added to that contact; and
 * lookup_contact never reads one person twice, whether the index holds them
 * twice in one source or in two. Real CLI, real server, real MCP client.
 */
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { normalizeContact } from '../engine/contacts/input.ts';
import { admin } from './helpers/admin.ts';
import { runCli } from './helpers/cli.ts';
import { callHeaders, connect, REPO_ROOT, startTestServer, tempDir, textOf, type TestServer } from './helpers/server.ts';
import { basicManifests } from './helpers/test-tools.ts';

let server: TestServer;
let files: string;
let acmeAdmin: string;

beforeAll(async () => {
  server = await startTestServer({
    personas: { ...basicManifests, 'initech/account.yaml': 'account_id: initech\ntimezone: America/Chicago\ndefault_country: US\n', 'initech/desk.yaml': 'persona_id: desk\n' },
  });
  files = tempDir('same-person');
  acmeAdmin = await server.key('acme', 'admin');
});
afterAll(async () => {
  await server.close();
  fs.rmSync(files, { recursive: true, force: true });
});

const importCsv = (name: string, text: string, account = 'acme') => {
  const file = path.join(files, name);
  fs.writeFileSync(file, text);
  return runCli(['contacts', 'import', '--account', account, file, '--json', '--data', server.dataDir, '--personas', server.personasDir]);
};

interface Lookup {
  text: string;
  data: { contacts: { name: string; company: string | null; phone_numbers: { number: string; label: string | null }[]; source: string; sources?: string[] }[] };
}

async function lookup(number: string): Promise<Lookup> {
  const client = await connect(server, callHeaders({ key: await server.key('acme'), account: 'acme', persona: 'front-desk' }));
  try {
    const result = await client.callTool({ name: 'lookup_contact', arguments: { phone_number: number } });
    return { text: textOf(result), data: result.structuredContent as Lookup['data'] };
  } finally {
    await client.close();
  }
}

/** The example CSV of docs/contacts.md, as a reader copies it. */
function documentedCsv(): string {
  const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs/contacts.md'), 'utf8');
  const block = /```csv\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!block) throw new Error('docs/contacts.md has no csv block');
  return block;
}

describe('blank rows in a CSV', () => {
  it('skips rows without a value, as spreadsheets export them, and exits 0', async () => {
    const text = `${documentedCsv()},,,,,\n\n  ,  ,,,,\n,,,,,\n`;
    const result = await importCsv('with-blank-rows.csv', text, 'initech');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ created: 2, rejected: [], warnings: [] });
  });
});

describe('the walkthrough after the example import', () => {
  it('adds the walkthrough’s contact to the imported one, and the agent hears Jane Doe once', async () => {
    const imported = await importCsv('contacts.csv', documentedCsv());
    expect(imported.code).toBe(0);
    const jane = (await admin(server, acmeAdmin, 'GET', 'acme/contacts?phone=%2B12125550100')).json.contacts[0];
    expect(jane).toMatchObject({ name: 'Jane Doe', source_id: 'c-1' });

    // docs/integrations/walkthrough.md, step 2.
    const added = await admin(server, acmeAdmin, 'POST', 'acme/contacts', { name: 'Jane Doe', company: 'Doe Plumbing', phone_numbers: ['(212) 555-0100'] });
    expect(added.status).toBe(200);
    expect(added.json).toMatchObject({ id: jane.id, source_id: 'c-1', name: 'Jane Doe', company: 'Doe Plumbing' });
    expect((await admin(server, acmeAdmin, 'GET', 'acme/contacts?phone=%2B12125550100')).json.contacts).toHaveLength(1);

    const { text, data } = await lookup('+12125550100');
    expect(text).toBe('Contact found: Jane Doe, company Doe Plumbing, phone numbers +1 212 555 0100 (mobile), +1 212 555 0199 (work); source: native.');
    expect(data.contacts).toHaveLength(1);
  });

  it('adds new numbers to the person, but keeps a contact of its own for a given source_id', async () => {
    const added = await admin(server, acmeAdmin, 'POST', 'acme/contacts', { name: 'jane  DOE', phone_numbers: ['212 555 0100', { number: '+1 917 555 0123', label: 'mobile' }] });
    expect(added.status).toBe(200);
    expect(added.json.phone_numbers).toEqual([
      { number: '+12125550100', label: 'mobile' },
      { number: '+12125550199', label: 'work' },
      { number: '+19175550123', label: 'mobile' },
    ]);
    expect(added.json.company).toBe('Doe Plumbing');
    // A caller that names its own id for the record says it is a record of its own.
    const own = await admin(server, acmeAdmin, 'POST', 'acme/contacts', { name: 'Jane Doe', phone_numbers: ['+19175550123'], source_id: 'crm-7' });
    expect(own.status).toBe(201);
    // ... and the agent still hears her once.
    expect((await lookup('917 555 0123')).data.contacts).toHaveLength(1);
  });
});

describe('lookup_contact reads each person once', () => {
  it('folds entries of one person within a source and across sources, and keeps different people apart', async () => {
    const rows = await importCsv(
      'twice.csv',
      ['id,name,company,phone', 'r-1,Ana Lima,,+1 646 555 0100', 'r-2,ANA LIMA,Lima Design,646-555-0100; 646-555-0101', 'r-3,Ana Lima,Other Corp,646 555 0100', 'r-4,Rui Costa,Lima Design,646 555 0100'].join('\n'),
    );
    expect(rows.code).toBe(0);
    const synced = normalizeContact({ name: 'Ana Lima', phones: [{ number: '+16465550100', label: 'work' }] }, 'US').contact;
    await server.running.services.contacts.upsertContact('acme', 'acme-google', 'people/c9', synced);
    expect((await admin(server, acmeAdmin, 'GET', 'acme/contacts?phone=%2B16465550100')).json.contacts).toHaveLength(5);

    const { text, data } = await lookup('646 555 0100');
    expect(data.contacts).toEqual([
      {
        name: 'Ana Lima',
        company: 'Lima Design',
        phone_numbers: [
          { number: '+16465550100', label: 'work' },
          { number: '+16465550101', label: null },
        ],
        source: 'native',
        sources: ['native', 'acme-google'],
      },
      // Another company: perhaps another Ana Lima on a shared line; the agent can ask.
      { name: 'Ana Lima', company: 'Other Corp', phone_numbers: [{ number: '+16465550100', label: null }], source: 'native' },
      { name: 'Rui Costa', company: 'Lima Design', phone_numbers: [{ number: '+16465550100', label: null }], source: 'native' },
    ]);
    expect(text).toBe(
      '3 contacts found for +1 646 555 0100: Ana Lima, company Lima Design; sources: native, acme-google | Ana Lima, company Other Corp; source: native | Rui Costa, company Lima Design; source: native.',
    );
  });
});
