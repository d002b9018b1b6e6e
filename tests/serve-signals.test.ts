/**
 * Signals during the graceful shutdown of `switchboard serve`: a transfer the
 * phone system is still carrying out when SIGTERM comes finishes even if a
 * second SIGTERM follows (supervisors and operators send one more); a third
 * stops the process at once.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';

import { runCli, startServe, type ServeProcess } from './helpers/cli.ts';
import { eventually, tempDir, textOf, writeManifests } from './helpers/server.ts';

/** A PBX webhook endpoint that holds each command until the test answers it. */
class HoldingPbx {
  readonly held: http.ServerResponse[] = [];
  private readonly server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => this.held.push(res));
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/pbx`;
  }

  answer(index: number): void {
    this.held[index]?.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ success: true }));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let serve: ServeProcess | undefined;
let pbx: HoldingPbx | undefined;
afterEach(async () => {
  await serve?.stop('SIGKILL');
  await pbx?.close();
  serve = undefined;
  pbx = undefined;
});

/** A server whose account transfers through the holding PBX, a client in a call, and a transfer the PBX is holding. */
async function transferInFlight() {
  pbx = new HoldingPbx();
  const url = await pbx.start();
  const personas = tempDir('signals-personas');
  writeManifests(personas, {
    'acme/account.yaml': [
      'account_id: acme',
      'timezone: America/New_York',
      'queues:',
      '  - { id: q-sales, name: Sales, extension: "600" }',
      'call_control:',
      '  driver: webhook',
      `  url: ${url}`,
      '  secret: PBX_SECRET',
      '  timeout_seconds: 60',
      '  retries: 0',
      '',
    ].join('\n'),
    'acme/desk.yaml': 'persona_id: desk\n',
  });
  const data = tempDir('signals-data');
  const key = (JSON.parse((await runCli(['keys', 'create', '--account', 'acme', '--json', '--data', data])).stdout) as { key: string }).key;
  serve = await startServe(['--data', data, '--personas', personas, '--outbound-allow', '127.0.0.1', '--shutdown-grace-seconds', '60'], { PBX_SECRET: 'signals-test-secret' });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => serve?.child.once('exit', (code, signal) => resolve({ code, signal })));

  const client = new Client({ name: 'signals-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL('/ucp/v2/mcp', serve.url), { requestInit: { headers: { 'X-API-Key': key, account_id: 'acme', persona_id: 'desk', call_id: 'signals-1' } } }));
  const transfer = client.callTool({ name: 'transfer_call', arguments: { destination_number: '600' } });
  transfer.catch(() => undefined);
  await eventually(() => (pbx?.held.length ? true : undefined), 10_000, 'the transfer to reach the PBX');
  return { serve, pbx, client, transfer, exited };
}

describe('switchboard serve and repeated signals', () => {
  it('ignores a second SIGTERM while a transfer finishes, then stops cleanly', async () => {
    const { serve, pbx, client, transfer, exited } = await transferInFlight();
    serve.child.kill('SIGTERM');
    await serve.waitFor(/"event":"signal"/);
    serve.child.kill('SIGTERM');
    await serve.waitFor(/"event":"signal_ignored"/);
    expect(serve.child.exitCode).toBeNull();

    pbx.answer(0);
    const result = await transfer;
    expect(textOf(result)).toBe('The call was transferred to Sales (extension 600).');
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(serve.output()).toMatch(/switchboard stopped/);
    await client.close().catch(() => undefined);
  }, 60_000);

  it('stops at once on the third SIGTERM', async () => {
    const { serve, client, exited } = await transferInFlight();
    serve.child.kill('SIGTERM');
    await serve.waitFor(/"event":"signal"/);
    serve.child.kill('SIGTERM');
    await serve.waitFor(/"event":"signal_ignored"/);
    serve.child.kill('SIGTERM');
    expect(await exited).toEqual({ code: 143, signal: null });
    expect(serve.output()).toMatch(/"event":"forced_stop"/);
    expect(serve.output()).not.toMatch(/switchboard stopped/);
    await client.close().catch(() => undefined);
  }, 60_000);
});
