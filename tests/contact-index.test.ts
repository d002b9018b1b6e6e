/**
 * The contact index on both engines (a SQLite file with its write worker, a
 * fresh PostgreSQL database): upsert and delete by (account, source,
 * source_id) as imports and syncs use them, lookup by number with native
 * contacts first, listing by name case-insensitively in pages, batches that
 * answer each write as it would have been answered alone, two writers of one
 * new contact at once, and an import that commits 500 rows a transaction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FixedClock } from '../engine/clock.ts';
import { importContacts, IMPORT_CHUNK_ROWS } from '../engine/contacts/import.ts';
import { normalizeContact } from '../engine/contacts/input.ts';
import { ContactStore, NATIVE_SOURCE, type Contact } from '../engine/contacts/store.ts';
import { SwitchboardError } from '../engine/errors.ts';
import type { Executor, StoreEngine } from '../engine/store/engine.ts';
import { raw, sql, type Sql } from '../engine/store/sql.ts';
import { ENGINE_KINDS, openEngine, type OpenedEngine } from './helpers/engines.ts';
import { eventually } from './helpers/server.ts';

const contact = (name: string, ...numbers: string[]) => normalizeContact({ name, phones: numbers.map((number) => ({ number })) }, 'US').contact;

describe.each(ENGINE_KINDS)('the contact index on %s', (kind) => {
  let opened: OpenedEngine;
  let engine: StoreEngine;
  let store: ContactStore;
  const clock = new FixedClock(Date.parse('2026-03-01T10:00:00Z'));

  beforeAll(async () => {
    opened = await openEngine(kind);
    engine = opened.engine;
    store = new ContactStore(engine, clock);
  });
  afterAll(async () => opened.close());

  const count = async (table: 'contacts' | 'contact_phones', account: string): Promise<number> =>
    Number((await engine.get<{ n: number }>(sql`SELECT count(*) AS n FROM ${raw(table)} WHERE account_id = ${account}`))?.n);

  it('upserts by source and source id, telling created, updated and unchanged apart', async () => {
    const created = await store.upsertContact('acme', 'acme-google', 'people/c1', contact('Ann', '+12125550101'));
    expect(created.change).toBe('created');
    expect((await store.upsertContact('acme', 'acme-google', 'people/c1', contact('Ann', '+12125550101'))).change).toBe('unchanged');

    clock.advance(60_000);
    const updated = await store.upsertContact('acme', 'acme-google', 'people/c1', contact('Ann B.', '+12125550102'));
    expect(updated.change).toBe('updated');
    expect(updated.contact).toMatchObject({ id: created.contact.id, name: 'Ann B.', createdAt: created.contact.createdAt, updatedAt: clock.now() });
    expect(await store.findByNumber('acme', '+12125550101')).toEqual([]);
    expect((await store.findByNumber('acme', '+12125550102')).map((found) => found.id)).toEqual([created.contact.id]);
    expect(await store.get('acme', created.contact.id)).toEqual(updated.contact);

    // The same source id in another source or account is another contact.
    expect((await store.upsertContact('acme', NATIVE_SOURCE, 'people/c1', contact('Ann native', '+12125550102'))).change).toBe('created');
    expect((await store.upsertContact('globex', 'acme-google', 'people/c1', contact('Ann elsewhere', '+12125550102'))).change).toBe('created');
    expect((await store.findByNumber('acme', '+12125550102')).map((found) => [found.name, found.source])).toEqual([
      ['Ann native', 'native'],
      ['Ann B.', 'acme-google'],
    ]);
  });

  it('finds by number with native contacts first, then by name regardless of case, each with all its numbers in order', async () => {
    await store.upsertContact('lookup', 'book', 'b1', contact('zed', '+12125550200'));
    await store.upsertContact('lookup', 'book', 'b2', contact('Amy', '+12125550200', '+19175550200'));
    await store.upsertContact('lookup', NATIVE_SOURCE, 'n1', contact('Yara', '+13125550200', '+12125550200', '+14155550200'));
    await store.upsertContact('lookup', 'book', 'b3', contact('bob', '+12125550200'));
    const found = await store.findByNumber('lookup', '+12125550200');
    expect(found.map((entry) => entry.name)).toEqual(['Yara', 'Amy', 'bob', 'zed']);
    expect(found[0]!.phones.map((phone) => phone.e164)).toEqual(['+13125550200', '+12125550200', '+14155550200']);
    expect((await store.findByNumber('lookup', '+12125550200', 2)).map((entry) => entry.name)).toEqual(['Yara', 'Amy']);
    expect(await store.findByNumber('lookup', '+12125550299')).toEqual([]);
    expect(await store.findByNumber('elsewhere', '+12125550200')).toEqual([]);
  });

  it('deletes by source and source id, taking the numbers out of the index', async () => {
    await store.upsertContact('del', 'acme-outlook', 'AAMk-9', contact('Bo', '+12125550109', '+19175550109'));
    expect(await count('contact_phones', 'del')).toBe(2);
    expect(await store.deleteContact('del', 'acme-outlook', 'AAMk-9')).toBe(true);
    expect(await store.deleteContact('del', 'acme-outlook', 'AAMk-9')).toBe(false);
    expect(await store.findByNumber('del', '+19175550109')).toEqual([]);
    expect(await count('contact_phones', 'del')).toBe(0);

    for (const id of ['a', 'b', 'c']) await store.upsertContact('del', 'book', id, contact(`Person ${id}`, '+12125550110'));
    await store.upsertContact('del', 'other-book', 'a', contact('Kept', '+12125550110'));
    expect(await store.deleteMany('del', 'book', ['a', 'c', 'missing'])).toBe(2);
    expect((await store.findByNumber('del', '+12125550110')).map((entry) => entry.name)).toEqual(['Kept', 'Person b']);
    expect(await store.deleteSomeOfSource('del', 'book', 10)).toBe(1);
    expect(await store.deleteSomeOfSource('del', 'book', 10)).toBe(0);
    expect(await count('contacts', 'del')).toBe(1);
  });

  it('lists by name regardless of case in pages, and by source', async () => {
    const names = ['delta', 'Alpha', 'charlie', 'bravo', 'alpha', 'Echo', 'alpha'];
    for (const [index, name] of names.entries()) await store.upsertContact('pages', NATIVE_SOURCE, `n${index}`, contact(name, `+1212555030${index}`));
    await store.upsertContact('pages', 'book', 'x', contact('Charlie', '+12125550399'));

    const seen: Contact[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list('pages', { limit: 3, ...(cursor ? { cursor } : {}) });
      expect(page.contacts.length).toBeLessThanOrEqual(3);
      seen.push(...page.contacts);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen.map((entry) => entry.name.toLowerCase())).toEqual(['alpha', 'alpha', 'alpha', 'bravo', 'charlie', 'charlie', 'delta', 'echo']);
    // Equal names keep the order they were made in, across page ends.
    expect(seen.slice(0, 3).map((entry) => entry.sourceId)).toEqual(['n1', 'n4', 'n6']);
    expect(new Set(seen.map((entry) => entry.id)).size).toBe(8);
    expect(seen.find((entry) => entry.name === 'Echo')?.phones).toEqual([{ e164: '+12125550305', label: null }]);

    const book = await store.list('pages', { limit: 10, source: 'book' });
    expect(book).toEqual({ contacts: [expect.objectContaining({ name: 'Charlie', source: 'book' })], nextCursor: null });
    expect((await store.list('nobody', { limit: 10 })).contacts).toEqual([]);
    await expect(store.list('pages', { limit: 3, cursor: 'not-a-cursor' })).rejects.toThrow(/cursor is not valid/);
  });

  it('refuses a source id that is empty or too long', async () => {
    await expect(store.upsertContact('acme', 'x', '', contact('C', '+12125550103'))).rejects.toThrow(SwitchboardError);
    await expect(store.upsertContact('acme', 'x', 'i'.repeat(201), contact('C', '+12125550103'))).rejects.toThrow(/source_id must be 1-200 characters/);
  });

  it('rolls a transaction back as a whole when it fails', async () => {
    await expect(
      store.transaction(async (tx) => {
        await store.upsertContact('acme', NATIVE_SOURCE, 'a', contact('D', '+12125550104'), tx);
        throw new Error('disk on fire');
      }),
    ).rejects.toThrow('disk on fire');
    expect(await store.findByNumber('acme', '+12125550104')).toEqual([]);
  });

  it('answers each write of a batch as it would have been answered alone', async () => {
    await store.upsertContact('batch', 'book', 'kept', contact('Kept', '+12125550400'));
    const old = await store.upsertContact('batch', 'book', 'gone', contact('Gone', '+12125550401'));
    const outcomes = await store.transaction((tx) =>
      store.write(tx, 'batch', 'book', [
        { kind: 'upsert', sourceId: 'new', contact: contact('New', '+12125550402') },
        { kind: 'upsert', sourceId: 'new', contact: contact('New', '+12125550402') },
        { kind: 'upsert', sourceId: 'new', contact: contact('Newer', '+12125550403') },
        { kind: 'upsert', sourceId: 'kept', contact: contact('Kept', '+12125550400') },
        { kind: 'delete', sourceId: 'gone' },
        { kind: 'delete', sourceId: 'gone' },
        { kind: 'upsert', sourceId: 'gone', contact: contact('Back', '+12125550401') },
        { kind: 'upsert', sourceId: 'brief', contact: contact('Brief', '+12125550404') },
        { kind: 'delete', sourceId: 'brief' },
      ]),
    );
    expect(outcomes.map((outcome) => (outcome.kind === 'upsert' ? outcome.change : outcome.deleted))).toEqual(['created', 'unchanged', 'updated', 'unchanged', true, false, 'created', 'created', true]);
    const back = outcomes.map((outcome) => (outcome.kind === 'upsert' ? outcome.contact : undefined))[6];
    expect(back?.id).not.toBe(old.contact.id);
    const listed = await store.list('batch', { limit: 10 });
    expect(listed.contacts.map((entry) => [entry.sourceId, entry.name, entry.phones.map((phone) => phone.e164)])).toEqual([
      ['gone', 'Back', ['+12125550401']],
      ['kept', 'Kept', ['+12125550400']],
      ['new', 'Newer', ['+12125550403']],
    ]);
    expect(await store.findByNumber('batch', '+12125550402')).toEqual([]);
    expect(await store.findByNumber('batch', '+12125550404')).toEqual([]);
  });

  it('makes one contact of two writers creating the same source id at once', async () => {
    // The first writer has inserted and not committed when the second one reads, finds nothing and inserts too.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let wrote!: () => void;
    const written = new Promise<void>((resolve) => (wrote = resolve));
    const first = store.transaction(async (tx) => {
      const result = await store.upsertContact('race', 'book', 'same', contact('First', '+12125550500'), tx);
      wrote();
      await held;
      return result;
    });
    await written;
    const second = store.upsertContact('race', 'book', 'same', contact('Second', '+12125550501'));
    if (kind === 'postgres') {
      // The second insert waits on the first's row lock (SQLite's writer simply runs the second after the first).
      await eventually(async () => {
        const waiting = await engine.get<{ n: number }>(sql`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
        return Number(waiting?.n) > 0 ? true : undefined;
      }, 5000, 'the second writer waiting');
    }
    release();
    const results = await Promise.all([first, second]);
    expect(results.map((result) => result.change)).toEqual(['created', 'updated']);
    expect(await count('contacts', 'race')).toBe(1);
    const [only] = (await store.list('race', { limit: 10 })).contacts;
    expect(only).toMatchObject({ id: results[0].contact.id, name: 'Second', phones: [{ e164: '+12125550501', label: null }] });
    expect(results[1].contact.id).toBe(only?.id);
    expect(await count('contact_phones', 'race')).toBe(1);
  });

  it('imports a file 500 rows a transaction; a chunk that fails keeps the chunks before it, and the same file again completes it', async () => {
    const rows = 2 * IMPORT_CHUNK_ROWS + 203;
    const csv = ['id,name,mobile', ...Array.from({ length: rows }, (_, i) => `c-${i},Caller ${i},+1 646 555 ${String(i).padStart(4, '0')}`)].join('\n');
    // What another connection sees after each commit, and a disk that fails the second chunk.
    const committed: number[] = [];
    let failSecond = true;
    const watchedEngine: StoreEngine = {
      dialect: engine.dialect,
      location: engine.location,
      all: <T,>(query: Sql) => engine.all<T>(query),
      get: <T,>(query: Sql) => engine.get<T>(query),
      run: (query: Sql) => engine.run(query),
      transaction: async <T,>(work: (tx: Executor) => Promise<T>) => {
        if (committed.length === 1 && failSecond) {
          failSecond = false;
          throw new SwitchboardError('STORE_UNWRITABLE', 'cannot write the database: the disk is full');
        }
        const value = await engine.transaction(work);
        committed.push(await count('contacts', 'import'));
        return value;
      },
      notify: (channel, payload) => engine.notify(channel, payload),
      listen: (channel, handler) => engine.listen(channel, handler),
      onReconnect: (handler) => engine.onReconnect(handler),
      close: async () => undefined,
    };
    const watched = new ContactStore(watchedEngine, clock);
    const failed = await importContacts(watched, 'import', 'US', 'book.csv', csv).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(SwitchboardError);
    expect((failed as SwitchboardError).message).toBe(
      `the import stopped at line ${IMPORT_CHUNK_ROWS + 2}: cannot write the database: the disk is full; the ${IMPORT_CHUNK_ROWS} contacts before it are saved (${IMPORT_CHUNK_ROWS} new, 0 updated, 0 unchanged); importing the same file again adds the rest`,
    );
    expect(committed).toEqual([IMPORT_CHUNK_ROWS]);

    const report = await importContacts(watched, 'import', 'US', 'book.csv', csv);
    expect(report).toMatchObject({ format: 'csv', created: rows - IMPORT_CHUNK_ROWS, updated: 0, unchanged: IMPORT_CHUNK_ROWS, rejected: [] });
    expect(committed).toEqual([IMPORT_CHUNK_ROWS, IMPORT_CHUNK_ROWS, 2 * IMPORT_CHUNK_ROWS, rows]);
    expect(await count('contact_phones', 'import')).toBe(rows);
    expect((await store.findByNumber('import', '+16465551202')).map((entry) => entry.sourceId)).toEqual(['c-1202']);
  });
});
