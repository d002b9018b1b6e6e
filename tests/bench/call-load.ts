/**
 * Tool calls over live calls' 2025-era sessions, in a mix of tools, two ways.
 *
 * Open loop (latency): calls are due on a clock (`rate` a second, evenly
 * spaced) and go out when due whether or not earlier ones were answered. A
 * call's latency is counted from the moment it was due, not from when it
 * went out, so a server that stalls (or a generator that falls behind) shows
 * in the figures instead of quietly slowing the load down: the coordinated
 * omission of closed-loop generators, whose clients wait for an answer
 * before asking again, is avoided.
 *
 * Closed loop (throughput): `clients` workers each send the next call as
 * soon as the last one is answered; the figure is calls answered a second.
 *
 * The tools follow the mix in a fixed rotation by weight, and the calls are
 * picked by a seeded generator, so two runs send the same sequence.
 */
import type http from 'node:http';

import { random } from '../helpers/random.ts';
import { createAgent, LEGACY_VERSION, rpcResult, send } from './load.ts';
import type { LiveCall } from './live-calls.ts';
import { percentile } from './stats.ts';

export interface MixEntry {
  tool: string;
  /** Calls of this tool per rotation of the mix. */
  weight: number;
  /** The n-th call's arguments on `call`. */
  arguments: (call: LiveCall, n: number) => Record<string, unknown>;
}

export interface Sample {
  tool: string;
  callId: string;
  arguments: Record<string, unknown>;
  /** When the call was due, in ms from the start of the run. */
  dueMs: number;
  /** When it went out, in ms from the start of the run (later than due when the generator fell behind). */
  sentMs: number;
  /** When the answer was read, in ms from the start of the run. */
  answeredMs: number;
  ok: boolean;
  /** The tool's text when it failed (isError, a JSON-RPC error, a status other than 200, a broken connection). */
  error?: string;
  structuredContent?: Record<string, unknown>;
}

export interface OpenLoopRun {
  samples: Sample[];
  /** performance.now() at the start of the run: dueMs and the others count from it. */
  origin: number;
  rate: number;
  seconds: number;
}

export interface OpenLoopOptions {
  url: URL;
  calls: readonly LiveCall[];
  mix: readonly MixEntry[];
  /** Tool calls a second. */
  rate: number;
  seconds: number;
  seed?: number;
  /** Told of each answer as it comes (the held-lock run watches for writes acknowledged while the lock is held). */
  onSample?: (sample: Sample) => void;
  /** Set by the caller at the start, to schedule things against the run's clock. */
  onStart?: (origin: number) => void;
}

const textOf = (content: { type: string; text?: string }[] | undefined): string => (content ?? []).map((part) => part.text ?? '').join(' ');

/** One tools/call on a live call's session; never throws. */
async function callTool(agent: http.Agent, url: URL, call: LiveCall, tool: string, args: Record<string, unknown>, id: number): Promise<Pick<Sample, 'ok' | 'error' | 'structuredContent'>> {
  try {
    const answer = await send(agent, url, { ...call.headers, 'mcp-session-id': call.sessionId, 'mcp-protocol-version': LEGACY_VERSION }, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool, arguments: args } });
    const rpc = rpcResult(answer);
    if (answer.status !== 200 || !rpc) return { ok: false, error: `HTTP ${answer.status}: ${answer.body.slice(0, 200)}` };
    if (rpc.error) return { ok: false, error: `JSON-RPC ${rpc.error.code}: ${rpc.error.message}` };
    if (rpc.result?.isError) return { ok: false, error: textOf(rpc.result.content), ...(rpc.result.structuredContent ? { structuredContent: rpc.result.structuredContent } : {}) };
    return { ok: true, ...(rpc.result?.structuredContent ? { structuredContent: rpc.result.structuredContent } : {}) };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

/** The tool of each position in one rotation of the mix, spread out rather than in runs. */
function rotation(mix: readonly MixEntry[]): MixEntry[] {
  const total = mix.reduce((sum, entry) => sum + entry.weight, 0);
  const order: { entry: MixEntry; at: number }[] = [];
  for (const entry of mix) for (let k = 0; k < entry.weight; k += 1) order.push({ entry, at: (k + 0.5) / entry.weight });
  return order.sort((a, b) => a.at - b.at).map((item) => item.entry).slice(0, total);
}

export async function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopRun> {
  const { url, calls, rate, seconds } = options;
  const order = rotation(options.mix);
  const rng = random(options.seed ?? 16);
  // No cap on sockets: a stalled server must not hold later calls back in the client's queue.
  const agent = createAgent(Infinity);
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const samples: Sample[] = [];
  const inFlight = new Set<Promise<void>>();
  const perCall = new Map<string, number>();
  const origin = performance.now();
  options.onStart?.(origin);

  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now() - origin;
      while (next < total && next * interval <= now) {
        const dueMs = next * interval;
        const entry = order[next % order.length] as MixEntry;
        const call = calls[rng.int(calls.length)] as LiveCall;
        const n = (perCall.get(call.callId) ?? 0) + 1;
        perCall.set(call.callId, n);
        const args = entry.arguments(call, n);
        const sentMs = performance.now() - origin;
        const id = next + 1;
        const done = callTool(agent, url, call, entry.tool, args, id).then((outcome) => {
          const sample: Sample = { tool: entry.tool, callId: call.callId, arguments: args, dueMs, sentMs, answeredMs: performance.now() - origin, ...outcome };
          samples.push(sample);
          options.onSample?.(sample);
        });
        inFlight.add(done);
        void done.finally(() => inFlight.delete(done));
        next += 1;
      }
      if (next >= total) return resolve();
      setTimeout(tick, Math.max(0, next * interval - (performance.now() - origin)));
    };
    tick();
  });
  await Promise.all(inFlight);
  agent.destroy();
  return { samples, origin, rate, seconds };
}

export interface LatencyFigures {
  calls: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** How far behind its clock the generator sent, at worst. */
  maxSendLagMs: number;
  firstError?: string;
}

/** Latency from due time to answer, of the samples `pick` keeps (errors counted apart, their time included in max). */
export function latencyFigures(samples: readonly Sample[], pick: (sample: Sample) => boolean = () => true): LatencyFigures {
  const kept = samples.filter(pick);
  const latencies = kept.filter((sample) => sample.ok).map((sample) => sample.answeredMs - sample.dueMs);
  const failed = kept.filter((sample) => !sample.ok);
  return {
    calls: kept.length,
    errors: failed.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    p999Ms: percentile(latencies, 99.9),
    maxMs: Math.max(0, ...kept.map((sample) => sample.answeredMs - sample.dueMs)),
    maxSendLagMs: Math.max(0, ...kept.map((sample) => sample.sentMs - sample.dueMs)),
    ...(failed[0]?.error ? { firstError: failed[0].error } : {}),
  };
}

export interface ThroughputFigures {
  clients: number;
  seconds: number;
  calls: number;
  errors: number;
  callsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  firstError?: string;
}

/** `clients` workers calling the mix back to back on random live calls for `seconds`, after a warm-up second. */
export async function runClosedLoop(options: { url: URL; calls: readonly LiveCall[]; mix: readonly MixEntry[]; clients: number; seconds: number; seed?: number }): Promise<ThroughputFigures> {
  const order = rotation(options.mix);
  const rng = random(options.seed ?? 17);
  const agent = createAgent(options.clients);
  const perCall = new Map<string, number>();
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let measuring = false;
  let stop = false;
  let sent = 0;
  const worker = async () => {
    while (!stop) {
      const entry = order[sent % order.length] as MixEntry;
      const call = options.calls[rng.int(options.calls.length)] as LiveCall;
      const n = (perCall.get(call.callId) ?? 0) + 1;
      perCall.set(call.callId, n);
      sent += 1;
      const started = performance.now();
      const outcome = await callTool(agent, options.url, call, entry.tool, entry.arguments(call, n), sent);
      if (!measuring) continue;
      if (outcome.ok) latencies.push(performance.now() - started);
      else {
        errors += 1;
        firstError ??= outcome.error;
      }
    }
  };
  const running = Array.from({ length: options.clients }, () => worker());
  await new Promise((resolve) => setTimeout(resolve, 1000));
  measuring = true;
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, options.seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - started) / 1000;
  stop = true;
  await Promise.all(running);
  agent.destroy();
  return {
    clients: options.clients,
    seconds: elapsed,
    calls: latencies.length,
    errors,
    callsPerSecond: latencies.length / elapsed,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    ...(firstError ? { firstError } : {}),
  };
}

export const ms = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : '-');

/** "p50 / p99 / p99.9 / max" in ms. */
export const spread = (figures: LatencyFigures): string => `${ms(figures.p50Ms)} / ${ms(figures.p99Ms)} / ${ms(figures.p999Ms)} / ${ms(figures.maxMs)}`;
