/**
 * What a batch of contact writes does, decided before anything is written.
 *
 * A chunk of an import (500 rows) or of a sync (100 changes) used to be
 * hundreds of small statements; over the store engine each statement is a
 * round trip (to SQLite's write worker, or over the network to PostgreSQL),
 * so a chunk is now read in one go, planned here, and written in a few
 * statements (deletes, one multi-row insert, the updates, the numbers).
 *
 * The plan replays the writes in their order against what the index holds,
 * so each one is answered exactly as it would have been on its own: a
 * source id written twice in one chunk is created, then updated or
 * unchanged; a delete followed by an upsert of the same id makes a new
 * contact. Pure: the store reads and writes, this decides.
 */
import type { ContactPhone, NormalizedContact } from './input.ts';

/** A contact in the index (store.ts re-exports this for its callers). */
export interface Contact extends NormalizedContact {
  id: string;
  source: string;
  sourceId: string;
  createdAt: number;
  updatedAt: number;
}

export type UpsertChange = 'created' | 'updated' | 'unchanged';

export type ContactWrite = { kind: 'upsert'; sourceId: string; contact: NormalizedContact } | { kind: 'delete'; sourceId: string };

export type WriteOutcome = { kind: 'upsert'; change: UpsertChange; contact: Contact } | { kind: 'delete'; deleted: boolean };

/** A contact as the index holds it: its row number and its content. */
export interface StoredContact {
  seq: number;
  contact: Contact;
}

export interface WritePlan {
  outcomes: WriteOutcome[];
  /** Rows to delete (their numbers go with them). */
  deletes: number[];
  /** Rows whose name, company or numbers change. */
  updates: StoredContact[];
  /** New contacts, in the order they were first written. */
  inserts: Contact[];
}

export const samePhones = (a: readonly ContactPhone[], b: readonly ContactPhone[]): boolean =>
  a.length === b.length && a.every((phone, index) => phone.e164 === b[index]!.e164 && phone.label === b[index]!.label);

const sameContent = (a: NormalizedContact, b: NormalizedContact): boolean => a.name === b.name && a.company === b.company && samePhones(a.phones, b.phones);

type Entry = { seq: number | undefined; contact: Contact; dirty: boolean } | null;

/**
 * Plans `writes` to `source` against `existing` (the stored contacts of the
 * source ids the writes name). `newId` makes the id of a contact created
 * here; `now` is every change's time.
 */
export function planWrites(source: string, existing: ReadonlyMap<string, StoredContact>, writes: readonly ContactWrite[], now: number, newId: () => string): WritePlan {
  const state = new Map<string, Entry>();
  const current = (sourceId: string): Entry => {
    if (state.has(sourceId)) return state.get(sourceId)!;
    const stored = existing.get(sourceId);
    return stored ? { seq: stored.seq, contact: stored.contact, dirty: false } : null;
  };
  const deletes: number[] = [];
  const outcomes = writes.map((write): WriteOutcome => {
    const entry = current(write.sourceId);
    if (write.kind === 'delete') {
      if (entry?.seq !== undefined) deletes.push(entry.seq);
      state.set(write.sourceId, null);
      return { kind: 'delete', deleted: entry !== null };
    }
    if (entry && sameContent(entry.contact, write.contact)) return { kind: 'upsert', change: 'unchanged', contact: entry.contact };
    if (entry) {
      const contact: Contact = { ...entry.contact, ...write.contact, updatedAt: now };
      state.set(write.sourceId, { seq: entry.seq, contact, dirty: true });
      return { kind: 'upsert', change: 'updated', contact };
    }
    const contact: Contact = { id: newId(), source, sourceId: write.sourceId, ...write.contact, createdAt: now, updatedAt: now };
    state.set(write.sourceId, { seq: undefined, contact, dirty: true });
    return { kind: 'upsert', change: 'created', contact };
  });
  const updates: StoredContact[] = [];
  const inserts: Contact[] = [];
  for (const entry of state.values()) {
    if (!entry?.dirty) continue;
    if (entry.seq === undefined) inserts.push(entry.contact);
    else updates.push({ seq: entry.seq, contact: entry.contact });
  }
  return { outcomes, deletes, updates, inserts };
}
