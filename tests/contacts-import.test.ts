import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './helpers/cli.ts';
import { callHeaders, connect, startTestServer, tempDir, textOf, type TestServer } from './helpers/server.ts';
import { basicManifests } from './helpers/test-tools.ts';

let server: TestServer;
let files: string;

beforeAll(async () => {
  server = await startTestServer({ personas: basicManifests });
  files = tempDir('import');
});
afterAll(async () => {
  await server.close();
  fs.rmSync(files, { recursive: true, force: true });
});

const write = (name: string, text: string): string => {
  const file = path.join(files, name);
  fs.writeFileSync(file, text);
  return file;
};

const cli = (...args: string[]) => runCli(['contacts', ...args, '--data', server.dataDir, '--personas', server.personasDir]);

interface ListedContact {
  name: string;
  company: string | null;
  phone_numbers: { number: string; label: string | null }[];
  source: string;
  source_id: string;
}

async function listContacts(account: string): Promise<ListedContact[]> {
  const result = await cli('list', '--account', account, '--json', '--limit', '1000');
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { contacts: ListedContact[] }).contacts;
}

async function lookupText(account: string, number: string): Promise<string> {
  const client = await connect(server, callHeaders({ key: await server.key(account), account, persona: account === 'acme' ? 'front-desk' : 'reception' }));
  try {
    return textOf(await client.callTool({ name: 'lookup_contact', arguments: { phone_number: number } }));
  } finally {
    await client.close();
  }
}

const OUTLOOK_CSV = [
  'First Name,Last Name,Company,Mobile Phone,Business Phone,Home Phone,E-mail Address',
  'Jane,Doe,Doe Plumbing,+1 (212) 555-0100,212-555-0199,,jane@doe.example',
  'Bob,,,"abc; 917 555 0100",,,',
  ',,,,,,nobody@example.com',
  'Carl,Smith,,nonsense,,,',
  '"Quoted, Name",,"Acme, Inc.",,,"(646) 555-0142 | 646 555 0143",',
  ',,Walk-in Clinic,,0044 20 7946 0958,,',
  'Zed,Unclosed,,"212 555 0177,,,',
  '',
].join('\r\n');

describe('contacts import (CSV)', () => {
  it('imports the good rows, reports the bad ones, and does not duplicate on re-import', async () => {
    const file = write('outlook.csv', OUTLOOK_CSV);
    const first = await cli('import', '--account', 'acme', file);
    expect(first.code).toBe(1);
    expect(first.stdout).toContain('Imported 4 contacts into account acme');
    expect(first.stdout).toContain('4 new, 0 updated, 0 unchanged');
    expect(first.stdout).toContain('Note: ignored columns: E-mail Address');
    expect(first.stdout).toContain('line 3: left out "abc": not a phone number that can be read');
    expect(first.stderr).toContain('3 not imported:');
    expect(first.stderr).toMatch(/line \d+: could not be read as CSV \(Quote Not Closed.*\); check the quotes on this line and the lines before it/);
    expect(first.stderr).toContain('line 4: name is required');
    expect(first.stderr).toMatch(/line 5: a contact needs at least one phone number.*"nonsense" could not be read/);

    const contacts = await listContacts('acme');
    expect(contacts.map(({ name, company, phone_numbers, source }) => ({ name, company, phone_numbers, source }))).toEqual([
      { name: 'Bob', company: null, phone_numbers: [{ number: '+19175550100', label: 'mobile' }], source: 'native' },
      {
        name: 'Jane Doe',
        company: 'Doe Plumbing',
        phone_numbers: [
          { number: '+12125550100', label: 'mobile' },
          { number: '+12125550199', label: 'work' },
        ],
        source: 'native',
      },
      {
        name: 'Quoted, Name',
        company: 'Acme, Inc.',
        phone_numbers: [
          { number: '+16465550142', label: 'home' },
          { number: '+16465550143', label: 'home' },
        ],
        source: 'native',
      },
      { name: 'Walk-in Clinic', company: 'Walk-in Clinic', phone_numbers: [{ number: '+442079460958', label: 'work' }], source: 'native' },
    ]);

    const again = await cli('import', '--account', 'acme', file, '--json');
    expect(again.code).toBe(1);
    const report = JSON.parse(again.stdout) as { created: number; updated: number; unchanged: number; rejected: unknown[] };
    expect(report).toMatchObject({ format: 'csv', created: 0, updated: 0, unchanged: 4 });
    expect(report.rejected).toHaveLength(3);
    expect(await listContacts('acme')).toHaveLength(4);

    // The running server finds imported contacts on the next lookup.
    expect(await lookupText('acme', '212-555-0199')).toMatch(/^Contact found: Jane Doe, company Doe Plumbing/);
  });

  it('uses an id column as the stable id, reads ";"-separated files and Google-style numbered phones', async () => {
    const google = write(
      'google.csv',
      ['ID;Name;Organization 1 - Name;Phone 1 - Type;Phone 1 - Value;Phone 2 - Type;Phone 2 - Value', 'g-1;Olivia Patel;Patel Pharmacy;* Mobile;07700 900123 ::: 07700 900124;Work;020 7946 0000', ''].join('\n'),
    );
    const first = await cli('import', '--account', 'globex', google);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('1 new');

    const renamed = write('google2.csv', fs.readFileSync(google, 'utf8').replace('Olivia Patel', 'Olivia Patel-Jones'));
    const second = await cli('import', '--account', 'globex', renamed);
    expect(second.stdout).toContain('0 new, 1 updated');

    const contacts = await listContacts('globex');
    expect(contacts).toEqual([
      expect.objectContaining({
        name: 'Olivia Patel-Jones',
        company: 'Patel Pharmacy',
        source_id: 'g-1',
        phone_numbers: [
          { number: '+447700900123', label: 'mobile' },
          { number: '+447700900124', label: 'mobile' },
          { number: '+442079460000', label: 'work' },
        ],
      }),
    ]);
    expect(await lookupText('globex', '+44 7700 900124')).toMatch(/^Contact found: Olivia Patel-Jones/);
  });

  it('explains a file it cannot use at all', async () => {
    const noPhones = write('no-phones.csv', 'name,email\nJane,jane@example.com\n');
    const missing = path.join(files, 'missing.csv');
    const [headerless, absent, badFormat, unknownAccount] = await Promise.all([
      cli('import', '--account', 'acme', noPhones),
      cli('import', '--account', 'acme', missing),
      cli('import', '--account', 'acme', noPhones, '--format', 'xlsx'),
      cli('import', '--account', 'initech', noPhones),
    ]);
    expect(headerless.code).toBe(2);
    expect(headerless.stderr).toContain('the CSV header has no phone number column');
    expect(absent.code).toBe(2);
    expect(absent.stderr).toContain(`cannot read ${missing}: ENOENT`);
    expect(badFormat.stderr).toContain('--format must be one of csv, vcard');
    expect(unknownAccount.stderr).toContain('account initech is not in the manifests; pass --personas DIR or --country CC');
  });
});

const VCARDS = [
  'BEGIN:VCARD',
  'VERSION:3.0',
  'UID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1',
  'FN:Dr. Emma Hughes',
  'N:Hughes;Emma;;Dr.;',
  'ORG:Globex Clinics;Cardiology',
  'TEL;TYPE=WORK,VOICE:020 7946 0111',
  'TEL;TYPE=CELL:+44 7700 900',
  ' 555',
  'NOTE:Folded notes are long and go on',
  '  and on.',
  'END:VCARD',
  'BEGIN:VCARD',
  'VERSION:4.0',
  'N:Grant;Hugh;;;',
  'ORG:Grant\\, Sons & Co',
  'TEL;VALUE=uri;TYPE="voice,home":tel:+1-212-555-0123;ext=7',
  'item1.TEL:001 646 555 0177',
  'item1.X-ABLabel:Office',
  'END:VCARD',
  'BEGIN:VCARD',
  'VERSION:3.0',
  'FN:No Number',
  'EMAIL:none@example.com',
  'END:VCARD',
  'BEGIN:VCARD',
  'VERSION:2.1',
  'N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=BCrgen;;;',
  'TEL;CELL;VOICE:07700 900777',
  'END:VCARD',
  'BEGIN:VCARD',
  'VERSION:3.0',
  'FN:Cut Short',
  'TEL:020 7946 0999',
  '',
].join('\r\n');

describe('contacts import (vCard)', () => {
  it('reads several cards with folded lines, escapes, parameters and tel: URIs; reports unusable cards', async () => {
    const file = write('clinic.vcf', VCARDS);
    const result = await cli('import', '--account', 'globex', file, '--json');
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as { format: string; created: number; rejected: { where: string; message: string }[] };
    expect(report.format).toBe('vcard');
    expect(report.created).toBe(3);
    expect(report.rejected).toEqual([
      { where: 'card 5 (line 31)', message: 'has no END:VCARD (is the file cut short?); it was skipped' },
      { where: 'card 3 (line 21)', message: expect.stringContaining('a contact needs at least one phone number') },
    ]);

    const contacts = (await listContacts('globex')).filter((contact) => contact.source_id !== 'g-1');
    expect(contacts.map(({ name, company, phone_numbers }) => ({ name, company, phone_numbers }))).toEqual([
      {
        name: 'Dr. Emma Hughes',
        company: 'Globex Clinics',
        phone_numbers: [
          { number: '+442079460111', label: 'work' },
          { number: '+447700900555', label: 'mobile' },
        ],
      },
      {
        name: 'Hugh Grant',
        company: 'Grant, Sons & Co',
        phone_numbers: [
          { number: '+12125550123', label: 'home' },
          { number: '+16465550177', label: null },
        ],
      },
      { name: 'Jürgen Müller', company: null, phone_numbers: [{ number: '+447700900777', label: 'mobile' }] },
    ]);
    expect(contacts[0]!.source_id).toBe('urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1');

    // Re-import: nothing new. A card changed under the same UID is updated in place.
    const changed = write('clinic-changed.vcf', VCARDS.replace('FN:Dr. Emma Hughes', 'FN:Dr. Emma Hughes-Webb'));
    const again = await cli('import', '--account', 'globex', changed, '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ created: 0, updated: 1, unchanged: 2 });
    expect(await lookupText('globex', '07700 900555')).toMatch(/^Contact found: Dr\. Emma Hughes-Webb, company Globex Clinics/);
    expect(await lookupText('acme', '+44 7700 900555')).toBe('No contact found for +44 7700 900555.');
  });

  it('finds a contact by any written form with the CLI too', async () => {
    const result = await cli('list', '--account', 'globex', '--phone', '(020) 7946 0111');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Dr\. Emma Hughes-Webb\s+Globex Clinics\s+\+442079460111 \(work\), \+447700900555 \(mobile\)\s+native/);
    const none = await cli('list', '--account', 'globex', '--phone', 'twelve');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--phone "twelve" is not a phone number that can be read');
  });
});
