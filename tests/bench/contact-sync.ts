/**
 * Benchmark (not a test): syncing a large Google contact book.
 *
 *   npx tsx tests/bench/contact-sync.ts [--contacts 50000] [--changes 500] [--dir DIR]
 *
 * Serves a book of N people from the fake People API in a child process
 * (so its own work does not count; pages of 1000, as the sync asks) and
 * runs the real sync into a fresh SQLite file:
 * a first full sync, an incremental sync of a few changes, and a full
 * resync where nothing changed. For each it prints the duration, the
 * contacts per second, and the longest the event loop was blocked meanwhile
 * (what a lookup_contact arriving during the sync could have to wait).
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { systemClock } from '../../engine/clock.ts';
import { resolveSource } from '../../engine/contacts/sources/config.ts';
import { OutboundClient } from '../../engine/outbound/client.ts';
import { ContactSourceSync } from '../../engine/contacts/sources/sync.ts';
import { ContactStore } from '../../engine/contacts/store.ts';
import { silentLogger } from '../../engine/logging.ts';
import { makeAccountEntry } from '../../engine/manifests/snapshot.ts';
import { SecretStore } from '../../engine/secrets.ts';
import { SqliteEngine } from '../../engine/store/sqlite/engine.ts';
import { FakeGoogle, person } from '../helpers/fake-google.ts';
import { percentile, printTable } from './stats.ts';

const { values } = parseArgs({ options: { contacts: { type: 'string' }, changes: { type: 'string' }, dir: { type: 'string' }, serve: { type: 'boolean' } } });
const CONTACTS = Number(values.contacts ?? 50_000);
const CHANGES = Number(values.changes ?? 500);
const credentials = { clientId: 'bench-client', clientSecret: 'bench-secret', refreshToken: 'bench-refresh' };

const numberOf = (i: number): string => `+1212${String(2_000_000 + i).padStart(7, '0')}`;

if (values.serve) {
  // The child: the fake People API, changed on request by the parent.
  const google = await new FakeGoogle(systemClock, credentials).start();
  for (let i = 0; i < CONTACTS; i++) google.connections.put(`people/c${i}`, person(`Contact ${i}`, [[numberOf(i), 'work'], ...(i % 3 ? [] : [[numberOf(CONTACTS + i), 'mobile'] as [string, string]])], i % 2 ? `Company ${i % 500}` : undefined));
  process.on('message', (message) => {
    if (message === 'change') {
      for (let i = 0; i < CHANGES; i++) {
        if (i % 2) google.connections.remove(`people/c${i}`);
        else google.connections.put(`people/c${i}`, person(`Contact ${i} (changed)`, [[numberOf(i), 'mobile']]));
      }
      process.send?.('changed');
    }
    if (message === 'stop') void google.close().then(() => process.exit(0));
  });
  process.send?.({ url: google.url, tokenUrl: google.tokenUrl });
  await new Promise(() => {});
}

const child = fork(fileURLToPath(import.meta.url), [...process.argv.slice(2), '--serve']);
const reply = <T>(): Promise<T> => new Promise((resolve) => child.once('message', (message) => resolve(message as T)));
const google = await reply<{ url: string; tokenUrl: string }>();
const dir = fs.mkdtempSync(path.join(values.dir ?? os.tmpdir(), 'switchboard-bench-'));

const store = await SqliteEngine.open(path.join(dir, 'switchboard.db'), { synchronous: 'normal' });
const contacts = new ContactStore(store, systemClock);
const secrets = new SecretStore({ BENCH_CLIENT_ID: credentials.clientId, BENCH_CLIENT_SECRET: credentials.clientSecret, BENCH_REFRESH_TOKEN: credentials.refreshToken });
// The fake Google listens on loopback, which the outbound guard refuses unless allowed.
const sync = new ContactSourceSync({ store, contacts, secrets, clock: systemClock, log: silentLogger, outbound: new OutboundClient({ allow: ['127.0.0.1'] }) });
const entry = { type: 'google' as const, name: 'bench-google', credentials: { client_id: 'BENCH_CLIENT_ID', client_secret: 'BENCH_CLIENT_SECRET', refresh_token: 'BENCH_REFRESH_TOKEN' }, api_base_url: google.url, token_url: google.tokenUrl };
const account = makeAccountEntry({ account_id: 'bench', timezone: 'UTC', default_country: 'US', contact_sources: [entry] }, 'bench/account.yaml', 'v1');
const source = resolveSource(account, entry);

const rows = [['phase', 'seconds', 'contacts/s', 'changed', 'loop stall p99 ms', 'loop stall max ms']];
async function phase(name: string, full: boolean): Promise<void> {
  const stalls = monitorEventLoopDelay({ resolution: 5 });
  stalls.enable();
  const started = performance.now();
  const outcome = await sync.run(source, { full });
  const seconds = (performance.now() - started) / 1000;
  stalls.disable();
  if (!outcome.ok) throw new Error(`${name}: ${outcome.kind}: ${outcome.message}`);
  const changed = outcome.created + outcome.updated + outcome.deleted;
  rows.push([name, seconds.toFixed(2), Math.round(outcome.contacts / seconds).toLocaleString('en'), String(changed), (stalls.percentile(99) / 1e6).toFixed(1), (stalls.max / 1e6).toFixed(1)]);
}

await phase(`full sync of ${CONTACTS.toLocaleString('en')}`, false);
child.send('change');
await reply();
await phase(`incremental, ${CHANGES} changes`, false);
await phase('full resync, no change', true);
printTable(rows);

const probes = Array.from({ length: 2000 }, (_, i) => numberOf((i * 7919) % CONTACTS));
const times: number[] = [];
for (const number of probes) {
  const started = performance.now();
  await contacts.findByNumber('bench', number);
  times.push(performance.now() - started);
}
console.log(`lookup after sync: p50 ${percentile(times, 50).toFixed(3)} ms, p99 ${percentile(times, 99).toFixed(3)} ms`);

child.send('stop');
await store.close();
fs.rmSync(dir, { recursive: true, force: true });
