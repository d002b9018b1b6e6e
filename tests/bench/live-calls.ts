/**
 * Live calls for the store benchmarks, made as a phone system and a voice
 * platform make them: the phone system registers each call (POST
 * /ucp/v2/accounts/{account}/calls with an admin key), and the voice agent of
 * the call opens a 2025-era MCP session with the call's context headers and
 * uses it once (a session that never made a request would be closed as an
 * abandoned handshake). Ending a call (DELETE /calls/{call_id}) closes its
 * sessions on whichever node holds them.
 */
import { createAgent, LEGACY_VERSION, openSession, rpcResult, send, type LoadTarget } from './load.ts';

export interface LiveCall {
  callId: string;
  /** The caller's number, E.164. */
  caller: string;
  sessionId: string;
  /** The headers every request of the call carries (key and call context), without the session's. */
  headers: Record<string, string>;
}

export interface LiveCallOptions {
  /** The server, or the load balancer in front of the nodes. */
  base: string;
  mcpKey: string;
  adminKey: string;
  count: number;
  /** Distinguishes the calls of one batch from another's (call ids and callers' numbers). */
  batch: number;
  account?: string;
  persona?: string;
  /** Calls set up at once. */
  parallel?: number;
}

export const MCP_PATH = '/ucp/v2/mcp';

/** A distinct US number for each call (index below 10,000) of each batch (below 800): +1 415 2xx xxxx upwards. */
export const callerOf = (batch: number, index: number): string => `+1415${2_000_000 + batch * 10_000 + index}`;

async function admin(base: string, key: string, method: string, path: string, body?: unknown): Promise<number> {
  const response = await fetch(new URL(path, base), {
    method,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  await response.arrayBuffer();
  return response.status;
}

export async function openLiveCalls(options: LiveCallOptions): Promise<LiveCall[]> {
  const account = options.account ?? 'acme';
  const persona = options.persona ?? 'front-desk';
  const parallel = options.parallel ?? 20;
  const url = new URL(MCP_PATH, options.base);
  const agent = createAgent(parallel);
  const calls: LiveCall[] = new Array(options.count);
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < options.count) {
          const index = next++;
          const callId = `bench-${options.batch}-${index}`;
          const caller = callerOf(options.batch, index);
          const registered = await admin(options.base, options.adminKey, 'POST', `/ucp/v2/accounts/${account}/calls`, { call_id: callId, persona_id: persona, caller_id_number: caller });
          if (registered !== 201 && registered !== 200) throw new Error(`registering ${callId} answered ${registered}`);
          const headers = { 'x-api-key': options.mcpKey, account_id: account, persona_id: persona, call_id: callId, caller_id_number: caller };
          const target: LoadTarget = { url, headers };
          const sessionId = await openSession(agent, target, index);
          const first = await send(agent, url, { ...headers, 'mcp-session-id': sessionId, 'mcp-protocol-version': LEGACY_VERSION }, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'is_office_open', arguments: {} } });
          const result = rpcResult(first)?.result;
          if (first.status !== 200 || !result || result.isError) throw new Error(`the first tool call of ${callId} answered ${first.status}: ${first.body.slice(0, 200)}`);
          calls[index] = { callId, caller, sessionId, headers };
        }
      }),
    );
  } finally {
    // No client socket stays open behind the calls: the memory figure counts calls, not connections.
    agent.destroy();
  }
  return calls;
}

/** The phone system says each call is over; their sessions are closed. */
export async function endLiveCalls(base: string, adminKey: string, calls: readonly LiveCall[], account = 'acme', parallel = 20): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < calls.length) {
        const call = calls[next++] as LiveCall;
        await admin(base, adminKey, 'DELETE', `/ucp/v2/accounts/${account}/calls/${encodeURIComponent(call.callId)}`);
      }
    }),
  );
}
