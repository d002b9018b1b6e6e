/**
 * Benchmark (not a test): how long a transfer takes to reach the phone
 * system, per call-control driver.
 *
 *   npx tsx tests/bench/transfer.ts [--transfers 300] [--concurrency 20] [--drivers events,ari] [--quick] [--json]
 *
 * For each driver (transfer-drivers.ts has the rigs) a fake phone system and
 * a Switchboard run in this process; each call gets its caller's leg in the
 * fake and one official MCP client (v2, 2025 sessions). The clock starts just
 * before `callTool({name: 'transfer_call'})` and the arrival is when the fake
 * records the command that carries the transfer out; the tool call's own
 * time, until the agent has its answer, is the second figure. Transfers run
 * one after another, then with `--concurrency` calls at once (each worker
 * connects a call and transfers it, over and over). Connecting a client is
 * not timed. Client, server and fake share one event loop and one machine,
 * so the figures include their contention, not any network.
 */
import { parseArgs } from 'node:util';

import { callHeaders, connect, textOf } from '../helpers/server.ts';
import { percentile, printTable } from './stats.ts';
import { DRIVER_NAMES, startRig, TRANSFER_ARGUMENTS, type DriverName, type TransferRig } from './transfer-drivers.ts';

export interface Spread {
  p50Ms: number;
  p99Ms: number;
}

export interface TransferPhase {
  transfers: number;
  /** Transfers that did not succeed or whose command the fake never saw; their first reason. */
  errors: number;
  firstError?: string;
  /** callTool -> the fake received the command. */
  arrival: Spread;
  /** callTool -> the tool's answer at the client. */
  toolCall: Spread;
}

export interface TransferFigures {
  transfers: number;
  concurrency: number;
  drivers: Partial<Record<DriverName, { command: string; sequential: TransferPhase; concurrent?: TransferPhase }>>;
}

export interface TransferOptions {
  /** Transfers per driver and phase (default 300). */
  transfers?: number;
  /** Calls at once in the second phase; 0 or 1 skips it (default 20). */
  concurrency?: number;
  drivers?: readonly DriverName[];
  /** Untimed transfers first, per driver (default 20). */
  warmup?: number;
}

type Sample = { arrivalMs: number; toolMs: number } | { error: string };

async function transferOnce(rig: TransferRig, key: string): Promise<Sample> {
  const callId = rig.newCall();
  const client = await connect(rig.server, callHeaders({ key, account: 'acme', persona: 'desk', call: callId, caller: '+12125550199' }));
  try {
    const started = performance.now();
    const result = await client.callTool({ name: 'transfer_call', arguments: TRANSFER_ARGUMENTS });
    const answered = performance.now();
    const arrived = rig.arrivedAt(callId, result);
    if (result.isError) return { error: textOf(result) };
    if (arrived === undefined) return { error: `the fake saw no ${rig.command}` };
    return { arrivalMs: arrived - started, toolMs: answered - started };
  } catch (problem) {
    return { error: problem instanceof Error ? problem.message : String(problem) };
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** `total` transfers by `workers` workers, each transferring one call after another. */
async function runPhase(rig: TransferRig, key: string, total: number, workers: number): Promise<TransferPhase> {
  const samples: Sample[] = [];
  let started = 0;
  await Promise.all(
    Array.from({ length: Math.min(workers, total) }, async () => {
      while (started < total) {
        started += 1;
        samples.push(await transferOnce(rig, key));
      }
    }),
  );
  const ok = samples.filter((sample): sample is Extract<Sample, { arrivalMs: number }> => 'arrivalMs' in sample);
  const failures = samples.filter((sample): sample is Extract<Sample, { error: string }> => 'error' in sample);
  const spread = (values: number[]): Spread => ({ p50Ms: percentile(values, 50), p99Ms: percentile(values, 99) });
  return {
    transfers: total,
    errors: failures.length,
    ...(failures[0] ? { firstError: failures[0].error } : {}),
    arrival: spread(ok.map((sample) => sample.arrivalMs)),
    toolCall: spread(ok.map((sample) => sample.toolMs)),
  };
}

export async function measureTransfers(options: TransferOptions = {}): Promise<TransferFigures> {
  const transfers = options.transfers ?? 300;
  const concurrency = options.concurrency ?? 20;
  const figures: TransferFigures = { transfers, concurrency, drivers: {} };
  for (const driver of options.drivers ?? DRIVER_NAMES) {
    const rig = await startRig(driver);
    try {
      const key = await rig.server.key('acme');
      await runPhase(rig, key, options.warmup ?? 20, 1);
      const sequential = await runPhase(rig, key, transfers, 1);
      const concurrent = concurrency > 1 ? await runPhase(rig, key, transfers, concurrency) : undefined;
      figures.drivers[driver] = { command: rig.command, sequential, ...(concurrent ? { concurrent } : {}) };
    } finally {
      await rig.close();
    }
  }
  return figures;
}

const ms = (value: number) => value.toFixed(2);
const pair = (spread: Spread) => `${ms(spread.p50Ms)} / ${ms(spread.p99Ms)}`;

/** The figures as a table: arrival and tool-call p50 / p99 per driver, one after another and concurrently. */
export function printTransferTable(figures: TransferFigures): void {
  const concurrent = figures.concurrency > 1;
  printTable([
    ['driver', 'arrival p50 / p99 ms', 'tool call p50 / p99 ms', ...(concurrent ? [`${figures.concurrency} at once: arrival`, 'tool call'] : []), 'errors', 'command timed'],
    ...Object.entries(figures.drivers).map(([driver, entry]) => [
      driver,
      pair(entry.sequential.arrival),
      pair(entry.sequential.toolCall),
      ...(entry.concurrent ? [pair(entry.concurrent.arrival), pair(entry.concurrent.toolCall)] : []),
      String(entry.sequential.errors + (entry.concurrent?.errors ?? 0)),
      entry.command,
    ]),
  ]);
  for (const [driver, entry] of Object.entries(figures.drivers)) {
    const reason = entry.sequential.firstError ?? entry.concurrent?.firstError;
    if (reason) console.log(`${driver}: first error: ${reason}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { transfers: { type: 'string' }, concurrency: { type: 'string' }, drivers: { type: 'string' }, quick: { type: 'boolean' }, json: { type: 'boolean' } } });
  const drivers = values.drivers?.split(',').map((name) => name.trim()) ?? [...DRIVER_NAMES];
  const unknown = drivers.filter((name) => !(DRIVER_NAMES as readonly string[]).includes(name));
  if (unknown.length) throw new Error(`unknown driver ${unknown.join(', ')}; the drivers are ${DRIVER_NAMES.join(', ')}`);
  const figures = await measureTransfers({
    transfers: Number(values.transfers ?? (values.quick ? 60 : 300)),
    concurrency: Number(values.concurrency ?? 20),
    drivers: drivers as DriverName[],
  });
  if (values.json) console.log(JSON.stringify(figures));
  else {
    console.log(`${figures.transfers} transfers per driver, one after another and ${figures.concurrency} at once; times from just before callTool('transfer_call')\n`);
    printTransferTable(figures);
  }
}
