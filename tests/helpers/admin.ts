/**
 * Requests to the admin API of a test server the way operators make them
 * (an admin key of the account), and reading the audit trail through it.
 */
import type { TestServer } from './server.ts';
import { eventually } from './server.ts';

export interface AdminResponse<T = unknown> {
  status: number;
  body: T;
}

export interface AuditItem {
  id: number;
  started_at: string;
  account_id: string;
  persona_id: string;
  call_id: string;
  key_id: string;
  tool: string;
  arguments: Record<string, unknown>;
  status: string;
  error_code: string | null;
  text: string;
  duration_ms: number;
}

export interface AuditPageBody {
  entries: AuditItem[];
  next_cursor: string | null;
}

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export async function adminGet<T = unknown>(server: TestServer, key: string | undefined, path: string): Promise<AdminResponse<T>> {
  const response = await fetch(new URL(path, server.url), { headers: key ? { 'X-API-Key': key } : {} });
  return { status: response.status, body: (await response.json()) as T };
}

export async function auditPage(server: TestServer, key: string, query: Record<string, string> = {}, account = 'acme'): Promise<AuditPageBody> {
  const response = await adminGet<AuditPageBody>(server, key, `/ucp/v2/accounts/${account}/audit?${new URLSearchParams(query).toString()}`);
  if (response.status !== 200) throw new Error(`audit answered ${response.status}: ${JSON.stringify(response.body)}`);
  return response.body;
}

/** Waits until the audit trail holds `count` rows for the filters (rows are written a few ms after the call). */
export function auditRows(server: TestServer, key: string, query: Record<string, string>, count: number, account = 'acme'): Promise<AuditItem[]> {
  return eventually(
    async () => {
      const page = await auditPage(server, key, { ...query, limit: '200' }, account);
      return page.entries.length >= count ? page.entries : undefined;
    },
    5000,
    `${count} audit rows for ${JSON.stringify(query)}`,
  );
}


export interface AdminReply {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body, or undefined when it is not JSON. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test bodies are read field by field
}

export async function admin(server: TestServer, key: string, method: string, route: string, body?: unknown): Promise<AdminReply> {
  const response = await fetch(new URL(`/ucp/v2/accounts/${route}`, server.url), {
    method,
    headers: { 'X-API-Key': key, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

