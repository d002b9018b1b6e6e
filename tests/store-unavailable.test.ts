/**
 * A PostgreSQL server that cannot be reached (a failover, a restart, the
 * network) is a retryable STORE_UNAVAILABLE everywhere: a tool tells the
 * agent it may try once more, the admin API answers 503 with Retry-After,
 * and once the database is back the same server serves again. The cut is
 * made for real, by a TCP relay in front of PostgreSQL that the test
 * closes and opens again.
 */
import net from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { adminRequest } from './helpers/pbx.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { callHeaders, connect, freePort, startTestServer, textOf, type TestServer } from './helpers/server.ts';

/** Relays loopback connections to PostgreSQL until closed; `open` listens on the same port again. */
class Relay {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  async open(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

let server: TestServer;
let relay: Relay;
let drop: () => Promise<void>;

beforeAll(async () => {
  const database = await freshDatabase();
  drop = database.drop;
  const url = new URL(database.url);
  relay = new Relay(await freePort(), { host: url.hostname, port: Number(url.port) });
  await relay.open();
  url.port = String(relay.port);
  server = await startTestServer({ settings: { databaseUrl: url.toString(), databaseStatementTimeoutMs: 2000 } });
});
afterAll(async () => {
  await server?.close();
  await relay.close();
  await drop();
});

describe('a database that cannot be reached', () => {
  it('is a retryable error for tools and the admin API, and the server serves again once it is back', async () => {
    const key = await server.key('acme');
    const adminKey = await server.key('acme', 'admin');
    const client = await connect(server, callHeaders({ key, call: 'down-1', caller: '+12125550111' }));
    const lead = { name: 'Jane Doe', intent: 'A quote' };
    expect((await client.callTool({ name: 'create_lead', arguments: lead })).isError).toBeFalsy();

    await relay.close();
    const failed = await client.callTool({ name: 'create_lead', arguments: { ...lead, intent: 'Another quote' } });
    expect(failed.isError).toBe(true);
    expect(textOf(failed)).toBe('The data store cannot be reached right now, so this could not be done. You may try once more in a moment; if it fails again, tell the caller it cannot be done right now.');
    expect(failed.structuredContent).toMatchObject({ error: { code: 'STORE_UNAVAILABLE', retryable: true } });
    const listed = await adminRequest(server.url, adminKey, 'GET', '/ucp/v2/accounts/acme/leads');
    expect(listed.status).toBe(503);
    expect(listed.body).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } });

    await relay.open();
    await expect.poll(async () => (await client.callTool({ name: 'create_lead', arguments: { ...lead, intent: 'Third time' } })).isError ?? false, { timeout: 10_000 }).toBe(false);
    expect((await adminRequest(server.url, adminKey, 'GET', '/ucp/v2/accounts/acme/leads')).status).toBe(200);
  });
});
