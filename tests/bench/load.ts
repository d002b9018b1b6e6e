/**
 * A load generator that speaks MCP's Streamable HTTP over keep-alive sockets,
 * light enough that the server, not the client, is what is measured. Each
 * virtual client either holds a 2025-era session (initialize once, then
 * tools/call on its session) or sends 2026-07-28 stateless requests.
 */
import http from 'node:http';

import { percentile } from './stats.ts';

export type LoadEra = 'legacy' | 'modern';

export interface LoadTarget {
  /** The MCP endpoint. */
  url: URL;
  /** Headers every request carries (API key, call context). */
  headers: Record<string, string>;
  /** Per virtual client: its own call id header, for servers that bind sessions to calls. */
  perClientHeaders?: (client: number) => Record<string, string>;
}

export interface LoadCall {
  tool: string;
  /** Arguments of the call; a function gives each call its own. */
  arguments: Record<string, unknown> | ((client: number, n: number) => Record<string, unknown>);
}

export interface LoadResult {
  calls: number;
  errors: number;
  seconds: number;
  callsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export interface SessionSetupResult {
  sessions: number;
  seconds: number;
  perSecond: number;
}

export const LEGACY_VERSION = '2025-11-25';
const MODERN_VERSION = '2026-07-28';
const META = {
  'io.modelcontextprotocol/protocolVersion': MODERN_VERSION,
  'io.modelcontextprotocol/clientInfo': { name: 'load', version: '1.0.0' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function createAgent(sockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
}

export function send(agent: http.Agent, url: URL, headers: Record<string, string>, body: unknown): Promise<Answer> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'content-length': Buffer.byteLength(payload), ...headers },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

export interface RpcAnswer {
  result?: { isError?: boolean; content?: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> };
  error?: { code?: number; message?: string };
}

/** The JSON-RPC response in a JSON or SSE body. */
export function rpcResult(answer: Answer): RpcAnswer | undefined {
  const text = answer.body.startsWith('{') ? answer.body : /^data: (.*)$/m.exec(answer.body)?.[1];
  try {
    return text ? (JSON.parse(text) as RpcAnswer) : undefined;
  } catch {
    return undefined;
  }
}

export async function openSession(agent: http.Agent, target: LoadTarget, client: number): Promise<string> {
  const headers = { ...target.headers, ...(target.perClientHeaders?.(client) ?? {}) };
  const init = await send(agent, target.url, headers, {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: LEGACY_VERSION, capabilities: {}, clientInfo: { name: 'load', version: '1.0.0' } },
  });
  const sessionId = init.headers['mcp-session-id'];
  if (init.status !== 200 || typeof sessionId !== 'string') throw new Error(`initialize failed: ${init.status} ${init.body.slice(0, 200)}`);
  await send(agent, target.url, { ...headers, 'mcp-session-id': sessionId, 'mcp-protocol-version': LEGACY_VERSION }, { jsonrpc: '2.0', method: 'notifications/initialized' });
  return sessionId;
}

export async function closeSession(agent: http.Agent, target: LoadTarget, client: number, sessionId: string): Promise<void> {
  const headers = { ...target.headers, ...(target.perClientHeaders?.(client) ?? {}), 'mcp-session-id': sessionId };
  await new Promise<void>((resolve) => {
    const request = http.request(target.url, { method: 'DELETE', agent, headers }, (response) => {
      response.resume();
      response.on('end', () => resolve());
    });
    request.on('error', () => resolve());
    request.end();
  });
}

/** Runs `clients` virtual clients calling `call` for `seconds`, after a short warm-up. */
export async function runLoad(target: LoadTarget, era: LoadEra, call: LoadCall, clients: number, seconds: number, warmupSeconds = 1): Promise<LoadResult> {
  const agent = createAgent(clients);
  const sessions = era === 'legacy' ? await Promise.all(Array.from({ length: clients }, (_, client) => openSession(agent, target, client))) : [];
  const latencies: number[] = [];
  let errors = 0;
  let measuring = false;
  let stop = false;

  const worker = async (client: number) => {
    const base = { ...target.headers, ...(target.perClientHeaders?.(client) ?? {}) };
    const headers =
      era === 'legacy'
        ? { ...base, 'mcp-session-id': sessions[client] as string, 'mcp-protocol-version': LEGACY_VERSION }
        : { ...base, 'mcp-protocol-version': MODERN_VERSION, 'mcp-method': 'tools/call', 'mcp-name': call.tool };
    for (let n = 0; !stop; n += 1) {
      const args = typeof call.arguments === 'function' ? call.arguments(client, n) : call.arguments;
      const params = era === 'legacy' ? { name: call.tool, arguments: args } : { name: call.tool, arguments: args, _meta: META };
      const started = performance.now();
      let ok = false;
      try {
        const answer = await send(agent, target.url, headers, { jsonrpc: '2.0', id: n + 1, method: 'tools/call', params });
        const rpc = rpcResult(answer);
        ok = answer.status === 200 && rpc?.result !== undefined && rpc.result.isError !== true;
      } catch {
        ok = false;
      }
      if (!measuring) continue;
      if (ok) latencies.push(performance.now() - started);
      else errors += 1;
    }
  };

  const running = Array.from({ length: clients }, (_, client) => worker(client));
  await new Promise((resolve) => setTimeout(resolve, warmupSeconds * 1000));
  measuring = true;
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - started) / 1000;
  stop = true;
  await Promise.all(running);
  if (era === 'legacy') await Promise.all(sessions.map((id, client) => closeSession(agent, target, client, id)));
  agent.destroy();
  return {
    calls: latencies.length,
    errors,
    seconds: elapsed,
    callsPerSecond: latencies.length / elapsed,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

/** Opens (and closes) `count` sessions from `clients` parallel openers; the rate of session setup. */
export async function measureSessionSetup(target: LoadTarget, count: number, clients: number): Promise<SessionSetupResult> {
  const agent = createAgent(clients);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (next < count) {
        next += 1;
        const id = await openSession(agent, target, client);
        await closeSession(agent, target, client, id);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return { sessions: count, seconds, perSecond: count / seconds };
}
