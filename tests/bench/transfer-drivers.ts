/**
 * One rig per call-control driver for the transfer benchmark (transfer.ts):
 * the driver's wire-level fake phone system from tests/helpers, a real
 * Switchboard in this process configured for it as the driver's end-to-end
 * test does, and a way to make a caller's leg in the fake for each call.
 *
 * Every fake answers at once and well (acknowledged, 200, the new leg
 * answered, the REFER accepted), so each transfer finishes as connected or
 * handed_over and the measured time is Switchboard's, not a ring time.
 * Arrival is taken, with performance.now(), where the fake records the
 * command that carries the transfer out: its script callback or its
 * onRequest/onCommand/onEvent observer, in the same tick the request is read.
 */
import { randomUUID } from 'node:crypto';

import type { Client } from '@modelcontextprotocol/client';

import { FakeAsterisk } from '../helpers/fake-asterisk.ts';
import { FakeFreeswitch } from '../helpers/fake-freeswitch.ts';
import { FakeLivekit } from '../helpers/fake-livekit.ts';
import { FakeTelnyx } from '../helpers/fake-telnyx.ts';
import { FakeTwilio } from '../helpers/fake-twilio.ts';
import { SseConsumer, WebhookReceiver } from '../helpers/pbx.ts';
import { eventually, freePort, startTestServer, type TestServer } from '../helpers/server.ts';

export const DRIVER_NAMES = ['events', 'webhook', 'ari', 'esl', 'twilio', 'telnyx', 'livekit'] as const;
export type DriverName = (typeof DRIVER_NAMES)[number];

export type ToolResult = Awaited<ReturnType<Client['callTool']>>;

export interface TransferRig {
  readonly driver: DriverName;
  readonly server: TestServer;
  /** What the command is that the arrival is taken at. */
  readonly command: string;
  /** Makes the caller's leg, channel or room in the fake; returns the call_id to send. */
  newCall(): string;
  /** When (performance.now()) the fake received this call's transfer command, if it did. */
  arrivedAt(callId: string, result: ToolResult): number | undefined;
  close(): Promise<void>;
}

/** Every transfer goes to Dana Reyes, extension 100: a user the account knows, dialed through each driver's template. */
export const TRANSFER_ARGUMENTS = { destination_number: '100' };
const SIP_TEMPLATE = 'sip:{destination}@pbx.acme.example';
const ENDPOINT = SIP_TEMPLATE.replace('{destination}', TRANSFER_ARGUMENTS.destination_number);

const account = (callControl: string) => `account_id: acme
timezone: America/New_York
users:
  - { id: u-100, name: Dana Reyes, extension: "100" }
transfer_policy:
  allow: ["1XX"]
call_control:
  ring_timeout_seconds: 5
  hangup_delay_seconds: 0.1
${callControl}`;

function serve(callControl: string, env: NodeJS.ProcessEnv = {}, settings: { port?: number; publicUrl?: string } = {}): Promise<TestServer> {
  return startTestServer({
    personas: { 'acme/account.yaml': account(callControl), 'acme/desk.yaml': 'persona_id: desk\n' },
    env,
    // The fakes listen on loopback, which the outbound guard refuses unless allowed; no rate limit in a benchmark.
    settings: { outboundAllow: ['127.0.0.1'], rateLimitPerSecond: 0, ...settings },
    watch: false,
    logLevel: 'warn',
  });
}

/** Waits until /readyz reports the account's phone system up (for the events driver: once its consumer is connected). */
async function untilUp(server: TestServer): Promise<void> {
  await eventually(async () => {
    const body = (await (await fetch(new URL('/readyz', server.url))).json()) as { phone_systems?: { account: string; state: string }[] };
    const entry = body.phone_systems?.find((candidate) => candidate.account === 'acme');
    return entry?.state === 'up' ? true : undefined;
  }, 15_000, 'the phone system to be up');
}

async function rig(driver: DriverName, command: string, server: TestServer, arrivals: Map<string, number>, parts: { newCall: () => string; key?: (callId: string, result: ToolResult) => string; close: () => Promise<void> | void }): Promise<TransferRig> {
  await untilUp(server);
  return {
    driver,
    server,
    command,
    newCall: parts.newCall,
    arrivedAt: (callId, result) => arrivals.get(parts.key ? parts.key(callId, result) : callId),
    close: async () => {
      await server.close();
      await parts.close();
    },
  };
}

const RIGS: Record<DriverName, () => Promise<TransferRig>> = {
  async events() {
    const arrivals = new Map<string, number>();
    const server = await serve('  driver: events\n  timeout_seconds: 5\n');
    const consumer = await SseConsumer.connect(server.url, 'acme', await server.key('acme', 'admin'));
    consumer.onEvent = (event) => {
      if (event.event !== 'command' || event.data.type !== 'transfer') return;
      arrivals.set(String(event.data.call_id), performance.now());
      void consumer.ack(event.id, true, undefined, 'connected');
    };
    return rig('events', 'command event read off GET /call-events', server, arrivals, { newCall: () => `ev-${randomUUID()}`, close: () => consumer.close() });
  },

  async webhook() {
    const arrivals = new Map<string, number>();
    const receiver = await new WebhookReceiver('whsec-bench-3f9a1c').start();
    receiver.reply = (request) => {
      if (request.json.type === 'transfer') arrivals.set(String(request.json.call_id), performance.now());
      return { status: 200, body: { success: true } };
    };
    const server = await serve(`  driver: webhook\n  url: ${receiver.url}\n  secret: BENCH_WEBHOOK_SECRET\n  timeout_seconds: 5\n`, { BENCH_WEBHOOK_SECRET: 'whsec-bench-3f9a1c' });
    return rig('webhook', 'signed POST of the command', server, arrivals, { newCall: () => `wh-${randomUUID()}`, close: () => receiver.close() });
  },

  async ari() {
    const arrivals = new Map<string, number>();
    const fake = await new FakeAsterisk({ switchboard: 'ari-bench-password' }).start();
    fake.registerApp('voicebot');
    // POST /channels records the originate, then asks the script how the leg behaves: the arrival, by command id.
    fake.legScript = () => {
      const appArgs = fake.originated.at(-1)?.appArgs ?? '';
      arrivals.set(`command ${appArgs.split(',')[2]}`, performance.now());
      return { answerAfterMs: 0 };
    };
    const server = await serve(`  driver: ari\n  url: ${fake.url}\n  username: switchboard\n  password: BENCH_ARI_PASSWORD\n  app: switchboard\n  endpoint_template: "Local/{destination}@from-internal"\n`, { BENCH_ARI_PASSWORD: 'ari-bench-password' });
    let channel = 1000;
    return rig('ari', 'POST /ari/channels (originate, transfer_method bridge)', server, arrivals, {
      newCall: () => fake.addCaller(`1767225600.${channel++}`, 'voicebot').id,
      key: (_callId, result) => `command ${String((result.structuredContent as { command_id?: unknown } | undefined)?.command_id)}`,
      close: () => fake.close(),
    });
  },

  async esl() {
    const arrivals = new Map<string, number>();
    const fs = await new FakeFreeswitch('esl-bench-password').start();
    fs.onCommand = ({ line }) => {
      const words = line.split(' ');
      const at = words.indexOf('uuid_transfer');
      if (at >= 0) arrivals.set(words[at + 1] ?? '', performance.now());
    };
    const server = await serve(`  driver: esl\n  host: 127.0.0.1\n  port: ${fs.port}\n  password: BENCH_FS_PASSWORD\n  context: pbx.example.com\n`, { BENCH_FS_PASSWORD: 'esl-bench-password' });
    return rig('esl', 'bgapi uuid_transfer line (transfer_method blind)', server, arrivals, {
      newCall: () => {
        const uuid = randomUUID();
        fs.addCaller(uuid);
        return uuid;
      },
      close: () => fs.stop(),
    });
  },

  async twilio() {
    const arrivals = new Map<string, number>();
    const sid = `AC${'a1'.repeat(16)}`;
    const fake = await new FakeTwilio({ [sid]: 'twilio-bench-token-7d41' }).start();
    fake.scripts.set(ENDPOINT, { action: 'answer', afterMs: 0 });
    fake.onRequest = (request) => {
      const callSid = /\/Calls\/([^/]+)\.json$/.exec(request.path)?.[1];
      if (request.method === 'POST' && callSid && request.form.has('Twiml')) arrivals.set(callSid, performance.now());
    };
    const port = await freePort();
    const server = await serve(
      `  driver: twilio\n  account_sid: ${sid}\n  auth_token: BENCH_TWILIO_TOKEN\n  api_base: ${fake.url}\n  endpoint_template: "${SIP_TEMPLATE}"\n`,
      { BENCH_TWILIO_TOKEN: 'twilio-bench-token-7d41' },
      { port, publicUrl: `http://127.0.0.1:${port}` },
    );
    return rig('twilio', 'POST /Calls/{CallSid}.json with Twiml <Dial>', server, arrivals, { newCall: () => fake.createCall(sid), close: () => fake.stop() });
  },

  async telnyx() {
    const arrivals = new Map<string, number>();
    const fake = await FakeTelnyx.start();
    fake.defaultScript = { kind: 'answer', afterMs: 0 };
    fake.onRequest = (request) => {
      const id = /^\/v2\/calls\/([^/]+)\/actions\/transfer$/.exec(request.path)?.[1];
      if (id) arrivals.set(decodeURIComponent(id), performance.now());
    };
    const port = await freePort();
    const server = await serve(
      `  driver: telnyx\n  api_key: BENCH_TELNYX_KEY\n  public_key: "${fake.publicKey}"\n  api_base: ${fake.url}\n  caller_id: "+12125550100"\n  endpoint_template: "${SIP_TEMPLATE}"\n`,
      { BENCH_TELNYX_KEY: fake.apiKey },
      { port, publicUrl: `http://127.0.0.1:${port}` },
    );
    return rig('telnyx', 'POST /v2/calls/{id}/actions/transfer', server, arrivals, { newCall: () => fake.incomingCall(), close: () => fake.close() });
  },

  async livekit() {
    const arrivals = new Map<string, number>();
    const fake = await new FakeLivekit().start();
    fake.transfer = (request) => {
      arrivals.set(`${request.room_name}/${request.participant_identity}`, performance.now());
      return 'ok';
    };
    const server = await serve(`  driver: livekit\n  url: ${fake.url}\n  api_key: ${fake.apiKey}\n  api_secret: BENCH_LIVEKIT_SECRET\n  endpoint_template: "${SIP_TEMPLATE}"\n`, { BENCH_LIVEKIT_SECRET: fake.apiSecret });
    let room = 1000;
    return rig('livekit', 'Twirp SIP/TransferSIPParticipant', server, arrivals, {
      newCall: () => {
        const name = `call-_+12125550199_${room++}`;
        fake.addCall(name, 'sip_+12125550199');
        return `${name}/sip_+12125550199`;
      },
      close: () => fake.stop(),
    });
  },
};

export function startRig(driver: DriverName): Promise<TransferRig> {
  return RIGS[driver]();
}
