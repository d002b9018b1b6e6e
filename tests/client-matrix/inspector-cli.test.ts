/**
 * The MCP Inspector CLI (the README's way to try the server): one process per
 * command, as a person runs it. `--tool-arg key=value` reads the value as
 * JSON when it can, so `user_id=101` arrives as the number 101 and
 * `summary=null` as null: the arguments are written here exactly as a
 * person types them. A tool error prints the result (with its text) and
 * exits with 5. The CLI runs one command and exits, so it never sees
 * tools/list_changed; its next command lists the new tools.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { REPO_ROOT } from '../helpers/server.ts';
import { ADDED_TOOL, caseTitle, casesOf, changeToolList, expectAnswer, PERSONAS, personaLabel, resultText, startMatrixServer, type MatrixPersona, type MatrixServer } from './matrix.ts';

const exec = promisify(execFile);
const INSPECTOR = path.join(REPO_ROOT, 'node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js');

let matrix: MatrixServer;
const headers = new Map<string, Record<string, string>>();

beforeAll(async () => {
  matrix = await startMatrixServer();
  for (const persona of PERSONAS) headers.set(personaLabel(persona), matrix.headers(persona));
});
afterAll(async () => matrix?.close());

/** Runs one Inspector CLI command for the persona's call; its JSON output and exit code. */
async function inspector(persona: MatrixPersona, ...command: string[]): Promise<{ code: number; output: Record<string, unknown> }> {
  const headerFlags = Object.entries(headers.get(personaLabel(persona)) ?? {}).flatMap(([name, value]) => ['--header', `${name}: ${value}`]);
  const args = [INSPECTOR, '--cli', matrix.url, '--transport', 'http', ...headerFlags, ...command];
  try {
    const { stdout } = await exec(process.execPath, args, { cwd: REPO_ROOT });
    return { code: 0, output: JSON.parse(stdout) as Record<string, unknown> };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    if (!failed.stdout) throw new Error(`inspector exited ${String(failed.code)}: ${failed.stderr ?? ''}`);
    return { code: failed.code ?? -1, output: JSON.parse(failed.stdout) as Record<string, unknown> };
  }
}

/** `--tool-arg` pairs as a person writes them: text as it is, anything else as JSON. */
const toolArgs = (args: Record<string, unknown>): string[] => Object.entries(args).flatMap(([name, value]) => ['--tool-arg', `${name}=${typeof value === 'string' ? value : JSON.stringify(value)}`]);

describe.each(PERSONAS.map((persona) => [personaLabel(persona), persona] as const))('Inspector CLI, %s', (_label, persona) => {
  it('initializes and lists the tools', async () => {
    const { code, output } = await inspector(persona, '--method', 'tools/list');
    expect(code).toBe(0);
    expect((output.tools as { name: string }[]).map((tool) => tool.name)).toEqual(persona.tools);
  });

  it.each(casesOf(persona).map((item) => [caseTitle(item), item] as const))('%s', async (_title, item) => {
    const { code, output } = await inspector(persona, '--method', 'tools/call', '--tool-name', item.tool, ...toolArgs(item.args));
    expectAnswer(item, { isError: output.isError === true, text: resultText(output) });
    expect(code).toBe(item.isError ? 5 : 0);
  });
});

describe('Inspector CLI, tool list changes', () => {
  it('lists the new tool in its next command', async () => {
    const persona = PERSONAS[1] as MatrixPersona;
    changeToolList(matrix);
    await expect
      .poll(async () => ((await inspector(persona, '--method', 'tools/list')).output.tools as { name: string }[]).map((tool) => tool.name), { timeout: 10_000, interval: 200 })
      .toContain(ADDED_TOOL);
  });
});
