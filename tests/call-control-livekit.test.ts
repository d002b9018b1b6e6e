/**
 * Call control with the livekit driver, end to end: an official MCP client
 * calls the tools of a real server, whose driver talks Twirp to a fake
 * LiveKit server API that checks tokens, grants and request shapes the way
 * LiveKit does (helpers/fake-livekit.ts). Covers transfers (connected, busy
 * then the fallback, no answer, declined, a room-only call id), hang-ups
 * (RemoveParticipant and DeleteRoom), LiveKit unreachable, restarted,
 * refusing the secret, and a secret that is not set.
 */
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { FakeLivekit } from './helpers/fake-livekit.ts';
import { adminRequest } from './helpers/pbx.ts';
import { callHeaders, connect, eventually, startTestServer, textOf, type TestServer } from './helpers/server.ts';

let fake: FakeLivekit;
let server: TestServer;
const clients: Client[] = [];

const account = (id: string, url: string, secretName: string, extra = '') => `
account_id: ${id}
timezone: America/New_York
users:
  - { id: u-100, name: Dana Reyes, extension: "100" }
  - { id: u-101, name: Lee Park, extension: "101" }
queues:
  - { id: q-sales, name: Sales, extension: "600" }
call_control:
  driver: livekit
  url: ${url}
  api_key: APIfakeKey123
  api_secret: ${secretName}
  ring_timeout_seconds: 1
  hangup_delay_seconds: 0.1
${extra}`;

const persona = `
persona_id: front-desk
tools:
  - { type: transfer_to_user, name: transfer_to_dana, description: Transfer to Dana., user: u-100, on_no_answer: fallback, fallback: [{ queue: q-sales }] }
`;

async function call(callId: string, accountId = 'acme'): Promise<Client> {
  const client = await connect(server, callHeaders({ key: await server.key(accountId), account: accountId, persona: 'front-desk', call: callId, caller: '+12125550199' }));
  clients.push(client);
  return client;
}

const callInfo = async (callId: string, accountId = 'acme') =>
  (await adminRequest(server.url, await server.key(accountId, 'admin'), 'GET', `/ucp/v2/accounts/${accountId}/calls/${encodeURIComponent(callId)}`)).body;

async function phoneSystem(accountId: string): Promise<{ state: string; reason: string | null }> {
  const body = (await (await fetch(new URL('/readyz', server.url))).json()) as { phone_systems: { account: string; state: string; reason: string | null }[] };
  const entry = body.phone_systems.find((candidate) => candidate.account === accountId);
  if (!entry) throw new Error(`no phone system for ${accountId}`);
  return entry;
}

const NOT_CONNECTED = (label: string) => `The phone system is not connected right now, so the call was not transferred to ${label}. Tell the caller and offer to take a message instead.`;

beforeAll(async () => {
  fake = await new FakeLivekit().start();
  const ws = fake.url.replace(/^http/, 'ws');
  server = await startTestServer({
    personas: {
      'acme/account.yaml': account('acme', fake.url, 'ACME_LIVEKIT_SECRET', '  endpoint_template: "sip:{destination}@pbx.acme.example"\n  play_dialtone: true\n'),
      'acme/front-desk.yaml': persona,
      // wss:// (here ws://) is read as the https (http) API of the same server; the default template and hang-up by deleting the room.
      'umbrella/account.yaml': account('umbrella', ws, 'ACME_LIVEKIT_SECRET', '  hangup: delete_room\n'),
      'umbrella/front-desk.yaml': persona,
      'globex/account.yaml': account('globex', fake.url, 'GLOBEX_LIVEKIT_SECRET'),
      'globex/front-desk.yaml': persona,
      'initech/account.yaml': account('initech', fake.url, 'INITECH_LIVEKIT_SECRET'),
      'initech/front-desk.yaml': persona,
      'hooli/account.yaml': account('hooli', 'https://127.0.0.1:1', 'ACME_LIVEKIT_SECRET'),
      'hooli/front-desk.yaml': persona,
    },
    env: { ACME_LIVEKIT_SECRET: fake.apiSecret, GLOBEX_LIVEKIT_SECRET: 'not-the-livekit-secret' },
    // The fake LiveKit listens on loopback, which the outbound guard refuses unless allowed.
    settings: { outboundAllow: ['127.0.0.1'] },
  });
  await eventually(async () => ((await phoneSystem('acme')).state === 'up' ? true : undefined), 5000, 'acme to be up');
});
beforeEach(() => {
  fake.transfer = () => 'ok';
  fake.answerStyle = 'errors';
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await server.close();
  await fake.stop();
});

describe('livekit transfers', () => {
  it('transfers the SIP participant with TransferSIPParticipant and a token with the documented grants', async () => {
    fake.addCall('call-_+12125550199_a1', 'sip_+12125550199');
    const callId = 'call-_+12125550199_a1/sip_+12125550199';
    const result = await (await call(callId)).callTool({ name: 'transfer_call', arguments: { destination_number: '101' } });
    expect(textOf(result)).toBe('The call was transferred to Lee Park (extension 101).');
    const [transfer] = fake.calls('TransferSIPParticipant');
    expect(transfer?.status).toBe(200);
    expect(transfer?.body).toEqual({ room_name: 'call-_+12125550199_a1', participant_identity: 'sip_+12125550199', transfer_to: 'sip:101@pbx.acme.example', play_dialtone: true, ringing_timeout: '1s' });
    expect(transfer?.claims).toMatchObject({ iss: fake.apiKey, video: { roomAdmin: true, room: 'call-_+12125550199_a1' }, sip: { call: true } });
    expect(fake.inRoom('call-_+12125550199_a1', 'sip_+12125550199')).toBe(false);
    const info = await callInfo(callId);
    expect(info.call).toMatchObject({ state: 'transferred', transferred_to: '101' });
    expect((info.commands as { outcome: string }[])[0]).toMatchObject({ status: 'succeeded', outcome: 'connected', driver: 'livekit' });
    expect((info.events as { type: string; detail: Record<string, unknown> }[]).find((event) => event.type === 'command_dialing')?.detail).toEqual({
      room: 'call-_+12125550199_a1',
      participant: 'sip_+12125550199',
      transfer_to: 'sip:101@pbx.acme.example',
    });
    expect(server.logLines.join('\n')).not.toContain(fake.apiSecret);
  });

  it('on busy tries the fallback, which connects; the caller stayed in the room meanwhile', async () => {
    fake.addCall('room-busy', 'sip_caller');
    fake.transfer = ({ transfer_to }) => (transfer_to === 'sip:100@pbx.acme.example' ? 'busy' : 'ok');
    const result = await (await call('room-busy/sip_caller')).callTool({ name: 'transfer_to_dana', arguments: {} });
    expect(textOf(result)).toBe('Dana Reyes (extension 100) is busy. The call was transferred to Sales (extension 600).');
    const transfers = fake.calls('TransferSIPParticipant').filter((request) => request.body.room_name === 'room-busy');
    expect(transfers.map((request) => [request.body.transfer_to, request.status])).toEqual([
      ['sip:100@pbx.acme.example', 429],
      ['sip:600@pbx.acme.example', 200],
    ]);
    const commands = (await callInfo('room-busy/sip_caller')).commands as { outcome: string; reason: string | null }[];
    expect(commands.map((command) => command.outcome)).toEqual(['busy', 'connected']);
    expect(commands[0]?.reason).toBe('the destination answered SIP 486 Busy Here');
  });

  it('on no answer returns to the agent with the caller still on the line', async () => {
    fake.addCall('room-noanswer', 'sip_caller');
    fake.transfer = () => 'no_answer';
    const client = await call('room-noanswer/sip_caller');
    const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '101' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('Lee Park (extension 101) did not answer within 1 second. The caller is still with you: offer to take a message or to try someone else.');
    expect((await callInfo('room-noanswer/sip_caller')).call).toMatchObject({ state: 'active' });
    expect(fake.inRoom('room-noanswer', 'sip_caller')).toBe(true);

    // LiveKit giving up after ringing_timeout ("refer canceled") is no answer too.
    fake.transfer = () => 'ring_timeout';
    const again = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '101' } });
    expect(again.structuredContent).toMatchObject({ error: { outcome: 'no_answer' } });

    fake.transfer = () => 'decline';
    const declined = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '101' } });
    expect(textOf(declined)).toBe('Lee Park (extension 101) declined the call. The caller is still with you: offer to take a message or to try someone else.');
  });

  it('reads the outcome from a TransferSIPParticipantResponse (newer servers)', async () => {
    fake.answerStyle = 'status';
    fake.addCall('room-status', 'sip_caller');
    fake.transfer = () => 'busy';
    const client = await call('room-status/sip_caller');
    const busy = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '101' } });
    expect(busy.structuredContent).toMatchObject({ error: { outcome: 'busy' } });
    fake.transfer = () => 'ok';
    expect(textOf(await client.callTool({ name: 'transfer_call', arguments: { destination_number: '101' } }))).toBe('The call was transferred to Lee Park (extension 101).');
  });

  it('finds the SIP participant when the call id is only the room, and says why when it cannot', async () => {
    fake.addCall('room-only', 'sip_+15550001');
    const result = await (await call('room-only')).callTool({ name: 'transfer_call', arguments: { destination_number: '600' } });
    expect(textOf(result)).toBe('The call was transferred to Sales (extension 600).');
    const listed = fake.calls('ListParticipants').at(-1);
    expect(listed?.body).toEqual({ room: 'room-only' });
    expect(listed?.claims).toMatchObject({ video: { roomAdmin: true, room: 'room-only' } });
    expect(fake.calls('TransferSIPParticipant').at(-1)?.body).toMatchObject({ room_name: 'room-only', participant_identity: 'sip_+15550001' });

    fake.rooms.set('room-two', [
      { identity: 'sip_a', kind: 'SIP' },
      { identity: 'sip_b', kind: 'SIP' },
    ]);
    const two = await (await call('room-two')).callTool({ name: 'transfer_call', arguments: { destination_number: '600' } });
    expect(textOf(two)).toBe(
      'The phone system did not transfer the call to Sales (extension 600) (the LiveKit room room-two has 2 SIP participants; give the call id as <room>/<participant identity> to say which is the caller). Tell the caller and offer to take a message instead.',
    );
    const none = await (await call('room-missing')).callTool({ name: 'transfer_call', arguments: { destination_number: '600' } });
    expect(textOf(none)).toContain('(the LiveKit room room-missing does not exist)');
  });

  it('uses tel:{destination} without a template, and reads a ws:// URL as the http API', async () => {
    fake.addCall('room-umbrella', 'sip_caller');
    await eventually(async () => ((await phoneSystem('umbrella')).state === 'up' ? true : undefined), 5000, 'umbrella to be up');
    const result = await (await call('room-umbrella/sip_caller', 'umbrella')).callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
    expect(textOf(result)).toBe('The call was transferred to Dana Reyes (extension 100).');
    expect(fake.calls('TransferSIPParticipant').at(-1)?.body).toMatchObject({ transfer_to: 'tel:100', play_dialtone: false });
  });
});

describe('livekit hang-ups', () => {
  it('removes the SIP participant after the delay, and the call ends', async () => {
    fake.addCall('room-bye', 'sip_caller');
    const client = await call('room-bye/sip_caller');
    expect(textOf(await client.callTool({ name: 'hangup_call', arguments: {} }))).toBe('The call will be hung up in 0.1 seconds; finish your goodbye now.');
    const removed = await eventually(() => fake.calls('RemoveParticipant').find((request) => request.body.room === 'room-bye'));
    expect(removed.body).toEqual({ room: 'room-bye', identity: 'sip_caller' });
    expect(removed.claims).toMatchObject({ video: { roomAdmin: true, room: 'room-bye' } });
    expect(fake.inRoom('room-bye', 'sip_caller')).toBe(false);
    await eventually(async () => ((await callInfo('room-bye/sip_caller')).call as { state: string }).state === 'ended' || undefined);
    await eventually(() => client.listTools().then(() => undefined, () => true), 5000, 'the session to close');
  });

  it('takes a caller already gone as hung up', async () => {
    const client = await call('room-gone/sip_caller');
    await client.callTool({ name: 'hangup_call', arguments: {} });
    await eventually(async () => ((await callInfo('room-gone/sip_caller')).call as { state: string }).state === 'ended' || undefined);
    expect(fake.calls('RemoveParticipant').find((request) => request.body.room === 'room-gone')?.status).toBe(404);
  });

  it('deletes the room with hangup: delete_room', async () => {
    fake.addCall('room-delete', 'sip_caller');
    await eventually(async () => ((await phoneSystem('umbrella')).state === 'up' ? true : undefined), 5000, 'umbrella to be up');
    await (await call('room-delete', 'umbrella')).callTool({ name: 'hangup_call', arguments: {} });
    const deleted = await eventually(() => fake.calls('DeleteRoom').find((request) => request.body.room === 'room-delete'));
    expect(deleted.claims).toMatchObject({ video: { roomCreate: true } });
    expect(fake.rooms.has('room-delete')).toBe(false);
    await eventually(async () => ((await callInfo('room-delete', 'umbrella')).call as { state: string }).state === 'ended' || undefined);
  });
});

describe('livekit health', () => {
  it('is down when LiveKit cannot be reached, and a transfer is refused at once', async () => {
    const health = await eventually(async () => {
      const entry = await phoneSystem('hooli');
      return entry.state === 'down' ? entry : undefined;
    });
    expect(health.reason).toBe('cannot reach LiveKit at https://127.0.0.1:1 (ECONNREFUSED)');
    const result = await (await call('room-x/sip_caller', 'hooli')).callTool({ name: 'transfer_call', arguments: { destination_number: '101' } });
    expect(textOf(result)).toBe(NOT_CONNECTED('Lee Park (extension 101)'));
  });

  it('is down when LiveKit refuses the secret', async () => {
    const health = await eventually(async () => {
      const entry = await phoneSystem('globex');
      return entry.state === 'down' ? entry : undefined;
    });
    expect(health.reason).toBe('LiveKit refused the API key or secret (HTTP 401)');
    expect(fake.received.some((request) => request.method === 'ListRooms' && request.status === 401)).toBe(true);
    const before = fake.calls('TransferSIPParticipant').length;
    const result = await (await call('room-x/sip_caller', 'globex')).callTool({ name: 'transfer_call', arguments: { destination_number: '101' } });
    expect(textOf(result)).toBe(NOT_CONNECTED('Lee Park (extension 101)'));
    expect(fake.calls('TransferSIPParticipant')).toHaveLength(before);
    expect(server.logLines.join('\n')).not.toContain('not-the-livekit-secret');
  });

  it('is down when the secret is not set, and sends nothing', async () => {
    expect(await phoneSystem('initech')).toMatchObject({ state: 'down', reason: 'secret INITECH_LIVEKIT_SECRET is not set (environment variable or secrets file)' });
    const result = await (await call('room-x/sip_caller', 'initech')).callTool({ name: 'transfer_call', arguments: { destination_number: '101' } });
    expect(textOf(result)).toBe(NOT_CONNECTED('Lee Park (extension 101)'));
    const { commands } = await callInfo('room-x/sip_caller', 'initech');
    expect((commands as { reason: string }[])[0]?.reason).toBe('the phone system is not connected: secret INITECH_LIVEKIT_SECRET is not set (environment variable or secrets file)');
  });

  it('survives a LiveKit restart: refused while it is away, up and working once it is back', async () => {
    fake.addCall('room-restart', 'sip_caller');
    await fake.stop();
    const client = await call('room-restart/sip_caller');
    const refused = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '101' } });
    expect(textOf(refused)).toBe(NOT_CONNECTED('Lee Park (extension 101)'));
    expect((await phoneSystem('acme')).state).toBe('down');
    expect((await callInfo('room-restart/sip_caller')).call).toMatchObject({ state: 'active' });

    await fake.start();
    await eventually(async () => ((await phoneSystem('acme')).state === 'up' ? true : undefined), 10_000, 'acme to be up again');
    const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '101' } });
    expect(textOf(result)).toBe('The call was transferred to Lee Park (extension 101).');
  });
});
