/**
 * Heap per idle 2025-era session, measured in this process after full
 * garbage collections: the reference server and Switchboard each get 500
 * sessions opened over HTTP and left idle. Run with --expose-gc (run.ts does).
 *
 *   node --expose-gc --import tsx tests/bench/idle-sessions.ts [--sessions 500]
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

import { startTestServer } from '../helpers/server.ts';
import { createAgent, openSession, type LoadTarget } from './load.ts';
import { referenceApp } from './reference-server.ts';

async function settledHeap(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 4; i += 1) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return process.memoryUsage().heapUsed;
}

async function perSession(target: LoadTarget, count: number): Promise<number> {
  const open = async (from: number, n: number) => {
    // A fresh agent per batch, destroyed after: no client sockets stay behind to be counted.
    const agent = createAgent(20);
    for (let i = 0; i < n; i += 20) await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, j) => openSession(agent, target, from + i + j)));
    agent.destroy();
  };
  await open(0, 40); // warm-up: first compilations, caches
  const before = await settledHeap();
  await open(10_000, count);
  const after = await settledHeap();
  return (after - before) / count / 1024;
}

export async function measureIdleSessions(count = 500): Promise<{ sessions: number; referenceKiB: number; switchboardKiB: number }> {
  const reference: Server = await new Promise((resolve) => {
    const listening = referenceApp().listen(0, '127.0.0.1', () => resolve(listening));
  });
  const referenceKiB = await perSession({ url: new URL(`http://127.0.0.1:${(reference.address() as AddressInfo).port}/mcp`), headers: {} }, count);
  reference.closeAllConnections();
  reference.close();

  // One key opens every session: lift the account's and the key's shares with the cap.
  const server = await startTestServer({ settings: { rateLimitPerSecond: 0, maxSessions: 100_000, maxSessionsPerAccount: 100_000, maxSessionsPerKey: 100_000 }, logLevel: 'warn', watch: false });
  try {
    const target: LoadTarget = {
      url: server.mcpUrl,
      headers: { 'x-api-key': await server.key('acme'), account_id: 'acme', persona_id: 'front-desk' },
      perClientHeaders: (client) => ({ call_id: `idle-${client}` }),
    };
    return { sessions: count, referenceKiB, switchboardKiB: await perSession(target, count) };
  } finally {
    await server.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { sessions: { type: 'string', default: '500' }, json: { type: 'boolean' } } });
  const figures = await measureIdleSessions(Number(values.sessions));
  if (values.json) console.log(JSON.stringify(figures));
  else console.log(`heap per idle session (${figures.sessions} sessions): reference ${figures.referenceKiB.toFixed(1)} KiB, switchboard ${figures.switchboardKiB.toFixed(1)} KiB`);
}
