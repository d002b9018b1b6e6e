/**
 * The API-key store on both engines (a SQLite file with its write worker, a
 * fresh PostgreSQL database): a key is shown once and stored as its hash;
 * verify answers from a one-second cache kept by the presented key (a repeat
 * neither hashes nor queries, requests that come together share one query)
 * and sees a revocation by this store at once and by another process or node
 * within that second; last-use times are written in batches and never go
 * back; the first key is made once even when two nodes start together.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ApiKeyStore, hashKey } from '../engine/auth/api-keys.ts';
import { FixedClock } from '../engine/clock.ts';
import type { StoreEngine } from '../engine/store/engine.ts';
import { PostgresEngine } from '../engine/store/postgres/engine.ts';
import { render, sql, type Sql } from '../engine/store/sql.ts';
import { SqliteEngine } from '../engine/store/sqlite/engine.ts';
import { ENGINE_KINDS, engineTested, openEngine, type OpenedEngine } from './helpers/engines.ts';
import { freshDatabase } from './helpers/postgres.ts';

const START = Date.parse('2026-04-01T09:00:00Z');

/**
 * The engine as a store sees it, with reads watched: each read's text is
 * noted, and `hold` may keep a read's answer back (the read itself runs at
 * once) until the promise it returns settles.
 */
function watched(engine: StoreEngine, hold: (text: string) => Promise<void> | undefined = () => undefined): { engine: StoreEngine; reads: string[] } {
  const reads: string[] = [];
  const read = async <T>(query: Sql, answer: Promise<T>): Promise<T> => {
    const text = render(query, engine.dialect).text;
    reads.push(text);
    const value = await answer;
    await hold(text);
    return value;
  };
  const view: StoreEngine = {
    dialect: engine.dialect,
    location: engine.location,
    get: <T>(query: Sql) => read(query, engine.get<T>(query)),
    all: <T>(query: Sql) => read(query, engine.all<T>(query)),
    run: (query) => engine.run(query),
    transaction: (work, options) => engine.transaction(work, options),
    notify: (channel, payload) => engine.notify(channel, payload),
    listen: (channel, handler) => engine.listen(channel, handler),
    onReconnect: (handler) => engine.onReconnect(handler),
    close: () => engine.close(),
  };
  return { engine: view, reads };
}

const isKeyLookup = (text: string) => text.includes('WHERE hash =');

describe.each(ENGINE_KINDS)('the API-key store on %s', (kind) => {
  let opened: OpenedEngine;
  let engine: StoreEngine;
  const clock = new FixedClock(START);

  beforeAll(async () => {
    opened = await openEngine(kind);
    engine = opened.engine;
  });
  afterAll(async () => opened.close());

  it('shows a key once, stores only its hash, and lists and counts keys per account', async () => {
    const keys = new ApiKeyStore(engine, clock);
    const before = await keys.count();
    const { key, record } = await keys.create({ accountId: 'list-acme', role: 'admin', name: 'pbx' });
    expect(key).toMatch(/^sb_[A-Za-z0-9_-]{32}$/);
    expect(record).toEqual({ id: expect.stringMatching(/^key_[0-9a-f]{12}$/), accountId: 'list-acme', role: 'admin', name: 'pbx', createdAt: START, revokedAt: null, lastUsedAt: null });
    const stored = await engine.get<{ hash: string }>(sql`SELECT hash FROM api_keys WHERE id = ${record.id}`);
    expect(stored).toEqual({ hash: hashKey(key) });
    expect(JSON.stringify(await engine.all(sql`SELECT * FROM api_keys`))).not.toContain(key);

    clock.advance(1);
    const second = await keys.create({ accountId: 'list-acme' });
    await keys.create({ accountId: 'list-globex' });
    expect((await keys.list('list-acme')).map((item) => [item.id, item.role, item.name])).toEqual([
      [record.id, 'admin', 'pbx'],
      [second.record.id, 'mcp', null],
    ]);
    expect((await keys.list()).filter((item) => item.accountId.startsWith('list-')).map((item) => item.accountId)).toEqual(['list-acme', 'list-acme', 'list-globex']);
    expect(await keys.count()).toBe(before + 3);
  });

  it('refuses a bad account id or role, and writes nothing', async () => {
    const keys = new ApiKeyStore(engine, clock);
    const before = await keys.count();
    await expect(keys.create({ accountId: 'acme corp' })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'account id must be 1-64 characters of letters, digits, "_", "." or "-"' });
    await expect(keys.create({ accountId: 'acme', role: 'root' as 'admin' })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'role must be one of mcp, admin' });
    expect(await keys.count()).toBe(before);
  });

  it('verifies a key from the cache for a second, sharing one query among requests that come together', async () => {
    const view = watched(engine);
    const keys = new ApiKeyStore(view.engine, clock);
    const { key, record } = await keys.create({ accountId: 'cache-acme' });
    const lookups = () => view.reads.filter(isKeyLookup).length;

    const together = await Promise.all([keys.verify(key), keys.verify(key), keys.verify(key)]);
    expect(together.map((found) => found?.id)).toEqual([record.id, record.id, record.id]);
    expect(lookups()).toBe(1);
    clock.advance(999);
    expect((await keys.verify(key))?.id).toBe(record.id);
    expect(lookups()).toBe(1);
    clock.advance(1);
    expect((await keys.verify(key))?.id).toBe(record.id);
    expect(lookups()).toBe(2);

    // An unknown key is remembered as unknown for the second as well.
    expect(await keys.verify('sb_unknown')).toBeUndefined();
    expect(await keys.verify('sb_unknown')).toBeUndefined();
    expect(lookups()).toBe(3);
  });

  it('refuses a key revoked here at once, and one revoked by another process or node within a second', async () => {
    const here = new ApiKeyStore(engine, clock);
    const elsewhere = new ApiKeyStore(engine, clock);
    const first = await here.create({ accountId: 'revoke-acme' });
    expect((await here.verify(first.key))?.id).toBe(first.record.id);
    expect(here.isInUse(first.key)).toBe(true);
    const revoked = await here.revoke(first.record.id);
    expect(revoked).toMatchObject({ id: first.record.id, revokedAt: clock.now() });
    expect(await here.verify(first.key)).toBeUndefined();
    expect(here.isInUse(first.key)).toBe(false);

    const second = await here.create({ accountId: 'revoke-acme' });
    expect((await here.verify(second.key))?.id).toBe(second.record.id);
    await elsewhere.revoke(second.record.id);
    // The answer this store keeps stands for its second, then the revocation is seen.
    expect((await here.verify(second.key))?.id).toBe(second.record.id);
    clock.advance(1000);
    expect(await here.verify(second.key)).toBeUndefined();

    expect(await here.revoke('key_000000000000')).toBeUndefined();
    // Revoking again keeps the first revocation time.
    clock.advance(5000);
    expect((await here.revoke(first.record.id))?.revokedAt).toBe(revoked?.revokedAt);
  });

  it('keeps the answer of a look-up made before a revocation out of the cache', async () => {
    let answerLate: (() => void) | undefined;
    const late = new Promise<void>((resolve) => (answerLate = resolve));
    let holding = true;
    const keys = new ApiKeyStore(watched(engine, (text) => (holding && isKeyLookup(text) ? late : undefined)).engine, clock);
    const { key, record } = await keys.create({ accountId: 'race-acme' });
    // The look-up reads the key while it is valid; its answer arrives after the revocation.
    const looking = keys.verify(key);
    await keys.revoke(record.id);
    holding = false;
    answerLate?.();
    expect((await looking)?.id).toBe(record.id);
    expect(await keys.verify(key)).toBeUndefined();
  });

  it('writes last-use times in batches, never moving one back', async () => {
    const keys = new ApiKeyStore(engine, clock);
    const other = new ApiKeyStore(engine, clock);
    const { key, record } = await keys.create({ accountId: 'use-acme' });
    const lastUsed = async () => (await engine.get<{ last_used_at: number | null }>(sql`SELECT last_used_at FROM api_keys WHERE id = ${record.id}`))?.last_used_at;

    clock.advance(60_000);
    const first = clock.now();
    // The first use since the store started is written at once; the next ones wait for the next flush.
    await keys.verify(key);
    await keys.flushLastUse();
    expect(await lastUsed()).toBe(first);
    clock.advance(2000);
    const early = clock.now();
    await keys.verify(key);
    expect(await lastUsed()).toBe(first);

    // Meanwhile another process or node writes a later use; this store's earlier one must not replace it.
    clock.advance(2000);
    const late = clock.now();
    await other.verify(key);
    await other.flushLastUse();
    expect(await lastUsed()).toBe(late);
    await keys.flushLastUse();
    expect(await lastUsed()).toBe(late);
    expect(early).toBeLessThan(late);
    expect((await keys.list('use-acme'))[0]?.lastUsedAt).toBe(late);
  });

  it('makes the first key only while there is none', async () => {
    const fresh = await openEngine(kind);
    try {
      const keys = new ApiKeyStore(fresh.engine, clock);
      const made = await keys.createFirst({ accountId: 'acme', role: 'mcp', name: 'bootstrap' });
      expect(made?.record).toMatchObject({ accountId: 'acme', role: 'mcp', name: 'bootstrap' });
      expect(await keys.createFirst({ accountId: 'acme', name: 'bootstrap' })).toBeUndefined();
      expect(await keys.count()).toBe(1);
    } finally {
      await fresh.close();
    }
  });
});

describe('nodes starting together on one new database', () => {
  it.runIf(engineTested('postgres'))('make one first key between them on PostgreSQL', async () => {
    const database = await freshDatabase();
    const nodes = await Promise.all([1, 2, 3].map(() => PostgresEngine.open({ url: database.url, poolSize: 2 })));
    try {
      const clock = new FixedClock(START);
      const made = await Promise.all(nodes.map((node) => new ApiKeyStore(node, clock).createFirst({ accountId: 'acme', name: 'bootstrap' })));
      expect(made.filter(Boolean)).toHaveLength(1);
      expect(await new ApiKeyStore(nodes[0] as StoreEngine, clock).count()).toBe(1);
    } finally {
      await Promise.all(nodes.map((node) => node.close()));
      await database.drop();
    }
  });

  it.runIf(engineTested('sqlite'))('make one first key between them on one SQLite file (each its own write connection)', async () => {
    const opened = await openEngine('sqlite');
    const second = await SqliteEngine.open(opened.engine.location);
    try {
      const clock = new FixedClock(START);
      const made = await Promise.all([opened.engine, second].map((engine) => new ApiKeyStore(engine, clock).createFirst({ accountId: 'acme', name: 'bootstrap' })));
      expect(made.filter(Boolean)).toHaveLength(1);
    } finally {
      await second.close();
      await opened.close();
    }
  });
});
