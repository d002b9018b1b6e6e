/**
 * Call control with the events driver, end to end: an official MCP client
 * calls the tools, a real SSE consumer reads the call-events stream and
 * acknowledges, and the admin API shows the call's state and history.
 */
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { adminRequest, SseConsumer } from './helpers/pbx.ts';
import { callHeaders, connect, eventually, startTestServer, textOf, type TestServer } from './helpers/server.ts';

const manifests: Record<string, string> = {
  'acme/account.yaml': `
account_id: acme
timezone: America/New_York
users:
  - { id: u-100, name: Dana Reyes, extension: "100", voicemail: "8100" }
queues:
  - { id: q-sales, name: Sales, extension: "600" }
transfer_policy:
  allow: ["2XX", "+1NXXNXXXXXX"]
call_control:
  driver: events
  timeout_seconds: 5
  hangup_delay_seconds: 0.2
  warm: { briefing: header, music_on_hold: moh-jazz }
`,
  'acme/warm.yaml': `
persona_id: warm
tools:
  - { type: transfer_to_queue, name: transfer_to_sales, description: Send the caller to sales., queue: q-sales, mode: warm }
`,
  'acme/front-desk.yaml': `
persona_id: front-desk
tools:
  - { type: transfer_to_queue, name: transfer_to_sales, description: Send the caller to sales., queue: q-sales }
`,
  // Acknowledgements are awaited only briefly here, to see time-outs.
  'initech/account.yaml': `
account_id: initech
timezone: Europe/Berlin
default_country: DE
users:
  - { id: peter, name: Peter Gibbons, extension: "300" }
call_control:
  driver: events
  timeout_seconds: 0.5
  ring_timeout_seconds: 1
`,
  'initech/desk.yaml': 'persona_id: desk\n',
  'acme/slow.yaml': 'persona_id: slow\nhangup_delay_seconds: 30\n',
  'hooli/account.yaml': `
account_id: hooli
timezone: America/Los_Angeles
users:
  - { id: gavin, name: Gavin Belson, extension: "700" }
`,
  'hooli/desk.yaml': 'persona_id: desk\n',
};

let server: TestServer;
let mcpKey: string;
let adminKey: string;
let consumer: SseConsumer;

const clients: Client[] = [];
async function clientFor(account: string, persona: string, call: string): Promise<Client> {
  const client = await connect(server, callHeaders({ key: account === 'acme' ? mcpKey : await server.key(account), account, persona, call, caller: '+12125550199' }));
  clients.push(client);
  return client;
}

const admin = (method: string, path: string, body?: unknown, key = adminKey) => adminRequest(server.url, key, method, `/ucp/v2/accounts/acme${path}`, body);

beforeAll(async () => {
  server = await startTestServer({ personas: manifests });
  mcpKey = await server.key('acme');
  adminKey = await server.key('acme', 'admin');
  consumer = await SseConsumer.connect(server.url, 'acme', adminKey);
});
afterAll(async () => {
  consumer.close();
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await server.close();
});

describe('the call-events stream', () => {
  it('is an authenticated, unbuffered event stream', async () => {
    expect(consumer.status).toBe(200);
    expect(consumer.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(consumer.headers['x-accel-buffering']).toBe('no');
    expect(consumer.headers['cache-control']).toContain('no-cache');
    expect(consumer.comments).toContain('connected');
    const mcpOnly = await SseConsumer.connect(server.url, 'acme', mcpKey);
    expect(mcpOnly.status).toBe(403);
    mcpOnly.close();
    const otherAccount = await SseConsumer.connect(server.url, 'initech', adminKey);
    expect(otherAccount.status).toBe(403);
    otherAccount.close();
  });
});

describe('a warm transfer', () => {
  it('streams the mode, the summary and the warm settings, and tells the agent the destination accepted', async () => {
    const client = await clientFor('acme', 'warm', 'c-warm');
    const pending = client.callTool({ name: 'transfer_to_sales', arguments: { summary: 'Wants a quote for two radiators.' } });
    const event = await consumer.next();
    expect(event.data).toMatchObject({
      type: 'transfer',
      destination: '600',
      mode: 'warm',
      summary: 'Wants a quote for two radiators.',
      summary_header: 'Wants a quote for two radiators.',
      warm: { accept: 'dtmf', accept_timeout_seconds: 10, briefing: 'header', briefing_url: null, voice: null, language: null, music_on_hold: 'moh-jazz' },
    });
    await consumer.ack(event.id, true);
    const result = await pending;
    expect(textOf(result)).toBe('Sales (extension 600) accepted the call after the briefing; the caller is now with them.');
    expect(result.structuredContent).toMatchObject({ status: 'transferred', mode: 'warm', outcome: 'connected' });
    const command = ((await admin('GET', '/calls/c-warm')).body.commands as Record<string, unknown>[])[0];
    expect(command).toMatchObject({ mode: 'warm', summary: 'Wants a quote for two radiators.', warm: { music_on_hold: 'moh-jazz' }, status: 'succeeded' });
  });
});

describe('transfer_call', () => {
  it('streams the command, and reports the acknowledged transfer', async () => {
    const client = await clientFor('acme', 'front-desk', 'c-ok');
    const pending = client.callTool({ name: 'transfer_call', arguments: { destination_number: '(212) 555-0100' } });
    const event = await consumer.next();
    expect(event.event).toBe('command');
    expect(event.data).toMatchObject({ id: Number(event.id), type: 'transfer', account_id: 'acme', call_id: 'c-ok', persona_id: 'front-desk', destination: '+12125550100', destination_type: 'e164', target: { kind: 'number' } });
    expect(event.data.idempotency_key).toMatch(/^[0-9a-f-]{36}$/);
    expect((await consumer.ack(event.id, true)).status).toBe(200);
    const result = await pending;
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toBe('The call was transferred to +12125550100.');
    expect(result.structuredContent).toMatchObject({ status: 'transferred', destination: '+12125550100', command_id: Number(event.id) });

    const { body } = await admin('GET', '/calls/c-ok');
    expect(body.call).toMatchObject({ state: 'transferred', transferred_to: '+12125550100', source: 'tool', caller_id_number: '+12125550199' });
    expect((body.commands as { status: string }[])[0]).toMatchObject({ status: 'succeeded', driver: 'events' });
    expect((body.events as { type: string }[]).map((e) => e.type)).toEqual(['call_started', 'command_queued', 'command_succeeded']);

    const again = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '600' } });
    expect(again.isError).toBe(true);
    expect(textOf(again)).toBe('This call was already transferred to +12125550100, so it cannot be transferred again.');
  });

  it('reports the PBX refusal with its reason and leaves the call active', async () => {
    const client = await clientFor('acme', 'front-desk', 'c-busy');
    const pending = client.callTool({ name: 'transfer_to_sales', arguments: {} });
    const event = await consumer.next();
    expect(event.data).toMatchObject({ type: 'transfer', destination: '600', destination_type: 'extension', target: { kind: 'queue', id: 'q-sales', name: 'Sales' } });
    await consumer.ack(event.id, false, 'all agents busy');
    const result = await pending;
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('The phone system did not transfer the call to Sales (extension 600) (all agents busy). Tell the caller and offer to take a message instead.');
    expect(result.structuredContent).toMatchObject({ error: { code: 'TOOL_UPSTREAM', status: 'failed', reason: 'all agents busy' } });
    expect((await admin('GET', '/calls/c-busy')).body.call).toMatchObject({ state: 'active' });

    // A repeated acknowledgement is harmless; a contradicting one is refused.
    expect((await consumer.ack(event.id, false, 'all agents busy')).body).toMatchObject({ already_acknowledged: true });
    expect((await consumer.ack(event.id, true)).status).toBe(409);
  });

  it('refuses a second transfer while one is under way', async () => {
    const client = await clientFor('acme', 'front-desk', 'c-two');
    const first = client.callTool({ name: 'transfer_call', arguments: { destination_number: '201' } });
    const event = await consumer.next();
    const second = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '202' } });
    expect(second.isError).toBe(true);
    expect(textOf(second)).toBe('A transfer of this call to 201 is already under way; do not start another transfer.');
    await consumer.ack(event.id, true);
    expect(textOf(await first)).toBe('The call was transferred to 201.');
    expect(consumer.events.filter((e) => e.data.call_id === 'c-two')).toHaveLength(1);
  });
});

describe('acknowledgement time-outs', () => {
  it('fails at once when no phone system is connected, and never sends the command later', async () => {
    const client = await clientFor('initech', 'desk', 'i-nobody');
    const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '300' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('The phone system is not connected right now, so the call was not transferred to Peter Gibbons (extension 300). Tell the caller and offer to take a message instead.');
    expect(result.structuredContent).toMatchObject({ error: { status: 'failed', reason: 'phone_system_not_connected' } });
    const hangup = await client.callTool({ name: 'hangup_call', arguments: {} });
    expect(hangup.isError).toBe(true);
    expect(textOf(hangup)).toBe('The call cannot be ended from here right now: the phone system is not connected. Say goodbye; the caller can hang up.');
    const initechAdmin = await server.key('initech', 'admin');
    const late = await SseConsumer.connect(server.url, 'initech', initechAdmin);
    const { body } = await adminRequest(server.url, initechAdmin, 'GET', '/ucp/v2/accounts/initech/calls/i-nobody');
    expect(body.call).toMatchObject({ state: 'active' });
    expect((body.commands as unknown[])[0]).toMatchObject({ status: 'failed', outcome: 'failed', delivered_at: null, reason: 'the phone system is not connected: no phone system is connected to the call-events stream' });
    expect((body.events as { type: string; detail: { reason?: string } }[]).map((e) => e.detail?.reason ?? e.type)).toContain('phone_system_not_connected');
    // The failed command is not replayed to a stream that connects afterwards; a new one is.
    const client2 = await clientFor('initech', 'desk', 'i-later');
    const pending = client2.callTool({ name: 'transfer_call', arguments: { destination_number: '300' } });
    const event = await late.next();
    expect(event.data).toMatchObject({ call_id: 'i-later', ring_timeout_seconds: 1 });
    await late.ack(event.id, true);
    expect(textOf(await pending)).toBe('The call was transferred to Peter Gibbons (extension 300).');
    late.close();
  });

  it('says "not confirmed" when a delivered command gets no answer, frees the call, and a late answer still counts', async () => {
    const initechAdmin = await server.key('initech', 'admin');
    const pbx = await SseConsumer.connect(server.url, 'initech', initechAdmin);
    const client = await clientFor('initech', 'desk', 'i-slow');
    const result = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '300' } });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ status: 'unconfirmed' });
    expect(textOf(result)).toBe(
      'The phone system has not confirmed the transfer to Peter Gibbons (extension 300). Do not say it worked. If the caller is still on the line, the transfer did not go through: tell them, and offer to try again or take a message.',
    );
    const call = () => adminRequest(server.url, initechAdmin, 'GET', '/ucp/v2/accounts/initech/calls/i-slow');
    // Never stuck: the call is active again, so the agent can hang up or try once more.
    expect((await call()).body.call).toMatchObject({ state: 'active' });
    const event = await pbx.next();

    // The late acknowledgement is recorded, and a late success still moves the call to transferred.
    expect((await pbx.ack(event.id, true, undefined, 'connected')).status).toBe(200);
    const { body } = await call();
    expect(body.call).toMatchObject({ state: 'transferred', transferred_to: '300' });
    expect((body.events as { type: string }[]).map((e) => e.type)).toEqual(['call_started', 'command_queued', 'command_unconfirmed', 'command_succeeded']);
    const after = await client.callTool({ name: 'hangup_call', arguments: {} });
    expect(textOf(after)).toBe('This call was already transferred to 300, so there is nothing left to hang up.');
    pbx.close();
  });

  it('frees a call whose transfer was never confirmed for a hang-up', async () => {
    const initechAdmin = await server.key('initech', 'admin');
    const pbx = await SseConsumer.connect(server.url, 'initech', initechAdmin);
    const client = await clientFor('initech', 'desk', 'i-free');
    expect((await client.callTool({ name: 'transfer_call', arguments: { destination_number: '300' } })).structuredContent).toMatchObject({ status: 'unconfirmed' });
    const transfer = await pbx.next();
    const hangup = await client.callTool({ name: 'hangup_call', arguments: {} });
    expect(hangup.isError).toBeFalsy();
    const next = await pbx.next();
    expect(next.data).toMatchObject({ type: 'hangup', call_id: 'i-free' });
    await pbx.ack(next.id, true);
    // The transfer's verdict still arrives afterwards, and is kept without reviving the call.
    expect((await pbx.ack(transfer.id, false, 'caller gone', 'failed')).status).toBe(200);
    const { body } = await adminRequest(server.url, initechAdmin, 'GET', '/ucp/v2/accounts/initech/calls/i-free');
    expect(body.call).toMatchObject({ state: 'ended', end_reason: 'hangup' });
    expect((body.commands as { status: string }[]).map((c) => c.status)).toEqual(['failed', 'succeeded']);
    pbx.close();
  });
});

describe('hangup_call', () => {
  it('answers at once, hangs up after the delay, and closes the session when the PBX confirms', async () => {
    const client = await clientFor('acme', 'front-desk', 'c-bye');
    const result = await client.callTool({ name: 'hangup_call', arguments: {} });
    expect(textOf(result)).toBe('The call will be hung up in 0.2 seconds; finish your goodbye now.');
    expect(result.structuredContent).toMatchObject({ status: 'ending', delay_seconds: 0.2, already_requested: false });

    const second = await client.callTool({ name: 'hangup_call', arguments: {} });
    expect(second.isError).toBeFalsy();
    expect(textOf(second)).toMatch(/^The call is already ending/);
    const transfer = await client.callTool({ name: 'transfer_call', arguments: { destination_number: '600' } });
    expect(transfer.isError).toBe(true);
    expect(textOf(transfer)).toBe('This call is ending (a hang-up was requested), so it cannot be transferred.');

    const event = await consumer.next();
    expect(event.data).toMatchObject({ type: 'hangup', call_id: 'c-bye', destination: null, target: null });
    await consumer.ack(event.id, true);
    // The confirmed hang-up ends the call and its MCP session: the client's next request fails.
    await eventually(() => client.listTools().then(() => undefined, () => true), 5000, 'the session to close');
    const { body } = await admin('GET', '/calls/c-bye');
    expect(body.call).toMatchObject({ state: 'ended', end_reason: 'hangup' });
    expect((body.events as { type: string; detail: { reason?: string } }[]).map((e) => e.detail?.reason ?? e.type)).toEqual([
      'call_started',
      'hangup_scheduled',
      'already_ending',
      'call_ending',
      'command_queued',
      'command_succeeded',
    ]);
    expect(consumer.events.filter((e) => e.data.call_id === 'c-bye')).toHaveLength(1);
  });

  it('refuses on a call that has ended, and sends nothing', async () => {
    const client = await clientFor('acme', 'front-desk', 'c-gone');
    await admin('DELETE', '/calls/c-gone');
    const before = consumer.events.length;
    const other = await connect(server, callHeaders({ key: mcpKey, call: 'c-gone' }));
    clients.push(other);
    const hangup = await other.callTool({ name: 'hangup_call', arguments: {} });
    expect(hangup.isError).toBe(true);
    expect(textOf(hangup)).toBe('This call has already ended.');
    const transfer = await other.callTool({ name: 'transfer_call', arguments: { destination_number: '600' } });
    expect(textOf(transfer)).toBe('This call has already ended, so it cannot be transferred.');
    expect(consumer.events.length).toBe(before);
    await expect(client.listTools()).rejects.toThrow();
  });
});

describe('calls registered and ended by the PBX', () => {
  it('registers, lists, and ends a call, closing its MCP sessions', async () => {
    const created = await admin('POST', '/calls', { call_id: 'pbx-1', persona_id: 'front-desk', caller_id_number: '(646) 555-0123' });
    expect(created.status).toBe(201);
    expect(created.body.call).toMatchObject({ call_id: 'pbx-1', state: 'active', source: 'pbx', caller_id_number: '+16465550123' });
    expect((await admin('POST', '/calls', { call_id: 'pbx-1' })).status).toBe(200);
    expect((await admin('POST', '/calls', {})).status).toBe(400);

    const client = await clientFor('acme', 'front-desk', 'pbx-1');
    expect((await client.listTools()).tools.map((tool) => tool.name).filter((name) => name.startsWith('transfer_') || name === 'hangup_call')).toEqual(['transfer_call', 'hangup_call', 'transfer_to_sales']);
    const listed = await admin('GET', '/calls?state=active');
    expect((listed.body.calls as { call_id: string }[]).map((call) => call.call_id)).toContain('pbx-1');

    // A reason sent with another content type is refused, not dropped.
    const plain = await fetch(new URL('/ucp/v2/accounts/acme/calls/pbx-1', server.url), { method: 'DELETE', headers: { 'X-API-Key': adminKey, 'Content-Type': 'text/plain' }, body: 'caller hung up' });
    expect(plain.status).toBe(400);
    expect((await admin('GET', '/calls/pbx-1')).body.call).toMatchObject({ state: 'active' });

    const ended = await admin('DELETE', '/calls/pbx-1', { reason: 'caller hung up' });
    expect(ended.status).toBe(200);
    expect(ended.body).toMatchObject({ call: { state: 'ended', end_reason: 'caller hung up' }, sessions_closed: 1 });
    await expect(client.callTool({ name: 'hangup_call', arguments: {} })).rejects.toThrow();
    expect((await admin('POST', '/calls', { call_id: 'pbx-1' })).status).toBe(409);
    expect((await admin('GET', '/calls/unknown')).status).toBe(404);
  });

  it('lists calls newest first in pages, like every admin list', async () => {
    const initechAdmin = await server.key('initech', 'admin');
    const initech = (path: string, body?: unknown) => adminRequest(server.url, initechAdmin, body === undefined ? 'GET' : 'POST', `/ucp/v2/accounts/initech${path}`, body);
    // Registered within the same millisecond or not: the call id breaks ties in creation time.
    for (const id of ['i-page-3', 'i-page-1', 'i-page-5', 'i-page-2', 'i-page-4']) expect((await initech('/calls', { call_id: id, persona_id: 'desk' })).status).toBe(201);

    const whole = await initech('/calls?persona_id=desk&limit=200');
    expect(whole.body.next_cursor).toBeNull();
    const expected = (whole.body.calls as { call_id: string }[]).map((call) => call.call_id);
    expect(expected.filter((id) => id.startsWith('i-page-')).sort()).toEqual(['i-page-1', 'i-page-2', 'i-page-3', 'i-page-4', 'i-page-5']);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await initech(`/calls?persona_id=desk&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      expect((page.body.calls as unknown[]).length).toBeLessThanOrEqual(2);
      seen.push(...(page.body.calls as { call_id: string }[]).map((call) => call.call_id));
      cursor = page.body.next_cursor as string | null;
    } while (cursor);
    expect(seen).toEqual(expected);

    for (const query of ['limit=0', 'limit=201', 'cursor=garbage', 'state=gone', 'state=active&state=ended', 'persona=desk']) {
      const response = await initech(`/calls?${query}`);
      expect(response.status, query).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'BAD_REQUEST' });
    }
    for (const query of ['last_event=3', 'last_event_id=1&last_event_id=2']) expect((await initech(`/call-events?${query}`)).status, query).toBe(400);
  });

  it('drops a hang-up still waiting when the PBX ends the call first', async () => {
    await admin('POST', '/calls', { call_id: 'pbx-2' });
    const client = await clientFor('acme', 'slow', 'pbx-2');
    expect(textOf(await client.callTool({ name: 'hangup_call', arguments: {} }))).toBe('The call will be hung up in 30 seconds; finish your goodbye now.');
    expect((await admin('GET', '/calls/pbx-2')).body.call).toMatchObject({ state: 'ending', hangup_at: expect.any(String) });
    await admin('DELETE', '/calls/pbx-2');
    const { body } = await admin('GET', '/calls/pbx-2');
    expect(body.commands).toEqual([]);
    expect(body.call).toMatchObject({ state: 'ended', hangup_at: null, end_reason: 'ended_by_pbx' });
  });
});

describe('Last-Event-ID', () => {
  it('replays unacknowledged commands after the id the consumer last saw', async () => {
    const hooliAdmin = await server.key('hooli', 'admin');
    const hooli = (path: string) => adminRequest(server.url, hooliAdmin, 'GET', `/ucp/v2/accounts/hooli${path}`);
    const first = await SseConsumer.connect(server.url, 'hooli', hooliAdmin);
    const pendingA = (await clientFor('hooli', 'desk', 'h-a')).callTool({ name: 'transfer_call', arguments: { destination_number: '700' } });
    const a = await first.next();
    first.close();
    // Queued while no stream is connected: kept in SQLite until one connects.
    const pendingB = (await clientFor('hooli', 'desk', 'h-b')).callTool({ name: 'transfer_call', arguments: { destination_number: '700' } });
    await eventually(async () => ((await hooli('/calls/h-b')).body.commands as unknown[] | undefined)?.length || undefined);
    const resumed = await SseConsumer.connect(server.url, 'hooli', hooliAdmin, a.id);
    const b = await resumed.next();
    expect(b.data.call_id).toBe('h-b');
    expect(Number(b.id)).toBeGreaterThan(Number(a.id));
    await resumed.ack(b.id, true);
    expect(textOf(await pendingB)).toBe('The call was transferred to Gavin Belson (extension 700).');
    // Without Last-Event-ID every unacknowledged command comes again: here the one of call h-a.
    const fresh = await SseConsumer.connect(server.url, 'hooli', hooliAdmin);
    const again = await fresh.next();
    expect(again.id).toBe(a.id);
    expect((await fresh.ack(again.id, true)).body).toMatchObject({ call: { call_id: 'h-a', state: 'transferred' } });
    expect(textOf(await pendingA)).toBe('The call was transferred to Gavin Belson (extension 700).');
    expect(resumed.events).toHaveLength(1);
    resumed.close();
    fresh.close();
    expect((await hooli('/call-events?last_event_id=x')).status).toBe(400);
  });
});
