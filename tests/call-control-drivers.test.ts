/**
 * The driver pool seen from outside: each account's phone-system connection
 * in /readyz detail and /metrics, a driver swapped when account.yaml's
 * call_control changes on disk and kept when it does not, an account's
 * phone system being down never making the node unready, and the callback
 * route refusing what no driver of that name and account takes.
 */
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SseConsumer } from './helpers/pbx.ts';
import { eventually, startTestServer, type TestServer } from './helpers/server.ts';

const account = (callControl: string) => `account_id: acme\ntimezone: America/New_York\n${callControl}`;

let server: TestServer;

interface PhoneSystem {
  account: string;
  driver: string;
  state: string;
  reason: string | null;
}

async function readiness(): Promise<{ status: number; body: { status: string; call_control: { accounts: number; down: number }; phone_systems: PhoneSystem[] } }> {
  const response = await fetch(new URL('/readyz', server.url));
  return { status: response.status, body: (await response.json()) as never };
}

const phoneSystem = async (id: string): Promise<PhoneSystem | undefined> => (await readiness()).body.phone_systems.find((entry) => entry.account === id);

beforeAll(async () => {
  server = await startTestServer({
    personas: {
      'acme/account.yaml': account(''),
      'acme/desk.yaml': 'persona_id: desk\n',
      'globex/account.yaml': 'account_id: globex\ntimezone: Europe/Berlin\n',
      'globex/desk.yaml': 'persona_id: desk\n',
    },
    env: { ACME_PBX_SECRET: 'acme-webhook-secret-1234' },
  });
});
afterAll(async () => {
  await server.close();
});

describe('phone-system connections', () => {
  it('are listed per account; one that is down leaves the node ready', async () => {
    const { status, body } = await readiness();
    expect(status).toBe(200);
    expect(body.status).toBe('ready');
    expect(body.call_control).toEqual({ accounts: 2, down: 2 });
    expect(body.phone_systems.map(({ account: id, driver, state, reason }) => ({ id, driver, state, reason }))).toEqual([
      { id: 'acme', driver: 'events', state: 'down', reason: 'no phone system is connected to the call-events stream' },
      { id: 'globex', driver: 'events', state: 'down', reason: 'no phone system is connected to the call-events stream' },
    ]);

    const consumer = await SseConsumer.connect(server.url, 'globex', await server.key('globex', 'admin'));
    expect(await phoneSystem('globex')).toMatchObject({ state: 'up', reason: null });
    const metrics = await (await fetch(new URL('/metrics', server.url))).text();
    expect(metrics).toContain('switchboard_call_control_up{account="globex",driver="events"} 1');
    expect(metrics).toContain('switchboard_call_control_up{account="acme",driver="events"} 0');

    // A consumer that goes away is reconnecting for a few seconds, then down.
    consumer.close();
    await eventually(async () => ((await phoneSystem('globex'))?.state === 'connecting' ? true : undefined), 3000, 'the reconnect grace');
    await eventually(async () => ((await phoneSystem('globex'))?.state === 'down' ? true : undefined), 10_000, 'the stream to count as gone');
  });

  it('follow account.yaml: a new call_control block gets a new driver, an unchanged one keeps its connection', async () => {
    const file = path.join(server.personasDir, 'acme/account.yaml');
    fs.writeFileSync(file, account('call_control: { driver: webhook, url: "http://127.0.0.1:9/pbx", secret: ACME_PBX_MISSING }\n'));
    await eventually(async () => ((await phoneSystem('acme'))?.driver === 'webhook' ? true : undefined), 5000, 'the webhook driver');
    expect(await phoneSystem('acme')).toMatchObject({ state: 'down', reason: 'secret ACME_PBX_MISSING is not set (environment variable or secrets file)' });

    fs.writeFileSync(file, account('call_control: { driver: webhook, url: "http://127.0.0.1:9/pbx", secret: ACME_PBX_SECRET }\n'));
    await eventually(async () => ((await phoneSystem('acme'))?.state === 'up' ? true : undefined), 5000, 'the secret to be found');

    // globex's events stream stays connected through reloads that do not touch its call_control.
    const consumer = await SseConsumer.connect(server.url, 'globex', await server.key('globex', 'admin'));
    fs.writeFileSync(path.join(server.personasDir, 'globex/account.yaml'), 'account_id: globex\nname: Globex\ntimezone: Europe/Berlin\n');
    fs.writeFileSync(file, account('call_control: { driver: webhook, url: "http://127.0.0.1:9/pbx", secret: ACME_PBX_SECRET, retries: 1 }\n'));
    await eventually(() => (server.logLines.filter((line) => line.includes('call_control_driver_started') && line.includes('"account":"acme"')).length >= 4 ? true : undefined), 5000, 'the third acme driver');
    expect(await phoneSystem('globex')).toMatchObject({ driver: 'events', state: 'up' });
    expect(server.logLines.filter((line) => line.includes('call_control_driver_started') && line.includes('"account":"globex"'))).toHaveLength(1);
    consumer.close();
  });

  it('take no callbacks for an account or driver that does not match', async () => {
    for (const target of ['/ucp/v2/pbx/acme/twilio/dial-result', '/ucp/v2/pbx/nobody/webhook/x', '/ucp/v2/pbx/acme/webhook/x']) {
      const response = await fetch(new URL(target, server.url), { method: 'POST', body: 'CallSid=CA1' });
      expect(response.status, target).toBe(404);
    }
  });
});
