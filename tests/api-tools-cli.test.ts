/**
 * API tools from the command line: `switchboard validate` reports template
 * and inline-secret problems with file:line:col, and `switchboard try`
 * prints the request a tool would send and what the model would get. Both
 * run as real processes over manifests on disk.
 */
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseManifest } from '../engine/manifests/parse.ts';
import type { ApiRequestEntry, PersonaManifest } from '../engine/manifests/types.ts';
import { planApiRequest } from '../engine/tools/custom/api-request/plan.ts';
import { runCli } from './helpers/cli.ts';
import { EXAMPLE_PERSONAS, tempDir, writeManifests } from './helpers/server.ts';
import { startUpstream, type Upstream } from './helpers/upstream.ts';

const ACCOUNT = 'account_id: acme\ntimezone: America/New_York\ndefault_country: US\n';

/** A persona with one api_request tool; `lines` are its properties after type and name. Each has its own id (one file per persona). */
let personas = 0;
const oneTool = (lines: string): string => `persona_id: p${(personas += 1)}\ntools:\n  - type: api_request\n    name: t\n    description: A tool.\n${lines}`;

describe('switchboard validate', () => {
  it('reports template and inline-secret problems at their place in the file', async () => {
    const dir = tempDir('api-validate');
    writeManifests(dir, {
      'acme/account.yaml': ACCOUNT,
      'acme/unknown.yaml': oneTool('    method: GET\n    url: https://api.example.com/orders/{{ordr_number}}\n    variables:\n      - { name: order_number, type: text }\n'),
      'acme/bearer.yaml': oneTool('    method: GET\n    url: https://api.example.com/x\n    headers:\n      Accept: application/json\n      Authorization: Bearer sk_live_4f9a8b7c6d\n'),
      'acme/userinfo.yaml': oneTool('    method: GET\n    url: https://shop:hunter22@api.example.com/x\n'),
      'acme/query-key.yaml': oneTool('    method: GET\n    url: https://api.example.com/x\n    query:\n      api_key: 9f8e7d6c5b4a\n'),
      'acme/url-key.yaml': oneTool('    method: GET\n    url: https://api.example.com/x?token=abc123&q={{q}}\n    variables: [{ name: q, type: text }]\n'),
      'acme/host.yaml': oneTool('    method: GET\n    url: https://{{tenant}}.example.com/x\n    variables: [{ name: tenant, type: text }]\n'),
      'acme/post-retries.yaml': oneTool('    method: POST\n    url: https://api.example.com/x\n    retries: 2\n'),
      'acme/body.yaml': oneTool('    method: POST\n    url: https://api.example.com/x\n    body:\n      visit:\n        when: "{{date}}"\n'),
      'acme/shown-secret.yaml': oneTool('    method: GET\n    url: https://api.example.com/x\n    response:\n      template: "Key {{secret.API_KEY}}"\n'),
      'acme/pick.yaml': oneTool('    method: GET\n    url: https://api.example.com/x\n    response:\n      pick: { status: /status }\n      template: "It is {{state}}"\n'),
      'acme/reserved.yaml': oneTool('    method: GET\n    url: https://api.example.com/x\n    variables:\n      - { name: call_id, type: text }\n'),
      'acme/fine.yaml': oneTool(
        '    method: PATCH\n    url: https://api.example.com/x/{{id}}?fields=all\n    headers:\n      Authorization: "Token token={{secret.API_TOKEN}}"\n      X-Api-Key: "{{secret.API_KEY}}"\n      Idempotency-Key: "{{call_id}}"\n    query: { api_key: "{{secret.API_KEY}}" }\n    body: { a: "{{id}}" }\n    variables: [{ name: id, type: text, required: true }]\n',
      ).replace(/^persona_id: p\d+/, 'persona_id: fine'),
    });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    const lines = run.stdout.trim().split('\n').map((line) => line.replace(`${dir}/`, ''));
    const expected = [
      /^acme\/bearer\.yaml:10:22: tools\[0\]\.headers\.Authorization: Authorization holds a literal credential; a secret never sits in YAML: write it as \{\{secret\.NAME\}\}/,
      /^acme\/body\.yaml:10:15: tools\[0\]\.body\.visit\.when: unknown placeholder \{\{date\}\}: date is not a variable of this tool/,
      /^acme\/host\.yaml:7:10: tools\[0\]\.url: the scheme, host and port of the url must be written out/,
      /^acme\/pick\.yaml:10:17: tools\[0\]\.response\.template: unknown placeholder \{\{state\}\}: state is not a variable or picked field \(known: account_id, call_id, caller_id_number, persona_id, status\)/,
      /^acme\/post-retries\.yaml:8:14: tools\[0\]\.retries: retries apply to GET, PUT and DELETE only/,
      /^acme\/query-key\.yaml:9:16: tools\[0\]\.query\.api_key: query parameter "api_key" holds a literal credential; write its value as \{\{secret\.NAME\}\}/,
      /^acme\/reserved\.yaml:9:17: tools\[0\]\.variables\[0\]\.name: "call_id" is reserved/,
      /^acme\/shown-secret\.yaml:9:17: tools\[0\]\.response\.template: \{\{secret\.API_KEY\}\}: secrets are never shown to the model/,
      /^acme\/unknown\.yaml:7:10: tools\[0\]\.url: unknown placeholder \{\{ordr_number\}\}: ordr_number is not a variable of this tool \(known: account_id, call_id, caller_id_number, order_number, persona_id, secret\.NAME\)/,
      /^acme\/url-key\.yaml:7:10: tools\[0\]\.url: query parameter "token" holds a literal credential/,
      /^acme\/userinfo\.yaml:7:10: tools\[0\]\.url: the url holds a user name or password \(user:password@host\)/,
    ];
    expect(lines).toHaveLength(expected.length);
    expected.forEach((pattern, index) => expect(lines[index]).toMatch(pattern));
    expect(run.stdout).not.toContain('fine.yaml');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('accepts the example api_request tools, which use every feature', () => {
    const features = new Set<string>();
    for (const file of ['acme/front-desk.yaml', 'globex/reception.yaml']) {
      const parsed = parseManifest(file, 'persona', fs.readFileSync(path.join(EXAMPLE_PERSONAS, file), 'utf8'));
      expect(parsed.problems).toEqual([]);
      for (const entry of (parsed.data as PersonaManifest).tools ?? []) {
        if (entry.type !== 'api_request') continue;
        const plan = planApiRequest(entry as ApiRequestEntry);
        features.add(entry.method);
        for (const key of ['query', 'headers', 'body', 'body_encoding', 'timeout_seconds', 'retries'] as const) if (entry[key] !== undefined) features.add(key);
        for (const key of Object.keys(entry.response ?? {})) features.add(`response.${key}`);
        for (const variable of entry.variables ?? []) for (const key of Object.keys(variable)) features.add(`${variable.type}.${key}`);
        if (plan.secrets.length) features.add('secret');
      }
    }
    for (const feature of ['GET', 'POST', 'query', 'headers', 'body', 'body_encoding', 'timeout_seconds', 'retries', 'response.max_bytes', 'response.pick', 'response.template', 'secret']) expect(features).toContain(feature);
    for (const feature of ['text.max_length', 'text.min_length', 'text.pattern', 'text.default', 'number.minimum', 'number.maximum', 'number.integer', 'number.default', 'dropdown.options', 'dropdown.default', 'text.required', 'dropdown.required']) {
      expect(features).toContain(feature);
    }
  });
});

describe('switchboard try', () => {
  const TOKEN = 'shop-token-5d1e8a7b90';
  let upstream: Upstream;
  let dir: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    dir = tempDir('api-try');
    writeManifests(dir, {
      'acme/account.yaml': ACCOUNT,
      'acme/desk.yaml': `persona_id: desk
tools:
  - type: api_request
    name: order_status
    description: Look up an order.
    method: GET
    url: ${upstream.base}/orders/{{order_number}}
    query: { store: "{{store}}" }
    headers:
      Authorization: Bearer {{secret.SHOP_TOKEN}}
      X-Caller: "{{caller_id_number}}"
    variables:
      - { name: order_number, type: text, required: true }
      - { name: store, type: dropdown, options: [downtown, airport], default: downtown }
    response:
      pick: { status: /status }
      template: "Order {{order_number}} is {{status}}."
  - type: api_request
    name: book_visit
    description: Book a visit.
    method: POST
    url: ${upstream.base}/visits
    body: { technicians: "{{technicians}}", call: "{{call_id}}" }
    variables:
      - { name: technicians, type: number, integer: true, minimum: 1, maximum: 3 }
  - type: api_request
    name: echo_pad
    description: The API quotes the key it was sent, after the pad.
    method: GET
    url: ${upstream.base}/echo
    query: { pad: "{{pad}}" }
    headers: { Authorization: "Bearer {{secret.SHOP_TOKEN}}" }
    variables: [{ name: pad, type: text, max_length: 2000 }]
`,
    });
  });
  afterAll(async () => {
    await upstream.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const base = () => ['try', '--personas', dir, '--account', 'acme', '--persona', 'desk'];

  it('prints the exact request with secrets masked, and sends nothing with --dry-run', async () => {
    upstream.reset();
    const run = await runCli([...base(), 'order_status', '--arg', 'order_number=A/1 "x"', '--caller', '(212) 555-0100', '--dry-run'], { env: { SHOP_TOKEN: TOKEN } });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [`GET ${upstream.base}/orders/A%2F1%20%22x%22?store=downtown`, 'Authorization: Bearer ***', 'X-Caller: +12125550100', 'Accept: application/json, text/plain;q=0.9, */*;q=0.5', ''].join('\n'),
    );
    expect(upstream.requests).toHaveLength(0);

    const body = await runCli([...base(), 'book_visit', '--arg', 'technicians=2', '--call', 'c-1', '--dry-run', '--json']);
    expect(body.code).toBe(0);
    expect(JSON.parse(body.stdout)).toEqual({
      request: { method: 'POST', url: `${upstream.base}/visits`, headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/plain;q=0.9, */*;q=0.5' }, body: '{"technicians":2,"call":"c-1"}' },
    });
  });

  it('shows a missing secret in a dry run and refuses to send without it', async () => {
    const dry = await runCli([...base(), 'order_status', '--arg', 'order_number=A1', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('Authorization: Bearer <missing secret SHOP_TOKEN>');
    expect(dry.stderr).toContain('warning: secret not set: SHOP_TOKEN');
    const real = await runCli([...base(), 'order_status', '--arg', 'order_number=A1'], { env: { SWITCHBOARD_OUTBOUND_ALLOW: '127.0.0.1' } });
    expect(real.code).toBe(2);
    expect(real.stderr).toContain('secret SHOP_TOKEN is not set');
  });

  it('masks like the server: first, then cuts, so no part of a secret is left where the caller puts the cut', async () => {
    const tail = 'y'.repeat(40);
    upstream.reset((request) => ({ body: `${new URL(request.target, 'http://x').searchParams.get('pad')}${String(request.headers.authorization).slice(7)}${tail}`, headers: { 'content-type': 'text/plain' } }));
    for (const inside of [1, 9, TOKEN.length - 1]) {
      const pad = 'x'.repeat(1499 - inside);
      const run = await runCli([...base(), 'echo_pad', '--arg', `pad=${pad}`, '--json'], { env: { SHOP_TOKEN: TOKEN, SWITCHBOARD_OUTBOUND_ALLOW: '127.0.0.1' } });
      expect(run.code, run.stderr).toBe(0);
      expect((JSON.parse(run.stdout) as { result: { text: string } }).result.text).toBe(`${`${pad}***${tail}`.slice(0, 1499)}…`);
      expect(run.stdout + run.stderr).not.toContain(TOKEN.slice(0, 4));
    }
  });

  it('masks a secret of any length, and warns about a short one by name', async () => {
    const run = await runCli([...base(), 'echo_pad', '--arg', 'pad=x', '--dry-run'], { env: { SHOP_TOKEN: 'Q7%' } });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Authorization: Bearer ***\n');
    expect(run.stdout).not.toContain('Q7');
    expect(run.stderr).toBe('warning: secret SHOP_TOKEN has only 3 characters: it is masked wherever those characters appear in tool texts, logs and the audit trail, which hides ordinary text too; use a random value of 8 or more characters\n');
  });

  it('checks the arguments like the server does', async () => {
    const run = await runCli([...base(), 'book_visit', '--arg', 'technicians=9', '--dry-run']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('"technicians" must be <= 3');
    const infinite = await runCli([...base(), 'book_visit', '--arg', 'technicians=1e309', '--dry-run']);
    expect(infinite.code).toBe(2);
    expect(infinite.stderr).toContain('"technicians" must be a finite number');
    const unknown = await runCli([...base(), 'book_visit', '--arg', 'colour=red', '--dry-run']);
    expect(unknown.stderr).toContain('book_visit has no variable "colour" (variables: technicians)');
  });

  it('sends the request and prints what the model gets, through the same SSRF guard', async () => {
    upstream.reset(() => ({ body: { status: 'shipped' } }));
    const refused = await runCli([...base(), 'order_status', '--arg', 'order_number=A-1'], { env: { SHOP_TOKEN: TOKEN } });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('Tool error: This tool is not allowed to reach its service');
    expect(refused.stderr).toContain('127.0.0.1 is a loopback address; an operator can allow internal hosts with SWITCHBOARD_OUTBOUND_ALLOW');
    expect(upstream.requests).toHaveLength(0);

    const run = await runCli([...base(), 'order_status', '--arg', 'order_number=A-1', '--json'], { env: { SHOP_TOKEN: TOKEN, SWITCHBOARD_OUTBOUND_ALLOW: '127.0.0.1' } });
    expect(run.code).toBe(0);
    const output = JSON.parse(run.stdout) as { request: { headers: Record<string, string> }; result: unknown };
    expect(output.request.headers.Authorization).toBe('Bearer ***');
    expect(output.result).toEqual({ is_error: false, text: 'Order A-1 is shipped.', structured_content: { http_status: 200, data: { status: 'shipped' } } });
    expect(upstream.requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(run.stdout + run.stderr).not.toContain(TOKEN);
  });
});
