import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { callHeaders, connect, startTestServer, textOf, type Era, type TestServer } from './helpers/server.ts';
import { basicManifests, testToolKinds } from './helpers/test-tools.ts';

let server: TestServer;
let key: string;

beforeAll(async () => {
  server = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds });
  key = await server.key('acme');
});
afterAll(async () => server.close());

describe.each<Era>(['legacy', 'modern'])('%s era client', (era) => {
  it('lists and calls tools with the call context of its headers', async () => {
    const client = await connect(server, callHeaders({ key, call: `c-${era}`, caller: '(212) 555-0100' }), era);
    expect(client.getProtocolEra()).toBe(era);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(['echo']);
    const result = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect(textOf(result)).toBe('echo: hi');
    expect(result.structuredContent).toEqual({ text: 'hi', account: 'acme', persona: 'front-desk', call: `c-${era}`, caller: '+12125550100' });
    await client.close();
  });
});
