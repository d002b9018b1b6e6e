/**
 * Manifest figures: cold load of many personas, and the time from saving a
 * persona file to the tools/list_changed notification at a connected client
 * of each protocol era.
 *
 *   npx tsx tests/bench/manifests.ts [--personas 1000]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { loadManifests } from '../../engine/manifests/load.ts';
import { builtinToolKinds } from '../../engine/tools/kinds.ts';
import { callHeaders, connect, EXAMPLE_PERSONAS, startTestServer, tempDir, type Era } from '../helpers/server.ts';
import { percentile, printTable } from './stats.ts';

/** Writes `count` personas (copies of the example front desk, tools and all) over accounts of 100 personas each. */
export function generatePersonas(count: number, dir = tempDir('bench-personas')): string {
  const account = fs.readFileSync(path.join(EXAMPLE_PERSONAS, 'acme/account.yaml'), 'utf8');
  const persona = fs.readFileSync(path.join(EXAMPLE_PERSONAS, 'acme/front-desk.yaml'), 'utf8');
  for (let i = 0; i < count; i += 1) {
    const accountId = `tenant-${Math.floor(i / 100)}`;
    const accountDir = path.join(dir, accountId);
    if (i % 100 === 0) {
      fs.mkdirSync(accountDir, { recursive: true });
      fs.writeFileSync(path.join(accountDir, 'account.yaml'), account.replace('account_id: acme', `account_id: ${accountId}`));
    }
    fs.writeFileSync(path.join(accountDir, `persona-${i}.yaml`), persona.replace('persona_id: front-desk', `persona_id: persona-${i}`));
  }
  return dir;
}

export async function coldLoad(dir: string, runs = 3): Promise<{ personas: number; bestMs: number; problems: number }> {
  let bestMs = Infinity;
  let personas = 0;
  let problems = 0;
  for (let run = 0; run < runs; run += 1) {
    const started = performance.now();
    const snapshot = await loadManifests({ dir, kinds: builtinToolKinds });
    bestMs = Math.min(bestMs, performance.now() - started);
    personas = snapshot.personas.size;
    problems = snapshot.problems.length;
  }
  return { personas, bestMs, problems };
}

export async function notificationLatency(dir: string, era: Era, edits = 10): Promise<{ p50Ms: number; maxMs: number }> {
  const server = await startTestServer({ personas: dir, settings: { reloadDebounceMs: 50 } });
  try {
    const key = await server.key('tenant-0');
    let resolveChange: (() => void) | undefined;
    const client = await connect(server, callHeaders({ key, account: 'tenant-0', persona: 'persona-0' }), era, {
      listChanged: { tools: { autoRefresh: false, debounceMs: 0, onChanged: () => resolveChange?.() } },
    });
    await new Promise((resolve) => setTimeout(resolve, 300)); // let the GET / listen stream open
    const file = path.join(server.personasDir, 'tenant-0/persona-0.yaml');
    const original = fs.readFileSync(file, 'utf8');
    const samples: number[] = [];
    for (let i = 0; i < edits; i += 1) {
      const changed = new Promise<void>((resolve) => (resolveChange = resolve));
      const started = performance.now();
      fs.writeFileSync(file, original.replace('Look up the status of a service order', `Look up the status of a service order (${era} ${i})`));
      await changed;
      samples.push(performance.now() - started);
    }
    await client.close();
    return { p50Ms: percentile(samples, 50), maxMs: Math.max(...samples) };
  } finally {
    await server.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { personas: { type: 'string', default: '1000' } } });
  const count = Number(values.personas);
  const dir = generatePersonas(count);
  const load = await coldLoad(dir);
  const legacy = await notificationLatency(dir, 'legacy');
  const modern = await notificationLatency(dir, 'modern');
  printTable([
    ['figure', 'value', 'target'],
    [`cold load of ${load.personas} personas (${load.problems} problems)`, `${load.bestMs.toFixed(0)} ms`, '< 2000 ms'],
    ['edit -> list_changed, 2025 session (p50 / max)', `${legacy.p50Ms.toFixed(0)} / ${legacy.maxMs.toFixed(0)} ms`, '< 300 ms'],
    ['edit -> list_changed, 2026 subscription (p50 / max)', `${modern.p50Ms.toFixed(0)} / ${modern.maxMs.toFixed(0)} ms`, '< 300 ms'],
  ]);
}
