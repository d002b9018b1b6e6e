/**
 * A whole server on PostgreSQL, through its real interfaces: create_lead
 * twice in one call (one lead, one case, the second answer says what it
 * replaced), the leads admin API and CSV export reading it back, and
 * check_user_availability after DND is set and cleared through the admin
 * API; the rows are in the PostgreSQL database, not in the SQLite file.
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { admin } from './helpers/admin.ts';
import { serverDatabase } from './helpers/engines.ts';
import { callHeaders, connect, startTestServer, textOf, type TestServer } from './helpers/server.ts';

const manifests: Record<string, string> = {
  'acme/account.yaml': `account_id: acme
timezone: America/New_York
users:
  - { id: u-100, name: Dana Reyes, extension: "100" }
  - { id: u-101, name: Sam Ortiz, extension: "101" }
`,
  'acme/front-desk.yaml': 'persona_id: front-desk\n',
};

let database: Awaited<ReturnType<typeof serverDatabase>>;
let server: TestServer;

beforeAll(async () => {
  database = await serverDatabase('postgres');
  server = await startTestServer({ personas: manifests, settings: { ...database.settings, rateLimitPerSecond: 0 } });
});
afterAll(async () => {
  await server?.close();
  await database?.drop();
});

it('records create_lead twice in one call as one case, and answers check_user_availability after DND set through the admin API', async () => {
  const client = await connect(server, callHeaders({ key: await server.key('acme'), call: 'pg-call-1', caller: '(212) 555-0142' }));
  try {
    const first = await client.callTool({ name: 'create_lead', arguments: { name: 'Jane Doe', intent: 'Quote for a water heater', classification: 'lead' } });
    const data = first.structuredContent as { lead_id: string; case_id: string };
    expect(textOf(first)).toBe(`Created new lead ${data.lead_id} for Jane Doe with case ${data.case_id}.`);
    const second = await client.callTool({ name: 'create_lead', arguments: { name: 'Jane Doe', intent: 'Quote for a water heater and a leaking tap' } });
    expect(textOf(second)).toBe(
      `Updated the lead of this call (case ${data.case_id} of new lead ${data.lead_id}): its intent is now "Quote for a water heater and a leaking tap", replacing "Quote for a water heater".`,
    );
    expect(second.structuredContent).toEqual({ ...data, lead_status: 'new', case_status: 'updated', phone_number: '+12125550142', replaced_intent: 'Quote for a water heater' });

    const adminKey = await server.key('acme', 'admin');
    const leads = (await admin(server, adminKey, 'GET', 'acme/leads')).json;
    expect(leads.leads).toHaveLength(1);
    expect(leads.leads[0]).toMatchObject({ id: data.lead_id, phone_number: '+12125550142', classification: 'lead' });
    expect(leads.leads[0].cases).toEqual([expect.objectContaining({ id: data.case_id, call_id: 'pg-call-1', intent: 'Quote for a water heater and a leaking tap', classification: 'lead' })]);
    const csv = await admin(server, adminKey, 'GET', 'acme/leads?format=csv');
    expect(csv.text.split('\r\n').filter((line) => line.startsWith('cs_'))).toEqual([expect.stringContaining(`${data.case_id},`)]);

    const check = async () => {
      const result = await client.callTool({ name: 'check_user_availability', arguments: { user_id: 'Sam' } });
      return { text: textOf(result), data: result.structuredContent as { available: boolean; dnd: { enabled: boolean } } };
    };
    expect((await check()).text).toBe('Sam Ortiz is available.');
    const set = await admin(server, adminKey, 'PUT', 'acme/users/u-101/dnd', { reason: 'dentist appointment' });
    expect(set.status).toBe(200);
    expect(set.json).toMatchObject({ user_id: 'u-101', available: false, dnd: { enabled: true, reason: 'dentist appointment', updated_by: expect.stringMatching(/^api:/) } });
    const onDnd = await check();
    expect(onDnd.text).toBe('Sam Ortiz is on Do-Not-Disturb and cannot take calls now.');
    expect(onDnd.data).toMatchObject({ available: false, dnd: { enabled: true } });
    expect((await admin(server, adminKey, 'GET', 'acme/users')).json.users.map((user: { user_id: string; available: boolean }) => [user.user_id, user.available])).toEqual([
      ['u-100', true],
      ['u-101', false],
    ]);
    expect((await admin(server, adminKey, 'DELETE', 'acme/users/u-101/dnd')).json.available).toBe(true);
    expect((await check()).text).toBe('Sam Ortiz is available.');
  } finally {
    await client.close();
  }

  // The server wrote to PostgreSQL.
  const direct = new pg.Client({ connectionString: database.settings.databaseUrl });
  await direct.connect();
  try {
    expect((await direct.query('SELECT call_id, intent FROM lead_cases')).rows).toEqual([{ call_id: 'pg-call-1', intent: 'Quote for a water heater and a leaking tap' }]);
    expect((await direct.query('SELECT user_id, enabled FROM user_dnd')).rows).toEqual([{ user_id: 'u-101', enabled: 0 }]);
  } finally {
    await direct.end();
  }
});
