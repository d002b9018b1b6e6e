/**
 * Runs the official MCP conformance suite's server scenarios against a real
 * Switchboard serving the example personas, through a proxy that adds the
 * API key and call headers the suite cannot send itself.
 *
 *   npm run conformance                 # every scenario below
 *   npm run conformance -- ping tools-list
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

import { resolveSettings } from '../../engine/config.ts';
import { silentLogger } from '../../engine/logging.ts';
import { startServer } from '../../engine/server.ts';
import { EXAMPLE_PERSONAS, REPO_ROOT, tempDir } from '../helpers/server.ts';
import { startHeaderProxy } from './header-proxy.ts';

export const SCENARIOS = [
  'server-initialize',
  'ping',
  'tools-list',
  'server-sse-multiple-streams',
  'dns-rebinding-protection',
  'server-session-lifecycle',
  'server-stateless',
  'http-header-validation',
];

function runScenario(url: string, scenario: string): Promise<{ scenario: string; code: number | null; output: string }> {
  const cli = path.join(REPO_ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
  const shim = path.join(REPO_ROOT, 'tests/conformance/fs-glob-shim.mjs');
  const baseline = path.join(REPO_ROOT, 'tests/conformance/expected-failures.yaml');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', shim, cli, 'server', '--url', url, '--scenario', scenario, '--expected-failures', baseline], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('close', (code) => resolve({ scenario, code, output }));
  });
}

export async function runConformance(scenarios = SCENARIOS, personasDir = EXAMPLE_PERSONAS) {
  const settings = { ...resolveSettings({}, {}), port: 0, dataDir: tempDir('conformance'), personasDir, dbSynchronous: 'normal' as const, rateLimitPerSecond: 0 };
  const server = await startServer({ settings, logger: silentLogger, watch: false, env: {} });
  const { key } = await server.keys.create({ accountId: 'acme', role: 'mcp', name: 'conformance' });
  const proxy = await startHeaderProxy(server.url, { 'x-api-key': key, account_id: 'acme', persona_id: 'front-desk', call_id: 'conformance-call' });
  try {
    const results = [];
    for (const scenario of scenarios) results.push(await runScenario(`${proxy.url}/ucp/v2/mcp`, scenario));
    return results;
  } finally {
    await proxy.close();
    await server.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const chosen = process.argv.slice(2);
  const results = await runConformance(chosen.length ? chosen : SCENARIOS);
  let failed = 0;
  for (const result of results) {
    const passed = result.code === 0;
    if (!passed) failed += 1;
    console.log(`${passed ? 'PASS' : 'FAIL'}  ${result.scenario}`);
    if (!passed || process.env.VERBOSE) console.log(result.output.replace(/^/gm, '      '));
  }
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}
