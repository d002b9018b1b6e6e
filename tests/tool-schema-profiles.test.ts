/**
 * Tool-schema profiles through a real server and client: what tools/list
 * publishes for a persona in `full` and in `portable`, chosen by the
 * manifest or the server-wide setting, and that arguments are checked in
 * full whatever was published.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { resolveSettings } from '../engine/config.ts';
import { callHeaders, connect, startTestServer, textOf, type TestServer } from './helpers/server.ts';

const account = 'account_id: acme\ntimezone: America/New_York\ndefault_country: US\nusers:\n  - { id: u-101, name: Sam Ortiz, extension: "101" }\n';
const apiTool = `tools:
  - type: api_request
    name: order_status
    description: Look up an order.
    method: GET
    url: https://shop.example.com/orders/{{order_number}}
    variables:
      - { name: order_number, type: text, required: true, description: The order number }
`;
const manifests = {
  'acme/account.yaml': account,
  'acme/plain.yaml': `persona_id: plain\n${apiTool}`,
  'acme/gemini.yaml': `persona_id: gemini\ntool_schema_profile: portable\n${apiTool}`,
  'acme/openai.yaml': `persona_id: openai\ntool_schema_profile: full\n${apiTool}`,
};

/** Every key of the published schemas, at any depth except inside property maps. */
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

async function published(server: TestServer, persona: string) {
  const client = await connect(server, callHeaders({ key: await server.key(), persona }));
  try {
    return (await client.listTools()).tools;
  } finally {
    await client.close();
  }
}

describe('with the default setting (full)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ personas: manifests });
  });
  afterAll(async () => server.close());

  it('publishes additionalProperties: false unless the persona asks for portable', async () => {
    for (const persona of ['plain', 'openai']) {
      for (const tool of await published(server, persona)) expect(tool.inputSchema.additionalProperties, `${persona} ${tool.name}`).toBe(false);
    }
    const portable = await published(server, 'gemini');
    expect(portable.map((tool) => tool.name)).toEqual((await published(server, 'plain')).map((tool) => tool.name));
    for (const tool of portable) {
      expect(keywords(tool.inputSchema), tool.name).not.toContain('additionalProperties');
      expect(keywords(tool.outputSchema ?? {}), tool.name).not.toContain('additionalProperties');
    }
  });

  it('keeps everything else of a schema in the portable profile', async () => {
    const full = await published(server, 'plain');
    const portable = await published(server, 'gemini');
    for (const tool of full) {
      const { additionalProperties: _dropped, ...rest } = tool.inputSchema;
      expect(portable.find((candidate) => candidate.name === tool.name)?.inputSchema).toEqual(rest);
    }
  });

  it('checks the arguments in full whatever it published', async () => {
    const client = await connect(server, callHeaders({ key: await server.key(), persona: 'gemini' }));
    const result = await client.callTool({ name: 'check_user_availability', arguments: { user_id: 'u-101', note: 'urgent' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('Invalid arguments: "note" is not an argument of this tool (its arguments: user_id). Correct them and call the tool again.');
    await client.close();
  });
});

describe('with the server-wide setting portable', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ personas: manifests, settings: { toolSchemaProfile: 'portable' } });
  });
  afterAll(async () => server.close());

  it('publishes portable schemas unless the persona names full', async () => {
    for (const tool of await published(server, 'plain')) expect(keywords(tool.inputSchema), tool.name).not.toContain('additionalProperties');
    for (const tool of await published(server, 'openai')) expect(tool.inputSchema.additionalProperties, tool.name).toBe(false);
  });
});

describe('the setting', () => {
  it('is read from the flag and the environment', () => {
    expect(resolveSettings({}, {}).toolSchemaProfile).toBe('full');
    expect(resolveSettings({}, { SWITCHBOARD_TOOL_SCHEMA_PROFILE: 'portable' }).toolSchemaProfile).toBe('portable');
    expect(resolveSettings({ 'tool-schema-profile': 'full' }, { SWITCHBOARD_TOOL_SCHEMA_PROFILE: 'portable' }).toolSchemaProfile).toBe('full');
  });

  it('refuses a profile it does not know, naming the setting', () => {
    expect(() => resolveSettings({}, { SWITCHBOARD_TOOL_SCHEMA_PROFILE: 'gemini' })).toThrow('--tool-schema-profile (SWITCHBOARD_TOOL_SCHEMA_PROFILE) must be one of full, portable, got "gemini"');
  });
});
