/**
 * Call control with the twilio driver, end to end: a real server with a
 * public URL on loopback, the official MCP client calling the tools, and a
 * fake Twilio (tests/helpers/fake-twilio.ts) that takes the REST requests,
 * runs the <Dial> and makes the signed callbacks Twilio would. Also the pure
 * parts against Twilio's documented examples: the signature and the table
 * of dial statuses.
 */
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { dialResult } from '../engine/calls/drivers/twilio/outcomes.ts';
import { twilioSignature, verifyTwilioSignature } from '../engine/calls/drivers/twilio/signature.ts';
import { dialTwiml } from '../engine/calls/drivers/twilio/twiml.ts';
import { FakeTwilio, signTwilioRequest } from './helpers/fake-twilio.ts';
import { adminRequest } from './helpers/pbx.ts';
import { callHeaders, connect, eventually, freePort, startTestServer, textOf, type TestServer } from './helpers/server.ts';

const ACME_SID = `AC${'a1'.repeat(16)}`;
const NORN_SID = `AC${'b2'.repeat(16)}`;
const BAD_SID = `AC${'c3'.repeat(16)}`;
const ACME_TOKEN = 'twilio-token-acme-7d41c9e2f0';
const NORN_TOKEN = 'twilio-token-norn-55aa01bc9d';
const RETURN_URL = 'https://bridge.acme.example/twiml/agent?resume=1&from=transfer';
const NOT_CONNECTED = (label: string) => `The phone system is not connected right now, so the call was not transferred to ${label}. Tell the caller and offer to take a message instead.`;

const account = (id: string, sid: string, token: string, apiBase: string, extra = '') => `
account_id: ${id}
timezone: America/New_York
users:
  - { id: u-100, name: Dana Reyes, extension: "100" }
queues:
  - { id: q-sales, name: Sales, extension: "600" }
transfer_policy:
  allow: ["1XX", "6XX", "+1NXXNXXXXXX"]
call_control:
  driver: twilio
  account_sid: ${sid}
  auth_token: ${token}
  api_base: ${apiBase}
  ring_timeout_seconds: 1
  hangup_delay_seconds: 0.1
${extra}`;

const desk = `
persona_id: desk
tools:
  - { type: transfer_to_user, name: transfer_to_dana, description: Transfer to Dana., user: u-100, on_no_answer: fallback, fallback: [{ queue: q-sales }] }
`;

let fake: FakeTwilio;
let server: TestServer;
let publicUrl: string;
const clients: Client[] = [];

async function callFor(accountId: string, callSid: string, target = server): Promise<Client> {
  const client = await connect(target, callHeaders({ key: await target.key(accountId), account: accountId, persona: 'desk', call: callSid, caller: '+12125550199' }));
  clients.push(client);
  return client;
}

const callInfo = async (accountId: string, callId: string) => (await adminRequest(server.url, await server.key(accountId, 'admin'), 'GET', `/ucp/v2/accounts/${accountId}/calls/${callId}`)).body as {
  call: { state: string; end_reason: string | null; transferred_to: string | null };
  commands: { id: number; status: string; outcome: string | null; reason: string | null }[];
  events: { type: string; detail: Record<string, unknown> | null }[];
};

type PhoneSystem = { account: string; driver: string; state: string; reason: string | null };
async function phoneSystem(accountId: string, target = server): Promise<PhoneSystem | undefined> {
  const body = (await (await fetch(`${target.url}/readyz`)).json()) as { phone_systems?: PhoneSystem[] };
  return body.phone_systems?.find((entry) => entry.account === accountId);
}
const healthIs = (accountId: string, state: string, target = server) => eventually(async () => ((await phoneSystem(accountId, target))?.state === state ? true : undefined), 10_000, `${accountId} to be ${state}`);

const ringing = (callSid: string) => eventually(() => (fake.calls.get(callSid)?.dial?.state === 'ringing' ? fake.calls.get(callSid)?.dial : undefined), 5000, 'the transfer to ring');

beforeAll(async () => {
  fake = await new FakeTwilio({ [ACME_SID]: ACME_TOKEN, [NORN_SID]: NORN_TOKEN, [BAD_SID]: 'the-token-twilio-has' }).start();
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  server = await startTestServer({
    personas: {
      'acme/account.yaml': account('acme', ACME_SID, 'ACME_TWILIO_TOKEN', fake.url, `  endpoint_template: "sip:{destination}@pbx.acme.example"\n  return_url: "${RETURN_URL}"\n`),
      'acme/desk.yaml': desk,
      // No return_url and no endpoint_template.
      'norn/account.yaml': account('norn', NORN_SID, 'NORN_TWILIO_TOKEN', fake.url),
      'norn/desk.yaml': desk,
      'badcreds/account.yaml': account('badcreds', BAD_SID, 'BAD_TWILIO_TOKEN', fake.url),
      'badcreds/desk.yaml': desk,
      'offline/account.yaml': account('offline', ACME_SID, 'ACME_TWILIO_TOKEN', 'http://127.0.0.1:1'),
      'offline/desk.yaml': desk,
      'nosecret/account.yaml': account('nosecret', ACME_SID, 'UNSET_TWILIO_TOKEN', fake.url),
      'nosecret/desk.yaml': desk,
    },
    settings: { port, publicUrl, outboundAllow: ['127.0.0.1'] },
    env: { ACME_TWILIO_TOKEN: ACME_TOKEN, NORN_TWILIO_TOKEN: NORN_TOKEN, BAD_TWILIO_TOKEN: 'not-the-token' },
  });
  await healthIs('acme', 'up');
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await server.close();
  await fake.stop();
});

describe('Twilio transfers', () => {
  it('updates the call with <Dial>, and reports connected when the called party answers', async () => {
    fake.scripts.set('+12125550100', { action: 'answer', afterMs: 100 });
    const sid = fake.createCall(ACME_SID);
    const client = await callFor('acme', sid);
    const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '+1 212 555 0100' } });
    expect(textOf(result)).toBe('The call was transferred to +12125550100.');

    const update = fake.requests.find((request) => request.method === 'POST' && request.path.endsWith(`/Calls/${sid}.json`));
    expect(update).toMatchObject({ authorized: true, contentType: 'application/x-www-form-urlencoded', status: 200 });
    const dial = fake.calls.get(sid)?.dial;
    expect(dial).toMatchObject({ noun: 'Number', address: '+12125550100', timeoutSeconds: 1, state: 'bridged', callerId: undefined });
    const info = await callInfo('acme', sid);
    const id = info.commands[0]?.id;
    expect(dial?.action).toBe(`${publicUrl}/ucp/v2/pbx/acme/twilio/dial-result?command=${id}`);
    expect(dial?.url).toBe(`${publicUrl}/ucp/v2/pbx/acme/twilio/answered?command=${id}`);
    const answered = fake.callbacks.find((callback) => callback.kind === 'answered' && callback.params.ParentCallSid === sid);
    expect(answered).toMatchObject({ status: 200 });
    expect(answered?.body).toContain('<Response/>');
    expect(info.call).toMatchObject({ state: 'transferred', transferred_to: '+12125550100' });
    expect(info.commands[0]).toMatchObject({ status: 'succeeded', outcome: 'connected' });
    expect(info.events.map((event) => event.type)).toEqual(expect.arrayContaining(['command_dialing', 'command_ringing', 'command_answered', 'command_succeeded']));

    // The transferred conversation ends: Twilio's action request is answered with <Hangup/>, and the call is over.
    await fake.endBridge(sid);
    const action = fake.callbacks.find((callback) => callback.kind === 'action' && callback.params.CallSid === sid);
    expect(action).toMatchObject({ status: 200, params: { DialCallStatus: 'completed' } });
    expect(action?.body).toContain('<Hangup/>');
    expect(fake.calls.get(sid)?.status).toBe('completed');
    expect((await callInfo('acme', sid)).call).toMatchObject({ state: 'ended', end_reason: 'the transferred call ended' });
    await eventually(() => client.listTools().then(() => undefined, () => true), 5000, 'the session to close');
    expect(fake.errors).toEqual([]);
    expect(server.logLines.join('\n')).not.toContain(ACME_TOKEN);
  });

  it('sends the caller back to the agent when the extension is busy, and dials the fallback', async () => {
    fake.scripts.set('sip:100@pbx.acme.example', { action: 'busy' });
    fake.scripts.set('sip:600@pbx.acme.example', { action: 'answer', afterMs: 50 });
    const sid = fake.createCall(ACME_SID);
    const result = await (await callFor('acme', sid)).callTool({ name: 'transfer_to_dana', arguments: {} });
    expect(textOf(result)).toBe('Dana Reyes (extension 100) is busy. The call was transferred to Sales (extension 600).');
    const call = fake.calls.get(sid);
    expect(call?.twiml).toHaveLength(2);
    expect(call?.twiml[0]).toContain('<Sip ');
    expect(call?.redirects).toEqual([RETURN_URL]);
    const busy = fake.callbacks.find((callback) => callback.kind === 'action' && callback.params.CallSid === sid);
    expect(busy).toMatchObject({ status: 200, params: { DialCallStatus: 'busy', DialSipResponseCode: '486' } });
    expect(busy?.body).toContain('<Redirect method="POST">https://bridge.acme.example/twiml/agent?resume=1&amp;from=transfer</Redirect>');
    const info = await callInfo('acme', sid);
    expect(info.commands.map((command) => [command.status, command.outcome])).toEqual([
      ['failed', 'busy'],
      ['succeeded', 'connected'],
    ]);
    expect(info.call).toMatchObject({ state: 'transferred', transferred_to: '600' });
  });

  it('returns the caller to the agent when nobody answers; the call is active again', async () => {
    const sid = fake.createCall(ACME_SID);
    const result = await (await callFor('acme', sid)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550111' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('+12125550111 did not answer within 1 second. The caller is still with you: offer to take a message or to try someone else.');
    expect(fake.calls.get(sid)).toMatchObject({ status: 'in-progress', redirects: [RETURN_URL] });
    const info = await callInfo('acme', sid);
    expect(info.call.state).toBe('active');
    expect(info.commands[0]).toMatchObject({ status: 'failed', outcome: 'no_answer' });
  });

  it('fails an extension at once when there is no endpoint_template', async () => {
    const sid = fake.createCall(NORN_SID);
    const result = await (await callFor('norn', sid)).callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
    expect(textOf(result)).toBe(
      'The phone system did not transfer the call to Dana Reyes (extension 100) (extension 100 cannot be dialed through Twilio: call_control.endpoint_template is not set). Tell the caller and offer to take a message instead.',
    );
    expect(fake.calls.get(sid)?.twiml).toEqual([]);
  });

  it('without return_url, a transfer that is not answered ends the call', async () => {
    fake.scripts.set('+12125550133', { action: 'busy' });
    const sid = fake.createCall(NORN_SID);
    // The call ends while the tool waits, which closes its session: the answer is not awaited.
    void (await callFor('norn', sid)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550133' } }).catch(() => undefined);
    const action = await eventually(() => fake.callbacks.find((callback) => callback.kind === 'action' && callback.params.CallSid === sid));
    expect(action.body).toContain('<Hangup/>');
    expect(fake.calls.get(sid)?.status).toBe('completed');
    const info = await eventually(async () => {
      const current = await callInfo('norn', sid);
      return current.commands[0]?.status === 'failed' ? current : undefined;
    });
    expect(info.call).toMatchObject({ state: 'ended', end_reason: 'the transfer was not answered (busy) and call_control.return_url is not set' });
    expect(info.commands[0]).toMatchObject({ status: 'failed', outcome: 'failed', reason: 'busy; the call ended because call_control.return_url is not set' });
  });
});

describe('Twilio callbacks', () => {
  it('refuses a forged, unsigned or altered callback with 403 and changes nothing', async () => {
    const sid = fake.createCall(ACME_SID);
    const pending = (await callFor('acme', sid)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550122' } });
    const dial = await ringing(sid);
    const url = dial.url as string;
    const params = { AccountSid: ACME_SID, CallSid: 'CA' + 'f'.repeat(32), ParentCallSid: sid, CallStatus: 'in-progress' };
    const post = (headers: Record<string, string>, body = params) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(body).toString() });
    expect((await post({ 'x-twilio-signature': signTwilioRequest('a-guessed-token', url, params) })).status).toBe(403);
    expect((await post({})).status).toBe(403);
    // Signed by the real token, but the body is not what was signed.
    expect((await post({ 'x-twilio-signature': signTwilioRequest(ACME_TOKEN, url, params) }, { ...params, CallStatus: 'completed' })).status).toBe(403);

    const result = await pending;
    expect(textOf(result)).toBe('+12125550122 did not answer within 1 second. The caller is still with you: offer to take a message or to try someone else.');
    const info = await callInfo('acme', sid);
    expect(info.events.map((event) => event.type)).not.toContain('command_answered');
    expect(info.commands[0]).toMatchObject({ status: 'failed', outcome: 'no_answer' });
  });

  it('ends the call when the caller hangs up while the transfer rings', async () => {
    const sid = fake.createCall(ACME_SID);
    void (await callFor('acme', sid)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550144' } }).catch(() => undefined);
    await ringing(sid);
    await fake.callerHangsUp(sid);
    const info = await eventually(async () => {
      const current = await callInfo('acme', sid);
      return current.commands[0]?.status === 'failed' ? current : undefined;
    });
    expect(info.call).toMatchObject({ state: 'ended', end_reason: 'the caller hung up while the transfer was ringing' });
    expect(info.commands[0]).toMatchObject({ status: 'failed', outcome: 'failed', reason: 'the caller hung up before the transfer was answered' });
  });

  it("ends the call when the number's status callback reports it completed", async () => {
    const sid = fake.createCall(ACME_SID);
    const client = await callFor('acme', sid);
    await adminRequest(server.url, await server.key('acme', 'admin'), 'POST', '/ucp/v2/accounts/acme/calls', { call_id: sid, persona_id: 'desk' });
    await fake.callerHangsUp(sid, `${publicUrl}/ucp/v2/pbx/acme/twilio/status`);
    expect(fake.callbacks.find((callback) => callback.kind === 'status' && callback.params.CallSid === sid)).toMatchObject({ status: 204 });
    expect((await callInfo('acme', sid)).call).toMatchObject({ state: 'ended', end_reason: 'Twilio reports the call completed' });
    await eventually(() => client.listTools().then(() => undefined, () => true), 5000, 'the session to close');
  });
});

describe('Twilio hang-up', () => {
  it('sets Status=completed after the delay, and the call ends', async () => {
    const sid = fake.createCall(ACME_SID);
    const client = await callFor('acme', sid);
    expect(textOf(await client.callTool({ name: 'hangup_call', arguments: {} }))).toBe('The call will be hung up in 0.1 seconds; finish your goodbye now.');
    const request = await eventually(() => fake.requests.find((candidate) => candidate.path.endsWith(`/Calls/${sid}.json`) && candidate.form.get('Status') === 'completed'));
    expect(request).toMatchObject({ authorized: true, status: 200 });
    expect(fake.calls.get(sid)?.status).toBe('completed');
    await eventually(async () => ((await callInfo('acme', sid)).call.state === 'ended' ? true : undefined));
    await eventually(() => client.listTools().then(() => undefined, () => true), 5000, 'the session to close');
  });
});

describe('Twilio health', () => {
  it('refuses at once when the credentials are wrong', async () => {
    await healthIs('badcreds', 'down');
    expect(await phoneSystem('badcreds')).toMatchObject({ driver: 'twilio', reason: 'Twilio refused the account SID or auth token' });
    expect(fake.requests.some((request) => request.path === `/2010-04-01/Accounts/${BAD_SID}.json` && request.status === 401)).toBe(true);
    const result = await (await callFor('badcreds', `CA${'0'.repeat(32)}`)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550100' } });
    expect(textOf(result)).toBe(NOT_CONNECTED('+12125550100'));
    expect(server.logLines.join('\n')).not.toContain('not-the-token');
  });

  it('refuses at once when the auth token secret is missing', async () => {
    await healthIs('nosecret', 'down');
    expect((await phoneSystem('nosecret'))?.reason).toBe('secret UNSET_TWILIO_TOKEN is not set (environment variable or secrets file)');
    const result = await (await callFor('nosecret', `CA${'1'.repeat(32)}`)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550100' } });
    expect(textOf(result)).toBe(NOT_CONNECTED('+12125550100'));
  });

  it('refuses at once when Twilio cannot be reached', async () => {
    await healthIs('offline', 'down');
    expect((await phoneSystem('offline'))?.reason).toBe("Twilio's API cannot be reached (ECONNREFUSED)");
    const result = await (await callFor('offline', `CA${'2'.repeat(32)}`)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550100' } });
    expect(textOf(result)).toBe(NOT_CONNECTED('+12125550100'));
  });

  it('goes down when Twilio goes away, and works again when it is back', async () => {
    await fake.stop();
    const first = fake.createCall(ACME_SID);
    const result = await (await callFor('acme', first)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550100' } });
    expect(textOf(result)).toBe(NOT_CONNECTED('+12125550100'));
    expect(await phoneSystem('acme')).toMatchObject({ state: 'down', reason: "Twilio's API cannot be reached (ECONNREFUSED)" });

    await fake.start();
    await healthIs('acme', 'up');
    fake.scripts.set('+12125550155', { action: 'answer', afterMs: 50 });
    const second = fake.createCall(ACME_SID);
    const again = await (await callFor('acme', second)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550155' } });
    expect(textOf(again)).toBe('The call was transferred to +12125550155.');
  });

  it('is down without a public URL, and says so', async () => {
    const lonely = await startTestServer({
      personas: { 'solo/account.yaml': account('solo', ACME_SID, 'ACME_TWILIO_TOKEN', fake.url), 'solo/desk.yaml': desk },
      settings: { outboundAllow: ['127.0.0.1'] },
      env: { ACME_TWILIO_TOKEN: ACME_TOKEN },
    });
    try {
      expect(await phoneSystem('solo', lonely)).toMatchObject({
        driver: 'twilio',
        state: 'down',
        reason: "the server's public URL is not set (--public-url / SWITCHBOARD_PUBLIC_URL); Twilio cannot report transfer outcomes",
      });
      const sid = fake.createCall(ACME_SID);
      const client = await callFor('solo', sid, lonely);
      expect(textOf(await client.callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550100' } }))).toBe(NOT_CONNECTED('+12125550100'));
      expect(fake.calls.get(sid)?.twiml).toEqual([]);
    } finally {
      await lonely.close();
    }
  });
});

describe('Twilio wire details', () => {
  const docsUrl = 'https://mycompany.com/myapp.php?foo=1&bar=2';
  const docsParams = { CallSid: 'CA1234567890ABCDE', Caller: '+12349013030', Digits: '1234', From: '+12349013030', To: '+18005551212' };

  it("signs as Twilio's security documentation shows", () => {
    const expected = '0/KCTR6DLpKmkAf8muzZqo1nDgQ=';
    expect(twilioSignature('12345', docsUrl, new URLSearchParams(docsParams))).toBe(expected);
    expect(signTwilioRequest('12345', docsUrl, docsParams)).toBe(expected);
    expect(verifyTwilioSignature('12345', expected, docsUrl, new URLSearchParams(docsParams))).toBe(true);
    // Twilio may sign the URL with the scheme's default port.
    const withPort = signTwilioRequest('12345', 'https://mycompany.com:443/myapp.php?foo=1&bar=2', docsParams);
    expect(verifyTwilioSignature('12345', withPort, docsUrl, new URLSearchParams(docsParams))).toBe(true);
    expect(verifyTwilioSignature('12345', expected, docsUrl, new URLSearchParams({ ...docsParams, Digits: '1235' }))).toBe(false);
    expect(verifyTwilioSignature('12346', expected, docsUrl, new URLSearchParams(docsParams))).toBe(false);
    expect(verifyTwilioSignature('12345', undefined, docsUrl, new URLSearchParams(docsParams))).toBe(false);
  });

  it.each([
    ['completed', undefined, { connected: true }],
    ['answered', undefined, { connected: true }],
    ['busy', undefined, { connected: false, outcome: 'busy' }],
    ['no-answer', undefined, { connected: false, outcome: 'no_answer' }],
    ['failed', undefined, { connected: false, outcome: 'failed' }],
    ['failed', 486, { connected: false, outcome: 'busy' }],
    ['failed', 600, { connected: false, outcome: 'busy' }],
    ['failed', 603, { connected: false, outcome: 'rejected' }],
    ['failed', 480, { connected: false, outcome: 'no_answer' }],
    ['failed', 404, { connected: false, outcome: 'failed' }],
    ['failed', 503, { connected: false, outcome: 'failed' }],
    ['canceled', undefined, { connected: false, outcome: 'failed' }],
    ['something-new', undefined, { connected: false, outcome: 'failed' }],
  ] as const)('DialCallStatus %s (SIP %s) means %o', (status, sip, expected) => {
    expect(dialResult(status, sip)).toMatchObject(expected);
  });

  it('writes the <Dial> with every value escaped', () => {
    const twiml = dialTwiml({
      timeoutSeconds: 20,
      actionUrl: 'https://sb.example/a?command=1&x="y"',
      answeredUrl: 'https://sb.example/b?command=1',
      progressUrl: 'https://sb.example/c?command=1',
      callerId: '+12125550100',
      target: { kind: 'sip', address: 'sip:100@pbx.example;transport=tls' },
    });
    expect(twiml).toBe(
      '<Response><Dial timeout="20" action="https://sb.example/a?command=1&amp;x=&quot;y&quot;" method="POST" callerId="+12125550100">' +
        '<Sip url="https://sb.example/b?command=1" method="POST" statusCallbackEvent="ringing" statusCallback="https://sb.example/c?command=1" statusCallbackMethod="POST">sip:100@pbx.example;transport=tls</Sip></Dial></Response>',
    );
  });
});
