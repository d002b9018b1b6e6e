/**
 * Call control with the ari driver against a fake Asterisk that speaks ARI
 * at the wire (tests/helpers/fake-asterisk.ts): an official MCP client
 * calls the tools; the driver keeps its events WebSocket, originates and
 * bridges (bridge), redirects (redirect) or sends the caller on in the
 * dialplan and reads its Dial (continue), hangs up, follows the caller's
 * channel to its end, reads DND from device states, and reports its health
 * in /readyz.
 */
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import { missingSecret } from '../engine/calls/drivers/driver.ts';
import { isDnd, readDialStatus, unansweredLeg } from '../engine/calls/drivers/ari/outcomes.ts';
import { FakeAsterisk } from './helpers/fake-asterisk.ts';
import { adminRequest } from './helpers/pbx.ts';
import { callHeaders, connect, eventually, startTestServer, textOf, type TestServer } from './helpers/server.ts';

const PASSWORD = 'ari-test-password-51f0';
const VOICE_BRIDGE_APP = 'voicebot';
let fake: FakeAsterisk;
let server: TestServer;
const clients: Client[] = [];

const account = (id: string, callControl: string) => `
account_id: ${id}
timezone: America/New_York
users:
  - { id: u-100, name: Dana Reyes, extension: "100" }
  - { id: u-200, name: Sam Ortiz, extension: "200" }
  - { id: u-300, name: Kim Lee, extension: "300" }
  - { id: u-400, name: Ana Gray, extension: "400" }
  - { id: u-500, name: Ben Ruiz, extension: "500" }
queues:
  - { id: q-sales, name: Sales, extension: "600" }
call_control:
  driver: ari
  username: switchboard
  ring_timeout_seconds: 1
  hangup_delay_seconds: 0.1
${callControl}`;

const desk = `
persona_id: desk
tools:
  - { type: transfer_to_user, name: transfer_to_sam, description: Transfer to Sam., user: u-200, on_no_answer: fallback, fallback: [{ queue: q-sales }] }
  - { type: transfer_to_user, name: transfer_to_kim, description: Transfer to Kim., user: u-300, on_no_answer: return }
`;

let nextChannel = 100;
/** A caller's channel in the voice bridge's Stasis application, as Asterisk numbers them. */
const newCaller = (): string => fake.addCaller(`1767225600.${nextChannel++}`, VOICE_BRIDGE_APP).id;

async function call(accountId: string, channelId: string): Promise<Client> {
  const client = await connect(server, callHeaders({ key: await server.key(accountId), account: accountId, persona: 'desk', call: channelId, caller: '+12125550199' }));
  clients.push(client);
  return client;
}

const callInfo = async (accountId: string, callId: string) => (await adminRequest(server.url, await server.key(accountId, 'admin'), 'GET', `/ucp/v2/accounts/${accountId}/calls/${callId}`)).body as { call: Record<string, unknown>; commands: Record<string, unknown>[]; events: { type: string; detail: Record<string, unknown> | null }[] };

async function phoneSystem(id: string): Promise<{ state: string; reason: string | null }> {
  const body = (await (await fetch(new URL('/readyz', server.url))).json()) as { phone_systems: { account: string; state: string; reason: string | null }[] };
  return body.phone_systems.find((entry) => entry.account === id) as { state: string; reason: string | null };
}

const upAgain = (id: string) => eventually(async () => ((await phoneSystem(id)).state === 'up' ? true : undefined), 8000, `${id} to be up`);

beforeAll(async () => {
  fake = await new FakeAsterisk({ switchboard: PASSWORD }).start();
  fake.registerApp(VOICE_BRIDGE_APP);
  fake.legScript = (endpoint) => {
    const extension = /^Local\/(\d+)@from-internal$/.exec(endpoint)?.[1];
    if (extension === '100' || extension === '600') return { answerAfterMs: 40 };
    if (extension === '200') return { hangupAfterMs: 30, cause: 17 };
    return { ring: true };
  };
  fake.dialScript = (context, extension) => {
    if (context !== 'from-internal') return { noDial: true };
    if (extension === '100') return { dialstatus: 'ANSWER', afterMs: 30 };
    if (extension === '200') return { dialstatus: 'BUSY', afterMs: 30 };
    if (extension === '300') return { dialstatus: 'NOANSWER', afterMs: 30 };
    return { noDial: true };
  };
  fake.setDeviceState('Custom:DND-400', 'BUSY');
  const ari = (app: string, extra = '', url = fake.url, password = 'ACME_ARI_PASSWORD') => `  url: ${url}\n  password: ${password}\n  app: ${app}\n${extra}`;
  server = await startTestServer({
    personas: {
      'acme/account.yaml': account('acme', ari('switchboard', '  endpoint_template: "Local/{destination}@from-internal"\n  presence: { device_template: "Custom:DND-{extension}" }\n')),
      'acme/desk.yaml': desk,
      'redir/account.yaml': account('redir', ari('sb-redirect', '  transfer_method: redirect\n  endpoint_template: "PJSIP/{destination}"\n')),
      'redir/desk.yaml': desk,
      'dialplan/account.yaml': account('dialplan', ari('sb-continue', '  transfer_method: continue\n  context: from-internal\n')),
      'dialplan/desk.yaml': desk,
      'offline/account.yaml': account('offline', ari('sb-offline', '  endpoint_template: "PJSIP/{destination}"\n', 'http://127.0.0.1:1')),
      'offline/desk.yaml': desk,
      'wrongpw/account.yaml': account('wrongpw', ari('sb-wrongpw', '  endpoint_template: "PJSIP/{destination}"\n', fake.url, 'WRONG_ARI_PASSWORD')),
      'wrongpw/desk.yaml': desk,
      'nosecret/account.yaml': account('nosecret', ari('sb-nosecret', '  endpoint_template: "PJSIP/{destination}"\n', fake.url, 'UNSET_ARI_PASSWORD')),
      'nosecret/desk.yaml': desk,
      'shared/account.yaml': account('shared', ari('sb-shared', '  endpoint_template: "PJSIP/{destination}"\n')),
      'shared/desk.yaml': desk,
    },
    env: { ACME_ARI_PASSWORD: PASSWORD, WRONG_ARI_PASSWORD: 'not-the-password' },
    // The fake Asterisk listens on loopback, which the outbound guard refuses unless allowed.
    settings: { outboundAllow: ['127.0.0.1'] },
  });
  for (const id of ['acme', 'redir', 'dialplan', 'shared']) await upAgain(id);
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await server?.close();
  await fake?.close();
});

describe('the ARI connection', () => {
  it('is up while the events WebSocket is open, with basic auth and never the password in a URL', async () => {
    expect(await phoneSystem('acme')).toMatchObject({ state: 'up', reason: null });
    expect(fake.hasSocket('switchboard')).toBe(true);
    expect(fake.requests.length).toBeGreaterThan(0);
    expect(fake.requests.every((request) => request.auth === 'basic' && !('api_key' in request.query))).toBe(true);
  });

  it('is down with a reason an operator can act on, and transfers fail at once', async () => {
    const reasons = {
      offline: await eventually(async () => ((await phoneSystem('offline')).state === 'down' ? (await phoneSystem('offline')).reason : undefined)),
      wrongpw: await eventually(async () => ((await phoneSystem('wrongpw')).state === 'down' ? (await phoneSystem('wrongpw')).reason : undefined)),
      nosecret: (await phoneSystem('nosecret')).reason,
    };
    expect(reasons.offline).toBe('cannot reach Asterisk at 127.0.0.1:1 (ECONNREFUSED)');
    expect(reasons.wrongpw).toBe('Asterisk refused the ARI user name or password');
    expect(reasons.nosecret).toBe(missingSecret('UNSET_ARI_PASSWORD'));
    for (const id of ['offline', 'wrongpw', 'nosecret']) {
      const before = fake.originated.length;
      const result = await (await call(id, newCaller())).callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toBe('The phone system is not connected right now, so the call was not transferred to Dana Reyes (extension 100). Tell the caller and offer to take a message instead.');
      expect(fake.originated.length).toBe(before);
    }
  });

  it('reconnects after Asterisk drops the WebSocket, and works again', async () => {
    const before = fake.connections;
    fake.dropSockets();
    await eventually(() => (fake.connections > before && fake.hasSocket('switchboard') ? true : undefined), 8000, 'a new events WebSocket');
    await upAgain('acme');
    const channel = newCaller();
    const result = await (await call('acme', channel)).callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
    expect(textOf(result)).toBe('The call was transferred to Dana Reyes (extension 100).');
  });

  it('goes down, and stays down, when another client takes its Stasis application', async () => {
    const intruder = new WebSocket(`${fake.url.replace('http', 'ws')}/ari/events?app=sb-shared`, { headers: { authorization: `Basic ${Buffer.from(`switchboard:${PASSWORD}`).toString('base64')}` } });
    const heard: string[] = [];
    intruder.on('message', (data) => heard.push((JSON.parse(data.toString()) as { type: string }).type));
    await new Promise((resolve) => intruder.once('open', resolve));
    const health = await eventually(async () => ((await phoneSystem('shared')).state === 'down' ? phoneSystem('shared') : undefined));
    expect(health.reason).toMatch(/^another ARI client took over the Stasis application "sb-shared"/);
    // Past the first reconnect delay: the driver has not taken the name back from the other client.
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(heard).not.toContain('ApplicationReplaced');
    expect(fake.hasSocket('sb-shared')).toBe(true);
    expect((await phoneSystem('shared')).state).toBe('down');
    intruder.close();
  });
});

describe('transfer_method bridge', () => {
  it('originates into the app, bridges the caller on answer, and reports each step', async () => {
    const channel = newCaller();
    const result = await (await call('acme', channel)).callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
    expect(textOf(result)).toBe('The call was transferred to Dana Reyes (extension 100).');
    const { call: record, commands, events } = await callInfo('acme', channel);
    const leg = fake.originated.at(-1);
    expect(leg).toMatchObject({ endpoint: 'Local/100@from-internal', app: 'switchboard', appArgs: `switchboard,transfer,${String(commands[0]?.id)}`, callerId: '+12125550199', timeout: 1 });
    expect(record).toMatchObject({ state: 'transferred', transferred_to: '100' });
    expect(commands[0]).toMatchObject({ status: 'succeeded', outcome: 'connected', driver: 'ari' });
    expect(events.map((event) => event.type)).toEqual(expect.arrayContaining(['command_dialing', 'command_ringing', 'command_answered', 'command_bridged', 'command_succeeded']));
    const bridge = [...fake.bridges.values()].find((candidate) => candidate.channels.has(channel));
    expect([...(bridge?.channels ?? [])].sort()).toEqual([channel, leg?.channelId].sort());
    // Subscribed to the caller's channel before anything else.
    expect(fake.requests.find((request) => request.query.eventSource === `channel:${channel}`)).toMatchObject({ method: 'POST', path: '/ari/applications/switchboard/subscription', status: 200 });

    // The destination hangs up: the caller is hung up with it, and the call ends.
    fake.hangUp(leg?.channelId as string);
    await eventually(async () => ((await callInfo('acme', channel)).call.state === 'ended' ? true : undefined));
    expect(fake.hungUp).toContain(channel);
    expect(fake.bridges.has(bridge?.id as string)).toBe(false);
  });

  it('tries the fallback when the destination is busy', async () => {
    const channel = newCaller();
    const result = await (await call('acme', channel)).callTool({ name: 'transfer_to_sam', arguments: {} });
    expect(textOf(result)).toBe('Sam Ortiz (extension 200) is busy. The call was transferred to Sales (extension 600).');
    const endpoints = fake.originated.slice(-2).map((leg) => leg.endpoint);
    expect(endpoints).toEqual(['Local/200@from-internal', 'Local/600@from-internal']);
    expect(fake.destroyed).toContainEqual({ id: fake.originated.at(-2)?.channelId, cause: 17 });
    const { commands } = await callInfo('acme', channel);
    expect(commands.map((command) => [command.outcome, command.reason])).toEqual([
      ['busy', 'busy (User busy, cause 17)'],
      ['connected', null],
    ]);
  });

  it('hangs up a leg not answered within the ring time, leaves the caller with the agent, and ends the call when the caller hangs up', async () => {
    const channel = newCaller();
    const result = await (await call('acme', channel)).callTool({ name: 'transfer_to_kim', arguments: {} });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('Kim Lee (extension 300) did not answer within 1 second. The caller is still with you: offer to take a message or to try someone else.');
    const leg = fake.originated.at(-1);
    expect(leg?.endpoint).toBe('Local/300@from-internal');
    await eventually(() => (fake.destroyed.some((entry) => entry.id === leg?.channelId) ? true : undefined));
    expect((await callInfo('acme', channel)).call).toMatchObject({ state: 'active' });

    fake.hangUp(channel, 16);
    const ended = await eventually(async () => {
      const info = await callInfo('acme', channel);
      return info.call.state === 'ended' ? info.call : undefined;
    });
    expect(ended.end_reason).toBe("the caller's channel hung up (Normal Clearing, cause 16)");
  });

  it("ends a call whose channel is in Switchboard's own application when it hangs up, without any command", async () => {
    const channel = fake.addCaller(`1767225600.${nextChannel++}`, 'switchboard').id;
    expect((await adminRequest(server.url, await server.key('acme', 'admin'), 'POST', '/ucp/v2/accounts/acme/calls', { call_id: channel, persona_id: 'desk' })).status).toBe(201);
    fake.hangUp(channel, 16);
    const ended = await eventually(async () => {
      const info = await callInfo('acme', channel);
      return info.call.state === 'ended' ? info.call : undefined;
    });
    expect(ended.end_reason).toBe("the caller's channel hung up (Normal Clearing, cause 16)");
  });

  it('fails with the reason when the caller\'s channel is not known to Asterisk', async () => {
    const result = await (await call('acme', '1767225600.9999')).callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
    expect(textOf(result)).toBe("The phone system did not transfer the call to Dana Reyes (extension 100) (Asterisk has no channel 1767225600.9999 (the call may have ended, or call_id is not the caller's channel id)). Tell the caller and offer to take a message instead.");
  });
});

describe('hangup_call', () => {
  it('deletes the channel named by pbx_call_ref after the delay, and the call ends', async () => {
    const channel = newCaller();
    const admin = await server.key('acme', 'admin');
    expect((await adminRequest(server.url, admin, 'POST', '/ucp/v2/accounts/acme/calls', { call_id: 'bridge-7f3a', persona_id: 'desk', pbx_call_ref: channel })).status).toBe(201);
    const client = await call('acme', 'bridge-7f3a');
    expect(textOf(await client.callTool({ name: 'hangup_call', arguments: {} }))).toBe('The call will be hung up in 0.1 seconds; finish your goodbye now.');
    await eventually(() => (fake.hungUp.includes(channel) ? true : undefined), 5000, 'DELETE /ari/channels');
    const { call: record, commands } = await eventually(async () => {
      const info = await callInfo('acme', 'bridge-7f3a');
      return info.call.state === 'ended' ? info : undefined;
    });
    expect(record.end_reason).toBe('hangup');
    expect(commands[0]).toMatchObject({ status: 'succeeded', driver: 'ari' });
    await eventually(() => client.listTools().then(() => undefined, () => true), 5000, 'the session to close');
  });

  it('counts a channel Asterisk no longer has as hung up', async () => {
    const client = await call('acme', '1767225600.9998');
    await client.callTool({ name: 'hangup_call', arguments: {} });
    await eventually(async () => ((await callInfo('acme', '1767225600.9998')).call.state === 'ended' ? true : undefined));
    expect(fake.requests.find((request) => request.method === 'DELETE' && request.path === '/ari/channels/1767225600.9998')?.status).toBe(404);
  });
});

describe('transfer_method redirect', () => {
  it('hands the channel over with the endpoint, and the call ends when the far end lets go', async () => {
    const channel = newCaller();
    const result = await (await call('redir', channel)).callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
    expect(textOf(result)).toBe('The call was handed over to Dana Reyes (extension 100); the phone system takes it from here and cannot report whether it is answered.');
    expect(fake.redirects.at(-1)).toEqual({ channel, endpoint: 'PJSIP/100' });
    expect((await callInfo('redir', channel)).commands[0]).toMatchObject({ outcome: 'handed_over' });
    await eventually(async () => ((await callInfo('redir', channel)).call.state === 'ended' ? true : undefined));
  });

  it("fails with Asterisk's reason when the endpoint's technology is not the channel's", async () => {
    const channel = fake.addCaller(`1767225600.${nextChannel++}`, VOICE_BRIDGE_APP, '+12125550199', 'IAX2').id;
    const result = await (await call('redir', channel)).callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
    expect(textOf(result)).toBe(
      "The phone system did not transfer the call to Dana Reyes (extension 100) (Asterisk refused to redirect the caller to PJSIP/100: Endpoint technology 'PJSIP' does not match channel technology 'IAX2' (HTTP 422)). Tell the caller and offer to take a message instead.",
    );
    expect((await callInfo('redir', channel)).call).toMatchObject({ state: 'active' });
  });
});

describe('transfer_method continue', () => {
  it('sends the caller to context/destination/1 and reads the answer from its Dial', async () => {
    const channel = newCaller();
    const result = await (await call('dialplan', channel)).callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
    expect(textOf(result)).toBe('The call was transferred to Dana Reyes (extension 100).');
    expect(fake.continued.at(-1)).toEqual({ channel, context: 'from-internal', extension: '100', priority: 1 });
    // Subscribed before the continue (the channel leaves Stasis), dropped once the Dial said how it went.
    const subscriptions = () => fake.requests.filter((request) => request.query.eventSource === `channel:${channel}`).map((request) => request.method);
    await eventually(() => (subscriptions().length === 2 ? true : undefined));
    expect(subscriptions()).toEqual(['POST', 'DELETE']);
    const { events } = await callInfo('dialplan', channel);
    expect(events.map((event) => event.type)).toEqual(expect.arrayContaining(['command_dialing', 'command_ringing', 'command_answered', 'command_succeeded']));
  });

  it.each([
    ['200', 'busy'],
    ['300', 'no_answer'],
  ])('reads dialstatus of extension %s as %s', async (extension, outcome) => {
    const channel = newCaller();
    const result = await (await call('dialplan', channel)).callTool({ name: 'transfer_call', arguments: { destination_number: extension } });
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ error: { outcome } });
    expect((await callInfo('dialplan', channel)).commands[0]).toMatchObject({ outcome });
  });
});

describe('presence from device states', () => {
  const availability = async (user: string) => textOf(await (await call('acme', newCaller())).callTool({ name: 'check_user_availability', arguments: { user_id: user } }));

  it('reads the DND device at connect and follows its changes; a phone in use is not DND', async () => {
    expect(await availability('u-400')).toMatch(/^Ana Gray is on Do-Not-Disturb/);
    fake.setDeviceState('PJSIP/500', 'INUSE');
    expect(await availability('u-500')).toBe('Ben Ruiz is available.');
    fake.setDeviceState('Custom:DND-400', 'NOT_INUSE');
    await eventually(async () => ((await availability('u-400')) === 'Ana Gray is available.' ? true : undefined));
    fake.setDeviceState('Custom:DND-500', 'INUSE');
    await eventually(async () => ((await availability('u-500')).startsWith('Ben Ruiz is on Do-Not-Disturb') ? true : undefined));
  });
});

describe('what Asterisk says, as outcomes', () => {
  it.each([
    [17, 'User busy', 'busy'],
    [18, 'No user responding', 'no_answer'],
    [19, 'User alerting, no answer', 'no_answer'],
    [21, 'Call Rejected', 'rejected'],
    [34, 'Circuit/channel congestion', 'failed'],
    [16, 'Normal Clearing', 'failed'],
  ])('hang-up cause %i (%s) of an unanswered leg is %s', (cause, text, outcome) => {
    expect(unansweredLeg(cause, text).outcome).toBe(outcome);
  });

  it.each([
    ['ANSWER', true, 'connected'],
    ['BUSY', false, 'busy'],
    ['NOANSWER', false, 'no_answer'],
    ['CHANUNAVAIL', false, 'failed'],
    ['CONGESTION', false, 'failed'],
    ['CANCEL', false, 'failed'],
    ['DONTCALL', false, 'rejected'],
    ['SOMETHINGNEW', false, 'failed'],
  ])('dialstatus %s is final with success %s and outcome %s', (status, success, outcome) => {
    expect(readDialStatus(status)).toMatchObject({ final: true, verdict: { success, outcome } });
  });

  it('reads RINGING and the start of a dial as steps, and only the configured states as DND', () => {
    expect(readDialStatus('')).toEqual({ final: false, step: 'dialing' });
    expect(readDialStatus('RINGING')).toEqual({ final: false, step: 'ringing' });
    expect(readDialStatus('PROGRESS')).toEqual({ final: false, step: null });
    expect(['BUSY', 'INUSE', 'ONHOLD'].every((state) => isDnd(state, undefined))).toBe(true);
    expect(['NOT_INUSE', 'UNKNOWN', 'RINGING', 'UNAVAILABLE'].some((state) => isDnd(state, undefined))).toBe(false);
    expect(isDnd('INUSE', ['BUSY'])).toBe(false);
  });
});
