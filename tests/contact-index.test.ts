/**
 * The contact index as the syncs of external books use it: upsert and delete
 * by (account, source, source_id), over a real SQLite file.
 */
import fs from 'node:fs';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { FixedClock } from '../engine/clock.ts';
import { normalizeContact } from '../engine/contacts/input.ts';
import { ContactStore, NATIVE_SOURCE } from '../engine/contacts/store.ts';
import { SwitchboardError } from '../engine/errors.ts';
import { openDatabase, type Database } from '../engine/store/database.ts';
import { tempDir } from './helpers/server.ts';

let dir: string;
let db: Database;
let clock: FixedClock;
let store: ContactStore;

beforeEach(() => {
  dir = tempDir('contact-index');
  db = openDatabase(path.join(dir, 'switchboard.db'));
  clock = new FixedClock(Date.parse('2026-03-01T10:00:00Z'));
  store = new ContactStore(db, clock);
});
afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const contact = (name: string, ...numbers: string[]) => normalizeContact({ name, phones: numbers.map((number) => ({ number })) }, 'US').contact;

describe('contact index', () => {
  it('upserts by source and source id, telling created, updated and unchanged apart', () => {
    const created = store.upsertContact('acme', 'acme-google', 'people/c1', contact('Ann', '+12125550101'));
    expect(created.change).toBe('created');
    expect(store.upsertContact('acme', 'acme-google', 'people/c1', contact('Ann', '+12125550101')).change).toBe('unchanged');

    clock.advance(60_000);
    const updated = store.upsertContact('acme', 'acme-google', 'people/c1', contact('Ann B.', '+12125550102'));
    expect(updated.change).toBe('updated');
    expect(updated.contact).toMatchObject({ id: created.contact.id, name: 'Ann B.', createdAt: created.contact.createdAt, updatedAt: clock.now() });
    expect(store.findByNumber('acme', '+12125550101')).toEqual([]);
    expect(store.findByNumber('acme', '+12125550102').map((found) => found.id)).toEqual([created.contact.id]);

    // The same source id in another source or account is another contact.
    expect(store.upsertContact('acme', NATIVE_SOURCE, 'people/c1', contact('Ann native', '+12125550102')).change).toBe('created');
    expect(store.upsertContact('globex', 'acme-google', 'people/c1', contact('Ann elsewhere', '+12125550102')).change).toBe('created');
    expect(store.findByNumber('acme', '+12125550102').map((found) => [found.name, found.source])).toEqual([
      ['Ann native', 'native'],
      ['Ann B.', 'acme-google'],
    ]);
  });

  it('deletes by source and source id, taking the numbers out of the index', () => {
    store.upsertContact('acme', 'acme-outlook', 'AAMk-9', contact('Bo', '+12125550109', '+19175550109'));
    expect(store.deleteContact('acme', 'acme-outlook', 'AAMk-9')).toBe(true);
    expect(store.deleteContact('acme', 'acme-outlook', 'AAMk-9')).toBe(false);
    expect(store.findByNumber('acme', '+19175550109')).toEqual([]);
    expect(db.prepare('SELECT COUNT(*) AS n FROM contact_phones').get()).toEqual({ n: 0 });
  });

  it('refuses a source id that is empty or too long', () => {
    expect(() => store.upsertContact('acme', 'x', '', contact('C', '+12125550103'))).toThrow(SwitchboardError);
    expect(() => store.upsertContact('acme', 'x', 'i'.repeat(201), contact('C', '+12125550103'))).toThrow(/source_id must be 1-200 characters/);
  });

  it('rolls a batch back as a whole when it fails', () => {
    expect(() =>
      store.batch(() => {
        store.upsertContact('acme', NATIVE_SOURCE, 'a', contact('D', '+12125550104'));
        throw new Error('disk on fire');
      }),
    ).toThrow('disk on fire');
    expect(store.findByNumber('acme', '+12125550104')).toEqual([]);
  });
});
