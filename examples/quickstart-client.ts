/**
 * Plays the voice agent's side of a call for a moment: connects to Switchboard
 * with the call's headers, lists the persona's tools and asks whether the
 * office is open.
 *
 *   SWITCHBOARD_API_KEY=sb_... npx tsx examples/quickstart-client.ts
 *
 * SWITCHBOARD_URL, SWITCHBOARD_ACCOUNT and SWITCHBOARD_PERSONA choose another
 * endpoint, account or persona (the first screen of `serve` sets them when
 * its own differ from these defaults).
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const url = new URL(process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:9443/ucp/v2/mcp');
const headers = {
  'X-API-Key': process.env.SWITCHBOARD_API_KEY ?? '',
  account_id: process.env.SWITCHBOARD_ACCOUNT ?? 'acme',
  persona_id: process.env.SWITCHBOARD_PERSONA ?? 'front-desk',
  call_id: `quickstart-${Date.now()}`,
  caller_id_number: '+12125550100',
};

const client = new Client({ name: 'quickstart', version: '1.0.0' });
await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));

const { tools } = await client.listTools();
console.log('tools:', tools.map((tool) => tool.name).join(', '));

const result = await client.callTool({ name: 'is_office_open', arguments: {} });
const text = result.content.find((block) => block.type === 'text');
console.log('is_office_open:', text?.type === 'text' ? text.text : '(no text)');

await client.close();
