/**
 * Warm transfers with the twilio driver, end to end: a real server with a
 * public URL on loopback, the official MCP client calling the transfer
 * tools, and the fake Twilio (tests/helpers/fake-twilio.ts and
 * fake-twilio-voice.ts) playing the caller's call, the conference the
 * caller waits in and the person who answers the new leg: accepting with a
 * key, declining, staying silent, hanging up during the briefing, busy, no
 * answer, and the caller hanging up while held. Each case checks what
 * Twilio was asked on the wire, what the tool answered and the call's
 * history. Also a blind transfer carrying the summary as a SIP header.
 */
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { canWarm } from '../engine/calls/drivers/index.ts';
import { summaryHeaderValue } from '../engine/calls/warm.ts';
import { FakeTwilio, signTwilioRequest, type FakeLeg } from './helpers/fake-twilio.ts';
import { adminRequest } from './helpers/pbx.ts';
import { callHeaders, connect, eventually, freePort, startTestServer, textOf, type TestServer } from './helpers/server.ts';
import { readXml, type XmlNode } from './helpers/twiml-reader.ts';

const ACME_SID = `AC${'a1'.repeat(16)}`;
const STAY_SID = `AC${'d4'.repeat(16)}`;
const ACME_TOKEN = 'twilio-token-acme-warm-81c2';
const STAY_TOKEN = 'twilio-token-stay-warm-4e7d';
const ACME_NUMBER = '+13105550100';
const STREAM_URL = 'wss://bridge.acme.example/media';
const RETURN_URL = 'https://bridge.stay.example/twiml/agent';
const HOLD_MUSIC = 'https://moh.acme.example/hold.mp3';
const SUMMARY = 'Wants to move her dental appointment from Tuesday to Friday morning.';
const BACK = 'The caller is back with you: offer to take a message or to try someone else.';

const account = (id: string, sid: string, token: string, apiBase: string, extra: string) => `
account_id: ${id}
timezone: America/New_York
users:
  - { id: u-100, name: Dana Reyes, extension: "100" }
transfer_policy:
  allow: ["1XX", "+1NXXNXXXXXX"]
call_control:
  driver: twilio
  account_sid: ${sid}
  auth_token: ${token}
  api_base: ${apiBase}
  endpoint_template: "sip:{destination}@pbx.acme.example"
  ring_timeout_seconds: 1
  hangup_delay_seconds: 0.1
${extra}`;

const warmDesk = `
persona_id: desk
global_tools:
  transfer_call: { mode: warm }
tools:
  - { type: transfer_to_user, name: transfer_to_dana, description: Transfer to Dana., user: u-100, mode: warm }
`;

const blindDesk = `
persona_id: blind
tools:
  - { type: transfer_to_user, name: transfer_to_dana, description: Transfer to Dana., user: u-100 }
`;

let fake: FakeTwilio;
let server: TestServer;
let publicUrl: string;
const clients: Client[] = [];

async function callFor(accountId: string, callId: string, persona = 'desk'): Promise<Client> {
  const client = await connect(server, callHeaders({ key: await server.key(accountId), account: accountId, persona, call: callId, caller: '+12125550199' }));
  clients.push(client);
  return client;
}

type CallInfo = {
  call: { state: string; end_reason: string | null; transferred_to: string | null };
  commands: { id: number; status: string; outcome: string | null; reason: string | null; mode: string | null }[];
  events: { type: string; command_id: number | null; detail: Record<string, unknown> | null }[];
};
const callInfo = async (accountId: string, callId: string) => (await adminRequest(server.url, await server.key(accountId, 'admin'), 'GET', `/ucp/v2/accounts/${accountId}/calls/${callId}`)).body as CallInfo;
/** The command's history, from its queueing on: the steps the driver reported and the verdict. */
const history = (info: CallInfo) => info.events.filter((event) => event.type.startsWith('command_')).map((event) => event.type);

/** The REST requests Twilio got about this caller's transfers, in order: the caller's updates and the new calls (whose status callback names the caller). */
function restCalls(callerSid: string): { path: string; form: URLSearchParams }[] {
  const ours = (request: (typeof fake.requests)[number]): boolean =>
    request.path.endsWith(`/Calls/${callerSid}.json`) || (request.path.endsWith('/Calls.json') && (request.form.get('StatusCallback') ?? '').includes(`caller=${callerSid}`));
  return fake.requests.filter((request) => request.method === 'POST' && ours(request)).map(({ path, form }) => ({ path, form }));
}

const legTo = (address: string): FakeLeg => [...fake.voice.legs.values()].filter((leg) => leg.address === address).at(-1) as FakeLeg;
const child = (node: XmlNode, name: string): XmlNode => node.children.find((candidate) => candidate.name === name) as XmlNode;

beforeAll(async () => {
  fake = await new FakeTwilio({ [ACME_SID]: ACME_TOKEN, [STAY_SID]: STAY_TOKEN }).start();
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  server = await startTestServer({
    personas: {
      'acme/account.yaml': account(
        'acme',
        ACME_SID,
        'ACME_TWILIO_TOKEN',
        fake.url,
        `  stream_url: "${STREAM_URL}"
  warm:
    accept: dtmf
    accept_timeout_seconds: 3
    voice: Polly.Joanna
    language: en-US
    music_on_hold: "${HOLD_MUSIC}"
`,
      ),
      'acme/desk.yaml': warmDesk,
      'acme/blind.yaml': blindDesk,
      'stay/account.yaml': account(
        'stay',
        STAY_SID,
        'STAY_TWILIO_TOKEN',
        fake.url,
        `  return_url: "${RETURN_URL}"
  warm:
    accept: stay
    briefing: url
    briefing_url: "https://tts.stay.example/say?text={summary}&to={destination}"
`,
      ),
      'stay/desk.yaml': warmDesk,
    },
    settings: { port, publicUrl, outboundAllow: ['127.0.0.1'] },
    env: { ACME_TWILIO_TOKEN: ACME_TOKEN, STAY_TWILIO_TOKEN: STAY_TOKEN },
  });
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await server.close();
  await fake.stop();
});

describe('Twilio warm transfer', () => {
  it('holds the caller in a conference, briefs the destination, and joins them when it presses 1', async () => {
    fake.scripts.set('+12125550100', { action: 'answer', afterMs: 50, press: '1' });
    const sid = fake.createCall(ACME_SID);
    const client = await callFor('acme', sid);
    const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '+1 212 555 0100', summary: SUMMARY } });
    expect(textOf(result)).toBe('+12125550100 accepted the call after the briefing; the caller is now with them.');
    expect(result.structuredContent).toMatchObject({ status: 'transferred', mode: 'warm', outcome: 'connected' });

    // On the wire: the caller is put in a conference first, then the new call is made.
    const [hold, create, ...more] = restCalls(sid);
    expect(more).toEqual([]);
    const conference = child(child(readXml(hold?.form.get('Twiml') ?? ''), 'Dial'), 'Conference');
    expect(conference.attrs).toMatchObject({ beep: 'false', startConferenceOnEnter: 'false', endConferenceOnExit: 'true', participantLabel: 'caller', waitUrl: HOLD_MUSIC, statusCallbackEvent: 'start end join leave' });
    const info = await callInfo('acme', sid);
    const id = info.commands[0]?.id as number;
    expect(conference.attrs.statusCallback).toBe(`${publicUrl}/ucp/v2/pbx/acme/twilio/warm-conference?command=${id}&caller=${sid}&call=${sid}`);
    expect(create?.path).toBe(`/2010-04-01/Accounts/${ACME_SID}/Calls.json`);
    expect(create?.form.get('To')).toBe('+12125550100');
    // The account's number the caller called: Twilio places calls only from the account's own numbers.
    expect(create?.form.get('From')).toBe(ACME_NUMBER);
    expect(create?.form.get('Timeout')).toBe('1');
    expect(create?.form.getAll('StatusCallbackEvent')).toEqual(['ringing', 'answered', 'completed']);
    expect(create?.form.get('Url')).toBeNull();

    // What the person heard and did; then the two are in the conference, which started.
    const leg = legTo('+12125550100');
    expect(leg.heard).toEqual([
      { verb: 'Say', text: SUMMARY, voice: 'Polly.Joanna', language: 'en-US', cut: false },
      { verb: 'Say', text: 'Press 1 to take the call, or 2 to decline.', voice: 'Polly.Joanna', language: 'en-US', cut: false },
    ]);
    expect(leg.pressed).toEqual(['1']);
    const room = fake.voice.conference(`switchboard-${id}-${sid.slice(2, 10)}`);
    expect(room?.joined.map((entry) => entry.callSid)).toEqual([sid, leg.sid]);
    expect(room?.joined[1]?.attributes).toMatchObject({ startConferenceOnEnter: true, endConferenceOnExit: true, participantLabel: 'target', statusCallback: conference.attrs.statusCallback });
    expect(room?.started).toBe(true);
    const gather = fake.callbacks.find((callback) => callback.kind === 'gather' && callback.params.CallSid === leg.sid);
    expect(gather).toMatchObject({ status: 200, params: { Digits: '1' } });

    expect(info.call).toMatchObject({ state: 'transferred', transferred_to: '+12125550100' });
    expect(info.commands[0]).toMatchObject({ status: 'succeeded', outcome: 'connected', mode: 'warm' });
    expect(history(info)).toEqual(['command_queued', 'command_held', 'command_dialing', 'command_ringing', 'command_answered', 'command_briefed', 'command_accepted', 'command_bridged', 'command_succeeded']);
    expect(info.events.find((event) => event.type === 'command_dialing')?.detail).toEqual({ to: '+12125550100' });
    expect(info.events.find((event) => event.type === 'command_ringing')?.detail).toEqual({ call_sid: leg.sid });

    // The person hangs up after the conversation: the conference ends, and with it the caller's call.
    await fake.voice.hangUp(leg);
    await eventually(() => (fake.calls.get(sid)?.status === 'completed' ? true : undefined), 5000, "the caller's call to end");
    const ended = await eventually(async () => {
      const current = await callInfo('acme', sid);
      return current.call.state === 'ended' ? current : undefined;
    });
    expect(ended.call.end_reason).toBe('the transferred call ended');
    expect(fake.errors).toEqual([]);
    expect(server.logLines.join('\n')).not.toContain(SUMMARY);
  });

  it('brings the caller back to the agent on a new stream carrying the call id when the destination presses 2', async () => {
    fake.scripts.set('+12125550102', { action: 'answer', afterMs: 50, press: '2' });
    const sid = fake.createCall(ACME_SID);
    // The voice bridge uses its own call id and registers the CallSid as the call's pbx_call_ref.
    const callId = `bridge-${sid.slice(-8)}`;
    await adminRequest(server.url, await server.key('acme', 'admin'), 'POST', '/ucp/v2/accounts/acme/calls', { call_id: callId, persona_id: 'desk', pbx_call_ref: sid });
    const result = await (await callFor('acme', callId)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550102', summary: SUMMARY } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe(`+12125550102 declined the call after the briefing. ${BACK}`);

    // Held, dialed, then given back to the agent: a new <Connect><Stream> with the call's id.
    const requests = restCalls(sid);
    expect(requests.map((request) => (request.path.endsWith('/Calls.json') ? 'create' : readXml(request.form.get('Twiml') ?? '').children[0]?.name))).toEqual(['Dial', 'create', 'Connect']);
    const call = fake.calls.get(sid);
    expect(call?.streams).toEqual([{ url: STREAM_URL, parameters: { call_id: callId, resumed: 'true' } }]);
    expect(call?.status).toBe('in-progress');
    const leave = await eventually(() => fake.callbacks.find((callback) => callback.kind === 'conference' && callback.params.CallSid === sid && callback.params.StatusCallbackEvent === 'participant-leave'), 5000, "the caller's leaving the conference");
    expect(leave.params.ReasonParticipantLeft).toBe('participant_updated_via_api');
    const leg = legTo('+12125550102');
    expect(leg.pressed).toEqual(['2']);
    await eventually(() => (leg.status === 'completed' ? true : undefined), 5000, 'the declined leg to hang up');

    const info = await callInfo('acme', callId);
    expect(info.call.state).toBe('active');
    expect(info.commands[0]).toMatchObject({ status: 'failed', outcome: 'rejected', reason: 'declined after the briefing' });
    expect(history(info)).toEqual(['command_queued', 'command_held', 'command_dialing', 'command_ringing', 'command_answered', 'command_briefed', 'command_declined', 'command_returned', 'command_failed']);
    expect(info.events.find((event) => event.type === 'command_returned')?.detail).toMatchObject({ via: 'stream_url' });
  });

  it('counts silence after the prompt as declined once the accept timeout has passed', async () => {
    fake.scripts.set('+12125550103', { action: 'answer', afterMs: 50 });
    const sid = fake.createCall(ACME_SID);
    const result = await (await callFor('acme', sid)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550103', summary: SUMMARY } });
    expect(textOf(result)).toBe(`+12125550103 declined the call after the briefing (did not accept within 3 seconds). ${BACK}`);
    const leg = legTo('+12125550103');
    expect(leg.pressed).toEqual([]);
    expect(fake.callbacks.some((callback) => callback.kind === 'voice' && callback.url.includes('/warm-timeout?') && callback.params.CallSid === leg.sid)).toBe(true);
    expect(fake.calls.get(sid)?.streams).toHaveLength(1);
    expect((await callInfo('acme', sid)).commands[0]).toMatchObject({ status: 'failed', outcome: 'rejected', reason: 'did not accept within 3 seconds' });
  });

  it('brings the caller back when nobody answers', async () => {
    const sid = fake.createCall(ACME_SID);
    const result = await (await callFor('acme', sid)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550111', summary: SUMMARY } });
    expect(textOf(result)).toBe(`+12125550111 did not answer within 1 second. ${BACK}`);
    const leg = legTo('+12125550111');
    expect(leg.status).toBe('no-answer');
    expect(leg.heard).toEqual([]);
    expect(fake.calls.get(sid)?.streams).toEqual([{ url: STREAM_URL, parameters: { call_id: sid, resumed: 'true' } }]);
    const info = await callInfo('acme', sid);
    expect(info.call.state).toBe('active');
    expect(info.commands[0]).toMatchObject({ status: 'failed', outcome: 'no_answer' });
    expect(history(info)).toEqual(['command_queued', 'command_held', 'command_dialing', 'command_ringing', 'command_leg_ended', 'command_returned', 'command_failed']);
  });

  it('brings the caller back when the extension is busy; the summary went along as a SIP header', async () => {
    fake.scripts.set('sip:100@pbx.acme.example', { action: 'busy', afterMs: 50 });
    const sid = fake.createCall(ACME_SID);
    const result = await (await callFor('acme', sid)).callTool({ name: 'transfer_to_dana', arguments: { summary: 'Señora Núñez — wants to reschedule.' } });
    expect(textOf(result)).toBe(`Dana Reyes (extension 100) is busy. ${BACK}`);
    const create = restCalls(sid).find((request) => request.path.endsWith('/Calls.json'));
    expect(create?.form.get('To')).toBe(`sip:100@pbx.acme.example?X-Switchboard-Summary=${encodeURIComponent('Senora Nunez wants to reschedule.')}`);
    const leg = legTo('sip:100@pbx.acme.example');
    expect(leg.headers).toEqual({ 'X-Switchboard-Summary': summaryHeaderValue('Señora Núñez — wants to reschedule.') });
    expect(leg.status).toBe('busy');
    const status = fake.callbacks.find((callback) => callback.kind === 'call-status' && callback.params.CallSid === leg.sid && callback.params.CallStatus === 'busy');
    expect(status).toMatchObject({ status: 204, params: { SipResponseCode: '486' } });
    expect(fake.calls.get(sid)?.streams).toHaveLength(1);
    const info = await callInfo('acme', sid);
    expect(info.commands[0]).toMatchObject({ status: 'failed', outcome: 'busy' });
    // The call history names the destination without the summary in it.
    expect(info.events.find((event) => event.type === 'command_dialing')?.detail).toMatchObject({ to: 'sip:100@pbx.acme.example' });
  });

  it('hangs up the new leg and ends the call when the caller hangs up while held', async () => {
    const sid = fake.createCall(ACME_SID);
    void (await callFor('acme', sid)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550144', summary: SUMMARY } }).catch(() => undefined);
    const leg = await eventually(() => (legTo('+12125550144')?.status === 'ringing' ? legTo('+12125550144') : undefined), 5000, 'the new leg to ring');
    await fake.callerHangsUp(sid);

    const info = await eventually(async () => {
      const current = await callInfo('acme', sid);
      return current.commands[0]?.status === 'failed' ? current : undefined;
    });
    expect(info.call).toMatchObject({ state: 'ended', end_reason: 'the caller hung up while on hold' });
    expect(info.commands[0]).toMatchObject({ outcome: 'failed', reason: 'the caller hung up while on hold' });
    // The ringing leg was hung up at once (Status=completed), long before its ring time.
    const hangUp = fake.requests.find((request) => request.path.endsWith(`/Calls/${leg.sid}.json`));
    expect(hangUp?.form.get('Status')).toBe('completed');
    expect(leg.status).toBe('canceled');
    expect(leg.heard).toEqual([]);
    const leave = fake.callbacks.find((callback) => callback.kind === 'conference' && callback.params.CallSid === sid && callback.params.StatusCallbackEvent === 'participant-leave');
    expect(leave?.params).toMatchObject({ ReasonParticipantLeft: 'participant_hung_up', ParticipantCallStatus: 'completed' });
    expect(history(info)).not.toContain('command_returned');
  });

  it('brings the caller back when the destination hangs up during the briefing', async () => {
    fake.scripts.set('+12125550155', { action: 'answer', afterMs: 50, hangUpDuringBriefing: true });
    const sid = fake.createCall(ACME_SID);
    const result = await (await callFor('acme', sid)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550155', summary: SUMMARY } });
    expect(textOf(result)).toBe(`+12125550155 declined the call after the briefing (hung up during the briefing). ${BACK}`);
    const leg = legTo('+12125550155');
    expect(leg.heard).toEqual([{ verb: 'Say', text: SUMMARY, voice: 'Polly.Joanna', language: 'en-US', cut: true }]);
    expect(leg.status).toBe('completed');
    expect(fake.calls.get(sid)?.streams).toHaveLength(1);
    const info = await callInfo('acme', sid);
    expect(info.commands[0]).toMatchObject({ status: 'failed', outcome: 'rejected', reason: 'hung up during the briefing' });
    expect(history(info)).toEqual(['command_queued', 'command_held', 'command_dialing', 'command_ringing', 'command_answered', 'command_declined', 'command_returned', 'command_failed']);
  });

  it('with accept: stay, plays the briefing from the URL and puts the destination through when it stays on the line', async () => {
    fake.scripts.set('+12125550166', { action: 'answer', afterMs: 50 });
    const sid = fake.createCall(STAY_SID);
    const result = await (await callFor('stay', sid)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550166', summary: SUMMARY } });
    expect(textOf(result)).toBe('+12125550166 accepted the call after the briefing; the caller is now with them.');
    const leg = legTo('+12125550166');
    expect(leg.heard).toEqual([{ verb: 'Play', url: `https://tts.stay.example/say?text=${encodeURIComponent(SUMMARY)}&to=${encodeURIComponent('+12125550166')}`, cut: false }]);
    expect(leg.pressed).toEqual([]);
    // No wait music set: Twilio's own plays (no waitUrl).
    const hold = child(child(readXml(restCalls(sid)[0]?.form.get('Twiml') ?? ''), 'Dial'), 'Conference');
    expect(hold.attrs.waitUrl).toBeUndefined();
    const info = await callInfo('stay', sid);
    expect(history(info)).toEqual(['command_queued', 'command_held', 'command_dialing', 'command_ringing', 'command_answered', 'command_briefed', 'command_accepted', 'command_bridged', 'command_succeeded']);
  });

  it('with return_url, gives a declined caller back through a <Redirect> to the voice bridge', async () => {
    fake.scripts.set('+12125550177', { action: 'busy', afterMs: 50 });
    const sid = fake.createCall(STAY_SID);
    const result = await (await callFor('stay', sid)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550177', summary: SUMMARY } });
    expect(textOf(result)).toBe(`+12125550177 is busy. ${BACK}`);
    expect(fake.calls.get(sid)).toMatchObject({ redirects: [RETURN_URL], streams: [], status: 'in-progress' });
  });

  it('refuses a warm callback without a valid signature, and changes nothing', async () => {
    const sid = fake.createCall(ACME_SID);
    const pending = (await callFor('acme', sid)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550188', summary: SUMMARY } });
    const info = await eventually(async () => {
      const current = await callInfo('acme', sid);
      // The call is recorded when the tool's request arrives.
      return current.commands?.[0] ? current : undefined;
    });
    const url = `${publicUrl}/ucp/v2/pbx/acme/twilio/warm-decision?command=${info.commands[0]?.id}&caller=${sid}&call=${sid}`;
    const params = { AccountSid: ACME_SID, CallSid: `CA${'e'.repeat(32)}`, Digits: '1' };
    const forged = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signTwilioRequest('a-guessed-token', url, params) }, body: new URLSearchParams(params).toString() });
    expect(forged.status).toBe(403);
    expect(textOf(await pending)).toBe(`+12125550188 did not answer within 1 second. ${BACK}`);
    expect(history(await callInfo('acme', sid))).not.toContain('command_accepted');
  });
});

describe('Twilio blind transfer with a summary', () => {
  it('carries the summary as X-Switchboard-Summary on a SIP destination, and gives an unanswered caller a new stream', async () => {
    fake.scripts.set('sip:100@pbx.acme.example', { action: 'busy', afterMs: 50 });
    const sid = fake.createCall(ACME_SID);
    const result = await (await callFor('acme', sid, 'blind')).callTool({ name: 'transfer_to_dana', arguments: { summary: 'Billing question about invoice 4411.' } });
    expect(textOf(result)).toBe('Dana Reyes (extension 100) is busy. The caller is still with you: offer to take a message or to try someone else.');
    const call = fake.calls.get(sid);
    const sip = child(child(readXml(call?.twiml[0] ?? ''), 'Dial'), 'Sip');
    expect(sip.text).toBe(`sip:100@pbx.acme.example?X-Switchboard-Summary=${encodeURIComponent('Billing question about invoice 4411.')}`);
    expect(call?.dial?.headers).toEqual({ 'X-Switchboard-Summary': 'Billing question about invoice 4411.' });
    expect(call?.streams).toEqual([{ url: STREAM_URL, parameters: { call_id: sid, resumed: 'true' } }]);
  });

  it('sends no header to a phone number: the telephone network does not carry it', async () => {
    fake.scripts.set('+12125550199', { action: 'answer', afterMs: 50 });
    const sid = fake.createCall(ACME_SID);
    const result = await (await callFor('acme', sid, 'blind')).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550199', summary: 'Billing question.' } });
    expect(textOf(result)).toBe('The call was transferred to +12125550199.');
    const number = child(child(readXml(fake.calls.get(sid)?.twiml[0] ?? ''), 'Dial'), 'Number');
    expect(number.text).toBe('+12125550199');
  });
});

describe('Twilio warm transfer settings', () => {
  it('can warm-transfer only with a way back to the agent', () => {
    const base = { driver: 'twilio' as const, account_sid: ACME_SID, auth_token: 'T' };
    expect(canWarm(base)).toBe(false);
    expect(canWarm({ ...base, stream_url: STREAM_URL })).toBe(true);
    expect(canWarm({ ...base, return_url: RETURN_URL })).toBe(true);
  });
});
