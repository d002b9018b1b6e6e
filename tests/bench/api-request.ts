/**
 * Benchmark of API tools: what planning costs at manifest load, what
 * rendering a request costs per call, and the overhead of a whole tool call
 * (MCP client -> server -> local HTTP API -> answer) on this machine.
 *
 *   npx tsx tests/bench/api-request.ts
 */
import { planApiRequest } from '../../engine/tools/custom/api-request/plan.ts';
import { prepareRequest } from '../../engine/tools/custom/api-request/request.ts';
import type { ApiRequestEntry } from '../../engine/manifests/types.ts';
import { callHeaders, connect, startTestServer } from '../helpers/server.ts';
import { startUpstream } from '../helpers/upstream.ts';

const entry = (base: string): ApiRequestEntry => ({
  type: 'api_request',
  name: 'book_visit',
  description: 'Book a visit.',
  method: 'POST',
  url: `${base}/visits/{{store}}`,
  query: { source: 'voice', note: '{{problem}}' },
  headers: { Authorization: 'Bearer {{secret.SHOP_TOKEN}}', 'X-Caller': '{{caller_id_number}}' },
  body: { phone: '{{caller_id_number}}', visit: { technicians: '{{technicians}}', problem: '{{problem}}', label: '{{technicians}} x {{problem}}' } },
  variables: [
    { name: 'store', type: 'dropdown', options: ['downtown', 'airport'], default: 'downtown' },
    { name: 'technicians', type: 'number', integer: true, minimum: 1, maximum: 3, default: 1 },
    { name: 'problem', type: 'text', required: true, max_length: 500 },
  ],
  response: { pick: { id: '/id', status: 'visit.status' }, template: 'Visit {{id}} is {{status}}.' },
});

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
const summary = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(3)} ms, p95 ${percentile(sorted, 95).toFixed(3)} ms, p99 ${percentile(sorted, 99).toFixed(3)} ms`;
};

const upstream = await startUpstream('127.0.0.1', () => ({ body: { id: 'v-1', visit: { status: 'booked' } } }));

{
  const count = 2000;
  const started = performance.now();
  for (let i = 0; i < count; i++) planApiRequest(entry(upstream.base));
  console.log(`plan (manifest load):   ${(((performance.now() - started) / count) * 1000).toFixed(1)} µs per tool`);
}

{
  const plan = planApiRequest(entry(upstream.base));
  const call = { accountId: 'acme', personaId: 'api', callId: 'c-1', callerIdNumber: '+12125550100', callerE164: '+12125550100', keyId: 'k' };
  const secrets = { get: () => 'token-1234567890' };
  const args = { store: 'airport', technicians: 2, problem: 'Leaking "main" valve, {urgent}' };
  for (let i = 0; i < 2000; i++) prepareRequest(plan, args, call, secrets);
  const count = 20000;
  const started = performance.now();
  for (let i = 0; i < count; i++) prepareRequest(plan, args, call, secrets);
  console.log(`render one request:     ${(((performance.now() - started) / count) * 1000).toFixed(1)} µs per call`);
}

{
  const yaml = `persona_id: api\ntools:\n  - ${JSON.stringify(entry(upstream.base))}\n`;
  const server = await startTestServer({
    personas: { 'acme/account.yaml': 'account_id: acme\ntimezone: America/New_York\n', 'acme/api.yaml': yaml },
    settings: { outboundAllow: ['127.0.0.1'], logLevel: 'warn' },
    env: { SHOP_TOKEN: 'token-1234567890' },
  });
  const client = await connect(server, callHeaders({ key: await server.key('acme'), persona: 'api', caller: '+12125550100' }));
  const args = { technicians: 2, problem: 'Leaking valve' };
  for (let i = 0; i < 100; i++) await client.callTool({ name: 'book_visit', arguments: args });
  const samples: number[] = [];
  for (let i = 0; i < 500; i++) {
    const started = performance.now();
    await client.callTool({ name: 'book_visit', arguments: args });
    samples.push(performance.now() - started);
  }
  const direct: number[] = [];
  for (let i = 0; i < 500; i++) {
    const started = performance.now();
    await server.running.services.outbound.request({ method: 'POST', url: `${upstream.base}/visits/x`, body: '{}' });
    direct.push(performance.now() - started);
  }
  console.log(`tool call end to end:   ${summary(samples)} (500 sequential calls)`);
  console.log(`outbound request alone: ${summary(direct)} (same API, keep-alive)`);
  await client.close();
  await server.close();
}

await upstream.close();
