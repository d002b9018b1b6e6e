/**
 * Shared steps of the contact-source tests: manifests that point sources at
 * the fake providers, lookup_contact through an official MCP client, and the
 * admin API's status and sync endpoints.
 */
import { expect } from 'vitest';

import { admin } from './admin.ts';
import { callHeaders, connect, eventually, textOf, type TestServer } from './server.ts';

export interface SourceYaml {
  type: 'google' | 'microsoft';
  name: string;
  /** Prefix of the three secret names: <P>_CLIENT_ID, <P>_CLIENT_SECRET, <P>_REFRESH_TOKEN. */
  secrets: string;
  apiBaseUrl: string;
  tokenUrl: string;
  extra?: Record<string, string | number | boolean>;
}

export function accountYaml(account: string, country: string, sources: SourceYaml[]): string {
  const lines = [`account_id: ${account}`, 'timezone: Europe/London', `default_country: ${country}`, 'contact_sources:'];
  for (const source of sources) {
    lines.push(
      `  - type: ${source.type}`,
      `    name: ${source.name}`,
      '    credentials:',
      `      client_id: ${source.secrets}_CLIENT_ID`,
      `      client_secret: ${source.secrets}_CLIENT_SECRET`,
      `      refresh_token: ${source.secrets}_REFRESH_TOKEN`,
      `    api_base_url: ${source.apiBaseUrl}`,
      `    token_url: ${source.tokenUrl}`,
      ...Object.entries(source.extra ?? {}).map(([key, value]) => `    ${key}: ${value}`),
    );
  }
  return `${lines.join('\n')}\n`;
}

export const secretEnv = (prefix: string, credentials: { clientId: string; clientSecret: string; refreshToken: string }): Record<string, string> => ({
  [`${prefix}_CLIENT_ID`]: credentials.clientId,
  [`${prefix}_CLIENT_SECRET`]: credentials.clientSecret,
  [`${prefix}_REFRESH_TOKEN`]: credentials.refreshToken,
});

export interface LookupData {
  found: boolean;
  phone_number: string;
  contacts: { name: string; company: string | null; phone_numbers: { number: string; label: string | null }[]; source: string }[];
}

export async function lookup(server: TestServer, key: string, account: string, persona: string, phoneNumber: string): Promise<{ text: string; data: LookupData }> {
  const client = await connect(server, callHeaders({ key, account, persona }));
  try {
    const result = await client.callTool({ name: 'lookup_contact', arguments: { phone_number: phoneNumber } });
    expect(result.isError, textOf(result)).toBeFalsy();
    return { text: textOf(result), data: result.structuredContent as unknown as LookupData };
  } finally {
    await client.close();
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- status bodies are read field by field
export type Json = any;

export async function statusOf(server: TestServer, adminKey: string, account: string, name: string): Promise<Json> {
  const response = await admin(server, adminKey, 'GET', `${account}/contact-sources`);
  expect(response.status, response.text).toBe(200);
  return (response.json.sources as Json[]).find((source) => source.name === name);
}

/** POST …/sync with wait: the sync's outcome. */
export async function syncNow(server: TestServer, adminKey: string, account: string, name: string, full = false): Promise<Json> {
  const response = await admin(server, adminKey, 'POST', `${account}/contact-sources/${name}/sync`, { full, wait: true });
  expect(response.status, response.text).toBe(200);
  return response.json.outcome;
}

export const waitForState = (server: TestServer, adminKey: string, account: string, name: string, state: string, what = `${account}/${name} ${state}`) =>
  eventually(async () => {
    const status = await statusOf(server, adminKey, account, name);
    return status?.state === state ? status : undefined;
  }, 10_000, what);

/** Milliseconds from `now` to an ISO time. */
export const msFrom = (now: number, iso: string): number => Date.parse(iso) - now;
