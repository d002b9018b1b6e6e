/**
 * Benchmark (not a test): lookup_contact over 1,000,000 contacts.
 *
 *   npx tsx tests/bench/contacts-lookup.ts [--contacts 1000000] [--lookups 20000] [--dir DIR]
 *
 * Fills a fresh SQLite file through the contact index API, then times, in
 * process, the lookup_contact handler (number parsing + index probe + answer
 * text) and the bare index probe, for numbers that exist and numbers that do
 * not. Prints p50/p90/p99/max in milliseconds.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { systemClock } from '../../engine/clock.ts';
import type { NormalizedContact } from '../../engine/contacts/input.ts';
import { ContactStore, NATIVE_SOURCE } from '../../engine/contacts/store.ts';
import { silentLogger } from '../../engine/logging.ts';
import { openDatabase } from '../../engine/store/database.ts';
import { lookupContactTool } from '../../engine/tools/global/lookup-contact.ts';
import type { ToolContext } from '../../engine/tools/types.ts';

const { values } = parseArgs({ options: { contacts: { type: 'string' }, lookups: { type: 'string' }, dir: { type: 'string' } } });
const CONTACTS = Number(values.contacts ?? 1_000_000);
const LOOKUPS = Number(values.lookups ?? 20_000);
const dir = fs.mkdtempSync(path.join(values.dir ?? os.tmpdir(), 'switchboard-bench-'));
const db = openDatabase(path.join(dir, 'switchboard.db'), { synchronous: 'normal' });
const store = new ContactStore(db, systemClock);

/** The i-th distinct US number: +1 212 2xx xxxx upwards through valid exchanges. */
const numberOf = (i: number): string => `+1${212 + Math.floor(i / 8_000_000)}${String(2_000_000 + (i % 8_000_000)).padStart(7, '0')}`;

let started = performance.now();
const BATCH = 10_000;
for (let first = 0; first < CONTACTS; first += BATCH) {
  store.batch(() => {
    for (let i = first; i < Math.min(first + BATCH, CONTACTS); i += 1) {
      // Every third contact has a second number; a second account shares the file.
      const phones = [{ e164: numberOf(2 * i), label: 'work' }, ...(i % 3 === 0 ? [{ e164: numberOf(2 * i + 1), label: 'mobile' }] : [])];
      const contact: NormalizedContact = { name: `Contact ${i}`, company: i % 2 ? `Company ${i % 5000}` : null, phones };
      store.upsertContact(i % 10 === 0 ? 'other' : 'bench', NATIVE_SOURCE, `c${i}`, contact);
    }
  });
}
console.log(`filled ${CONTACTS.toLocaleString('en')} contacts in ${((performance.now() - started) / 1000).toFixed(1)} s (${(fs.statSync(path.join(dir, 'switchboard.db')).size / 1e6).toFixed(0)} MB + WAL)`);
db.pragma('wal_checkpoint(TRUNCATE)');

const ctx = {
  call: { accountId: 'bench', personaId: 'p', callId: 'c', callerIdNumber: undefined, callerE164: undefined, keyId: 'k' },
  account: { defaultCountry: 'US' },
  services: { contacts: store },
  log: silentLogger,
} as unknown as ToolContext;

const percentiles = (samples: number[]): string => {
  samples.sort((a, b) => a - b);
  const at = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!.toFixed(3);
  return `p50 ${at(0.5)}  p90 ${at(0.9)}  p99 ${at(0.99)}  max ${samples[samples.length - 1]!.toFixed(3)} ms`;
};

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
console.log(`lookup_contact handler, ${LOOKUPS.toLocaleString('en')} lookups (${found} found): ${percentiles(handlerTimes)}`);

const probeTimes: number[] = [];
for (let i = 0; i < LOOKUPS; i += 1) {
  const e164 = numberOf(Math.floor(Math.random() * 2 * CONTACTS));
  started = performance.now();
  store.findByNumber('bench', e164);
  probeTimes.push(performance.now() - started);
}
console.log(`index probe findByNumber:                     ${percentiles(probeTimes)}`);

db.close();
fs.rmSync(dir, { recursive: true, force: true });
