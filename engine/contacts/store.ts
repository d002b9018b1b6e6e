/**
 * The contact index: every contact lookup_contact can find, native or synced
 * from an external book, in SQLite with its numbers in E.164 indexed by
 * (account, number). A lookup is one index probe plus one read of the match's
 * numbers; nothing on that path calls a remote API.
 *
 * Each contact belongs to a source ("native" for contacts made here, a
 * contact source's name for synced ones) and has an id in that source, so a
 * sync or a re-import upserts and deletes by (account, source, source_id)
 * without creating duplicates. Numbers are normalized before they get here
 * (see input.ts).
 */
import { randomBytes } from 'node:crypto';

import type { Clock } from '../clock.ts';
import { SwitchboardError } from '../errors.ts';
import type { Database } from '../store/database.ts';
import { withStorage } from '../store/storage-errors.ts';
import { CONTACT_LIMITS, type ContactPhone, type NormalizedContact } from './input.ts';

/** The source of contacts created through the admin API, the CLI or an import. */
export const NATIVE_SOURCE = 'native';

export interface Contact extends NormalizedContact {
  id: string;
  source: string;
  sourceId: string;
  createdAt: number;
  updatedAt: number;
}

export type UpsertChange = 'created' | 'updated' | 'unchanged';

export interface ContactPage {
  contacts: Contact[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

interface ContactRow {
  seq: number;
  id: string;
  source: string;
  source_id: string;
  name: string;
  company: string | null;
  created_at: number;
  updated_at: number;
}

interface PhoneRow {
  contact_seq: number;
  e164: string;
  label: string | null;
}

const encodeCursor = (row: ContactRow): string => Buffer.from(JSON.stringify([row.name, row.seq])).toString('base64url');

function decodeCursor(cursor: string): { name: string; seq: number } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && typeof value[0] === 'string' && Number.isInteger(value[1])) return { name: value[0], seq: value[1] as number };
  } catch {
    // fall through to the error below
  }
  throw new SwitchboardError('BAD_REQUEST', 'cursor is not valid: pass the next_cursor of the previous page');
}

const samePhones = (a: readonly ContactPhone[], b: readonly ContactPhone[]): boolean =>
  a.length === b.length && a.every((phone, index) => phone.e164 === b[index]!.e164 && phone.label === b[index]!.label);

/** How many contacts of one number are read before ordering (more share a number only in broken data). */
const MAX_CONTACTS_PER_NUMBER = 100;

/** Native contacts first, then by name (case-insensitive), then oldest first. */
function byLookupOrder(a: ContactRow, b: ContactRow): number {
  const native = Number(a.source !== NATIVE_SOURCE) - Number(b.source !== NATIVE_SOURCE);
  if (native) return native;
  const name = a.name.toLowerCase().localeCompare(b.name.toLowerCase());
  return name || a.seq - b.seq;
}

export class ContactStore {
  private readonly bySource;
  private readonly byId;
  private readonly seqsByNumber;
  private readonly byNumber;
  private readonly phonesOf;
  private readonly insertContact;
  private readonly updateContact;
  private readonly insertPhone;
  private readonly clearPhones;
  private readonly deleteBySource;
  private readonly firstPage;
  private readonly nextPage;
  private readonly upsertTx;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {
    this.bySource = db.prepare<[string, string, string], ContactRow>('SELECT * FROM contacts WHERE account_id = ? AND source = ? AND source_id = ?');
    this.byId = db.prepare<[string, string], ContactRow>('SELECT * FROM contacts WHERE account_id = ? AND id = ?');
    // Native contacts first: they are the ones this office curates.
    // Two steps: most callers are in no contact book, and the probe of the
    // covering number index alone answers that several times faster than a
    // join (or a sorter SQLite would build even for no rows). A number has a
    // handful of contacts at most; they are ordered in findByNumber.
    this.seqsByNumber = db.prepare<[string, string, number], { contact_seq: number }>('SELECT contact_seq FROM contact_phones WHERE account_id = ? AND e164 = ? LIMIT ?');
    this.byNumber = db.prepare<[string], ContactRow>('SELECT * FROM contacts WHERE seq IN (SELECT value FROM json_each(?))');
    this.phonesOf = db.prepare<[string], PhoneRow>(
      'SELECT contact_seq, e164, label FROM contact_phones WHERE contact_seq IN (SELECT value FROM json_each(?)) ORDER BY contact_seq, position',
    );
    this.insertContact = db.prepare<Record<string, unknown>, { seq: number }>(
      `INSERT INTO contacts (id, account_id, source, source_id, name, company, created_at, updated_at)
       VALUES (@id, @account, @source, @sourceId, @name, @company, @now, @now) RETURNING seq`,
    );
    this.updateContact = db.prepare('UPDATE contacts SET name = @name, company = @company, updated_at = @now WHERE seq = @seq');
    this.insertPhone = db.prepare('INSERT INTO contact_phones (contact_seq, account_id, e164, label, position) VALUES (?, ?, ?, ?, ?)');
    this.clearPhones = db.prepare('DELETE FROM contact_phones WHERE contact_seq = ?');
    this.deleteBySource = db.prepare('DELETE FROM contacts WHERE account_id = ? AND source = ? AND source_id = ?');
    const filter = `account_id = @account AND (@source IS NULL OR source = @source)`;
    const order = 'ORDER BY name COLLATE NOCASE, seq LIMIT @limit';
    this.firstPage = db.prepare<Record<string, unknown>, ContactRow>(`SELECT * FROM contacts WHERE ${filter} ${order}`);
    // The plain ">=" lets SQLite seek in the (account, name, seq) index; the row value breaks ties.
    this.nextPage = db.prepare<Record<string, unknown>, ContactRow>(
      `SELECT * FROM contacts WHERE ${filter} AND name >= @name COLLATE NOCASE AND (name COLLATE NOCASE, seq) > (@name, @seq) ${order}`,
    );
    this.upsertTx = db.transaction((accountId: string, source: string, sourceId: string, contact: NormalizedContact) => this.upsertInTransaction(accountId, source, sourceId, contact));
  }

  /**
   * Creates or replaces the contact `sourceId` of `source`. Reports whether
   * anything changed, so a re-import or a sync can tell what it did.
   */
  upsertContact(accountId: string, source: string, sourceId: string, contact: NormalizedContact): { contact: Contact; change: UpsertChange } {
    if (!source || source.length > 64) throw new SwitchboardError('BAD_REQUEST', 'source must be 1-64 characters');
    if (!sourceId || sourceId.length > CONTACT_LIMITS.sourceId) throw new SwitchboardError('BAD_REQUEST', `source_id must be 1-${CONTACT_LIMITS.sourceId} characters`);
    return this.upsertTx.immediate(accountId, source, sourceId, contact);
  }

  private upsertInTransaction(accountId: string, source: string, sourceId: string, contact: NormalizedContact): { contact: Contact; change: UpsertChange } {
    const now = this.clock.now();
    const existing = this.bySource.get(accountId, source, sourceId);
    if (existing) {
      const current = this.withPhones([existing])[0]!;
      if (current.name === contact.name && current.company === contact.company && samePhones(current.phones, contact.phones)) {
        return { contact: current, change: 'unchanged' };
      }
      this.updateContact.run({ seq: existing.seq, name: contact.name, company: contact.company, now });
      this.clearPhones.run(existing.seq);
      this.writePhones(existing.seq, accountId, contact.phones);
      return { contact: { ...current, ...contact, updatedAt: now }, change: 'updated' };
    }
    const id = `ct_${randomBytes(6).toString('hex')}`;
    const { seq } = this.insertContact.get({ id, account: accountId, source, sourceId, name: contact.name, company: contact.company, now })!;
    this.writePhones(seq, accountId, contact.phones);
    return { contact: { id, source, sourceId, ...contact, createdAt: now, updatedAt: now }, change: 'created' };
  }

  private writePhones(seq: number, accountId: string, phones: readonly ContactPhone[]): void {
    phones.forEach((phone, position) => this.insertPhone.run(seq, accountId, phone.e164, phone.label, position));
  }

  /** Removes the contact `sourceId` of `source`; false when there was none. */
  deleteContact(accountId: string, source: string, sourceId: string): boolean {
    return this.deleteBySource.run(accountId, source, sourceId).changes > 0;
  }

  get(accountId: string, id: string): Contact | undefined {
    const row = this.byId.get(accountId, id);
    return row ? this.withPhones([row])[0] : undefined;
  }

  /** Contacts that have this E.164 number, native ones first, at most `limit`. */
  findByNumber(accountId: string, e164: string, limit = 5): Contact[] {
    const seqs = this.seqsByNumber.all(accountId, e164, MAX_CONTACTS_PER_NUMBER);
    if (!seqs.length) return [];
    const rows = this.byNumber.all(JSON.stringify(seqs.map((row) => row.contact_seq)));
    if (rows.length > 1) rows.sort(byLookupOrder);
    return this.withPhones(rows.slice(0, limit));
  }

  /** Contacts by name (case-insensitive), optionally of one source. */
  list(accountId: string, options: { limit: number; cursor?: string | undefined; source?: string | undefined }): ContactPage {
    const params = { account: accountId, source: options.source ?? null, limit: options.limit + 1 };
    const rows = options.cursor === undefined ? this.firstPage.all(params) : this.nextPage.all({ ...params, ...decodeCursor(options.cursor) });
    const more = rows.length > options.limit;
    const shown = more ? rows.slice(0, options.limit) : rows;
    return { contacts: this.withPhones(shown), nextCursor: more ? encodeCursor(shown[shown.length - 1]!) : null };
  }

  /** Runs several writes as one transaction (a chunk of an import or a sync is all there or not at all). A disk that cannot be written is STORE_UNWRITABLE naming the file. */
  batch<T>(work: () => T): T {
    return withStorage(this.db.name, () => this.db.transaction(work).immediate());
  }

  private withPhones(rows: readonly ContactRow[]): Contact[] {
    if (!rows.length) return [];
    const phones = new Map<number, ContactPhone[]>(rows.map((row) => [row.seq, []]));
    for (const phone of this.phonesOf.all(JSON.stringify(rows.map((row) => row.seq)))) {
      phones.get(phone.contact_seq)?.push({ e164: phone.e164, label: phone.label });
    }
    return rows.map((row) => ({
      id: row.id,
      source: row.source,
      sourceId: row.source_id,
      name: row.name,
      company: row.company,
      phones: phones.get(row.seq) ?? [],
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }));
  }
}
