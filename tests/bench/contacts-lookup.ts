/**
 * Benchmark (not a test): lookup_contact over 1,000,000 contacts.
 *
 *   npx tsx tests/bench/contacts-lookup.ts [--contacts 1000000] [--lookups 20000] [--dir DIR] [--database postgres://…]
 *
 * Fills a fresh SQLite file (or, with --database, the PostgreSQL database
 * it names, which should be empty) through the contact index API, then
 * times, in process, the lookup_contact handler (number parsing + index
 * probe + answer text) and the bare index probe, for numbers that exist and
 * numbers that do not. Prints p50/p90/p99/max in milliseconds.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { systemClock } from '../../engine/clock.ts';
import type { NormalizedContact } from '../../engine/contacts/input.ts';
import { ContactStore, NATIVE_SOURCE, type ContactWrite } from '../../engine/contacts/store.ts';
import { silentLogger } from '../../engine/logging.ts';
import type { StoreEngine } from '../../engine/store/engine.ts';
import { PostgresEngine } from '../../engine/store/postgres/engine.ts';
import { SqliteEngine } from '../../engine/store/sqlite/engine.ts';
import { lookupContactTool } from '../../engine/tools/global/lookup-contact.ts';
import type { ToolContext } from '../../engine/tools/types.ts';
import { percentile } from './stats.ts';

/** The i-th distinct US number: +1 212 2xx xxxx upwards through valid exchanges. */
const numberOf = (i: number): string => `+1${212 + Math.floor(i / 8_000_000)}${String(2_000_000 + (i % 8_000_000)).padStart(7, '0')}`;

export interface LookupFigures {
  contacts: number;
  fillSeconds: number;
  handler: { p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number; found: number; lookups: number };
  probe: { p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number };
}

const summary = (samples: number[]) => ({ p50Ms: percentile(samples, 50), p90Ms: percentile(samples, 90), p99Ms: percentile(samples, 99), maxMs: Math.max(...samples) });

export async function measureContactLookup(options: { contacts?: number; lookups?: number; dir?: string; database?: string } = {}): Promise<LookupFigures> {
  const CONTACTS = options.contacts ?? 1_000_000;
  const LOOKUPS = options.lookups ?? 20_000;
  const dir = fs.mkdtempSync(path.join(options.dir ?? os.tmpdir(), 'switchboard-bench-'));
  const engine: StoreEngine = options.database
    ? await PostgresEngine.open({ url: options.database })
    : await SqliteEngine.open(path.join(dir, 'switchboard.db'), { synchronous: 'normal' });
  const store = new ContactStore(engine, systemClock);

  let started = performance.now();
  const BATCH = 10_000;
  for (let first = 0; first < CONTACTS; first += BATCH) {
    // Every third contact has a second number; a second account shares the database.
    const writes = { bench: [] as ContactWrite[], other: [] as ContactWrite[] };
    for (let i = first; i < Math.min(first + BATCH, CONTACTS); i += 1) {
      const phones = [{ e164: numberOf(2 * i), label: 'work' }, ...(i % 3 === 0 ? [{ e164: numberOf(2 * i + 1), label: 'mobile' }] : [])];
      const contact: NormalizedContact = { name: `Contact ${i}`, company: i % 2 ? `Company ${i % 5000}` : null, phones };
      writes[i % 10 === 0 ? 'other' : 'bench'].push({ kind: 'upsert', sourceId: `c${i}`, contact });
    }
    await store.transaction(async (tx) => {
      for (const [account, list] of Object.entries(writes)) await store.write(tx, account, NATIVE_SOURCE, list);
    });
  }
  const fillSeconds = (performance.now() - started) / 1000;

  const ctx = {
    call: { accountId: 'bench', personaId: 'p', callId: 'c', callerIdNumber: undefined, callerE164: undefined, keyId: 'k' },
    account: { defaultCountry: 'US' },
    services: { contacts: store },
    log: silentLogger,
  } as unknown as ToolContext;

  // Written the way a model passes numbers: national, formatted, half of them not in the index.
  const written = (i: number): string => {
    const e164 = numberOf(2 * Math.floor(Math.random() * CONTACTS) + (i % 2 ? 0 : 1));
    return `(${e164.slice(2, 5)}) ${e164.slice(5, 8)}-${e164.slice(8)}`;
  };

  for (let i = 0; i < 2000; i += 1) await lookupContactTool.handler(ctx, { phone_number: written(i) });

  const handlerTimes: number[] = [];
  let found = 0;
  for (let i = 0; i < LOOKUPS; i += 1) {
    const phone = written(i);
    started = performance.now();
    const outcome = await lookupContactTool.handler(ctx, { phone_number: phone });
    handlerTimes.push(performance.now() - started);
    if (outcome.data.found) found += 1;
  }

  const probeTimes: number[] = [];
  for (let i = 0; i < LOOKUPS; i += 1) {
    const e164 = numberOf(Math.floor(Math.random() * 2 * CONTACTS));
    started = performance.now();
    await store.findByNumber('bench', e164);
    probeTimes.push(performance.now() - started);
  }

  await engine.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { contacts: CONTACTS, fillSeconds, handler: { ...summary(handlerTimes), found, lookups: LOOKUPS }, probe: summary(probeTimes) };
}

const ms = (value: number) => value.toFixed(3);

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { contacts: { type: 'string' }, lookups: { type: 'string' }, dir: { type: 'string' }, database: { type: 'string' } } });
  const figures = await measureContactLookup({
    ...(values.contacts ? { contacts: Number(values.contacts) } : {}),
    ...(values.lookups ? { lookups: Number(values.lookups) } : {}),
    ...(values.dir ? { dir: values.dir } : {}),
    ...(values.database ? { database: values.database } : {}),
  });
  const line = (f: LookupFigures['probe']) => `p50 ${ms(f.p50Ms)}  p90 ${ms(f.p90Ms)}  p99 ${ms(f.p99Ms)}  max ${ms(f.maxMs)} ms`;
  console.log(`filled ${figures.contacts.toLocaleString('en')} contacts in ${figures.fillSeconds.toFixed(1)} s`);
  console.log(`lookup_contact handler, ${figures.handler.lookups.toLocaleString('en')} lookups (${figures.handler.found} found): ${line(figures.handler)}`);
  console.log(`index probe findByNumber:                     ${line(figures.probe)}`);
}
