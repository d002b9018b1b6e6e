/**
 * What a transfer may reach: the account's transfer policy for transfer_call
 * (the toll-fraud guard), and the manifest's targets with Do-Not-Disturb for
 * transfer_to_user / transfer_to_queue. A PBX webhook receiver records what
 * was actually sent, so a refusal is also proven to send nothing.
 */
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { WebhookReceiver } from './helpers/pbx.ts';
import { callHeaders, connect, startTestServer, textOf, type Era, type TestServer } from './helpers/server.ts';

const SECRET = 'policy-test-secret-77';
let receiver: WebhookReceiver;
let server: TestServer;
const clients: Client[] = [];

const callControl = (url: string) => `call_control: { driver: webhook, url: "${url}", secret: PBX_SECRET }`;

async function newCall(account = 'acme', persona = 'desk', era: Era = 'legacy'): Promise<Client> {
  const client = await connect(server, callHeaders({ key: await server.key(account), account, persona, call: `p-${Math.random().toString(36).slice(2)}` }), era);
  clients.push(client);
  return client;
}

const transfer = async (number: string, account = 'acme') => (await newCall(account)).callTool({ name: 'transfer_call', arguments: { destination_number: number } });

beforeAll(async () => {
  receiver = await new WebhookReceiver(SECRET).start();
  server = await startTestServer({
    env: { PBX_SECRET: SECRET },
    // The PBX of these tests listens on loopback, which the outbound guard refuses unless allowed.
    settings: { outboundAllow: ['127.0.0.1'] },
    personas: {
      'acme/account.yaml': `
account_id: acme
timezone: America/New_York
users:
  - { id: u-100, name: Dana Reyes, extension: "100", voicemail: "8100" }
  - { id: u-101, name: Sam Ortiz, extension: "101" }
  - { id: u-102, name: Kim Lee, extension: "102" }
  - { id: u-103, name: Ali Khan, extension: "103" }
queues:
  - { id: q-sales, name: Sales, extension: "600" }
transfer_policy:
  allow: ["2XX", "+1NXXNXXXXXX", "+44."]
  deny: ["+1900NXXXXXX", "+1212555013X", "205", "101"]
${callControl(receiver.url)}
`,
      'acme/desk.yaml': `
persona_id: desk
tools:
  - { type: transfer_to_user, name: transfer_to_dana, description: Transfer to Dana., user: u-100, on_dnd: voicemail }
  - { type: transfer_to_user, name: transfer_to_kim, description: Transfer to Kim., user: u-102 }
  - { type: transfer_to_user, name: transfer_to_ali, description: Transfer to Ali., user: u-103, on_dnd: transfer }
  - { type: transfer_to_queue, name: transfer_to_sales, description: Send the caller to the sales team., queue: q-sales }
`,
      'acme/denied-target.yaml': `
persona_id: denied-target
tools:
  - { type: transfer_to_user, name: transfer_to_sam, description: Transfer to Sam., user: u-101 }
`,
      // No transfer_policy: only the users' and queues' extensions.
      'globex/account.yaml': `
account_id: globex
timezone: Europe/London
default_country: GB
users:
  - { id: dr-hughes, name: Dr. Emma Hughes, extension: "2001" }
queues:
  - { id: reception, name: Reception, extension: "2000" }
${callControl(receiver.url)}
`,
      'globex/desk.yaml': 'persona_id: desk\n',
      // The United States and Canada by the numbering plan's regions, not by digits.
      'initech/account.yaml': `
account_id: initech
timezone: America/Chicago
transfer_policy:
  allow: ["+1 US/CA"]
${callControl(receiver.url)}
`,
      'initech/desk.yaml': 'persona_id: desk\n',
    },
  });
});
beforeEach(() => {
  receiver.received.length = 0;
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await server.close();
  await receiver.close();
});

describe('transfer_call and the transfer policy', () => {
  it.each([
    ['(212) 555-0100', '+12125550100', 'The call was transferred to +12125550100.'],
    ['+44 20 7946 0958', '+442079460958', 'The call was transferred to +442079460958.'],
    ['250', '250', 'The call was transferred to 250.'],
    ['100', '100', 'The call was transferred to Dana Reyes (extension 100).'],
    ['6 0 0', '600', 'The call was transferred to Sales (extension 600).'],
  ])('allows %s', async (number, dialed, text) => {
    const result = await transfer(number);
    expect(textOf(result)).toBe(text);
    expect(receiver.received.map((request) => request.json.destination)).toEqual([dialed]);
  });

  it.each([
    ['1-900-555-0100', 'denied', '+19005550100', 'Transfers to +19005550100 are blocked by this office\'s transfer policy.'],
    ['+44 909 879 0000', 'premium_rate', '+449098790000', '+449098790000 is a premium-rate number, and transfers to premium-rate numbers are never allowed.'],
    ['212 555 0134', 'denied', '+12125550134', 'Transfers to +12125550134 are blocked'],
    ['205', 'denied', '205', 'Transfers to 205 are blocked'],
    ['101', 'denied', '101', 'Transfers to 101 are blocked'],
    ['+33 1 42 68 53 00', 'not_allowed', '+33142685300', '+33142685300 is not a number this assistant may transfer to.'],
    ['999', 'not_allowed', '999', '999 is not a number this assistant may transfer to.'],
  ])('refuses %s (%s)', async (number, reason, dial, text) => {
    const result = await transfer(number);
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain(text);
    expect(result.structuredContent).toMatchObject({ error: { code: 'TOOL_REFUSED', status: 'refused', reason, destination: dial } });
    expect(receiver.received).toHaveLength(0);
  });

  it('refuses what is not a number at all', async () => {
    const result = await transfer('my mother');
    expect(textOf(result)).toBe('"my mother" is not a phone number or extension that can be dialed. Ask the caller to repeat the number.');
  });

  it('refuses the same way through a 2026-era client', async () => {
    const client = await newCall('acme', 'desk', 'modern');
    const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '+1 900 555 0100' } });
    expect(result.structuredContent).toMatchObject({ error: { reason: 'denied' } });
  });

  it('allows only the users\' and queues\' extensions without a policy', async () => {
    expect(textOf(await transfer('2001', 'globex'))).toBe('The call was transferred to Dr. Emma Hughes (extension 2001).');
    expect(textOf(await transfer('2000', 'globex'))).toBe('The call was transferred to Reception (extension 2000).');
    for (const number of ['2002', '020 7946 0958', '+1 212 555 0100']) {
      expect((await transfer(number, 'globex')).structuredContent).toMatchObject({ error: { reason: 'not_allowed' } });
    }
    expect(receiver.received).toHaveLength(2);
  });

  it('records every refusal as a call event', async () => {
    const { calls } = server.running.services;
    const recent = await calls.store.listCalls('acme', { limit: 1000 });
    const refusals = (await Promise.all(recent.map((call) => calls.store.eventsOfCall('acme', call.callId)))).flat().filter((event) => event.type === 'command_refused');
    expect(refusals.map((event) => event.detail?.reason)).toEqual(expect.arrayContaining(['denied', 'premium_rate', 'not_allowed', 'invalid_number']));
  });
});

describe('region classes (+1 US/CA)', () => {
  it.each([
    ['(212) 555-0100', '+12125550100'],
    ['+1 416 555 0123', '+14165550123'],
    ['1-800-555-0100', '+18005550100'],
  ])('allows %s, a number of the United States or Canada', async (number, dialed) => {
    expect(textOf(await transfer(number, 'initech'))).toBe(`The call was transferred to ${dialed}.`);
    expect(receiver.received.map((request) => request.json.destination)).toEqual([dialed]);
  });

  // The other countries of +1: the classic one-ring fraud destinations that +1NXXNXXXXXX lets through.
  it.each([
    ['+1 876 210 1234', '+18762101234'],
    ['1 (809) 555-1234', '+18095551234'],
    ['+1 284 555 1234', '+12845551234'],
    ['+1 649 555 1234', '+16495551234'],
    ['+1 268 555 1234', '+12685551234'],
    ['+44 20 7946 0958', '+442079460958'],
  ])('refuses %s, which is not', async (number, dial) => {
    const result = await transfer(number, 'initech');
    expect(result.structuredContent).toMatchObject({ error: { code: 'TOOL_REFUSED', reason: 'not_allowed', destination: dial } });
    expect(receiver.received).toHaveLength(0);
  });

  it('still refuses premium-rate numbers of the United States', async () => {
    expect((await transfer('+1 900 555 0100', 'initech')).structuredContent).toMatchObject({ error: { reason: 'premium_rate' } });
  });

  it('logs a policy that opens whole international ranges as a warning, and loads it', async () => {
    const warnings = server.logLines.map((line) => JSON.parse(line) as { event?: string; level?: number; msg?: string }).filter((line) => line.event === 'manifest_warning');
    expect(warnings.map((line) => line.msg)).toEqual([
      expect.stringMatching(/^acme\/account\.yaml:\d+:\d+: warning: transfer_policy\.allow\[1\]: "\+1NXXNXXXXXX" allows every country that shares \+1/),
      expect.stringMatching(/^acme\/account\.yaml:\d+:\d+: warning: transfer_policy\.allow\[2\]: "\+44\." allows every country that shares \+44/),
    ]);
    expect(server.running.registry.current().accounts.has('acme')).toBe(true);
    expect(server.running.registry.current().problems.filter((problem) => problem.file === 'acme/account.yaml')).toEqual([]);
  });
});

describe('the example personas', () => {
  it('refuse the other countries of +1 while the US and Canada stay allowed', async () => {
    const examples = await startTestServer();
    try {
      const call = async (number: string) => {
        const client = await connect(examples, callHeaders({ key: await examples.key('acme'), account: 'acme', persona: 'front-desk', call: `ex-${number.replace(/\D/g, '')}` }));
        try {
          return await client.callTool({ name: 'transfer_call', arguments: { destination_number: number } });
        } finally {
          await client.close();
        }
      };
      for (const number of ['+1 876 210 1234', '+1 809 555 1234', '+1 284 555 1234', '+1 649 555 1234']) {
        expect((await call(number)).structuredContent).toMatchObject({ error: { code: 'TOOL_REFUSED', reason: 'not_allowed' } });
      }
      // Allowed by the policy: the refusal, if any, is no longer the policy's (no phone system is connected here).
      expect((await call('+1 416 555 0123')).structuredContent).not.toMatchObject({ error: { code: 'TOOL_REFUSED' } });
      expect(examples.running.registry.current().warnings).toEqual([]);
    } finally {
      await examples.close();
    }
  });
});

describe('transfer_to_user and transfer_to_queue', () => {
  const dnd = (user: string, enabled: boolean, until: number | null = null) => server.running.services.dnd.set('acme', user, { enabled, until, by: 'test' });

  it('lists the manifest tools with their names and descriptions, without arguments', async () => {
    const { tools } = await (await newCall()).listTools();
    const sales = tools.find((tool) => tool.name === 'transfer_to_sales');
    expect(sales).toMatchObject({ description: 'Send the caller to the sales team.', inputSchema: { type: 'object', properties: {} }, annotations: { destructiveHint: true, readOnlyHint: false } });
    // Call-control tools in tools/list order (the other global tools sit between them).
    expect(tools.map((tool) => tool.name).filter((name) => name.startsWith('transfer_') || name === 'hangup_call')).toEqual(['transfer_call', 'hangup_call', 'transfer_to_dana', 'transfer_to_kim', 'transfer_to_ali', 'transfer_to_sales']);
  });

  it('transfers a user who is available', async () => {
    await dnd('u-102', false);
    const result = await (await newCall()).callTool({ name: 'transfer_to_kim', arguments: {} });
    expect(textOf(result)).toBe('The call was transferred to Kim Lee (extension 102).');
    expect(receiver.received[0]?.json).toMatchObject({ destination: '102', target: { kind: 'user', id: 'u-102', name: 'Kim Lee' } });
  });

  it('refuses a user on Do-Not-Disturb by default, and sends nothing', async () => {
    await dnd('u-102', true, Date.now() + 2 * 3600_000);
    const result = await (await newCall()).callTool({ name: 'transfer_to_kim', arguments: {} });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^Kim Lee is on Do-Not-Disturb until \w*\s?\d{1,2}:\d{2} [AP]M and cannot take the call\. Offer to take a message instead\.$/);
    expect(result.structuredContent).toMatchObject({ error: { code: 'TOOL_REFUSED', reason: 'dnd', user_id: 'u-102' } });
    expect(receiver.received).toHaveLength(0);
  });

  it('sends a caller to voicemail when the manifest says on_dnd: voicemail', async () => {
    await dnd('u-100', true);
    const result = await (await newCall()).callTool({ name: 'transfer_to_dana', arguments: {} });
    expect(textOf(result)).toBe('Dana Reyes is on Do-Not-Disturb. The call was transferred to the voicemail of Dana Reyes (8100).');
    expect(result.structuredContent).toMatchObject({ status: 'transferred', destination: '8100', user_dnd: true, target: { kind: 'voicemail', id: 'u-100' } });
    expect(receiver.received[0]?.json).toMatchObject({ destination: '8100', target: { kind: 'voicemail' } });
  });

  it('transfers anyway when the manifest says on_dnd: transfer', async () => {
    await dnd('u-103', true);
    const result = await (await newCall()).callTool({ name: 'transfer_to_ali', arguments: {} });
    expect(textOf(result)).toBe('Ali Khan is on Do-Not-Disturb. The call was transferred to Ali Khan (extension 103).');
    expect(receiver.received[0]?.json).toMatchObject({ destination: '103' });
  });

  it('refuses to load a persona whose target a deny pattern blocks', () => {
    const problems = server.running.registry.current().problems.map((problem) => `${problem.file}: ${problem.message}`);
    expect(problems).toContain('acme/denied-target.yaml: extension 101 of user "u-101" is blocked by the transfer_policy deny pattern 101');
  });
});
