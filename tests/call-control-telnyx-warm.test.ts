/**
 * Warm transfers with the telnyx driver, end to end: an official MCP client
 * calls a warm transfer tool of a real server; the driver holds the caller
 * (playback_start of the music on hold), dials the destination with
 * POST /v2/calls, briefs whoever answers and bridges or brings the caller
 * back, against the fake Telnyx (helpers/fake-telnyx.ts), which plays the
 * person who answers (pressing 1 or 2, staying silent, hanging up during the
 * briefing) and reports every leg by signed webhooks. Covers accept,
 * decline, no key in time, busy, no answer, the caller hanging up while
 * held (with and without the caller leg's webhooks forwarded), the person
 * hanging up during the briefing, a briefing played from a URL that is
 * accepted by staying on the line, and a blind transfer carrying the
 * summary as X-Switchboard-Summary; and what the wire saw in each case.
 * And `switchboard validate`: warm transfers need call_control.connection_id.
 */
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './helpers/cli.ts';
import { FakeTelnyx, type FakeLeg, type LegScript, type RestRequest } from './helpers/fake-telnyx.ts';
import { adminRequest } from './helpers/pbx.ts';
import { callHeaders, connect, eventually, freePort, startTestServer, tempDir, textOf, writeManifests, type TestServer } from './helpers/server.ts';

let fake: FakeTelnyx;
let server: TestServer;
const clients: Client[] = [];

const MUSIC = 'https://audio.acme.example/hold.mp3';
const SUMMARY = 'Wants to move her dental cleaning from Tuesday to Friday morning.';
const DANA = 'sip:100@acme.sip.telnyx.com';

const account = (id: string, warm: string) => `
account_id: ${id}
timezone: America/New_York
users:
  - { id: u-100, name: Dana Reyes, extension: "100" }
  - { id: u-101, name: Lee Park, extension: "101" }
transfer_policy:
  allow: ["+1NXXNXXXXXX"]
call_control:
  driver: telnyx
  api_key: ACME_TELNYX_KEY
  public_key: "${fake.publicKey}"
  api_base: ${fake.url}
  caller_id: "+12125550100"
  connection_id: "${fake.connectionId}"
  endpoint_template: "sip:{destination}@acme.sip.telnyx.com"
  ring_timeout_seconds: 1
  warm:
${warm}
`;

const persona = `
persona_id: front-desk
tools:
  - { type: transfer_to_user, name: transfer_to_dana, description: Transfer to Dana., user: u-100, mode: warm, on_no_answer: return }
  - { type: transfer_to_user, name: transfer_to_lee, description: Transfer to Lee., user: u-101, on_no_answer: return }
`;

async function call(callId: string, accountId = 'acme'): Promise<Client> {
  const client = await connect(server, callHeaders({ key: await server.key(accountId), account: accountId, persona: 'front-desk', call: callId, caller: '+12125550199' }));
  clients.push(client);
  return client;
}

const admin = async (method: string, path: string, accountId = 'acme') => adminRequest(server.url, await server.key(accountId, 'admin'), method, `/ucp/v2/accounts/${accountId}${path}`);
const callInfo = async (callId: string, accountId = 'acme') => (await admin('GET', `/calls/${encodeURIComponent(callId)}`, accountId)).body;
const eventsUrl = (accountId = 'acme') => `${server.url}/ucp/v2/pbx/${accountId}/telnyx/events`;
const history = async (callId: string, accountId = 'acme') => ((await callInfo(callId, accountId)).events as { type: string; detail: Record<string, unknown> | null }[]).map((event) => event.type);
const commandOf = async (callId: string, accountId = 'acme') => ((await callInfo(callId, accountId)).commands as { id: number; idempotency_key: string; outcome: string | null; reason: string | null; status: string }[])[0];
const decode = (state: unknown) => JSON.parse(Buffer.from(String(state), 'base64').toString('utf8')) as { switchboard_command: number; warm?: Record<string, unknown> };

/** The leg the warm transfer dialed for the caller's call (one call session, through link_to). */
function targetOf(callId: string): FakeLeg | undefined {
  const caller = fake.leg(callId);
  return [...fake.legs.values()].find((leg) => leg.id !== callId && leg.sessionId === caller?.sessionId);
}

/** The requests of one warm transfer as "<command> <leg>", in the order the fake took them. */
function wire(callId: string): string[] {
  const target = targetOf(callId);
  const name = (id: string): string => (id === callId ? 'caller' : id === target?.id ? 'target' : id);
  return fake.requests
    .filter((request) => request.method === 'POST')
    .flatMap((request) => {
      if (request.path === '/v2/calls') return request.json?.link_to === callId ? ['dial'] : [];
      const match = /^\/v2\/calls\/([^/]+)\/actions\/([a-z_]+)$/.exec(request.path);
      const leg = match ? decodeURIComponent(match[1] as string) : '';
      return match && (leg === callId || leg === target?.id) ? [`${match[2]} ${name(leg)}`] : [];
    });
}

const requestOf = (callId: string, what: string): RestRequest | undefined => {
  const target = targetOf(callId);
  const [action, leg] = what.split(' ');
  if (action === 'dial') return fake.requests.find((request) => request.path === '/v2/calls' && request.json?.link_to === callId);
  const id = leg === 'caller' ? callId : target?.id;
  return fake.requests.find((request) => request.path === `/v2/calls/${id}/actions/${action}`);
};

/** Starts a warm transfer to Dana, whose phone does what `script` says; resolves to the tool's result. */
async function warmTransfer(script: LegScript, options: { forwardCaller?: boolean; accountId?: string; destination?: string } = {}) {
  const accountId = options.accountId ?? 'acme';
  const callId = fake.incomingCall(options.forwardCaller ? { webhookUrl: eventsUrl(accountId) } : {});
  fake.scripts.set(options.destination ?? DANA, script);
  const client = await call(callId, accountId);
  const result = client.callTool({ name: 'transfer_to_dana', arguments: { summary: SUMMARY } });
  return { callId, result };
}

beforeAll(async () => {
  // Ring times and the wait for a key are read in tenths: timeout_secs 5 rings half a second, a 3 s wait for a key takes 0.3 s.
  fake = await FakeTelnyx.start({ timeScale: 0.1 });
  const port = await freePort();
  server = await startTestServer({
    personas: {
      'acme/account.yaml': account('acme', `    accept_timeout_seconds: 3\n    music_on_hold: ${MUSIC}`),
      'acme/front-desk.yaml': persona,
      'globex/account.yaml': account('globex', '    accept: stay\n    briefing: url\n    briefing_url: "https://tts.acme.example/say?text={summary}&caller={caller}&to={destination}"'),
      'globex/front-desk.yaml': persona,
      'initech/account.yaml': account('initech', '    briefing: header\n    accept_timeout_seconds: 5'),
      'initech/front-desk.yaml': persona,
    },
    env: { ACME_TELNYX_KEY: fake.apiKey },
    settings: { port, publicUrl: `http://127.0.0.1:${port}`, outboundAllow: ['127.0.0.1'] },
  });
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await server.close();
  await fake.close();
});

describe('telnyx warm transfer', () => {
  it('holds the caller, dials with the summary header, briefs with gather_using_speak; key 1 bridges the caller', async () => {
    const { callId, result } = await warmTransfer({ kind: 'answer', afterMs: 20, reply: { kind: 'press', digits: '1' } });
    expect(textOf(await result)).toBe('Dana Reyes (extension 100) accepted the call after the briefing; the caller is now with them.');
    expect(wire(callId)).toEqual(['playback_start caller', 'dial', 'gather_using_speak target', 'playback_stop caller', 'bridge caller']);

    const command = await commandOf(callId);
    const target = targetOf(callId) as FakeLeg;
    expect(requestOf(callId, 'playback_start caller')?.json).toEqual({ audio_url: MUSIC, loop: 'infinity', command_id: `switchboard-${command?.id}-hold` });
    const dial = requestOf(callId, 'dial');
    expect(dial?.status).toBe(200);
    expect(dial?.json).toEqual({
      connection_id: fake.connectionId,
      to: DANA,
      from: '+12125550100',
      timeout_secs: 5,
      webhook_url: eventsUrl(),
      link_to: callId,
      client_state: expect.any(String),
      command_id: command?.idempotency_key,
      custom_headers: [{ name: 'X-Switchboard-Summary', value: SUMMARY }],
    });
    expect(decode(dial?.json?.client_state)).toEqual({
      switchboard_command: command?.id,
      warm: { caller_leg: callId, phase: 'dialing', summary: SUMMARY, call_id: callId, caller: '+12125550199', destination: '100' },
    });
    expect(requestOf(callId, 'gather_using_speak target')?.json).toEqual({
      payload: `A caller is being transferred to you. ${SUMMARY} Press 1 to take the call, or 2 to decline.`,
      payload_type: 'text',
      voice: 'female',
      valid_digits: '12',
      minimum_digits: 1,
      maximum_digits: 1,
      maximum_tries: 1,
      timeout_millis: 3000,
      client_state: expect.any(String),
      command_id: `switchboard-${command?.id}-brief`,
    });
    expect(decode(requestOf(callId, 'gather_using_speak target')?.json?.client_state).warm?.phase).toBe('briefing');
    expect(requestOf(callId, 'bridge caller')?.json).toEqual({ call_control_id: target.id, command_id: `switchboard-${command?.id}-bridge` });

    // Telnyx's side: the caller and Dana are bridged, the music stopped, the header went with the INVITE.
    expect(fake.leg(callId)).toMatchObject({ state: 'active', peer: target.id, playback: undefined });
    expect(target).toMatchObject({ state: 'active', peer: callId, customHeaders: [{ name: 'X-Switchboard-Summary', value: SUMMARY }] });
    expect(command).toMatchObject({ status: 'succeeded', outcome: 'connected' });
    expect((await callInfo(callId)).call).toMatchObject({ state: 'transferred', transferred_to: '100' });
    expect(await history(callId)).toEqual(['call_started', 'command_queued', 'command_held', 'command_dialing', 'command_answered', 'command_briefed', 'command_accepted', 'command_bridged', 'command_succeeded']);
    expect(fake.deliveries.filter((delivery) => delivery.url === eventsUrl()).every((delivery) => delivery.status === 200)).toBe(true);
    // The summary is caller data: not in the log.
    expect(server.logLines.join('\n')).not.toContain('dental cleaning');

    // When Dana hangs up later, Telnyx ends the caller's leg with hers, and the call is over.
    await fake.destinationHangsUp(callId);
    await eventually(async () => (((await callInfo(callId)).call as { state: string }).state === 'ended' ? true : undefined));
    expect((await callInfo(callId)).call).toMatchObject({ end_reason: 'the transferred call ended' });
  });

  it('key 2 declines: the new leg is hung up and the caller is back with the agent', async () => {
    const { callId, result } = await warmTransfer({ kind: 'answer', afterMs: 20, reply: { kind: 'press', digits: '2' } });
    const answer = await result;
    expect(answer.isError).toBe(true);
    expect(textOf(answer)).toBe('Dana Reyes (extension 100) declined the call after the briefing. The caller is back with you: offer to take a message or to try someone else.');
    expect(wire(callId)).toEqual(['playback_start caller', 'dial', 'gather_using_speak target', 'hangup target', 'playback_stop caller']);
    const command = await commandOf(callId);
    expect(command).toMatchObject({ status: 'failed', outcome: 'rejected', reason: 'declined after the briefing' });
    // Our own hang-up marks the leg done, so its call.hangup changes nothing.
    expect(decode(requestOf(callId, 'hangup target')?.json?.client_state).warm?.phase).toBe('done');
    expect(targetOf(callId)?.state).toBe('ended');
    expect(fake.leg(callId)).toMatchObject({ state: 'active', peer: undefined, playback: undefined });
    expect((await callInfo(callId)).call).toMatchObject({ state: 'active' });
    await eventually(() => fake.deliveries.find((delivery) => delivery.callControlId === targetOf(callId)?.id && delivery.eventType === 'call.hangup'));
    expect(await history(callId)).toEqual(['call_started', 'command_queued', 'command_held', 'command_dialing', 'command_answered', 'command_briefed', 'command_declined', 'command_returned', 'command_failed']);
  });

  it('no key within accept_timeout_seconds counts as declined', async () => {
    const { callId, result } = await warmTransfer({ kind: 'answer', afterMs: 20, reply: { kind: 'silent' } });
    expect(textOf(await result)).toBe(
      'Dana Reyes (extension 100) declined the call after the briefing (did not accept within 3 seconds). The caller is back with you: offer to take a message or to try someone else.',
    );
    expect(wire(callId)).toEqual(['playback_start caller', 'dial', 'gather_using_speak target', 'hangup target', 'playback_stop caller']);
    expect(await commandOf(callId)).toMatchObject({ outcome: 'rejected', reason: 'did not accept within 3 seconds' });
    expect(fake.deliveries.find((delivery) => delivery.callControlId === targetOf(callId)?.id && delivery.eventType === 'call.gather.ended')?.payload).toMatchObject({ status: 'timeout', digits: '' });
  });

  it('the person hanging up during the briefing declines; the caller is back', async () => {
    const { callId, result } = await warmTransfer({ kind: 'answer', afterMs: 20, reply: { kind: 'hang_up_during_prompt' } });
    expect(textOf(await result)).toBe(
      'Dana Reyes (extension 100) declined the call after the briefing (hung up during the briefing). The caller is back with you: offer to take a message or to try someone else.',
    );
    // The leg is gone already: nothing to hang up.
    expect(wire(callId)).toEqual(['playback_start caller', 'dial', 'gather_using_speak target', 'playback_stop caller']);
    expect(await commandOf(callId)).toMatchObject({ outcome: 'rejected', reason: 'hung up during the briefing' });
    expect(fake.leg(callId)).toMatchObject({ state: 'active', playback: undefined });
    expect(await history(callId)).toEqual(['call_started', 'command_queued', 'command_held', 'command_dialing', 'command_answered', 'command_declined', 'command_returned', 'command_failed']);
  });

  it('busy: the caller is back with the agent', async () => {
    const { callId, result } = await warmTransfer({ kind: 'busy', afterMs: 20 });
    expect(textOf(await result)).toBe('Dana Reyes (extension 100) is busy. The caller is back with you: offer to take a message or to try someone else.');
    expect(wire(callId)).toEqual(['playback_start caller', 'dial', 'playback_stop caller']);
    expect(await commandOf(callId)).toMatchObject({ outcome: 'busy', reason: 'the line is busy (user_busy, SIP 486)' });
    expect(fake.leg(callId)).toMatchObject({ state: 'active', playback: undefined });
    expect(await history(callId)).toEqual(['call_started', 'command_queued', 'command_held', 'command_dialing', 'command_hangup', 'command_returned', 'command_failed']);
  });

  it('no answer within the ring time: the caller is back with the agent', async () => {
    const { callId, result } = await warmTransfer({ kind: 'no_answer' });
    expect(textOf(await result)).toBe('Dana Reyes (extension 100) did not answer within 1 second. The caller is back with you: offer to take a message or to try someone else.');
    expect(wire(callId)).toEqual(['playback_start caller', 'dial', 'playback_stop caller']);
    expect(await commandOf(callId)).toMatchObject({ outcome: 'no_answer', reason: 'no answer before the ring time ran out (timeout, SIP 487)' });
    expect((await callInfo(callId)).call).toMatchObject({ state: 'active' });
  });

  it('the caller hanging up while held (their call.hangup forwarded) hangs up the new leg and ends the call', async () => {
    const { callId, result } = await warmTransfer({ kind: 'no_answer' }, { forwardCaller: true });
    await eventually(() => targetOf(callId));
    await fake.callerHangsUp(callId);
    const answer = await result;
    expect(answer.isError).toBe(true);
    expect(textOf(answer)).toBe('The call ended while the transfer to Dana Reyes (extension 100) was under way; there is nothing more to do.');
    expect(wire(callId)).toEqual(['playback_start caller', 'dial', 'hangup target']);
    expect(targetOf(callId)?.state).toBe('ended');
    expect(await commandOf(callId)).toMatchObject({ status: 'failed', reason: 'the caller hung up while on hold' });
    expect((await callInfo(callId)).call).toMatchObject({ state: 'ended', end_reason: 'caller hung up while on hold' });
  });

  it("without the caller's webhooks, Telnyx's \"call has already ended\" tells that the caller left; the new leg is hung up", async () => {
    const callId = fake.incomingCall();
    // Dana answers only after the caller has gone.
    fake.scripts.set(DANA, { kind: 'answer', afterMs: 150, reply: { kind: 'press', digits: '1' } });
    const pending = (await call(callId)).callTool({ name: 'transfer_to_dana', arguments: { summary: SUMMARY } });
    await eventually(() => targetOf(callId));
    await fake.callerHangsUp(callId);
    expect(textOf(await pending)).toBe('The call ended while the transfer to Dana Reyes (extension 100) was under way; there is nothing more to do.');
    expect(wire(callId)).toEqual(['playback_start caller', 'dial', 'gather_using_speak target', 'playback_stop caller', 'hangup target']);
    expect(requestOf(callId, 'playback_stop caller')?.status).toBe(422);
    expect(targetOf(callId)?.state).toBe('ended');
    expect((await callInfo(callId)).call).toMatchObject({ state: 'ended', end_reason: 'caller hung up while on hold' });
  });

  it('accept: stay with a briefing URL: the audio plays to the person, who stays on and is bridged; no music configured, none played', async () => {
    const { callId, result } = await warmTransfer({ kind: 'answer', afterMs: 20, reply: { kind: 'silent' } }, { accountId: 'globex' });
    expect(textOf(await result)).toBe('Dana Reyes (extension 100) accepted the call after the briefing; the caller is now with them.');
    expect(wire(callId)).toEqual(['dial', 'playback_start target', 'bridge caller']);
    const command = await commandOf(callId, 'globex');
    expect(requestOf(callId, 'playback_start target')?.json).toEqual({
      audio_url: `https://tts.acme.example/say?text=${encodeURIComponent(SUMMARY)}&caller=%2B12125550199&to=100`,
      client_state: expect.any(String),
      command_id: `switchboard-${command?.id}-brief`,
    });
    expect(await history(callId, 'globex')).toEqual(['call_started', 'command_queued', 'command_held', 'command_dialing', 'command_answered', 'command_briefed', 'command_accepted', 'command_bridged', 'command_succeeded']);
    expect(fake.leg(callId)?.peer).toBe(targetOf(callId)?.id);
  });

  it('accept: stay: hanging up while the briefing plays declines', async () => {
    const { callId, result } = await warmTransfer({ kind: 'answer', afterMs: 20, reply: { kind: 'hang_up_during_prompt' } }, { accountId: 'globex' });
    expect(textOf(await result)).toBe(
      'Dana Reyes (extension 100) declined the call after the briefing (hung up during the briefing). The caller is back with you: offer to take a message or to try someone else.',
    );
    expect(wire(callId)).toEqual(['dial', 'playback_start target']);
    expect(await history(callId, 'globex')).toEqual(['call_started', 'command_queued', 'command_held', 'command_dialing', 'command_answered', 'command_declined', 'command_returned', 'command_failed']);
  });
});

describe('telnyx warm transfer with briefing: header', () => {
  it('plays nothing: the summary goes with the INVITE, a plain gather waits for the key', async () => {
    const { callId, result } = await warmTransfer({ kind: 'answer', afterMs: 20, reply: { kind: 'press', digits: '1' } }, { accountId: 'initech' });
    expect(textOf(await result)).toBe('Dana Reyes (extension 100) accepted the call after the briefing; the caller is now with them.');
    expect(wire(callId)).toEqual(['dial', 'gather target', 'bridge caller']);
    expect(requestOf(callId, 'dial')?.json?.custom_headers).toEqual([{ name: 'X-Switchboard-Summary', value: SUMMARY }]);
    const command = await commandOf(callId, 'initech');
    expect(requestOf(callId, 'gather target')?.json).toEqual({
      valid_digits: '12',
      minimum_digits: 1,
      maximum_digits: 1,
      maximum_tries: 1,
      timeout_millis: 5000,
      initial_timeout_millis: 5000,
      client_state: expect.any(String),
      command_id: `switchboard-${command?.id}-brief`,
    });
    expect(await history(callId, 'initech')).toEqual(['call_started', 'command_queued', 'command_held', 'command_dialing', 'command_answered', 'command_briefed', 'command_accepted', 'command_bridged', 'command_succeeded']);
  });
});

describe('telnyx blind transfer with a summary', () => {
  it('sends the summary as X-Switchboard-Summary on the transfer, folded to printable ASCII', async () => {
    const callId = fake.incomingCall();
    fake.scripts.set('sip:101@acme.sip.telnyx.com', { kind: 'answer', afterMs: 20 });
    const result = await (await call(callId)).callTool({ name: 'transfer_to_lee', arguments: { summary: 'Wants the café invoice — order #12\nresent' } });
    expect(textOf(result)).toBe('The call was transferred to Lee Park (extension 101).');
    const transfer = fake.requests.find((request) => request.path === `/v2/calls/${callId}/actions/transfer`);
    expect(transfer?.json?.custom_headers).toEqual([{ name: 'X-Switchboard-Summary', value: 'Wants the cafe invoice order #12 resent' }]);
    expect(fake.requests.some((request) => request.path === '/v2/calls' && request.json?.link_to === callId)).toBe(false);
  });
});

describe('switchboard validate', () => {
  it('refuses warm transfers on a telnyx account without connection_id, and a warm block without it', async () => {
    const withoutId = account('acme', '    accept: dtmf').replace(/ {2}connection_id: .*\n/, '');
    const warmTool = tempDir('telnyx-warm');
    writeManifests(warmTool, { 'acme/account.yaml': withoutId.replace(/ {2}warm:\n.*\n/, ''), 'acme/front-desk.yaml': persona });
    const refused = await runCli(['validate', warmTool]);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain('tool "transfer_to_dana" has mode: warm, but the call_control driver "telnyx" of acme/account.yaml cannot carry out warm transfers with these settings: a warm transfer dials the destination itself: set call_control.connection_id');

    const warmBlock = tempDir('telnyx-warm');
    writeManifests(warmBlock, { 'acme/account.yaml': withoutId, 'acme/front-desk.yaml': persona });
    const schema = await runCli(['validate', warmBlock]);
    expect(schema.code).not.toBe(0);
    expect(schema.stdout + schema.stderr).toContain('connection_id');

    const fine = tempDir('telnyx-warm');
    writeManifests(fine, { 'acme/account.yaml': account('acme', '    accept: dtmf'), 'acme/front-desk.yaml': persona });
    expect(await runCli(['validate', fine])).toMatchObject({ code: 0 });
  });
});
