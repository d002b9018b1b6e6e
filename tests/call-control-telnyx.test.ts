/**
 * Call control with the telnyx driver, end to end: an official MCP client
 * calls the tools of a real server that knows its public URL; the driver
 * talks REST to a fake Telnyx that checks the bearer key and the documented
 * request bodies, and that reports transfer legs by webhooks signed with its
 * own Ed25519 key (helpers/fake-telnyx.ts). Covers transfers (connected, busy
 * then the fallback, no answer back to the agent), hang-ups (and one on a
 * call already over), Telnyx unreachable and back, a refused API key, a
 * missing secret, no public URL, the caller's leg ending the call, and
 * forged, stale, unsigned or foreign webhooks; plus the table of hang-up
 * causes.
 */
import { generateKeyPairSync } from 'node:crypto';

import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { legHangup, callerGone } from '../engine/calls/drivers/telnyx/outcomes.ts';
import { readPublicKey } from '../engine/calls/drivers/telnyx/signature.ts';
import { FakeTelnyx } from './helpers/fake-telnyx.ts';
import { adminRequest } from './helpers/pbx.ts';
import { callHeaders, connect, eventually, freePort, startTestServer, textOf, type TestServer } from './helpers/server.ts';

let fake: FakeTelnyx;
let server: TestServer;
const clients: Client[] = [];

const account = (id: string, apiBase: string, secretName: string, publicKey: string) => `
account_id: ${id}
timezone: America/New_York
users:
  - { id: u-100, name: Dana Reyes, extension: "100" }
  - { id: u-101, name: Lee Park, extension: "101" }
queues:
  - { id: q-sales, name: Sales, extension: "600" }
transfer_policy:
  allow: ["+1NXXNXXXXXX"]
call_control:
  driver: telnyx
  api_key: ${secretName}
  public_key: "${publicKey}"
  api_base: ${apiBase}
  caller_id: "+12125550100"
  endpoint_template: "sip:{destination}@acme.sip.telnyx.com"
  ring_timeout_seconds: 1
  hangup_delay_seconds: 0.1
`;

const persona = `
persona_id: front-desk
tools:
  - { type: transfer_to_user, name: transfer_to_dana, description: Transfer to Dana., user: u-100, on_no_answer: fallback, fallback: [{ queue: q-sales }] }
  - { type: transfer_to_user, name: transfer_to_lee, description: Transfer to Lee., user: u-101, on_no_answer: return }
`;

async function call(callId: string, accountId = 'acme', target: TestServer = server): Promise<Client> {
  const client = await connect(target, callHeaders({ key: await target.key(accountId), account: accountId, persona: 'front-desk', call: callId, caller: '+12125550199' }));
  clients.push(client);
  return client;
}

const admin = async (method: string, path: string, accountId = 'acme', body?: unknown) => adminRequest(server.url, await server.key(accountId, 'admin'), method, `/ucp/v2/accounts/${accountId}${path}`, body);
const callInfo = async (callId: string, accountId = 'acme') => (await admin('GET', `/calls/${encodeURIComponent(callId)}`, accountId)).body;
const eventsUrl = (accountId = 'acme') => `${server.url}/ucp/v2/pbx/${accountId}/telnyx/events`;

async function phoneSystem(accountId: string, target: TestServer = server): Promise<{ state: string; reason: string | null }> {
  const body = (await (await fetch(new URL('/readyz', target.url))).json()) as { phone_systems: { account: string; state: string; reason: string | null }[] };
  const entry = body.phone_systems.find((candidate) => candidate.account === accountId);
  if (!entry) throw new Error(`no phone system for ${accountId}`);
  return entry;
}

const transfersOf = (callControlId: string) => fake.requests.filter((request) => request.path === `/v2/calls/${callControlId}/actions/transfer`);
const NOT_CONNECTED = (label: string) => `The phone system is not connected right now, so the call was not transferred to ${label}. Tell the caller and offer to take a message instead.`;
const decodeState = (state: unknown) => JSON.parse(Buffer.from(String(state), 'base64').toString('utf8')) as unknown;

beforeAll(async () => {
  // Ring times are read in tenths: a no-answer with timeout_secs 5 rings half a second.
  fake = await FakeTelnyx.start({ timeScale: 0.1 });
  const port = await freePort();
  server = await startTestServer({
    personas: {
      'acme/account.yaml': account('acme', fake.url, 'ACME_TELNYX_KEY', fake.publicKey),
      'acme/front-desk.yaml': persona,
      'globex/account.yaml': account('globex', fake.url, 'GLOBEX_TELNYX_KEY', fake.publicKey),
      'globex/front-desk.yaml': persona,
      'initech/account.yaml': account('initech', fake.url, 'INITECH_TELNYX_KEY', fake.publicKey),
      'initech/front-desk.yaml': persona,
      'hooli/account.yaml': account('hooli', 'http://127.0.0.1:1', 'ACME_TELNYX_KEY', fake.publicKey),
      'hooli/front-desk.yaml': persona,
    },
    env: { ACME_TELNYX_KEY: fake.apiKey, GLOBEX_TELNYX_KEY: 'KEY_not_the_telnyx_key' },
    // Telnyx must know where to send webhooks before the server starts; the fake listens on loopback.
    settings: { port, publicUrl: `http://127.0.0.1:${port}`, outboundAllow: ['127.0.0.1'] },
  });
  await eventually(async () => ((await phoneSystem('acme')).state === 'up' ? true : undefined), 5000, 'acme to be up');
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await server.close();
  await fake.close();
});

describe('telnyx transfers', () => {
  it('POSTs actions/transfer as documented; the new leg answering means connected', async () => {
    const callId = fake.incomingCall();
    fake.scripts.set('+12125550123', { kind: 'answer', afterMs: 30 });
    const result = await (await call(callId)).callTool({ name: 'transfer_call', arguments: { destination_number: '(212) 555-0123' } });
    expect(textOf(result)).toBe('The call was transferred to +12125550123.');

    const [request] = transfersOf(callId);
    expect(request?.status).toBe(200);
    expect(request?.headers.authorization).toBe(`Bearer ${fake.apiKey}`);
    const info = await callInfo(callId);
    const command = (info.commands as { idempotency_key: string; id: number; outcome: string; driver: string }[])[0];
    expect(request?.json).toEqual({
      to: '+12125550123',
      from: '+12125550100',
      timeout_secs: 5,
      webhook_url: eventsUrl(),
      target_leg_client_state: expect.any(String),
      command_id: command?.idempotency_key,
    });
    expect(decodeState(request?.json?.target_leg_client_state)).toEqual({ switchboard_command: command?.id });
    expect(command).toMatchObject({ outcome: 'connected', driver: 'telnyx' });
    expect(info.call).toMatchObject({ state: 'transferred', transferred_to: '+12125550123' });
    // call.bridged follows call.answered: recorded in the history, the verdict is already in.
    const history = async () => ((await callInfo(callId)).events as { type: string }[]).map((event) => event.type);
    await eventually(async () => ((await history()).includes('command_bridged') ? true : undefined));
    expect(await history()).toEqual(['call_started', 'command_queued', 'command_dialing', 'command_answered', 'command_succeeded', 'command_bridged']);
    // The caller's own leg keeps the client state its owner gave it.
    expect(fake.leg(callId)?.clientState).toBeNull();
    expect(fake.deliveries.filter((delivery) => delivery.url === eventsUrl()).every((delivery) => delivery.status === 200)).toBe(true);
    expect(server.logLines.join('\n')).not.toContain(fake.apiKey);
  });

  it('the call is over when the destination of a connected transfer hangs up', async () => {
    const callId = fake.incomingCall();
    const client = await call(callId);
    expect(textOf(await client.callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550124' } }))).toBe('The call was transferred to +12125550124.');
    await fake.destinationHangsUp(callId);
    expect((await callInfo(callId)).call).toMatchObject({ state: 'ended', transferred_to: '+12125550124', end_reason: 'the transferred call ended' });
  });

  it('on busy tries the fallback, which connects; extensions are dialed through endpoint_template', async () => {
    const callId = fake.incomingCall();
    fake.scripts.set('sip:100@acme.sip.telnyx.com', { kind: 'busy', afterMs: 20 });
    fake.scripts.set('sip:600@acme.sip.telnyx.com', { kind: 'answer', afterMs: 20 });
    const result = await (await call(callId)).callTool({ name: 'transfer_to_dana', arguments: {} });
    expect(textOf(result)).toBe('Dana Reyes (extension 100) is busy. The call was transferred to Sales (extension 600).');
    expect(transfersOf(callId).map((request) => request.json?.to)).toEqual(['sip:100@acme.sip.telnyx.com', 'sip:600@acme.sip.telnyx.com']);
    const commands = (await callInfo(callId)).commands as { outcome: string; reason: string | null }[];
    expect(commands.map((command) => command.outcome)).toEqual(['busy', 'connected']);
    expect(commands[0]?.reason).toBe('the line is busy (user_busy, SIP 486)');
  });

  it('on no answer returns to the agent with the caller still on the line', async () => {
    const callId = fake.incomingCall();
    fake.scripts.set('sip:101@acme.sip.telnyx.com', { kind: 'no_answer' });
    const result = await (await call(callId)).callTool({ name: 'transfer_to_lee', arguments: {} });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('Lee Park (extension 101) did not answer within 1 second. The caller is still with you: offer to take a message or to try someone else.');
    const info = await callInfo(callId);
    expect(info.call).toMatchObject({ state: 'active' });
    expect((info.commands as { outcome: string; reason: string }[])[0]).toMatchObject({ outcome: 'no_answer', reason: 'no answer before the ring time ran out (timeout, SIP 487)' });
    expect(fake.leg(callId)?.state).toBe('active');
  });

  it('passes a Telnyx refusal on with its reason', async () => {
    // The caller's leg is over, and nobody told the server.
    const callId = fake.incomingCall();
    await fake.callerHangsUp(callId);
    const result = await (await call(callId)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550123' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe("The phone system did not transfer the call to +12125550123 (the caller's call has already ended). Tell the caller and offer to take a message instead.");
    expect(transfersOf(callId).map((request) => request.status)).toEqual([422]);
    expect((await callInfo(callId)).call).toMatchObject({ state: 'active' });
  });
});

describe('telnyx hang-up', () => {
  it('POSTs actions/hangup after the delay and ends the call', async () => {
    const callId = fake.incomingCall();
    const client = await call(callId);
    expect(textOf(await client.callTool({ name: 'hangup_call', arguments: {} }))).toBe('The call will be hung up in 0.1 seconds; finish your goodbye now.');
    const request = await eventually(() => fake.requests.find((candidate) => candidate.path === `/v2/calls/${callId}/actions/hangup`));
    expect(request.status).toBe(200);
    const command = ((await callInfo(callId)).commands as { idempotency_key: string }[])[0];
    expect(request.json).toEqual({ command_id: command?.idempotency_key });
    expect(fake.leg(callId)?.state).toBe('ended');
    await eventually(async () => ((await callInfo(callId)).call as { state: string }).state === 'ended' || undefined);
    await eventually(() => client.listTools().then(() => undefined, () => true), 5000, 'the session to close');
  });

  it('counts "call has already ended" as done', async () => {
    const callId = fake.incomingCall();
    await fake.callerHangsUp(callId);
    const client = await call(callId);
    await client.callTool({ name: 'hangup_call', arguments: {} });
    const info = await eventually(async () => {
      const body = await callInfo(callId);
      return (body.call as { state: string }).state === 'ended' ? body : undefined;
    });
    expect((info.commands as { status: string }[])[0]).toMatchObject({ status: 'succeeded' });
    expect(fake.requests.find((candidate) => candidate.path === `/v2/calls/${callId}/actions/hangup`)?.status).toBe(422);
  });
});

describe("the caller's leg", () => {
  it('ends the call when Telnyx reports its call.hangup', async () => {
    const callId = fake.incomingCall({ webhookUrl: eventsUrl() });
    const client = await call(callId);
    await client.listTools();
    await admin('POST', '/calls', 'acme', { call_id: callId });
    await fake.callerHangsUp(callId);
    expect(fake.deliveries.find((delivery) => delivery.callControlId === callId && delivery.eventType === 'call.hangup')?.status).toBe(200);
    expect((await callInfo(callId)).call).toMatchObject({ state: 'ended', end_reason: 'the caller hung up (normal_clearing)' });
    await eventually(() => client.listTools().then(() => undefined, () => true), 5000, 'the session to close');
  });
});

describe('telnyx webhooks', () => {
  it('refuses forged, stale and unsigned webhooks with 403 and changes nothing', async () => {
    const callId = fake.incomingCall();
    await admin('POST', '/calls', 'acme', { call_id: callId });
    const hangup = { call_control_id: callId, hangup_cause: 'normal_clearing', hangup_source: 'caller', client_state: null };
    const impostor = generateKeyPairSync('ed25519').privateKey;
    expect(await fake.deliver(eventsUrl(), 'call.hangup', hangup, { signWith: impostor })).toBe(403);
    expect(await fake.deliver(eventsUrl(), 'call.hangup', hangup, { timestamp: Math.floor(Date.now() / 1000) - 600 })).toBe(403);
    expect(await fake.deliver(eventsUrl(), 'call.hangup', hangup, { unsigned: true })).toBe(403);
    expect(await fake.deliver(`${server.url}/ucp/v2/pbx/acme/telnyx/other`, 'call.hangup', hangup)).toBe(404);
    const info = await callInfo(callId);
    expect(info.call).toMatchObject({ state: 'active' });
    expect((info.events as { type: string }[]).map((event) => event.type)).toEqual(['call_registered']);
  });

  it("ignores an event about another account's command", async () => {
    const callId = fake.incomingCall();
    fake.scripts.set('+12125550177', { kind: 'answer', afterMs: 1500 });
    const pending = (await call(callId)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550177' } });
    const command = await eventually(async () => ((await callInfo(callId)).commands as { id: number; status: string }[] | undefined)?.[0]);
    const state = Buffer.from(JSON.stringify({ switchboard_command: command.id })).toString('base64');
    // Signed by Telnyx, but sent to globex's URL: globex's driver may not settle acme's command.
    expect(await fake.deliver(eventsUrl('globex'), 'call.answered', { call_control_id: 'v3:someone-else', client_state: state })).toBe(200);
    expect(((await callInfo(callId)).commands as { status: string }[])[0]?.status).toBe('pending');
    expect(textOf(await pending)).toBe('The call was transferred to +12125550177.');
  });
});

describe('telnyx health', () => {
  it('a refused API key is down with the reason, and a transfer fails at once', async () => {
    await eventually(async () => ((await phoneSystem('globex')).state === 'down' ? true : undefined));
    expect((await phoneSystem('globex')).reason).toBe('Telnyx refused the API key (HTTP 401)');
    const callId = fake.incomingCall();
    const result = await (await call(callId, 'globex')).callTool({ name: 'transfer_call', arguments: { destination_number: '101' } });
    expect(textOf(result)).toBe(NOT_CONNECTED('Lee Park (extension 101)'));
    expect(transfersOf(callId)).toHaveLength(0);
    expect(server.logLines.join('\n')).not.toContain('KEY_not_the_telnyx_key');
  });

  it('a missing secret is down with its name, and a transfer fails at once', async () => {
    expect(await phoneSystem('initech')).toMatchObject({ state: 'down', reason: 'secret INITECH_TELNYX_KEY is not set (environment variable or secrets file)' });
    const result = await (await call(fake.incomingCall(), 'initech')).callTool({ name: 'transfer_call', arguments: { destination_number: '101' } });
    expect(textOf(result)).toBe(NOT_CONNECTED('Lee Park (extension 101)'));
  });

  it('Telnyx unreachable is down, and a transfer fails at once', async () => {
    await eventually(async () => ((await phoneSystem('hooli')).state === 'down' ? true : undefined));
    expect((await phoneSystem('hooli')).reason).toBe('cannot reach Telnyx at 127.0.0.1:1 (ECONNREFUSED)');
    const result = await (await call(fake.incomingCall(), 'hooli')).callTool({ name: 'transfer_call', arguments: { destination_number: '101' } });
    expect(textOf(result)).toBe(NOT_CONNECTED('Lee Park (extension 101)'));
  });

  it('without a public URL it is down and says which setting is missing', async () => {
    const lone = await startTestServer({
      personas: { 'acme/account.yaml': account('acme', fake.url, 'ACME_TELNYX_KEY', fake.publicKey), 'acme/front-desk.yaml': persona },
      env: { ACME_TELNYX_KEY: fake.apiKey },
      settings: { outboundAllow: ['127.0.0.1'] },
    });
    try {
      expect(await phoneSystem('acme', lone)).toMatchObject({
        state: 'down',
        reason: "the server's public URL is not set (--public-url / SWITCHBOARD_PUBLIC_URL); Telnyx cannot report transfer outcomes",
      });
      const client = await call(fake.incomingCall(), 'acme', lone);
      expect(textOf(await client.callTool({ name: 'transfer_call', arguments: { destination_number: '101' } }))).toBe(NOT_CONNECTED('Lee Park (extension 101)'));
      await client.close();
    } finally {
      await lone.close();
    }
  });

  it('when Telnyx goes away a transfer fails at once; when it is back, transfers work again', async () => {
    await fake.stop();
    const first = fake.incomingCall();
    const failed = await (await call(first)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550188' } });
    expect(textOf(failed)).toBe(NOT_CONNECTED('+12125550188'));
    expect((await phoneSystem('acme')).state).toBe('down');
    expect((await callInfo(first)).call).toMatchObject({ state: 'active' });

    await fake.restart();
    await eventually(async () => ((await phoneSystem('acme')).state === 'up' ? true : undefined), 10_000, 'acme to be up again');
    const second = fake.incomingCall();
    const result = await (await call(second)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550188' } });
    expect(textOf(result)).toBe('The call was transferred to +12125550188.');
  });
});

describe('telnyx outcomes', () => {
  it('reads hang-up causes of a transfer leg', () => {
    const table: [string | null, string | null, string, string][] = [
      ['user_busy', '486', 'busy', 'the line is busy (user_busy, SIP 486)'],
      ['timeout', null, 'no_answer', 'no answer before the ring time ran out (timeout)'],
      ['no_answer', '480', 'no_answer', 'no answer (no_answer, SIP 480)'],
      ['call_rejected', '603', 'rejected', 'the call was declined (call_rejected, SIP 603)'],
      ['not_found', '404', 'failed', 'the destination does not exist (not_found, SIP 404)'],
      ['unallocated_number', null, 'failed', 'the number is not in service (unallocated_number)'],
      ['originator_cancel', '487', 'failed', 'the caller hung up before the destination answered (originator_cancel, SIP 487)'],
      ['normal_clearing', '486', 'busy', 'the line is busy (normal_clearing, SIP 486)'],
      ['normal_clearing', 'unspecified', 'failed', 'the destination ended the call before answering (normal_clearing)'],
      ['unspecified', '603', 'rejected', 'the call was declined (unspecified, SIP 603)'],
      ['something_new', null, 'failed', 'the call could not be put through (something_new)'],
      ['<script>', null, 'failed', 'the call could not be put through'],
    ];
    for (const [cause, sip, outcome, reason] of table) expect(legHangup(cause, sip), String(cause)).toEqual({ outcome, reason });
    expect(callerGone('normal_clearing', 'caller')).toBe('the caller hung up (normal_clearing)');
    expect(callerGone(null, 'unknown')).toBe('the phone system ended the call');
  });

  it('reads only Ed25519 public keys', () => {
    expect(readPublicKey(fake.publicKey)).toBeDefined();
    expect(readPublicKey('c2hvcnQ=')).toBeUndefined();
    expect(readPublicKey('not base64 at all, not even close to it ok')).toBeUndefined();
  });
});
