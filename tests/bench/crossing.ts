/**
 * How long a command takes to cross nodes (store.ts runs it on two nodes of
 * one PostgreSQL database): a transfer asked on one node, with the events
 * driver, while the phone system's call-events stream is held by another.
 * The command is written on the asking node and reaches the other node's
 * stream through the database's notifications; the phone system's
 * acknowledgement is posted to the node it streams from, and the verdict
 * goes back to the tool waiting on the asking node the same way.
 *
 * Three times per transfer, one after another on a call of its own (its
 * session opened first, not timed): from just before the tools/call until
 * the command is read off the stream (`command`), from just before the
 * acknowledgement is posted until the tool's answer is read (`outcome`),
 * and the whole tool call (`tool`). With the stream on the asking node the
 * same figures show what the crossing adds.
 */
import { randomUUID } from 'node:crypto';

import type { ServeProcess } from '../helpers/cli.ts';
import { SseConsumer } from '../helpers/pbx.ts';
import { eventually } from '../helpers/server.ts';
import { createAgent, LEGACY_VERSION, openSession, rpcResult, send } from './load.ts';
import { MCP_PATH } from './live-calls.ts';
import { percentile } from './stats.ts';

export interface CrossingOptions {
  /** The node the tool is called on. */
  asked: ServeProcess;
  /** The node the phone system's stream is connected to. */
  stream: ServeProcess;
  mcpKey: string;
  adminKey: string;
  transfers: number;
  label: 'across' | 'same';
  /** Untimed transfers first (default 20). */
  warmup?: number;
}

export interface Spread {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface CrossingFigures {
  label: 'across' | 'same';
  transfers: number;
  errors: number;
  firstError?: string;
  command: Spread;
  outcome: Spread;
  tool: Spread;
}

/** Waits until the node reports acme's phone system up (for the events driver: a stream is connected somewhere). */
async function untilUp(node: ServeProcess): Promise<void> {
  await eventually(async () => {
    const body = (await (await fetch(new URL('/readyz', node.url))).json()) as { phone_systems?: { account: string; state: string }[] };
    return body.phone_systems?.find((entry) => entry.account === 'acme')?.state === 'up' ? true : undefined;
  }, 20_000, `acme's phone system up on ${node.url}`);
}

export async function measureCrossing(options: CrossingOptions): Promise<CrossingFigures> {
  const consumer = await SseConsumer.connect(options.stream.url, 'acme', options.adminKey);
  // When each call's command was read off the stream; its acknowledgement is posted in the same tick.
  const arrivals = new Map<string, number>();
  const ackFailures: string[] = [];
  consumer.onEvent = (event) => {
    if (event.event !== 'command' || event.data.type !== 'transfer') return;
    arrivals.set(String(event.data.call_id), performance.now());
    // Sent again once if the connection it went out on was closed under it (a keep-alive race); the tool's answer then tells.
    const ack = () => consumer.ack(event.id, true, undefined, 'connected');
    ack()
      .catch(ack)
      .catch((error: unknown) => ackFailures.push(`acknowledging ${event.id}: ${(error as Error).message}`));
  };
  const agent = createAgent(4);
  const url = new URL(MCP_PATH, options.asked.url);
  const samples: { command: number; outcome: number; tool: number }[] = [];
  const errors: string[] = [];
  try {
    await untilUp(options.asked);
    const warmup = options.warmup ?? 20;
    for (let i = 0; i < warmup + options.transfers; i += 1) {
      const callId = `cross-${options.label}-${randomUUID()}`;
      const headers = { 'x-api-key': options.mcpKey, account_id: 'acme', persona_id: 'front-desk', call_id: callId, caller_id_number: '+14155550123' };
      const sessionId = await openSession(agent, { url, headers }, i);
      const started = performance.now();
      const answer = await send(agent, url, { ...headers, 'mcp-session-id': sessionId, 'mcp-protocol-version': LEGACY_VERSION }, {
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'transfer_call', arguments: { destination_number: '100' } },
      });
      const answered = performance.now();
      if (i < warmup) continue;
      const result = rpcResult(answer)?.result;
      const arrival = arrivals.get(callId);
      if (answer.status !== 200 || !result || result.isError) errors.push(`${answer.status} ${answer.body.slice(0, 200)}`);
      else if (arrival === undefined) errors.push('the command never reached the stream');
      else samples.push({ command: arrival - started, outcome: answered - arrival, tool: answered - started });
    }
  } finally {
    consumer.close();
    agent.destroy();
  }
  errors.push(...ackFailures);
  const spread = (values: number[]): Spread => ({ p50Ms: percentile(values, 50), p99Ms: percentile(values, 99), maxMs: Math.max(0, ...values) });
  return {
    label: options.label,
    transfers: options.transfers,
    errors: errors.length,
    ...(errors[0] ? { firstError: errors[0] } : {}),
    command: spread(samples.map((sample) => sample.command)),
    outcome: spread(samples.map((sample) => sample.outcome)),
    tool: spread(samples.map((sample) => sample.tool)),
  };
}
