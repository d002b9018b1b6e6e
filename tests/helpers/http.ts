/**
 * Raw HTTP against the MCP endpoint, for what an SDK client never sends:
 * missing or wrong headers, foreign sessions, oversized or non-JSON bodies.
 */
import type { TestServer } from './server.ts';

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The JSON body, or the first JSON message of an SSE body. */
  json: unknown;
}

export const initializeBody = (protocolVersion = '2025-06-18', id: number | string = 1) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw-test', version: '1.0.0' } },
});

export async function post(server: TestServer, headers: Record<string, string>, body: unknown, init: { contentType?: string; raw?: string; method?: string } = {}): Promise<RawResponse> {
  const response = await fetch(server.mcpUrl, {
    method: init.method ?? 'POST',
    headers: { 'content-type': init.contentType ?? 'application/json', accept: 'application/json, text/event-stream', ...headers },
    ...(init.method === 'GET' || init.method === 'DELETE' ? {} : { body: init.raw ?? JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: parseBody(text) };
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const data = /^data: (.*)$/m.exec(text);
    if (!data) return undefined;
    try {
      return JSON.parse(data[1] as string);
    } catch {
      return undefined;
    }
  }
}

/** Opens a 2025-era session by hand; returns its id. */
export async function openSession(server: TestServer, headers: Record<string, string>, protocolVersion = '2025-06-18'): Promise<string> {
  const response = await post(server, headers, initializeBody(protocolVersion));
  const id = response.headers.get('mcp-session-id');
  if (response.status !== 200 || !id) throw new Error(`initialize failed: ${response.status} ${response.text}`);
  await post(server, { ...headers, 'mcp-session-id': id, 'mcp-protocol-version': protocolVersion }, { jsonrpc: '2.0', method: 'notifications/initialized' });
  return id;
}

export const rpcError = (response: RawResponse) => (response.json as { error?: { code: number; message: string; data?: Record<string, unknown> } }).error;
