/**
 * Warm transfer with the ari driver, end to end: an official MCP client
 * calls warm transfer tools against a fake Asterisk that speaks ARI at the
 * wire (tests/helpers/fake-asterisk.ts) and plays the person taking the
 * call: answers and presses 1, presses 2, hangs up during the briefing,
 * stays silent, is busy, does not answer. The caller starts in the voice
 * bridge's mixing bridge with the agent's media channel; each test checks
 * what Asterisk was asked, in order, where the caller ends up, what the
 * tool answered and the steps recorded in the call's history. Blind
 * transfers with a summary carry it as a SIP header variable.
 */
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { briefingUrl, summaryHeaderValue, warmSettingsOf } from '../engine/calls/warm.ts';
import { FakeAsterisk, type RecordedRequest } from './helpers/fake-asterisk.ts';
import { adminRequest } from './helpers/pbx.ts';
import { callHeaders, connect, eventually, startTestServer, textOf, type TestServer } from './helpers/server.ts';

const PASSWORD = 'ari-warm-password-7c21';
const VOICE_BRIDGE_APP = 'voicebot';
const SUMMARY = 'Caller’s boiler is leaking —  wants José to call back today.';
/** SUMMARY as the SIP header carries it: accents folded, the dash and curly quote dropped, spaces collapsed. */
const SUMMARY_HEADER = 'Callers boiler is leaking wants Jose to call back today.';
let fake: FakeAsterisk;
let server: TestServer;
const clients: Client[] = [];

const users = `users:
  - { id: u-100, name: Dana Reyes, extension: "100" }
  - { id: u-101, name: Sam Ortiz, extension: "101" }
  - { id: u-102, name: Kim Lee, extension: "102" }
  - { id: u-103, name: Ana Gray, extension: "103" }
  - { id: u-104, name: Ben Ruiz, extension: "104" }
  - { id: u-105, name: Eva Long, extension: "105" }
  - { id: u-106, name: Tom Hart, extension: "106" }
  - { id: u-107, name: Lia Park, extension: "107" }
`;

const account = (id: string, app: string, extra = '') => `account_id: ${id}
timezone: America/New_York
${users}call_control:
  driver: ari
  url: ${fake.url}
  username: switchboard
  password: ARI_WARM_PASSWORD
  app: ${app}
  endpoint_template: "PJSIP/{destination}"
  ring_timeout_seconds: 1
  hangup_delay_seconds: 0.1
${extra}`;

const warmDesk = `persona_id: desk
global_tools:
  transfer_call: { mode: warm }
tools:
  - { type: transfer_to_user, name: transfer_to_tom, description: Transfer to Tom., user: u-106, mode: warm, ring_timeout_seconds: 30 }
`;

let nextChannel = 500;

/** A caller in the voice bridge's application and bridge, with the agent's media channel. */
const newCaller = () => fake.addCallerWithAgent(`1767225600.${nextChannel++}`, VOICE_BRIDGE_APP);

async function call(accountId: string, channelId: string): Promise<Client> {
  const client = await connect(server, callHeaders({ key: await server.key(accountId), account: accountId, persona: 'desk', call: channelId, caller: '+12125550199' }));
  clients.push(client);
  return client;
}

type CallInfo = { call: Record<string, unknown>; commands: Record<string, unknown>[]; events: { type: string; detail: Record<string, unknown> | null }[] };
const callInfo = async (accountId: string, callId: string) => (await adminRequest(server.url, await server.key(accountId, 'admin'), 'GET', `/ucp/v2/accounts/${accountId}/calls/${callId}`)).body as CallInfo;

/** The steps of the call's commands, in the order they were recorded. */
const stepsOf = (info: CallInfo) => info.events.map((event) => event.type).filter((type) => type.startsWith('command_') && type !== 'command_queued');

/** What Asterisk was asked from `from` on, without the channel subscriptions (tested in call-control-ari.test.ts). */
const asked = (from: number) =>
  fake.requests
    .slice(from)
    .filter((request) => !request.path.startsWith('/ari/applications/'))
    .map((request: RecordedRequest) => `${request.method} ${request.path}`);

const legOf = (endpoint: string) => {
  const leg = [...fake.originated].reverse().find((candidate) => candidate.endpoint === endpoint);
  if (!leg) throw new Error(`${endpoint} was not dialed`);
  return leg;
};

beforeAll(async () => {
  fake = await new FakeAsterisk({ switchboard: PASSWORD }).start();
  fake.registerApp(VOICE_BRIDGE_APP);
  fake.legScript = (endpoint) => {
    switch (endpoint) {
      case 'PJSIP/100':
        return { answerAfterMs: 40, target: { pressAfterBriefing: '1' } };
      case 'PJSIP/101':
        return { answerAfterMs: 40, target: { pressAfterBriefing: '2' } };
      case 'PJSIP/103':
        return { hangupAfterMs: 30, cause: 17 };
      case 'PJSIP/104':
        return { answerAfterMs: 40, target: { hangUpDuringBriefing: true } };
      case 'PJSIP/105':
      case 'PJSIP/107':
        return { answerAfterMs: 40 };
      default:
        return { ring: true };
    }
  };
  const warmBlock = `  warm:
    briefing: url
    briefing_url: "https://tts.acme.example/say?text={summary}&for={destination}"
    music_on_hold: jazz
    accept_timeout_seconds: 3
`;
  server = await startTestServer({
    personas: {
      'warm/account.yaml': account('warm', 'sb-warm', warmBlock),
      'warm/desk.yaml': warmDesk,
      // No briefing_url: the destination hears a beep and reads the header; staying on the line accepts.
      'stay/account.yaml': account('stay', 'sb-stay', '  warm:\n    accept: stay\n'),
      'stay/desk.yaml': warmDesk,
      'blind/account.yaml': account('blind', 'sb-blind'),
      'blind/desk.yaml': 'persona_id: desk\n',
    },
    env: { ARI_WARM_PASSWORD: PASSWORD },
    settings: { outboundAllow: ['127.0.0.1'] },
  });
  for (const id of ['warm', 'stay', 'blind']) {
    await eventually(async () => {
      const body = (await (await fetch(new URL('/readyz', server.url))).json()) as { phone_systems: { account: string; state: string }[] };
      return body.phone_systems.find((entry) => entry.account === id)?.state === 'up' ? true : undefined;
    }, 8000, `${id} to be up`);
  }
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await server?.close();
  await fake?.close();
});

describe('a warm transfer over ARI', () => {
  it('offers transfer_call with a required summary, and refuses a call without one', async () => {
    const { caller } = newCaller();
    const client = await call('warm', caller.id);
    const tool = (await client.listTools()).tools.find((candidate) => candidate.name === 'transfer_call');
    expect(tool?.inputSchema).toMatchObject({ required: ['destination_number', 'summary'], properties: { summary: { type: 'string', minLength: 1, maxLength: 300 } } });
    const before = fake.originated.length;
    const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/summary/);
    expect(fake.originated.length).toBe(before);
  });

  it('holds the caller with music, dials with the summary header, plays the briefing URL, and bridges on DTMF 1', async () => {
    const { caller, agent, bridge: agentBridge } = newCaller();
    const from = fake.requests.length;
    const result = await (await call('warm', caller.id)).callTool({ name: 'transfer_call', arguments: { destination_number: '100', summary: SUMMARY } });
    expect(textOf(result)).toBe('Dana Reyes (extension 100) accepted the call after the briefing; the caller is now with them.');
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ status: 'transferred', mode: 'warm', outcome: 'connected', destination: '100' });

    const leg = legOf('PJSIP/100');
    expect(leg).toMatchObject({ app: 'sb-warm', callerId: '+12125550199', timeout: 1, variables: { 'PJSIP_HEADER(add,X-Switchboard-Summary)': SUMMARY_HEADER, __SWITCHBOARD_SUMMARY: SUMMARY_HEADER } });
    const hold = fake.moh.filter((entry) => entry.mohClass === 'jazz').at(-1)?.bridge as string;
    const mixing = fake.bridgeOf(caller.id);
    expect(asked(from)).toEqual([
      'GET /ari/bridges',
      'POST /ari/bridges',
      `POST /ari/bridges/${hold}/addChannel`,
      `POST /ari/bridges/${hold}/moh`,
      'POST /ari/channels',
      `POST /ari/channels/${leg.channelId}/play`,
      'POST /ari/bridges',
      `POST /ari/bridges/${mixing?.id}/addChannel`,
      `DELETE /ari/bridges/${hold}`,
    ]);
    const requests = fake.requests.slice(from).filter((request) => !request.path.startsWith('/ari/applications/'));
    expect(requests[1]?.query).toMatchObject({ type: 'holding' });
    expect(requests[2]?.query).toMatchObject({ channel: caller.id });
    expect(requests[3]?.query).toMatchObject({ mohClass: 'jazz' });
    expect(requests[6]?.query).toMatchObject({ type: 'mixing' });
    expect(requests[7]?.query).toMatchObject({ channel: `${caller.id},${leg.channelId}` });
    expect(fake.playbacks.find((playback) => playback.channel === leg.channelId)?.media).toBe(`sound:https://tts.acme.example/say?text=${encodeURIComponent(SUMMARY)}&for=100`);
    expect(fake.dtmf).toContainEqual({ channel: leg.channelId, digit: '1' });

    // The caller and the destination together; the agent's media channel alone in the voice bridge's bridge.
    expect([...(mixing?.channels ?? [])].sort()).toEqual([caller.id, leg.channelId].sort());
    expect([...agentBridge.channels]).toEqual([agent.id]);
    expect(fake.bridges.has(hold)).toBe(false);

    const info = await callInfo('warm', caller.id);
    expect(info.call).toMatchObject({ state: 'transferred', transferred_to: '100' });
    expect(info.commands[0]).toMatchObject({ mode: 'warm', summary: SUMMARY, summary_header: SUMMARY_HEADER, status: 'succeeded', outcome: 'connected' });
    expect(stepsOf(info)).toEqual(['command_held', 'command_dialing', 'command_ringing', 'command_answered', 'command_briefed', 'command_accepted', 'command_bridged', 'command_succeeded']);
    expect(info.events.find((event) => event.type === 'command_briefed')?.detail).toEqual({ briefing: 'url' });

    // Kept together as a blind bridge transfer is: the destination hangs up, the caller goes too.
    fake.hangUp(leg.channelId);
    await eventually(async () => ((await callInfo('warm', caller.id)).call.state === 'ended' ? true : undefined));
    expect(fake.hungUp).toContain(caller.id);
  });

  it('brings the caller back to the agent when the destination presses 2', async () => {
    const { caller, agent, bridge: agentBridge } = newCaller();
    const from = fake.requests.length;
    const result = await (await call('warm', caller.id)).callTool({ name: 'transfer_call', arguments: { destination_number: '101', summary: SUMMARY } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('Sam Ortiz (extension 101) declined the call after the briefing. The caller is back with you: offer to take a message or to try someone else.');
    expect(result.structuredContent).toMatchObject({ error: { mode: 'warm', outcome: 'rejected', reason: 'declined after the briefing' } });

    const leg = legOf('PJSIP/101');
    const hold = fake.moh.filter((entry) => entry.mohClass === 'jazz').at(-1)?.bridge as string;
    expect(asked(from)).toEqual([
      'GET /ari/bridges',
      'POST /ari/bridges',
      `POST /ari/bridges/${hold}/addChannel`,
      `POST /ari/bridges/${hold}/moh`,
      'POST /ari/channels',
      `POST /ari/channels/${leg.channelId}/play`,
      `DELETE /ari/channels/${leg.channelId}`,
      `DELETE /ari/bridges/${hold}/moh`,
      `POST /ari/bridges/${agentBridge.id}/addChannel`,
      `DELETE /ari/bridges/${hold}`,
    ]);
    expect(fake.moh.filter((entry) => entry.bridge === hold).map((entry) => entry.mohClass)).toEqual(['jazz', null]);
    expect([...agentBridge.channels].sort()).toEqual([caller.id, agent.id].sort());
    expect(fake.channels.has(leg.channelId)).toBe(false);

    const info = await callInfo('warm', caller.id);
    expect(info.call).toMatchObject({ state: 'active' });
    expect(info.commands[0]).toMatchObject({ mode: 'warm', status: 'failed', outcome: 'rejected', reason: 'declined after the briefing' });
    expect(stepsOf(info)).toEqual(['command_held', 'command_dialing', 'command_ringing', 'command_answered', 'command_briefed', 'command_declined', 'command_returned', 'command_failed']);
    expect(info.events.find((event) => event.type === 'command_declined')?.detail).toEqual({ reason: 'declined after the briefing', key: '2' });
  });

  it('brings the caller back when the destination does not answer within the ring time', async () => {
    const { caller, agent, bridge: agentBridge } = newCaller();
    const result = await (await call('warm', caller.id)).callTool({ name: 'transfer_call', arguments: { destination_number: '102', summary: SUMMARY } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('Kim Lee (extension 102) did not answer within 1 second. The caller is back with you: offer to take a message or to try someone else.');
    expect(result.structuredContent).toMatchObject({ error: { mode: 'warm', outcome: 'no_answer' } });
    expect([...agentBridge.channels].sort()).toEqual([caller.id, agent.id].sort());
    const leg = legOf('PJSIP/102');
    await eventually(() => (fake.channels.has(leg.channelId) ? undefined : true));
    expect(fake.playbacks.some((playback) => playback.channel === leg.channelId)).toBe(false);
    const info = await callInfo('warm', caller.id);
    expect(stepsOf(info)).toEqual(['command_held', 'command_dialing', 'command_ringing', 'command_returned', 'command_failed']);
    expect(info.call).toMatchObject({ state: 'active' });
  });

  it('brings the caller back when the destination is busy', async () => {
    const { caller, agent, bridge: agentBridge } = newCaller();
    const result = await (await call('warm', caller.id)).callTool({ name: 'transfer_call', arguments: { destination_number: '103', summary: SUMMARY } });
    expect(textOf(result)).toBe('Ana Gray (extension 103) is busy. The caller is back with you: offer to take a message or to try someone else.');
    expect(result.structuredContent).toMatchObject({ error: { mode: 'warm', outcome: 'busy' } });
    expect(fake.destroyed).toContainEqual({ id: legOf('PJSIP/103').channelId, cause: 17 });
    expect([...agentBridge.channels].sort()).toEqual([caller.id, agent.id].sort());
    const info = await callInfo('warm', caller.id);
    expect(info.commands[0]).toMatchObject({ outcome: 'busy', reason: 'busy (User busy, cause 17)' });
    expect(stepsOf(info)).toEqual(expect.arrayContaining(['command_held', 'command_dialing', 'command_returned', 'command_failed']));
    expect(stepsOf(info)).not.toContain('command_answered');
  });

  it('counts hanging up during the briefing as declined, and brings the caller back', async () => {
    const { caller, agent, bridge: agentBridge } = newCaller();
    const result = await (await call('warm', caller.id)).callTool({ name: 'transfer_call', arguments: { destination_number: '104', summary: SUMMARY } });
    expect(textOf(result)).toBe('Ben Ruiz (extension 104) declined the call after the briefing (hung up during the briefing). The caller is back with you: offer to take a message or to try someone else.');
    expect(result.structuredContent).toMatchObject({ error: { outcome: 'rejected', reason: 'hung up during the briefing' } });
    expect([...agentBridge.channels].sort()).toEqual([caller.id, agent.id].sort());
    const leg = legOf('PJSIP/104');
    // The far end hung up: nothing to hang up from here.
    expect(fake.hungUp).not.toContain(leg.channelId);
    const info = await callInfo('warm', caller.id);
    expect(stepsOf(info)).toEqual(['command_held', 'command_dialing', 'command_ringing', 'command_answered', 'command_declined', 'command_returned', 'command_failed']);
  });

  it('counts no key within accept_timeout_seconds as declined', async () => {
    const { caller, agent, bridge: agentBridge } = newCaller();
    const result = await (await call('warm', caller.id)).callTool({ name: 'transfer_call', arguments: { destination_number: '105', summary: SUMMARY } });
    expect(textOf(result)).toBe('Eva Long (extension 105) declined the call after the briefing (did not accept within 3 seconds). The caller is back with you: offer to take a message or to try someone else.');
    const leg = legOf('PJSIP/105');
    expect(fake.hungUp).toContain(leg.channelId);
    expect([...agentBridge.channels].sort()).toEqual([caller.id, agent.id].sort());
    expect(stepsOf(await callInfo('warm', caller.id))).toEqual(['command_held', 'command_dialing', 'command_ringing', 'command_answered', 'command_briefed', 'command_declined', 'command_returned', 'command_failed']);
  });

  it('hangs up the new leg and ends the call when the caller hangs up while on hold', async () => {
    const { caller } = newCaller();
    const before = fake.originated.length;
    const pending = (await call('warm', caller.id)).callTool({ name: 'transfer_to_tom', arguments: { summary: SUMMARY } });
    const leg = await eventually(() => fake.originated.slice(before).find((candidate) => candidate.endpoint === 'PJSIP/106'), 5000, 'the leg to be dialed');
    expect(fake.bridgeOf(caller.id)?.type).toBe('holding');
    fake.hangUp(caller.id, 16);
    const result = await pending;
    expect(textOf(result)).toBe('The call ended while the transfer to Tom Hart (extension 106) was under way; there is nothing more to do.');
    await eventually(() => (fake.hungUp.includes(leg.channelId) ? true : undefined), 5000, 'the leg to be hung up');
    const info = await eventually(async () => {
      const current = await callInfo('warm', caller.id);
      return current.commands[0]?.status === 'failed' ? current : undefined;
    });
    expect(info.call).toMatchObject({ state: 'ended', end_reason: 'caller hung up while on hold' });
    expect(info.commands[0]).toMatchObject({ status: 'failed', reason: 'the caller hung up while on hold' });
    expect(stepsOf(info)).not.toContain('command_returned');
  });

  it('with briefing header and accept stay, plays a beep and bridges once it has played', async () => {
    const { caller } = newCaller();
    const result = await (await call('stay', caller.id)).callTool({ name: 'transfer_call', arguments: { destination_number: '107', summary: SUMMARY } });
    expect(textOf(result)).toBe('Lia Park (extension 107) accepted the call after the briefing; the caller is now with them.');
    const leg = legOf('PJSIP/107');
    expect(leg.variables).toMatchObject({ 'PJSIP_HEADER(add,X-Switchboard-Summary)': SUMMARY_HEADER });
    expect(fake.playbacks.find((playback) => playback.channel === leg.channelId)?.media).toBe('sound:beep');
    // The default class: no mohClass sent.
    expect(fake.moh.at(-1)).toMatchObject({ mohClass: 'default' });
    expect(fake.dtmf.some((entry) => entry.channel === leg.channelId)).toBe(false);
    const info = await callInfo('stay', caller.id);
    expect(info.events.find((event) => event.type === 'command_briefed')?.detail).toEqual({ briefing: 'header' });
    expect(stepsOf(info)).toEqual(['command_held', 'command_dialing', 'command_ringing', 'command_answered', 'command_briefed', 'command_accepted', 'command_bridged', 'command_succeeded']);
  });
});

describe('a blind bridge transfer with a summary', () => {
  it('sends the summary as the X-Switchboard-Summary header variable on originate, and none without one', async () => {
    const { caller } = newCaller();
    const client = await call('blind', caller.id);
    const tool = (await client.listTools()).tools.find((candidate) => candidate.name === 'transfer_call');
    expect(tool?.inputSchema).toMatchObject({ required: ['destination_number'] });
    const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '107', summary: SUMMARY } });
    expect(textOf(result)).toBe('The call was transferred to Lia Park (extension 107).');
    expect(result.structuredContent).toMatchObject({ mode: 'blind', outcome: 'connected' });
    expect(legOf('PJSIP/107').variables).toEqual({ 'PJSIP_HEADER(add,X-Switchboard-Summary)': SUMMARY_HEADER, __SWITCHBOARD_SUMMARY: SUMMARY_HEADER });
    expect((await callInfo('blind', caller.id)).commands[0]).toMatchObject({ mode: 'blind', summary: SUMMARY });

    const other = newCaller().caller;
    await (await call('blind', other.id)).callTool({ name: 'transfer_call', arguments: { destination_number: '107' } });
    const leg = fake.originated.at(-1);
    expect(leg?.endpoint).toBe('PJSIP/107');
    expect(leg?.variables).toBeUndefined();
  });
});

describe('the summary as a header, and the briefing URL', () => {
  it.each([
    ['plain words', 'Wants a quote for a new boiler.', 'Wants a quote for a new boiler.'],
    ['line breaks and tabs', 'Leak in\r\nthe kitchen;\tcall back', 'Leak in the kitchen; call back'],
    ['accents folded, other scripts dropped', 'Crème brûlée order for Zoë 注文', 'Creme brulee order for Zoe'],
    ['control characters', 'a\u0000b\u001bc\u007fd', 'abcd'],
  ])('%s', (_case, summary, header) => {
    expect(summaryHeaderValue(summary)).toBe(header);
  });

  it('is at most 200 bytes, cut on a word boundary', () => {
    const summary = `${'word '.repeat(39)}boundary ${'x'.repeat(40)}`;
    const header = summaryHeaderValue(summary);
    expect(Buffer.byteLength(header)).toBeLessThanOrEqual(200);
    // "boundary" would end at byte 203: the cut falls before it, not inside it.
    expect(header).toBe('word '.repeat(39).trim());
    expect(summaryHeaderValue('y'.repeat(500))).toBe('y'.repeat(200));
  });

  it('fills the briefing URL URL-encoded, leaving other braces alone', () => {
    expect(briefingUrl('https://tts.example/say?text={summary}&from={caller}&call={call_id}&to={destination}&v={voice}', { summary: 'Boiler & leak?', caller: '+12125550199', callId: 'c 1', destination: '100' })).toBe(
      'https://tts.example/say?text=Boiler%20%26%20leak%3F&from=%2B12125550199&call=c%201&to=100&v={voice}',
    );
  });

  it('defaults the briefing by what the phone system can speak', () => {
    expect(warmSettingsOf({ driver: 'ari', url: 'http://pbx', username: 'u', password: 'P', app: 'a' })).toMatchObject({ accept: 'dtmf', acceptTimeoutSeconds: 10, briefing: 'header', briefingUrl: null });
    expect(warmSettingsOf({ driver: 'ari', url: 'http://pbx', username: 'u', password: 'P', app: 'a', warm: { briefing_url: 'https://tts/{summary}' } }).briefing).toBe('url');
    expect(warmSettingsOf({ driver: 'twilio', account_sid: 'AC', auth_token: 'T' }).briefing).toBe('tts');
    expect(warmSettingsOf(undefined).briefing).toBe('tts');
  });
});
