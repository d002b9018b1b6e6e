/**
 * The README's quick start, run as written: `switchboard serve` on a fresh
 * data directory prints a key, the SDK example client and the Inspector CLI
 * command from the README call a tool with it; on a terminal, the first
 * screen the README shows is what the server prints.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { serveOnTerminal, startServe, type ServeProcess } from './helpers/cli.ts';
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

describe('README first screen', () => {
  it('is what npm start prints on a terminal from a fresh data directory', async () => {
    const readme = fs.readFileSync(`${REPO_ROOT}/README.md`, 'utf8');
    const shown = /```\n(Switchboard \S+ is serving\.\n[\s\S]*?)```/.exec(readme)?.[1];
    expect(shown, 'the first screen in README.md').toBeDefined();

    const terminal = serveOnTerminal(['--data', tempDir('quickstart-tty'), '--personas', EXAMPLE_PERSONAS]);
    try {
      const printed = (await terminal.waitFor(/Switchboard \S+ is serving\.\n[\s\S]*?keys create --account <id> \[--role mcp\|admin\]\n/))[0];
      const url = /MCP endpoint {3}(\S+)\/ucp\/v2\/mcp/.exec(printed)?.[1] as string;
      // What differs from machine to machine: the port (the README's is the default), the checkout's path, the key.
      const normalized = printed
        .replaceAll(` SWITCHBOARD_URL=${url}/ucp/v2/mcp`, '')
        .replaceAll(url, 'http://127.0.0.1:9443')
        .replaceAll(EXAMPLE_PERSONAS, '/home/you/switchboard/personas')
        .replace(/id: key_\w+/, 'id: key_3f9a1c2b7d4e')
        .replaceAll(/sb_[A-Za-z0-9_-]{32}/g, 'sb_...')
        .split('\n');
      // Every line the README shows is printed, in this order; "  ..." stands for lines left out.
      let at = 0;
      for (const line of shown!.trimEnd().split('\n')) {
        if (line === '  ...') continue;
        const found = normalized.indexOf(line, at);
        expect(found, `README line not printed (in order): ${line}\n\nprinted:\n${normalized.join('\n')}`).toBeGreaterThanOrEqual(0);
        at = found + 1;
      }
    } finally {
      await terminal.stop('SIGTERM');
    }
  });
});
