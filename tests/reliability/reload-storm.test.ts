/**
 * A reload storm: 100 manifest writes (valid and broken, to several files)
 * while 50 clients call tools. No call may fail: every request sees a
 * complete configuration, old or new.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { Client } from '@modelcontextprotocol/client';
import { expect, it } from 'vitest';

import { callHeaders, connect, eventually, startTestServer, textOf } from '../helpers/server.ts';

it('serves 50 clients through 100 manifest writes without a failed call', async () => {
  const server = await startTestServer({ settings: { rateLimitPerSecond: 0 }, logLevel: 'warn' });
  const key = await server.key('acme');
  const frontDesk = path.join(server.personasDir, 'acme/front-desk.yaml');
  const afterHours = path.join(server.personasDir, 'acme/after-hours.yaml');
  const original = { frontDesk: fs.readFileSync(frontDesk, 'utf8'), afterHours: fs.readFileSync(afterHours, 'utf8') };

  const clients: Client[] = [];
  for (let i = 0; i < 50; i += 1) {
    const persona = i % 2 ? 'front-desk' : 'after-hours';
    clients.push(await connect(server, callHeaders({ key, persona, call: `storm-${i}`, caller: '+12125550100' }), i % 5 === 0 ? 'modern' : 'legacy'));
  }

  let writing = true;
  const failures: string[] = [];
  let calls = 0;
  const callers = clients.map(async (client, i) => {
    while (writing) {
      const [name, args] = i % 3 === 0 ? ['is_office_open', {}] : i % 3 === 1 ? ['lookup_contact', { phone_number: '(212) 555-0100' }] : ['lookup_contact', { phone_number: 'not a number' }];
      try {
        const result = await client.callTool({ name, arguments: args });
        calls += 1;
        // A number that is no number is refused: a tool error, but an answer from a whole configuration.
        const expectedError = (args as { phone_number?: string }).phone_number === 'not a number';
        if (Boolean(result.isError) !== expectedError || !textOf(result)) failures.push(`${name}: ${textOf(result)}`);
      } catch (error) {
        failures.push(`${name}: ${(error as Error).message}`);
      }
    }
  });

  for (let write = 0; write < 100; write += 1) {
    const target = write % 2 ? frontDesk : afterHours;
    const base = write % 2 ? original.frontDesk : original.afterHours;
    // Every fifth write is broken: the last good version stays in force.
    const text = write % 5 === 4 ? `${base}\n  broken: [\n` : base.replace(/^name: (.*)$/m, `name: $1 (${write})`);
    fs.writeFileSync(target, text);
    // Bursts of five writes with a pause longer than the reload debounce: each burst becomes a reload.
    await new Promise((resolve) => setTimeout(resolve, write % 5 === 4 ? 150 : 5));
  }
  // One last valid write to each (the last burst ended with a broken file), and calls go on until it is in force.
  fs.writeFileSync(frontDesk, original.frontDesk);
  fs.writeFileSync(afterHours, original.afterHours);
  await eventually(() => (server.running.registry.current().problems.length === 0 ? true : undefined), 10_000, 'the last valid versions in force');
  writing = false;
  await Promise.all(callers);

  const reloads = server.running.registry.stats().reloads;
  await Promise.all(clients.map((client) => client.close()));
  await server.close();
  console.log(`${calls} calls during ${reloads} reloads`);
  expect([...new Set(failures)].slice(0, 5)).toEqual([]);
  expect(calls).toBeGreaterThan(500);
  // Reloads happened while the clients were calling (how many depends on the machine's pace).
  expect(reloads).toBeGreaterThanOrEqual(3);
});
