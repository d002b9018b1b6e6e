/**
 * Twilio warm transfers across two nodes on one PostgreSQL database: the
 * tool runs on node a, which sends the transfer, and every callback of
 * Twilio lands on node b (both give b's public URL), which has nothing of
 * the transfer in memory. b reads what it needs from the signed URLs (the
 * command, the caller's CallSid, the call id) and from the store (whether
 * the transfer is still open): it brings a declined caller back, records
 * the join on accept, and ends the call when the caller hangs up while
 * held; the tool waiting on a gets each verdict.
 */
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { serverDatabase } from './helpers/engines.ts';
import { FakeTwilio, type FakeLeg } from './helpers/fake-twilio.ts';
import { adminRequest } from './helpers/pbx.ts';
import { callHeaders, connect, eventually, freePort, startTestServer, textOf, type TestServer } from './helpers/server.ts';

const SID = `AC${'e5'.repeat(16)}`;
const TOKEN = 'twilio-cluster-warm-token-2b7f';
const STREAM_URL = 'wss://bridge.tw.example/media';
const SUMMARY = 'Asks whether the clinic can see her today.';

const manifests = (apiBase: string): Record<string, string> => ({
  'tw/account.yaml': `account_id: tw
timezone: America/New_York
transfer_policy:
  allow: ["+1NXXNXXXXXX"]
call_control:
  driver: twilio
  account_sid: ${SID}
  auth_token: TW_TOKEN
  api_base: ${apiBase}
  stream_url: "${STREAM_URL}"
  ring_timeout_seconds: 2
  warm:
    accept_timeout_seconds: 3
`,
  'tw/desk.yaml': 'persona_id: desk\nglobal_tools:\n  transfer_call: { mode: warm }\n',
});

let twilio: FakeTwilio;
let database: Awaited<ReturnType<typeof serverDatabase>>;
let a: TestServer;
let b: TestServer;
let bUrl: string;
const clients: Client[] = [];

async function callOnA(callSid: string): Promise<Client> {
  const client = await connect(a, callHeaders({ key: await a.key('tw'), account: 'tw', persona: 'desk', call: callSid, caller: '+12125550199' }));
  clients.push(client);
  return client;
}

type CallInfo = { call: { state: string; end_reason: string | null }; commands: { status: string; outcome: string | null; reason: string | null }[]; events: { type: string }[] };
const callInfo = async (callSid: string) => (await adminRequest(a.url, await a.key('tw', 'admin'), 'GET', `/ucp/v2/accounts/tw/calls/${callSid}`)).body as CallInfo;
const history = (info: CallInfo) => info.events.filter((event) => event.type.startsWith('command_')).map((event) => event.type);
const legTo = (address: string): FakeLeg | undefined => [...twilio.voice.legs.values()].filter((leg) => leg.address === address).at(-1);
/** The warm callbacks of this caller's transfer, and where they landed. */
const warmCallbacks = (callSid: string) => twilio.callbacks.filter((callback) => callback.url.includes('/warm-') && callback.url.includes(`caller=${callSid}`));

beforeAll(async () => {
  twilio = await new FakeTwilio({ [SID]: TOKEN }).start();
  database = await serverDatabase('postgres');
  const port = await freePort();
  bUrl = `http://127.0.0.1:${port}`;
  const common = { ...database.settings, publicUrl: bUrl, outboundAllow: ['127.0.0.1'] };
  b = await startTestServer({ personas: manifests(twilio.url), settings: { ...common, port, nodeName: 'b' }, env: { TW_TOKEN: TOKEN } });
  a = await startTestServer({ personas: manifests(twilio.url), settings: { ...common, nodeName: 'a' }, env: { TW_TOKEN: TOKEN } });
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await a?.close();
  await b?.close();
  await database?.drop();
  await twilio?.stop();
});

describe('a Twilio warm transfer sent by node a, its callbacks on node b', () => {
  it('brings the declined caller back from b, and the tool on a says so', async () => {
    twilio.scripts.set('+12125550123', { action: 'answer', afterMs: 50, press: '2' });
    const sid = twilio.createCall(SID);
    const result = await (await callOnA(sid)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550123', summary: SUMMARY } });
    expect(textOf(result)).toBe('+12125550123 declined the call after the briefing. The caller is back with you: offer to take a message or to try someone else.');
    expect(warmCallbacks(sid).length).toBeGreaterThan(0);
    expect(warmCallbacks(sid).every((callback) => callback.url.startsWith(`${bUrl}/`) && callback.status < 300)).toBe(true);
    expect(twilio.calls.get(sid)?.streams).toEqual([{ url: STREAM_URL, parameters: { call_id: sid, resumed: 'true' } }]);
    const info = await callInfo(sid);
    expect(info.commands[0]).toMatchObject({ status: 'failed', outcome: 'rejected', reason: 'declined after the briefing' });
    // a wrote held and dialing, b the rest: across nodes the writes of the two may interleave.
    expect(history(info).filter((type) => ['command_held', 'command_dialing'].includes(type))).toEqual(['command_held', 'command_dialing']);
    expect(history(info).filter((type) => !['command_queued', 'command_held', 'command_dialing'].includes(type))).toEqual(['command_ringing', 'command_answered', 'command_briefed', 'command_declined', 'command_returned', 'command_failed']);
    expect(twilio.errors).toEqual([]);
  });

  it('joins an accepting destination, recorded on b, and the tool on a answers', async () => {
    twilio.scripts.set('+12125550124', { action: 'answer', afterMs: 50, press: '1' });
    const sid = twilio.createCall(SID);
    const result = await (await callOnA(sid)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550124', summary: SUMMARY } });
    expect(textOf(result)).toBe('+12125550124 accepted the call after the briefing; the caller is now with them.');
    const info = await callInfo(sid);
    expect(info.commands[0]).toMatchObject({ status: 'succeeded', outcome: 'connected' });
    expect(history(info)).toContain('command_bridged');
    expect(info.call.state).toBe('transferred');
  });

  it('ends the call when the caller hangs up while held; a destination answering later hears that nobody waits', async () => {
    // Rings until the test answers it.
    twilio.scripts.set('+12125550125', { action: 'no-answer', press: '1' });
    const sid = twilio.createCall(SID);
    void (await callOnA(sid)).callTool({ name: 'transfer_call', arguments: { destination_number: '+12125550125', summary: SUMMARY } }).catch(() => undefined);
    const ringing = await eventually(() => (legTo('+12125550125')?.status === 'ringing' ? legTo('+12125550125') : undefined), 5000, 'the new leg to ring');
    await twilio.callerHangsUp(sid);
    const info = await eventually(async () => {
      const current = await callInfo(sid);
      return current.commands[0]?.status === 'failed' ? current : undefined;
    });
    expect(info.call).toMatchObject({ state: 'ended', end_reason: 'the caller hung up while on hold' });
    expect(info.commands[0]).toMatchObject({ reason: 'the caller hung up while on hold' });
    // b does not know the new leg's CallSid: it rings on, and whoever answers is told and hung up on, never joined.
    expect(ringing.status).toBe('ringing');
    await twilio.voice.answerNow(ringing);
    const leg = await eventually(() => (legTo('+12125550125')?.status === 'completed' ? legTo('+12125550125') : undefined), 5000, 'the new leg to end');
    expect(leg.heard.at(-1)).toMatchObject({ verb: 'Say', text: 'The caller is no longer waiting. Goodbye.' });
    expect(leg.pressed).toEqual([]);
    expect(leg.conference).toBeUndefined();
  });
});
