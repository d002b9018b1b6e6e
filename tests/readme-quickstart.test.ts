/**
 * The README's quick start, run as written: `switchboard serve` on a fresh
 * data directory prints a key, the SDK example client and the Inspector CLI
 * command from the README call a tool with it.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startServe, type ServeProcess } from './helpers/cli.ts';
import { EXAMPLE_PERSONAS, REPO_ROOT, tempDir } from './helpers/server.ts';

const exec = promisify(execFile);
let serve: ServeProcess;
let key: string;

beforeAll(async () => {
  serve = await startServe(['--data', tempDir('quickstart'), '--personas', EXAMPLE_PERSONAS]);
  key = (await serve.waitFor(/key:\s+(sb_\S+)/))[1] as string;
});
afterAll(async () => serve.stop());

/** A shell command from README.md: the lines of the code block starting at `prefix`, joined. */
function readmeCommand(prefix: string): string {
  const readme = fs.readFileSync(`${REPO_ROOT}/README.md`, 'utf8');
  const start = readme.indexOf(prefix);
  if (start < 0) throw new Error(`README.md has no command starting with ${prefix}`);
  const lines: string[] = [];
  for (const line of readme.slice(start).split('\n')) {
    lines.push(line.replace(/\\$/, ''));
    if (!line.endsWith('\\')) break;
  }
  return lines.join(' ');
}

describe('README quick start', () => {
  it('the SDK example client lists tools and asks whether the office is open', async () => {
    const { stdout } = await exec('npx', ['tsx', 'examples/quickstart-client.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, SWITCHBOARD_API_KEY: key, SWITCHBOARD_URL: `${serve.url}/ucp/v2/mcp` },
    });
    expect(stdout).toMatch(/^tools: transfer_call, is_office_open, /m);
    expect(stdout).toMatch(/^is_office_open: Office is (currently open|currently closed|closed today|open 24 hours today)\. We (open again|close) .+\.$/m);
  });

  it('the Inspector CLI command calls a tool', async () => {
    const command = readmeCommand('npx @modelcontextprotocol/inspector --cli').replace('http://127.0.0.1:9443', serve.url).replace('sb_...', key);
    const { stdout } = await exec('bash', ['-c', command], { cwd: REPO_ROOT });
    const result = JSON.parse(stdout) as { content: { text: string }[]; structuredContent: { timezone: string } };
    expect(result.content[0]?.text).toMatch(/^Office is /);
    expect(result.structuredContent.timezone).toBe('America/New_York');
  });
});
