/**
 * kill -9 during 100 concurrent create_lead calls, then a restart: every lead
 * and case the server acknowledged is in the database, with its content.
 */
import http from 'node:http';
import path from 'node:path';

import BetterSqlite3 from 'better-sqlite3';
import { expect, it } from 'vitest';

import { runCli, startServe } from '../helpers/cli.ts';
import { EXAMPLE_PERSONAS, tempDir } from '../helpers/server.ts';

interface Acknowledged {
  call: string;
  name: string;
  intent: string;
  leadId: string;
  caseId: string;
}

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'reliability', version: '1.0.0' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

function createLead(url: URL, key: string, n: number): Promise<Acknowledged | undefined> {
  const call = `crash-call-${n}`;
  const name = `Caller ${n} "quoted" ☎`;
  const intent = `Intent number ${n}: ${'x'.repeat(1 + (n % 50))}`;
  const body = JSON.stringify({ jsonrpc: '2.0', id: n, method: 'tools/call', params: { name: 'create_lead', arguments: { name, intent }, _meta: META } });
  return new Promise((resolve) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'x-api-key': key,
          account_id: 'acme',
          persona_id: 'front-desk',
          call_id: call,
          caller_id_number: `+1212555${String(1000 + (n % 40)).padStart(4, '0')}`,
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': 'tools/call',
          'mcp-name': 'create_lead',
        },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => {
          try {
            const parsed = JSON.parse(text.startsWith('{') ? text : (/^data: (.*)$/m.exec(text)?.[1] ?? '')) as { result?: { isError?: boolean; structuredContent?: { lead_id: string; case_id: string } } };
            const data = parsed.result?.structuredContent;
            resolve(response.statusCode === 200 && !parsed.result?.isError && data ? { call, name, intent, leadId: data.lead_id, caseId: data.case_id } : undefined);
          } catch {
            resolve(undefined);
          }
        });
        response.on('error', () => resolve(undefined));
      },
    );
    request.on('error', () => resolve(undefined));
    request.end(body);
  });
}

it('keeps every acknowledged lead and case through kill -9', async () => {
  const data = tempDir('crash');
  const created = await runCli(['keys', 'create', '--account', 'acme', '--json', '--data', data]);
  const key = (JSON.parse(created.stdout) as { key: string }).key;
  const serve = await startServe(['--data', data, '--personas', EXAMPLE_PERSONAS, '--rate-limit', '0']);
  const url = new URL('/ucp/v2/mcp', serve.url);

  const acknowledged: Acknowledged[] = [];
  let killed = false;
  const calls = Array.from({ length: 100 }, (_, n) =>
    createLead(url, key, n).then((ack) => {
      // Only answers that arrived before the kill count as acknowledged.
      if (ack && !killed) acknowledged.push(ack);
      if (acknowledged.length >= 30 && !killed) {
        killed = true;
        serve.child.kill('SIGKILL');
      }
    }),
  );
  await Promise.all(calls);
  await serve.stop('SIGKILL');
  expect(killed).toBe(true);
  expect(acknowledged.length).toBeGreaterThanOrEqual(30);

  // The database as the crash left it: opening it replays the WAL.
  const db = new BetterSqlite3(path.join(data, 'switchboard.db'));
  const findCase = db.prepare<[string], { lead_id: string; call_id: string; name: string; intent: string }>('SELECT lead_id, call_id, name, intent FROM lead_cases WHERE id = ?');
  const findLead = db.prepare<[string], { id: string }>('SELECT id FROM leads WHERE id = ?');
  for (const ack of acknowledged) {
    expect(findCase.get(ack.caseId)).toEqual({ lead_id: ack.leadId, call_id: ack.call, name: ack.name, intent: ack.intent });
    expect(findLead.get(ack.leadId)).toEqual({ id: ack.leadId });
  }
  expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  db.close();

  // And the server starts again on it and keeps serving.
  const again = await startServe(['--data', data, '--personas', EXAMPLE_PERSONAS]);
  try {
    const after = await createLead(new URL('/ucp/v2/mcp', again.url), key, 1000);
    expect(after?.caseId).toMatch(/\S/);
  } finally {
    await again.stop();
  }
});
