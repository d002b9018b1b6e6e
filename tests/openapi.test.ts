import fs from 'node:fs';
import path from 'node:path';

import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';

import { auditRows } from './helpers/admin.ts';
import { callHeaders, connect, REPO_ROOT, startTestServer, type TestServer } from './helpers/server.ts';
import { basicManifests, sensitiveToolKinds } from './helpers/test-tools.ts';

interface OpenApi {
  openapi: string;
  paths: Record<string, Record<string, { security?: unknown[] }>>;
}

const document = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, 'openapi/admin.yaml'), 'utf8')) as OpenApi;
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
ajv.addSchema(document, 'admin');
const validator = (name: string) => {
  const validate = ajv.getSchema(`admin#/components/schemas/${name}`);
  if (!validate) throw new Error(`no schema ${name}`);
  return validate;
};

let server: TestServer;
let adminKey: string;

beforeAll(async () => {
  server = await startTestServer({ personas: basicManifests, toolKinds: sensitiveToolKinds });
  adminKey = server.key('acme', 'admin');
  const client = await connect(server, callHeaders({ key: server.key('acme'), call: 'openapi-call' }), 'modern');
  await client.callTool({ name: 'echo', arguments: { text: 'ok' } });
  await client.callTool({ name: 'echo', arguments: { text: 'no', fail: true } });
  await client.callTool({ name: 'echo_pin', arguments: { text: 'pin', pin: '1' } });
  await client.close();
  await auditRows(server, adminKey, {}, 3);
});
afterAll(async () => server.close());

describe('openapi/admin.yaml', () => {
  it('is OpenAPI 3.1 and every $ref in it resolves', () => {
    expect(document.openapi).toMatch(/^3\.1\./);
    const refs: string[] = [];
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (value && typeof value === 'object') {
        for (const [key, inner] of Object.entries(value)) {
          if (key === '$ref' && typeof inner === 'string') refs.push(inner);
          else walk(inner);
        }
      }
    };
    walk(document);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      const target = ref.replace(/^#\//, '').split('/').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], document);
      expect(target, ref).toBeDefined();
    }
  });

  it('names only routes the server has', async () => {
    for (const [route, operations] of Object.entries(document.paths)) {
      for (const method of Object.keys(operations)) {
        const response = await fetch(new URL(route.replace('{account}', 'acme'), server.url), { method: method.toUpperCase(), headers: { 'X-API-Key': adminKey } });
        const body = (await response.json().catch(() => undefined)) as { error?: { code: string } } | undefined;
        expect(body?.error?.code, `${method} ${route}`).not.toBe('NOT_FOUND');
        expect(response.status, `${method} ${route}`).toBeLessThan(400);
      }
    }
  });

  it('describes the audit answers the server gives', async () => {
    const page = await fetch(new URL('/ucp/v2/accounts/acme/audit?limit=2', server.url), { headers: { 'X-API-Key': adminKey } });
    const body = (await page.json()) as { entries: unknown[]; next_cursor: string | null };
    expect(body.entries).toHaveLength(2);
    expect(body.next_cursor).not.toBeNull();
    const validatePage = validator('AuditPage');
    expect(validatePage(body), JSON.stringify(validatePage.errors)).toBe(true);

    const validateError = validator('Error');
    for (const [url, headers] of [
      ['/ucp/v2/accounts/acme/audit?since=soon', { 'X-API-Key': adminKey }],
      ['/ucp/v2/accounts/globex/audit', { 'X-API-Key': adminKey }],
      ['/ucp/v2/accounts/acme/audit', {}],
    ] as const) {
      const response = await fetch(new URL(url, server.url), { headers });
      expect(response.status).toBeGreaterThanOrEqual(400);
      const error = await response.json();
      expect(validateError(error), JSON.stringify(validateError.errors)).toBe(true);
    }
  });
});
