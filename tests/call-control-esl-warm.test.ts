/**
 * Warm transfers with the esl driver, end to end: an official MCP client
 * calls the tools, and the fake FreeSWITCH event socket
 * (tests/helpers/fake-freeswitch.ts) plays the caller's channel and the
 * person who answers the new leg, on the documented wire protocol. What the
 * caller hears (the hold music started with uuid_broadcast, stopped by
 * uuid_break or uuid_bridge), what the destination hears (speak, a playback
 * of the briefing URL, a beep) and does (1, 2, nothing, hanging up), the
 * commands in order, the tool's answer and the call's history. And blind
 * transfers carrying the summary as the X-Switchboard-Summary header.
 */
import { randomUUID } from 'node:crypto';

import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FakeFreeswitch } from './helpers/fake-freeswitch.ts';
import { adminRequest } from './helpers/pbx.ts';
import { callHeaders, connect, eventually, startTestServer, textOf, type TestServer } from './helpers/server.ts';

const PASSWORD = 'Warm-socket-3391';
const DOMAIN = 'pbx.example.com';
const SUMMARY = 'Renée wants to move the delivery of order 4471 to Friday, and asks whether the fee is refunded.';
/** The summary as the header carries it: accents folded, and as FreeSWITCH reads the variable back (the escaped comma a comma again). */
const HEADER = 'Renee wants to move the delivery of order 4471 to Friday, and asks whether the fee is refunded.';
const SPOKEN = `Call transfer. ${SUMMARY} Press 1 to take the call, or 2 to decline.`;
const STEPS = new Set(['command_held', 'command_dialing', 'command_ringing', 'command_answered', 'command_briefed', 'command_accepted', 'command_declined', 'command_bridged', 'command_returned', 'command_succeeded', 'command_failed']);

let fs: FakeFreeswitch;
let server: TestServer;
const clients: Client[] = [];

const users = `
users:
  - { id: u-100, name: Dana Reyes, extension: "100" }
  - { id: u-101, name: Sam Ortiz, extension: "101" }
  - { id: u-102, name: Kim Lee, extension: "102" }
  - { id: u-103, name: Alex Park, extension: "103" }
transfer_policy:
  allow: ["1XX"]
`;
const account = (id: string, block: string) =>
  `account_id: ${id}\ntimezone: America/Chicago\n${users}call_control:\n  driver: esl\n  host: 127.0.0.1\n  port: ${fs.port}\n  password: FS_PASSWORD\n  hangup_delay_seconds: 0.1\n  ring_timeout_seconds: 1\n${block}`;
const warmDesk = `persona_id: desk
global_tools:
  transfer_call:
    description: Transfer the caller after briefing the person who answers.
    mode: warm
tools:
  - { type: transfer_to_user, name: transfer_to_kim, description: Kim., user: u-102, mode: warm, on_no_answer: return }
`;
const blindDesk = `persona_id: desk
tools:
  - { type: transfer_to_user, name: transfer_to_kim, description: Kim., user: u-102 }
`;

async function caller(accountId: string): Promise<{ uuid: string; client: Client }> {
  const uuid = randomUUID();
  const client = await connect(server, callHeaders({ key: await server.key(accountId), account: accountId, persona: 'desk', call: uuid, caller: '+13125550123' }));
  clients.push(client);
  fs.addCaller(uuid);
  return { uuid, client };
}

interface CallInfo {
  call: { state: string; end_reason: string | null; transferred_to: string | null };
  commands: { status: string; outcome: string | null; reason: string | null; mode: string | null; summary: string | null }[];
  events: { type: string; detail: Record<string, unknown> | null }[];
}
const callInfo = async (accountId: string, call: string) => (await adminRequest(server.url, await server.key(accountId, 'admin'), 'GET', `/ucp/v2/accounts/${accountId}/calls/${call}`)).body as unknown as CallInfo;

/** The call's history once its command is settled, and the warm steps in it, in order. */
async function settled(accountId: string, call: string): Promise<CallInfo & { steps: string[] }> {
  const info = await eventually(async () => {
    const body = await callInfo(accountId, call);
    return body.events.some((event) => event.type === 'command_succeeded' || event.type === 'command_failed') ? body : undefined;
  });
  return { ...info, steps: info.events.map((event) => event.type).filter((type) => STEPS.has(type)) };
}

/** The commands FreeSWITCH received since `from` about the caller's channel or the new leg, in order. */
const wire = (from: number, ...ids: string[]) =>
  fs.received
    .slice(from)
    .map((command) => command.line)
    .filter((line) => ids.some((id) => line.includes(id)));

/** The new leg of the transfer started after `from` originates. */
const legAfter = (from: number) => eventually(() => fs.originates[from]?.variables.origination_uuid);

const originateLine = (leg: string, destination: string, extra: string) =>
  `bgapi originate {origination_uuid=${leg},originate_timeout=1,ignore_early_media=true,${extra}origination_caller_id_number=+13125550123,sip_h_X-Switchboard-Summary='${HEADER.replace(/,/g, '\\,')}'}user/${destination}@${DOMAIN} &park()`;

beforeAll(async () => {
  fs = await new FakeFreeswitch(PASSWORD).start();
  const endpoint = `  endpoint_template: user/{destination}@${DOMAIN}\n`;
  server = await startTestServer({
    personas: {
      'warmco/account.yaml': account('warmco', `${endpoint}  warm:\n    accept_timeout_seconds: 3\n`),
      'warmco/desk.yaml': warmDesk,
      'stayco/account.yaml': account('stayco', `${endpoint}  warm:\n    accept: stay\n    briefing: url\n    briefing_url: https://tts.example.net/say?text={summary}&for={destination}\n    music_on_hold: jazz\n`),
      'stayco/desk.yaml': warmDesk,
      'headerco/account.yaml': account('headerco', `${endpoint}  warm:\n    briefing: header\n    music_on_hold: /usr/share/freeswitch/sounds/music/8000/suite-espanola.wav\n`),
      'headerco/desk.yaml': warmDesk,
      'blindco/account.yaml': account('blindco', `  context: ${DOMAIN}\n`),
      'blindco/desk.yaml': blindDesk,
      'bridgeco/account.yaml': account('bridgeco', `  transfer_method: bridge\n${endpoint}`),
      'bridgeco/desk.yaml': blindDesk,
    },
    env: { FS_PASSWORD: PASSWORD },
    settings: { outboundAllow: ['127.0.0.1'] },
  });
  await eventually(() => (fs.connected >= 5 ? true : undefined), 10_000, 'five event socket connections');
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await server.close();
  await fs.stop();
});

describe('warm transfers on FreeSWITCH', () => {
  it('subscribes to DTMF and to the CUSTOM event that ends a briefing', () => {
    expect(fs.received.map((command) => command.line)).toContain('event plain BACKGROUND_JOB CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_ANSWER CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE DTMF CUSTOM switchboard::warm');
  });

  it('holds the caller, briefs the destination with speak, and bridges when they press 1', async () => {
    const { uuid, client } = await caller('warmco');
    fs.script('100', { kind: 'answer', then: { kind: 'press', digit: '1' } });
    const from = fs.received.length;
    const originated = fs.originates.length;
    const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '100', summary: SUMMARY } });
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toBe('Dana Reyes (extension 100) accepted the call after the briefing; the caller is now with them.');
    expect(result.structuredContent).toMatchObject({ mode: 'warm', outcome: 'connected' });

    const leg = await legAfter(originated);
    expect(wire(from, uuid, leg)).toEqual([
      `api uuid_broadcast ${uuid} endless_playback::local_stream://moh aleg`,
      originateLine(leg, '100', 'tts_engine=flite,tts_voice=kal,'),
      `sendmsg ${leg}`,
      `sendmsg ${leg}`,
      `api uuid_bridge ${uuid} ${leg}`,
    ]);
    expect(fs.originates[originated]?.variables['sip_h_X-Switchboard-Summary']).toBe(HEADER);
    const briefing = fs.executed.filter((app) => app.uuid === leg);
    expect(briefing.map(({ app, arg }) => [app, arg])).toEqual([
      ['speak', SPOKEN],
      ['event', expect.stringMatching(/^Event-Name=CUSTOM,Event-Subclass=switchboard::warm,Switchboard-Briefing=[0-9a-f-]{36}$/)],
    ]);
    expect(briefing.every((app) => app.headers['call-command'] === 'execute' && app.headers['event-lock'] === 'true')).toBe(true);
    expect(fs.pressed).toContainEqual({ uuid: leg, digit: '1' });
    expect(fs.bridges).toContainEqual([uuid, leg]);
    // uuid_bridge stopped the music: the caller hears the destination.
    expect(fs.playingTo(uuid)).toBeUndefined();

    const info = await settled('warmco', uuid);
    expect(info.steps).toEqual(['command_held', 'command_dialing', 'command_ringing', 'command_answered', 'command_briefed', 'command_accepted', 'command_bridged', 'command_succeeded']);
    expect(info.call).toMatchObject({ state: 'transferred', transferred_to: '100' });
    expect(info.commands[0]).toMatchObject({ status: 'succeeded', outcome: 'connected', mode: 'warm', summary: SUMMARY });
    expect(info.events.find((event) => event.type === 'command_held')?.detail).toMatchObject({ music: 'local_stream://moh' });
  });

  it('takes the caller off hold when the destination presses 2, and hangs the new leg up', async () => {
    const { uuid, client } = await caller('warmco');
    fs.script('102', { kind: 'answer', then: { kind: 'press', digit: '2' } });
    const from = fs.received.length;
    const originated = fs.originates.length;
    const result = await client.callTool({ name: 'transfer_to_kim', arguments: { summary: SUMMARY } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('Kim Lee (extension 102) declined the call after the briefing. The caller is back with you: offer to take a message or to try someone else.');

    const leg = await legAfter(originated);
    expect(wire(from, uuid, leg)).toEqual([
      `api uuid_broadcast ${uuid} endless_playback::local_stream://moh aleg`,
      originateLine(leg, '102', 'tts_engine=flite,tts_voice=kal,'),
      `sendmsg ${leg}`,
      `sendmsg ${leg}`,
      `api uuid_kill ${leg}`,
      `api uuid_break ${uuid}`,
    ]);
    expect(fs.channels.has(leg)).toBe(false);
    expect(fs.channels.has(uuid)).toBe(true);
    expect(fs.playingTo(uuid)).toBeUndefined();
    expect(fs.bridges.some(([a]) => a === uuid)).toBe(false);

    const info = await settled('warmco', uuid);
    expect(info.steps).toEqual(['command_held', 'command_dialing', 'command_ringing', 'command_answered', 'command_briefed', 'command_declined', 'command_returned', 'command_failed']);
    expect(info.call.state).toBe('active');
    expect(info.commands[0]).toMatchObject({ status: 'failed', outcome: 'rejected', reason: 'declined after the briefing' });
    expect(info.events.find((event) => event.type === 'command_declined')?.detail).toMatchObject({ digit: '2' });
  });

  it('returns the caller when nobody answers within the ring time', async () => {
    const { uuid, client } = await caller('warmco');
    fs.script('102', { kind: 'ring' });
    const from = fs.received.length;
    const originated = fs.originates.length;
    const result = await client.callTool({ name: 'transfer_to_kim', arguments: { summary: SUMMARY } });
    expect(textOf(result)).toBe('Kim Lee (extension 102) did not answer within 1 second. The caller is back with you: offer to take a message or to try someone else.');

    const leg = await legAfter(originated);
    expect(wire(from, uuid, leg)).toEqual([`api uuid_broadcast ${uuid} endless_playback::local_stream://moh aleg`, originateLine(leg, '102', 'tts_engine=flite,tts_voice=kal,'), `api uuid_break ${uuid}`]);
    expect(fs.executed.some((app) => app.uuid === leg)).toBe(false);
    expect(fs.playingTo(uuid)).toBeUndefined();
    const info = await settled('warmco', uuid);
    expect(info.steps).toEqual(['command_held', 'command_dialing', 'command_ringing', 'command_returned', 'command_failed']);
    expect(info.commands[0]).toMatchObject({ status: 'failed', outcome: 'no_answer', reason: 'nobody answered: NO_ANSWER' });
  });

  it('returns the caller when the destination is busy', async () => {
    const { uuid, client } = await caller('warmco');
    fs.script('103', { kind: 'fail', cause: 'USER_BUSY' });
    const from = fs.received.length;
    const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '103', summary: SUMMARY } });
    expect(textOf(result)).toBe('Alex Park (extension 103) is busy. The caller is back with you: offer to take a message or to try someone else.');
    expect(wire(from, uuid).at(-1)).toBe(`api uuid_break ${uuid}`);
    expect(fs.playingTo(uuid)).toBeUndefined();
    const info = await settled('warmco', uuid);
    expect(info.steps).toEqual(['command_held', 'command_dialing', 'command_ringing', 'command_returned', 'command_failed']);
    expect(info.commands[0]).toMatchObject({ status: 'failed', outcome: 'busy', reason: 'the destination is busy: USER_BUSY' });
  });

  it('hangs up the new leg and ends the call when the caller hangs up while held', async () => {
    const { uuid, client } = await caller('warmco');
    fs.script('101', { kind: 'ring' });
    const from = fs.received.length;
    const originated = fs.originates.length;
    // The call's session closes when the call ends, so the tool's own answer may never arrive; the history tells.
    void client.callTool({ name: 'transfer_call', arguments: { destination_number: '101', summary: SUMMARY } }).catch(() => undefined);
    const leg = await legAfter(originated);
    await eventually(() => (fs.channels.has(leg) ? true : undefined));
    expect(fs.playingTo(uuid)).toBe('local_stream://moh');
    fs.hangup(uuid, 'NORMAL_CLEARING');

    await eventually(() => (fs.kills.includes(leg) ? true : undefined));
    const info = await eventually(async () => {
      const body = await callInfo('warmco', uuid);
      return body.commands[0]?.status === 'failed' && body.call.state === 'ended' ? body : undefined;
    });
    expect(info.call.end_reason).toBe('the caller hung up while on hold');
    expect(info.commands[0]?.reason).toBe('the caller hung up while on hold');
    expect(wire(from, uuid, leg)).toEqual([`api uuid_broadcast ${uuid} endless_playback::local_stream://moh aleg`, originateLine(leg, '101', 'tts_engine=flite,tts_voice=kal,'), `api uuid_kill ${leg}`]);
  });

  it('counts a hang-up during the briefing as declined, and returns the caller', async () => {
    const { uuid, client } = await caller('warmco');
    fs.script('102', { kind: 'answer', then: { kind: 'hangup', during: true } });
    const from = fs.received.length;
    const originated = fs.originates.length;
    const result = await client.callTool({ name: 'transfer_to_kim', arguments: { summary: SUMMARY } });
    expect(textOf(result)).toBe(
      'Kim Lee (extension 102) declined the call after the briefing (hung up during the briefing). The caller is back with you: offer to take a message or to try someone else.',
    );
    const leg = await legAfter(originated);
    // The leg hung up itself: nothing to kill, only the caller to take off hold.
    expect(wire(from, uuid, leg)).toEqual([
      `api uuid_broadcast ${uuid} endless_playback::local_stream://moh aleg`,
      originateLine(leg, '102', 'tts_engine=flite,tts_voice=kal,'),
      `sendmsg ${leg}`,
      `sendmsg ${leg}`,
      `api uuid_break ${uuid}`,
    ]);
    const info = await settled('warmco', uuid);
    expect(info.steps).toEqual(['command_held', 'command_dialing', 'command_ringing', 'command_answered', 'command_declined', 'command_returned', 'command_failed']);
    expect(info.commands[0]).toMatchObject({ status: 'failed', outcome: 'rejected', reason: 'hung up during the briefing' });
  });

  it('counts no key within accept_timeout_seconds as declined', async () => {
    const { uuid, client } = await caller('warmco');
    fs.script('102', { kind: 'answer', then: { kind: 'silent' } });
    const originated = fs.originates.length;
    const result = await client.callTool({ name: 'transfer_to_kim', arguments: { summary: SUMMARY } });
    expect(textOf(result)).toBe(
      'Kim Lee (extension 102) declined the call after the briefing (did not accept within 3 seconds). The caller is back with you: offer to take a message or to try someone else.',
    );
    const leg = await legAfter(originated);
    expect(fs.kills).toContain(leg);
    expect(fs.breaks).toContainEqual({ uuid, all: false });
    const info = await settled('warmco', uuid);
    expect(info.steps).toEqual(['command_held', 'command_dialing', 'command_ringing', 'command_answered', 'command_briefed', 'command_declined', 'command_returned', 'command_failed']);
    expect(info.commands[0]?.reason).toBe('did not accept within 3 seconds');
  });

  it('with accept: stay and briefing: url, plays the URL and bridges once it has played', async () => {
    const { uuid, client } = await caller('stayco');
    fs.script('100', { kind: 'answer', then: { kind: 'silent' } });
    const from = fs.received.length;
    const originated = fs.originates.length;
    const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '100', summary: SUMMARY } });
    expect(textOf(result)).toBe('Dana Reyes (extension 100) accepted the call after the briefing; the caller is now with them.');
    const leg = await legAfter(originated);
    expect(wire(from, uuid, leg)).toEqual([
      `api uuid_broadcast ${uuid} endless_playback::local_stream://jazz aleg`,
      originateLine(leg, '100', ''),
      `sendmsg ${leg}`,
      `sendmsg ${leg}`,
      `api uuid_bridge ${uuid} ${leg}`,
    ]);
    expect(fs.executed.find((app) => app.uuid === leg)).toMatchObject({ app: 'playback', arg: `https://tts.example.net/say?text=${encodeURIComponent(SUMMARY)}&for=100` });
    expect(fs.pressed.some((press) => press.uuid === leg)).toBe(false);
    const info = await settled('stayco', uuid);
    expect(info.steps).toEqual(['command_held', 'command_dialing', 'command_ringing', 'command_answered', 'command_briefed', 'command_accepted', 'command_bridged', 'command_succeeded']);
  });

  it('with briefing: header, beeps, and takes a 1 pressed while it still plays', async () => {
    const { uuid, client } = await caller('headerco');
    fs.script('100', { kind: 'answer', then: { kind: 'press', digit: '1', during: true } });
    const originated = fs.originates.length;
    const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '100', summary: SUMMARY } });
    expect(textOf(result)).toBe('Dana Reyes (extension 100) accepted the call after the briefing; the caller is now with them.');
    const leg = await legAfter(originated);
    expect(fs.broadcasts.at(-1)).toEqual({ uuid, app: 'endless_playback', path: '/usr/share/freeswitch/sounds/music/8000/suite-espanola.wav', legs: 'aleg' });
    expect(fs.originates[originated]?.variables).toMatchObject({ 'sip_h_X-Switchboard-Summary': HEADER });
    expect(fs.originates[originated]?.variables.tts_engine).toBeUndefined();
    expect(fs.executed.find((app) => app.uuid === leg)).toMatchObject({ app: 'playback', arg: 'tone_stream://%(300,0,880)' });
    expect(fs.bridges).toContainEqual([uuid, leg]);
    const info = await settled('headerco', uuid);
    expect(info.steps).toEqual(['command_held', 'command_dialing', 'command_ringing', 'command_answered', 'command_briefed', 'command_accepted', 'command_bridged', 'command_succeeded']);
    expect(info.events.find((event) => event.type === 'command_briefed')?.detail).toMatchObject({ complete: false });
  });
});

describe('blind transfers with a summary', () => {
  it('uuid_transfer: sets the sip_h_ variable on the caller first, so the dialplan bridge carries the header', async () => {
    const { uuid, client } = await caller('blindco');
    const from = fs.received.length;
    const result = await client.callTool({ name: 'transfer_to_kim', arguments: { summary: SUMMARY } });
    expect(textOf(result)).toBe('The call was handed over to Kim Lee (extension 102); the phone system takes it from here and cannot report whether it is answered.');
    expect(wire(from, uuid)).toEqual([`api uuid_setvar ${uuid} sip_h_X-Switchboard-Summary ${HEADER}`, `bgapi uuid_transfer ${uuid} 102 XML ${DOMAIN}`]);
    expect(fs.channels.get(uuid)?.variables['sip_h_X-Switchboard-Summary']).toBe(HEADER);
    expect(result.structuredContent).toMatchObject({ mode: 'blind' });
    expect((await callInfo('blindco', uuid)).commands[0]).toMatchObject({ mode: 'blind', summary: SUMMARY });
  });

  it('bridge: originates the new leg with the header, and sends none without a summary', async () => {
    const { uuid, client } = await caller('bridgeco');
    fs.script('102', { kind: 'answer' });
    const originated = fs.originates.length;
    expect(textOf(await client.callTool({ name: 'transfer_to_kim', arguments: { summary: SUMMARY } }))).toBe('The call was transferred to Kim Lee (extension 102).');
    expect(fs.originates[originated]?.variables['sip_h_X-Switchboard-Summary']).toBe(HEADER);

    const second = await caller('bridgeco');
    expect(textOf(await second.client.callTool({ name: 'transfer_to_kim', arguments: {} }))).toBe('The call was transferred to Kim Lee (extension 102).');
    expect(fs.originates[originated + 1]?.variables).not.toHaveProperty('sip_h_X-Switchboard-Summary');
    expect(fs.broadcasts.some((broadcast) => broadcast.uuid === uuid || broadcast.uuid === second.uuid)).toBe(false);
  });
});
