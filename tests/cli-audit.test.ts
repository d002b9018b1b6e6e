import { afterAll, beforeAll, expect, it } from 'vitest';

import { auditRows } from './helpers/admin.ts';
import { runCli } from './helpers/cli.ts';
import { callHeaders, connect, startTestServer, type TestServer } from './helpers/server.ts';
import { basicManifests, sensitiveToolKinds } from './helpers/test-tools.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ personas: basicManifests, toolKinds: sensitiveToolKinds });
  const client = await connect(server, callHeaders({ key: await server.key('acme'), call: 'cli-call-1' }), 'modern');
  await client.callTool({ name: 'echo', arguments: { text: 'first' } });
  await client.callTool({ name: 'echo_pin', arguments: { text: 'second', pin: '24680' } });
  await client.callTool({ name: 'echo', arguments: { text: 'third', fail: true } });
  await client.close();
  const other = await connect(server, callHeaders({ key: await server.key('globex'), account: 'globex', persona: 'reception', call: 'cli-globex' }), 'modern');
  await other.callTool({ name: 'echo', arguments: { text: 'globex' } });
  await other.close();
  await auditRows(server, await server.key('acme', 'admin'), {}, 3);
  await auditRows(server, await server.key('globex', 'admin'), {}, 1, 'globex');
});
afterAll(async () => server.close());

const audit = (...args: string[]) => runCli(['audit', ...args, '--data', server.dataDir]);

it("prints an account's rows as a table, newest first, with masked arguments", async () => {
  const result = await audit('--account', 'acme');
  expect(result.code).toBe(0);
  const lines = result.stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^TIME\s+PERSONA\s+CALL\s+TOOL\s+STATUS\s+MS\s+ARGUMENTS\s+TEXT$/);
  expect(lines).toHaveLength(4);
  expect(lines[1]).toMatch(/front-desk\s+cli-call-1\s+echo\s+error TOOL_REFUSED\s+\d+\s+\{"text":"third","fail":true\}\s+Refused on purpose\./);
  expect(lines[2]).toMatch(/echo_pin\s+ok\s+\d+\s+\{"text":"second","pin":"\[redacted\]"\}\s+echo: second/);
  expect(lines[3]).toMatch(/echo\s+ok\s+\d+\s+\{"text":"first"\}\s+echo: first/);
  expect(result.stdout).not.toContain('24680');
  expect(result.stdout).not.toContain('globex');
});

it('filters, pages and prints JSON like the admin API', async () => {
  const json = await audit('--account', 'acme', '--tool', 'echo', '--status', 'ok', '--since', '1h', '--json');
  expect(json.code).toBe(0);
  const body = JSON.parse(json.stdout) as { entries: { tool: string; arguments: Record<string, unknown>; call_id: string }[]; next_cursor: string | null };
  expect(body.entries.map((item) => [item.tool, item.arguments.text, item.call_id])).toEqual([['echo', 'first', 'cli-call-1']]);
  expect(body.next_cursor).toBeNull();

  const first = await audit('--account', 'acme', '--call', 'cli-call-1', '--limit', '2');
  const more = /More rows: add --cursor (\S+)/.exec(first.stdout);
  expect(first.stdout.trim().split('\n')).toHaveLength(4);
  expect(more).not.toBeNull();
  const second = await audit('--account', 'acme', '--call', 'cli-call-1', '--limit', '2', '--cursor', more?.[1] ?? '', '--json');
  expect((JSON.parse(second.stdout) as { entries: { arguments: { text: string } }[] }).entries.map((item) => item.arguments.text)).toEqual(['first']);

  const none = await audit('--account', 'acme', '--call', 'no-such-call');
  expect(none).toMatchObject({ code: 0, stdout: 'No audit rows for account acme match.\n' });
});

it('explains bad input with exit code 2', async () => {
  const missing = await audit();
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain('--account is required');
  const badSince = await audit('--account', 'acme', '--since', 'last week');
  expect(badSince.code).toBe(2);
  expect(badSince.stderr).toContain('since must be an ISO 8601 time');
});
