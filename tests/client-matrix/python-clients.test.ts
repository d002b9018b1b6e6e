/**
 * The Python clients: the MCP Python SDK (mcp 2.x) and google-genai 2.x's MCP
 * support, which turns a session's tools into Gemini function declarations
 * and calls them for the model. They run in a Python process of their own
 * (python/clients.py) against this test's server; no model is asked.
 *
 * The server publishes every persona in the portable tool-schema profile
 * here (the server-wide setting; reception also names it in its manifest):
 * google-genai 2.x's converter crashes on `additionalProperties: false`, which
 * the full profile has.
 *
 * The packages come from a virtual environment: $SWITCHBOARD_PYTHON_CLIENTS or
 * .cache/python-clients, made by python/setup.sh (CI runs it first); without
 * one, the test makes its own in a temporary directory with the same script.
 * A machine without Python fails here with a sentence that says so: these
 * clients are part of the matrix, not an option that disappears quietly.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { REPO_ROOT, tempDir } from '../helpers/server.ts';
import { ADDED_TOOL, caseTitle, casesOf, changeToolList, expectAnswer, PERSONAS, personaLabel, startMatrixServer, type MatrixServer } from './matrix.ts';

const exec = promisify(execFile);
const HERE = path.join(REPO_ROOT, 'tests/client-matrix/python');

interface PersonaReport {
  persona: string;
  server: string;
  tools: string[];
  declarations: { name: string; ok: boolean; error?: string; parameters?: Record<string, unknown> | null }[];
  answers: { is_error: boolean; text: string }[];
}

let matrix: MatrixServer;
let scratch: string | undefined;
const reports = new Map<string, PersonaReport>();
let afterChange: string[] | undefined;

/** The environment's python, made by setup.sh where there is none yet. */
async function pythonClients(): Promise<string> {
  const ready = (dir: string) => fs.existsSync(path.join(dir, 'bin/python')) && fs.existsSync(path.join(dir, 'requirements.txt')) && fs.readFileSync(path.join(dir, 'requirements.txt'), 'utf8') === fs.readFileSync(path.join(HERE, 'requirements.txt'), 'utf8');
  const configured = process.env.SWITCHBOARD_PYTHON_CLIENTS ?? path.join(REPO_ROOT, '.cache/python-clients');
  if (ready(configured)) return path.join(configured, 'bin/python');
  try {
    await exec('python3', ['--version']);
  } catch {
    throw new Error('Python 3 is not installed on this machine, so the Python MCP clients (mcp, google-genai) of the client matrix cannot run. Install python3 with venv and pip.');
  }
  scratch = tempDir('python-clients');
  try {
    await exec('bash', [path.join(HERE, 'setup.sh'), path.join(scratch, 'venv')], { cwd: REPO_ROOT });
  } catch (error) {
    const failed = error as { stderr?: string };
    throw new Error(`The Python MCP clients (${fs.readFileSync(path.join(HERE, 'requirements.txt'), 'utf8').trim().split('\n').join(', ')}) could not be installed from the package registries: ${failed.stderr ?? String(error)}`);
  }
  return path.join(scratch, 'venv/bin/python');
}

beforeAll(async () => {
  const python = await pythonClients();
  matrix = await startMatrixServer({ toolSchemaProfile: 'portable' });
  const plan = {
    url: matrix.url,
    watch: 'acme/after-hours',
    personas: PERSONAS.map((persona) => ({ label: personaLabel(persona), headers: matrix.headers(persona), calls: casesOf(persona).map((item) => ({ tool: item.tool, args: item.args })) })),
  };
  const planFile = path.join(scratch ?? tempDir('python-plan'), 'plan.json');
  fs.writeFileSync(planFile, JSON.stringify(plan));

  const child = spawn(python, [path.join(HERE, 'clients.py'), planFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  for await (const line of readline.createInterface({ input: child.stdout })) {
    const message = JSON.parse(line) as Partial<PersonaReport> & { ready?: boolean; after_change?: string[] };
    if (message.ready) changeToolList(matrix);
    else if (message.after_change) afterChange = message.after_change;
    else reports.set(message.persona as string, message as PersonaReport);
  }
  const code = await exited;
  if (code !== 0) throw new Error(`the Python clients exited with ${String(code)}:\n${stderr}`);
}, 240_000);
afterAll(async () => {
  await matrix?.close();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

describe.each(PERSONAS.map((persona) => [personaLabel(persona), persona] as const))('Python mcp and google-genai, %s', (label, persona) => {
  it('initializes and lists the tools', () => {
    const report = reports.get(label) as PersonaReport;
    expect(report.server).toBe('switchboard');
    expect(report.tools).toEqual(persona.tools);
  });

  it('turns every tool into a Gemini function declaration', () => {
    const report = reports.get(label) as PersonaReport;
    expect(report.declarations.filter((declaration) => !declaration.ok)).toEqual([]);
    expect(report.declarations.map((declaration) => declaration.name)).toEqual(persona.tools);
    for (const declaration of report.declarations) expect(declaration.parameters).toMatchObject({ type: 'OBJECT' });
  });

  const cases = casesOf(persona);
  it.each(cases.map((item, index) => [caseTitle(item), item, index] as const))('%s', (_title, item, index) => {
    const answer = (reports.get(label) as PersonaReport).answers[index];
    expectAnswer(item, { isError: answer?.is_error === true, text: answer?.text ?? '' });
  });
});

describe('Python mcp, tool list changes', () => {
  it('gets tools/list_changed and then the new tool', () => {
    expect(afterChange).toContain(ADDED_TOOL);
  });
});
