/**
 * Two nodes on one PostgreSQL database behind nginx, as they are deployed: two
 * real `switchboard serve` processes with their own node names and the same
 * manifests, and nginx running the shipped cluster configuration
 * (deploy/nginx/switchboard-cluster.conf, generated for the two). Through
 * nginx, MCP clients of every kind work at once: 2025-era sessions (the v2
 * SDK client), stateless 2026-07-28 clients, legacy HTTP+SSE clients (the v1
 * SDK's transport), the admin API changing Do-Not-Disturb, and transfers with
 * the events driver, acknowledged by a phone-system integration whose one
 * call-events stream is on node A (a command of a tool served by node B
 * crosses to it) until A dies, and then reconnects through nginx.
 *
 * Under that load one node is killed with SIGKILL. Calls go on through the
 * other: sessions of the dead node get 404 there and their clients open new
 * sessions (the MCP rule), legacy SSE clients reconnect their stream, and
 * stateless requests never notice more than the request that was in flight.
 * Afterwards every write that was acknowledged is checked in PostgreSQL:
 * leads and their cases, DND changes and transfer commands. A request whose
 * answer was lost with the node is not acknowledged; its write may or may not
 * be there, and the checks allow for either.
 */
import fs from 'node:fs';
import path from 'node:path';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { runCli, startServe, type ServeProcess } from './helpers/cli.ts';
import { nginxBinary, startNginx, type AccessLogLine, type RunningNginx } from './helpers/nginx.ts';
import { SseConsumer } from './helpers/pbx.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { eventually, tempDir, textOf, writeManifests } from './helpers/server.ts';

const manifests: Record<string, string> = {
  'acme/account.yaml': `account_id: acme
timezone: America/New_York
users:
  - { id: u-1, name: Dana Reyes, extension: "101" }
  - { id: u-2, name: Sam Ortiz, extension: "102" }
transfer_policy:
  allow: ["2XX"]
call_control:
  driver: events
  timeout_seconds: 5
`,
  'acme/front-desk.yaml': 'persona_id: front-desk\n',
};

/** Every tool call and admin request gives up after this long: a request that went down with its node is not acknowledged. */
const REQUEST_TIMEOUT_MS = 10_000;

let database: Awaited<ReturnType<typeof freshDatabase>>;
let root: string;
let nodes: { a: ServeProcess; b: ServeProcess };
let nginx: RunningNginx;
let mcpKey: string;
let adminKey: string;
let db: pg.Client;

const nodeArgs = (name: string) => [
  '--node-name', name,
  '--database', database.url,
  '--personas', path.join(root, 'personas'),
  '--data', path.join(root, name),
  '--log-format', 'json',
  // The test's load is not what limits are about (tests/cluster-limits.test.ts is).
  '--rate-limit', '0',
];

async function createKey(role: 'mcp' | 'admin'): Promise<string> {
  const created = await runCli(['keys', 'create', '--account', 'acme', '--role', role, '--json', '--database', database.url, '--personas', path.join(root, 'personas')]);
  expect(created.code, created.stderr).toBe(0);
  return (JSON.parse(created.stdout) as { key: string }).key;
}

beforeAll(async () => {
  // Installs nginx from the distribution's packages when it is missing: the hook allows for it.
  nginxBinary();
  database = await freshDatabase();
  root = tempDir('cluster');
  writeManifests(path.join(root, 'personas'), manifests);
  mcpKey = await createKey('mcp');
  adminKey = await createKey('admin');
  const [a, b] = await Promise.all([startServe(nodeArgs('node-a')), startServe(nodeArgs('node-b'))]);
  nodes = { a, b };
  nginx = await startNginx([
    { name: 'node-a', url: a.url },
    { name: 'node-b', url: b.url },
  ]);
  db = new pg.Client({ connectionString: database.url });
  await db.connect();
}, 240_000);

afterAll(async () => {
  await db?.end();
  await nginx?.stop();
  await Promise.all([nodes?.a.stop(), nodes?.b.stop()]);
  await database?.drop();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

const mcpUrl = () => new URL('/ucp/v2/mcp', nginx.url);
const hostOf = (node: ServeProcess) => new URL(node.url).host;
const headersFor = (call: string, caller: string) => ({ 'X-API-Key': mcpKey, account_id: 'acme', persona_id: 'front-desk', call_id: call, caller_id_number: caller });

type ToolResult = Awaited<ReturnType<Client['callTool']>>;

/** One call's MCP client, whatever its transport: calls a tool, and throws when no answer came. */
interface CallClient {
  readonly call: string;
  readonly caller: string;
  callTool(name: string, args: Record<string, unknown>): Promise<ToolResult>;
  close(): Promise<void>;
}

/**
 * A 2025-era client on a Streamable HTTP session. A 404 on its session means
 * the node that held it is gone: it initializes again, as MCP has clients do,
 * and sends the request on the new session (a 404 is an answer given before
 * anything was done, so the request is safe to repeat).
 */
class SessionClient implements CallClient {
  reinitialized = 0;
  /** Session ids in the order they were opened. */
  readonly sessionIds: string[] = [];
  private client: Client | undefined;
  private transport: StreamableHTTPClientTransport | undefined;

  constructor(
    readonly call: string,
    readonly caller: string,
  ) {}

  get sessionId(): string | undefined {
    return this.transport?.sessionId;
  }

  async open(): Promise<void> {
    const client = new Client({ name: 'cluster-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(mcpUrl(), { requestInit: { headers: headersFor(this.call, this.caller) } });
    await client.connect(transport, { timeout: REQUEST_TIMEOUT_MS });
    this.client = client;
    this.transport = transport;
    this.sessionIds.push(transport.sessionId as string);
  }

  async callTool(name: string, args: Record<string, unknown>): Promise<ToolResult> {
    if (!this.client) await this.open();
    try {
      return await (this.client as Client).callTool({ name, arguments: args }, { timeout: REQUEST_TIMEOUT_MS });
    } catch (error) {
      if ((error as { status?: unknown }).status !== 404) throw error;
      await this.client?.close().catch(() => undefined);
      this.client = undefined;
      this.reinitialized += 1;
      await this.open();
      return (this.client as unknown as Client).callTool({ name, arguments: args }, { timeout: REQUEST_TIMEOUT_MS });
    }
  }

  async close(): Promise<void> {
    await this.client?.close().catch(() => undefined);
  }
}

/** A 2026-07-28 client: no session, every request may go to any node. */
class StatelessClient implements CallClient {
  private client: Client | undefined;

  constructor(
    readonly call: string,
    readonly caller: string,
  ) {}

  async callTool(name: string, args: Record<string, unknown>): Promise<ToolResult> {
    if (!this.client) {
      const client = new Client({ name: 'cluster-test', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
      await client.connect(new StreamableHTTPClientTransport(mcpUrl(), { requestInit: { headers: headersFor(this.call, this.caller) } }), { timeout: REQUEST_TIMEOUT_MS });
      this.client = client;
    }
    return this.client.callTool({ name, arguments: args }, { timeout: REQUEST_TIMEOUT_MS });
  }

  async close(): Promise<void> {
    await this.client?.close().catch(() => undefined);
  }
}

/**
 * A 2024-11-05 HTTP+SSE client (the v1 SDK's transport), with the call in
 * the path so that nginx's log names it. When its stream drops, EventSource
 * reconnects by itself and the transport posts to the URL the new stream
 * names, without a new initialize.
 */
class LegacyClient implements CallClient {
  readonly path: string;
  private client: V1Client | undefined;

  constructor(
    readonly call: string,
    readonly caller: string,
  ) {
    this.path = `/ucp/v2/sse/accounts/acme/personas/front-desk/calls/${call}`;
  }

  async open(): Promise<void> {
    const client = new V1Client({ name: 'cluster-test-legacy', version: '1.0.0' });
    await client.connect(new SSEClientTransport(new URL(this.path, nginx.url), { requestInit: { headers: { 'X-API-Key': mcpKey, caller_id_number: this.caller } } }));
    this.client = client;
  }

  async callTool(name: string, args: Record<string, unknown>): Promise<ToolResult> {
    if (!this.client) await this.open();
    return (await (this.client as V1Client).callTool({ name, arguments: args }, undefined, { timeout: REQUEST_TIMEOUT_MS })) as ToolResult;
  }

  async close(): Promise<void> {
    await this.client?.close().catch(() => undefined);
  }
}

interface Attempt<T> {
  value: T;
  acknowledged: boolean;
  /** Whether it was sent after the kill. */
  afterKill: boolean;
}

/** What the workers sent, and what was acknowledged. */
const record = {
  killed: false,
  leads: new Map<string, Attempt<{ intent: string; leadId?: string; caseId?: string }>[]>(),
  dnd: new Map<string, Attempt<{ op: 'set' | 'clear'; reason: string }>[]>(),
  transfers: [] as Attempt<{ call: string; commandId?: number }>[],
  /** Command ids whose acknowledgement the server answered with 200. */
  pbxAcknowledged: new Set<number>(),
  failures: [] as string[],
};

const acknowledgedAfterKill = <T>(attempts: Attempt<T>[]) => attempts.filter((attempt) => attempt.acknowledged && attempt.afterKill).length;
const acknowledged = <T>(attempts: Attempt<T>[]) => attempts.filter((attempt) => attempt.acknowledged).length;
/** The index of the last acknowledged attempt, -1 with none. */
const lastAcknowledged = <T>(attempts: Attempt<T>[]) => attempts.map((attempt) => attempt.acknowledged).lastIndexOf(true);
const note = (what: string, error: unknown) => record.failures.push(`${what}: ${(error as Error).message ?? String(error)}`.slice(0, 300));
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until every worker's attempts pass `enough`; a time-out says what failed last. */
async function untilEveryWorker(enough: (attempts: Attempt<unknown>[]) => boolean, timeoutMs: number, what: string): Promise<void> {
  const all = () => [...record.leads.values(), ...record.dnd.values(), record.transfers] as Attempt<unknown>[][];
  try {
    await eventually(() => (all().every(enough) ? true : undefined), timeoutMs, what);
  } catch (error) {
    throw new Error(`${(error as Error).message}; the last failures: ${record.failures.slice(-10).join('; ')}`);
  }
}

/** create_lead again and again in one call, each time with an intent of its own. */
async function leadWorker(client: CallClient, running: () => boolean): Promise<void> {
  const attempts: Attempt<{ intent: string; leadId?: string; caseId?: string }>[] = [];
  record.leads.set(client.call, attempts);
  for (let n = 1; running(); n++) {
    const attempt: (typeof attempts)[number] = { value: { intent: `${client.call} intent ${n}` }, acknowledged: false, afterKill: record.killed };
    attempts.push(attempt);
    try {
      const result = await client.callTool('create_lead', { name: `Caller ${client.call}`, intent: attempt.value.intent });
      if (result.isError) throw new Error(textOf(result));
      const data = result.structuredContent as { lead_id: string; case_id: string };
      Object.assign(attempt.value, { leadId: data.lead_id, caseId: data.case_id });
      attempt.acknowledged = true;
    } catch (error) {
      note(`create_lead ${client.call}`, error);
      await pause(200);
    }
  }
}

/** Sets and clears one user's Do-Not-Disturb through the admin API, by turns. */
async function dndWorker(user: string, running: () => boolean): Promise<void> {
  const attempts: Attempt<{ op: 'set' | 'clear'; reason: string }>[] = [];
  record.dnd.set(user, attempts);
  for (let n = 1; running(); n++) {
    const op = n % 2 ? 'set' : 'clear';
    const attempt: (typeof attempts)[number] = { value: { op, reason: `${user} change ${n}` }, acknowledged: false, afterKill: record.killed };
    attempts.push(attempt);
    try {
      const response = await fetch(new URL(`/ucp/v2/accounts/acme/users/${user}/dnd`, nginx.url), {
        method: op === 'set' ? 'PUT' : 'DELETE',
        headers: { 'X-API-Key': adminKey, 'content-type': 'application/json' },
        ...(op === 'set' ? { body: JSON.stringify({ reason: attempt.value.reason }) } : {}),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const body = (await response.json()) as { dnd?: { enabled: boolean } };
      if (response.status !== 200) throw new Error(`${response.status} ${JSON.stringify(body)}`);
      expect(body.dnd?.enabled).toBe(op === 'set');
      attempt.acknowledged = true;
    } catch (error) {
      note(`dnd ${user}`, error);
      await pause(200);
    }
    await pause(50);
  }
}

/** A new call each time, transferred to extension 201 through a stateless client. */
async function transferWorker(running: () => boolean): Promise<void> {
  for (let n = 1; running(); n++) {
    const call = `t-${n}`;
    const attempt: (typeof record.transfers)[number] = { value: { call }, acknowledged: false, afterKill: record.killed };
    record.transfers.push(attempt);
    const client = new StatelessClient(call, `+1212555${String(3000 + n).padStart(4, '0')}`);
    try {
      const result = await client.callTool('transfer_call', { destination_number: '201' });
      if (result.isError) throw new Error(textOf(result));
      expect(textOf(result)).toBe('The call was transferred to 201.');
      attempt.value.commandId = (result.structuredContent as { command_id: number }).command_id;
      attempt.acknowledged = true;
    } catch (error) {
      note(`transfer ${call}`, error);
      await pause(200);
    } finally {
      await client.close();
    }
  }
}

/**
 * The phone system's side: one call-events stream, every command
 * acknowledged as connected through nginx (any node takes it), again when
 * the answer was lost. Its stream starts on node A, so that commands of
 * tools served by node B must cross to it; when the stream ends (node A
 * died) it reconnects through nginx with the last event id it read, as an
 * integration does.
 */
class PhoneSystem {
  /** Streams opened after the first. */
  reconnected = 0;
  private consumer: SseConsumer | undefined;
  private closed = false;

  async start(base: string): Promise<void> {
    await this.attach(base);
  }

  private async attach(base: string, lastEventId?: string): Promise<boolean> {
    const consumer = await SseConsumer.connect(base, 'acme', adminKey, lastEventId).catch(() => undefined);
    if (!consumer || consumer.status !== 200) {
      consumer?.close();
      return false;
    }
    this.consumer = consumer;
    consumer.onEvent = (event) => {
      if (event.event === 'command') void this.acknowledge(event.id);
    };
    consumer.onClose = () => void this.reconnect(consumer.events.at(-1)?.id);
    return true;
  }

  private async reconnect(lastEventId: string | undefined): Promise<void> {
    while (!this.closed) {
      if (await this.attach(nginx.url, lastEventId)) return void (this.reconnected += 1);
      await pause(200);
    }
  }

  private async acknowledge(id: string): Promise<void> {
    for (let tries = 0; tries < 5; tries++) {
      try {
        const response = await fetch(new URL(`/ucp/v2/accounts/acme/call-events/${id}/ack`, nginx.url), {
          method: 'POST',
          headers: { 'X-API-Key': adminKey, 'content-type': 'application/json' },
          body: JSON.stringify({ success: true, outcome: 'connected' }),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        if (response.status === 200) return void record.pbxAcknowledged.add(Number(id));
        note(`ack ${id}`, new Error(`${response.status} ${await response.text()}`));
      } catch (error) {
        note(`ack ${id}`, error);
      }
      await pause(200);
    }
  }

  close(): void {
    this.closed = true;
    this.consumer?.close();
  }
}

/** Opens clients one after another until both nodes hold one (nginx hands new sessions out in turn). */
async function onBothNodes<T>(open: (index: number) => Promise<T>, nodeOf: (client: T) => Promise<string>, atLeast: number): Promise<T[]> {
  const opened: T[] = [];
  const byNode = new Map<string, number>();
  for (let index = 1; opened.length < atLeast || byNode.size < 2; index++) {
    if (index > atLeast + 6) throw new Error(`sessions did not spread over both nodes: ${JSON.stringify([...byNode])}`);
    const client = await open(index);
    opened.push(client);
    const node = await nodeOf(client);
    byNode.set(node, (byNode.get(node) ?? 0) + 1);
  }
  return opened;
}

const nodeOfSessionId = (id: string | undefined) => (id ?? '').split('.')[0] as string;

/** The node nginx's log shows a legacy client's session on (the sessionId of its POSTs). */
async function legacyNode(client: LegacyClient): Promise<string> {
  return eventually(() => {
    const line = nginx.accessLog().find((entry) => entry.uri.startsWith(`${client.path}?sessionId=`));
    return line ? nodeOfSessionId(new URL(line.uri, nginx.url).searchParams.get('sessionId') ?? '') : undefined;
  }, 5000, `a POST of ${client.call}`);
}

it(
  'serves calls on both nodes behind nginx, goes on when one is killed, and loses no acknowledged write',
  async () => {
    const phoneSystem = new PhoneSystem();
    await phoneSystem.start(nodes.a.url);
    const sessions = await onBothNodes(
      async (i) => {
        const client = new SessionClient(`s-${i}`, `+1212555${String(1000 + i).padStart(4, '0')}`);
        await client.open();
        return client;
      },
      async (client) => nodeOfSessionId(client.sessionId),
      4,
    );
    const legacy = await onBothNodes(
      async (i) => {
        const client = new LegacyClient(`l-${i}`, `+1212555${String(2000 + i).padStart(4, '0')}`);
        await client.open();
        await client.callTool('is_office_open', {});
        return client;
      },
      legacyNode,
      2,
    );
    const stateless = [1, 2].map((i) => new StatelessClient(`m-${i}`, `+1212555${String(2500 + i).padStart(4, '0')}`));
    // Every session id names its node, and so does every legacy session's.
    for (const client of sessions) expect(client.sessionId).toMatch(/^node-[ab]\.[0-9a-f-]{36}$/);
    const sessionsOnA = sessions.filter((client) => nodeOfSessionId(client.sessionId) === 'node-a');
    const legacyOnA = await Promise.all(legacy.map(legacyNode)).then((names) => legacy.filter((_, i) => names[i] === 'node-a'));
    expect(sessionsOnA.length).toBeGreaterThan(0);
    expect(legacyOnA.length).toBeGreaterThan(0);

    let running = true;
    const keepRunning = () => running;
    const workers = [
      ...[...sessions, ...legacy, ...stateless].map((client) => leadWorker(client, keepRunning)),
      dndWorker('u-1', keepRunning),
      dndWorker('u-2', keepRunning),
      transferWorker(keepRunning),
    ];

    try {
      await untilEveryWorker((attempts) => acknowledged(attempts) >= 3, 60_000, 'three acknowledged writes of every worker');

      // nginx spread what is not bound to a session over both nodes, and sent each session's requests to its own.
      const before = nginx.accessLog();
      const servedBy = (lines: AccessLogLine[]) => new Set(lines.map((line) => line.upstreams[0]));
      const unbound = before.filter((line) => line.uri === '/ucp/v2/mcp' && line.method === 'POST' && !line.session);
      expect(servedBy(unbound)).toEqual(new Set([hostOf(nodes.a), hostOf(nodes.b)]));
      // 2026-07-28 requests among them, every one answered, whichever node it reached.
      const stateless2026 = unbound.filter((line) => line.protocol === '2026-07-28');
      expect(servedBy(stateless2026)).toEqual(new Set([hostOf(nodes.a), hostOf(nodes.b)]));
      expect(new Set(stateless2026.map((line) => line.status))).toEqual(new Set([200]));
      for (const [name, node] of [['node-a', nodes.a], ['node-b', nodes.b]] as const) {
        const bound = before.filter((line) => nodeOfSessionId(line.session ?? new URL(line.uri, nginx.url).searchParams.get('sessionId') ?? undefined) === name);
        expect(bound.length).toBeGreaterThan(0);
        expect(servedBy(bound)).toEqual(new Set([hostOf(node)]));
      }

      // Under load, node A dies at once: no shutdown, no goodbye to the database or to nginx.
      // Until now nothing failed: transfers served by node B reached the phone system's stream on node A.
      expect(record.failures).toEqual([]);
      const logBeforeKill = before.length;
      record.killed = true;
      expect(await nodes.a.stop('SIGKILL')).toBe(null);

      await untilEveryWorker((attempts) => acknowledgedAfterKill(attempts) >= 3, 90_000, 'three writes of every worker acknowledged after the kill');

      // The sessions of node A opened new ones on node B after a 404 there; those of B kept theirs.
      for (const client of sessions) {
        const wasOnA = sessionsOnA.includes(client);
        expect(client.reinitialized > 0, `${client.call} reinitialized`).toBe(wasOnA);
        expect(nodeOfSessionId(client.sessionId)).toBe('node-b');
      }
      // Requests of node A's sessions went to node B once A could not be reached (those under way when it died were cut), and got 404.
      const after = nginx.accessLog().slice(logBeforeKill);
      const goneSession = after.filter((line) => nodeOfSessionId(line.session) === 'node-a' && line.upstreams.at(-1) === hostOf(nodes.b));
      expect(goneSession.length).toBeGreaterThan(0);
      expect(new Set(goneSession.map((line) => line.status))).toEqual(new Set([404]));
      // The phone system's stream went down with node A and came back through nginx (on B).
      expect(phoneSystem.reconnected).toBeGreaterThan(0);
      // Legacy clients of node A reconnected their stream to node B and went on.
      for (const client of legacyOnA) expect(acknowledgedAfterKill(record.leads.get(client.call) ?? [])).toBeGreaterThanOrEqual(3);
    } finally {
      running = false;
      await Promise.all(workers);
      await Promise.all([...sessions, ...legacy, ...stateless].map((client) => client.close()));
      phoneSystem.close();
    }

    await checkNothingAcknowledgedIsLost();
  },
  240_000,
);

/** Every acknowledged write is in PostgreSQL; where later answers were lost, one of those writes may have come after it. */
async function checkNothingAcknowledgedIsLost(): Promise<void> {
  let leads = 0;
  for (const [call, attempts] of record.leads) {
    const last = lastAcknowledged(attempts);
    expect(last, `${call} has an acknowledged lead`).toBeGreaterThanOrEqual(0);
    const acked = attempts[last]!.value;
    const { rows } = await db.query<{ lead_id: string; case_id: string; intent: string; phone_e164: string }>(
      `SELECT c.lead_id, c.id AS case_id, c.intent, l.phone_e164 FROM lead_cases c JOIN leads l ON l.id = c.lead_id WHERE c.account_id = 'acme' AND c.call_id = $1`,
      [call],
    );
    expect(rows, call).toHaveLength(1);
    expect(rows[0]).toMatchObject({ lead_id: acked.leadId, case_id: acked.caseId });
    expect(attempts.slice(last).map((attempt) => attempt.value.intent)).toContain(rows[0]!.intent);
    leads += 1;
  }
  expect(leads).toBe(record.leads.size);

  for (const [user, attempts] of record.dnd) {
    const last = lastAcknowledged(attempts);
    const { rows } = await db.query<{ enabled: number; reason: string | null }>(`SELECT enabled, reason FROM user_dnd WHERE account_id = 'acme' AND user_id = $1`, [user]);
    expect(rows, user).toHaveLength(1);
    const row = rows[0]!;
    const matches = attempts.slice(last).some(({ value }) => (value.op === 'set' ? row.enabled === 1 && row.reason === value.reason : row.enabled === 0));
    expect(matches, `${user}: ${JSON.stringify(row)} is the last acknowledged change or a later one`).toBe(true);
  }

  const transferred = record.transfers.filter((attempt) => attempt.acknowledged);
  expect(transferred.length).toBeGreaterThan(0);
  for (const { value } of transferred) {
    const command = await db.query(`SELECT call_id, status, outcome FROM call_commands WHERE id = $1`, [value.commandId]);
    expect(command.rows).toEqual([{ call_id: value.call, status: 'succeeded', outcome: 'connected' }]);
    const call = await db.query(`SELECT state, transferred_to FROM calls WHERE account_id = 'acme' AND call_id = $1`, [value.call]);
    expect(call.rows).toEqual([{ state: 'transferred', transferred_to: '201' }]);
  }
  expect(record.pbxAcknowledged.size).toBeGreaterThanOrEqual(transferred.length);
  const acknowledgedCommands = await db.query<{ id: string; status: string }>(`SELECT id, status FROM call_commands WHERE id = ANY($1::bigint[])`, [[...record.pbxAcknowledged]]);
  const byId = (a: [number, string], b: [number, string]) => a[0] - b[0];
  expect(acknowledgedCommands.rows.map((row): [number, string] => [Number(row.id), row.status]).sort(byId)).toEqual(
    [...record.pbxAcknowledged].map((id): [number, string] => [id, 'succeeded']).sort(byId),
  );
}
