/**
 * What every client of the client matrix is put through, so that each
 * client's file says only how that client connects, lists and calls.
 *
 * The server is a real Switchboard on loopback serving the example personas
 * (personas/), with their third-party hosts pointed at one local fake: the
 * acme shop and globex booking APIs (their secrets come from the
 * environment, as in production) and globex's webhook PBX. The acme PBX
 * (events driver) has no consumer connected, so its transfers and hang-ups
 * answer at once that the phone system is not connected: an error text like
 * any other, which must reach the caller.
 *
 * The cases call every tool of the three example personas with good and bad
 * arguments, and say the exact text (or its pattern) the caller must see.
 * Numbers for string arguments, nulls for optional ones and undeclared
 * arguments are among them: the shapes clients send that the server reads
 * one way for every tool (engine/tools/validation.ts).
 */
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ServerSettings } from '../../engine/config.ts';
import { EXAMPLE_PERSONAS, eventually, startTestServer, type TestServer } from '../helpers/server.ts';
import { startUpstream, type RecordedRequest, type Upstream, type UpstreamReply } from '../helpers/upstream.ts';

export interface MatrixPersona {
  account: string;
  persona: string;
  /** The tool names in tools/list order. */
  tools: string[];
}

export const PERSONAS: readonly MatrixPersona[] = [
  {
    account: 'acme',
    persona: 'front-desk',
    tools: ['transfer_call', 'is_office_open', 'lookup_contact', 'check_user_availability', 'create_lead', 'hangup_call', 'transfer_to_dana', 'transfer_to_sales', 'order_status', 'book_visit'],
  },
  { account: 'acme', persona: 'after-hours', tools: ['is_office_open', 'lookup_contact', 'create_lead', 'hangup_call', 'transfer_to_emergency'] },
  {
    account: 'globex',
    persona: 'reception',
    tools: ['transfer_call', 'is_office_open', 'lookup_contact', 'check_user_availability', 'create_lead', 'hangup_call', 'transfer_to_dr_hughes', 'transfer_to_reception', 'appointment_slots', 'request_callback'],
  },
];

export const personaLabel = (persona: Pick<MatrixPersona, 'account' | 'persona'>) => `${persona.account}/${persona.persona}`;

export interface ToolCase {
  /** account/persona */
  persona: string;
  tool: string;
  /** What the case shows, for the test's name. */
  what: string;
  args: Record<string, unknown>;
  isError: boolean;
  /** The whole text the caller must get. */
  text: string | RegExp;
}

const OFFICE = /^Office is (currently open|currently closed|closed today|open 24 hours today)\. (We open again .+|We close .+|We are open around the clock)\.$/;
const invalid = (sentence: string) => `Invalid arguments: ${sentence}. Correct them and call the tool again.`;
const notConnected = (label: string) => `The phone system is not connected right now, so the call was not transferred to ${label}. Tell the caller and offer to take a message instead.`;
const pbxRefused = (label: string) => `The phone system did not transfer the call to ${label} (HTTP 503). Tell the caller and offer to take a message instead.`;
const HANGUP_NOT_CONNECTED = 'The call cannot be ended from here right now: the phone system is not connected. Say goodbye; the caller can hang up.';

/** The global tools' cases but hangup_call, which comes last in each persona (it ends the call). */
function commonCases(persona: string, own: { user?: [id: string, name: string]; tools: string[]; number: string; spoken: string }): ToolCase[] {
  const cases: ToolCase[] = [
    { persona, tool: 'is_office_open', what: 'no arguments', args: {}, isError: false, text: OFFICE },
    { persona, tool: 'is_office_open', what: 'an argument it does not take', args: { when: 'tomorrow' }, isError: true, text: invalid('"when" is not an argument of this tool (it takes no arguments)') },
    { persona, tool: 'lookup_contact', what: 'a number no contact has', args: { phone_number: own.number }, isError: false, text: `No contact found for ${own.spoken}.` },
    { persona, tool: 'lookup_contact', what: 'text that is no phone number', args: { phone_number: 'call me maybe' }, isError: true, text: /^"call me maybe" is not a phone number that can be read\. Pass the number with its country code/ },
    { persona, tool: 'lookup_contact', what: 'no phone_number', args: {}, isError: true, text: invalid('"phone_number" is required') },
    { persona, tool: 'create_lead', what: 'name and intent, null for the optional arguments', args: { name: 'Jane Doe', intent: 'Leaking pipe', classification: null, summary: null, notes: null }, isError: false, text: /^Created new lead ld_\w+ for Jane Doe with case cs_\w+\. The caller's number is unknown/ },
    {
      persona,
      tool: 'create_lead',
      what: 'an argument it does not take',
      args: { name: 'Jane Doe', intent: 'Leaking pipe', email: 'jane@example.com' },
      isError: true,
      text: invalid('"email" is not an argument of this tool (its arguments: name, intent, classification, summary, notes)'),
    },
    { persona, tool: 'create_lead', what: 'an unknown classification', args: { name: 'Jane Doe', intent: 'Leak', classification: 'vip' }, isError: true, text: invalid('"classification" must be one of lead, customer, spam, other') },
  ];
  if (own.user) {
    const [id, name] = own.user;
    cases.push(
      { persona, tool: 'check_user_availability', what: 'a user id', args: { user_id: id }, isError: false, text: `${name} is available.` },
      { persona, tool: 'check_user_availability', what: 'nobody', args: { user_id: 'nobody' }, isError: true, text: 'There is no user "nobody". Ask the caller for the full name of the person they want to reach, or offer to take a message.' },
      { persona, tool: 'check_user_availability', what: 'no user_id', args: {}, isError: true, text: invalid('"user_id" is required') },
    );
  }
  return cases.filter((item) => own.tools.includes(item.tool));
}

const [frontDesk, afterHours, reception] = PERSONAS as [MatrixPersona, MatrixPersona, MatrixPersona];

export const CASES: readonly ToolCase[] = [
  ...commonCases('acme/front-desk', { user: ['u-101', 'Sam Ortiz'], tools: frontDesk.tools, number: '+1 212 555 0100', spoken: '+1 212 555 0100' }),
  { persona: 'acme/front-desk', tool: 'lookup_contact', what: 'a number sent as a JSON number', args: { phone_number: 12125550100 }, isError: false, text: 'No contact found for +1 212 555 0100.' },
  { persona: 'acme/front-desk', tool: 'check_user_availability', what: 'an extension sent as a JSON number', args: { user_id: 101 }, isError: false, text: 'Sam Ortiz is available.' },
  { persona: 'acme/front-desk', tool: 'transfer_call', what: 'an extension, with the phone system away', args: { destination_number: '101' }, isError: true, text: notConnected('Sam Ortiz (extension 101)') },
  {
    persona: 'acme/front-desk',
    tool: 'transfer_call',
    what: 'a number the transfer policy denies',
    args: { destination_number: '+1 900 555 0100' },
    isError: true,
    text: "Transfers to +19005550100 are blocked by this office's transfer policy. Tell the caller you cannot transfer the call there.",
  },
  { persona: 'acme/front-desk', tool: 'transfer_call', what: 'no destination', args: {}, isError: true, text: invalid('"destination_number" is required') },
  { persona: 'acme/front-desk', tool: 'transfer_to_dana', what: 'no arguments, with the phone system away', args: {}, isError: true, text: notConnected('Dana Reyes (extension 100)') },
  { persona: 'acme/front-desk', tool: 'transfer_to_sales', what: 'an argument it does not take', args: { queue: 'support' }, isError: true, text: invalid('"queue" is not an argument of this tool (its arguments: summary)') },
  { persona: 'acme/front-desk', tool: 'order_status', what: 'an order number', args: { order_number: 'A-10023' }, isError: false, text: 'Order A-10023 is shipped, expected Friday.' },
  { persona: 'acme/front-desk', tool: 'order_status', what: 'an order number sent as a JSON number, null for the store', args: { order_number: 10023, store: null }, isError: false, text: 'Order 10023 is shipped, expected Friday.' },
  { persona: 'acme/front-desk', tool: 'order_status', what: 'an order the shop does not know', args: { order_number: 'A-404' }, isError: true, text: /^The service found nothing for these values \(.*\)\. Check the details with the caller; call again only with different values\.$/ },
  { persona: 'acme/front-desk', tool: 'order_status', what: 'an order number of the wrong format', args: { order_number: 'A 10023' }, isError: true, text: invalid('"order_number" has the wrong format') },
  { persona: 'acme/front-desk', tool: 'book_visit', what: 'a date and a problem, null for technicians', args: { date: '2026-12-01', problem: 'Leaking pipe', technicians: null }, isError: false, text: 'Visit booked for 2026-12-01.' },
  { persona: 'acme/front-desk', tool: 'book_visit', what: 'too many technicians', args: { date: '2026-12-01', technicians: 9 }, isError: true, text: invalid('"technicians" must be <= 3') },
  {
    persona: 'acme/front-desk',
    tool: 'book_visit',
    what: 'an argument it does not take',
    args: { date: '2026-12-01', address: '1 Main St' },
    isError: true,
    text: invalid('"address" is not an argument of this tool (its arguments: date, technicians, problem)'),
  },
  { persona: 'acme/front-desk', tool: 'hangup_call', what: 'no arguments, with the phone system away', args: {}, isError: true, text: HANGUP_NOT_CONNECTED },
  ...commonCases('acme/after-hours', { tools: afterHours.tools, number: '212-555-0100', spoken: '+1 212 555 0100' }),
  { persona: 'acme/after-hours', tool: 'transfer_to_emergency', what: 'no arguments, with the phone system away', args: {}, isError: true, text: notConnected('Support (extension 610)') },
  { persona: 'acme/after-hours', tool: 'hangup_call', what: 'an argument it does not take', args: { reason: 'done' }, isError: true, text: invalid('"reason" is not an argument of this tool (it takes no arguments)') },
  ...commonCases('globex/reception', { user: ['dr-hughes', 'Dr. Emma Hughes'], tools: reception.tools, number: '020 7946 0000', spoken: '+44 20 7946 0000' }),
  { persona: 'globex/reception', tool: 'transfer_call', what: 'the reception extension, the PBX answering 503', args: { destination_number: '2000' }, isError: true, text: pbxRefused('Reception (extension 2000)') },
  { persona: 'globex/reception', tool: 'transfer_to_dr_hughes', what: 'no arguments, the PBX answering 503', args: {}, isError: true, text: pbxRefused('Dr. Emma Hughes (extension 2001)') },
  { persona: 'globex/reception', tool: 'transfer_to_reception', what: 'an argument it does not take', args: { urgent: true }, isError: true, text: invalid('"urgent" is not an argument of this tool (its arguments: summary)') },
  { persona: 'globex/reception', tool: 'appointment_slots', what: 'a kind and a date', args: { kind: 'checkup', date: '2026-12-01' }, isError: false, text: 'Free slots: 09:00, 10:30' },
  { persona: 'globex/reception', tool: 'appointment_slots', what: 'an unknown kind', args: { kind: 'x-ray', date: '2026-12-01' }, isError: true, text: invalid('"kind" must be one of checkup, vaccination, blood-test') },
  { persona: 'globex/reception', tool: 'request_callback', what: 'a name, null for the reason and language', args: { patient_name: 'Ann Lee', reason: null, language: null }, isError: false, text: 'Callback request T-1 recorded; the nurse will call around 2 pm.' },
  { persona: 'globex/reception', tool: 'request_callback', what: 'no patient name', args: { reason: 'Results' }, isError: true, text: invalid('"patient_name" is required') },
  { persona: 'globex/reception', tool: 'hangup_call', what: 'no arguments', args: {}, isError: false, text: 'The call will be hung up in 3 seconds; finish your goodbye now.' },
  { persona: 'globex/reception', tool: 'hangup_call', what: 'again, while the call ends', args: {}, isError: false, text: /^The call is already ending; it will hang up in \d(\.\d)? seconds?\.$/ },
];

/** The cases of one persona, in order. */
export const casesOf = (persona: MatrixPersona): ToolCase[] => CASES.filter((item) => item.persona === personaLabel(persona));

export const caseTitle = (item: ToolCase) => `${item.persona} ${item.tool}: ${item.what}`;

/** Asserts what a client got for a case: the error flag and the whole text. */
export function expectAnswer(item: ToolCase, got: { isError: boolean; text: string }): void {
  if (typeof item.text === 'string') expect(got.text).toBe(item.text);
  else expect(got.text).toMatch(item.text);
  expect(got.isError).toBe(item.isError);
}

const SECRETS = { ACME_SHOP_TOKEN: 'shop-token-matrix', GLOBEX_BOOKING_KEY: 'booking-key-matrix', GLOBEX_PBX_SECRET: 'pbx-secret-matrix' };

/** The fake third parties: the acme shop, the globex booking API and the globex PBX's webhook. */
function fakeThirdParties(request: RecordedRequest): UpstreamReply {
  const target = request.target;
  if (target.startsWith('/api/orders/A-404')) return { status: 404, body: { message: 'No such order' } };
  if (target.startsWith('/api/orders/')) return { body: { status: 'shipped', delivery: { eta: 'Friday' } } };
  if (target.startsWith('/api/visits')) return { status: 201, body: { id: 'v-1' } };
  if (target.startsWith('/v1/slots')) return { body: { slots: ['09:00', '10:30'] } };
  if (target.startsWith('/v1/callbacks')) return { status: 201, body: { ticket: { id: 'T-1', expected_callback: '2 pm' } } };
  return { status: 503, body: { error: 'PBX maintenance' } };
}

/** The example personas with their third-party hosts pointed at `base`. */
function examplePersonasAt(base: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const account of fs.readdirSync(EXAMPLE_PERSONAS)) {
    for (const file of fs.readdirSync(path.join(EXAMPLE_PERSONAS, account))) {
      const text = fs.readFileSync(path.join(EXAMPLE_PERSONAS, account, file), 'utf8');
      files[`${account}/${file}`] = text.replace(/https:\/\/(shop\.acme|booking\.globex|pbx\.globex)\.example/g, base);
    }
  }
  return files;
}

export interface MatrixServer {
  readonly server: TestServer;
  readonly upstream: Upstream;
  /** The MCP endpoint URL. */
  readonly url: string;
  /** Headers of one call: a key of the account, the persona, a call id of its own. */
  headers(persona: Pick<MatrixPersona, 'account' | 'persona'>): Record<string, string>;
  close(): Promise<void>;
}

export async function startMatrixServer(settings: Partial<ServerSettings> = {}): Promise<MatrixServer> {
  const upstream = await startUpstream('127.0.0.1', fakeThirdParties);
  const server = await startTestServer({ personas: examplePersonasAt(upstream.base), env: SECRETS, settings: { outboundAllow: ['127.0.0.1'], ...settings } });
  // Made before any client asks: headers() is synchronous for the clients that take a plain object.
  const keys = new Map<string, string>();
  for (const account of server.running.registry.current().accounts.keys()) keys.set(account, await server.key(account));
  let calls = 0;
  return {
    server,
    upstream,
    url: server.mcpUrl.href,
    headers(persona) {
      const key = keys.get(persona.account);
      if (!key) throw new Error(`account ${persona.account} is not in the example manifests`);
      calls += 1;
      return { 'X-API-Key': key, account_id: persona.account, persona_id: persona.persona, call_id: `matrix-${process.pid}-${calls}` };
    },
    async close() {
      await server.close();
      await upstream.close();
    },
  };
}

/** A tool added to acme/after-hours: what changes its tool list. */
export const ADDED_TOOL = 'transfer_to_sales_team';

/** Adds a tool to acme/after-hours in the server's manifests; connected sessions of it get tools/list_changed. */
export function changeToolList(matrix: MatrixServer): void {
  const file = path.join(matrix.server.personasDir, 'acme', 'after-hours.yaml');
  const text = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, `${text}  - type: transfer_to_queue\n    name: ${ADDED_TOOL}\n    description: Send the caller to the sales team.\n    queue: q-sales\n`);
}

/** Waits until a counter of list_changed notifications moves. */
export const waitForListChanged = (count: () => number, what = 'tools/list_changed') => eventually(() => (count() > 0 ? true : undefined), 10_000, what);

/** The first text block of an MCP tool result. */
export function resultText(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.find((block) => block.type === 'text')?.text ?? '';
}

/** What the suite needs of an MCP SDK client connected for one persona's call. */
export interface SdkSession {
  listTools(): Promise<{ tools: { name: string }[] }>;
  callTool(params: { name: string; arguments: Record<string, unknown> }): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * The whole matrix for a client with an SDK-shaped API (the v1 and v2
 * TypeScript SDK clients, over either transport): initialize and list per
 * persona, every case, and tools/list_changed. `connect` must call
 * `onListChanged` for each tools/list_changed notification.
 */
export function sdkClientSuite(name: string, connect: (matrix: MatrixServer, persona: MatrixPersona, onListChanged: () => void) => Promise<SdkSession>): void {
  let matrix: MatrixServer;
  const sessions = new Map<string, SdkSession>();
  let listChanged = 0;

  beforeAll(async () => {
    matrix = await startMatrixServer();
    for (const persona of PERSONAS) {
      const onListChanged = () => {
        if (persona.persona === 'after-hours') listChanged += 1;
      };
      sessions.set(personaLabel(persona), await connect(matrix, persona, onListChanged));
    }
  });
  afterAll(async () => {
    for (const session of sessions.values()) await session.close();
    await matrix?.close();
  });

  describe.each(PERSONAS.map((persona) => [personaLabel(persona), persona] as const))(`${name}, %s`, (label, persona) => {
    it('initializes and lists the tools', async () => {
      const { tools } = await (sessions.get(label) as SdkSession).listTools();
      expect(tools.map((tool) => tool.name)).toEqual(persona.tools);
    });

    it.each(casesOf(persona).map((item) => [caseTitle(item), item] as const))('%s', async (_title, item) => {
      const session = sessions.get(label) as SdkSession;
      const result = (await session.callTool({ name: item.tool, arguments: item.args })) as { isError?: boolean };
      expectAnswer(item, { isError: result.isError === true, text: resultText(result) });
    });
  });

  describe(`${name}, tool list changes`, () => {
    it('gets tools/list_changed and then the new tool', async () => {
      changeToolList(matrix);
      await waitForListChanged(() => listChanged);
      const { tools } = await (sessions.get('acme/after-hours') as SdkSession).listTools();
      expect(tools.map((tool) => tool.name)).toContain(ADDED_TOOL);
    });
  });
}
