/**
 * No part of a secret leaves, end to end: a real server, an official MCP
 * client, an API that quotes the secret it was sent (as text, JSON, an error
 * message, an HTML title, percent- or JSON-escaped, re-spaced), and a phone
 * system that quotes its signing secret in a refusal. The caller chooses
 * where the 1,500-character answer or the 200-character reason is cut (the
 * API echoes an argument in front of the secret), and the cut is put at
 * every position inside the secret. What the model gets must be exactly the
 * answer with *** in place of the secret, shaped afterwards; the audit rows,
 * the call history and the logs must hold no part of it.
 */
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { auditRows } from './helpers/admin.ts';
import { leakedPart } from './helpers/leaks.ts';
import { adminRequest, WebhookReceiver } from './helpers/pbx.ts';
import { random, randomSecret } from './helpers/random.ts';
import { callHeaders, connect, startTestServer, textOf, type TestServer } from './helpers/server.ts';
import { startUpstream, type Upstream } from './helpers/upstream.ts';

const rng = random(1500);
/** Random secrets with blanks, quotes, percent signs and backslashes inside; the first has them all. */
const SECRETS = ['Q1 "%2B" \\ \t7/&Z%-9', ...Array.from({ length: 6 }, () => randomSecret(rng))];
const SHORT = 'Q7%';
const PBX_SECRET = 'PBX "SIGN" %41 KEY-77';
const FORMS = ['text', 'json', 'error', 'html', 'encoded', 'escaped', 'respaced'] as const;
type Form = (typeof FORMS)[number];
const TAIL = 'y'.repeat(60);

const html = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const cut = (text: string, limit: number) => (text.length <= limit ? text : `${text.slice(0, limit - 1)}…`);


function apiPersona(base: string): string {
  const tools = SECRETS.map(
    (_secret, index) => `  - type: api_request
    name: reflect_${index}
    description: Asks the API, which quotes the key it was sent.
    method: GET
    url: ${base}/reflect/{{form}}
    query: { key: "{{secret.KEY_${index}}}", pad: "{{pad}}" }
    variables:
      - { name: form, type: dropdown, options: [${FORMS.join(', ')}], required: true }
      - { name: pad, type: text, max_length: 2000 }`,
  );
  tools.push(`  - type: api_request
    name: reflect_template
    description: The same answer through a response template.
    method: GET
    url: ${base}/reflect/json
    query: { key: "{{secret.KEY_0}}", pad: "{{pad}}" }
    variables: [{ name: pad, type: text, max_length: 2000 }]
    response: { template: "The API said: {{message}}" }`);
  tools.push(`  - type: api_request
    name: reflect_short
    description: A tool whose key is three characters long.
    method: GET
    url: ${base}/reflect/text
    query: { key: "{{secret.SHORT_KEY}}", pad: "{{pad}}" }
    variables: [{ name: pad, type: text, max_length: 2000 }]`);
  return `persona_id: api\ntools:\n${tools.join('\n')}\n`;
}

/** The API: quotes the key of the query in the form the path names, after the pad. */
function reflect(target: string) {
  const url = new URL(target, 'http://upstream');
  const form = url.pathname.split('/')[2] as Form;
  const key = url.searchParams.get('key') ?? '';
  const pad = url.searchParams.get('pad') ?? '';
  const text = { 'content-type': 'text/plain' };
  switch (form) {
    case 'text':
      return { body: `${pad}${key}${TAIL}`, headers: text };
    case 'json':
      return { body: { message: `${pad}${key}${TAIL}` } };
    case 'error':
      return { status: 400, body: { message: `${pad}${key}${TAIL}` } };
    case 'html':
      return { status: 502, body: `<html><head><title>${pad}${html(key)}${TAIL}</title></head></html>`, headers: { 'content-type': 'text/html' } };
    case 'encoded':
      return { body: `${pad}${encodeURIComponent(key)}${TAIL}`, headers: text };
    case 'escaped':
      return { body: `${pad}${JSON.stringify(key).slice(1, -1)}${TAIL}`, headers: text };
    case 'respaced':
      return { body: `${pad}${key.replace(/\s+/g, '\n\t ')}${TAIL}`, headers: text };
  }
}

/** What the model must get: the answer with *** for the secret, then shaped as the tool shapes it. */
function expected(form: Form, pad: string): { text: string; reason?: string } {
  const quoted = `${pad}***${TAIL}`;
  switch (form) {
    case 'json':
      return { text: cut(JSON.stringify({ message: quoted }), 1500) };
    case 'error': {
      const reason = cut(quoted, 200);
      return { reason, text: `The service refused the request (HTTP 400: ${reason}). Check the details with the caller and call again only with corrected values.` };
    }
    case 'html': {
      const reason = cut(quoted, 200);
      return { reason, text: `The service is having trouble (HTTP 502: ${reason}). You may try once more; if it fails again, tell the caller you cannot do this right now.` };
    }
    default:
      return { text: cut(quoted, 1500) };
  }
}

let upstream: Upstream;
let receiver: WebhookReceiver;
let server: TestServer;
let client: Client;
let adminKey: string;
const outputs: string[] = [];

beforeAll(async () => {
  upstream = await startUpstream('127.0.0.1', (request) => reflect(request.target));
  receiver = await new WebhookReceiver(PBX_SECRET).start();
  const env: Record<string, string> = { SHORT_KEY: SHORT, ACME_PBX_SECRET: PBX_SECRET };
  SECRETS.forEach((secret, index) => (env[`KEY_${index}`] = secret));
  server = await startTestServer({
    personas: {
      'acme/account.yaml': `account_id: acme
timezone: America/New_York
default_country: US
queues:
  - { id: sales, name: Sales, extension: "2000" }
call_control: { driver: webhook, url: "${receiver.url}", secret: ACME_PBX_SECRET, timeout_seconds: 2, retries: 0 }
`,
      'acme/api.yaml': apiPersona(upstream.base),
      'acme/desk.yaml': 'persona_id: desk\n',
    },
    env,
    settings: { outboundAllow: ['127.0.0.1'] },
  });
  adminKey = await server.key('acme', 'admin');
  client = await connect(server, callHeaders({ key: await server.key('acme'), persona: 'api', call: 'leak-api' }));
});
afterAll(async () => {
  await client.close();
  await server.close();
  await upstream.close();
  await receiver.close();
});

async function ask(tool: string, args: Record<string, unknown>) {
  const result = await client.callTool({ name: tool, arguments: args });
  outputs.push(JSON.stringify(result));
  return { result, text: textOf(result), reason: (result.structuredContent as { error?: { reason?: string } }).error?.reason };
}

describe('an API that quotes its key', () => {
  it('never shows a part of the key where the caller puts the cut, at every position inside it', async () => {
    const secret = SECRETS[0] as string;
    const length = secret.length;
    for (let inside = 1; inside < length; inside++) {
      for (const [form, limit, framing] of [
        ['text', 1500, 0],
        ['json', 1500, '{"message":"'.length],
        ['error', 200, 0],
      ] as const) {
        const pad = 'x'.repeat(limit - 1 - framing - inside);
        const { text, reason } = await ask('reflect_0', { form, pad });
        const want = expected(form, pad);
        expect(text, `${form}, cut ${inside} characters into the key`).toBe(want.text);
        expect(reason).toBe(want.reason);
      }
    }
  });

  it('masks random keys in every form the answer quotes them, also through a response template', async () => {
    for (const [index, secret] of SECRETS.entries()) {
      for (const form of FORMS) {
        const pad = 'x'.repeat(rng.int(40));
        const { text, result } = await ask(`reflect_${index}`, { form, pad });
        expect(text, `${JSON.stringify(secret)} quoted as ${form}`).toBe(expected(form, pad).text);
        expect(leakedPart(JSON.stringify(result), secret)).toBeUndefined();
      }
    }
    for (const inside of [1, 5, 9]) {
      const pad = 'x'.repeat(1500 - 1 - 'The API said: '.length - inside);
      expect((await ask('reflect_template', { pad })).text).toBe(cut(`The API said: ${pad}***${TAIL}`, 1500));
    }
  });

  it('masks a key of three characters too, and warns about it by name only', async () => {
    const pad = 'x'.repeat(1498);
    expect((await ask('reflect_short', { pad })).text).toBe(cut(`${pad}***${TAIL}`, 1500));
    const warning = server.logLines.find((line) => line.includes('"event":"secret_short"'));
    expect(warning).toContain('secret SHORT_KEY has only 3 characters');
    expect(warning).not.toContain(SHORT);
  });

  it('keeps every part of the keys out of the audit rows and the logs', async () => {
    const rows = await auditRows(server, adminKey, { call: 'leak-api' }, Math.min(200, outputs.length));
    const stored = JSON.stringify(rows);
    const logs = server.logLines.join('\n');
    for (const secret of SECRETS) {
      expect(leakedPart(stored, secret), `audit rows, ${JSON.stringify(secret)}`).toBeUndefined();
      expect(leakedPart(logs, secret), `logs, ${JSON.stringify(secret)}`).toBeUndefined();
    }
    expect(stored).toContain('***');
  });
});

describe('a phone system that quotes its signing secret', () => {
  it('keeps every part of it out of the agent text and the call history, wherever the reason is cut', async () => {
    const desk = await connect(server, callHeaders({ key: await server.key('acme'), persona: 'desk', call: 'leak-pbx' }));
    try {
      for (const inside of [1, 4, 10, PBX_SECRET.length - 1]) {
        const pad = 'x'.repeat(199 - inside);
        receiver.reply = () => ({ status: 422, body: { reason: `${pad}${PBX_SECRET}${TAIL}` } });
        const result = await desk.callTool({ name: 'transfer_call', arguments: { destination_number: '2000' } });
        const reason = `${pad}***${TAIL}`.slice(0, 200);
        expect(textOf(result)).toBe(`The phone system did not transfer the call to Sales (extension 2000) (${reason}). Tell the caller and offer to take a message instead.`);
      }
    } finally {
      await desk.close();
    }
    const history = JSON.stringify((await adminRequest(server.url, adminKey, 'GET', '/ucp/v2/accounts/acme/calls/leak-pbx')).body);
    expect(history).toContain('***');
    expect(leakedPart(history, PBX_SECRET)).toBeUndefined();
    expect(leakedPart(server.logLines.join('\n'), PBX_SECRET)).toBeUndefined();
  });
});
