import path from 'node:path';

import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { admin } from './helpers/admin.ts';
import { runCli } from './helpers/cli.ts';
import { callHeaders, connect, startTestServer, textOf, type Era, type TestServer } from './helpers/server.ts';
import { basicManifests } from './helpers/test-tools.ts';

let server: TestServer;
let key: string;
let acmeAdmin: string;
let globexKey: string;
let globexAdmin: string;

beforeAll(async () => {
  server = await startTestServer({ personas: basicManifests });
  key = await server.key('acme');
  acmeAdmin = await server.key('acme', 'admin');
  globexKey = await server.key('globex');
  globexAdmin = await server.key('globex', 'admin');
});
afterAll(async () => server.close());

interface LeadData {
  lead_id: string;
  case_id: string;
  lead_status: 'new' | 'existing';
  case_status: 'created' | 'updated';
  phone_number: string | null;
  replaced_intent: string | null;
}

async function createLead(headers: { call: string; caller?: string; account?: string; persona?: string }, args: Record<string, unknown>, era: Era = 'legacy') {
  const client = await connect(server, callHeaders({ key: headers.account === 'globex' ? globexKey : key, ...headers }), era);
  try {
    const result = await client.callTool({ name: 'create_lead', arguments: args });
    return { result, text: textOf(result), data: result.structuredContent as LeadData };
  } finally {
    await client.close();
  }
}

const leadsOf = async (account: string, adminKey: string, query = '') => (await admin(server, adminKey, 'GET', `${account}/leads${query}`)).json;

describe('create_lead', () => {
  it('creates a lead for a new number, adds a case for a known number, and updates the case on a retry', async () => {
    const first = await createLead({ call: 'call-a1', caller: '+1 (212) 555-0101' }, { name: 'Jane Doe', intent: 'Leaking pipe', classification: 'lead' });
    expect(first.result.isError).toBeFalsy();
    expect(first.data).toMatchObject({ lead_status: 'new', case_status: 'created', phone_number: '+12125550101', replaced_intent: null });
    expect(first.text).toBe(`Created new lead ${first.data.lead_id} for Jane Doe with case ${first.data.case_id}.`);
    expect(first.text).toContain(first.data.lead_id);
    expect(first.text).toContain(first.data.case_id);
    expect(first.text).toMatch(/new lead/i);

    // Another call from the same number, written as a national number.
    const second = await createLead({ call: 'call-a2', caller: '212-555-0101' }, { name: 'Jane Doe', intent: 'Follow-up on the quote' }, 'modern');
    expect(second.data).toMatchObject({ lead_id: first.data.lead_id, lead_status: 'existing', case_status: 'created' });
    expect(second.data.case_id).not.toBe(first.data.case_id);
    expect(second.text).toMatch(/already has lead/);

    // The model retries within the second call with more detail: same case, updated, and the answer says what was replaced.
    const retry = await createLead({ call: 'call-a2', caller: '212-555-0101' }, { name: 'Jane Doe', intent: 'Follow-up on the quote for the kitchen', summary: 'Wants a visit Monday' });
    expect(retry.data).toEqual({ ...second.data, case_status: 'updated', replaced_intent: 'Follow-up on the quote' });
    expect(retry.text).toBe(
      `Updated the lead of this call (case ${second.data.case_id} of existing lead ${first.data.lead_id}): its intent is now "Follow-up on the quote for the kitchen", replacing "Follow-up on the quote".`,
    );
    // The same intent again changes nothing the model should worry about.
    const same = await createLead({ call: 'call-a2', caller: '212-555-0101' }, { name: 'Jane Doe', intent: 'Follow-up on the quote for the kitchen' });
    expect(same.text).toBe(`Updated the lead of this call (case ${second.data.case_id} of existing lead ${first.data.lead_id}): the intent is the same as before.`);
    expect(same.data.replaced_intent).toBeNull();

    // A retry within the first call still says the lead was created by this call.
    const retryFirst = await createLead({ call: 'call-a1', caller: '+12125550101' }, { name: 'Jane Doe', intent: 'Leaking pipe under the sink' });
    expect(retryFirst.data).toMatchObject({ lead_id: first.data.lead_id, case_id: first.data.case_id, lead_status: 'new', case_status: 'updated' });

    const { leads } = await leadsOf('acme', acmeAdmin);
    const lead = leads.find((item: { id: string }) => item.id === first.data.lead_id);
    expect(lead).toMatchObject({ phone_number: '+12125550101', name: 'Jane Doe', classification: 'lead' });
    expect(lead.cases).toHaveLength(2);
    expect(lead.cases[0]).toMatchObject({ id: first.data.case_id, call_id: 'call-a1', intent: 'Leaking pipe under the sink', classification: 'lead', persona_id: 'front-desk' });
    expect(lead.cases[1]).toMatchObject({ id: second.data.case_id, call_id: 'call-a2', intent: 'Follow-up on the quote for the kitchen', summary: 'Wants a visit Monday', caller_id_number: '212-555-0101' });
  });

  it('says in its description that a second create_lead in a call replaces the intent', async () => {
    const client = await connect(server, callHeaders({ key }));
    try {
      const tool = (await client.listTools()).tools.find((candidate) => candidate.name === 'create_lead');
      // The hosted service's description first, word for word; the warning after it.
      expect(tool?.description).toMatch(/^Creates a new lead from the current call\. If a lead with the same phone number already exists, a new case is created and linked to the existing lead\. /);
      expect(tool?.description).toContain('calling this again in the same call updates it and replaces its intent');
    } finally {
      await client.close();
    }
  });

  it('gives each call without a caller number its own lead, and still one case per call', async () => {
    const one = await createLead({ call: 'call-anon-1' }, { name: 'Anonymous One', intent: 'Price question' });
    const two = await createLead({ call: 'call-anon-2' }, { name: 'Anonymous Two', intent: 'Price question' });
    const again = await createLead({ call: 'call-anon-1' }, { name: 'Anonymous One', intent: 'Price question for a boiler' });
    expect(one.data).toMatchObject({ lead_status: 'new', case_status: 'created', phone_number: null });
    expect(one.text).toMatch(/number is unknown/);
    expect(two.data.lead_id).not.toBe(one.data.lead_id);
    expect(again.data).toMatchObject({ lead_id: one.data.lead_id, case_id: one.data.case_id, case_status: 'updated' });
    // A caller id that is not a number ("anonymous") is kept on the case but matches nothing.
    const withheld = await createLead({ call: 'call-anon-3', caller: 'anonymous' }, { name: 'Withheld', intent: 'Complaint' });
    expect(withheld.data).toMatchObject({ lead_status: 'new', phone_number: null });
    const { leads } = await leadsOf('acme', acmeAdmin);
    expect(leads.find((lead: { id: string }) => lead.id === withheld.data.lead_id).cases[0].caller_id_number).toBe('anonymous');
  });

  it('makes one lead when several calls from the same number create leads at once', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, index) => createLead({ call: `call-burst-${index}`, caller: '+1 212 555 0177' }, { name: 'Burst Caller', intent: `Reason ${index}` })),
    );
    const leadIds = new Set(results.map((item) => item.data.lead_id));
    expect(leadIds.size).toBe(1);
    expect(results.filter((item) => item.data.lead_status === 'new')).toHaveLength(1);
    expect(new Set(results.map((item) => item.data.case_id)).size).toBe(8);
  });

  it('has committed the lead to the database file when the answer arrives', async () => {
    const created = await createLead({ call: 'call-durable', caller: '+12125550188' }, { name: 'Durable Dan', intent: 'Quote' });
    const reader = new BetterSqlite3(path.join(server.dataDir, 'switchboard.db'), { readonly: true });
    try {
      const row = reader.prepare('SELECT l.phone_e164, c.intent FROM lead_cases c JOIN leads l ON l.id = c.lead_id WHERE c.id = ?').get(created.data.case_id);
      expect(row).toEqual({ phone_e164: '+12125550188', intent: 'Quote' });
    } finally {
      reader.close();
    }
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['an unknown classification', { name: 'A', intent: 'B', classification: 'vip' }, /"classification" must be one of lead, customer, spam, other/],
    ['a name of the wrong type', { name: true, intent: 'B' }, /"name" must be a string/],
    ['an argument the tool does not take', { name: 'A', intent: 'B', email: 'a@b.example' }, /^Invalid arguments: "email" is not an argument of this tool \(its arguments: name, intent, classification, summary, notes\)\./],
    ['an empty name', { name: '', intent: 'B' }, /"name" must not be empty/],
    ['a blank name', { name: '   ', intent: 'B' }, /"name" must not be blank/],
    ['a missing intent', { name: 'A' }, /"intent" is required/],
    ['a huge intent', { name: 'A', intent: 'x'.repeat(5000) }, /"intent" must be at most 1000 characters/],
    ['a huge summary', { name: 'A', intent: 'B', summary: 'y'.repeat(10_000) }, /"summary" must be at most 4000 characters/],
  ])('refuses %s with a clear tool error and records nothing', async (_what, args, message) => {
    const call = `call-bad-${Math.random().toString(36).slice(2)}`;
    const { result, text } = await createLead({ call, caller: '+12125550199' }, args);
    expect(result.isError).toBe(true);
    expect(text).toMatch(message);
    const { leads } = await leadsOf('acme', acmeAdmin, '?limit=200');
    expect(leads.some((lead: { cases: { call_id: string }[] }) => lead.cases.some((item) => item.call_id === call))).toBe(false);
  });

  it('takes null for an optional argument as not given (OpenAI strict function schemas send it so)', async () => {
    const call = `call-null-${Math.random().toString(36).slice(2)}`;
    const { result, text } = await createLead({ call, caller: '+13125550177' }, { name: 'Ann Null', intent: 'Quote', classification: null, summary: null, notes: null });
    expect(result.isError).toBeFalsy();
    expect(text).toMatch(/^Created new lead ld_\w+ for Ann Null with case cs_\w+\.$/);
  });

  it('keeps accounts apart: the same number is a different lead in another account', async () => {
    const acme = await createLead({ call: 'call-tenant-acme', caller: '+44 20 7946 0958' }, { name: 'Shared Number', intent: 'Acme business' });
    const globex = await createLead({ account: 'globex', persona: 'reception', call: 'call-tenant-globex', caller: '020 7946 0958' }, { name: 'Shared Number', intent: 'Appointment' });
    expect(globex.data).toMatchObject({ lead_status: 'new', phone_number: '+442079460958' });
    expect(globex.data.lead_id).not.toBe(acme.data.lead_id);

    const globexLeads = (await leadsOf('globex', globexAdmin)).leads as { id: string }[];
    expect(globexLeads.map((lead) => lead.id)).toEqual([globex.data.lead_id]);
    const refused = await admin(server, globexAdmin, 'GET', 'acme/leads');
    expect(refused.status).toBe(403);
    const mcpKey = await admin(server, key, 'GET', 'acme/leads');
    expect(mcpKey.status).toBe(403);
  });
});

describe('leads admin API and CLI', () => {
  it('pages through leads with limit and cursor', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { leads: { id: string }[]; next_cursor: string | null } = await leadsOf('acme', acmeAdmin, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.leads.length).toBeLessThanOrEqual(2);
      seen.push(...page.leads.map((lead) => lead.id));
      cursor = page.next_cursor;
    } while (cursor);
    const all = (await leadsOf('acme', acmeAdmin, '?limit=200')).leads.map((lead: { id: string }) => lead.id);
    expect(seen).toEqual(all);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('refuses a bad limit, cursor or format, or an unknown parameter, with 400', async () => {
    for (const query of ['?limit=0', '?limit=500', '?limit=abc', '?cursor=bm9wZQ', '?format=xml', '?limit=1&limit=2', '?limt=5', '?limit=1e1']) {
      const response = await admin(server, acmeAdmin, 'GET', `acme/leads${query}`);
      expect(response.status, query).toBe(400);
      expect(response.json.error.code).toBe('BAD_REQUEST');
    }
  });

  it('exports every case with its lead as CSV, with formulas defused', async () => {
    const created = await createLead({ call: 'call-csv', caller: '+12125550155' }, { name: '=HYPERLINK("http://evil")', intent: 'Says "hello", twice\nand more' });
    const response = await admin(server, acmeAdmin, 'GET', 'acme/leads?format=csv');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = response.text.split('\r\n');
    expect(lines[0]).toBe('case_id,case_created_at,case_updated_at,call_id,persona_id,caller_id_number,lead_id,lead_phone_number,lead_name,name,intent,classification,summary,notes');
    const row = lines.find((line) => line.startsWith(created.data.case_id));
    expect(row).toContain(`,${created.data.lead_id},+12125550155,"'=HYPERLINK(""http://evil"")",`);
    expect(response.text).toContain('"Says ""hello"", twice\nand more"');
    // Every case of acme is there, and none of globex.
    const { leads } = await leadsOf('acme', acmeAdmin, '?limit=200');
    const cases = leads.reduce((sum: number, lead: { cases: unknown[] }) => sum + lead.cases.length, 0);
    expect(lines.filter((line) => line.startsWith('cs_'))).toHaveLength(cases);
    expect(response.text).not.toContain('call-tenant-globex');
  });

  it('lists leads with the CLI from the same data directory', async () => {
    const json = await runCli(['leads', 'list', '--account', 'acme', '--json', '--limit', '200', '--data', server.dataDir]);
    expect(json.code, json.stderr).toBe(0);
    const fromCli = JSON.parse(json.stdout) as { leads: unknown[] };
    expect(fromCli.leads).toEqual((await leadsOf('acme', acmeAdmin, '?limit=200')).leads);

    const text = await runCli(['leads', 'list', '--account', 'acme', '--limit', '1', '--data', server.dataDir]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^LEAD\s+PHONE\s+NAME/);
    expect(text.stdout).toMatch(/More leads: --cursor \S+/);

    const empty = await runCli(['leads', 'list', '--account', 'nobody', '--data', server.dataDir]);
    expect(empty.stdout).toContain('No leads in account nobody.');
    const missing = await runCli(['leads', 'list', '--data', server.dataDir]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--account is required');
  });
});
