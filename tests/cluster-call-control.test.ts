/**
 * Call control across whole servers on one PostgreSQL database: node "b"
 * runs as its own process (`switchboard serve`, so it can be killed
 * outright), node "a" in this process; both read the same manifests.
 *
 *   - The ARI connection of an account is held by one node (b, which started
 *     first): a transfer asked on a is carried out over b's connection to a
 *     fake Asterisk, and its verdict answered on a; a's /readyz shows b's
 *     connection up.
 *   - The events driver with the PBX's consumer on b and the tool on a.
 *   - A Twilio callback lands on the node that did not send the transfer
 *     (both have the public URL of b) and settles the tool waiting on a.
 *   - The audit retention runs on one node, not on each.
 *   - A second live node named b cannot start.
 *   - b is killed (SIGKILL: it releases nothing): a takes the lease over when
 *     it expires, connects to Asterisk, and serves the next transfer itself.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PostgresEngine } from '../engine/store/postgres/engine.ts';
import { sql } from '../engine/store/sql.ts';
import { startServe, type ServeProcess } from './helpers/cli.ts';
import { serverDatabase } from './helpers/engines.ts';
import { FakeAsterisk } from './helpers/fake-asterisk.ts';
import { FakeTwilio } from './helpers/fake-twilio.ts';
import { adminRequest, SseConsumer } from './helpers/pbx.ts';
import { callHeaders, connect, eventually, freePort, startTestServer, tempDir, textOf, writeManifests, type TestServer } from './helpers/server.ts';

const ARI_PASSWORD = 'ari-cluster-password-6c1e';
const TWILIO_SID = `AC${'d4'.repeat(16)}`;
const TWILIO_TOKEN = 'twilio-cluster-token-90ab3f';
const VOICE_BRIDGE_APP = 'voicebot';

const users = `
timezone: America/New_York
users:
  - { id: u-100, name: Dana Reyes, extension: "100" }
`;
const desk = 'persona_id: desk\n';

let fake: FakeAsterisk;
let twilio: FakeTwilio;
let database: Awaited<ReturnType<typeof serverDatabase>>;
let db: PostgresEngine;
let b: ServeProcess;
let a: TestServer;
let bUrl: string;
const root = tempDir('cluster-calls');
const clients: Client[] = [];

const manifests = (): Record<string, string> => ({
  'acme/account.yaml': `account_id: acme${users}call_control:
  driver: ari
  url: ${fake.url}
  username: switchboard
  password: ACME_ARI_PASSWORD
  app: switchboard
  endpoint_template: "Local/{destination}@from-internal"
  ring_timeout_seconds: 2
`,
  'acme/desk.yaml': desk,
  'ev/account.yaml': `account_id: ev${users}call_control:\n  driver: events\n  timeout_seconds: 5\n`,
  'ev/desk.yaml': desk,
  'tw/account.yaml': `account_id: tw${users}call_control:
  driver: twilio
  account_sid: ${TWILIO_SID}
  auth_token: TW_TOKEN
  api_base: ${twilio.url}
  endpoint_template: "sip:{destination}@pbx.tw.example"
  return_url: "https://bridge.tw.example/twiml/agent"
  ring_timeout_seconds: 2
`,
  'tw/desk.yaml': desk,
});

async function call(accountId: string, callId: string): Promise<Client> {
  const client = await connect(a, callHeaders({ key: await a.key(accountId), account: accountId, persona: 'desk', call: callId, caller: '+12125550199' }));
  clients.push(client);
  return client;
}

async function phoneSystem(base: string, accountId: string): Promise<{ state: string; reason: string | null } | undefined> {
  const body = (await (await fetch(new URL('/readyz', base))).json()) as { phone_systems?: { account: string; state: string; reason: string | null }[] };
  return body.phone_systems?.find((entry) => entry.account === accountId);
}

const holderOf = async (lease: string) => (await db.get<{ holder: string }>(sql`SELECT holder FROM leases WHERE name = ${lease} AND expires_at > floor(extract(epoch from clock_timestamp()) * 1000)::bigint`))?.holder;
const handoff = async (commandId: number) => db.get<{ holder: string | null; result: string | null }>(sql`SELECT holder, result FROM call_command_handoffs WHERE command_id = ${commandId}`);
const commandsOf = async (accountId: string, callId: string) =>
  ((await adminRequest(a.url, await a.key(accountId, 'admin'), 'GET', `/ucp/v2/accounts/${accountId}/calls/${callId}`)).body as { commands: { id: number; status: string; outcome: string | null }[] }).commands;

let nextChannel = 500;
const newCaller = (): string => fake.addCaller(`1767225600.${nextChannel++}`, VOICE_BRIDGE_APP).id;

beforeAll(async () => {
  fake = await new FakeAsterisk({ switchboard: ARI_PASSWORD }).start();
  fake.registerApp(VOICE_BRIDGE_APP);
  fake.legScript = (endpoint) => (endpoint === 'Local/100@from-internal' ? { answerAfterMs: 40 } : { ring: true });
  twilio = await new FakeTwilio({ [TWILIO_SID]: TWILIO_TOKEN }).start();
  database = await serverDatabase('postgres');
  const url = database.settings.databaseUrl as string;

  // An audit row past the 90 days of retention, there before any node starts.
  db = await PostgresEngine.open({ url, poolSize: 2 });
  await db.run(sql`INSERT INTO audit_log (at, account_id, persona_id, call_id, key_id, tool, arguments, status, result_text, duration_ms)
    VALUES (${Date.now() - 100 * 86_400_000}, 'acme', 'desk', 'old-call', 'key_old', 'is_office_open', '{}', 'ok', 'open', 1)`);

  const personas = path.join(root, 'personas');
  writeManifests(personas, manifests());
  const port = await freePort();
  bUrl = `http://127.0.0.1:${port}`;
  b = await startServe(['--port', String(port), '--personas', personas, '--data', path.join(root, 'b-data'), '--node-name', 'b', '--public-url', bUrl, '--outbound-allow', '127.0.0.1', '--log-format', 'json'], {
    SWITCHBOARD_DATABASE_URL: url,
    ACME_ARI_PASSWORD: ARI_PASSWORD,
    TW_TOKEN: TWILIO_TOKEN,
  });
  await eventually(async () => ((await holderOf('driver:acme')) === 'b' && fake.hasSocket('switchboard') ? true : undefined), 30_000, 'b to hold the ARI connection');

  a = await startTestServer({
    personas: manifests(),
    settings: { ...database.settings, nodeName: 'a', publicUrl: bUrl, outboundAllow: ['127.0.0.1'] },
    env: { ACME_ARI_PASSWORD: ARI_PASSWORD, TW_TOKEN: TWILIO_TOKEN },
  });
  for (const account of ['acme', 'tw']) await eventually(async () => ((await phoneSystem(a.url, account))?.state === 'up' ? true : undefined), 30_000, `${account} up on a`);
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await a?.close();
  await b?.stop('SIGKILL');
  await db?.close();
  await database?.drop();
  await fake?.close();
  await twilio?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('two nodes on one PostgreSQL database', () => {
  it('runs the audit retention on one node, not on each', async () => {
    await eventually(() => (/"event":"audit_retention"[^\n]*"deleted":1/.test(b.output()) ? true : undefined), 10_000, "b's retention sweep");
    expect(a.logLines.some((line) => line.includes('"event":"audit_retention"'))).toBe(false);
    expect(await db.get(sql`SELECT count(*)::int AS rows FROM audit_log WHERE call_id = 'old-call'`)).toEqual({ rows: 0 });
  });

  it("carries out a transfer asked on a over b's ARI connection, and answers it on a", async () => {
    expect(fake.connections).toBe(1);
    expect(await phoneSystem(a.url, 'acme')).toMatchObject({ state: 'up', reason: null });
    const channel = newCaller();
    const result = await (await call('acme', channel)).callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
    expect(textOf(result)).toBe('The call was transferred to Dana Reyes (extension 100).');
    const [command] = await commandsOf('acme', channel);
    expect(command).toMatchObject({ status: 'succeeded', outcome: 'connected' });
    expect((await handoff(command?.id as number))?.holder).toBe('b');
    expect(fake.originated.at(-1)).toMatchObject({ endpoint: 'Local/100@from-internal', app: 'switchboard' });
    // a never opened a connection of its own: Asterisk gives an application to one WebSocket at a time.
    expect(fake.connections).toBe(1);
  });

  it('sends a command queued by a tool on a to the consumer connected to b, and answers the tool with its acknowledgement', async () => {
    const pbx = await SseConsumer.connect(bUrl, 'ev', await a.key('ev', 'admin'));
    try {
      await eventually(async () => ((await phoneSystem(a.url, 'ev'))?.state === 'up' ? true : undefined), 10_000, 'the consumer on b to count on a');
      const pending = (await call('ev', 'ev-call-1')).callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
      const event = await pbx.next(10_000);
      expect(event.data).toMatchObject({ type: 'transfer', call_id: 'ev-call-1', destination: '100' });
      expect((await pbx.ack(event.id, true, undefined, 'connected')).status).toBe(200);
      expect(textOf(await pending)).toBe('The call was transferred to Dana Reyes (extension 100).');
    } finally {
      pbx.close();
    }
  });

  it('settles a Twilio transfer sent by a with the callback that lands on b', async () => {
    twilio.scripts.set('sip:100@pbx.tw.example', { action: 'answer', afterMs: 100 });
    const sid = twilio.createCall(TWILIO_SID);
    const result = await (await call('tw', sid)).callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
    expect(textOf(result)).toBe('The call was transferred to Dana Reyes (extension 100).');
    const answered = twilio.callbacks.find((callback) => callback.kind === 'answered' && callback.params.ParentCallSid === sid);
    expect(answered).toMatchObject({ status: 200 });
    expect(answered?.url.startsWith(`${bUrl}/ucp/v2/pbx/tw/twilio/answered`)).toBe(true);
    expect(twilio.errors).toEqual([]);
  });

  it('refuses to start a second live node named b, naming both', async () => {
    const started = startTestServer({ personas: manifests(), settings: { ...database.settings, nodeName: 'b' } });
    await expect(started).rejects.toThrow(/the node name "b" is in use: a live node of that name runs on host .+ \(pid \d+, started .+\), and this one on host .+ \(pid \d+\)/);
  });

  it('takes the ARI connection over when b is killed, and serves the next transfer from a', async () => {
    await b.stop('SIGKILL');
    await eventually(async () => ((await holderOf('driver:acme')) === 'a' && (await phoneSystem(a.url, 'acme'))?.state === 'up' ? true : undefined), 40_000, 'a to take the connection over');
    expect(fake.connections).toBe(2);
    const channel = newCaller();
    const result = await (await call('acme', channel)).callTool({ name: 'transfer_call', arguments: { destination_number: '100' } });
    expect(textOf(result)).toBe('The call was transferred to Dana Reyes (extension 100).');
    const [command] = await commandsOf('acme', channel);
    expect((await handoff(command?.id as number))?.holder).toBe('a');
  }, 60_000);
});
