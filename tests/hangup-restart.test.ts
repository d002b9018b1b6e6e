/**
 * Hang-ups wait in SQLite, driven by the clock: nothing is sent before the
 * delay, the hang-up goes out once it is due, and a restart in between still
 * hangs up (or records why it could not). A webhook PBX records what arrived.
 * With the events driver, a hang-up that no consumer took for over a minute
 * is withdrawn when one connects, never delivered to it.
 */
import path from 'node:path';
import fs from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FixedClock } from '../engine/clock.ts';
import { adminRequest, SseConsumer, WebhookReceiver } from './helpers/pbx.ts';
import { callHeaders, connect, eventually, startTestServer, tempDir, textOf, type TestServer } from './helpers/server.ts';

const SECRET = 'restart-secret-5521';
const T0 = Date.parse('2026-03-02T15:00:00Z');
let receiver: WebhookReceiver;
let dataDir: string;

const account = (id: string, secret: string, url: string) => `
account_id: ${id}
timezone: America/New_York
call_control: { driver: webhook, url: "${url}", secret: ${secret}, timeout_seconds: 2, retries: 0, hangup_delay_seconds: 1 }
`;

function personas(url: string): Record<string, string> {
  return {
    'acme/account.yaml': account('acme', 'PBX_SECRET', url),
    'acme/desk.yaml': 'persona_id: desk\nhangup_delay_seconds: 3\n',
    'other/account.yaml': account('other', 'OTHER_SECRET', url),
    'other/desk.yaml': 'persona_id: desk\n',
  };
}

async function hangUp(server: TestServer, accountId: string, call: string): Promise<string> {
  const client = await connect(server, callHeaders({ key: await server.key(accountId), account: accountId, persona: 'desk', call }));
  const text = textOf(await client.callTool({ name: 'hangup_call', arguments: {} }));
  await client.close().catch(() => undefined);
  return text;
}

const hangupsFor = (call: string) => receiver.received.filter((request) => request.json.call_id === call && request.json.type === 'hangup');

beforeAll(async () => {
  receiver = await new WebhookReceiver(SECRET).start();
  dataDir = path.join(tempDir('restart'), 'data');
});
afterAll(async () => {
  await receiver.close();
  fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
});

describe('hang-up timing and restarts', () => {
  it('sends nothing before the delay, then hangs up; pending hang-ups survive a restart', async () => {
    const clock = new FixedClock(T0);
    const first = await startTestServer({ personas: personas(receiver.url), clock, settings: { dataDir, outboundAllow: ['127.0.0.1'] }, env: { PBX_SECRET: SECRET, OTHER_SECRET: SECRET } });
    const { calls } = first.running.services;

    expect(await hangUp(first, 'acme', 'r-now')).toBe('The call will be hung up in 3 seconds; finish your goodbye now.');
    expect(await hangUp(first, 'acme', 'r-now')).toBe('The call is already ending; it will hang up in 3 seconds.');
    clock.advance(2_999);
    expect(await calls.hangups.runDue()).toBe(0);
    expect(hangupsFor('r-now')).toHaveLength(0);
    expect((await calls.store.call('acme', 'r-now'))?.state).toBe('ending');
    clock.advance(1);
    await calls.hangups.runDue();
    await eventually(async () => ((await calls.store.call('acme', 'r-now'))?.state === 'ended' ? true : undefined));
    expect(hangupsFor('r-now')).toHaveLength(1);

    // Sent, but the PBX is still working on it when the server stops.
    receiver.reply = (request) => (request.json.call_id === 'r-midway' ? { status: 200, delayMs: 60_000 } : { status: 200 });
    await hangUp(first, 'acme', 'r-midway');
    clock.advance(3_000);
    void calls.hangups.runDue();
    await eventually(() => hangupsFor('r-midway')[0]);
    receiver.reply = () => ({ status: 200 });
    // Scheduled, then the server stops before they are due.
    await hangUp(first, 'acme', 'r-restart');
    await hangUp(first, 'other', 'r-nosecret');
    expect(await calls.hangups.runDue()).toBe(0);
    await first.close();
    const midwayKey = hangupsFor('r-midway')[0]?.headers['idempotency-key'];

    const later = new FixedClock(T0 + 3_600_000);
    const second = await startTestServer({ personas: personas(receiver.url), clock: later, settings: { dataDir, outboundAllow: ['127.0.0.1'] }, env: { PBX_SECRET: SECRET } });
    try {
      const store = second.running.services.calls.store;
      await eventually(async () => ((await store.call('acme', 'r-midway'))?.state === 'ended' ? true : undefined), 8000, 'the interrupted hang-up to be re-sent');
      const resent = hangupsFor('r-midway');
      expect(resent.length).toBeGreaterThanOrEqual(2);
      expect(new Set(resent.map((request) => request.headers['idempotency-key']))).toEqual(new Set([midwayKey]));

      await eventually(async () => ((await store.call('acme', 'r-restart'))?.state === 'ended' ? true : undefined), 8000, 'the pending hang-up');
      expect(hangupsFor('r-restart')).toHaveLength(1);
      const queued = (await store.eventsOfCall('acme', 'r-restart')).find((event) => event.type === 'command_queued');
      expect(queued?.detail).toMatchObject({ type: 'hangup', driver: 'webhook', late_ms: 3_600_000 - 9_000 });

      // The other account's signing secret is gone after the restart: the hang-up fails, and says why.
      const failed = await eventually(async () => (await store.eventsOfCall('other', 'r-nosecret')).find((event) => event.type === 'command_failed'), 8000, 'the failed hang-up');
      expect(failed.detail).toMatchObject({ type: 'hangup', reason: 'the phone system is not connected: secret OTHER_SECRET is not set (environment variable or secrets file)' });
      expect((await store.call('other', 'r-nosecret'))?.state).toBe('active');
      expect(second.logLines.some((line) => line.includes('the phone system did not hang up the call') && line.includes('r-nosecret'))).toBe(true);
    } finally {
      await second.close();
    }
  });
});

describe('a hang-up queued while no consumer was connected', () => {
  it('is withdrawn, not delivered, when a consumer connects over a minute later; a fresh one still goes out', async () => {
    const clock = new FixedClock(T0);
    const server = await startTestServer({
      clock,
      personas: {
        // timeout_seconds at its maximum: the hang-up is still waiting for a verdict when the clock has moved on.
        'acme/account.yaml': 'account_id: acme\ntimezone: America/New_York\ncall_control: { driver: events, timeout_seconds: 60, hangup_delay_seconds: 0 }\n',
        'acme/desk.yaml': 'persona_id: desk\n',
      },
    });
    const adminKey = await server.key('acme', 'admin');
    const calls = server.running.services.calls;
    const record = async (call: string) => (await adminRequest(server.url, adminKey, 'GET', `/ucp/v2/accounts/acme/calls/${call}`)).body;
    const queued = (call: string) => eventually(async () => ((await record(call)).commands as { status: string }[] | undefined)?.[0], 5000, `the hang-up of ${call} to be queued`);
    let late: SseConsumer | undefined;
    try {
      // A consumer was there and has just gone: within the reconnect grace the hang-up is kept for it.
      (await SseConsumer.connect(server.url, 'acme', adminKey)).close();
      await eventually(() => (calls.healthOf('acme').state === 'connecting' ? true : undefined), 5000, 'the stream to close');
      expect(await hangUp(server, 'acme', 'stale-1')).toBe('The call is being hung up now.');
      expect(await queued('stale-1')).toMatchObject({ type: 'hangup', status: 'pending', delivered_at: null });

      // Minutes later a consumer connects: the old hang-up is withdrawn instead of ending whatever call now has that id.
      clock.advance(61_000);
      late = await SseConsumer.connect(server.url, 'acme', adminKey);
      const stale = await eventually(async () => {
        const body = await record('stale-1');
        return (body.commands as { status: string }[])[0]?.status === 'withdrawn' ? body : undefined;
      });
      expect((stale.commands as unknown[])[0]).toMatchObject({ status: 'withdrawn', delivered_at: null, reason: 'no phone system took the hang-up within 60 seconds' });
      // The call is the agent's again.
      expect(stale.call).toMatchObject({ state: 'active' });

      // A hang-up asked for now reaches the consumer, and is the first command it ever receives.
      expect(await hangUp(server, 'acme', 'fresh-1')).toBe('The call is being hung up now.');
      const event = await late.next();
      expect(event.data).toMatchObject({ type: 'hangup', call_id: 'fresh-1' });
      expect(late.events).toHaveLength(1);
      expect((await late.ack(event.id, true)).status).toBe(200);
      // An acknowledgement of the withdrawn one, should the consumer have it from elsewhere, is refused.
      const staleId = ((stale.commands as { id: number }[])[0] as { id: number }).id;
      expect((await late.ack(staleId, true)).status).toBe(409);
    } finally {
      late?.close();
      await server.close();
    }
  });
});
