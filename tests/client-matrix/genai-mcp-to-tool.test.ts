/**
 * @google/genai's mcpToTool (the Gemini SDK for JavaScript): it wraps v1 SDK
 * clients, turns their tools into Gemini function declarations
 * (parametersJsonSchema from inputSchema, responseJsonSchema from
 * outputSchema), and calls a tool for each function call a model makes. No
 * model is asked here: the test makes the function calls a model would and
 * reads the function responses the SDK would send back. mcpToTool lists the
 * tools once and keeps them: after tools/list_changed, a new mcpToTool (or a
 * new Live session) sees the new list.
 */
import { mcpToTool, type CallableTool, type FunctionDeclaration, type Part } from '@google/genai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADDED_TOOL, caseTitle, casesOf, changeToolList, expectAnswer, PERSONAS, personaLabel, resultText, startMatrixServer, type MatrixServer } from './matrix.ts';

let matrix: MatrixServer;
const clients = new Map<string, Client>();
const callables = new Map<string, CallableTool>();

beforeAll(async () => {
  matrix = await startMatrixServer();
  for (const persona of PERSONAS) {
    const client = new Client({ name: 'matrix-genai', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(matrix.url), { requestInit: { headers: matrix.headers(persona) } }));
    clients.set(personaLabel(persona), client);
    callables.set(personaLabel(persona), mcpToTool(client));
  }
});
afterAll(async () => {
  for (const client of clients.values()) await client.close();
  await matrix?.close();
});

/** Every key of a JSON Schema, at any depth. */
function keywords(schema: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(schema)) for (const item of schema) keywords(item, found);
  else if (schema && typeof schema === 'object') {
    for (const [key, value] of Object.entries(schema)) {
      found.add(key);
      if (key === 'properties' && value && typeof value === 'object') for (const property of Object.values(value)) keywords(property, found);
      else if (key !== 'enum' && key !== 'required' && key !== 'default') keywords(value, found);
    }
  }
  return found;
}

/** The function response the SDK sends the model, as the text the model reads and whether it is an error. */
function answerOf(parts: Part[]): { isError: boolean; text: string } {
  expect(parts).toHaveLength(1);
  const response = parts[0]?.functionResponse?.response as { error?: unknown } | undefined;
  if (response && 'error' in response) return { isError: true, text: resultText(response.error) };
  return { isError: false, text: resultText(response) };
}

describe.each(PERSONAS.map((persona) => [personaLabel(persona), persona] as const))('@google/genai mcpToTool, %s', (label, persona) => {
  it('declares every tool as a function Gemini accepts', async () => {
    const { tools } = await (clients.get(label) as Client).listTools();
    const declarations = ((await (callables.get(label) as CallableTool).tool()).functionDeclarations ?? []) as FunctionDeclaration[];
    expect(declarations.map((declaration) => declaration.name)).toEqual(persona.tools);
    for (const declaration of declarations) {
      const tool = tools.find((candidate) => candidate.name === declaration.name);
      // Gemini's rules for names: a letter or underscore first, at most 64 characters; parameter names the same without dots or dashes.
      expect(declaration.name).toMatch(/^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/);
      expect(declaration.description).toBeTruthy();
      expect(declaration.parametersJsonSchema).toEqual(tool?.inputSchema);
      expect(declaration.parametersJsonSchema).toMatchObject({ type: 'object' });
      for (const name of Object.keys((tool?.inputSchema.properties ?? {}) as object)) expect(name).toMatch(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/);
      expect(declaration.responseJsonSchema).toEqual(tool?.outputSchema);
      if (persona.persona === 'reception') {
        // The portable profile: nothing in the declarations that google-genai's Python converter cannot read.
        expect(keywords(declaration.parametersJsonSchema)).not.toContain('additionalProperties');
      }
    }
  });

  it.each(casesOf(persona).map((item) => [caseTitle(item), item] as const))('%s', async (_title, item) => {
    const parts = await (callables.get(label) as CallableTool).callTool([{ name: item.tool, args: item.args }]);
    expectAnswer(item, answerOf(parts));
  });
});

describe('@google/genai mcpToTool, tool list changes', () => {
  it('keeps the list it read; a new mcpToTool declares the new tool', async () => {
    const client = clients.get('acme/after-hours') as Client;
    const names = async (callable: CallableTool) => ((await callable.tool()).functionDeclarations ?? []).map((declaration) => declaration.name);
    changeToolList(matrix);
    await expect.poll(async () => (await client.listTools()).tools.map((tool) => tool.name), { timeout: 10_000, interval: 100 }).toContain(ADDED_TOOL);
    expect(await names(callables.get('acme/after-hours') as CallableTool)).not.toContain(ADDED_TOOL);
    expect(await names(mcpToTool(client))).toContain(ADDED_TOOL);
  });
});
