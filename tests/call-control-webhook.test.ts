/**
 * Call control with the webhook driver against a real local PBX endpoint:
 * signatures checked with the documented algorithm, the idempotency key,
 * retries (and when there are none), time-outs, 202 with a later
 * acknowledgement, and hang-ups.
 */
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { adminRequest, WebhookReceiver } from './helpers/pbx.ts';
import { callHeaders, connect, eventually, startTestServer, textOf, type TestServer } from './helpers/server.ts';

const SECRET = 'whsec-test-4f1c2a9e7b';
let receiver: WebhookReceiver;
let server: TestServer;
let mcpKey: string;
let adminKey: string;
const clients: Client[] = [];

const account = (id: string, url: string, secret: string, extra = '') => `
account_id: ${id}
timezone: Europe/London
default_country: GB
users:
  - { id: dr-hughes, name: Dr. Emma Hughes, extension: "2001" }
queues:
  - { id: reception, name: Reception, extension: "2000" }
call_control:
  driver: webhook
  url: ${url}
  secret: ${secret}
  timeout_seconds: 0.5
  retries: 2
  hangup_delay_seconds: 0.1
${extra}`;

async function call(id: string, accountId = 'globex'): Promise<Client> {
  const client = await connect(server, callHeaders({ key: accountId === 'globex' ? mcpKey : await server.key(accountId), account: accountId, persona: 'reception', call: id }));
  clients.push(client);
  return client;
}

const callInfo = async (id: string) => (await adminRequest(server.url, adminKey, 'GET', `/ucp/v2/accounts/globex/calls/${id}`)).body;

beforeAll(async () => {
  receiver = await new WebhookReceiver(SECRET).start();
  server = await startTestServer({
    personas: {
      'globex/account.yaml': account('globex', receiver.url, 'GLOBEX_PBX_SECRET'),
      'globex/reception.yaml': 'persona_id: reception\n',
      'unsigned/account.yaml': account('unsigned', receiver.url, 'NOT_SET_ANYWHERE'),
      'unsigned/reception.yaml': 'persona_id: reception\n',
      'offline/account.yaml': account('offline', 'http://127.0.0.1:1/switchboard', 'GLOBEX_PBX_SECRET'),
      'offline/reception.yaml': 'persona_id: reception\n',
      'warm/account.yaml': account('warm', receiver.url, 'GLOBEX_PBX_SECRET', '  warm: { accept: stay, briefing_url: "https://tts.globex.example/say?text={summary}", voice: Polly.Amy, language: en-GB }\n'),
      'warm/reception.yaml': 'persona_id: reception\nglobal_tools:\n  transfer_call: { mode: warm }\n',
    },
    env: { GLOBEX_PBX_SECRET: SECRET },
    // The PBX of these tests listens on loopback, which the outbound guard refuses unless allowed.
    settings: { outboundAllow: ['127.0.0.1'] },
  });
  mcpKey = await server.key('globex');
  adminKey = await server.key('globex', 'admin');
});
beforeEach(() => {
  receiver.received.length = 0;
  receiver.reply = () => ({ status: 200, body: { success: true } });
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await server.close();
  await receiver.close();
});

describe('webhook commands', () => {
  it('POSTs the signed command with an idempotency key; a 2xx means done', async () => {
    const result = await (await call('w-ok')).callTool({ name: 'transfer_call', arguments: { destination_number: '2000' } });
    expect(textOf(result)).toBe('The call was transferred to Reception (extension 2000).');
    expect(receiver.received).toHaveLength(1);
    const [request] = receiver.received;
    expect(request?.signatureValid).toBe(true);
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['x-switchboard-timestamp']).toMatch(/^\d{10}$/);
    expect(request?.headers['x-switchboard-attempt']).toBe('1');
    expect(request?.headers['idempotency-key']).toBe(request?.json.idempotency_key);
    expect(request?.json).toMatchObject({ type: 'transfer', account_id: 'globex', call_id: 'w-ok', persona_id: 'reception', destination: '2000', destination_type: 'extension', target: { kind: 'queue', id: 'reception' } });
    expect((await callInfo('w-ok')).call).toMatchObject({ state: 'transferred', transferred_to: '2000' });
    expect(server.logLines.join('\n')).not.toContain(SECRET);
  });

  it('retries 5xx and 429 with the same idempotency key, each attempt signed afresh', async () => {
    receiver.reply = (_request, index) => (index === 0 ? { status: 503 } : index === 1 ? { status: 429, headers: { 'retry-after': '0' } } : { status: 204 });
    const result = await (await call('w-retry')).callTool({ name: 'transfer_call', arguments: { destination_number: '2001' } });
    expect(textOf(result)).toBe('The call was transferred to Dr. Emma Hughes (extension 2001).');
    expect(receiver.received.map((request) => request.headers['x-switchboard-attempt'])).toEqual(['1', '2', '3']);
    expect(new Set(receiver.received.map((request) => request.headers['idempotency-key'])).size).toBe(1);
    expect(receiver.received.every((request) => request.signatureValid)).toBe(true);
    const info = await callInfo('w-retry');
    expect((info.commands as { attempts: number; status: string }[])[0]).toMatchObject({ attempts: 3, status: 'succeeded' });
    expect((info.events as { type: string; detail: { failure?: string } }[]).filter((e) => e.type === 'command_attempt_failed').map((e) => e.detail.failure)).toEqual(['HTTP 503', 'HTTP 429']);
  });

  it('does not retry a 4xx, and passes the PBX reason on', async () => {
    receiver.reply = () => ({ status: 422, body: { reason: 'extension 2001 is not registered' } });
    const result = await (await call('w-422')).callTool({ name: 'transfer_call', arguments: { destination_number: '2001' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('The phone system did not transfer the call to Dr. Emma Hughes (extension 2001) (extension 2001 is not registered). Tell the caller and offer to take a message instead.');
    expect(receiver.received).toHaveLength(1);
    expect((await callInfo('w-422')).call).toMatchObject({ state: 'active' });
  });

  it('takes {"success": false} in a 2xx answer as a refusal', async () => {
    receiver.reply = () => ({ status: 200, body: { success: false, reason: 'line busy' } });
    const result = await (await call('w-busy')).callTool({ name: 'transfer_call', arguments: { destination_number: '2000' } });
    expect(result.structuredContent).toMatchObject({ error: { code: 'TOOL_UPSTREAM', reason: 'line busy', status: 'failed' } });
  });

  it('gives up after the retries when every answer is an error', async () => {
    receiver.reply = () => ({ status: 500 });
    const result = await (await call('w-500')).callTool({ name: 'transfer_call', arguments: { destination_number: '2000' } });
    expect(textOf(result)).toContain('(HTTP 500)');
    expect(receiver.received).toHaveLength(3);
    expect((await callInfo('w-500')).call).toMatchObject({ state: 'active' });
  });

  it('reports "not confirmed" when no attempt is answered in time; an acknowledgement settles it later', async () => {
    receiver.reply = () => ({ status: 200, delayMs: 1500 });
    const result = await (await call('w-slow')).callTool({ name: 'transfer_call', arguments: { destination_number: '2000' } });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ status: 'unconfirmed' });
    expect(receiver.received).toHaveLength(3);
    const info = await callInfo('w-slow');
    // The unconfirmed transfer no longer holds the call; the late acknowledgement still counts.
    expect(info.call).toMatchObject({ state: 'active' });
    const id = (info.commands as { id: number }[])[0]?.id;
    const ack = await adminRequest(server.url, adminKey, 'POST', `/ucp/v2/accounts/globex/call-events/${id}/ack`, { success: true });
    expect(ack.body).toMatchObject({ command: { status: 'succeeded' }, call: { state: 'transferred' } });
  });

  it('waits for the acknowledgement after a 202 Accepted', async () => {
    receiver.reply = (request) => {
      setTimeout(() => void adminRequest(server.url, adminKey, 'POST', `/ucp/v2/accounts/globex/call-events/${String(request.json.id)}/ack`, { success: false, reason: 'no answer from extension' }), 50);
      return { status: 202 };
    };
    const result = await (await call('w-202')).callTool({ name: 'transfer_call', arguments: { destination_number: '2001' } });
    expect(textOf(result)).toContain('(no answer from extension)');
    // An acknowledgement may say what happened: busy is not a generic failure.
    receiver.reply = (request) => {
      setTimeout(() => void adminRequest(server.url, adminKey, 'POST', `/ucp/v2/accounts/globex/call-events/${String(request.json.id)}/ack`, { success: false, outcome: 'busy' }), 50);
      return { status: 202 };
    };
    const busy = await (await call('w-202-busy')).callTool({ name: 'transfer_call', arguments: { destination_number: '2001' } });
    expect(textOf(busy)).toBe('Dr. Emma Hughes (extension 2001) is busy. The caller is still with you: offer to take a message or to try someone else.');
    expect(busy.structuredContent).toMatchObject({ error: { status: 'busy', outcome: 'busy' } });
    // A contradiction (success with a failure outcome) is refused with a message that names the field.
    const contradiction = await adminRequest(server.url, adminKey, 'POST', `/ucp/v2/accounts/globex/call-events/${String(receiver.received[1]?.json.id)}/ack`, { success: true, outcome: 'busy' });
    expect(contradiction.status).toBe(400);
    expect(contradiction.body).toMatchObject({ error: { message: 'outcome must be one of connected, handed_over when success is true' } });
    expect(receiver.received).toHaveLength(2);
  });

  it('fails cleanly when the PBX cannot be reached or the secret is missing', async () => {
    const offline = await (await call('w-offline', 'offline')).callTool({ name: 'transfer_call', arguments: { destination_number: '2000' } });
    expect(textOf(offline)).toContain('(could not connect (ECONNREFUSED))');
    const unsigned = await (await call('w-unsigned', 'unsigned')).callTool({ name: 'transfer_call', arguments: { destination_number: '2000' } });
    expect(textOf(unsigned)).toBe('The phone system is not connected right now, so the call was not transferred to Reception (extension 2000). Tell the caller and offer to take a message instead.');
    const { body } = await adminRequest(server.url, await server.key('unsigned', 'admin'), 'GET', '/ucp/v2/accounts/unsigned/calls/w-unsigned');
    expect((body.commands as { reason: string }[])[0]?.reason).toMatch(/^the phone system is not connected: secret [A-Z_]+ is not set \(environment variable or secrets file\)$/);
    expect(receiver.received).toHaveLength(0);
  });
});

describe('webhook hang-up', () => {
  it('POSTs the hang-up after the delay and ends the call', async () => {
    const client = await call('w-bye');
    expect(textOf(await client.callTool({ name: 'hangup_call', arguments: {} }))).toBe('The call will be hung up in 0.1 seconds; finish your goodbye now.');
    const request = await eventually(() => receiver.received[0]);
    expect(request.json).toMatchObject({ type: 'hangup', call_id: 'w-bye', destination: null });
    expect(request.signatureValid).toBe(true);
    await eventually(async () => ((await callInfo('w-bye')).call as { state: string }).state === 'ended' || undefined);
    await eventually(() => client.listTools().then(() => undefined, () => true), 5000, 'the session to close');
  });
});

describe('warm transfers through the webhook', () => {
  it('sends mode, the summary, its header form and the warm settings, and reads a refusal after the briefing', async () => {
    receiver.reply = () => ({ status: 200, body: { success: false, outcome: 'rejected', reason: 'declined after the briefing' } });
    const summary = 'Needs   a repeat prescription —\nasks for Dr. Hughes.';
    const result = await (await call('w-warm', 'warm')).callTool({ name: 'transfer_call', arguments: { destination_number: '2001', summary } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('Dr. Emma Hughes (extension 2001) declined the call after the briefing. The caller is back with you: offer to take a message or to try someone else.');
    expect(result.structuredContent).toMatchObject({ error: { mode: 'warm', outcome: 'rejected', reason: 'declined after the briefing' } });
    expect(receiver.received[0]?.signatureValid).toBe(true);
    expect(receiver.received[0]?.json).toMatchObject({
      type: 'transfer',
      destination: '2001',
      mode: 'warm',
      summary,
      summary_header: 'Needs a repeat prescription asks for Dr. Hughes.',
      // The settings with their defaults: briefing tts, since the integration's phone system decides how to speak.
      warm: { accept: 'stay', accept_timeout_seconds: 10, briefing: 'tts', briefing_url: 'https://tts.globex.example/say?text={summary}', voice: 'Polly.Amy', language: 'en-GB', music_on_hold: null },
    });
  });

  it('sends a blind transfer with mode blind and no warm settings, the summary when the agent gave one', async () => {
    await (await call('w-blind-summary')).callTool({ name: 'transfer_call', arguments: { destination_number: '2000', summary: 'Booking a check-up.' } });
    await (await call('w-blind')).callTool({ name: 'transfer_call', arguments: { destination_number: '2000' } });
    expect(receiver.received.map((request) => [request.json.mode, request.json.summary, request.json.summary_header, request.json.warm])).toEqual([
      ['blind', 'Booking a check-up.', 'Booking a check-up.', null],
      ['blind', null, null, null],
    ]);
  });
});
