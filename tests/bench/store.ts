/**
 * `npm run bench:store`: the store under live calls, as figures (not a test).
 *
 *   npm run bench:store                         # everything (about 15 minutes)
 *   npm run bench:store -- --only sqlite,lock   # sqlite, lock, memory, postgres, crossing
 *   npm run bench:store -- --quick              # 500 calls, 10 s phases, one round
 *   npm run bench:store -- --database postgres://…   # a PostgreSQL server of your own (default: .ci/postgres.sh start)
 *
 * Every server is a real `switchboard serve` process (each PostgreSQL node
 * too), with the example manifests, 10,000 contacts, no rate limit
 * and room for every session; the load generator runs in this process.
 *
 * - sqlite: one node, the default SQLite engine (synchronous=FULL). 2,000
 *   live calls, then tool calls at 400/s open-loop (call-load.ts) in a mix
 *   of is_office_open, lookup_contact, check_user_availability and
 *   create_lead, and the same without create_lead; p50/p99/p99.9/max from
 *   the time each call was due.
 * - lock: the same load while another process holds the database's write
 *   lock (BEGIN IMMEDIATE) for 10 s: reads' latency before and during the
 *   lock, /healthz and /readyz polled throughout, and what became of the
 *   writes: none may be acknowledged while the lock is held (it could not
 *   have committed), and every acknowledged one must be in the file after.
 * - memory: RSS of a server with 0, 2,000 and 4,000 live calls, after full
 *   garbage collections asked through its inspector, per call: the first
 *   2,000 (with what their first use compiles and caches) and the next.
 * - postgres: one node and two nodes on one PostgreSQL database behind nginx
 *   (the shipped cluster configuration), alternating, on the same load:
 *   p99 at 400/s open-loop and calls/s with 50 clients back to back.
 * - crossing: a transfer asked on node A while the phone system's
 *   call-events stream is on node B: from the tool call to the command read
 *   off B's stream, and from the acknowledgement posted to B to the tool's
 *   answer on A; beside it the same with the stream on A.
 *
 * The figures go to tests/bench/store-results.json and are printed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import BetterSqlite3 from 'better-sqlite3';

import { runCliProcess, startServe, type ServeProcess } from '../helpers/cli.ts';
import { startNginx, type RunningNginx } from '../helpers/nginx.ts';
import { freshDatabase } from '../helpers/postgres.ts';
import { EXAMPLE_PERSONAS, REPO_ROOT, tempDir } from '../helpers/server.ts';
import { latencyFigures, ms, runClosedLoop, runOpenLoop, spread, type LatencyFigures, type MixEntry, type OpenLoopOptions, type Sample, type ThroughputFigures } from './call-load.ts';
import { measureCrossing, type CrossingFigures } from './crossing.ts';
import { Inspector, inspectorUrl, type MemoryFigures } from './inspector.ts';
import { endLiveCalls, MCP_PATH, openLiveCalls, type LiveCall } from './live-calls.ts';
import { printTable } from './stats.ts';
import { holdWriteLock } from './write-lock.ts';

const SECTIONS = ['sqlite', 'lock', 'memory', 'postgres', 'crossing'] as const;
type Section = (typeof SECTIONS)[number];

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean' },
    calls: { type: 'string' },
    rate: { type: 'string' },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    database: { type: 'string' },
    out: { type: 'string' },
  },
});
const quick = Boolean(values.quick);
const CALLS = Number(values.calls ?? (quick ? 500 : 2000));
const RATE = Number(values.rate ?? 400);
const SECONDS = Number(values.seconds ?? (quick ? 10 : 30));
const ROUNDS = Number(values.rounds ?? (quick ? 1 : 2));
const CONTACTS = 10_000;
const LOCK_AT_S = quick ? 4 : 10;
const LOCK_FOR_S = 10;
const LOCK_AFTER_S = quick ? 6 : 10;
const THROUGHPUT_CLIENTS = 50;
const THROUGHPUT_SECONDS = quick ? 5 : 10;
const CROSSINGS = quick ? 50 : 200;
const only = new Set((values.only?.split(',').map((name) => name.trim()) ?? SECTIONS) as Section[]);
for (const name of only) if (!SECTIONS.includes(name)) throw new Error(`unknown section ${name}; the sections are ${SECTIONS.join(', ')}`);
const OUT = values.out ?? path.join(REPO_ROOT, 'tests/bench/store-results.json');

// ---------------------------------------------------------------------------------------------
// The load: a mix of the four tools on live calls

/** The i-th contact's number: +1 212 2xx xxxx upwards. */
const contactNumber = (i: number): string => `+1212${String(2_000_000 + i).padStart(7, '0')}`;
const READ_TOOLS = new Set(['is_office_open', 'lookup_contact', 'check_user_availability']);

const READS: MixEntry[] = [
  { tool: 'is_office_open', weight: 1, arguments: () => ({}) },
  // Half the look-ups find a contact, half (the caller's own number) find none.
  { tool: 'lookup_contact', weight: 1, arguments: (call, n) => ({ phone_number: n % 2 ? contactNumber((n * 7919 + call.callId.length * 104_729) % CONTACTS) : call.caller }) },
  { tool: 'check_user_availability', weight: 1, arguments: (_call, n) => ({ user_id: n % 2 ? 'u-100' : 'u-101' }) },
];
// Every intent sent is a text of its own, so the lead check can tell which write a case holds.
let intents = 0;
const WITH_LEADS: MixEntry[] = [...READS, { tool: 'create_lead', weight: 1, arguments: (call) => ({ name: `Caller ${call.callId}`, intent: `${call.callId} intent ${++intents}` }) }];

// ---------------------------------------------------------------------------------------------
// Servers

interface Keys {
  mcpKey: string;
  adminKey: string;
}

const COMMON_ARGS = [
  '--personas', EXAMPLE_PERSONAS,
  '--log-format', 'json',
  // The load is not what the limits are about: no rate limit, room for every session, none closed meanwhile.
  '--rate-limit', '0',
  // Concurrent first requests with a key a node has not verified yet each count as a failure until it verifies.
  '--auth-failure-limit', '0',
  '--max-sessions', '100000',
  '--max-sessions-per-account', '100000',
  '--max-sessions-per-key', '100000',
  '--session-idle-seconds', '3600',
  '--session-unused-seconds', '3600',
];

async function createKeys(where: string[]): Promise<Keys> {
  const create = async (role: 'mcp' | 'admin') => {
    const created = await runCliProcess(['keys', 'create', '--account', 'acme', '--role', role, '--json', ...where, '--personas', EXAMPLE_PERSONAS]);
    if (created.code !== 0) throw new Error(`keys create: ${created.stderr}`);
    return (JSON.parse(created.stdout) as { key: string }).key;
  };
  return { mcpKey: await create('mcp'), adminKey: await create('admin') };
}

/** 10,000 contacts of acme, created through the admin API (the CLI's import writes only a SQLite file). */
async function createContacts(base: string, adminKey: string): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < CONTACTS) {
        const i = next++;
        const response = await fetch(new URL('/ucp/v2/accounts/acme/contacts', base), {
          method: 'POST',
          headers: { 'x-api-key': adminKey, 'content-type': 'application/json' },
          body: JSON.stringify({ name: `Contact ${i}`, company: 'Example Co', phone_numbers: [{ number: contactNumber(i), label: 'work' }] }),
        });
        const body = await response.text();
        if (response.status !== 201 && response.status !== 200) throw new Error(`creating contact ${i} answered ${response.status}: ${body.slice(0, 300)}`);
      }
    }),
  );
}

interface SqliteServer extends Keys {
  serve: ServeProcess;
  file: string;
  close(): Promise<void>;
}

async function startSqliteServer(env: NodeJS.ProcessEnv = {}): Promise<SqliteServer> {
  const root = tempDir('bench-store');
  const data = path.join(root, 'data');
  const keys = await createKeys(['--data', data]);
  const serve = await startServe([...COMMON_ARGS, '--data', data], env);
  await createContacts(serve.url, keys.adminKey).catch(async (error: unknown) => {
    await serve.stop();
    throw error;
  });
  return {
    ...keys,
    serve,
    file: path.join(data, 'switchboard.db'),
    close: async () => {
      await serve.stop();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Warnings and errors a server logged (JSON lines of level 40 and up), to print beside the figures. */
function logProblems(serve: ServeProcess): { count: number; first: string[] } {
  const problems = serve
    .output()
    .split('\n')
    .filter((line) => {
      try {
        return (JSON.parse(line) as { level?: number }).level! >= 40;
      } catch {
        return false;
      }
    });
  return { count: problems.length, first: problems.slice(0, 3).map((line) => line.slice(0, 300)) };
}

function reportLog(name: string, serve: ServeProcess): void {
  const { count, first } = logProblems(serve);
  if (count) console.log(`${name} logged ${count} warnings or errors; the first:\n  ${first.join('\n  ')}`);
}

// ---------------------------------------------------------------------------------------------
// Figures

interface PhaseFigures {
  overall: LatencyFigures;
  byTool: Record<string, LatencyFigures>;
  /** CPU time (user + system, every thread) the server processes spent per tool call: what the machine's other work cannot bend. */
  serverCpuMsPerCall: number;
  /** The machine's load average over the last minute at the end of the phase (it is shared). */
  load1: number;
}

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU time a process has used so far, in ms (Linux /proc). */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** An open-loop run, its latencies, and the CPU the servers (by pid) spent on it. */
async function measuredRun(servers: readonly ServeProcess[], options: OpenLoopOptions): Promise<PhaseFigures> {
  const cpuOf = () => servers.reduce((sum, server) => sum + cpuMs(server.child.pid), 0);
  const before = cpuOf();
  const run = await runOpenLoop(options);
  const spent = cpuOf() - before;
  const tools = [...new Set(run.samples.map((sample) => sample.tool))];
  return {
    overall: latencyFigures(run.samples),
    byTool: Object.fromEntries(tools.map((tool) => [tool, latencyFigures(run.samples, (sample) => sample.tool === tool)])),
    serverCpuMsPerCall: spent / run.samples.length,
    load1: Number(os.loadavg()[0]!.toFixed(2)),
  };
}

const errorsOf = (figures: LatencyFigures) => (figures.errors ? `, ${figures.errors} errors (${figures.firstError?.slice(0, 80)})` : '');

// ---------------------------------------------------------------------------------------------
// sqlite: latency on one node

interface SqliteRound {
  withLeads: PhaseFigures;
  readsOnly: PhaseFigures;
}

async function sqliteLatency(server: SqliteServer, calls: LiveCall[]): Promise<SqliteRound[]> {
  const url = new URL(MCP_PATH, server.serve.url);
  const rounds: SqliteRound[] = [];
  // Warm-up: compiled code, caches, the contact index in the page cache.
  await runOpenLoop({ url, calls, mix: WITH_LEADS, rate: RATE, seconds: 3, seed: 1 });
  for (let round = 0; round < ROUNDS; round += 1) {
    const withLeads = await measuredRun([server.serve], { url, calls, mix: WITH_LEADS, rate: RATE, seconds: SECONDS, seed: 10 + round });
    const readsOnly = await measuredRun([server.serve], { url, calls, mix: READS, rate: RATE, seconds: SECONDS, seed: 20 + round });
    rounds.push({ withLeads, readsOnly });
    console.log(
      `sqlite round ${round + 1}: with create_lead ${spread(withLeads.overall)} ms${errorsOf(withLeads.overall)}, ${ms(withLeads.serverCpuMsPerCall, 2)} ms CPU a call (load ${withLeads.load1}); ` +
        `reads only ${spread(readsOnly.overall)} ms${errorsOf(readsOnly.overall)}, ${ms(readsOnly.serverCpuMsPerCall, 2)} ms CPU a call (load ${readsOnly.load1})`,
    );
  }
  return rounds;
}

// ---------------------------------------------------------------------------------------------
// lock: another process holds the write lock for 10 s under the same load

interface Probe {
  path: '/healthz' | '/readyz';
  atMs: number;
  status: number;
  ms: number;
}

interface LockFigures {
  mix: 'with create_lead' | 'reads only';
  lockedForMs: number;
  /** Reads due in the seconds before the lock was taken (the first 2 s left out). */
  readsBefore: LatencyFigures;
  /** Reads due while the lock was held. */
  readsDuring: LatencyFigures;
  /** Reads due after it was released. */
  readsAfter: LatencyFigures;
  health: Record<'/healthz' | '/readyz', { before: { count: number; maxMs: number; statuses: number[] }; during: { count: number; maxMs: number; statuses: number[] } }>;
  writes?: {
    /** create_lead calls due while the lock was held. */
    dueDuring: number;
    /** Sent after the lock was taken and acknowledged before it was released: each would be a write acknowledged before it committed. */
    acknowledgedWhileLocked: number;
    /** Of those due during the lock: acknowledged after its release, and failed (with the first message). */
    acknowledgedAfter: number;
    failed: number;
    firstError?: string;
    /** Longest time from due to answer of a write due during the lock. */
    maxMs: number;
    /** Every acknowledged create_lead of the run checked in the file after it: the call's case holds that intent or a later one sent. */
    acknowledgedChecked: number;
    missing: number;
  };
}

/**
 * Every acknowledged create_lead is in the file. A call has one case, which
 * each create_lead of the call updates, and calls in flight together on one
 * call may be carried out in any order; but one answered before another was
 * sent was carried out before it. So the case must hold the intent of the
 * call's acknowledged create_lead answered last, or of one still in flight
 * when that one was sent; an intent of an earlier one means a write was lost.
 */
function checkLeads(file: string, samples: readonly Sample[]): { checked: number; missing: number } {
  const byCall = new Map<string, Sample[]>();
  for (const sample of samples) if (sample.tool === 'create_lead') (byCall.get(sample.callId) ?? byCall.set(sample.callId, []).get(sample.callId))!.push(sample);
  const db = new BetterSqlite3(file, { readonly: true });
  let checked = 0;
  let missing = 0;
  try {
    const caseOf = db.prepare<[string], { id: string; intent: string }>(`SELECT id, intent FROM lead_cases WHERE account_id = 'acme' AND call_id = ?`);
    for (const [callId, attempts] of byCall) {
      const acknowledged = attempts.filter((attempt) => attempt.ok).sort((a, b) => a.answeredMs - b.answeredMs);
      const last = acknowledged.at(-1);
      if (!last) continue;
      checked += 1;
      const row = caseOf.get(callId);
      const candidates = attempts.filter((attempt) => attempt === last || attempt.answeredMs > last.sentMs).map((attempt) => attempt.arguments.intent);
      if (!row || row.id !== last.structuredContent?.case_id || !candidates.includes(row.intent)) missing += 1;
    }
  } finally {
    db.close();
  }
  return { checked, missing };
}

async function heldLock(server: SqliteServer, calls: LiveCall[], mix: MixEntry[], label: LockFigures['mix']): Promise<LockFigures> {
  const url = new URL(MCP_PATH, server.serve.url);
  const probes: Probe[] = [];
  let origin = 0;
  let lockedAt = Infinity;
  let releasedAt = Infinity;
  let polling = true;
  const poll = async (probePath: Probe['path']) => {
    while (polling) {
      const started = performance.now();
      const status = await fetch(new URL(probePath, server.serve.url), { signal: AbortSignal.timeout(30_000) }).then(
        async (response) => (await response.arrayBuffer(), response.status),
        () => 0,
      );
      probes.push({ path: probePath, atMs: started - origin, status, ms: performance.now() - started });
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };
  let lock: Promise<void> = Promise.resolve();
  let pollers: Promise<void>[] = [];
  const acknowledgedWhileLocked: Sample[] = [];
  const run = await runOpenLoop({
    url,
    calls,
    mix,
    rate: RATE,
    seconds: LOCK_AT_S + LOCK_FOR_S + LOCK_AFTER_S,
    seed: label === 'reads only' ? 30 : 31,
    onStart: (at) => {
      origin = at;
      pollers = [poll('/healthz'), poll('/readyz')];
      lock = (async () => {
        await new Promise((resolve) => setTimeout(resolve, LOCK_AT_S * 1000));
        const holder = await holdWriteLock(server.file);
        lockedAt = holder.lockedAt - origin;
        await new Promise((resolve) => setTimeout(resolve, LOCK_FOR_S * 1000));
        releasedAt = (await holder.release()) - origin;
      })();
    },
    onSample: (sample) => {
      // Sent after the lock was held and answered before it was released: the server had it only while nothing could commit.
      if (sample.tool === 'create_lead' && sample.ok && sample.sentMs > lockedAt && sample.answeredMs < releasedAt) acknowledgedWhileLocked.push(sample);
    },
  });
  await lock;
  polling = false;
  await Promise.all(pollers);

  const isRead = (sample: Sample) => READ_TOOLS.has(sample.tool);
  const during = (at: number) => at >= lockedAt && at < releasedAt;
  const healthOf = (probePath: Probe['path'], when: (at: number) => boolean) => {
    const kept = probes.filter((probe) => probe.path === probePath && when(probe.atMs));
    return { count: kept.length, maxMs: Math.max(0, ...kept.map((probe) => probe.ms)), statuses: [...new Set(kept.map((probe) => probe.status))] };
  };
  const before = (at: number) => at >= 2000 && at < lockedAt;
  const figures: LockFigures = {
    mix: label,
    lockedForMs: releasedAt - lockedAt,
    readsBefore: latencyFigures(run.samples, (sample) => isRead(sample) && before(sample.dueMs)),
    readsDuring: latencyFigures(run.samples, (sample) => isRead(sample) && during(sample.dueMs)),
    readsAfter: latencyFigures(run.samples, (sample) => isRead(sample) && sample.dueMs >= releasedAt),
    health: {
      '/healthz': { before: healthOf('/healthz', before), during: healthOf('/healthz', during) },
      '/readyz': { before: healthOf('/readyz', before), during: healthOf('/readyz', during) },
    },
  };
  if (mix.some((entry) => entry.tool === 'create_lead')) {
    const writes = run.samples.filter((sample) => sample.tool === 'create_lead' && during(sample.dueMs));
    const failed = writes.filter((sample) => !sample.ok);
    const { checked, missing } = checkLeads(server.file, run.samples);
    figures.writes = {
      dueDuring: writes.length,
      acknowledgedWhileLocked: acknowledgedWhileLocked.length,
      acknowledgedAfter: writes.filter((sample) => sample.ok && sample.answeredMs >= releasedAt).length,
      failed: failed.length,
      ...(failed[0]?.error ? { firstError: failed[0].error } : {}),
      maxMs: Math.max(0, ...writes.map((sample) => sample.answeredMs - sample.dueMs)),
      acknowledgedChecked: checked,
      missing,
    };
  }
  console.log(
    `lock (${label}): reads p99 before ${ms(figures.readsBefore.p99Ms)} ms, during ${ms(figures.readsDuring.p99Ms)} ms (max ${ms(figures.readsDuring.maxMs)})` +
      (figures.writes ? `; writes due during: ${figures.writes.dueDuring}, acknowledged while locked ${figures.writes.acknowledgedWhileLocked}, after ${figures.writes.acknowledgedAfter}, failed ${figures.writes.failed}, missing ${figures.writes.missing}` : ''),
  );
  return figures;
}

// ---------------------------------------------------------------------------------------------
// memory per live call

interface MemoryResult {
  calls: number;
  /** After start (and the contacts made through the admin API), before any call. */
  empty: MemoryFigures;
  /** With `calls` live calls. */
  full: MemoryFigures;
  /** With twice as many. */
  double: MemoryFigures;
  /** The first `calls` calls, with what their first use compiles and caches: an upper bound. */
  rssKiBPerCall: number;
  heapKiBPerCall: number;
  /** The next `calls` calls. */
  nextRssKiBPerCall: number;
  nextHeapKiBPerCall: number;
}

async function memoryPerCall(): Promise<MemoryResult> {
  const server = await startSqliteServer({ NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --inspect=127.0.0.1:0`.trim() });
  const inspector = await Inspector.connect(inspectorUrl(server.serve.output()));
  try {
    const base = server.serve.url;
    const settled = async () => {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return inspector.settledMemory();
    };
    const empty = await settled();
    await openLiveCalls({ base, ...server, count: CALLS, batch: 91 });
    const full = await settled();
    await openLiveCalls({ base, ...server, count: CALLS, batch: 92 });
    const double = await settled();
    const perCall = (from: MemoryFigures, to: MemoryFigures, key: 'rss' | 'heapUsed') => (to[key] - from[key]) / CALLS / 1024;
    const result: MemoryResult = {
      calls: CALLS,
      empty,
      full,
      double,
      rssKiBPerCall: perCall(empty, full, 'rss'),
      heapKiBPerCall: perCall(empty, full, 'heapUsed'),
      nextRssKiBPerCall: perCall(full, double, 'rss'),
      nextHeapKiBPerCall: perCall(full, double, 'heapUsed'),
    };
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    console.log(
      `memory: RSS ${mib(empty.rss)} MiB with 0 calls, ${mib(full.rss)} MiB with ${CALLS}, ${mib(double.rss)} MiB with ${2 * CALLS}: ` +
        `${result.rssKiBPerCall.toFixed(1)} KiB a call for the first ${CALLS} (heap ${result.heapKiBPerCall.toFixed(1)} KiB), ${result.nextRssKiBPerCall.toFixed(1)} KiB for the next (heap ${result.nextHeapKiBPerCall.toFixed(1)} KiB)`,
    );
    return result;
  } finally {
    inspector.close();
    await server.close();
  }
}

// ---------------------------------------------------------------------------------------------
// postgres: one node and two behind nginx

interface Cluster extends Keys {
  a: ServeProcess;
  b: ServeProcess;
  close(): Promise<void>;
}

async function startCluster(): Promise<Cluster> {
  const serverUrl = values.database ?? execFileSync('bash', [path.join(REPO_ROOT, '.ci/postgres.sh'), 'start'], { encoding: 'utf8' }).trim();
  process.env.SWITCHBOARD_TEST_DATABASE_URL = serverUrl;
  const database = await freshDatabase();
  const root = tempDir('bench-cluster');
  const keys = await createKeys(['--database', database.url]);
  const node = (name: string) => startServe([...COMMON_ARGS, '--node-name', name, '--database', database.url, '--data', path.join(root, name)]);
  const [a, b] = await Promise.all([node('node-a'), node('node-b')]);
  const close = async () => {
    await Promise.all([a.stop(), b.stop()]);
    await database.drop();
    fs.rmSync(root, { recursive: true, force: true });
  };
  await createContacts(a.url, keys.adminKey).catch(async (error: unknown) => {
    await close();
    throw error;
  });
  return { ...keys, a, b, close };
}

interface ClusterPhase {
  nodes: 1 | 2;
  /** Sessions per node, by the node name their ids start with. */
  sessionsByNode: Record<string, number>;
  latency: PhaseFigures;
  throughput: ThroughputFigures;
}

async function clusterPhase(cluster: Cluster, nginx: RunningNginx, nodes: 1 | 2, batch: number, warm: boolean): Promise<ClusterPhase> {
  const calls = await openLiveCalls({ base: nginx.url, ...cluster, count: CALLS, batch });
  try {
    const url = new URL(MCP_PATH, nginx.url);
    if (warm) await runOpenLoop({ url, calls, mix: WITH_LEADS, rate: RATE, seconds: 3, seed: 2 });
    const latency = await measuredRun(nodes === 1 ? [cluster.a] : [cluster.a, cluster.b], { url, calls, mix: WITH_LEADS, rate: RATE, seconds: SECONDS, seed: 40 + batch });
    const throughput = await runClosedLoop({ url, calls, mix: WITH_LEADS, clients: THROUGHPUT_CLIENTS, seconds: THROUGHPUT_SECONDS, seed: 50 + batch });
    const sessionsByNode: Record<string, number> = {};
    for (const call of calls) {
      const name = call.sessionId.split('.')[0] as string;
      sessionsByNode[name] = (sessionsByNode[name] ?? 0) + 1;
    }
    console.log(`postgres, ${nodes} node${nodes === 1 ? '' : 's'}: ${RATE}/s ${spread(latency.overall)} ms${errorsOf(latency.overall)}, ${ms(latency.serverCpuMsPerCall, 2)} ms CPU a call (load ${latency.load1}); ${throughput.callsPerSecond.toFixed(0)} calls/s with ${throughput.clients} clients (p99 ${ms(throughput.p99Ms)} ms${throughput.errors ? `, ${throughput.errors} errors: ${throughput.firstError}` : ''})`);
    return { nodes, sessionsByNode, latency, throughput };
  } finally {
    await endLiveCalls(nginx.url, cluster.adminKey, calls);
  }
}

interface PostgresResult {
  rounds: ClusterPhase[][];
  /** Calls/s of two nodes over one, per round (the two phases of a round run back to back, so the machine's other work weighs on both alike). */
  throughputRatios: number[];
  /** The median of the rounds' ratios. */
  throughputRatio: number;
}

async function postgresNodes(cluster: Cluster): Promise<PostgresResult> {
  const one = await startNginx([{ name: 'node-a', url: cluster.a.url }]);
  const two = await startNginx([
    { name: 'node-a', url: cluster.a.url },
    { name: 'node-b', url: cluster.b.url },
  ]);
  try {
    const rounds: ClusterPhase[][] = [];
    let batch = 100;
    for (let round = 0; round < ROUNDS; round += 1) {
      rounds.push([await clusterPhase(cluster, one, 1, batch++, round === 0), await clusterPhase(cluster, two, 2, batch++, false)]);
    }
    const rate = (phases: ClusterPhase[], nodes: 1 | 2) => phases.find((phase) => phase.nodes === nodes)!.throughput.callsPerSecond;
    const throughputRatios = rounds.map((phases) => rate(phases, 2) / rate(phases, 1));
    const sorted = [...throughputRatios].sort((x, y) => x - y);
    const middle = (sorted.length - 1) / 2;
    return { rounds, throughputRatios, throughputRatio: ((sorted[Math.floor(middle)] as number) + (sorted[Math.ceil(middle)] as number)) / 2 };
  } finally {
    await one.stop();
    await two.stop();
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const results: Record<string, unknown> = {
    measuredAt: new Date().toISOString(),
    machine: { node: process.version, cpus: os.cpus().length, load: os.loadavg().map((value) => Number(value.toFixed(2))), nice: os.getPriority() },
    load: { calls: CALLS, rate: RATE, secondsPerPhase: SECONDS, rounds: ROUNDS, contacts: CONTACTS, mix: WITH_LEADS.map((entry) => `${entry.tool} x${entry.weight}`) },
  };
  const rows: string[][] = [['figure', 'value', 'target']];

  if (only.has('sqlite') || only.has('lock')) {
    const server = await startSqliteServer();
    try {
      const calls = await openLiveCalls({ base: server.serve.url, ...server, count: CALLS, batch: 1 });
      if (only.has('sqlite')) {
        const rounds = await sqliteLatency(server, calls);
        results.sqlite = rounds;
        for (const [index, round] of rounds.entries()) {
          rows.push([`sqlite, ${CALLS} calls, ${RATE}/s with create_lead (round ${index + 1}): p50 / p99 / p99.9 / max; server CPU a call`, `${spread(round.withLeads.overall)} ms${errorsOf(round.withLeads.overall)}; ${ms(round.withLeads.serverCpuMsPerCall, 2)} ms`, 'p99 < 10, p99.9 < 25']);
          rows.push([`  create_lead alone`, `${spread(round.withLeads.byTool.create_lead!)} ms`, '']);
          rows.push([`sqlite, reads only (round ${index + 1})`, `${spread(round.readsOnly.overall)} ms${errorsOf(round.readsOnly.overall)}; ${ms(round.readsOnly.serverCpuMsPerCall, 2)} ms`, '']);
        }
      }
      if (only.has('lock')) {
        const lock = [await heldLock(server, calls, READS, 'reads only'), await heldLock(server, calls, WITH_LEADS, 'with create_lead')];
        results.lock = lock;
        for (const figures of lock) {
          rows.push([`write lock held ${(figures.lockedForMs / 1000).toFixed(1)} s (${figures.mix}): reads p99 before / during, max during`, `${ms(figures.readsBefore.p99Ms)} / ${ms(figures.readsDuring.p99Ms)} ms, ${ms(figures.readsDuring.maxMs)} ms${errorsOf(figures.readsDuring)}`, 'p99 unchanged']);
          const health = figures.health;
          rows.push([`  /healthz, /readyz during the lock: statuses, slowest`, `${health['/healthz'].during.statuses.join(',')} ${ms(health['/healthz'].during.maxMs)} ms; ${health['/readyz'].during.statuses.join(',')} ${ms(health['/readyz'].during.maxMs)} ms`, '']);
          if (figures.writes) {
            const writes = figures.writes;
            rows.push([`  create_lead due during the lock`, `${writes.dueDuring}: ${writes.acknowledgedAfter} acknowledged after the release, ${writes.failed} failed, ${writes.acknowledgedWhileLocked} acknowledged while locked; slowest ${ms(writes.maxMs)} ms`, '0 acknowledged while locked']);
            rows.push([`  acknowledged create_lead found in the file`, `${writes.acknowledgedChecked - writes.missing} of ${writes.acknowledgedChecked}`, 'all']);
            if (writes.firstError) rows.push(['  first failed write', writes.firstError.slice(0, 160), '']);
          }
        }
      }
      await endLiveCalls(server.serve.url, server.adminKey, calls);
      reportLog('the SQLite server', server.serve);
    } finally {
      await server.close();
    }
  }

  if (only.has('memory')) {
    const memory = await memoryPerCall();
    results.memory = memory;
    rows.push([`RSS per live call, the first ${memory.calls} / the next ${memory.calls} (heap)`, `${memory.rssKiBPerCall.toFixed(1)} / ${memory.nextRssKiBPerCall.toFixed(1)} KiB (${memory.heapKiBPerCall.toFixed(1)} / ${memory.nextHeapKiBPerCall.toFixed(1)} KiB)`, '<= 40 KiB']);
  }

  if (only.has('postgres') || only.has('crossing')) {
    const cluster = await startCluster();
    try {
      if (only.has('postgres')) {
        const postgres = await postgresNodes(cluster);
        results.postgres = postgres;
        for (const [index, phases] of postgres.rounds.entries()) {
          for (const phase of phases) {
            rows.push([
              `postgres, ${phase.nodes} node${phase.nodes === 1 ? '' : 's'} behind nginx (round ${index + 1}): ${RATE}/s p50 / p99 / p99.9 / max; calls/s with ${phase.throughput.clients} clients`,
              `${spread(phase.latency.overall)} ms${errorsOf(phase.latency.overall)}; ${phase.throughput.callsPerSecond.toFixed(0)}/s; nodes' CPU ${ms(phase.latency.serverCpuMsPerCall, 2)} ms a call`,
              '',
            ]);
          }
        }
        rows.push(['postgres, calls/s of two nodes / one, per round (median)', `${postgres.throughputRatios.map((ratio) => ratio.toFixed(2)).join(', ')} (${postgres.throughputRatio.toFixed(2)})`, '']);
      }
      if (only.has('crossing')) {
        const crossing: CrossingFigures[] = [
          await measureCrossing({ asked: cluster.a, stream: cluster.b, ...cluster, transfers: CROSSINGS, label: 'across' }),
          await measureCrossing({ asked: cluster.a, stream: cluster.a, ...cluster, transfers: CROSSINGS, label: 'same' }),
        ];
        results.crossing = crossing;
        for (const figures of crossing) {
          rows.push([
            `transfer, stream on ${figures.label === 'across' ? 'the other node' : 'the same node'}: command on the stream / outcome back to the tool / whole call, p50 | p99`,
            `${ms(figures.command.p50Ms)} | ${ms(figures.command.p99Ms)}; ${ms(figures.outcome.p50Ms)} | ${ms(figures.outcome.p99Ms)}; ${ms(figures.tool.p50Ms)} | ${ms(figures.tool.p99Ms)} ms${figures.errors ? `, ${figures.errors} errors (${figures.firstError})` : ''}`,
            '',
          ]);
        }
      }
      reportLog('node A', cluster.a);
      reportLog('node B', cluster.b);
    } finally {
      await cluster.close();
    }
  }

  fs.writeFileSync(OUT, `${JSON.stringify(results, null, 2)}\n`);
  console.log('');
  printTable(rows);
  console.log(`\nwritten to ${path.relative(process.cwd(), OUT)}`);
}

await main();
