/**
 * Manifests edited under a running server: connected clients of both eras are
 * told their tool list changed and then see the new tools; a broken file keeps
 * its last good version in force and is reported with line and column; fixing
 * it recovers; a deleted persona's sessions get a clear error; a burst of
 * writes ends in one consistent snapshot.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { Client } from '@modelcontextprotocol/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { post, initializeBody, rpcError } from './helpers/http.ts';
import { callHeaders, connect, eventually, startTestServer, textOf, writeManifests, type Era, type TestServer } from './helpers/server.ts';
import { basicManifests, testToolKinds } from './helpers/test-tools.ts';

let server: TestServer;
let key: string;
const clients: Client[] = [];

beforeEach(async () => {
  server = await startTestServer({
    personas: { ...basicManifests, 'acme/account.yaml': `${basicManifests['acme/account.yaml']}queues:\n  - { id: q-sales, name: Sales, extension: "600" }\n` },
    toolKinds: testToolKinds,
  });
  key = await server.key('acme');
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close().catch(() => undefined)));
  await server.close();
});

const withQueueTool = (name: string) => `persona_id: front-desk\ntools:\n  - type: transfer_to_queue\n    name: ${name}\n    description: Send the caller to sales.\n    queue: q-sales\n`;

async function watchingClient(era: Era): Promise<{ client: Client; changes: () => number }> {
  let changes = 0;
  const client = await connect(server, callHeaders({ key }), era, {
    listChanged: { tools: { onChanged: () => (changes += 1) } },
  });
  clients.push(client);
  if (era === 'legacy') {
    // The legacy notification reaches the client on its GET stream; make sure the stream is open.
    await eventually(() => ([...server.running.sessions.all()].some((session) => session.inFlight > 0) ? true : undefined), 3000, 'GET stream');
  } else {
    await eventually(() => ((client as unknown as { autoOpenedSubscription?: unknown }).autoOpenedSubscription ? true : undefined), 3000, 'subscription');
  }
  return { client, changes: () => changes };
}

const toolNames = async (client: Client) => (await client.listTools()).tools.map((tool) => tool.name);

describe.each<Era>(['legacy', 'modern'])('%s era', (era) => {
  it('gets tools/list_changed after an edit and then the new tools', async () => {
    const { client, changes } = await watchingClient(era);
    expect(await toolNames(client)).toEqual(['echo']);
    writeManifests(server.personasDir, { 'acme/front-desk.yaml': withQueueTool('transfer_to_sales') });
    await eventually(() => (changes() > 0 ? true : undefined), 5000, 'list_changed');
    expect(await toolNames(client)).toEqual(['echo', 'transfer_to_sales']);
    expect(textOf(await client.callTool({ name: 'transfer_to_sales', arguments: {} }))).toBe('would transfer to Sales');
  });
});

describe('last known good', () => {
  it('keeps the old tools when a file breaks, reports line and column, and recovers when fixed', async () => {
    writeManifests(server.personasDir, { 'acme/front-desk.yaml': withQueueTool('transfer_to_sales') });
    await eventually(() => (server.running.registry.current().personas.size === 3 && server.running.registry.current().generation > 1 ? true : undefined));
    await eventually(async () => ((await server.running.registry.current()).problems.length === 0 ? true : undefined));
    const client = await connect(server, callHeaders({ key }));
    clients.push(client);
    await eventually(async () => ((await toolNames(client)).includes('transfer_to_sales') ? true : undefined));

    const before = server.running.registry.current().generation;
    writeManifests(server.personasDir, { 'acme/front-desk.yaml': withQueueTool('transfer_to_sales').replace('queue: q-sales', 'queue: q-nowhere') });
    const broken = await eventually(() => {
      const snapshot = server.running.registry.current();
      return snapshot.generation > before ? snapshot : undefined;
    });
    expect(broken.problems).toEqual([{ file: 'acme/front-desk.yaml', line: 6, column: 12, path: 'tools[0].queue', message: 'queue "q-nowhere" is not in acme/account.yaml' }]);
    expect(broken.files.get('acme/front-desk.yaml')).toEqual({ kind: 'persona', valid: false, servingLastGood: true });
    expect(textOf(await client.callTool({ name: 'transfer_to_sales', arguments: {} }))).toBe('would transfer to Sales');
    const ready = await (await fetch(new URL('/readyz', server.url))).json() as { problems: { text: string }[] };
    expect(ready.problems.map((problem) => problem.text)).toEqual(['acme/front-desk.yaml:6:12: tools[0].queue: queue "q-nowhere" is not in acme/account.yaml']);
    expect(server.logLines.some((line) => line.includes('acme/front-desk.yaml:6:12'))).toBe(true);

    writeManifests(server.personasDir, { 'acme/front-desk.yaml': withQueueTool('transfer_to_sales_team') });
    await eventually(() => (server.running.registry.current().problems.length === 0 ? true : undefined));
    expect(await toolNames(client)).toEqual(['echo', 'transfer_to_sales_team']);
  });

  it('serves a new persona file only once it is valid, while other files still update', async () => {
    writeManifests(server.personasDir, { 'acme/new.yaml': 'persona_id: new\ntools: [\n', 'acme/sales.yaml': withQueueTool('sales_queue').replace('front-desk', 'sales') });
    await eventually(() => (server.running.registry.current().personas.get('acme\u0000sales')?.catalog.tools.has('sales_queue') ? true : undefined));
    const snapshot = server.running.registry.current();
    expect(snapshot.personas.has('acme\u0000new')).toBe(false);
    expect(snapshot.problems.map((problem) => problem.file)).toEqual(['acme/new.yaml']);
    const refused = await post(server, callHeaders({ key, persona: 'new' }), initializeBody());
    expect(refused.status).toBe(404);
  });
});

describe('deleting a persona', () => {
  it("removes its tools and gives its live sessions a clear error", async () => {
    const client = await connect(server, callHeaders({ key, persona: 'sales' }));
    clients.push(client);
    fs.rmSync(path.join(server.personasDir, 'acme/sales.yaml'));
    await eventually(() => (server.running.registry.current().personas.has('acme\u0000sales') ? undefined : true));
    expect(await toolNames(client)).toEqual([]);
    const result = await client.callTool({ name: 'echo', arguments: { text: 'x' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^This assistant \(persona "sales"\) is no longer configured/);
    const fresh = await post(server, callHeaders({ key, persona: 'sales' }), initializeBody());
    expect(rpcError(fresh)?.data?.code).toBe('UNKNOWN_PERSONA');
  });
});

describe('editor saves', () => {
  it('picks up an atomic save (write a temporary file, rename it over the manifest)', async () => {
    const target = path.join(server.personasDir, 'acme/front-desk.yaml');
    const temporary = path.join(server.personasDir, 'acme/.front-desk.yaml.swp');
    fs.writeFileSync(temporary, withQueueTool('renamed_in'));
    fs.renameSync(temporary, target);
    await eventually(() => (server.running.registry.current().personas.get('acme\u0000front-desk')?.catalog.tools.has('renamed_in') ? true : undefined));
    expect(server.running.registry.current().problems).toEqual([]);
  });
});

describe('many files at once', () => {
  it('ends in one consistent snapshot with every change', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i += 1) files[`acme/p${i}.yaml`] = withQueueTool(`queue_${i}`).replace('front-desk', `p${i}`);
    const before = server.running.registry.stats().reloads;
    writeManifests(server.personasDir, files);
    const snapshot = await eventually(() => {
      const current = server.running.registry.current();
      return current.personas.size === 43 ? current : undefined;
    }, 8000);
    for (let i = 0; i < 40; i += 1) expect(snapshot.personas.get(`acme\u0000p${i}`)?.catalog.tools.has(`queue_${i}`)).toBe(true);
    // A burst is folded into few reloads, not one per file.
    expect(server.running.registry.stats().reloads - before).toBeLessThan(10);
  });
});
