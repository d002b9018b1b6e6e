/**
 * The v1 TypeScript SDK client (@modelcontextprotocol/sdk 1.x), what most
 * Node voice bridges and mcp-remote are built on. Unlike the v2 client it
 * checks structuredContent against the tool's outputSchema on error results
 * too, and throws -32602 when they do not match: every error must still
 * come through as its text.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ADDED_TOOL, caseTitle, casesOf, changeToolList, expectAnswer, PERSONAS, personaLabel, resultText, startMatrixServer, waitForListChanged, type MatrixServer } from './matrix.ts';

let matrix: MatrixServer;
const clients = new Map<string, Client>();
let listChanged = 0;

beforeAll(async () => {
  matrix = await startMatrixServer();
  for (const persona of PERSONAS) {
    const client = new Client({ name: 'matrix-sdk-v1', version: '1.0.0' });
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      if (persona.persona === 'after-hours') listChanged += 1;
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(matrix.url), { requestInit: { headers: matrix.headers(persona) } }));
    clients.set(personaLabel(persona), client);
  }
});
afterAll(async () => {
  for (const client of clients.values()) await client.close();
  await matrix?.close();
});

describe.each(PERSONAS.map((persona) => [personaLabel(persona), persona] as const))('v1 SDK client, %s', (label, persona) => {
  it('initializes and lists the tools, each with an output schema the client accepts', async () => {
    const client = clients.get(label) as Client;
    expect(client.getServerVersion()?.name).toBe('switchboard');
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(persona.tools);
  });

  it.each(casesOf(persona).map((item) => [caseTitle(item), item] as const))('%s', async (_title, item) => {
    const client = clients.get(label) as Client;
    // listTools first, as the repro: the client then checks structured content against each outputSchema.
    await client.listTools();
    const result = await client.callTool({ name: item.tool, arguments: item.args });
    expectAnswer(item, { isError: result.isError === true, text: resultText(result) });
  });
});

describe('v1 SDK client, tool list changes', () => {
  it('gets tools/list_changed and then the new tool', async () => {
    const client = clients.get('acme/after-hours') as Client;
    changeToolList(matrix);
    await waitForListChanged(() => listChanged);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toContain(ADDED_TOOL);
  });
});
