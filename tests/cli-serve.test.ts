/**
 * `switchboard serve` as an operator runs it: the first key printed once,
 * settings from flags and environment, SIGHUP reload, SIGTERM shutdown.
 */
import fs from 'node:fs';
import path from 'node:path';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';

import { startServe, runCli, type ServeProcess } from './helpers/cli.ts';
import { EXAMPLE_PERSONAS, eventually, tempDir, writeManifests } from './helpers/server.ts';

let serve: ServeProcess | undefined;
afterEach(async () => {
  await serve?.stop('SIGKILL');
  serve = undefined;
});

const readyz = async (url: string) => (await fetch(new URL('/readyz', url))).json() as Promise<{ status: string; manifests: { generation: number; personas: number } }>;

describe('switchboard serve', () => {
  it('creates and prints the first key once, then serves MCP with it', async () => {
    const data = tempDir('serve');
    serve = await startServe(['--data', data, '--personas', EXAMPLE_PERSONAS]);
    const printed = await serve.waitFor(/key:\s+(sb_\S+)/);
    const key = printed[1] as string;
    expect(serve.output()).toMatch(/account: acme {3}role: mcp/);
    // The JSON log never holds the key.
    const logLines = serve.output().split('\n').filter((line) => line.startsWith('{'));
    expect(logLines.some((line) => line.includes('bootstrap_key_created'))).toBe(true);
    expect(logLines.join('\n')).not.toContain(key);

    const client = new Client({ name: 'serve-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL('/ucp/v2/mcp', serve.url), { requestInit: { headers: { 'X-API-Key': key, account_id: 'acme', persona_id: 'front-desk', call_id: 'serve-1' } } }));
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await client.close();
    expect(await serve.stop('SIGTERM')).toBe(0);
    expect(serve.output()).toMatch(/switchboard stopped/);

    // Keys exist now: a second start prints none.
    serve = await startServe(['--data', data, '--personas', EXAMPLE_PERSONAS]);
    expect(serve.output()).not.toMatch(/key:\s+sb_/);
  });

  it('reads settings from the environment and reloads on SIGHUP', async () => {
    const data = tempDir('serve-env');
    const personas = tempDir('serve-personas');
    fs.cpSync(EXAMPLE_PERSONAS, personas, { recursive: true });
    serve = await startServe([], { SWITCHBOARD_DATA: data, SWITCHBOARD_PERSONAS: personas, SWITCHBOARD_RELOAD_DEBOUNCE_MS: '60000' });
    expect(fs.existsSync(path.join(data, 'switchboard.db'))).toBe(true);
    const before = await readyz(serve.url);
    writeManifests(personas, { 'acme/extra.yaml': 'persona_id: extra\n' });
    serve.child.kill('SIGHUP');
    const after = await eventually(async () => {
      const body = await readyz(serve!.url);
      return body.manifests.generation > before.manifests.generation ? body : undefined;
    });
    expect(after.manifests.personas).toBe(before.manifests.personas + 1);
  });

  it('refuses a setting that does not parse, naming it', async () => {
    const result = await runCli(['serve', '--port', 'eighty']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--port (SWITCHBOARD_PORT) must be a whole number from 0 to 65535, got "eighty"');
  });
});
