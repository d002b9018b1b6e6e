/**
 * One call whose transfer a phone system carries out with no code of yours:
 * Switchboard drives Asterisk over ARI itself (call_control.driver: ari).
 *
 *   npx tsx examples/asterisk-walkthrough.ts
 *
 * Everything runs in this process, on loopback: a stand-in Asterisk that
 * speaks ARI as Asterisk documents it (the one the test suite uses; point
 * `url` at your own Asterisk instead), and a Switchboard serving one account
 * whose call_control block names it. The caller's channel is in the voice
 * bridge's Stasis application; the agent asks for Dana, who is busy, so the
 * tool's fallback dials the sales queue, which answers and is bridged with
 * the caller. Then the caller hangs up and Asterisk's own event ends the
 * call. docs/integrations/walkthrough.md shows the output; a test runs it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

import { resolveSettings } from '../engine/config.ts';
import { createLogger } from '../engine/logging.ts';
import { startServer } from '../engine/server.ts';
import { FakeAsterisk } from '../tests/helpers/fake-asterisk.ts';

const ARI_PASSWORD = 'walkthrough-ari-password';
const CALLER_CHANNEL = '1767225600.42';

let stepNumber = 0;
const step = (title: string, result: string) => console.log(`${String(++stepNumber).padStart(2)}. ${title.padEnd(34)} ${result}`);
const asteriskLog = (line: string) => console.log(`      [asterisk] ${line}`);

// A stand-in Asterisk: an ARI user for Switchboard, and the voice bridge's application holding the caller.
const asterisk = await new FakeAsterisk({ switchboard: ARI_PASSWORD }).start();
asterisk.registerApp('voicebot');
asterisk.addCaller(CALLER_CHANNEL, 'voicebot', '+12125550100');
asterisk.legScript = (endpoint) => (endpoint.startsWith('PJSIP/100@') ? { hangupAfterMs: 150, cause: 17 } : { answerAfterMs: 300 });

// The account: Dana and the sales queue, and call control by ARI. The password is a secret's name.
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-asterisk-walkthrough-'));
const personas = path.join(root, 'personas');
fs.mkdirSync(path.join(personas, 'acme'), { recursive: true });
fs.writeFileSync(
  path.join(personas, 'acme/account.yaml'),
  `account_id: acme
timezone: America/New_York
users:
  - { id: u-100, name: Dana Reyes, extension: "100" }
queues:
  - { id: q-sales, name: Sales, extension: "600" }
call_control:
  driver: ari
  url: ${asterisk.url}
  username: switchboard
  password: ACME_ARI_PASSWORD
  app: switchboard
  endpoint_template: "PJSIP/{destination}@office"
  ring_timeout_seconds: 15
`,
);
fs.writeFileSync(
  path.join(personas, 'acme/front-desk.yaml'),
  `persona_id: front-desk
tools:
  - type: transfer_to_user
    name: transfer_to_dana
    description: Transfer the caller to Dana Reyes.
    user: u-100
    on_no_answer: fallback
    fallback: [{ queue: q-sales }]
`,
);

const server = await startServer({
  settings: { ...resolveSettings({}, {}), port: 0, dataDir: path.join(root, 'data'), personasDir: personas, outboundAllow: ['127.0.0.1'] },
  env: { ACME_ARI_PASSWORD: ARI_PASSWORD },
  logger: createLogger({ level: 'silent' }),
  watch: false,
});
const { key } = await server.keys.create({ accountId: 'acme', role: 'mcp' });

try {
  const phoneSystem = async () => {
    for (let attempt = 0; attempt < 100; attempt++) {
      const ready = (await (await fetch(`${server.url}/readyz`)).json()) as { phone_systems: { account: string; driver: string; state: string }[] };
      const acme = ready.phone_systems.find((entry) => entry.account === 'acme');
      if (acme?.state === 'up') return acme;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('the ARI connection did not come up');
  };
  const acme = await phoneSystem();
  step('Switchboard connects to Asterisk', `${acme.driver} ${acme.state} (events WebSocket of application "switchboard")`);

  // The voice bridge gives the agent the caller's channel id as the call id.
  const client = new Client({ name: 'asterisk-walkthrough', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${server.url}/ucp/v2/mcp`), {
      requestInit: { headers: { 'X-API-Key': key, account_id: 'acme', persona_id: 'front-desk', call_id: CALLER_CHANNEL, caller_id_number: '+12125550100' } },
    }),
  );
  step('Agent connects', `call_id ${CALLER_CHANNEL} (the caller's channel)`);

  const result = await client.callTool({ name: 'transfer_to_dana', arguments: {} });
  for (const leg of asterisk.originated) asteriskLog(`originate ${leg.endpoint}, ring ${leg.timeout ?? '?'} s`);
  const legName = (id: string) => (id === CALLER_CHANNEL ? 'the caller' : `the new leg to ${asterisk.originated.find((leg) => leg.channelId === id)?.endpoint ?? id}`);
  for (const bridge of asterisk.bridges.values()) asteriskLog(`mixing bridge: ${[...bridge.channels].map(legName).sort().join(' + ')}`);
  step('transfer_to_dana', result.content.map((block) => (block.type === 'text' ? block.text : '')).join(' '));

  // The caller hangs up; Asterisk reports it, and the call ends without any other word.
  asterisk.hangUp(CALLER_CHANNEL);
  let state = 'transferred';
  for (let attempt = 0; attempt < 100 && state !== 'ended'; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    state = (await server.services.calls.store.call('acme', CALLER_CHANNEL))?.state ?? state;
  }
  const call = await server.services.calls.store.call('acme', CALLER_CHANNEL);
  step('Caller hangs up', `call ${call?.state}, ${call?.endReason ?? ''}`);
  await client.close();
} finally {
  await server.close();
  await asterisk.close();
  fs.rmSync(root, { recursive: true, force: true });
}
