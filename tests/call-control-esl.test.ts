/**
 * Call control with the esl driver, end to end: an official MCP client calls
 * the tools, and a fake FreeSWITCH event socket (tests/helpers/
 * fake-freeswitch.ts, speaking the documented wire protocol) is the phone
 * system. Both transfer methods (bridge: originate, then uuid_bridge on
 * answer; blind: uuid_transfer into the dialplan), busy / no answer /
 * declined, hang-ups, the caller hanging up, presence as DND, a dropped
 * connection, FreeSWITCH down, a refused password and a missing secret.
 */
import { randomUUID } from 'node:crypto';

import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FakeFreeswitch } from './helpers/fake-freeswitch.ts';
import { adminRequest } from './helpers/pbx.ts';
import { callHeaders, connect, eventually, freePort, startTestServer, textOf, type TestServer } from './helpers/server.ts';

const PASSWORD = 'Cl0ak-and-dagger-7741';
const DOMAIN = 'pbx.example.com';
let fs: FakeFreeswitch;
let server: TestServer;
const clients: Client[] = [];

const users = `
users:
  - { id: u-100, name: Dana Reyes, extension: "100" }
  - { id: u-101, name: Sam Ortiz, extension: "101" }
  - { id: u-102, name: Kim Lee, extension: "102" }
  - { id: u-103, name: Alex Park, extension: "103" }
queues:
  - { id: q-sales, name: Sales, extension: "600" }
transfer_policy:
  allow: ["1XX", "6XX"]
`;
const account = (id: string, block: string) => `account_id: ${id}\ntimezone: America/Chicago\n${users}call_control:\n  driver: esl\n  host: 127.0.0.1\n  hangup_delay_seconds: 0.1\n  ring_timeout_seconds: 1\n${block}`;
const desk = `persona_id: desk
tools:
  - { type: transfer_to_user, name: transfer_to_sam, description: Sam or sales., user: u-101, on_no_answer: fallback, fallback: [{ queue: q-sales }] }
  - { type: transfer_to_user, name: transfer_to_kim, description: Kim., user: u-102, on_no_answer: return }
  - { type: transfer_to_user, name: transfer_to_alex, description: Alex., user: u-103, on_no_answer: return }
`;

async function caller(accountId: string, uuid = randomUUID()): Promise<{ uuid: string; client: Client }> {
  const client = await connect(server, callHeaders({ key: await server.key(accountId), account: accountId, persona: 'desk', call: uuid, caller: '+13125550123' }));
  clients.push(client);
  return { uuid, client };
}

const callInfo = async (accountId: string, call: string) => (await adminRequest(server.url, await server.key(accountId, 'admin'), 'GET', `/ucp/v2/accounts/${accountId}/calls/${call}`)).body as {
  call: { state: string; end_reason: string | null; transferred_to: string | null };
  commands: { status: string; outcome: string | null; reason: string | null }[];
  events: { type: string; detail: Record<string, unknown> | null }[];
};

async function phoneSystems(): Promise<Record<string, { state: string; reason: string | null }>> {
  const body = (await (await fetch(new URL('/readyz', server.url))).json()) as { phone_systems: { account: string; state: string; reason: string | null }[] };
  return Object.fromEntries(body.phone_systems.map((entry) => [entry.account, entry]));
}

const upAgain = (...accounts: string[]) => eventually(async () => ((await Promise.all(accounts.map(async (id) => (await phoneSystems())[id]?.state === 'up'))).every(Boolean) ? true : undefined), 10_000, `${accounts.join(', ')} up`);

beforeAll(async () => {
  fs = await new FakeFreeswitch(PASSWORD).start();
  const closed = await freePort();
  server = await startTestServer({
    personas: {
      'fusion/account.yaml': account('fusion', `  port: ${fs.port}\n  password: FS_PASSWORD\n  transfer_method: bridge\n  endpoint_template: user/{destination}@${DOMAIN}\n  presence: { domain: ${DOMAIN} }\n`),
      'fusion/desk.yaml': desk,
      'blindco/account.yaml': account('blindco', `  port: ${fs.port}\n  password: FS_PASSWORD\n  context: ${DOMAIN}\n`),
      'blindco/desk.yaml': desk,
      'badpw/account.yaml': account('badpw', `  port: ${fs.port}\n  password: FS_WRONG\n`),
      'badpw/desk.yaml': desk,
      'nosecret/account.yaml': account('nosecret', `  port: ${fs.port}\n  password: FS_NOT_SET\n`),
      'nosecret/desk.yaml': desk,
      'offline/account.yaml': account('offline', `  port: ${closed}\n  password: FS_PASSWORD\n`),
      'offline/desk.yaml': desk,
    },
    env: { FS_PASSWORD: PASSWORD, FS_WRONG: 'not-the-password' },
    // FreeSWITCH listens on loopback here, which the outbound guard refuses unless allowed.
    settings: { outboundAllow: ['127.0.0.1'] },
  });
  await upAgain('fusion', 'blindco');
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await server.close();
  await fs.stop();
});

describe('the event socket connection', () => {
  it('is up once authenticated and subscribed, and says why when it is not', async () => {
    const systems = await phoneSystems();
    expect(systems.fusion).toMatchObject({ state: 'up', reason: null });
    expect(systems.badpw).toMatchObject({ state: 'down', reason: 'FreeSWITCH refused the event socket password (secret FS_WRONG)' });
    expect(systems.nosecret).toMatchObject({ state: 'down', reason: 'secret FS_NOT_SET is not set (environment variable or secrets file)' });
    expect(systems.offline?.state).toBe('down');
    expect(systems.offline?.reason).toMatch(/^cannot connect to FreeSWITCH's event socket at 127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/);
    expect(fs.authFailures).toBeGreaterThan(0);
    const subscriptions = fs.received.filter((command) => command.line.startsWith('event ')).map((command) => command.line);
    // DTMF and the CUSTOM subclass are for warm transfers (call-control-esl-warm.test.ts); CUSTOM's subclasses come last.
    expect(subscriptions).toContain('event plain BACKGROUND_JOB CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_ANSWER CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE DTMF PRESENCE_IN CUSTOM switchboard::warm');
    expect(subscriptions).toContain('event plain BACKGROUND_JOB CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_ANSWER CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE DTMF CUSTOM switchboard::warm');
    expect(server.logLines.join('\n')).not.toContain(PASSWORD);
  });

  it('refuses at once when the password is refused or the secret is missing, and sends nothing', async () => {
    const before = fs.received.length;
    for (const [id, reason] of [
      ['badpw', 'FreeSWITCH refused the event socket password (secret FS_WRONG)'],
      ['nosecret', 'secret FS_NOT_SET is not set (environment variable or secrets file)'],
    ] as const) {
      const { uuid, client } = await caller(id);
      const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toBe('The phone system is not connected right now, so the call was not transferred to Dana Reyes (extension 100). Tell the caller and offer to take a message instead.');
      expect((await callInfo(id, uuid)).commands[0]).toMatchObject({ status: 'failed', reason: `the phone system is not connected: ${reason}` });
    }
    expect(fs.received.slice(before).filter((command) => command.line.startsWith('bgapi'))).toEqual([]);
  });
});

describe('bridge transfers', () => {
  it('originates the destination parked, bridges the caller on answer, and reports connected', async () => {
    const { uuid, client } = await caller('fusion');
    fs.addCaller(uuid);
    fs.script('100', { kind: 'answer', afterMs: 50 });
    const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
    expect(textOf(result)).toBe('The call was transferred to Dana Reyes (extension 100).');
    const originate = fs.originates.at(-1);
    const leg = originate?.variables.origination_uuid as string;
    expect(originate).toMatchObject({ endpoint: `user/100@${DOMAIN}`, app: '&park()', variables: { originate_timeout: '1', ignore_early_media: 'true', origination_caller_id_number: '+13125550123' } });
    expect(leg).toMatch(/^[0-9a-f-]{36}$/);
    expect(fs.bridges).toContainEqual([uuid, leg]);
    const bgapi = fs.received.find((command) => command.line.startsWith('bgapi originate') && command.line.includes(leg));
    expect(bgapi?.headers['job-uuid']).toMatch(/^[0-9a-f-]{36}$/);
    const info = await eventually(async () => {
      const body = await callInfo('fusion', uuid);
      return body.events.some((event) => event.type === 'command_bridged') ? body : undefined;
    });
    expect(info.call).toMatchObject({ state: 'transferred', transferred_to: '100' });
    expect(info.commands[0]).toMatchObject({ status: 'succeeded', outcome: 'connected' });
    expect(info.events.map((event) => event.type)).toEqual(expect.arrayContaining(['command_dialing', 'command_ringing', 'command_answered', 'command_succeeded', 'command_bridged']));
  });

  it('tries the fallback when the destination is busy', async () => {
    const { uuid, client } = await caller('fusion');
    fs.addCaller(uuid);
    fs.script('101', { kind: 'fail', cause: 'USER_BUSY' });
    fs.script('600', { kind: 'answer' });
    const result = await client.callTool({ name: 'transfer_to_sam', arguments: {} });
    expect(textOf(result)).toBe('Sam Ortiz (extension 101) is busy. The call was transferred to Sales (extension 600).');
    const info = await callInfo('fusion', uuid);
    expect(info.commands.map((command) => [command.status, command.outcome])).toEqual([
      ['failed', 'busy'],
      ['succeeded', 'connected'],
    ]);
    expect(info.commands[0]?.reason).toBe('the destination is busy: USER_BUSY');
    expect(fs.originates.slice(-2).map((originate) => originate.endpoint)).toEqual([`user/101@${DOMAIN}`, `user/600@${DOMAIN}`]);
  });

  it('returns the caller to the agent when nobody answers within the ring time', async () => {
    const { uuid, client } = await caller('fusion');
    fs.addCaller(uuid);
    fs.script('102', { kind: 'ring' });
    const result = await client.callTool({ name: 'transfer_to_kim', arguments: {} });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('Kim Lee (extension 102) did not answer within 1 second. The caller is still with you: offer to take a message or to try someone else.');
    const info = await callInfo('fusion', uuid);
    expect(info.call.state).toBe('active');
    expect(info.commands[0]).toMatchObject({ status: 'failed', outcome: 'no_answer' });
    expect(fs.channels.has(uuid)).toBe(true);
    expect(fs.kills).not.toContain(uuid);
  });

  it('reports a declined call, and a destination that cannot be reached, in their own words', async () => {
    const declined = await caller('fusion');
    fs.addCaller(declined.uuid);
    fs.script('103', { kind: 'fail', cause: 'CALL_REJECTED' });
    expect(textOf(await declined.client.callTool({ name: 'transfer_to_alex', arguments: {} }))).toBe(
      'Alex Park (extension 103) declined the call. The caller is still with you: offer to take a message or to try someone else.',
    );
    const unregistered = await caller('fusion');
    fs.addCaller(unregistered.uuid);
    const result = await unregistered.client.callTool({ name: 'transfer_call', arguments: { destination_number: '104' } });
    expect(textOf(result)).toBe("The phone system did not transfer the call to 104 (the destination's phone is not registered: USER_NOT_REGISTERED). Tell the caller and offer to take a message instead.");
  });

  it('hangs up the ringing leg when the caller hangs up first, and ends the call', async () => {
    const { uuid, client } = await caller('fusion');
    fs.addCaller(uuid);
    fs.script('100', { kind: 'ring' });
    const before = fs.originates.length;
    // The call's session closes when the call ends, so the tool's own answer may never arrive; the history tells.
    void client.callTool({ name: 'transfer_call', arguments: { destination_number: '100' } }).catch(() => undefined);
    const leg = await eventually(() => fs.originates[before]?.variables.origination_uuid);
    await eventually(() => (fs.channels.has(leg) ? true : undefined));
    fs.hangup(uuid, 'NORMAL_CLEARING');
    await eventually(() => (fs.kills.includes(leg) ? true : undefined));
    // The command's failure and the call's end are two writes; the history holds both once both are made.
    const info = await eventually(async () => {
      const body = await callInfo('fusion', uuid);
      return body.commands[0]?.status === 'failed' && body.call.state === 'ended' ? body : undefined;
    });
    expect(info.call).toMatchObject({ state: 'ended', end_reason: 'NORMAL_CLEARING' });
    expect(info.commands[0]?.reason).toBe('the caller hung up before the transfer was completed');
  });
});

describe('blind transfers', () => {
  it('hands the call to the dialplan with uuid_transfer', async () => {
    const { uuid, client } = await caller('blindco');
    fs.addCaller(uuid);
    const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
    expect(textOf(result)).toBe('The call was handed over to Dana Reyes (extension 100); the phone system takes it from here and cannot report whether it is answered.');
    expect(fs.transfers.at(-1)).toEqual({ uuid, destination: '100', dialplan: 'XML', context: DOMAIN });
    expect(fs.received.find((command) => command.line === `bgapi uuid_transfer ${uuid} 100 XML ${DOMAIN}`)?.headers['job-uuid']).toMatch(/^[0-9a-f-]{36}$/);
    const info = await callInfo('blindco', uuid);
    expect(info.call.state).toBe('transferred');
    expect(info.commands[0]).toMatchObject({ status: 'succeeded', outcome: 'handed_over' });
  });

  it('fails with the reason when the caller channel is gone', async () => {
    const { client } = await caller('blindco');
    const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
    expect(textOf(result)).toBe("The phone system did not transfer the call to Dana Reyes (extension 100) (the caller's channel is no longer in FreeSWITCH (No such channel!)). Tell the caller and offer to take a message instead.");
  });
});

describe('hang-ups and the end of calls', () => {
  it('kills the caller channel after the delay, and the call ends', async () => {
    const { uuid, client } = await caller('fusion');
    fs.addCaller(uuid);
    expect(textOf(await client.callTool({ name: 'hangup_call', arguments: {} }))).toBe('The call will be hung up in 0.1 seconds; finish your goodbye now.');
    await eventually(() => (fs.kills.includes(uuid) ? true : undefined));
    await eventually(async () => ((await callInfo('fusion', uuid)).call.state === 'ended' ? true : undefined));
    expect((await callInfo('fusion', uuid)).call.end_reason).toBe('hangup');
    await eventually(() => client.listTools().then(() => undefined, () => true), 5000, 'the session to close');
  });

  it('counts a hang-up of a channel that is already gone as done', async () => {
    const { uuid, client } = await caller('blindco');
    await client.callTool({ name: 'hangup_call', arguments: {} });
    await eventually(async () => ((await callInfo('blindco', uuid)).call.state === 'ended' ? true : undefined));
    expect((await callInfo('blindco', uuid)).commands[0]).toMatchObject({ status: 'succeeded' });
  });

  it('ends the call when FreeSWITCH reports the caller leg hung up', async () => {
    const uuid = randomUUID();
    fs.addCaller(uuid);
    await adminRequest(server.url, await server.key('fusion', 'admin'), 'POST', '/ucp/v2/accounts/fusion/calls', { call_id: uuid });
    fs.hangup(uuid, 'NORMAL_CLEARING');
    await eventually(async () => ((await callInfo('fusion', uuid)).call.state === 'ended' ? true : undefined));
    expect((await callInfo('fusion', uuid)).call.end_reason).toBe('NORMAL_CLEARING');
  });
});

describe('presence', () => {
  const dnd = async (user: string) => ((await adminRequest(server.url, await server.key('fusion', 'admin'), 'GET', `/ucp/v2/accounts/fusion/users/${user}/dnd`)).body as { dnd: { enabled: boolean; updated_by: string | null } }).dnd;
  const presence = (headers: Record<string, string>) => fs.fire('PRESENCE_IN', { proto: 'sip', event_type: 'presence', ...headers });

  it('reads DND from presence statuses and DND lamps; a phone in a call is not on DND', async () => {
    presence({ from: `100@${DOMAIN}`, status: 'Do Not Disturb', rpid: 'dnd' });
    await eventually(async () => ((await dnd('u-100')).enabled ? true : undefined));
    expect((await dnd('u-100')).updated_by).toBe('pbx:esl');

    // Events are handled in order: once Sam's news is in, the two before it were seen and ignored.
    presence({ from: `100@${DOMAIN}`, status: 'On The Phone', rpid: 'on-the-phone', 'Unique-ID': randomUUID(), 'Channel-State': 'CS_EXECUTE' });
    presence({ from: '100@other.example.com', status: 'Available' });
    presence({ from: `dnd+101@${DOMAIN}`, 'answer-state': 'confirmed', 'Unique-ID': `dnd+101@${DOMAIN}` });
    await eventually(async () => ((await dnd('u-101')).enabled ? true : undefined));
    expect((await dnd('u-100')).enabled).toBe(true);

    presence({ from: `100@${DOMAIN}`, status: 'Available', rpid: 'unknown' });
    presence({ from: `dnd+101@${DOMAIN}`, 'answer-state': 'terminated', 'Unique-ID': `dnd+101@${DOMAIN}` });
    await eventually(async () => (!(await dnd('u-100')).enabled && !(await dnd('u-101')).enabled ? true : undefined));
  });
});

describe('connection loss', () => {
  it('reconnects after the connection drops, and works again', async () => {
    const connectionsBefore = fs.received.filter((command) => command.line.startsWith('event ')).length;
    fs.dropConnections();
    await eventually(() => (fs.received.filter((command) => command.line.startsWith('event ')).length >= connectionsBefore + 2 ? true : undefined), 10_000, 'resubscriptions');
    await upAgain('fusion', 'blindco');
    expect(server.logLines.some((line) => line.includes('esl_disconnected'))).toBe(true);
    const { uuid, client } = await caller('fusion');
    fs.addCaller(uuid);
    fs.script('100', { kind: 'answer' });
    expect(textOf(await client.callTool({ name: 'transfer_call', arguments: { destination_number: '100' } }))).toBe('The call was transferred to Dana Reyes (extension 100).');
  });

  it('refuses at once while FreeSWITCH is down, and recovers when it is back', async () => {
    const port = fs.port;
    await fs.stop();
    await eventually(async () => ((await phoneSystems()).fusion?.state === 'down' ? true : undefined), 10_000, 'fusion down');
    expect((await phoneSystems()).fusion?.reason).toBe(`cannot connect to FreeSWITCH's event socket at 127.0.0.1:${port} (ECONNREFUSED)`);
    const originates = fs.originates.length;
    const { uuid, client } = await caller('fusion');
    const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
    expect(textOf(result)).toBe('The phone system is not connected right now, so the call was not transferred to Dana Reyes (extension 100). Tell the caller and offer to take a message instead.');
    expect(fs.originates.length).toBe(originates);
    expect((await callInfo('fusion', uuid)).call.state).toBe('active');

    await fs.start(port);
    await upAgain('fusion');
    fs.addCaller(uuid);
    fs.script('100', { kind: 'answer' });
    expect(textOf(await client.callTool({ name: 'transfer_call', arguments: { destination_number: '100' } }))).toBe('The call was transferred to Dana Reyes (extension 100).');
  });
});
