/**
 * What a transfer does when its destination is not reached, end to end with
 * the events driver: an official MCP client calls the tools, a real SSE
 * consumer plays the phone system and answers each command with an outcome
 * (busy, no_answer, connected, handed_over). The manifest's on_no_answer
 * decides what is tried next; the agent's text says what happened to each
 * destination; progress notifications flow while a transfer waits; a
 * consumer resuming after a restored database still gets its commands.
 * Every case runs with a whole server on SQLite and on PostgreSQL.
 */
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ENGINE_KINDS, serverDatabase } from './helpers/engines.ts';
import { adminRequest, SseConsumer, type StreamEvent } from './helpers/pbx.ts';
import { callHeaders, connect, eventually, startTestServer, textOf, type TestServer } from './helpers/server.ts';

const manifests: Record<string, string> = {
  'acme/account.yaml': `
account_id: acme
timezone: America/New_York
users:
  - { id: u-100, name: Dana Reyes, extension: "100", voicemail: "8100" }
  - { id: u-101, name: Sam Ortiz, extension: "101" }
queues:
  - { id: q-sales, name: Sales, extension: "600" }
transfer_policy:
  allow: ["2XX"]
call_control:
  driver: events
  timeout_seconds: 0.5
  ring_timeout_seconds: 15
`,
  'acme/desk.yaml': `
persona_id: desk
ring_timeout_seconds: 12
global_tools:
  transfer_call: { on_no_answer: fallback, fallback: [{ queue: q-sales }] }
tools:
  - type: transfer_to_user
    name: transfer_to_dana
    description: Transfer to Dana.
    user: u-100
    ring_timeout_seconds: 25
    on_no_answer: fallback
    fallback: [{ queue: q-sales }, { user: u-101 }]
  - { type: transfer_to_user, name: dana_or_voicemail, description: Dana or her voicemail., user: u-100, on_no_answer: voicemail }
  - { type: transfer_to_queue, name: transfer_to_sales, description: Sales., queue: q-sales }
`,
};

let database: Awaited<ReturnType<typeof serverDatabase>>;
let server: TestServer;
let consumer: SseConsumer;
let adminKey: string;
const clients: Client[] = [];

async function clientFor(call: string): Promise<Client> {
  const client = await connect(server, callHeaders({ key: await server.key('acme'), account: 'acme', persona: 'desk', call }));
  clients.push(client);
  return client;
}

/** Answers the next commands of a call in order, one outcome each; returns the commands it saw. */
async function answer(call: string, outcomes: [success: boolean, outcome: string][]): Promise<StreamEvent[]> {
  const seen: StreamEvent[] = [];
  for (const [success, outcome] of outcomes) {
    const event = await consumer.next();
    expect(event.data.call_id).toBe(call);
    seen.push(event);
    expect((await consumer.ack(event.id, success, success ? undefined : `${outcome} at ${String(event.data.destination)}`, outcome)).status).toBe(200);
  }
  return seen;
}

const history = async (call: string) => (await adminRequest(server.url, adminKey, 'GET', `/ucp/v2/accounts/acme/calls/${call}`)).body;

describe.each(ENGINE_KINDS)('with the %s store', (kind) => {
  beforeAll(async () => {
    database = await serverDatabase(kind);
    server = await startTestServer({ personas: manifests, settings: { ...database.settings } });
    adminKey = await server.key('acme', 'admin');
    consumer = await SseConsumer.connect(server.url, 'acme', adminKey);
  });
  afterAll(async () => {
    consumer.close();
    await Promise.all(clients.splice(0).map((client) => client.close().catch(() => undefined)));
    await server.close();
    await database.drop();
  });

  describe('on_no_answer', () => {
    it('tries the fallback list in order while destinations are busy or do not answer', async () => {
      const client = await clientFor('p-fallback');
      const pending = client.callTool({ name: 'transfer_to_dana', arguments: {} });
      const commands = await answer('p-fallback', [
        [false, 'busy'],
        [false, 'no_answer'],
        [true, 'connected'],
      ]);
      expect(commands.map((event) => event.data.destination)).toEqual(['100', '600', '101']);
      // The tool's own ring time wins over the persona's and the account's.
      expect(commands.map((event) => event.data.ring_timeout_seconds)).toEqual([25, 25, 25]);
      const result = await pending;
      expect(result.isError).toBeFalsy();
      expect(textOf(result)).toBe('Dana Reyes (extension 100) is busy. Sales (extension 600) did not answer within 25 seconds. The call was transferred to Sam Ortiz (extension 101).');
      expect(result.structuredContent).toMatchObject({
        status: 'transferred',
        outcome: 'connected',
        destination: '101',
        tried: [
          { destination: '100', outcome: 'busy' },
          { destination: '600', outcome: 'no_answer' },
          { destination: '101', outcome: 'connected' },
        ],
      });
      const { call, commands: recorded, events } = await history('p-fallback');
      expect(call).toMatchObject({ state: 'transferred', transferred_to: '101' });
      expect((recorded as { outcome: string }[]).map((command) => command.outcome)).toEqual(['busy', 'no_answer', 'connected']);
      expect((events as { type: string }[]).filter((event) => event.type === 'transfer_fallback')).toHaveLength(2);
    });

    it('returns to the agent when the last destination is not reached either', async () => {
      const client = await clientFor('p-exhausted');
      const pending = client.callTool({ name: 'transfer_to_dana', arguments: {} });
      await answer('p-exhausted', [
        [false, 'no_answer'],
        [false, 'busy'],
        [false, 'rejected'],
      ]);
      const result = await pending;
      expect(result.isError).toBe(true);
      expect(textOf(result)).toBe(
        'Dana Reyes (extension 100) did not answer within 25 seconds. Sales (extension 600) is busy. Sam Ortiz (extension 101) declined the call. The caller is still with you: offer to take a message or to try someone else.',
      );
      expect((await history('p-exhausted')).call).toMatchObject({ state: 'active' });
    });

    it('goes to the user\'s voicemail when the user does not answer', async () => {
      const client = await clientFor('p-voicemail');
      const pending = client.callTool({ name: 'dana_or_voicemail', arguments: {} });
      const commands = await answer('p-voicemail', [
        [false, 'no_answer'],
        [true, 'connected'],
      ]);
      expect(commands.map((event) => [event.data.destination, (event.data.target as { kind: string }).kind])).toEqual([
        ['100', 'user'],
        ['8100', 'voicemail'],
      ]);
      // The persona's ring time applies where the tool sets none.
      expect(commands[0]?.data.ring_timeout_seconds).toBe(12);
      expect(textOf(await pending)).toBe('Dana Reyes (extension 100) did not answer within 12 seconds. The call was transferred to the voicemail of Dana Reyes (8100).');
    });

    it('returns at once by default, with a sentence the agent can act on', async () => {
      const client = await clientFor('p-return');
      const pending = client.callTool({ name: 'transfer_to_sales', arguments: {} });
      await answer('p-return', [[false, 'busy']]);
      const result = await pending;
      expect(textOf(result)).toBe('Sales (extension 600) is busy. The caller is still with you: offer to take a message or to try someone else.');
      expect(result.structuredContent).toMatchObject({ error: { code: 'TOOL_UPSTREAM', status: 'busy', outcome: 'busy' } });
      expect(consumer.events.filter((event) => event.data.call_id === 'p-return')).toHaveLength(1);
    });

    it('does not try another destination after a plain failure, and says what a hand-over means', async () => {
      const failing = await clientFor('p-failed');
      const failed = failing.callTool({ name: 'transfer_call', arguments: { destination_number: '250' } });
      await answer('p-failed', [[false, 'failed']]);
      expect(textOf(await failed)).toBe('The phone system did not transfer the call to 250 (failed at 250). Tell the caller and offer to take a message instead.');

      const handing = await clientFor('p-handover');
      const handed = handing.callTool({ name: 'transfer_call', arguments: { destination_number: '251' } });
      await answer('p-handover', [[true, 'handed_over']]);
      const result = await handed;
      expect(textOf(result)).toBe(
        "The call was handed over to 251; the phone system takes it from here and cannot report whether it is answered. If nobody answers there, the phone system's own dialplan decides what happens.",
      );
      expect(result.structuredContent).toMatchObject({ status: 'handed_over', outcome: 'handed_over' });
      expect((await history('p-handover')).call).toMatchObject({ state: 'transferred' });
    });

    it('sends progress notifications while a transfer waits, to clients that ask for them', async () => {
      const client = await clientFor('p-progress');
      const progress: string[] = [];
      const pending = client.callTool({ name: 'transfer_call', arguments: { destination_number: '252' } }, { onprogress: (update) => progress.push(update.message ?? ''), resetTimeoutOnProgress: true });
      const event = await consumer.next();
      await eventually(() => (progress.length ? true : undefined), 5000, 'a progress notification');
      await consumer.ack(event.id, true);
      expect(textOf(await pending)).toBe('The call was transferred to 252.');
      expect(progress[0]).toBe('Transferring to 252');
    });
  });

  describe('a call that ends during its transfer', () => {
    it('answers the waiting tool before its session closes', async () => {
      const client = await clientFor('p-gone');
      const pending = client.callTool({ name: 'transfer_call', arguments: { destination_number: '254' } });
      const event = await consumer.next();
      expect(event.data).toMatchObject({ call_id: 'p-gone' });
      const ended = await adminRequest(server.url, adminKey, 'DELETE', '/ucp/v2/accounts/acme/calls/p-gone', { reason: 'caller hung up' });
      expect(ended.body).toMatchObject({ call: { state: 'ended' }, sessions_closed: 1 });
      const result = await pending;
      expect(result.isError).toBe(true);
      expect(textOf(result)).toBe('The call ended while the transfer to 254 was under way; there is nothing more to do.');
      // The phone system's late word is still recorded.
      expect((await consumer.ack(event.id, false, 'caller gone', 'failed')).status).toBe(200);
      expect(((await history('p-gone')).commands as { status: string }[])[0]).toMatchObject({ status: 'failed' });
    });
  });

  describe('the events stream after a restore', () => {
    it('replays every pending command to a consumer whose Last-Event-ID is above the newest command id', async () => {
      consumer.close();
      // Within the reconnect grace the command is kept for the consumer that comes back.
      const client = await clientFor('p-restore');
      const pending = client.callTool({ name: 'transfer_call', arguments: { destination_number: '253' } });
      await eventually(async () => ((await history('p-restore')).commands as unknown[] | undefined)?.length || undefined);
      consumer = await SseConsumer.connect(server.url, 'acme', adminKey, '999999');
      const event = await consumer.next();
      expect(event.data).toMatchObject({ call_id: 'p-restore', destination: '253' });
      await consumer.ack(event.id, true);
      expect(textOf(await pending)).toBe('The call was transferred to 253.');
    });
  });
});
