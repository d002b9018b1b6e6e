/**
 * One phone call from start to end, played against a running Switchboard:
 * the PBX registers the call, the voice agent connects with the call's
 * headers, lists its tools, checks office hours, looks the caller up, records
 * a lead and transfers the caller to the sales queue, while a PBX consumer
 * (examples/pbx-events-consumer.ts) carries out and acknowledges the transfer
 * on the call-events stream. Each step is printed. docs/integrations/walkthrough.md
 * explains it; a test runs it against a real server on every build.
 *
 *   SWITCHBOARD_URL=http://127.0.0.1:9443 SWITCHBOARD_API_KEY=sb_... SWITCHBOARD_ADMIN_KEY=sb_... \
 *     npx tsx examples/call-walkthrough.ts [--account acme] [--persona front-desk] [--call-id ID] [--caller +12125550100] [--external-pbx]
 *
 * Without an admin key only the agent's side runs. With --external-pbx the PBX
 * consumer is expected to run in another terminal. With no PBX consumer running
 * anywhere, the transfer fails at once (the phone system is not connected), and
 * the agent's hang-up is refused the same way instead of being queued for a
 * consumer that might connect minutes later.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { parseArgs } from 'node:util';

import { baseUrlOf, consumeCallEvents } from './pbx-events-consumer.ts';

const { values: options } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:9443' },
    key: { type: 'string', default: process.env.SWITCHBOARD_API_KEY ?? '' },
    'admin-key': { type: 'string', default: process.env.SWITCHBOARD_ADMIN_KEY ?? '' },
    account: { type: 'string', default: 'acme' },
    persona: { type: 'string', default: 'front-desk' },
    'call-id': { type: 'string', default: `walkthrough-${Date.now()}` },
    caller: { type: 'string', default: '+12125550100' },
    'external-pbx': { type: 'boolean', default: false },
  },
});
if (!options.key) throw new Error('Give an API key of the account: --key sb_... or SWITCHBOARD_API_KEY');
const base = baseUrlOf(options.url);
const adminKey = options['admin-key'];
const callId = options['call-id'];

let stepNumber = 0;
const step = (title: string, result: string) => console.log(`${String(++stepNumber).padStart(2)}. ${title.padEnd(34)} ${result}`);
const pbxLog = (line: string) => console.log(`      [pbx] ${line}`);
/** Resolves when the in-process PBX has logged a command it carried out, so the two sides print in the order things happened. */
let pbxActed: () => void = () => undefined;
const pbxActedOnce = new Promise<void>((resolve) => (pbxActed = resolve));

/** What the admin API answers about a call (the fields this walkthrough prints). */
interface CallAnswer {
  call?: { state: string; transferred_to: string | null };
}

/** The PBX's side of the admin API (docs/pbx-integration.md). */
async function pbx(method: string, path: string, body?: unknown): Promise<{ status: number; json: CallAnswer }> {
  const response = await fetch(`${base}/ucp/v2/accounts/${options.account}${path}`, {
    method,
    headers: { 'X-API-Key': adminKey, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as CallAnswer };
}

/**
 * A tool call as the voice agent's runtime makes it: the text is what the model
 * reads, also when the tool reports an error. A JSON-RPC error (a tool this
 * persona does not have) is printed, and the call goes on.
 */
async function callTool(client: Client, name: string, args: Record<string, unknown> = {}): Promise<string> {
  try {
    const result = await client.callTool({ name, arguments: args });
    const text = result.content.map((block) => (block.type === 'text' ? block.text : '')).join(' ');
    return result.isError ? `(tool error) ${text}` : text;
  } catch (error) {
    return `(request failed) ${error instanceof Error ? error.message : String(error)}`;
  }
}

console.log(`Call ${callId}: account ${options.account}, persona ${options.persona}, caller ${options.caller}, server ${base}\n`);

// The PBX answers the call and hands it to the voice agent; registering it first
// means a late or misbehaving agent can never act on a call that is over.
const stopPbx = new AbortController();
let pbxConsumer: Promise<void> | undefined;
if (adminKey) {
  const registered = await pbx('POST', '/calls', { call_id: callId, persona_id: options.persona, caller_id_number: options.caller });
  step('PBX registers the call', `POST /calls -> ${registered.status}, state ${registered.json.call?.state}`);
  if (!options['external-pbx']) {
    pbxConsumer = consumeCallEvents({
      baseUrl: base,
      account: options.account,
      adminKey,
      signal: stopPbx.signal,
      log: (line) => {
        if (!line.startsWith('command ')) return;
        pbxLog(line);
        pbxActed();
      },
      carryOut: async () => ({ success: true }), // a real PBX transfers the call here
    });
  }
}

// The voice agent connects. These headers are the whole call context.
const client = new Client({ name: 'call-walkthrough', version: '1.0.0' });
await client.connect(
  new StreamableHTTPClientTransport(new URL(`${base}/ucp/v2/mcp`), {
    requestInit: {
      headers: {
        'X-API-Key': options.key,
        account_id: options.account,
        persona_id: options.persona,
        call_id: callId,
        caller_id_number: options.caller,
      },
    },
  }),
);
step('Agent connects', `MCP ${client.getServerVersion()?.name ?? 'server'}, protocol ${client.getNegotiatedProtocolVersion() ?? 'stateless'}`);

const { tools } = await client.listTools();
step('tools/list', `${tools.length} tools: ${tools.map((tool) => tool.name).join(', ')}`);

step('is_office_open', await callTool(client, 'is_office_open'));
step(`lookup_contact ${options.caller}`, await callTool(client, 'lookup_contact', { phone_number: options.caller }));
step(
  'create_lead',
  await callTool(client, 'create_lead', {
    name: 'Jane Doe',
    intent: 'Quote for replacing a water heater',
    classification: 'lead',
    summary: 'Wants a quote this week; prefers a morning visit.',
  }),
);
// The transfer waits until the PBX acknowledges it (at most its ring time plus the account's timeout_seconds).
const transferText = await callTool(client, 'transfer_to_sales');
// The PBX's log line of the acknowledgement and the agent's answer race each other: print the PBX's first.
if (pbxConsumer) await Promise.race([pbxActedOnce, new Promise((resolve) => setTimeout(resolve, 2000))]);
step('transfer_to_sales', transferText);
// Not transferred: the agent has taken the message (the lead) and says goodbye, then tries to end the call.
if (transferText.startsWith('(tool error)')) step('hangup_call', await callTool(client, 'hangup_call'));

// The agent's leg ended with the transfer (or its goodbye); when the caller hangs up, the PBX ends the call.
await client.close();
if (adminKey) {
  const record = await pbx('GET', `/calls/${encodeURIComponent(callId)}`);
  const transferredTo = record.json.call?.transferred_to;
  step('PBX reads the call', `state ${record.json.call?.state}${transferredTo ? `, transferred to ${transferredTo}` : ''}`);
  const ended = await pbx('DELETE', `/calls/${encodeURIComponent(callId)}`, { reason: 'caller hung up' });
  step('PBX ends the call', `DELETE /calls/${callId} -> ${ended.status}, state ${ended.json.call?.state}`);
}
stopPbx.abort();
await pbxConsumer;
