/**
 * The compiled argument checks do not grow with every schema ever loaded:
 * 150 reloads that each give an API tool a schema of its own (as editing its
 * variables does), then a full garbage collection, leave about as many
 * compiled checks as the personas in force use.
 */
import fs from 'node:fs';
import path from 'node:path';

import { expect, it } from 'vitest';

import { compiledArgumentChecks } from '../../engine/tools/validation.ts';
import { callHeaders, connect, eventually, startTestServer, textOf } from '../helpers/server.ts';

const persona = (maxLength: number) => `persona_id: desk
tools:
  - type: api_request
    name: order_status
    description: Look up an order.
    method: GET
    url: https://shop.example.com/api/orders/{{order_number}}
    variables:
      - { name: order_number, type: text, description: The order number., required: true, max_length: ${maxLength} }
`;

it('keeps only the argument checks that personas in force use', async () => {
  const server = await startTestServer({
    personas: { 'acme/account.yaml': 'account_id: acme\ntimezone: America/New_York\n', 'acme/desk.yaml': persona(10) },
    watch: false,
    logLevel: 'warn',
  });
  try {
    const file = path.join(server.personasDir, 'acme/desk.yaml');
    const before = compiledArgumentChecks();
    for (let length = 11; length <= 160; length += 1) {
      fs.writeFileSync(file, persona(length));
      await server.running.registry.reload();
    }
    expect(server.running.registry.current().problems).toEqual([]);

    const gc = (globalThis as { gc?: () => void }).gc;
    expect(gc, 'the reliability suite runs with --expose-gc').toBeTypeOf('function');
    // Finalizers run after a collection, in a later turn of the event loop.
    await eventually(async () => {
      gc?.();
      await new Promise((resolve) => setTimeout(resolve, 10));
      return compiledArgumentChecks() <= before + 2 ? true : undefined;
    }, 20_000, `the compiled checks to shrink back (now ${compiledArgumentChecks()}, ${before} before the reloads)`);

    // The persona in force still checks its arguments with its own schema.
    const client = await connect(server, callHeaders({ key: await server.key('acme'), account: 'acme', persona: 'desk' }));
    const result = await client.callTool({ name: 'order_status', arguments: { order_number: 'x'.repeat(161) } });
    expect(textOf(result)).toContain('"order_number" must be at most 160 characters');
    await client.close();
  } finally {
    await server.close();
  }
});
