/**
 * The OpenAI Agents SDK for JavaScript: MCPServerStreamableHttp, its tools
 * turned into strict function tools (convertSchemasToStrict), and each call
 * made through the SDK's own function-tool path with the arguments a model
 * in strict mode sends: every declared property, null for the optional ones
 * it has no value for. This SDK turns those nulls back into absent arguments
 * before the MCP call; strict clients that do not (the Realtime API, other
 * SDKs) send them as they are, and the server takes null as absent (the
 * null cases of the other clients of the matrix show it). No OpenAI request
 * is made. The SDK does not listen
 * for tools/list_changed; without cacheToolsList it lists again for each run,
 * which sees the new tools.
 */
import { Agent, getAllMcpTools, MCPServerStreamableHttp, RunContext, type FunctionTool } from '@openai/agents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADDED_TOOL, caseTitle, casesOf, changeToolList, expectAnswer, PERSONAS, personaLabel, startMatrixServer, type MatrixPersona, type MatrixServer } from './matrix.ts';

type JsonSchema = { type?: unknown; properties?: Record<string, JsonSchema>; required?: string[]; anyOf?: JsonSchema[]; additionalProperties?: unknown };

interface Connected {
  server: MCPServerStreamableHttp;
  tools: FunctionTool[];
  /** The MCP tool list as the server published it. */
  published: Map<string, JsonSchema>;
  /** Whether the last result the SDK's MCP layer got was a tool error (the model gets its text only). */
  lastIsError: boolean;
}

let matrix: MatrixServer;
const connected = new Map<string, Connected>();
const agent = new Agent({ name: 'matrix' });

async function functionTools(server: MCPServerStreamableHttp): Promise<FunctionTool[]> {
  return (await getAllMcpTools({ mcpServers: [server], convertSchemasToStrict: true, runContext: new RunContext({}), agent })) as FunctionTool[];
}

beforeAll(async () => {
  matrix = await startMatrixServer();
  for (const persona of PERSONAS) {
    const server = new MCPServerStreamableHttp({ url: matrix.url, name: 'switchboard', requestInit: { headers: matrix.headers(persona) } });
    await server.connect();
    const entry: Connected = { server, tools: [], published: new Map(), lastIsError: false };
    const callTool = server.callTool.bind(server);
    server.callTool = async (...args: Parameters<typeof callTool>) => {
      const content = await callTool(...args);
      entry.lastIsError = (content as { isError?: boolean }).isError === true;
      return content;
    };
    entry.tools = await functionTools(server);
    for (const tool of await server.listTools()) entry.published.set(tool.name, tool.inputSchema as JsonSchema);
    connected.set(personaLabel(persona), entry);
  }
});
afterAll(async () => {
  for (const entry of connected.values()) await entry.server.close();
  await matrix?.close();
});

const admitsNull = (schema: JsonSchema | undefined): boolean =>
  Boolean(schema && ((Array.isArray(schema.type) && schema.type.includes('null')) || schema.type === 'null' || schema.anyOf?.some(admitsNull)));

/** The arguments a model in strict mode sends: what the case gives, null for each optional property it leaves out. */
function strictCall(entry: Connected, tool: string, args: Record<string, unknown>): Record<string, unknown> {
  const published = entry.published.get(tool) ?? {};
  const required = new Set(published.required ?? []);
  const call: Record<string, unknown> = { ...args };
  for (const name of Object.keys(published.properties ?? {})) if (!(name in call) && !required.has(name)) call[name] = null;
  return call;
}

describe.each(PERSONAS.map((persona) => [personaLabel(persona), persona] as const))('OpenAI Agents SDK, %s', (label, persona: MatrixPersona) => {
  it('initializes and turns the tools into function tools', () => {
    const entry = connected.get(label) as Connected;
    expect(entry.tools.map((tool) => tool.name)).toEqual(persona.tools);
  });

  it('converts them to strict schemas that keep optional arguments optional (as nullable)', () => {
    const entry = connected.get(label) as Connected;
    for (const tool of entry.tools) {
      const published = entry.published.get(tool.name) ?? {};
      const declared = Object.keys(published.properties ?? {});
      if (persona.persona === 'reception' && !declared.length) {
        // The portable profile publishes no additionalProperties: an empty open object has no strict form, so the SDK falls back.
        expect(tool.strict).toBe(false);
        continue;
      }
      expect(tool.strict).toBe(true);
      const parameters = tool.parameters as JsonSchema;
      expect(parameters.additionalProperties).toBe(false);
      expect(new Set(parameters.required)).toEqual(new Set(declared));
      for (const name of declared) {
        const optional = !(published.required ?? []).includes(name);
        expect(admitsNull(parameters.properties?.[name]), `${tool.name}.${name}`).toBe(optional);
      }
    }
  });

  it.each(casesOf(persona).map((item) => [caseTitle(item), item] as const))('%s', async (_title, item) => {
    const entry = connected.get(label) as Connected;
    const tool = entry.tools.find((candidate) => candidate.name === item.tool) as FunctionTool;
    const output = (await tool.invoke(new RunContext({}), JSON.stringify(strictCall(entry, item.tool, item.args)))) as { type?: string; text?: string };
    expect(output.type).toBe('text');
    expectAnswer(item, { isError: entry.lastIsError, text: output.text ?? '' });
  });
});

describe('OpenAI Agents SDK, tool list changes', () => {
  it('lists the new tool for the next run', async () => {
    const entry = connected.get('acme/after-hours') as Connected;
    changeToolList(matrix);
    await expect.poll(async () => (await functionTools(entry.server)).map((tool) => tool.name), { timeout: 10_000, interval: 100 }).toContain(ADDED_TOOL);
  });
});
