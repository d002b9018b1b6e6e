/**
 * The sync state of contact sources on both engines, each opened twice on
 * one database (a second process on the SQLite file, a second node on the
 * PostgreSQL database): the lease that keeps two syncs of one source apart
 * (taken once among many claims at once, released by the outcome, void
 * after its time, fencing a holder that lost it, and for the scheduler only
 * when the source is due), the kept refresh token,
 * and two real syncs against the fake People API, one per engine instance,
 * of which only one runs while the other is refused.
 */
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FixedClock } from '../engine/clock.ts';
import { resolveSource, type ResolvedSource } from '../engine/contacts/sources/config.ts';
import { SourceStateStore } from '../engine/contacts/sources/state-store.ts';
import { ContactSourceSync } from '../engine/contacts/sources/sync.ts';
import { ContactStore } from '../engine/contacts/store.ts';
import { SwitchboardError } from '../engine/errors.ts';
import { silentLogger } from '../engine/logging.ts';
import { makeAccountEntry } from '../engine/manifests/snapshot.ts';
import { OutboundClient } from '../engine/outbound/client.ts';
import { SecretStore } from '../engine/secrets.ts';
import type { StoreEngine } from '../engine/store/engine.ts';
import { PostgresEngine } from '../engine/store/postgres/engine.ts';
import { SqliteEngine } from '../engine/store/sqlite/engine.ts';
import { ENGINE_KINDS, type EngineKind } from './helpers/engines.ts';
import { FakeGoogle, person } from './helpers/fake-google.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { tempDir } from './helpers/server.ts';

const START = Date.parse('2026-03-02T09:00:00Z');
const LEASE = 60_000;
const credentials = { clientId: 'state-client.apps.example', clientSecret: 'GOCSPX-state-client-secret', refreshToken: '1//state-refresh-token' };

/** Two engine instances on one database, as two processes or two nodes would have them. */
async function openTwice(kind: EngineKind): Promise<{ engines: [StoreEngine, StoreEngine]; close(): Promise<void> }> {
  if (kind === 'sqlite') {
    const dir = tempDir('source-state');
    const file = path.join(dir, 'switchboard.db');
    const first = await SqliteEngine.open(file, { synchronous: 'normal' });
    const second = await SqliteEngine.open(file, { synchronous: 'normal' });
    return {
      engines: [first, second],
      close: async () => {
        await Promise.all([first.close(), second.close()]);
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const database = await freshDatabase();
  const first = await PostgresEngine.open({ url: database.url, poolSize: 5 });
  const second = await PostgresEngine.open({ url: database.url, poolSize: 5 });
  return {
    engines: [first, second],
    close: async () => {
      await Promise.all([first.close(), second.close()]);
      await database.drop();
    },
  };
}

function sourceFor(google: FakeGoogle, name: string): ResolvedSource {
  const entry = {
    type: 'google' as const,
    name,
    credentials: { client_id: 'STATE_CLIENT_ID', client_secret: 'STATE_CLIENT_SECRET', refresh_token: 'STATE_REFRESH_TOKEN' },
    api_base_url: google.url,
    token_url: google.tokenUrl,
  };
  const account = makeAccountEntry({ account_id: 'acme', timezone: 'UTC', default_country: 'US', contact_sources: [entry] }, 'acme/account.yaml', 'v1');
  return resolveSource(account, entry);
}

describe.each(ENGINE_KINDS)('contact source state on %s, two engine instances on one database', (kind) => {
  let opened: Awaited<ReturnType<typeof openTwice>>;
  let google: FakeGoogle;
  let states: [SourceStateStore, SourceStateStore];
  const clock = new FixedClock(START);

  beforeAll(async () => {
    opened = await openTwice(kind);
    states = [new SourceStateStore(opened.engines[0]), new SourceStateStore(opened.engines[1])];
    google = await new FakeGoogle(clock, credentials).start();
  });
  afterAll(async () => {
    await google?.close();
    await opened?.close();
  });

  it('gives the lease to one owner at a time, releases it with the outcome, and voids it after its time', async () => {
    const source = sourceFor(google, 'lease');
    const [a, b] = states;
    expect(await a.claim(source, 'owner-1', START, LEASE)).toBe(true);
    expect(await b.claim(source, 'owner-2', START + 1000, LEASE)).toBe(false);
    expect(await b.get('acme', 'lease')).toMatchObject({ runningSince: START, lastAttemptAt: START, consecutiveFailures: 0 });

    // A record by an owner that does not hold the lease changes nothing.
    await b.recordFailure(source, 'owner-2', { kind: 'network', message: 'not mine', now: START + 2000, next: START + 9000 });
    expect(await a.get('acme', 'lease')).toMatchObject({ runningSince: START, consecutiveFailures: 0, lastError: null });

    const result = { mode: 'full' as const, resynced: false, created: 0, updated: 0, unchanged: 0, deleted: 0, skipped: 0 };
    await a.recordSuccess(source, 'owner-1', { cursor: 'sync-token-1', result, now: START + 3000, next: START + 900_000 });
    expect(await b.get('acme', 'lease')).toMatchObject({
      cursor: 'sync-token-1',
      lastSuccessAt: START + 3000,
      lastFullSyncAt: START + 3000,
      lastResult: result,
      nextAttemptAt: START + 900_000,
      runningSince: null,
    });

    // The scheduler's claim takes only a source that is due: another node may just have synced it.
    expect(await b.claim(source, 'owner-2', START + 4000, LEASE, { onlyIfDue: true })).toBe(false);
    expect(await b.claim(source, 'owner-2', START + 4000, LEASE)).toBe(true);
    // owner-2's process died: after the lease's time another owner may take it, and owner-2's late record is fenced off.
    expect(await a.claim(source, 'owner-3', START + 4000 + LEASE - 1, LEASE)).toBe(false);
    expect(await a.claim(source, 'owner-3', START + 4001 + LEASE, LEASE)).toBe(true);
    await b.recordSuccess(source, 'owner-2', { cursor: 'stale', result: { ...result, mode: 'incremental' }, now: START + 5000, next: START + 5000 });
    expect(await a.get('acme', 'lease')).toMatchObject({ cursor: 'sync-token-1', runningSince: START + 4001 + LEASE });
    await a.recordFailure(source, 'owner-3', { kind: 'auth', message: 'refused', now: START + 6000, next: START + 60_000 });
    expect(await b.get('acme', 'lease')).toMatchObject({ consecutiveFailures: 1, lastError: { kind: 'auth', message: 'refused', at: START + 6000 }, runningSince: null, lastFullSyncAt: START + 3000 });
    expect(await a.claim(source, 'owner-3', START + 7000, LEASE, { onlyIfDue: true })).toBe(false);
    expect(await a.claim(source, 'owner-3', START + 60_000, LEASE, { onlyIfDue: true })).toBe(true);
    await a.recordInterrupted(source, 'owner-3', START + 61_000);
    expect(await b.get('acme', 'lease')).toMatchObject({ nextAttemptAt: START + 61_000, runningSince: null, consecutiveFailures: 1 });
  });

  it('grants exactly one of many claims made at once through both instances', async () => {
    const source = sourceFor(google, 'crowd');
    for (let round = 0; round < 3; round++) {
      const now = START + round * 2 * LEASE;
      const claims = await Promise.all(Array.from({ length: 8 }, (_, index) => states[index % 2]!.claim(source, `owner-${round}-${index}`, now, LEASE)));
      expect(claims.filter(Boolean)).toHaveLength(1);
    }
  });

  it('keeps the refresh token a provider handed back, and forgets the state of a removed source', async () => {
    const source = sourceFor(google, 'tokens');
    const [a, b] = states;
    await a.claim(source, 'owner-1', START, LEASE);
    expect(await b.refreshToken('acme', 'tokens')).toBeUndefined();
    await a.saveRefreshToken('acme', 'tokens', { sealed: 'v1.sealed', lineage: 'lineage-1' });
    expect(await b.refreshToken('acme', 'tokens')).toEqual({ sealed: 'v1.sealed', lineage: 'lineage-1' });
    await b.saveRefreshToken('acme', 'tokens', undefined);
    expect(await a.refreshToken('acme', 'tokens')).toBeUndefined();
    expect((await a.forAccount('acme')).map((state) => state.source)).toEqual(['crowd', 'lease', 'tokens']);
    await b.remove('acme', 'tokens');
    expect(await a.get('acme', 'tokens')).toBeUndefined();
  });

  it('runs one sync of a source at a time: the other instance is refused while it runs, and syncs after it', async () => {
    google.connections.put('people/c1', person('Jane Doe', [['(212) 555-0100', 'work']]));
    google.connections.put('people/c2', person('Bob Stone', [['646-555-0142', 'mobile']]));
    const source = sourceFor(google, 'google');
    const secrets = new SecretStore({ STATE_CLIENT_ID: credentials.clientId, STATE_CLIENT_SECRET: credentials.clientSecret, STATE_REFRESH_TOKEN: credentials.refreshToken });
    const [first, second] = opened.engines.map((store) => {
      const contacts = new ContactStore(store, clock);
      return { contacts, sync: new ContactSourceSync({ store, contacts, secrets, clock, log: silentLogger, outbound: new OutboundClient({ allow: ['127.0.0.1'] }) }) };
    });

    // The first sync holds at the token endpoint, lease taken.
    let release!: () => void;
    google.failToken({ hold: new Promise<void>((resolve) => (release = resolve)) });
    const { done } = await first!.sync.start(source);
    const refused = await second!.sync.run(source).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SwitchboardError);
    expect(refused).toMatchObject({ code: 'CONFLICT', message: `contact source google of account acme is being synced already (since ${new Date(START).toISOString()}); try again when that sync has ended` });
    expect(google.apiRequests()).toHaveLength(0);

    release();
    expect(await done).toMatchObject({ ok: true, mode: 'full', created: 2, contacts: 2 });
    expect((await second!.contacts.findByNumber('acme', '+12125550100')).map((contact) => [contact.name, contact.source])).toEqual([['Jane Doe', 'google']]);

    google.connections.put('people/c3', person('Carla Ruiz', [['718 555 0199', 'home']]));
    google.connections.remove('people/c2');
    expect(await second!.sync.run(source)).toMatchObject({ ok: true, mode: 'incremental', created: 1, deleted: 1, contacts: 2 });
    expect(await first!.contacts.findByNumber('acme', '+16465550142')).toEqual([]);
    expect(await states[0].get('acme', 'google')).toMatchObject({ runningSince: null, consecutiveFailures: 0, contactCount: 2, lastResult: { mode: 'incremental', created: 1, deleted: 1 } });
  });
});
